"""The README's Python and Dask examples run as written and print what the README says.

A block is marked by the HTML comment before it: `<!-- example: NAME -->`. Python blocks are
written to NAME, shell blocks (`*.sh`) are run with bash in a scratch folder laid out like the
repository after the build (datasets/, build/engine/cli/optout, build/bindings/python), and a
`*.out` block is the exact standard output of the shell block before it.
"""

import json
import os
import re
import subprocess

from conftest import env_path

MARKED_BLOCK = re.compile(r"<!-- example: (\S+) -->\n```[a-z]*\n(.*?)```", re.S)


def examples():
    readme = (env_path("OPTOUT_SOURCE_DIR") / "README.md").read_text()
    return MARKED_BLOCK.findall(readme)


def test_readme_examples_run_as_written(tmp_path):
    blocks = examples()
    names = [name for name, _ in blocks]
    assert names == ["example.sh", "example.py", "example.out", "dask_example.sh", "dask_example.py",
                     "dask_example.out"], names

    source = env_path("OPTOUT_SOURCE_DIR")
    os.symlink(source / "datasets", tmp_path / "datasets")
    (tmp_path / "build" / "engine" / "cli").mkdir(parents=True)
    os.symlink(env_path("OPTOUT_BIN"), tmp_path / "build" / "engine" / "cli" / "optout")
    (tmp_path / "build" / "bindings").mkdir()
    package_dir = os.environ["PYTHONPATH"].split(os.pathsep)[0]
    os.symlink(package_dir, tmp_path / "build" / "bindings" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    for name, text in blocks:  # the scripts first: a shell block may come before the script it runs
        if name.endswith(".py"):
            (tmp_path / name).write_text(text)
    last_stdout = None
    for name, text in blocks:
        if name.endswith(".py"):
            continue
        if name.endswith(".sh"):
            completed = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=240)
            assert completed.returncode == 0, (name, completed.stderr)
            last_stdout = completed.stdout
        else:
            assert last_stdout == text, name
    assert (tmp_path / "clean.csv").exists() and (tmp_path / "clean-parts").is_dir()
    # One run: "committing", then "ok" (README, "The commit protocol").
    assert [json.loads(line)["outcome"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()] == [
        "committing", "ok"]
