"""optout verify, run as a user would: the verdict and its exit status, the counts on stderr or as
JSON, the matches file, the audit vouch, and usage errors. Every run through the `optout` fixture
also checks that stderr holds nothing NHS-number-like.
"""

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import assert_usage_error, binary, valid_numbers, wrong_check_digit

NUMS = valid_numbers(12, seed=31)
LISTED = NUMS[:3]   # "national" in old.optout
LATER = NUMS[3:5]   # added to "national" in new.optout: patients who opted out after a release
OTHER = NUMS[5:]    # on no list


def build(directory, *args):
    completed = subprocess.run([binary(), "build", *map(str, args), "-q"], cwd=directory,
                               capture_output=True, timeout=60)
    assert completed.returncode == 0, completed


@pytest.fixture(scope="module")
def regs(tmp_path_factory):
    d = tmp_path_factory.mktemp("registries")
    (d / "old.txt").write_text("".join(n + "\n" for n in LISTED))
    (d / "new.txt").write_text("".join(n + "\n" for n in LISTED + LATER))
    build(d, "--list", "national=old.txt", "-o", "old.optout")
    build(d, "--list", "national=new.txt", "-o", "new.optout")
    return d


def extract():
    """Rows of every kind: kept (OTHER, LATER), removed (LISTED), rejected (a wrong check digit)."""
    rows = [
        ("E1", OTHER[0], "plain"),
        ("E2", LISTED[0], "plain"),
        ("E3", LATER[0], '"quoted, with a comma"'),
        ("E4", OTHER[1], '"two\nlines"'),
        ('"E,5"', LATER[1], "x"),
        ("E6", wrong_check_digit(OTHER[2]), "x"),
        ("E7", OTHER[3], "x"),
    ]
    return "episode,nhs_number,note\n" + "".join(f"{e},{n},{note}\n" for e, n, note in rows)


def released(optout, regs, tmp_path):
    """extract.csv filtered with old.optout into clean.csv, with an audit record in audit.jsonl."""
    (tmp_path / "extract.csv").write_text(extract())
    result = optout("filter", "-r", regs / "old.optout", "--column", "nhs_number", tmp_path / "extract.csv",
                    "-o", tmp_path / "clean.csv", "--rejects", tmp_path / "rejects.csv",
                    "--audit", tmp_path / "audit.jsonl", "-q")
    assert result.code == 0, result
    return tmp_path / "clean.csv"


def verify(optout, registry, path, *args):
    return optout("verify", "-r", registry, "--column", "nhs_number", path, *args)


def test_clean_release_exits_0(optout, regs, tmp_path):
    clean = released(optout, regs, tmp_path)
    result = verify(optout, regs / "old.optout", clean)
    assert result.code == 0, result
    assert result.stdout == ""
    assert result.stderr == f"optout verify: {clean}: clean: 5 rows, none removed or rejected\n"
    quiet = verify(optout, regs / "old.optout", clean, "-q")
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_unfiltered_extract_exits_1_with_counts(optout, regs, tmp_path):
    (tmp_path / "extract.csv").write_text(extract())
    result = verify(optout, regs / "old.optout", tmp_path / "extract.csv")
    assert result.code == 1, result
    assert result.stdout == ""
    assert result.stderr == (f"optout verify: {tmp_path / 'extract.csv'}: not clean: 2 of 7 rows must not be "
                             "released: 1 removed by the applied lists, 1 rejected (wrong check digit: 1)\n")


def test_json_on_stdout(optout, regs, tmp_path):
    (tmp_path / "extract.csv").write_text(extract())
    result = verify(optout, regs / "old.optout", tmp_path / "extract.csv", "--json")
    assert result.code == 1, result
    assert result.stderr == ""
    j = json.loads(result.stdout)
    assert j == {
        "clean": False, "rows": 7, "kept": 5, "removed": 1, "rejected": 1,
        "rejected_by_reason": {"wrong check digit": 1},
        "bytes_in": len(extract().encode()), "input_xxh3_128": j["input_xxh3_128"], "matches_written": 0,
    }
    assert len(j["input_xxh3_128"]) == 32
    clean = released(optout, regs, tmp_path)
    result = verify(optout, regs / "old.optout", clean, "--json")
    assert result.code == 0, result
    assert json.loads(result.stdout)["clean"] is True


def test_matches_against_a_newer_registry(optout, regs, tmp_path):
    clean = released(optout, regs, tmp_path)
    matches = tmp_path / "matches.txt"
    result = verify(optout, regs / "new.optout", clean, "--matches", matches)
    assert result.code == 1, result
    assert matches.read_text() == "2\n4\n"  # E3 and "E,5": rows 2 and 4 of the release
    assert f"optout verify: 2 rows named in {matches}\n" in result.stderr
    assert "2 removed by the applied lists, 0 rejected" in result.stderr

    result = verify(optout, regs / "new.optout", clean, "--matches", matches, "--id-column", "episode")
    assert result.code == 1, result
    assert matches.read_text() == 'E3\n"E,5"\n'
    assert not any(n in matches.read_text() for n in NUMS)

    result = verify(optout, regs / "new.optout", clean, "--matches", "-", "--id-column", "episode", "-q")
    assert result.code == 1, result
    assert result.stdout == 'E3\n"E,5"\n'

    # Nothing to name: an empty file, exit 0.
    result = verify(optout, regs / "old.optout", clean, "--matches", matches)
    assert result.code == 0, result
    assert matches.read_text() == ""


def test_audit_vouches_for_the_release(optout, regs, tmp_path):
    clean = released(optout, regs, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    ok = records[-1]
    assert ok["outcome"] == "ok"
    result = verify(optout, regs / "old.optout", clean, "--audit", tmp_path / "audit.jsonl")
    assert result.code == 0, result
    assert result.stderr.splitlines()[0] == (
        f"optout verify: {clean}: released by run {ok['run_id']} ({tmp_path / 'audit.jsonl'}:2, finished "
        f"{ok['finished_at']}, output {clean})")
    result = verify(optout, regs / "old.optout", clean, "--audit", tmp_path / "audit.jsonl", "--json")
    assert result.code == 0, result
    assert json.loads(result.stdout)["audit"] == {
        "log": str(tmp_path / "audit.jsonl"), "line": 2, "run_id": ok["run_id"],
        "finished_at": ok["finished_at"], "output": str(clean), "signer": None}


def test_audit_refuses_a_changed_file_and_another_registry(optout, regs, tmp_path):
    clean = released(optout, regs, tmp_path)
    data = bytearray(clean.read_bytes())
    data[-2] = ord("y")
    changed = tmp_path / "changed.csv"
    changed.write_bytes(bytes(data))
    result = verify(optout, regs / "old.optout", changed, "--audit", tmp_path / "audit.jsonl")
    assert result.code == 1, result
    assert result.stdout == ""
    assert result.stderr == (f"optout verify: {changed}: no record of {tmp_path / 'audit.jsonl'} vouches for it "
                             '(no "ok" record has its XXH3-128 as output digest)\n')

    result = verify(optout, regs / "new.optout", clean, "--audit", tmp_path / "audit.jsonl")
    assert result.code == 1, result
    ok = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[1])
    assert result.stderr == (f"optout verify: {clean}: {tmp_path / 'audit.jsonl'}:2 (run {ok['run_id']}) released it "
                             f"with another registry than {regs / 'new.optout'}\n")


def test_malformed_audit_line_is_named(optout, regs, tmp_path):
    clean = released(optout, regs, tmp_path)
    log = tmp_path / "audit.jsonl"
    log.write_text(log.read_text() + '{"rows": ' + NUMS[0] + "\n")
    result = verify(optout, regs / "old.optout", clean, "--audit", log, "--matches", tmp_path / "m.txt")
    assert result.code == 1, result
    assert result.stderr == f"optout verify: {log}:3: not a JSON object\n"
    assert not (tmp_path / "m.txt").exists()


def test_malformed_extract_fails_as_filter_does(optout, regs, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('episode,nhs_number\nE1,"' + OTHER[0] + "\n")
    result = verify(optout, regs / "old.optout", bad, "--matches", tmp_path / "m.txt")
    filtered = optout("filter", "-r", regs / "old.optout", "--column", "nhs_number", bad, "-o", tmp_path / "o.csv")
    assert result.code == 1 and filtered.code == 1
    assert result.stderr == f"optout verify: {bad}:2: unterminated quoted field\n"
    assert filtered.stderr == f"optout filter: {bad}:2: unterminated quoted field\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_reads_standard_input(optout, regs):
    result = optout("verify", "-r", regs / "old.optout", "--column", "nhs_number", stdin=extract())
    assert result.code == 1, result
    assert result.stderr.startswith("optout verify: <stdin>: not clean: 2 of 7 rows")


def test_usage_errors_exit_2(optout, regs, tmp_path):
    clean = released(optout, regs, tmp_path)
    cases = [
        (["--id-column", "episode"], "an id column names the rows of a matches file: give one too"),
        (["--matches", clean], f"{clean} is given twice"),
        (["--matches", tmp_path / "m.txt", "--id-column", "nhs_number"],
         "the id column 'nhs_number' is the NHS-number column: a matches file never holds NHS numbers; "
         "choose another column"),
        (["--matches", "-", "--json"], "--json and --matches - would both write to standard output"),
        (["--matches", ""], "an empty matches path: give a file name, or \"-\" for standard output"),
    ]
    for args, message in cases:
        result = verify(optout, regs / "old.optout", clean, *args)
        problem = assert_usage_error(result, "verify")
        assert message in problem, (args, result)
    assert_usage_error(optout("verify", "-r", regs / "old.optout", clean), "verify")  # no column
    assert_usage_error(optout("verify", "--column", "nhs_number", clean), "verify")  # no registry
    assert not (tmp_path / "m.txt").exists()


def test_missing_id_column_exits_1(optout, regs, tmp_path):
    clean = released(optout, regs, tmp_path)
    result = verify(optout, regs / "new.optout", clean, "--matches", tmp_path / "m.txt", "--id-column", "ref")
    assert result.code == 1, result
    assert result.stderr == f"optout verify: {clean}: no column named 'ref' (the id column) in the header\n"
    assert not (tmp_path / "m.txt").exists()


def test_help_lists_the_options(optout):
    result = optout("verify", "--help")
    assert result.code == 0
    for option in ("--registry", "--column", "--apply", "--trust", "--expect-digest", "--audit", "--matches",
                   "--id-column", "--json", "--delimiter", "--no-header", "--threads"):
        assert option in result.stdout, option
    assert "verify" in optout("--help").stdout


# ---- Signed registries and audit records (issue 12) ----------------------------------------------------

@pytest.fixture
def keys(tmp_path):
    for name in ("a", "b"):
        # Messages name keys by their id, 16 hex digits: keep keys whose id holds no run of 10
        # decimal digits, which the fixture would take for an NHS number.
        for _ in range(20):
            for suffix in (".key", ".pub"):
                (tmp_path / f"{name}{suffix}").unlink(missing_ok=True)
            completed = subprocess.run([binary(), "keygen", "-o", tmp_path / name], capture_output=True, timeout=60)
            assert completed.returncode == 0, completed
            public = bytes.fromhex((tmp_path / f"{name}.pub").read_text().split()[-1])
            if not re.search(r"\d{10}", hashlib.sha256(public).hexdigest()[:16]):
                break
    return tmp_path / "a", tmp_path / "b"


def test_signed_release_is_vouched_for_with_trust(optout, regs, tmp_path, keys):
    a, b = keys
    (tmp_path / "extract.csv").write_text(extract())
    build(regs, "--list", "national=old.txt", "--sign", f"{a}.key", "-o", tmp_path / "signed.optout")
    signed = tmp_path / "signed.optout"
    result = optout("filter", "-r", signed, "--column", "nhs_number", tmp_path / "extract.csv",
                    "-o", tmp_path / "clean.csv", "--audit", tmp_path / "audit.jsonl", "--sign", f"{a}.key",
                    "--trust", f"{a}.pub", "-q")
    assert result.code == 0, result
    result = verify(optout, signed, tmp_path / "clean.csv", "--trust", f"{a}.pub", "--audit", tmp_path / "audit.jsonl",
                    "--json")
    assert result.code == 0, result
    audit = json.loads(result.stdout)["audit"]
    assert audit["line"] == 2 and audit["signer"] is not None and len(audit["signer"]) == 16

    # The wrong key: refused, naming the key ids, never the data.
    result = verify(optout, signed, tmp_path / "clean.csv", "--trust", f"{b}.pub", "--audit", tmp_path / "audit.jsonl")
    assert result.code == 1, result
    assert "which is not trusted" in result.stderr
    assert len(result.stderr.splitlines()) == 1

    # An unsigned registry with --trust: refused before the extract is read.
    result = verify(optout, regs / "old.optout", tmp_path / "clean.csv", "--trust", f"{a}.pub")
    assert result.code == 1, result
    assert "unsigned: a registry signed by a trusted key is required" in result.stderr

    # A record changed after signing: corruption.
    log = (tmp_path / "audit.jsonl").read_text().replace('"kept":5', '"kept":6')
    (tmp_path / "audit.jsonl").write_text(log)
    result = verify(optout, signed, tmp_path / "clean.csv", "--trust", f"{a}.pub", "--audit", tmp_path / "audit.jsonl")
    assert result.code == 1, result
    assert "audit record signature does not verify" in result.stderr
