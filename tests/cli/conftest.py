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
import sys
from pathlib import Path

import pytest

# tests/support: what this suite shares with bindings/python/tests (re-exported to the tests here).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from optout_testing import check_digit, dashed, nhs, spaced, wrong_check_digit  # noqa: E402,F401

NUMBER_IN_TEXT = re.compile(r"\d{10}|\d{3}[ -]\d{3}[ -]\d{4}")
# Digests, key ids and signatures: lower-case hex words of 16 or more characters with a letter
# among them. One may hold 10 digits in a row (a 32-digit digest about one time in twelve): that is
# not an NHS number, so they are taken out before NUMBER_IN_TEXT looks.
HEX_WORD = re.compile(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{16,}\b")


def leaked_number(text):
    """The first NHS-number-like run of text outside digests and key ids, or None."""
    return NUMBER_IN_TEXT.search(HEX_WORD.sub("#", text))


def valid_numbers(count, seed=1, low=400_000_000, high=799_999_999):
    """count distinct valid NHS numbers, sorted, from a seeded generator."""
    rng = random.Random(seed)
    out = set()
    while len(out) < count:
        stem = rng.randint(low, high)
        if check_digit(stem) is not None:
            out.add(nhs(stem))
    return sorted(out)


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
        leaked = leaked_number(result.stderr)
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


# ---- A reference reader for filter and numbers tests: tiny, sequential, independent of the engine.

BOM = b"\xef\xbb\xbf"


class Malformed(Exception):
    """The input is not RFC 4180; line is where the bad record starts (1-based), problem as the engine words it."""

    def __init__(self, line, problem):
        super().__init__(f"{line}: {problem}")
        self.line, self.problem = line, problem


def reference_records(data, delimiter=b","):
    """Splits CSV bytes into records: (raw bytes with their terminator, [(field bytes, quoted)]).

    A quoted field's bytes are those between its quotes, with "" left as it is. Strict: raises
    Malformed for an unterminated quote, a quote inside an unquoted field, text after a closing quote,
    and a CR outside quotes that no LF follows (the input's last byte included): records end with LF
    or CRLF only (issue 10).
    """
    bare_cr = "bare CR outside quotes (lines must end with LF or CRLF)"
    records, i, n, line = [], 0, len(data), 1
    while i < n:
        start, fields = i, []
        while True:
            if data[i:i + 1] == b'"':
                j = i + 1
                while True:
                    k = data.find(b'"', j)
                    if k < 0:
                        raise Malformed(line, "unterminated quoted field")
                    if data[k + 1:k + 2] != b'"':
                        break
                    j = k + 2
                fields.append((data[i + 1:k], True))
                i = k + 1
                if data[i:i + 1] == b"\r" and data[i + 1:i + 2] != b"\n":
                    raise Malformed(line, bare_cr)
                if i < n and data[i:i + 1] not in (delimiter, b"\n") and data[i:i + 2] != b"\r\n":
                    raise Malformed(line, "text after the closing quote of a field")
            else:
                j = i
                while j < n and data[j:j + 1] not in (delimiter, b"\n", b'"'):
                    j += 1
                cr = data.find(b"\r", i, j)
                if cr >= 0 and not (cr == j - 1 and data[j:j + 1] == b"\n"):
                    raise Malformed(line, bare_cr)
                if data[j:j + 1] == b'"':
                    raise Malformed(line, "quote inside an unquoted field")
                end = j - 1 if data[j:j + 1] == b"\n" and data[j - 1:j] == b"\r" and j > i else j
                fields.append((data[i:end], False))
                i = j
            if data[i:i + 1] != delimiter:
                break
            i += 1
        i += 2 if data[i:i + 2] == b"\r\n" else 1 if data[i:i + 1] == b"\n" else 0
        records.append((data[start:i], fields))
        line += data.count(b"\n", start, i)
    return records


def parse_nhs(text):
    """(the 10-digit number, None) when the field's bytes hold a valid NHS number, else (None, reason)."""
    t = text.strip(b" \t\r\n\v\f")
    if not t:
        return None, "empty"
    if any(c not in b"0123456789 -" for c in t):
        return None, "bad character"
    digits = bytes(c for c in t if c in b"0123456789")
    if len(digits) != 10:
        return None, "wrong length"
    if len(t) != 10 and not re.fullmatch(rb"\d{3}([ -])\d{3}\1\d{4}", t):
        return None, "bad shape"
    check = check_digit(int(digits[:9]))
    if check is None:
        return None, "check digit 10"
    if check != digits[9] - ord("0"):
        return None, "wrong check digit"
    if digits == b"0000000000":  # passes modulus 11, but is no patient's
        return None, "all zeros"
    return digits.decode(), None


def reference_rows(data, column, delimiter=b",", header=True):
    """(header bytes, [(raw record, number or None, reason or None)]): what filter and numbers read.

    column is a header name (str) or a 1-based position (int). The header bytes include a BOM (and
    are just the BOM, or empty, without a header).
    """
    bom = BOM if data.startswith(BOM) else b""
    records = reference_records(data[len(bom):], delimiter)
    head = bom
    if header:
        (raw, names), records = records[0], records[1:]
        head += raw
        if isinstance(column, str):
            column = [name.replace(b'""', b'"').decode() for name, _ in names].index(column) + 1
    rows = []
    for raw, fields in records:
        if column > len(fields):
            rows.append((raw, None, "missing field"))
        else:
            rows.append((raw, *parse_nhs(fields[column - 1][0])))
    return head, rows
