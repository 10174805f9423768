"""`cmake --install` puts the package where /usr/bin/python3 finds it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import env_path


def python(code, **env):
    """Runs code in a fresh interpreter (this one), with the given environment additions only."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    completed = subprocess.run([sys.executable, "-B", "-c", code], env={**clean, **env}, capture_output=True,
                               text=True, timeout=120, cwd="/")
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_install_into_a_prefix_and_import(tmp_path):
    relative = os.environ.get("OPTOUT_PYTHON_INSTALL_DIR", "")
    if not relative or os.path.isabs(relative):
        pytest.skip("OPTOUT_PYTHON_INSTALL_DIR is absolute: installing would write outside a scratch prefix")
    prefix = tmp_path / "prefix"
    completed = subprocess.run(
        [str(env_path("OPTOUT_CMAKE")), "--install", str(env_path("OPTOUT_BUILD_DIR")), "--prefix", str(prefix)],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    site = prefix / relative
    package = site / "optout"
    assert sorted(p.name for p in package.iterdir() if p.suffix == ".py") == [
        "__init__.py", "core.py", "dask.py", "errors.py", "pandas.py",
    ]
    assert len(list(package.glob("_engine*.so"))) == 1

    out = python(
        "import json, optout, optout.pandas, optout.dask;"
        "print(json.dumps([optout.__file__, optout._engine.__file__, optout.__version__,"
        " optout.parse(['943 476 5919']).valid.tolist()]))",
        PYTHONPATH=str(site),
    )
    init, engine, version, valid = json.loads(out)
    assert init == str(package / "__init__.py")
    assert engine.startswith(str(package) + "/")
    assert version == "0.1.0"
    assert valid == [True]

    # Installed with the prefix /usr or /usr/local, the package is on this interpreter's own path.
    path = json.loads(python("import sys, json; print(json.dumps(sys.path))"))
    if sys.executable == "/usr/bin/python3":
        assert f"/usr/local/{relative}" in path
        assert f"/usr/{relative}" in path
