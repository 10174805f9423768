"""Pseudonymised extracts (--pseudonym-key) run as a user would: filter and verify on a column of
tokens, HMAC-SHA256(key, the 10-digit NHS number) as 64 hex digits. The expected rows come from
Python's hmac and csv modules, never from the engine. Every run also checks that stderr holds no
NHS-number-like text (conftest) and, here, no token and no key byte.
"""

import csv
import hashlib
import hmac
import io
import json

import pytest

from conftest import assert_usage_error, valid_numbers

NUMS = valid_numbers(30, seed=41)
DENIED = NUMS[:8]     # "national" (deny)
ALLOWED = NUMS[4:20]  # "cleared" (allow): four of them also denied
KEY = bytes(range(7, 47))  # 40 bytes


def token(number, key=KEY):
    return hmac.new(key, number.encode(), "sha256").hexdigest()


def quiet_about_secrets(result, tokens, key=KEY):
    """Neither a token (either case) nor the key's bytes reach stderr or stdout's messages."""
    text = result.stderr.lower()
    for t in tokens:
        assert t.lower() not in text, result
    assert key.hex() not in text, result


@pytest.fixture
def setup(tmp_path, optout):
    (tmp_path / "key.bin").write_bytes(KEY)
    (tmp_path / "deny.txt").write_text("".join(n + "\n" for n in DENIED))
    (tmp_path / "allow.txt").write_text("".join(n + "\n" for n in ALLOWED))
    r = optout("build", "--list", "national=deny.txt", "--allow", "cleared=allow.txt", "-o", "reg.optout", "-q",
               cwd=tmp_path)
    assert r.code == 0, r
    return tmp_path


def extract_rows():
    """(id, token text, expected verdict when applying national only)."""
    rows = []
    for i, n in enumerate(NUMS):
        t = token(n)
        if i % 3 == 1:
            t = t.upper()
        rows.append((f"P{i}", t, "removed" if n in DENIED else "kept"))
    rows += [
        ("B1", token(NUMS[0])[:63], "rejected"),           # wrong length
        ("B2", token(NUMS[1])[:63] + "g", "rejected"),     # bad character
        ("B3", "", "rejected"),                             # empty
        ("B4", NUMS[2], "rejected"),                        # an NHS number is no token
        ("B5", " " + token(NUMS[3]) + " ", "removed"),      # blanks trimmed, as around an NHS number
        ("B6", "0" * 64, "kept"),                           # a token of no listed number
    ]
    return rows


def write_extract(path, rows):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "pid_token", "note"])
    for rid, t, _ in rows:
        w.writerow([rid, t, "note, quoted" if rid.endswith("1") else "x"])
    path.write_text(out.getvalue())
    return out.getvalue()


def ids(text):
    return [r["id"] for r in csv.DictReader(io.StringIO(text))]


def all_tokens():
    return [token(n) for n in NUMS]


def test_filter_removes_the_tokens_of_listed_numbers_in_either_case(setup, optout):
    d = setup
    rows = extract_rows()
    write_extract(d / "ex.csv", rows)
    r = optout("filter", "-r", "reg.optout", "--apply", "national", "--column", "pid_token", "ex.csv",
               "--pseudonym-key", "key.bin", "-o", "out.csv", "--rejects", "rej.csv", "--stats", "st.json",
               "--audit", "audit.jsonl", cwd=d)
    assert r.code == 0, r
    quiet_about_secrets(r, all_tokens())
    assert ids((d / "out.csv").read_text()) == [rid for rid, _, v in rows if v == "kept"]
    assert ids((d / "rej.csv").read_text()) == [rid for rid, _, v in rows if v == "rejected"]
    stats = json.loads((d / "st.json").read_text())
    assert stats["rows"] == len(rows)
    assert stats["removed"] == sum(v == "removed" for _, _, v in rows)
    assert stats["rejected_by_reason"] == {"wrong length": 2, "bad character": 1, "empty": 1}
    record = json.loads((d / "audit.jsonl").read_text().splitlines()[-1])
    assert record["outcome"] == "ok"
    assert record["pseudonym_key_sha256"] == hashlib.sha256(KEY).hexdigest()
    audit_text = (d / "audit.jsonl").read_text().lower()
    assert KEY.hex() not in audit_text
    for t in all_tokens():
        assert t not in audit_text


def test_allow_lists_keep_only_the_tokens_of_cleared_numbers(setup, optout):
    d = setup
    rows = [(f"P{i}", token(n), "") for i, n in enumerate(NUMS)]
    write_extract(d / "ex.csv", rows)
    r = optout("filter", "-r", "reg.optout", "--column", "pid_token", "ex.csv", "--pseudonym-key", "key.bin",
               "-o", "out.csv", cwd=d)
    assert r.code == 0, r
    kept = [f"P{i}" for i, n in enumerate(NUMS) if n in ALLOWED and n not in DENIED]
    assert ids((d / "out.csv").read_text()) == kept
    quiet_about_secrets(r, all_tokens())


def test_another_key_matches_nothing_and_says_so_only_by_its_digest(setup, optout):
    d = setup
    rows = [(f"P{i}", token(n), "") for i, n in enumerate(NUMS)]
    write_extract(d / "ex.csv", rows)
    (d / "other.bin").write_bytes(b"k" * 32)
    r = optout("filter", "-r", "reg.optout", "--apply", "national", "--column", "pid_token", "ex.csv",
               "--pseudonym-key", "other.bin", "-o", "out.csv", "--audit", "a.jsonl", cwd=d)
    assert r.code == 0, r
    assert len(ids((d / "out.csv").read_text())) == len(NUMS)
    record = json.loads((d / "a.jsonl").read_text().splitlines()[-1])
    assert record["pseudonym_key_sha256"] == hashlib.sha256(b"k" * 32).hexdigest()


def test_json_lines_strings_are_tokens(setup, optout):
    d = setup
    lines = [json.dumps({"id": i, "t": token(n)}) for i, n in enumerate(NUMS[:10])]
    lines.append(json.dumps({"id": 99, "t": int(NUMS[0])}))  # a number is no token
    (d / "ex.jsonl").write_text("\n".join(lines) + "\n")
    r = optout("filter", "-r", "reg.optout", "--apply", "national", "--format", "jsonl", "--column", "t",
               "ex.jsonl", "--pseudonym-key", "key.bin", "-o", "out.jsonl", "--stats", "st.json", cwd=d)
    assert r.code == 0, r
    kept = [json.loads(line)["id"] for line in (d / "out.jsonl").read_text().splitlines()]
    assert kept == [i for i, n in enumerate(NUMS[:10]) if n not in DENIED]
    assert json.loads((d / "st.json").read_text())["rejected_by_reason"] == {"bad character": 1}


@pytest.mark.parametrize("content, problem", [
    (b"short", "not a pseudonym key (5 bytes; a key is 32 to 1024 bytes: the file's bytes, exactly)"),
    (b"9434765919" * 200, "not a pseudonym key (more than 1024 bytes; a key is 32 to 1024 bytes: the file's "
                          "bytes, exactly)"),
])
def test_key_errors_name_the_file_and_never_quote_it(setup, optout, content, problem):
    d = setup
    write_extract(d / "ex.csv", [("P0", token(NUMS[0]), "")])
    (d / "bad.key").write_bytes(content)
    r = optout("filter", "-r", "reg.optout", "--column", "pid_token", "ex.csv", "--pseudonym-key", "bad.key",
               "-o", "out.csv", "--audit", "a.jsonl", cwd=d)
    assert r.code == 1, r
    assert r.stderr == f"optout filter: bad.key: {problem}\n"
    assert not (d / "out.csv").exists()
    assert not (d / "a.jsonl").exists()  # refused before the run: no audit record
    r = optout("verify", "-r", "reg.optout", "--column", "pid_token", "ex.csv", "--pseudonym-key", "bad.key", cwd=d)
    assert r.code == 1, r
    assert r.stderr == f"optout verify: bad.key: {problem}\n"


def test_missing_key_and_an_output_over_the_key(setup, optout):
    d = setup
    write_extract(d / "ex.csv", [("P0", token(NUMS[0]), "")])
    r = optout("filter", "-r", "reg.optout", "--column", "pid_token", "ex.csv", "--pseudonym-key", "none.key",
               "-o", "out.csv", cwd=d)
    assert r.code == 1, r
    assert r.stderr.startswith("optout filter: none.key: "), r
    r = optout("filter", "-r", "reg.optout", "--column", "pid_token", "ex.csv", "--pseudonym-key", "key.bin",
               "-o", "key.bin", cwd=d)
    assert_usage_error(r, "filter")
    assert (d / "key.bin").read_bytes() == KEY
    r = optout("filter", "-r", "reg.optout", "--column", "pid_token", "ex.csv", "--pseudonym-key", "", cwd=d)
    assert assert_usage_error(r, "filter") == "an empty pseudonym key path: give a file name"


def test_verify_with_the_release_key_and_its_audit_record(setup, optout):
    d = setup
    rows = [(f"P{i}", token(n), "") for i, n in enumerate(NUMS)]
    write_extract(d / "ex.csv", rows)
    common = ["-r", "reg.optout", "--apply", "national", "--column", "pid_token"]
    r = optout("verify", *common, "ex.csv", "--pseudonym-key", "key.bin", "--matches", "m.txt", "--id-column", "id",
               cwd=d)
    assert r.code == 1, r
    assert (d / "m.txt").read_text().split() == [f"P{i}" for i, n in enumerate(NUMS) if n in DENIED]
    quiet_about_secrets(r, all_tokens())
    r = optout("filter", *common, "ex.csv", "--pseudonym-key", "key.bin", "-o", "clean.csv", "--audit", "a.jsonl",
               "-q", cwd=d)
    assert r.code == 0, r
    r = optout("verify", *common, "clean.csv", "--pseudonym-key", "key.bin", "--audit", "a.jsonl", cwd=d)
    assert r.code == 0, r
    assert "clean" in r.stderr
    (d / "other.bin").write_bytes(b"o" * 40)
    r = optout("verify", *common, "clean.csv", "--pseudonym-key", "other.bin", "--audit", "a.jsonl", cwd=d)
    assert r.code == 1, r
    assert "released it with another pseudonym key, or none" in r.stderr
    r = optout("verify", *common, "clean.csv", "--audit", "a.jsonl", cwd=d)
    assert r.code == 1, r
    assert "released it pseudonymised: give its pseudonym key" in r.stderr


def test_numbers_has_no_pseudonym_key(setup, optout):
    r = optout("numbers", "--help")
    assert r.code == 0
    assert "pseudonymised extract holds tokens" in r.stdout
    r = optout("numbers", "--column", "x", "--pseudonym-key", "key.bin", cwd=setup)
    assert r.code == 2, r


def test_an_impact_report_of_a_pseudonymised_extract_is_refused(setup, optout):
    """The impact report groups rows beside NHS numbers; with tokens it is a usage error, and
    nothing is written: no output, no report, no audit record."""
    write_extract(setup / "extract.csv", extract_rows())
    r = optout("filter", "-r", "reg.optout", "--apply", "national", "--column", "pid_token", "--pseudonym-key",
               "key.bin", "--impact", "impact.csv", "--impact-by", "note", "--audit", "audit.jsonl",
               "extract.csv", "-o", "out.csv", cwd=setup)
    problem = assert_usage_error(r, "filter")
    assert problem == "an impact report cannot be made of a pseudonymised extract (--pseudonym-key)"
    assert sorted(p.name for p in setup.iterdir()) == ["allow.txt", "deny.txt", "extract.csv", "key.bin",
                                                       "reg.optout"]
