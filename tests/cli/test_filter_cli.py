"""optout filter and optout numbers, run as a user would: files, pipes, failures, accounting."""

import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import NUMBER_IN_TEXT, assert_usage_error, binary, valid_numbers, wrong_check_digit

NUMS = valid_numbers(12, seed=21)
OPTED_OUT = NUMS[:3]          # in the deny list "national"
TYPE1 = NUMS[3:4]             # in the deny list "type1"
KEPT = NUMS[4:]


def spaced(number):
    return f"{number[:3]} {number[3:6]} {number[6:]}"


@pytest.fixture
def registry(optout, tmp_path):
    (tmp_path / "national.txt").write_text("".join(n + "\n" for n in OPTED_OUT))
    (tmp_path / "type1.txt").write_text("".join(n + "\n" for n in TYPE1))
    result = optout("build", "--list", "national=national.txt", "--list", "type1=type1.txt",
                    "-o", "reg.optout", "-q", cwd=tmp_path)
    assert result.code == 0, result
    return tmp_path / "reg.optout"


def extract():
    """An extract mixing kept, removed and rejected rows, quoted newlines, CRLF, no final newline."""
    rows = [
        ("1", KEPT[0], "plain"),
        ("2", OPTED_OUT[0], "removed"),
        ("3", spaced(OPTED_OUT[1]), '"spaced, removed"'),
        ("4", KEPT[1], '"two\nlines"'),
        ("5", "", "empty number"),
        ("6", wrong_check_digit(KEPT[2]), "bad check digit"),
        ("7", TYPE1[0], "type1"),
        ("8", f'"{KEPT[3]}"', '"quoted ""number"""'),
    ]
    text = "id,nhs_number,notes\r\n"
    for i, (rid, number, notes) in enumerate(rows):
        text += f"{rid},{number},{notes}" + ("\r\n" if i % 2 else "\n")
    text += f"9,{KEPT[4]},last row without newline"
    return text


def expected_output(text, drop_ids):
    """The extract without the records whose id is in drop_ids, byte for byte (records split by hand)."""
    records, start, quoted = [], 0, False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == "\n" and not quoted:
            records.append(text[start:i + 1])
            start = i + 1
    if start < len(text):
        records.append(text[start:])
    return "".join(r for r in records if r.split(",", 1)[0] not in drop_ids)


REMOVED_IDS = {"2", "3", "7"}
REJECTED_IDS = {"5", "6"}


def test_file_to_file_keeps_exactly_the_right_rows(optout, registry, tmp_path):
    (tmp_path / "x.csv").write_text(extract(), newline="")
    result = optout("filter", "-r", registry, "--column", "nhs_number", "x.csv", "-o", "clean.csv",
                    "--rejects", "rejects.csv", "--stats", "stats.json", cwd=tmp_path)
    assert result.code == 0, result
    assert result.stdout == ""
    assert (tmp_path / "clean.csv").read_bytes().decode() == expected_output(extract(), REMOVED_IDS | REJECTED_IDS)
    rejects = (tmp_path / "rejects.csv").read_bytes().decode()
    assert rejects == "id,nhs_number,notes\r\n" + expected_output(extract(), set("0123456789") - REJECTED_IDS).split("\r\n", 1)[1]
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["rows"], stats["kept"], stats["removed"], stats["rejected"]) == (9, 4, 3, 2)
    assert stats["rejected_by_reason"] == {"empty": 1, "wrong check digit": 1}
    assert result.stderr.startswith("optout filter: 9 rows: 4 kept, 3 removed, 2 rejected; ")


@pytest.mark.parametrize("args", [["--threads", "1"], ["--threads", "4"], ["--block-size", "1"],
                                  ["--block-size", "7"], ["--block-size", "4096"]])
def test_stdin_to_stdout_is_identical_for_every_thread_count_and_block_size(optout, registry, args):
    result = optout("filter", "-r", registry, "--column", "nhs_number", "-q", *args, stdin=extract())
    assert result.code == 0, result
    assert result.stderr == ""
    assert result.stdout == expected_output(extract(), REMOVED_IDS | REJECTED_IDS)


def test_apply_and_unknown_list(optout, registry):
    only_national = optout("filter", "-r", registry, "--column", "nhs_number", "--apply", "national", "-q",
                           stdin=extract())
    assert only_national.code == 0, only_national
    assert only_national.stdout == expected_output(extract(), {"2", "3"} | REJECTED_IDS)
    unknown = optout("filter", "-r", registry, "--column", "nhs_number", "--apply", "national,objections",
                     stdin=extract())
    assert unknown.code == 1 and unknown.stdout == ""
    assert "no list named 'objections'" in unknown.stderr


def test_allow_list_keeps_only_cleared_patients(optout, tmp_path):
    (tmp_path / "reply.dat").write_text("".join(n + ",\r\n" for n in KEPT[:2]))
    assert optout("build", "--allow", "cleared=reply.dat", "-o", "allow.optout", "-q", cwd=tmp_path).code == 0
    result = optout("filter", "-r", tmp_path / "allow.optout", "--column", "nhs_number", "-q", stdin=extract())
    assert result.code == 0, result
    kept_ids = {"1", "4"}
    assert result.stdout == expected_output(extract(), set("123456789") - kept_ids)


def test_audit_appends_one_record_per_run_without_numbers(optout, registry, tmp_path):
    (tmp_path / "x.csv").write_text(extract(), newline="")
    for _ in range(2):
        assert optout("filter", "-r", registry, "--column", "nhs_number", "x.csv", "-o", "clean.csv",
                      "--audit", "audit.jsonl", "-q", cwd=tmp_path).code == 0
    text = (tmp_path / "audit.jsonl").read_text()
    for number in NUMS:  # no number from the input, in any shape
        assert number not in text and spaced(number) not in text
    lines = text.splitlines()
    for line in lines:  # nor anything number-like outside the hex digests (which may hold digit runs)
        fields = {k: v for k, v in json.loads(line).items() if k not in ("registry_digest", "output_xxh3_128")}
        assert NUMBER_IN_TEXT.search(json.dumps(fields)) is None
    assert len(lines) == 2
    record = json.loads(lines[0])
    digest = json.loads(optout("info", "--json", registry).stdout)["digest"]
    assert record["registry_digest"] == digest
    assert record["lists_applied"] == ["national", "type1"]
    assert (record["rows"], record["kept"], record["removed"], record["rejected"]) == (9, 4, 3, 2)
    assert record["outcome"] == "ok" and len(record["output_xxh3_128"]) == 32
    assert record["output_bytes"] == (tmp_path / "clean.csv").stat().st_size


def test_max_age(optout, registry, tmp_path):
    assert optout("filter", "-r", registry, "--column", "nhs_number", "--max-age", "1h", "-q",
                  stdin=extract()).code == 0
    time.sleep(1.1)
    stale = optout("filter", "-r", registry, "--column", "nhs_number", "--max-age", "0h",
                   "-o", tmp_path / "out.csv", stdin=extract())
    assert stale.code == 1, stale
    assert "older than the limit" in stale.stderr
    assert not (tmp_path / "out.csv").exists()
    for bad in ("7x", "abc", "d"):
        assert_usage_error(optout("filter", "-r", registry, "--column", "nhs_number", "--max-age", bad,
                                  stdin=extract()), "filter")


def test_max_rejected_gate(optout, registry, tmp_path):
    over = optout("filter", "-r", registry, "--column", "nhs_number", "--max-rejected", "1",
                  "-o", tmp_path / "out.csv", stdin=extract())
    assert over.code == 1, over
    assert over.stderr == ("optout filter: <stdin>: 2 rows rejected in the first 9 rows (22.22%), "
                           "more than the limit of 1 rows\n")
    assert not (tmp_path / "out.csv").exists()
    assert optout("filter", "-r", registry, "--column", "nhs_number", "--max-rejected", "2", "-q",
                  stdin=extract()).code == 0
    assert optout("filter", "-r", registry, "--column", "nhs_number", "--max-rejected", "22.3%", "-q",
                  stdin=extract()).code == 0
    assert optout("filter", "-r", registry, "--column", "nhs_number", "--max-rejected", "22%",
                  stdin=extract()).code == 1
    assert_usage_error(optout("filter", "-r", registry, "--column", "nhs_number", "--max-rejected", "abc",
                              stdin=extract()), "filter")


@pytest.mark.parametrize("text,line,problem", [
    ("nhs_number\n1\n\"2\n", 3, "unterminated quoted field"),
    ("nhs_number,x\n1,\"a\nb\"\n2,c\"d\n", 4, "quote inside an unquoted field"),
    ("nhs_number,x\n1,\"a\"b\n", 2, "text after the closing quote of a field"),
])
def test_malformed_csv_names_the_line_and_leaves_no_output(optout, registry, tmp_path, text, line, problem):
    (tmp_path / "bad.csv").write_text(text)
    result = optout("filter", "-r", registry, "--column", "nhs_number", "bad.csv", "-o", "out.csv",
                    "--rejects", "rej.csv", cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr == f"optout filter: bad.csv:{line}: {problem}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "national.txt", "reg.optout", "type1.txt"]
    to_stdout = optout("filter", "-r", registry, "--column", "nhs_number", stdin=text)
    assert to_stdout.code == 1
    assert to_stdout.stderr.splitlines() == [
        f"optout filter: <stdin>:{line}: {problem}",
        "optout filter: run failed: the output written to standard output is incomplete"]


def test_column_errors(optout, registry):
    unknown = optout("filter", "-r", registry, "--column", "nhs", stdin=extract())
    assert unknown.code == 1
    assert unknown.stderr.splitlines()[0] == ("optout filter: <stdin>: no column named 'nhs' in the header "
                                              "(it has: id, nhs_number, notes)")
    assert_usage_error(optout("filter", "-r", registry, stdin=extract()), "filter")
    assert_usage_error(optout("filter", "-r", registry, "--column", "x", "--no-header", stdin=extract()), "filter")
    assert_usage_error(optout("filter", "-r", registry, "--column", "x", "--delimiter", "ab", stdin=extract()),
                       "filter")
    headerless = optout("filter", "-r", registry, "--column-index", "2", "--no-header", "--delimiter", "tab",
                        "-q", stdin=f"a\t{OPTED_OUT[0]}\nb\t{KEPT[0]}\n")
    assert headerless.code == 0 and headerless.stdout == f"b\t{KEPT[0]}\n"


def big_extract(path, rows=200_000):
    with open(path, "w") as f:
        f.write("id,nhs_number,notes\n")
        for i in range(rows):
            f.write(f"{i},{KEPT[i % len(KEPT)]},some notes for row {i}\n")
    return path


def test_closed_pipe_ends_quietly_with_sigpipe(registry, tmp_path):
    big = big_extract(tmp_path / "big.csv")
    shell = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"'{binary()}' filter -r '{registry}' --column nhs_number '{big}' | head -c 100 > /dev/null"],
        capture_output=True, timeout=60)
    assert shell.returncode == 141, shell
    assert shell.stderr == b""
    proc = subprocess.Popen([binary(), "filter", "-r", str(registry), "--column", "nhs_number", str(big)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(100)
    proc.stdout.close()
    assert proc.wait(timeout=60) == -signal.SIGPIPE
    assert proc.stderr.read() == b""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_leaves_no_output_file(registry, tmp_path, sig):
    proc = subprocess.Popen([binary(), "filter", "-r", str(registry), "--column", "nhs_number",
                             "-o", str(tmp_path / "out.csv")], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(("id,nhs_number\n" + "".join(f"{i},{KEPT[0]}\n" for i in range(50_000))).encode())
    proc.stdin.flush()
    time.sleep(0.3)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    proc.stdin.close()
    assert not (tmp_path / "out.csv").exists()


def test_full_disk_fails_and_leaves_no_output_file(registry, tmp_path):
    big = big_extract(tmp_path / "big.csv", rows=50_000)
    result = subprocess.run(["bash", "-c", f"ulimit -f 10; exec '{binary()}' filter -r '{registry}' "
                             f"--column nhs_number '{big}' -o '{tmp_path / 'out.csv'}'"],
                            capture_output=True, timeout=60)
    assert result.returncode == 1, result
    assert b"write failed: File too large" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_output_to_a_fifo_is_written_in_place(optout, registry, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))
    reader.start()
    result = optout("filter", "-r", registry, "--column", "nhs_number", "-o", fifo, "-q", stdin=extract())
    reader.join(timeout=30)
    assert result.code == 0, result
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received == [expected_output(extract(), REMOVED_IDS | REJECTED_IDS).encode()]


def test_numbers_writes_distinct_valid_numbers_sorted(optout, tmp_path):
    text = "nhs_number\n" + "\n".join([KEPT[1], spaced(KEPT[0]), f'"{KEPT[1]}"', "", "123", KEPT[0]]) + "\n"
    plain = optout("numbers", "--column", "nhs_number", stdin=text)
    assert plain.code == 0, plain
    assert plain.stdout == "".join(n + "\n" for n in sorted([KEPT[0], KEPT[1]]))
    assert plain.stderr.splitlines() == [
        "optout numbers: 6 rows: 2 distinct numbers written from 4 valid",
        "optout numbers: warning: 2 rows left out (1 empty, 1 wrong length)"]
    mesh = optout("numbers", "--column", "nhs_number", "--format", "mesh", "-o", tmp_path / "check.dat", "-q",
                  stdin=text)
    assert mesh.code == 0
    assert (tmp_path / "check.dat").read_text() == "".join(n + ",\n" for n in sorted([KEPT[0], KEPT[1]]))
    bad = optout("numbers", "--column", "nhs_number", "-o", tmp_path / "never.dat", stdin="nhs_number\n\"1\n")
    assert bad.code == 1
    assert bad.stderr == "optout numbers: <stdin>:2: unterminated quoted field\n"
    assert not (tmp_path / "never.dat").exists()
