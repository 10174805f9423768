"""Shared fixtures for the optout Python tests.

ctest sets OPTOUT_BIN (the CLI: every exact expectation comes from the C++ engine through it),
OPTOUT_SOURCE_DIR (for datasets/samples), OPTOUT_BUILD_DIR and PYTHONPATH (the package in the
build tree). The registries are built by the CLI from the committed samples.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest


def env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through ctest")
    return Path(value)


SAMPLES = env_path("OPTOUT_SOURCE_DIR") / "datasets" / "samples"


def check_digit(stem):
    """The modulus 11 check digit of a 9-digit stem, or None when the stem has no valid number."""
    digits = f"{stem:09d}"
    total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs(stem):
    """The 10-digit NHS number of a stem with a valid check digit."""
    check = check_digit(stem)
    assert check is not None, stem
    return f"{stem:09d}{check}"


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


@pytest.fixture(scope="session")
def registry_path(cli, tmp_path_factory):
    """national + type1 (deny) + cleared (allow), from the samples."""
    path = tmp_path_factory.mktemp("registry") / "reg.optout"
    cli.run(
        "build",
        "--list", f"national={SAMPLES / 'national.txt'}",
        "--list", f"type1={SAMPLES / 'type1.txt'}",
        "--allow", f"cleared={SAMPLES / 'cleared.dat'}",
        "--description", "python tests",
        "-o", path,
        "--quiet",
    )
    return str(path)


@pytest.fixture(scope="session")
def deny_registry_path(cli, tmp_path_factory):
    """national + type1 only: a number in no list is kept."""
    path = tmp_path_factory.mktemp("deny") / "deny.optout"
    cli.run(
        "build",
        "--list", f"national={SAMPLES / 'national.txt'}",
        "--list", f"type1={SAMPLES / 'type1.txt'}",
        "-o", path,
        "--quiet",
    )
    return str(path)


@pytest.fixture(scope="session")
def listed_numbers():
    """Every number in the sample lists, as text: national, type1, cleared."""
    def read(name):
        return [line.strip().rstrip(",") for line in (SAMPLES / name).read_text().splitlines() if line.strip()]

    return {"national": read("national.txt"), "type1": read("type1.txt"), "cleared": read("cleared.dat")}
