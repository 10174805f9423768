"""optout numbers: an extract's distinct valid NHS numbers, for the Check for National Data Opt-outs service.

Expected lists come from the reference reader in conftest.py or are written out by hand. Every run
through the `optout` fixture also checks that stderr holds nothing NHS-number-like.
"""

import collections
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import (NUMBER_IN_TEXT, Malformed, assert_usage_error, binary, check_digit, check_ten_stem, dashed,
                      nhs, reference_records, reference_rows, spaced, valid_numbers, wrong_check_digit)

A, B, C, D = valid_numbers(4, seed=33)  # ascending
SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples"
SUMMARY = re.compile(r"optout numbers: (\d+) rows: (\d+) distinct numbers written from (\d+) valid\n")


def run_raw(*args, stdin=b"", cwd=None):
    """Runs optout with bytes in and out; stderr is checked as the `optout` fixture does."""
    completed = subprocess.run([binary(), *map(str, args)], input=stdin, capture_output=True, cwd=cwd, timeout=60)
    assert NUMBER_IN_TEXT.search(completed.stderr.decode("utf-8", "replace")) is None, completed
    return completed


def reference_numbers(data, column="nhs_number", delimiter=b",", header=True):
    """The distinct valid numbers (sorted) and the rejected rows counted by reason."""
    _, rows = reference_rows(data, column, delimiter, header)
    numbers = sorted({number for _, number, _ in rows if number})
    reasons = collections.Counter(reason for _, number, reason in rows if number is None)
    return numbers, reasons, len(rows)


def lines(numbers, end="\n"):
    return "".join(n + end for n in numbers)


def dir_listing(path):
    return sorted(p.name for p in Path(path).iterdir())


# A hand-built extract: every accepted shape of B and C, duplicates, and one row of each left-out kind.
MESSY = (
    "id,nhs_number,notes\r\n"
    f"1,{C},plain\n"
    f"2,{spaced(B)},spaced\r\n"
    f"3,{dashed(C)},dashed\n"
    f'4,"{B}","quoted"\n'
    f'5," {spaced(C)} ","padded, quoted"\n'
    f"6, {B}\t,padded\n"
    "7,,empty\n"
    f"8,{wrong_check_digit(A)},wrong check digit\n"
    f"9,{A[:9]},nine digits\n"
    "10,N/A,placeholder\n"
    "11\n"
    f"12,{check_ten_stem()},check digit ten\n"
    f"13,{A[:3]} {A[3:]},bad shape\n"
    f'14,{B},"last, no newline"'
)
MESSY_LEFT_OUT = ("7 rows left out (1 missing field, 1 empty, 1 bad character, 1 wrong length, 1 bad shape, "
                  "1 check digit 10, 1 wrong check digit)")


def test_distinct_valid_numbers_sorted_one_a_line(optout):
    result = optout("numbers", "--column", "nhs_number", stdin=MESSY)
    assert result.code == 0, result
    assert result.stdout == lines([B, C])  # normalised to 10 digits, distinct, ascending, LF
    assert result.stderr.splitlines() == [
        "optout numbers: 14 rows: 2 distinct numbers written from 7 valid",
        f"optout numbers: warning: {MESSY_LEFT_OUT}"]
    assert A not in result.stdout and A[:9] not in result.stdout  # invalid numbers are never printed
    numbers, reasons, rows = reference_numbers(MESSY.encode())
    assert (numbers, sum(reasons.values()), rows) == ([B, C], 7, 14)


def test_mesh_format_and_output_file(optout, tmp_path):
    (tmp_path / "x.csv").write_text(MESSY, newline="")
    mesh = optout("numbers", "--column", "nhs_number", "x.csv", "--format", "mesh", "-o", "check.dat", "-q",
                  cwd=tmp_path)
    assert mesh.code == 0, mesh
    assert mesh.stdout == ""
    assert mesh.stderr == f"optout numbers: warning: {MESSY_LEFT_OUT}\n"  # --quiet keeps warnings
    assert (tmp_path / "check.dat").read_bytes() == lines([B, C], ",\n").encode()
    text = optout("numbers", "--column", "nhs_number", "x.csv", "--format", "text", "-o", "list.txt", "-q",
                  cwd=tmp_path)
    assert text.code == 0
    assert (tmp_path / "list.txt").read_bytes() == lines([B, C]).encode()
    assert dir_listing(tmp_path) == ["check.dat", "list.txt", "x.csv"]


def test_roaring_format_is_the_bitmap_export_writes_for_the_same_numbers(optout, tmp_path):
    """One NumbersFormat for numbers and export: an extract's numbers as Roaring are the bytes that
    export writes for a list built from the same numbers."""
    (tmp_path / "x.csv").write_text(MESSY, newline="")
    for fmt, name in (("text", "list.txt"), ("roaring", "list.roaring")):
        result = optout("numbers", "--column", "nhs_number", "x.csv", "--format", fmt, "-o", name, "-q", cwd=tmp_path)
        assert result.code == 0, result
    assert optout("build", "--list", "x=list.txt", "-o", "r.optout", "-q", cwd=tmp_path).code == 0
    assert optout("export", "r.optout", "--list", "x", "-o", "x.roaring", "-q", cwd=tmp_path).code == 0
    roaring = (tmp_path / "list.roaring").read_bytes()
    assert roaring == (tmp_path / "x.roaring").read_bytes()
    assert len(roaring) > 8


def test_no_warning_when_nothing_is_left_out(optout):
    result = optout("numbers", "--column", "nhs_number", stdin=f"nhs_number\n{D}\n{A}\n{D}\n")
    assert result.code == 0
    assert result.stdout == lines([A, D])
    assert result.stderr == "optout numbers: 3 rows: 2 distinct numbers written from 3 valid\n"
    quiet = optout("numbers", "--column", "nhs_number", "-q", stdin=f"nhs_number\n{D}\n{A}\n{D}\n")
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, lines([A, D]), "")


@pytest.mark.parametrize("text", ["nhs_number\n", "nhs_number", "\ufeffnhs_number\r\n"])
def test_header_only_gives_an_empty_list(optout, text):
    result = optout("numbers", "--column", "nhs_number", stdin=text)
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == "optout numbers: 0 rows: 0 distinct numbers written from 0 valid\n"


def test_all_rows_invalid(optout):
    result = optout("numbers", "--column", "nhs_number", "--format", "mesh", stdin="nhs_number\nx\n\n")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr.splitlines() == ["optout numbers: 2 rows: 0 distinct numbers written from 0 valid",
                                          "optout numbers: warning: 2 rows left out (1 empty, 1 bad character)"]


@pytest.mark.parametrize("sample", ["extract_narrow.csv", "extract_dirty.csv", "extract_wide.csv"])
def test_samples_match_the_reference_for_every_thread_count_and_block_size(sample):
    data = (SAMPLES / sample).read_bytes()
    numbers, reasons, rows = reference_numbers(data)
    expected_warning = ""
    if reasons:
        expected_warning = f"optout numbers: warning: {sum(reasons.values())} rows left out ("
    for threads, block in ((1, 1), (2, 7), (4, 4096), (2, 1 << 20)):
        where = f"{sample} --threads {threads} --block-size {block}"
        result = run_raw("numbers", "--column", "nhs_number", "--threads", threads, "--block-size", block, stdin=data)
        assert result.returncode == 0, where
        assert result.stdout == lines(numbers).encode(), where
        stderr = result.stderr.decode().splitlines(keepends=True)
        assert SUMMARY.fullmatch(stderr[0]).groups() == \
            (str(rows), str(len(numbers)), str(rows - sum(reasons.values()))), where
        if reasons:
            assert len(stderr) == 2 and stderr[1].startswith(expected_warning), where
            for reason, count in reasons.items():
                assert f"{count} {reason}" in stderr[1], (where, reason)
        else:
            assert len(stderr) == 1, where


def test_wide_sample_by_position_equals_by_name():
    data = (SAMPLES / "extract_wide.csv").read_bytes()
    by_name = run_raw("numbers", "--column", "nhs_number", "-q", stdin=data)
    by_index = run_raw("numbers", "--column-index", "91", "-q", stdin=data)
    assert by_name.returncode == by_index.returncode == 0
    assert by_name.stdout == by_index.stdout == lines(reference_numbers(data)[0]).encode()


def test_stdin_and_files_give_identical_bytes(optout, tmp_path):
    data = (SAMPLES / "extract_dirty.csv").read_bytes()
    (tmp_path / "x.csv").write_bytes(data)
    piped = run_raw("numbers", "--column", "nhs_number", "-q", stdin=data)
    dash = run_raw("numbers", "--column", "nhs_number", "-q", "-", stdin=data)
    to_file = run_raw("numbers", "--column", "nhs_number", "-q", "x.csv", "-o", "n.txt", cwd=tmp_path)
    assert piped.returncode == dash.returncode == to_file.returncode == 0
    assert piped.stdout == dash.stdout == (tmp_path / "n.txt").read_bytes() == lines(reference_numbers(data)[0]).encode()
    assert dir_listing(tmp_path) == ["n.txt", "x.csv"]


def test_no_header_and_tab_delimiter(optout):
    result = optout("numbers", "--column-index", "2", "--no-header", "--delimiter", "tab", "-q",
                    stdin=f"x\t{C}\ny\t{spaced(A)}\tz\nw\t{C}\n")
    assert (result.code, result.stdout, result.stderr) == (0, lines([A, C]), "")


MALFORMED = [
    ("unterminated quote at EOF", f'nhs_number\n{A}\n"{B}\n', 3, "unterminated quoted field"),
    ("quote inside an unquoted field", f'nhs_number,x\n{A},"a\nb"\n{B},c"d\n', 4, "quote inside an unquoted field"),
    ("text after the closing quote", f'nhs_number,x\n{A},"a"b\n', 2, "text after the closing quote of a field"),
    ("bad header", 'nhs_number,"x"y\n', 1, "text after the closing quote of a field"),
]


@pytest.mark.parametrize("name,text,line,problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_csv_names_the_line_and_writes_nothing(optout, tmp_path, name, text, line, problem):
    with pytest.raises(Malformed) as reference:
        reference_records(text.encode())
    assert (reference.value.line, reference.value.problem) == (line, problem)
    (tmp_path / "bad.csv").write_text(text)
    assert_fails_at_line(optout, tmp_path, "bad.csv", text, line, problem, block_size="7")


def assert_fails_at_line(optout, folder, name, data, line, problem, block_size):
    """numbers over folder/name (holding data) and over data on stdin fail naming the line and write
    nothing; the file on one thread and on four with blocks of block_size bytes."""
    for more in ([], ["--threads", "4", "--block-size", block_size]):
        result = optout("numbers", "--column", "nhs_number", name, "-o", "n.txt", *more, cwd=folder)
        assert result.code == 1, result
        assert result.stderr == f"optout numbers: {name}:{line}: {problem}\n"
        assert dir_listing(folder) == [name]
    to_stdout = optout("numbers", "--column", "nhs_number", stdin=data)
    assert (to_stdout.code, to_stdout.stdout) == (1, "")  # nothing at all: the list is written only at the end
    assert to_stdout.stderr == f"optout numbers: <stdin>:{line}: {problem}\n"


def first_line_longer_than(text, limit):
    """The line where the first record longer than limit bytes (terminator included) starts."""
    line = 1
    for raw, _ in reference_records(text.encode()):
        if len(raw) > limit:
            return line
        line += raw.count(b"\n")
    raise AssertionError("no record is that long")


def test_failures_name_the_file_and_leave_no_output(optout, tmp_path):
    (tmp_path / "x.csv").write_text(MESSY)
    (tmp_path / "e.csv").write_text("")
    (tmp_path / "n.txt").write_text("previous\n")
    cases = [
        (["x.csv", "-o", "nowhere/n.txt"], "optout numbers: nowhere/n.txt: cannot create: No such file or directory\n"),
        (["nope.csv", "-o", "n.txt"], "optout numbers: nope.csv: cannot open: No such file or directory\n"),
        (["e.csv", "-o", "n.txt"], "optout numbers: e.csv: empty input: expected a header record\n"),
        (["x.csv", "-o", "n.txt", "--max-record-bytes", "25"],
         f"optout numbers: x.csv:{first_line_longer_than(MESSY, 25)}: record longer than the limit of 25 bytes\n"),
    ]
    for args, message in cases:
        result = optout("numbers", "--column", "nhs_number", *args, cwd=tmp_path)
        assert (result.code, result.stdout, result.stderr) == (1, "", message), (args, result)
    assert dir_listing(tmp_path) == ["e.csv", "n.txt", "x.csv"]
    assert (tmp_path / "n.txt").read_text() == "previous\n"  # untouched by the failed runs


def test_unknown_column_lists_the_header(optout):
    result = optout("numbers", "--column", "nhs", stdin=MESSY)
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == ("optout numbers: <stdin>: no column named 'nhs' in the header "
                             "(it has: id, nhs_number, notes)\n")


@pytest.mark.parametrize("args", [
    [],
    ["--column", "nhs_number", "--no-header"],
    ["--column", "nhs_number", "--column-index", "2"],
    ["--column", "nhs_number", "--delimiter", "ab"],
    ["--column", "nhs_number", "--delimiter", '"'],
    ["--column", "nhs_number", "--format", "dat"],
    ["--column", "nhs_number", "--max-rejected", "1"],
    ["--column", "nhs_number", "--threads", "1025"],  # 0 is every core
], ids=lambda a: " ".join(a) or "no column")
def test_usage_errors(optout, tmp_path, args):
    result = optout("numbers", *args, "-o", tmp_path / "n.txt", stdin=MESSY)
    assert_usage_error(result, "numbers")
    assert not (tmp_path / "n.txt").exists()


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """An extract of 200 000 distinct valid numbers (2.2 MB of output: more than a 1 MiB pipe buffer)."""
    stems = [s for s in range(400_000_000, 400_300_000) if check_digit(s) is not None]
    numbers = [nhs(s) for s in stems[:200_000]]
    path = tmp_path_factory.mktemp("many") / "many.csv"
    path.write_text("nhs_number\n" + lines(reversed(numbers)))
    return path, numbers


def test_closed_pipe_ends_quietly_with_sigpipe(many):
    path, numbers = many
    command = f"{shlex.quote(binary())} numbers --column nhs_number {shlex.quote(str(path))} | head -c 100 > /dev/null"
    shell = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, timeout=60)
    assert (shell.returncode, shell.stderr) == (141, b""), shell
    proc = subprocess.Popen([binary(), "numbers", "--column", "nhs_number", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.read(110) == lines(numbers[:10]).encode()
    proc.stdout.close()
    assert proc.wait(timeout=60) == -signal.SIGPIPE
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_full_disk_fails_and_leaves_no_output_file(many, tmp_path):
    path, _ = many
    command = f"ulimit -f 100; exec {shlex.quote(binary())} numbers --column nhs_number {shlex.quote(str(path))} -o n.txt"
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, timeout=60)
    assert result.returncode == 1, result
    assert result.stderr == b"optout numbers: n.txt: write failed: File too large\n"
    assert dir_listing(tmp_path) == []


# Issue 10: CR line ends once made the whole file "the header" (nothing listed, exit 0), or hid
# rows inside another row's field.
BARE_CR = "bare CR outside quotes (lines must end with LF or CRLF)"
BARE_CR_CASES = [
    ("CR between records", b"id,nhs_number,x\n1,9434765919,a\r2,7408480374,b\r3,7408480374,c\n", 2),
    ("CR line ends only", b"id,nhs_number,x\r1,9434765919,a\r2,7408480374,b\r", 1),
    ("CR at the end of the input", b"id,nhs_number,x\n1,9434765919,a\n2,7408480374,b\r", 3),
]


@pytest.mark.parametrize("name,text,line", BARE_CR_CASES, ids=[c[0] for c in BARE_CR_CASES])
def test_bare_cr_line_ending_is_an_error_not_a_release(optout, tmp_path, name, text, line):
    (tmp_path / "crmix.csv").write_bytes(text)
    assert_fails_at_line(optout, tmp_path, "crmix.csv", text, line, BARE_CR, block_size="1")


# ---- Outputs apart from inputs, never empty (issues 10.6, 15.8) ----------------------------------

def test_output_naming_the_input_is_refused(optout, tmp_path):
    (tmp_path / "x.csv").write_text(MESSY, newline="")
    before = (tmp_path / "x.csv").read_bytes()
    result = optout("numbers", "--column", "nhs_number", "x.csv", "-o", "x.csv", cwd=tmp_path)
    assert assert_usage_error(result, "numbers") == "x.csv is given twice: an output would overwrite an input"
    assert (tmp_path / "x.csv").read_bytes() == before


@pytest.mark.parametrize("args,problem", [
    (["-o", ""], "an empty output path: give a file name"),
    (["", "-o", "n.txt"], 'an empty input path: give a file name, or "-" for standard input'),
])
def test_empty_path_is_a_usage_error(optout, tmp_path, args, problem):
    """Issue 15.8: -o "" wrote every number to standard output."""
    result = optout("numbers", "--column", "nhs_number", *args, stdin=MESSY, cwd=tmp_path)
    assert assert_usage_error(result, "numbers") == problem
    assert dir_listing(tmp_path) == []
