"""Shared helpers for the optout CLI tests.

Every test runs the real binary (OPTOUT_BIN, set by ctest) through the `optout` fixture, which
checks on every invocation that stderr holds no NHS-number-like text: no run of 10 digits and no
spaced or dashed 3-3-4 number. Test inputs are built in tmp_path from numbers made by a tiny
modulus 11 helper, so no fixture file can drift from the rule.
"""

import os
import random
import re
import subprocess
from pathlib import Path

import pytest

NUMBER_IN_TEXT = re.compile(r"\d{10}|\d{3}[ -]\d{3}[ -]\d{4}")


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


def valid_numbers(count, seed=1, low=400_000_000, high=799_999_999):
    """count distinct valid NHS numbers, sorted, from a seeded generator."""
    rng = random.Random(seed)
    out = set()
    while len(out) < count:
        stem = rng.randint(low, high)
        if check_digit(stem) is not None:
            out.add(nhs(stem))
    return sorted(out)


def wrong_check_digit(number):
    """The number with its check digit changed (to one that is wrong)."""
    good = int(number[9])
    return number[:9] + str((good + 1) % 10)


def check_ten_stem():
    """A 10-digit text whose stem has check digit 10 (no valid number)."""
    stem = 400_000_000
    while check_digit(stem) is not None:
        stem += 1
    return f"{stem:09d}0"


def write_lines(path, lines, ending="\n"):
    Path(path).write_bytes("".join(line + ending for line in lines).encode())
    return str(path)


class Run:
    def __init__(self, completed):
        self.code = completed.returncode
        self.stdout = completed.stdout.decode("utf-8", "replace")
        self.stderr = completed.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return f"<exit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


def binary():
    path = os.environ.get("OPTOUT_BIN")
    if not path:
        pytest.fail("OPTOUT_BIN is not set: run these tests through ctest")
    return path


@pytest.fixture
def optout():
    """optout(*args, stdin=None) runs the binary and returns a Run; stderr is checked every time."""

    def run(*args, stdin=None, cwd=None):
        completed = subprocess.run(
            [binary(), *map(str, args)],
            input=stdin.encode() if isinstance(stdin, str) else (stdin if stdin is not None else b""),
            capture_output=True,
            cwd=cwd,
            timeout=120,
        )
        result = Run(completed)
        leaked = NUMBER_IN_TEXT.search(result.stderr)
        assert leaked is None, f"stderr holds an NHS-number-like run: {result!r}"
        assert result.code in (0, 1, 2), result
        return result

    return run


@pytest.fixture
def numbers():
    return valid_numbers(40, seed=7)


def assert_usage_error(result, command):
    """Exit 2, one problem line "optout <command>: ..." and the see-help line, nothing on stdout."""
    assert result.code == 2, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result
    prefix = f"optout {command}: " if command else "optout: "
    assert lines[0].startswith(prefix), result
    see = f"see 'optout {command} --help'" if command else "see 'optout --help'"
    assert lines[1] == see, result
    return lines[0][len(prefix):]
