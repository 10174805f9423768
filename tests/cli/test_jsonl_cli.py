"""optout filter / numbers / verify --format jsonl (issue 13, part 3): JSON Lines extracts.

The expected results come from a reference reader built on Python's `json` (json.loads per line)
and conftest.py's own NHS-number rules (parse_nhs), independent of the engine and of simdjson.
"""

import collections
import json
import random
import re
import subprocess

import pytest

from conftest import (NUMBER_IN_TEXT, assert_usage_error, binary, check_ten_stem, dashed, nhs, parse_nhs, spaced,
                      valid_numbers, wrong_check_digit)

NUMS = valid_numbers(40, seed=131)
DENY = NUMS[:14]
KEEP = NUMS[14:]


class NotJsonObject(Exception):
    def __init__(self, line, problem):
        super().__init__(f"{line}: {problem}")
        self.line, self.problem = line, problem


BLANK = "a blank line (JSON Lines holds one JSON object per line)"


def reference_lines(data):
    """The lines of data, each with its LF (the last may lack one)."""
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def lookup(obj, column):
    """The value at column (a key, or a JSON Pointer when it starts with '/'); KeyError when absent."""
    if not column.startswith("/"):
        return obj[column]
    for token in column[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(obj, dict):
            obj = obj[token]
        elif isinstance(obj, list) and re.fullmatch(r"0|[1-9][0-9]*", token) and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            raise KeyError(token)
    return obj


def classify(value):
    """(number, None) or (None, reason) for a JSON value, by the rules README's JSON Lines paragraph gives."""
    if value is None:
        return None, "missing field"
    if isinstance(value, str):
        return parse_nhs(value.encode())
    if isinstance(value, bool) or isinstance(value, (float, dict, list)):
        return None, "bad character"
    if value < 0:
        return None, "bad character"
    if value >= 10**10:
        return None, "wrong length"
    return parse_nhs(f"{value:010d}".encode())


def reference_rows(data, column):
    """[(raw line, number or None, reason or None)]; raises NotJsonObject like the engine."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise NotJsonObject(1, "a UTF-8 byte-order mark (JSON Lines must not start with one)")
    rows = []
    for i, raw in enumerate(reference_lines(data), 1):
        text = raw[:-1] if raw.endswith(b"\n") else raw
        if not text.strip(b" \t\r"):
            raise NotJsonObject(i, BLANK)
        try:
            obj = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise NotJsonObject(i, "not a JSON object") from None
        if not isinstance(obj, dict):
            raise NotJsonObject(i, "not a JSON object")
        try:
            value = lookup(obj, column)
        except KeyError:
            rows.append((raw, None, "missing field"))
            continue
        rows.append((raw, *classify(value)))
    return rows


def reference_filter(data, column, deny):
    rows = reference_rows(data, column)
    kept = b"".join(raw for raw, number, _ in rows if number and number not in deny)
    rejected = b"".join(raw for raw, number, _ in rows if number is None)
    reasons = collections.Counter(reason for _, number, reason in rows if number is None)
    removed = sum(1 for _, number, _ in rows if number and number in deny)
    return kept, rejected, {"rows": len(rows), "kept": len(rows) - removed - sum(reasons.values()),
                            "removed": removed, "rejected": sum(reasons.values()),
                            "rejected_by_reason": dict(reasons)}


# ---- Random JSON Lines ----------------------------------------------------------------------------

def escaped(text, rng):
    """text as a JSON string body, some ASCII digits written as \\u00XX escapes."""
    out = []
    for c in text:
        if c.isdigit() and rng.random() < 0.2:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(json.dumps(c)[1:-1])
    return '"' + "".join(out) + '"'


def random_value(rng):
    """A JSON text for the NHS value: mostly numbers on the lists or not, in every shape, and oddities."""
    number = rng.choice(NUMS)
    kind = rng.randrange(16)
    if kind < 5:
        return escaped(number, rng)
    if kind == 5:
        return escaped(spaced(number), rng)
    if kind == 6:
        return escaped(f" {dashed(number)}\t", rng)
    if kind == 7:
        return str(int(number))  # an integer; a leading 0 is implied
    if kind == 8:
        return rng.choice(["null", "true", "false", "[]", '{"a": 1}', "-943476591", "943476591.0", "9.4e9",
                           "12345678901", "0", "123456789012345678901234", "1"])
    if kind == 9:
        return escaped(rng.choice(["", "  ", wrong_check_digit(number), number[:9], check_ten_stem(), "N/A",
                                   "0000000000", number + "1", "\u0663" * 10]), rng)
    return escaped(number, rng)


def random_jsonl(seed, lines=300, nested=False):
    """Lines of random objects: the number at "nhs" (or /patient/nhs~1no with nested), unicode in other
    fields, missing keys, CRLF and LF, and no final LF at times."""
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        fields = [f'"id": {i}', '"name": ' + json.dumps(rng.choice(["Zoë", "李", "O'Brien", "a\"b", "tab\there",
                                                                     "\U0001F600", "plain"]),
                                                        ensure_ascii=rng.random() < 0.5)]
        if rng.random() < 0.93:
            value = random_value(rng)
            if nested:
                fields.append('"patient": {"age": 4, "nhs/no": ' + value + ', "x": [1, 2, {"y": null}]}')
            else:
                fields.append('"nhs": ' + value)
        elif nested and rng.random() < 0.5:
            fields.append('"patient": "not an object"')
        rng.shuffle(fields)
        sep = rng.choice([",", ", ", " ,\t"])
        out.append("{" + sep.join(fields) + "}" + rng.choice(["\n", "\n", "\r\n", " \n"]))
    data = "".join(out).encode()
    if rng.random() < 0.5:
        data = data.rstrip(b"\r\n")
    return data


# ---- Fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def deny(tmp_path_factory):
    d = tmp_path_factory.mktemp("jsonl-registry")
    (d / "deny.txt").write_text("".join(n + "\n" for n in DENY))
    completed = subprocess.run([binary(), "build", "--list", "national=deny.txt", "-o", "deny.optout", "-q"],
                               cwd=d, capture_output=True, timeout=60)
    assert completed.returncode == 0, completed
    return d / "deny.optout"


def run_raw(*args, stdin=b""):
    completed = subprocess.run([binary(), *map(str, args)], input=stdin, capture_output=True, timeout=120)
    assert NUMBER_IN_TEXT.search(completed.stderr.decode("utf-8", "replace")) is None, completed
    return completed


def filter_jsonl(tmp_path, registry, data, column, *extra):
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    out, rejects, stats = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl", tmp_path / "stats.json"
    for p in (out, rejects, stats):
        p.unlink(missing_ok=True)
    completed = run_raw("filter", "-r", registry, src, "--format", "jsonl", "--column", column, "-o", out,
                        "--rejects", rejects, "--stats", stats, "-q", *extra)
    if completed.returncode != 0:
        return completed, None, None, None
    return completed, out.read_bytes(), rejects.read_bytes(), json.loads(stats.read_text())


def counts(stats):
    return {k: stats[k] for k in ("rows", "kept", "removed", "rejected", "rejected_by_reason")}


# ---- Differential: random JSON Lines against the Python json reference ----------------------------

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("nested", [False, True])
def test_random_jsonl_matches_the_python_json_reference(tmp_path, deny, seed, nested):
    data = random_jsonl(seed, nested=nested)
    column = "/patient/nhs~1no" if nested else ("nhs" if seed % 2 else "/nhs")
    kept, rejected, expected = reference_filter(data, column, set(DENY))
    for extra in ([], ["--threads", "3", "--block-size", "97"], ["--threads", "1", "--block-size", "1"]):
        completed, out, rej, stats = filter_jsonl(tmp_path, deny, data, column, *extra)
        assert completed.returncode == 0, completed
        assert out == kept, extra
        assert rej == rejected, extra
        assert counts(stats) == expected, extra


def test_every_value_kind_is_read_as_documented(tmp_path, deny):
    k, d = KEEP[0], DENY[0]
    stem_k = int(k)  # KEEP numbers start 4..7: as an integer they keep all ten digits
    lines = [
        '{"nhs": "%s"}' % k,                   # kept
        '{"nhs": "%s"}' % d,                   # removed
        '{"nhs": %d}' % stem_k,                # an integer: kept
        '{"nhs": "\\u%04x%s"}' % (ord(k[0]), k[1:]),  # an escaped digit: kept
        '{"nhs": " %s "}' % spaced(k),         # spaced and padded: kept
        '{"nhs": null}',                       # missing field
        '{"other": 1}',                        # missing field
        '{"nhs": ""}',                         # empty
        '{"nhs": true}',                       # bad character
        '{"nhs": 943476591.0}',                # bad character
        '{"nhs": -943476591}',                 # bad character
        '{"nhs": [1]}',                        # bad character
        '{"nhs": 12345678901}',                # wrong length
        '{"nhs": 0}',                          # all zeros
        '{"nhs": "%s"}' % wrong_check_digit(k),  # wrong check digit
    ]
    data = ("\r\n".join(lines)).encode()
    kept, rejected, expected = reference_filter(data, "nhs", set(DENY))
    completed, out, rej, stats = filter_jsonl(tmp_path, deny, data, "nhs")
    assert completed.returncode == 0, completed
    assert (out, rej, counts(stats)) == (kept, rejected, expected)
    assert stats["kept"] == 4 and stats["removed"] == 1
    assert stats["rejected_by_reason"] == {"missing field": 2, "empty": 1, "bad character": 4, "wrong length": 1,
                                           "all zeros": 1, "wrong check digit": 1}


def test_an_integer_has_an_implied_leading_zero(tmp_path, tmp_path_factory):
    # A valid number with a leading 0, written as a 9-digit integer, is that number.
    stem = next(s for s in range(12_345_678, 99_999_999) if nhs(s) is not None and
                nhs(s)[0] == "0" and parse_nhs(nhs(s).encode())[0])
    number = nhs(stem)
    (tmp_path / "l.txt").write_text(number + "\n")
    assert run_raw("build", "--list", f"l={tmp_path / 'l.txt'}", "-o", tmp_path / "r.optout", "-q").returncode == 0
    data = ('{"nhs": %d}\n{"nhs": "%s"}\n{"nhs": 1}\n' % (int(number), number)).encode()
    completed, out, _, stats = filter_jsonl(tmp_path, tmp_path / "r.optout", data, "nhs")
    assert completed.returncode == 0, completed
    assert (stats["removed"], stats["rejected"], out) == (2, 1, b"")  # 1 is 0000000001: wrong check digit


# ---- Malformed lines: an error naming the line, never its text ------------------------------------

@pytest.mark.parametrize("bad, problem", [
    ("not json", "not a JSON object"),
    ('["an", "array"]', "not a JSON object"),
    ('"a string"', "not a JSON object"),
    ('{"nhs": "unterminated}', "not a JSON object"),
    ('{"nhs": "bad \\q escape"}', "not a JSON object"),
    ("", BLANK),
    ("   \r", BLANK),
])
def test_a_malformed_line_fails_the_run_naming_its_line(tmp_path, deny, bad, problem):
    data = ('{"nhs": "%s"}\n{"nhs": "%s"}\r\n%s\n{"nhs": "%s"}\n' % (KEEP[0], KEEP[1], bad, KEEP[2])).encode()
    with pytest.raises(NotJsonObject) as expected:
        reference_rows(data, "nhs")
    assert (expected.value.line, expected.value.problem) == (3, problem)
    for extra in ([], ["--block-size", "7", "--threads", "2"]):
        completed, *_ = filter_jsonl(tmp_path, deny, data, "nhs", *extra)
        assert completed.returncode == 1, completed
        assert completed.stderr.decode() == f"optout filter: {tmp_path / 'in.jsonl'}:3: {problem}\n"
        assert not (tmp_path / "out.jsonl").exists()


def test_a_bom_is_refused(tmp_path, deny):
    completed, *_ = filter_jsonl(tmp_path, deny, b'\xef\xbb\xbf{"nhs": "%s"}\n' % KEEP[0].encode(), "nhs")
    assert completed.returncode == 1
    assert b":1: a UTF-8 byte-order mark" in completed.stderr


def test_an_empty_input_has_no_rows(tmp_path, deny):
    completed, out, rej, stats = filter_jsonl(tmp_path, deny, b"", "nhs")
    assert completed.returncode == 0, completed
    assert out == b"" and rej == b"" and stats["rows"] == 0


def test_stdin_to_stdout(deny):
    data = ('{"nhs": "%s"}\n{"nhs": "%s"}\n' % (KEEP[0], DENY[0])).encode()
    completed = run_raw("filter", "-r", deny, "--format", "jsonl", "--column", "nhs", "-q", stdin=data)
    assert completed.returncode == 0, completed
    assert completed.stdout == ('{"nhs": "%s"}\n' % KEEP[0]).encode()


# ---- Options that do not apply to JSON Lines are usage errors ---------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--column-index", "2"], "JSON Lines has no column positions"),
    (["--column", "nhs", "--no-header"], "JSON Lines has no header"),
    ([], "name the NHS-number key"),
    (["--column", "/a~2b"], "a JSON Pointer escapes"),
])
def test_csv_only_options_are_usage_errors(optout, deny, tmp_path, args, message):
    (tmp_path / "x.jsonl").write_text("{}\n")
    result = optout("filter", "-r", deny, tmp_path / "x.jsonl", "--format", "jsonl", *args)
    assert message in assert_usage_error(result, "filter")


def test_an_unknown_format_is_a_usage_error(optout, deny):
    result = optout("filter", "-r", deny, "--format", "xml", "--column", "nhs")
    assert assert_usage_error(result, "filter") == "the format is csv or jsonl"


# ---- numbers and verify read JSON Lines too ----------------------------------------------------------

def test_numbers_lists_the_distinct_valid_numbers(tmp_path):
    data = random_jsonl(11, nested=True)
    rows = reference_rows(data, "/patient/nhs~1no")
    expected = "".join(n + "\n" for n in sorted({n for _, n, _ in rows if n})).encode()
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    completed = run_raw("numbers", src, "--input-format", "jsonl", "--column", "/patient/nhs~1no", "-q",
                        "--block-size", "64", "--threads", "2")
    assert completed.returncode == 0, completed
    assert completed.stdout == expected


def test_verify_counts_and_names_removed_rows_by_number(tmp_path, deny):
    data = random_jsonl(5)
    rows = reference_rows(data, "nhs")
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    matches = tmp_path / "matches.txt"
    completed = run_raw("verify", "-r", deny, src, "--format", "jsonl", "--column", "nhs", "--json", "--matches", matches,
                        "--block-size", "100", "--threads", "2")
    assert completed.returncode == 1, completed  # not clean
    result = json.loads(completed.stdout)
    removed = [i for i, (_, n, _) in enumerate(rows, 1) if n and n in DENY]
    assert result["removed"] == len(removed) and result["rows"] == len(rows)
    assert matches.read_text() == "".join(f"{i}\n" for i in removed)

    # The filter's own output verifies clean.
    completed, out, _, _ = filter_jsonl(tmp_path, deny, data, "nhs")
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"".join(raw for raw, n, _ in rows if n and n not in DENY))
    verified = run_raw("verify", "-r", deny, clean, "--format", "jsonl", "--column", "nhs", "--json")
    assert verified.returncode == 0, verified
    assert json.loads(verified.stdout)["clean"] is True


def test_verify_refuses_an_id_column_for_json_lines(optout, deny, tmp_path):
    (tmp_path / "x.jsonl").write_text("{}\n")
    result = optout("verify", "-r", deny, tmp_path / "x.jsonl", "--format", "jsonl", "--column", "nhs", "--matches",
                    tmp_path / "m.txt", "--id-column", "id")
    assert result.code == 2, result
    assert "JSON Lines rows are named by their line number" in result.stderr
