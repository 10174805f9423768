"""Shared fixtures for the optout Python tests.

ctest sets OPTOUT_BIN (the CLI: every exact expectation comes from the C++ engine through it),
OPTOUT_SOURCE_DIR (for datasets/samples), OPTOUT_BUILD_DIR and PYTHONPATH (the package in the
build tree). The registries are built by the CLI from the committed samples.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# tests/support: what this suite shares with tests/cli (re-exported to the tests here).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "support"))
from optout_testing import check_digit, nhs  # noqa: E402,F401


def env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through ctest")
    return Path(value)


SAMPLES = env_path("OPTOUT_SOURCE_DIR") / "datasets" / "samples"


class Cli:
    """Runs the optout binary; run() returns the CompletedProcess (bytes), checked for status."""

    def __init__(self):
        self.binary = str(env_path("OPTOUT_BIN"))

    def run(self, *args, expect=0, stdin=None):
        completed = subprocess.run(
            [self.binary, *map(str, args)], input=stdin, capture_output=True, timeout=120
        )
        assert completed.returncode == expect, (args, completed.returncode, completed.stderr.decode())
        return completed

    def error(self, *args, expect=1):
        """The CLI's error message without its "optout <command>: " prefix (first line)."""
        stderr = self.run(*args, expect=expect).stderr.decode()
        first = stderr.splitlines()[0]
        prefix = f"optout {args[0]}: "
        assert first.startswith(prefix), stderr
        return first[len(prefix):]

    def check(self, registry, numbers):
        """`optout check --json` results for numbers given as arguments."""
        out = self.run("check", "--json", "--registry", registry, "--", *numbers).stdout
        return json.loads(out)["results"]

    def info(self, registry):
        return json.loads(self.run("info", "--json", registry).stdout)


@pytest.fixture(scope="session")
def cli():
    return Cli()


# The sample lists: name -> (the build option that adds it, its file in SAMPLES).
SAMPLE_LISTS = {"national": ("--list", "national.txt"), "type1": ("--list", "type1.txt"),
                "cleared": ("--allow", "cleared.dat")}


def build_sample_registry(cli, path, names, *more):
    """Builds path with the CLI from the sample lists named (SAMPLE_LISTS); more: further arguments."""
    lists = [arg for name in names for arg in (SAMPLE_LISTS[name][0], f"{name}={SAMPLES / SAMPLE_LISTS[name][1]}")]
    cli.run("build", *lists, *more, "-o", path, "--quiet")
    return str(path)


@pytest.fixture(scope="session")
def registry_path(cli, tmp_path_factory):
    """national + type1 (deny) + cleared (allow), from the samples."""
    return build_sample_registry(cli, tmp_path_factory.mktemp("registry") / "reg.optout",
                                 ["national", "type1", "cleared"], "--description", "python tests")


@pytest.fixture(scope="session")
def deny_registry_path(cli, tmp_path_factory):
    """national + type1 only: a number in no list is kept."""
    return build_sample_registry(cli, tmp_path_factory.mktemp("deny") / "deny.optout", ["national", "type1"])


@pytest.fixture(scope="session")
def listed_numbers():
    """Every number in the sample lists, as text: national, type1, cleared."""
    def read(name):
        return [line.strip().rstrip(",") for line in (SAMPLES / name).read_text().splitlines() if line.strip()]

    return {"national": read("national.txt"), "type1": read("type1.txt"), "cleared": read("cleared.dat")}
