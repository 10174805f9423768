"""optout filter, run as a user would: files, pipes, signals, failures, accounting.

Expected outputs come from the reference reader in conftest.py (sequential, strict RFC 4180, its own
NHS-number parser) or are written out by hand where they are obvious. Every run through the
`optout` fixture also checks that stderr holds nothing NHS-number-like.
"""

import collections
import json
import os
import random
import re
import shlex
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (BOM, NUMBER_IN_TEXT, Malformed, assert_usage_error, binary, check_ten_stem, dashed,
                      reference_records, reference_rows, spaced, valid_numbers, wrong_check_digit)

NUMS = valid_numbers(30, seed=21)
NATIONAL = NUMS[:4]            # deny list "national"
TYPE1 = NUMS[4:6]              # deny list "type1"
CLEARED = NUMS[6:14] + NUMS[:1]  # allow list "cleared" (one national patient is cleared too)
OTHER = NUMS[14:]              # on no list
KEPT = OTHER                   # kept by the deny registry

SUMMARY = re.compile(r"optout filter: (\d+) rows: (\d+) kept, (\d+) removed, (\d+) rejected; "
                     r"\d+\.\d MB in \d+\.\d\d s \(\d+ MB/s\)\n")


def no_number_in(text):
    """True when no number of NUMS appears in text, in any of the shapes the filter reads."""
    return not any(form(n) in text for n in NUMS for form in (str, spaced, dashed))


# ---- Registries (built once per module) -----------------------------------------------------------

def build(directory, *args):
    completed = subprocess.run([binary(), "build", *map(str, args), "-q"], cwd=directory,
                               capture_output=True, timeout=60)
    assert completed.returncode == 0, completed
    assert completed.stderr == b""


@pytest.fixture(scope="module")
def regs(tmp_path_factory):
    """Registries: deny (national + type1), allow (cleared), mixed (national deny + cleared allow), and
    the committed samples' lists (samples_deny, samples_allow)."""
    d = tmp_path_factory.mktemp("registries")
    (d / "national.txt").write_text("".join(n + "\n" for n in NATIONAL))
    (d / "type1.txt").write_text("".join(n + "\n" for n in TYPE1))
    (d / "cleared.dat").write_text("".join(n + ",\n" for n in CLEARED))
    build(d, "--list", "national=national.txt", "--list", "type1=type1.txt", "-o", "deny.optout")
    build(d, "--allow", "cleared=cleared.dat", "-o", "allow.optout")
    build(d, "--list", "national=national.txt", "--allow", "cleared=cleared.dat", "-o", "mixed.optout")
    samples = Path(__file__).resolve().parents[2] / "datasets" / "samples"
    build(d, "--list", f"national={samples / 'national.txt'}", "--list", f"type1={samples / 'type1.txt'}",
          "-o", "samples_deny.optout")
    build(d, "--allow", f"cleared={samples / 'cleared.dat'}", "-o", "samples_allow.optout")
    names = ("deny", "allow", "mixed", "samples_deny", "samples_allow")
    return collections.namedtuple("Registries", names + ("samples",))(
        *(d / f"{name}.optout" for name in names), samples)


@pytest.fixture
def registry(regs):
    return regs.deny


# ---- Inputs and the expected results --------------------------------------------------------------

def hand_extract():
    """Kept, removed and rejected rows, quoted newlines, CRLF and LF, no final newline."""
    rows = [
        ("1", KEPT[0], "plain"),
        ("2", NATIONAL[0], "removed"),
        ("3", spaced(NATIONAL[1]), '"spaced, removed"'),
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


def hand_rows(ids):
    """hand_extract()'s header and the records whose id is in ids, byte for byte (split by hand)."""
    text = hand_extract()
    records, start, quoted = [], 0, False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == "\n" and not quoted:
            records.append(text[start:i + 1])
            start = i + 1
    records.append(text[start:])
    return records[0] + "".join(r for r in records[1:] if r.split(",", 1)[0] in ids)


HAND_KEPT = {"1", "4", "8", "9"}
HAND_REJECTED = {"5", "6"}


def random_extract(seed, rows=250, delimiter=b",", crlf=0.3, bom=False, final_newline=True):
    """A seeded extract (bytes) with every kind of number and row the filter must handle.

    Columns id, note, nhs_number, last; notes hold delimiters, quotes, LF, CRLF, non-UTF-8 bytes and
    long text (to cross block boundaries); some rows lack the NHS field or are empty lines.
    """
    rng = random.Random(seed)
    d = delimiter

    def note():
        return rng.choice([
            b"plain", b"", b'"a' + d + b' b"', b'"two\nlines"', b'"crlf\r\ninside"', b'"say ""hi"""',
            b"\xff\xfe\x80 not utf-8", b"x" * rng.randint(40, 400), b'"' + (b"y" + d) * rng.randint(5, 80) + b'"',
            b'"' + b'""' * rng.randint(1, 40) + b'"', b'"caf\xc3\xa9 \r mid-field cr"',
        ])

    def valid_form(n):
        return rng.choice([n, spaced(n), dashed(n), f" {n} ", f"\t{n}", f'"{n}"', f'" {spaced(n)} "',
                           f'"{dashed(n)}"']).encode()

    def invalid_form():
        n = rng.choice(NUMS)
        return rng.choice([
            "", "   ", wrong_check_digit(n), n[:9], n + "0", "N/A", check_ten_stem(), f"{n[:3]} {n[3:]}",
            f"{n[:3]}-{n[3:6]} {n[6:]}", '"12""34"', '""', "943.476.5919", "\uff19" * 10,
        ]).encode()

    header = b"id" + d + b"note" + d + b"nhs_number" + d + b'"last ""col"""'
    out = [BOM if bom else b"", header, b"\r\n" if rng.random() < crlf else b"\n"]
    for i in range(rows):
        kind = rng.choices(["national", "type1", "cleared", "other", "invalid", "short", "empty"],
                           [4, 2, 3, 6, 3, 1, 1])[0]
        if kind == "empty" and i < rows - 1:
            record = b""
        else:
            pool = {"national": NATIONAL, "type1": TYPE1, "cleared": CLEARED}.get(kind, OTHER)
            nhs = invalid_form() if kind == "invalid" else valid_form(rng.choice(pool))
            fields = [str(i).encode(), note(), nhs, note()]
            record = d.join(fields[:rng.randint(1, 2)] if kind == "short" else fields)
        out.append(record)
        if i < rows - 1 or final_newline:
            out.append(b"\r\n" if rng.random() < crlf else b"\n")
    return b"".join(out)


Expected = collections.namedtuple("Expected", "out rejects rows kept removed rejected reasons")


def expected(data, deny=(), allow=None, column="nhs_number", delimiter=b",", header=True):
    """What filter must produce for data with these lists, from the reference reader."""
    head, rows = reference_rows(data, column, delimiter, header)
    kept, rejected, reasons, removed = [head], [head], collections.Counter(), 0
    for raw, number, reason in rows:
        if number is None:
            rejected.append(raw)
            reasons[reason] += 1
        elif number in deny or (allow is not None and number not in allow):
            removed += 1
        else:
            kept.append(raw)
    return Expected(b"".join(kept), b"".join(rejected), len(rows), len(kept) - 1, removed,
                    len(rejected) - 1, dict(reasons))


DENY = set(NATIONAL) | set(TYPE1)


def assert_counts(stats, exp):
    assert (stats["rows"], stats["kept"], stats["removed"], stats["rejected"]) == \
        (exp.rows, exp.kept, exp.removed, exp.rejected)
    assert stats["rows"] == stats["kept"] + stats["removed"] + stats["rejected"]
    assert stats["rejected_by_reason"] == exp.reasons
    assert sum(stats["rejected_by_reason"].values()) == stats["rejected"]


def run_raw(*args, stdin=b"", cwd=None):
    """Runs optout with bytes in and out (the `optout` fixture decodes stdout); stderr is checked the same way."""
    completed = subprocess.run([binary(), *map(str, args)], input=stdin, capture_output=True, cwd=cwd, timeout=60)
    assert NUMBER_IN_TEXT.search(completed.stderr.decode("utf-8", "replace")) is None, completed
    return completed


def filter_args(registry, *more):
    return ["filter", "-r", registry, "--column", "nhs_number", *more]


def dir_listing(path):
    return sorted(p.name for p in Path(path).iterdir())


# ---- Output: byte for byte, the same whatever the threads and blocks -----------------------------

VARIANTS = {
    "lf": dict(seed=1, crlf=0.0),
    "mixed_endings_bom_no_final_newline": dict(seed=2, crlf=0.5, bom=True, final_newline=False),
    "crlf_tab_delimited": dict(seed=3, crlf=1.0, delimiter=b"\t"),
    "semicolon": dict(seed=4, delimiter=b";"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_rejects_and_stats_match_the_reference_for_every_thread_count_and_block_size(
        optout, registry, tmp_path, variant):
    data = random_extract(**VARIANTS[variant])
    delimiter = VARIANTS[variant].get("delimiter", b",")
    exp = expected(data, deny=DENY, delimiter=delimiter)
    assert exp.kept and exp.removed and exp.rejected and len(exp.reasons) >= 5, exp  # the input covers every case
    name = {b",": ",", b"\t": "tab", b";": ";"}[delimiter]
    for threads in (1, 2, 4):
        for block in (1, 7, 4096):
            where = f"{variant} --threads {threads} --block-size {block}"
            result = run_raw(*filter_args(registry, "--delimiter", name, "--threads", threads, "--block-size", block,
                                          "--rejects", tmp_path / "rej.csv", "--stats", tmp_path / "stats.json"),
                             stdin=data)
            assert result.returncode == 0, (where, result)
            assert result.stdout == exp.out, where
            assert SUMMARY.fullmatch(result.stderr.decode()).groups() == \
                tuple(map(str, (exp.rows, exp.kept, exp.removed, exp.rejected))), where
            assert (tmp_path / "rej.csv").read_bytes() == exp.rejects, where
            assert_counts(json.loads((tmp_path / "stats.json").read_text()), exp)


def test_samples_match_the_readme_counts_and_the_reference(optout, regs, tmp_path):
    dirty = regs.samples / "extract_dirty.csv"
    data = dirty.read_bytes()
    deny = set((regs.samples / "national.txt").read_text().split()) | set((regs.samples / "type1.txt").read_text().split())
    cleared = {line.rstrip(",") for line in (regs.samples / "cleared.dat").read_text().split()}
    result = optout(*filter_args(regs.samples_deny, dirty, "-o", "clean.csv", "--stats", "s.json"), cwd=tmp_path)
    assert result.code == 0, result
    exp = expected(data, deny=deny)
    assert (exp.rows, exp.removed, exp.rejected) == (2000, 122, 95)  # datasets/samples/README.md
    assert (tmp_path / "clean.csv").read_bytes() == exp.out
    assert (tmp_path / "clean.csv").read_bytes().startswith(BOM)
    assert_counts(json.loads((tmp_path / "s.json").read_text()), exp)

    allowed = optout(*filter_args(regs.samples_allow, dirty, "-o", "cleared.csv", "--stats", "a.json"), cwd=tmp_path)
    assert allowed.code == 0, allowed
    exp = expected(data, allow=cleared)
    assert (exp.kept, exp.rejected) == (1806, 95)
    assert (tmp_path / "cleared.csv").read_bytes() == exp.out
    assert_counts(json.loads((tmp_path / "a.json").read_text()), exp)


def test_wide_sample_by_name_and_by_position_agree(optout, regs):
    wide = regs.samples / "extract_wide.csv"
    exp = expected(wide.read_bytes(), deny=set((regs.samples / "national.txt").read_text().split())
                   | set((regs.samples / "type1.txt").read_text().split()))
    assert (exp.rows, exp.removed) == (100, 10)
    for column in (["--column", "nhs_number"], ["--column-index", "91"]):
        result = run_raw("filter", "-r", regs.samples_deny, *column, "-q", wide)
        assert (result.returncode, result.stderr) == (0, b""), column
        assert result.stdout == exp.out, column


def test_stdin_stdout_and_files_give_identical_bytes(optout, registry, tmp_path):
    data = random_extract(seed=5, crlf=0.5, bom=True, final_newline=False)
    (tmp_path / "x.csv").write_bytes(data)
    exp = expected(data, deny=DENY).out
    runs = {
        "file to file": ["x.csv", "-o", "a.csv"],
        "stdin '-' to file": ["-", "-o", "b.csv"],
        "file to '-o -'": ["x.csv", "-o", "-"],
    }
    for how, args in runs.items():
        result = run_raw(*filter_args(registry, "-q", *args), cwd=tmp_path, stdin=data)
        assert (result.returncode, result.stderr) == (0, b""), how
        got = result.stdout if args[-1] == "-" else (tmp_path / args[-1]).read_bytes()
        assert got == exp, how
    piped = run_raw(*filter_args(registry, "-q"), stdin=data)
    assert piped.stdout == exp
    assert dir_listing(tmp_path) == ["a.csv", "b.csv", "x.csv"]  # no temporary file left behind


def test_hand_built_extract_file_to_file(optout, registry, tmp_path):
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    result = optout(*filter_args(registry, "x.csv", "-o", "clean.csv", "--rejects", "rejects.csv",
                                 "--stats", "stats.json"), cwd=tmp_path)
    assert result.code == 0, result
    assert result.stdout == ""
    assert (tmp_path / "clean.csv").read_bytes().decode() == hand_rows(HAND_KEPT)
    assert (tmp_path / "rejects.csv").read_bytes().decode() == hand_rows(HAND_REJECTED)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["rows"], stats["kept"], stats["removed"], stats["rejected"]) == (9, 4, 3, 2)
    assert stats["rejected_by_reason"] == {"empty": 1, "wrong check digit": 1}
    assert stats["bytes_in"] == len(hand_extract().encode())
    assert stats["bytes_out"] == len(hand_rows(HAND_KEPT).encode())
    assert SUMMARY.fullmatch(result.stderr) and SUMMARY.fullmatch(result.stderr).groups() == ("9", "4", "3", "2")


N0, N1 = NATIONAL[0], KEPT[0]  # removed, kept

EDGES = [
    # name, input, expected output, (rows, kept, removed, rejected)
    ("header only", "id,nhs_number\n", "id,nhs_number\n", (0, 0, 0, 0)),
    ("header only, no newline", "id,nhs_number", "id,nhs_number", (0, 0, 0, 0)),
    ("header only, CRLF", "id,nhs_number\r\n", "id,nhs_number\r\n", (0, 0, 0, 0)),
    ("BOM kept, column found behind it", f"\ufeffnhs_number,id\n{N0},1\n{N1},2\n", f"\ufeffnhs_number,id\n{N1},2\n",
     (2, 1, 1, 0)),
    ("quoted header names", f'"id","nhs_number"\n1,{N1}\n', f'"id","nhs_number"\n1,{N1}\n', (1, 1, 0, 0)),
    ("BOM before a quoted header name", f'\ufeff"nhs_number",id\n{N0},1\n{N1},2\n',
     f'\ufeff"nhs_number",id\n{N1},2\n', (2, 1, 1, 0)),
    ("last row kept, no final newline", f"id,nhs_number\n1,{N0}\n2,{N1}", f"id,nhs_number\n2,{N1}", (2, 1, 1, 0)),
    ("last row removed, no final newline", f"id,nhs_number\n1,{N1}\n2,{N0}", f"id,nhs_number\n1,{N1}\n",
     (2, 1, 1, 0)),
    ("CRLF kept as is", f"id,nhs_number\r\n1,{N1}\r\n2,{N0}\r\n3,{N1}\n", f"id,nhs_number\r\n1,{N1}\r\n3,{N1}\n",
     (3, 2, 1, 0)),
    ("empty line is a record, rejected", f"id,nhs_number\n1,{N1}\n\n2,{N1}\n", f"id,nhs_number\n1,{N1}\n2,{N1}\n",
     (3, 2, 0, 1)),
    ("short row rejected", f"id,nhs_number,x\n1\n2,{N1},x\n", f"id,nhs_number,x\n2,{N1},x\n", (2, 1, 0, 1)),
    ("quoted newline and CRLF inside a kept row", f'id,nhs_number,n\n1,{N1},"a\nb\r\nc"\n2,{N0},"d\ne"\n',
     f'id,nhs_number,n\n1,{N1},"a\nb\r\nc"\n', (2, 1, 1, 0)),
    ("spaced, dashed, padded and quoted forms are read", f'id,nhs_number\n1,{spaced(N0)}\n2,{dashed(N0)}\n'
     f'3, {N0} \n4,"{N0}"\n5,"\t{spaced(N0)} "\n6,{N1}\n', f"id,nhs_number\n6,{N1}\n", (6, 1, 5, 0)),
    ("a quoted delimiter does not shift the column", f'a,nhs_number\n"x,{N0}",{N1}\n"y,{N1}",{N0}\n',
     f'a,nhs_number\n"x,{N0}",{N1}\n', (2, 1, 1, 0)),
    ("lone CR inside a quoted field is data", f'id,nhs_number,n\n1,{N1},"a\rb"\n', f'id,nhs_number,n\n1,{N1},"a\rb"\n',
     (1, 1, 0, 0)),
    ("trailing delimiter", f"id,nhs_number,\n1,{N1},\n", f"id,nhs_number,\n1,{N1},\n", (1, 1, 0, 0)),
]


@pytest.mark.parametrize("name,text,out,counts", EDGES, ids=[e[0] for e in EDGES])
def test_edge_cases(optout, registry, tmp_path, name, text, out, counts):
    for block in ("1", "4096"):
        result = optout(*filter_args(registry, "--stats", tmp_path / "s.json", "-q", "--block-size", block,
                                     "--threads", "2"), stdin=text.encode())
        assert result.code == 0, result
        assert result.stderr == ""
        assert result.stdout == out
        stats = json.loads((tmp_path / "s.json").read_text())
        assert (stats["rows"], stats["kept"], stats["removed"], stats["rejected"]) == counts
    # the reference reader agrees with the hand-written expectation
    assert expected(text.encode(), deny=DENY).out == out.encode()


def test_bytes_that_are_not_utf8_are_copied_unchanged(registry):
    data = f"id,nhs_number,n\n\xff,{N1},\x00\x80\xfe\r\n".encode("latin-1")
    result = run_raw(*filter_args(registry, "-q"), stdin=data)
    assert (result.returncode, result.stderr, result.stdout) == (0, b"", data)


def test_no_header_reads_every_record_as_data(optout, registry):
    text = f"{N0}\tfirst\n{N1}\tsecond\n\tthird\n"
    result = optout("filter", "-r", registry, "--column-index", "1", "--no-header", "--delimiter", "tab",
                    stdin=text)
    assert result.code == 0, result
    assert result.stdout == f"{N1}\tsecond\n"
    assert SUMMARY.fullmatch(result.stderr).groups() == ("3", "1", "1", "1")


@pytest.mark.parametrize("text", ["", "\ufeff"], ids=["empty", "bom only"])
def test_empty_input_fails(optout, registry, tmp_path, text):
    (tmp_path / "e.csv").write_text(text)
    result = optout(*filter_args(registry, "e.csv", "-o", "out.csv", "--rejects", "r.csv"), cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr == "optout filter: e.csv: empty input: expected a header record\n"
    assert dir_listing(tmp_path) == ["e.csv"]


# ---- Lists: --apply, deny and allow --------------------------------------------------------------

@pytest.mark.parametrize("apply,deny", [
    (["--apply", "national"], set(NATIONAL)),
    (["--apply", "type1"], set(TYPE1)),
    (["--apply", "national,type1"], DENY),
    (["--apply", "type1", "--apply", "national"], DENY),
    ([], DENY),
])
def test_apply_chooses_the_deny_lists(optout, registry, tmp_path, apply, deny):
    data = random_extract(seed=6)
    result = run_raw(*filter_args(registry, *apply, "-q"), stdin=data)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == expected(data, deny=deny).out


def test_unknown_list_fails_naming_it(optout, registry, tmp_path):
    result = optout(*filter_args(registry, "--apply", "national,objections", "-o", tmp_path / "out.csv"),
                    stdin=hand_extract())
    assert result.code == 1, result
    assert result.stdout == ""
    assert result.stderr == f"optout filter: {registry}: no list named 'objections' in the registry " \
                            "(it has: national, type1)\n"
    assert not (tmp_path / "out.csv").exists()


def test_unknown_list_that_looks_like_a_number_is_not_echoed(optout, registry):
    # A mistyped command line can put an NHS number where a list name goes: it never reaches stderr.
    result = optout(*filter_args(registry, "--apply", NUMS[0]), stdin=hand_extract())
    assert result.code == 1, result
    assert result.stderr == f"optout filter: {registry}: no list named '[redacted]' in the registry " \
                            "(it has: national, type1)\n"


def test_allow_list_keeps_only_listed_patients(optout, regs, tmp_path):
    data = random_extract(seed=7)
    result = run_raw(*filter_args(regs.allow, "-q", "--rejects", tmp_path / "r.csv"), stdin=data)
    assert (result.returncode, result.stderr) == (0, b"")
    exp = expected(data, allow=set(CLEARED))
    assert result.stdout == exp.out
    assert (tmp_path / "r.csv").read_bytes() == exp.rejects  # an invalid number is rejected, not just "not listed"
    kept_numbers = {n for _, n, _ in reference_rows(result.stdout, "nhs_number")[1]}
    assert kept_numbers <= set(CLEARED) and kept_numbers


@pytest.mark.parametrize("apply,deny,allow", [
    ([], set(NATIONAL), set(CLEARED)),             # removed when denied OR not allowed
    (["--apply", "cleared"], set(), set(CLEARED)),
    (["--apply", "national"], set(NATIONAL), None),
])
def test_deny_and_allow_lists_together(regs, apply, deny, allow):
    data = random_extract(seed=8)
    result = run_raw(*filter_args(regs.mixed, *apply, "-q"), stdin=data)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == expected(data, deny=deny, allow=allow).out


# ---- Accounts: summary, stats, audit ------------------------------------------------------------

def test_summary_goes_to_stderr_unless_quiet(optout, registry):
    loud = optout(*filter_args(registry), stdin=hand_extract())
    assert loud.code == 0
    assert SUMMARY.fullmatch(loud.stderr).groups() == ("9", "4", "3", "2")
    quiet = optout(*filter_args(registry, "--quiet"), stdin=hand_extract())
    assert (quiet.code, quiet.stderr, quiet.stdout) == (0, "", loud.stdout)


def test_stats_json_adds_up(optout, registry, tmp_path):
    data = random_extract(seed=9, bom=True)
    result = optout(*filter_args(registry, "--stats", "s.json", "-o", "out.csv", "-q", "--threads", "2"),
                    stdin=data, cwd=tmp_path)
    assert result.code == 0, result
    stats = json.loads((tmp_path / "s.json").read_text())
    exp = expected(data, deny=DENY)
    assert_counts(stats, exp)
    assert stats["bytes_in"] == len(data)
    assert stats["bytes_out"] == (tmp_path / "out.csv").stat().st_size == len(exp.out)
    assert stats["threads"] == 2
    assert {"seconds", "mb_per_second"} <= stats.keys()
    assert no_number_in((tmp_path / "s.json").read_text())


def audit_lines(path):
    text = Path(path).read_text()
    assert no_number_in(text), text
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:  # nothing number-like outside the hex digests (which may hold digit runs)
        rest = {k: v for k, v in record.items()
                if k not in ("registry_digest", "registry_signer", "input_xxh3_128", "output_xxh3_128", "signature")}
        assert NUMBER_IN_TEXT.search(json.dumps(rest)) is None, record
    return records


def test_audit_appends_one_record_per_run(optout, registry, tmp_path):
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    # Every list by default, then both named in the other order: the same run, the same record.
    for apply in ([], ["--apply", "type1,national"]):
        assert optout(*filter_args(registry, "x.csv", "-o", "clean.csv", "--audit", "audit.jsonl", "-q", *apply),
                      cwd=tmp_path).code == 0
    assert optout(*filter_args(registry, "x.csv", "-o", "national.csv", "--audit", "audit.jsonl", "-q",
                               "--apply", "national"), cwd=tmp_path).code == 0
    assert (tmp_path / "audit.jsonl").read_text().endswith("\n")
    lines = audit_lines(tmp_path / "audit.jsonl")
    # Each run: "committing", then "ok" with the same fields and run id (README, the commit protocol).
    assert [r["outcome"] for r in lines] == ["committing", "ok"] * 3
    for committing, ok in zip(lines[::2], lines[1::2]):
        assert re.fullmatch(r"[a-z]{24}", ok["run_id"]) and committing == dict(ok, outcome="committing")
    assert len({r["run_id"] for r in lines}) == 3
    records = lines[1::2]
    digest = json.loads(optout("info", "--json", registry).stdout)["digest"]
    first, second, third = records
    for record in records:
        assert record["tool"] == "optout" and record["outcome"] == "ok" and "error" not in record
        assert record["registry_digest"] == digest
        assert record["input"] == "x.csv"
        assert record["input_bytes"] == len(hand_extract().encode())
        assert re.fullmatch(r"[0-9a-f]{32}", record["output_xxh3_128"]), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["started_at"])
        assert record["rows"] == record["kept"] + record["removed"] + record["rejected"] == 9
    assert first["lists_applied"] == second["lists_applied"] == ["national", "type1"]  # registry order
    assert third["lists_applied"] == ["national"]
    assert (first["rows"], first["kept"], first["removed"], first["rejected"]) == (9, 4, 3, 2)
    assert (third["kept"], third["removed"]) == (5, 2)
    assert first["output"] == "clean.csv" and first["output_bytes"] == (tmp_path / "clean.csv").stat().st_size
    assert first["output_xxh3_128"] == second["output_xxh3_128"] != third["output_xxh3_128"]


def test_audit_of_a_run_to_stdout(optout, registry, tmp_path):
    result = optout(*filter_args(registry, "--audit", tmp_path / "audit.jsonl", "-q"), stdin=hand_extract())
    assert result.code == 0, result
    committing, record = audit_lines(tmp_path / "audit.jsonl")
    assert committing["outcome"] == "committing" and committing["run_id"] == record["run_id"]
    assert (record["input"], record["output"], record["outcome"]) == ("<stdin>", "<stdout>", "ok")
    assert record["output_bytes"] == len(result.stdout.encode())
    assert re.fullmatch(r"[0-9a-f]{32}", record["output_xxh3_128"])


def test_audit_records_a_failed_run(optout, registry, tmp_path):
    (tmp_path / "bad.csv").write_text(f"id,nhs_number\n1,{N1}\n2,\"{N0}\n")
    result = optout(*filter_args(registry, "bad.csv", "-o", "out.csv", "--audit", "audit.jsonl"), cwd=tmp_path)
    assert result.code == 1, result
    assert dir_listing(tmp_path) == ["audit.jsonl", "bad.csv"]
    [record] = audit_lines(tmp_path / "audit.jsonl")
    assert record["outcome"] == "failed" and record["error"], record
    assert "output_xxh3_128" not in record


# ---- Failures leave nothing complete-looking ------------------------------------------------------

def test_output_in_a_missing_directory_fails_and_creates_nothing(optout, registry, tmp_path):
    (tmp_path / "x.csv").write_text(hand_extract())
    result = optout(*filter_args(registry, "x.csv", "-o", "nowhere/out.csv"), cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr.startswith("optout filter: nowhere/out.csv: ") and result.stderr.count("\n") == 1
    assert dir_listing(tmp_path) == ["x.csv"]


@pytest.mark.parametrize("option", ["--rejects", "--stats", "--audit"])
def test_side_file_in_a_missing_directory_fails_and_leaves_no_output(optout, registry, tmp_path, option):
    (tmp_path / "x.csv").write_text(hand_extract())
    result = optout(*filter_args(registry, "x.csv", "-o", "out.csv", option, "nowhere/side"), cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr.startswith("optout filter: nowhere/side: "), result
    assert dir_listing(tmp_path) == ["x.csv"]


def test_missing_input_and_bad_registry_fail_naming_the_file(optout, registry, tmp_path):
    missing = optout(*filter_args(registry, "nope.csv", "-o", "out.csv"), cwd=tmp_path)
    assert missing.code == 1, missing
    assert missing.stderr == "optout filter: nope.csv: cannot open: No such file or directory\n"
    (tmp_path / "x.csv").write_text(hand_extract())
    (tmp_path / "fake.optout").write_text("not a registry\n")
    for reg in ("absent.optout", "fake.optout"):
        result = optout("filter", "-r", reg, "--column", "nhs_number", "x.csv", "-o", "out.csv", cwd=tmp_path)
        assert result.code == 1, result
        assert result.stderr.startswith(f"optout filter: {reg}: ") and result.stderr.count("\n") == 1, result
    assert dir_listing(tmp_path) == ["fake.optout", "x.csv"]


def test_write_error_on_stdout_fails_and_says_the_output_is_incomplete(registry):
    with open("/dev/full", "wb") as full:
        result = subprocess.run([binary(), *map(str, filter_args(registry))], input=hand_extract().encode(),
                                stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "optout filter: <stdout>: write failed: No space left on device",
        "optout filter: run failed: the output written to standard output is incomplete"]


def test_input_that_is_a_directory_fails(optout, registry, tmp_path):
    (tmp_path / "dir").mkdir()
    result = optout(*filter_args(registry, "dir", "-o", "out.csv"), cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr == "optout filter: dir: read failed: Is a directory\n"
    assert dir_listing(tmp_path) == ["dir"]


def test_output_that_is_a_directory_fails_and_stays_a_directory(optout, registry, tmp_path):
    (tmp_path / "dir").mkdir()
    result = optout(*filter_args(registry, "-o", "dir"), stdin=hand_extract(), cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr == "optout filter: dir: is a directory\n"
    assert (tmp_path / "dir").is_dir() and dir_listing(tmp_path) == ["dir"]


def test_output_naming_the_input_is_refused(optout, registry, tmp_path):
    """Issue 10.6: `filter in.csv -o in.csv` replaced the extract with its filtered self."""
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    before = (tmp_path / "x.csv").read_bytes()
    (tmp_path / "sub").mkdir()
    os.link(tmp_path / "x.csv", tmp_path / "hard.csv")
    for output, message in [("x.csv", "x.csv is given twice: an output would overwrite an input"),
                            ("sub/../x.csv", "x.csv and sub/../x.csv are one file: an output would overwrite an input"),
                            ("hard.csv", "x.csv and hard.csv are one file: an output would overwrite an input")]:
        for option in ("-o", "--rejects", "--stats", "--audit"):
            args = ["-o", "out.csv", option, output] if option != "-o" else ["-o", output]
            result = optout(*filter_args(registry, "x.csv", *args), cwd=tmp_path)
            assert assert_usage_error(result, "filter") == message
            assert (tmp_path / "x.csv").read_bytes() == before
            assert dir_listing(tmp_path) == ["hard.csv", "sub", "x.csv"]
    # The registry is an input too.
    result = optout(*filter_args(registry, "x.csv", "-o", "out.csv", "--stats", registry), cwd=tmp_path)
    assert assert_usage_error(result, "filter") == f"{registry} is given twice: an output would overwrite an input"


@pytest.mark.parametrize("first,second", [("-o", "--rejects"), ("-o", "--stats"), ("-o", "--audit"),
                                          ("--rejects", "--stats"), ("--stats", "--audit")])
def test_two_outputs_naming_one_file_are_refused(optout, registry, tmp_path, first, second):
    """Issue 10.6: -o X --rejects X lost the rejects (and --stats / --audit the same)."""
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    args = [first, "same.csv", second, "./same.csv"] + (["-o", "out.csv"] if first != "-o" else [])
    result = optout(*filter_args(registry, "x.csv", *args), cwd=tmp_path)
    assert assert_usage_error(result, "filter") == ("same.csv and ./same.csv are one file: an output would "
                                                     "overwrite another output")
    assert dir_listing(tmp_path) == ["x.csv"]


def test_dev_null_may_be_given_for_many_outputs(optout, registry, tmp_path):
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    result = optout(*filter_args(registry, "x.csv", "-o", "/dev/null", "--rejects", "/dev/null", "--stats",
                                 "/dev/null", "-q"), cwd=tmp_path)
    assert (result.code, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("option", ["-o", "--rejects", "--stats", "--audit"])
def test_empty_output_path_is_a_usage_error(optout, registry, tmp_path, option):
    """Issue 15.8: -o "" (an unset variable in a cron job) wrote every row to standard output, and
    --rejects "" silently dropped the rejected rows."""
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    result = optout(*filter_args(registry, "x.csv", option, ""), cwd=tmp_path)
    what = {"-o": 'output path: give a file name, or "-" for standard output', "--rejects": "rejects path: give a "
            "file name", "--stats": "stats path: give a file name", "--audit": "audit path: give a file name"}[option]
    assert assert_usage_error(result, "filter") == f"an empty {what}"
    assert result.stdout == ""
    assert dir_listing(tmp_path) == ["x.csv"]


def test_empty_input_path_is_a_usage_error(optout, registry, tmp_path):
    result = optout(*filter_args(registry, "", "-o", "out.csv"), cwd=tmp_path)
    assert assert_usage_error(result, "filter") == 'an empty input path: give a file name, or "-" for standard input'
    assert dir_listing(tmp_path) == []


def test_an_existing_output_is_untouched_by_a_failed_run_and_replaced_by_a_good_one(optout, registry, tmp_path):
    (tmp_path / "out.csv").write_text("previous run\n")
    (tmp_path / "bad.csv").write_text(f"id,nhs_number\n1,{N1}\n2,x\"y\n")
    assert optout(*filter_args(registry, "bad.csv", "-o", "out.csv"), cwd=tmp_path).code == 1
    assert (tmp_path / "out.csv").read_text() == "previous run\n"
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    assert optout(*filter_args(registry, "x.csv", "-o", "out.csv", "-q"), cwd=tmp_path).code == 0
    assert (tmp_path / "out.csv").read_bytes().decode() == hand_rows(HAND_KEPT)
    assert dir_listing(tmp_path) == ["bad.csv", "out.csv", "x.csv"]


MALFORMED = [
    # name, input, line where the bad record starts, problem
    ("unterminated quote at EOF", 'nhs_number\n1\n"2\n', 3, "unterminated quoted field"),
    ("quote inside an unquoted field", 'nhs_number,x\n1,"a\nb"\n2,c"d\n', 4, "quote inside an unquoted field"),
    ("text after the closing quote", 'nhs_number,x\n1,"a"b\n', 2, "text after the closing quote of a field"),
    ("bad header", 'nhs_number,"x"y\n1,2\n', 1, "text after the closing quote of a field"),
    ("space before an opening quote", f'id,nhs_number\n1, "{N1}"\n', 2, "quote inside an unquoted field"),
    ("after quoted newlines, CRLF and a BOM", '\ufeffid,nhs_number,n\r\n1,x,"a\r\nb\nc"\r\n2,y,z\r\n3,"q"r,s\r\n',
     6, "text after the closing quote of a field"),
    ("unterminated quote far from the end", "id,nhs_number\n" + "1,x\n" * 300 + '2,"open\n' + "3,y\n" * 300,
     302, "unterminated quoted field"),
    ("bad record after long rows", "id,nhs_number,n\n" + ("1,x," + "z" * 500 + "\n") * 40 + '2,y,a"b\n',
     42, "quote inside an unquoted field"),
]


@pytest.mark.parametrize("name,text,line,problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_csv_names_the_line_and_leaves_no_output(optout, registry, tmp_path, name, text, line, problem):
    with pytest.raises(Malformed) as reference:  # the reference reader agrees on the line and the problem
        reference_records(text.encode().removeprefix(BOM))
    assert (reference.value.line, reference.value.problem) == (line, problem)
    (tmp_path / "bad.csv").write_bytes(text.encode())
    for more in ([], ["--threads", "4", "--block-size", "7"], ["--threads", "1", "--block-size", "1"]):
        result = optout(*filter_args(registry, "bad.csv", "-o", "out.csv", "--rejects", "rej.csv",
                                     "--stats", "s.json", *more), cwd=tmp_path)
        assert result.code == 1, (more, result)
        assert result.stdout == ""
        assert result.stderr == f"optout filter: bad.csv:{line}: {problem}\n", more
        assert dir_listing(tmp_path) == ["bad.csv"]
    to_stdout = optout(*filter_args(registry), stdin=text)
    assert to_stdout.code == 1
    assert to_stdout.stderr.splitlines() == [
        f"optout filter: <stdin>:{line}: {problem}",
        "optout filter: run failed: the output written to standard output is incomplete"]


def test_record_over_the_limit_fails_naming_the_line(optout, registry, tmp_path):
    row = f"2,{N1},{'x' * 30}"  # 44 bytes with its LF
    (tmp_path / "x.csv").write_text(f"id,nhs_number,n\n1,{N1},short\n{row}\n")
    for block in ("1", "7", "64", "4096"):
        result = optout(*filter_args(registry, "x.csv", "-o", "out.csv", "--max-record-bytes", "43",
                                     "--block-size", block), cwd=tmp_path)
        assert result.code == 1, (block, result)
        assert result.stderr == "optout filter: x.csv:3: record longer than the limit of 43 bytes\n", block
        assert dir_listing(tmp_path) == ["x.csv"]
        at_limit = optout(*filter_args(registry, "x.csv", "--max-record-bytes", "44", "--block-size", block, "-q"),
                          cwd=tmp_path)
        assert (at_limit.code, at_limit.stdout) == (0, (tmp_path / "x.csv").read_text()), block


def test_header_over_the_record_limit_gives_the_same_outcome_for_every_block_size(optout, registry):
    text = f"id,nhs_number,{'h' * 40}\n1,{N1},\n"  # a 56-byte header, a 15-byte row
    outcomes = {}
    for block in ("1", "16", "4096"):
        result = optout(*filter_args(registry, "--max-record-bytes", "30", "--block-size", block, "-q"), stdin=text)
        outcomes[block] = (result.code, result.stderr.splitlines()[:1])
    assert outcomes["4096"] == outcomes["1"] == outcomes["16"] == \
        (1, ["optout filter: <stdin>:1: record longer than the limit of 30 bytes"]), outcomes


# ---- Gates: --max-age and --max-rejected ------------------------------------------------------------

def test_max_age(optout, tmp_path):
    (tmp_path / "n.txt").write_text(N0 + "\n")
    assert optout("build", "--list", "national=n.txt", "-o", "fresh.optout", "-q", cwd=tmp_path).code == 0
    for limit in ("1h", "7d", "36h"):
        assert optout("filter", "-r", "fresh.optout", "--column", "nhs_number", "--max-age", limit, "-q",
                      stdin=hand_extract(), cwd=tmp_path).code == 0, limit
    time.sleep(1.1)  # created_at has second resolution: now at least 1 s old
    stale = optout("filter", "-r", "fresh.optout", "--column", "nhs_number", "--max-age", "0h",
                   "-o", "out.csv", stdin=hand_extract(), cwd=tmp_path)
    assert stale.code == 1, stale
    assert re.fullmatch(r"optout filter: fresh\.optout: the registry was built \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, "
                        r"\d+ h ago, older than the limit of 0 h\n", stale.stderr), stale
    assert dir_listing(tmp_path) == ["fresh.optout", "n.txt"]
    assert optout("filter", "-r", "fresh.optout", "--column", "nhs_number", "--max-age", "0d",
                  stdin=hand_extract(), cwd=tmp_path).code == 1


@pytest.mark.parametrize("value", ["7x", "abc", "d", "h", "-1h", "1.5d", "7", "7 d", "1000000000h"])
def test_max_age_bad_values_are_usage_errors(optout, registry, value):
    result = optout(*filter_args(registry, "--max-age", value), stdin=hand_extract())
    assert assert_usage_error(result, "filter") == "the maximum age takes a number of hours or days, e.g. 36h or 7d"


@pytest.mark.parametrize("option", ["--max-age", "--max-rejected"])
def test_empty_gate_value_is_a_usage_error(optout, registry, option):
    result = optout(*filter_args(registry, option, ""), stdin=hand_extract())
    assert_usage_error(result, "filter")


def test_max_rejected_count(optout, registry, tmp_path):
    # hand_extract(): 9 rows, 2 rejected (rows 5 and 6)
    over = optout(*filter_args(registry, "--max-rejected", "1", "-o", "out.csv", "--rejects", "r.csv",
                               "--stats", "s.json"), stdin=hand_extract(), cwd=tmp_path)
    assert over.code == 1, over
    assert over.stderr == ("optout filter: <stdin>: 2 rows rejected in the first 9 rows (22.22%), "
                           "more than the limit of 1 rows\n")
    assert dir_listing(tmp_path) == []
    for limit in ("2", "3", "1000"):
        assert optout(*filter_args(registry, "--max-rejected", limit, "-q"), stdin=hand_extract()).code == 0, limit
    to_stdout = optout(*filter_args(registry, "--max-rejected", "0"), stdin=hand_extract())
    assert to_stdout.code == 1
    assert to_stdout.stderr.splitlines()[-1] == \
        "optout filter: run failed: the output written to standard output is incomplete"
    clean = f"id,nhs_number\n1,{N1}\n2,{N0}\n"
    assert optout(*filter_args(registry, "--max-rejected", "0", "-q"), stdin=clean).code == 0
    assert optout(*filter_args(registry, "--max-rejected", "0%", "-q"), stdin=clean).code == 0


def test_max_rejected_share(optout, registry, tmp_path):
    half = f"id,nhs_number\n1,{N1}\n2,x\n3,{N0}\n4,\n"  # 2 of 4 rejected
    assert optout(*filter_args(registry, "--max-rejected", "50%", "-q"), stdin=half).code == 0
    assert optout(*filter_args(registry, "--max-rejected", "100%", "-q"), stdin=half).code == 0
    under = optout(*filter_args(registry, "--max-rejected", "49.9%", "-o", "out.csv"), stdin=half, cwd=tmp_path)
    assert under.code == 1, under
    assert under.stderr == ("optout filter: <stdin>: 2 of 4 rows rejected (50.00%), "
                            "more than the limit of 49.90% of rows\n")
    assert dir_listing(tmp_path) == []
    assert optout(*filter_args(registry, "--max-rejected", "22.3%", "-q"), stdin=hand_extract()).code == 0
    assert optout(*filter_args(registry, "--max-rejected", "22%"), stdin=hand_extract()).code == 1


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "101%", "%", "1e3", "5 %", "12x"])
def test_max_rejected_bad_values_are_usage_errors(optout, registry, value):
    result = optout(*filter_args(registry, "--max-rejected", value), stdin=hand_extract())
    assert assert_usage_error(result, "filter") == \
        "the rejected-row limit takes a row count (250) or a percentage of rows (0.5%)"


# ---- Usage and column errors ------------------------------------------------------------------------

def test_unknown_column_lists_the_header(optout, registry, tmp_path):
    result = optout("filter", "-r", registry, "--column", "nhs", "-o", tmp_path / "out.csv", stdin=hand_extract())
    assert result.code == 1
    assert result.stderr == ("optout filter: <stdin>: no column named 'nhs' in the header "
                             "(it has: id, nhs_number, notes)\n")
    assert not (tmp_path / "out.csv").exists()
    beyond = optout("filter", "-r", registry, "--column-index", "9", "-o", tmp_path / "out.csv", stdin=hand_extract())
    assert beyond.code == 1
    assert beyond.stderr == "optout filter: <stdin>: the header has 3 columns, fewer than column 9\n"
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("args", [
    [],                                                    # neither --column nor --column-index
    ["--column", "nhs_number", "--no-header"],
    ["--column", "nhs_number", "--column-index", "2"],
    ["--column", "nhs_number", "--delimiter", "ab"],
    ["--column", "nhs_number", "--delimiter", ""],
    ["--column-index", "0"],
    ["--column", "nhs_number", "--threads", "1025"],  # 0 is every core
    ["--column", "nhs_number", "--block-size", "0"],
    ["--column", "nhs_number", "--no-such-option"],
    ["--column", "nhs_number", "a.csv", "b.csv"],
], ids=lambda a: " ".join(a) or "no column")
def test_usage_errors(optout, registry, tmp_path, args):
    result = optout("filter", "-r", registry, *args, "-o", tmp_path / "out.csv", stdin=hand_extract())
    assert_usage_error(result, "filter")
    assert not (tmp_path / "out.csv").exists()


# Issue 15.4: the ranges are the engine's (validate_filter_options); the CLI only parses integers.
# --max-record-bytes 2^64-1 used to reach a block growth that wrapped to 0 and spun at 100 % CPU.
@pytest.mark.parametrize("option, value, message", [
    ("--max-record-bytes", "18446744073709551615", "the record limit must be from 1 byte to 1 GiB"),
    ("--max-record-bytes", "1073741825", "the record limit must be from 1 byte to 1 GiB"),
    ("--max-record-bytes", "0", "the record limit must be from 1 byte to 1 GiB"),
    ("--block-size", "18446744073709551615", "the block size must be from 1 byte to 1 GiB"),
    ("--block-size", "0", "the block size must be from 1 byte to 1 GiB"),
    ("--threads", "1025", "the thread count must be at most 1024 (0: every core)"),
    ("--column-index", "1048577", "the column position must be at most 1048576"),
])
def test_limits_are_the_engines_and_refused_at_once(optout, registry, tmp_path, option, value, message):
    column = [] if option == "--column-index" else ["--column", "nhs_number"]
    result = optout("filter", "-r", registry, *column, option, value, "-o", tmp_path / "out.csv",
                    stdin=hand_extract())
    assert assert_usage_error(result, "filter") == message
    assert dir_listing(tmp_path) == []


def test_threads_0_means_every_core(optout, registry):
    result = optout(*filter_args(registry, "--threads", "0", "-q"), stdin=hand_extract())
    assert result.code == 0, result
    assert result.stdout == hand_rows(HAND_KEPT)


def test_registry_is_required(optout):
    assert "--registry" in assert_usage_error(optout("filter", "--column", "nhs_number", stdin=hand_extract()),
                                              "filter")


@pytest.mark.parametrize("delimiter", ['"', "\n", "\r"], ids=["quote", "LF", "CR"])
def test_refused_delimiter_is_a_plain_usage_error(optout, registry, delimiter):
    result = optout("filter", "-r", registry, "--column", "nhs_number", "--delimiter", delimiter,
                    stdin=hand_extract())
    assert assert_usage_error(result, "filter") == "the delimiter cannot be a quote, CR or LF"


def test_refused_delimiter_exits_2_and_writes_nothing(optout, registry, tmp_path):
    result = optout("filter", "-r", registry, "--column", "nhs_number", "--delimiter", '"', "-o",
                    tmp_path / "out.csv", stdin=hand_extract())
    assert result.code == 2, result
    assert result.stderr.splitlines()[0] == "optout filter: the delimiter cannot be a quote, CR or LF"
    assert dir_listing(tmp_path) == []


# ---- The process: pipes, signals, full disks, special files -------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 6 MB extract of kept rows."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    with open(path, "w") as f:
        f.write("id,nhs_number,notes\n")
        for i in range(200_000):
            f.write(f"{i},{KEPT[i % len(KEPT)]},some notes for row {i}\n")
    return path


def test_closed_pipe_ends_quietly_with_sigpipe(registry, big):
    command = f"{shlex.quote(binary())} filter -r {shlex.quote(str(registry))} --column nhs_number " \
              f"{shlex.quote(str(big))} | head -c 100 > /dev/null"
    shell = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, timeout=60)
    assert shell.returncode == 141, shell  # 128 + SIGPIPE, as cat
    assert shell.stderr == b""
    for threads in ("1", "2"):
        proc = subprocess.Popen([binary(), "filter", "-r", str(registry), "--column", "nhs_number", str(big),
                                 "--threads", threads, "--block-size", "65536"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout.read(100) == big.read_bytes()[:100]
        proc.stdout.close()
        assert proc.wait(timeout=60) == -signal.SIGPIPE
        assert proc.stderr.read() == b""
        proc.stderr.close()


def test_closed_pipe_leaves_no_side_files(registry, big, tmp_path):
    command = f"{shlex.quote(binary())} filter -r {shlex.quote(str(registry))} --column nhs_number " \
              f"{shlex.quote(str(big))} --rejects rej.csv --stats s.json | head -c 100 > /dev/null"
    shell = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, capture_output=True, timeout=60)
    assert (shell.returncode, shell.stderr) == (141, b"")
    assert dir_listing(tmp_path) == []  # no rejects, no stats, no temporary file


def test_closed_pipe_is_recorded_as_a_failed_run(registry, big, tmp_path):
    """The output went to a reader that left: the audit log must not end at "committing" or say
    nothing; one "failed" record with error "broken pipe"."""
    command = f"{shlex.quote(binary())} filter -r {shlex.quote(str(registry))} --column nhs_number " \
              f"{shlex.quote(str(big))} --audit audit.jsonl | head -c 100 > /dev/null"
    shell = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, capture_output=True, timeout=60)
    assert (shell.returncode, shell.stderr) == (141, b"")
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["outcome"], r["error"], r["output"]) for r in records] == [("failed", "broken pipe", "<stdout>")]


def wait_for(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def default_termination_signals():
    """In the child: a CI runner or a background job may have these ignored, which the child inherits."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGKILL", "SIGTERM", "SIGINT", "SIGHUP"])
def test_killed_run_leaves_no_output_file(registry, tmp_path, sig):
    (tmp_path / "keep.csv").write_text("previous\n")
    for name in ("out.csv", "keep.csv"):
        proc = subprocess.Popen([binary(), "filter", "-r", str(registry), "--column", "nhs_number", "--block-size",
                                 "4096", "-o", str(tmp_path / name), "--rejects", str(tmp_path / "rej.csv")],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_termination_signals)
        proc.stdin.write(("id,nhs_number\n" + "".join(f"{i},{KEPT[0]}\n" for i in range(20_000))).encode())
        proc.stdin.flush()  # the input is never closed: the run is still going when killed
        temps = lambda: [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}.tmp-")]
        wait_for(lambda: temps() and temps()[0].stat().st_size > 0)  # it has written part of the output
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == -sig
        proc.stdin.close()
        assert proc.stderr.read() == b""
        proc.stderr.close()
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "rej.csv").exists()
    assert (tmp_path / "keep.csv").read_text() == "previous\n"
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "keep.csv")
    if sig == signal.SIGKILL:  # cannot be caught: the hidden temporary files stay
        assert left and all(re.fullmatch(r"\.(out|keep|rej)\.csv\.tmp-[0-9a-f]{8}", name) for name in left), left
    else:  # the handler removed them before dying of the signal
        assert left == []


def test_ignored_hangup_stays_ignored(registry, tmp_path):
    """nohup's SIGHUP: the run goes on and completes its output."""
    script = (f"trap '' HUP; exec {shlex.quote(binary())} filter -r {shlex.quote(str(registry))} "
              f"--column nhs_number -o {shlex.quote(str(tmp_path / 'out.csv'))} --quiet")
    proc = subprocess.Popen(["bash", "-c", script], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(f"id,nhs_number\n1,{KEPT[0]}\n".encode())
    proc.stdin.flush()
    wait_for(lambda: any(p.name.startswith(".out.csv.tmp-") for p in tmp_path.iterdir()))
    proc.send_signal(signal.SIGHUP)
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()
    assert (tmp_path / "out.csv").read_text() == f"id,nhs_number\n1,{KEPT[0]}\n"


@pytest.mark.parametrize("what", ["output", "rejects"])
def test_full_disk_fails_and_leaves_no_output_file(registry, big, tmp_path, what):
    if what == "output":
        source = big
    else:  # every row rejected: the rejects file is the big one, the output just the header
        source = tmp_path / "rejects.csv"
        source.write_text("id,nhs_number\n" + "".join(f"{i},bad\n" for i in range(20_000)))
    command = f"ulimit -f 10; exec {shlex.quote(binary())} filter -r {shlex.quote(str(registry))} " \
              f"--column nhs_number {shlex.quote(str(source))} -o out.csv --rejects rej.csv --stats s.json"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = subprocess.run(["bash", "-c", command], cwd=out_dir, capture_output=True, timeout=60)
    assert result.returncode == 1, result  # not killed by SIGXFSZ
    stderr = result.stderr.decode()
    assert re.fullmatch(r"optout filter: (out|rej)\.csv: write failed: File too large\n", stderr), stderr
    assert dir_listing(out_dir) == []  # temporary files removed too


def test_output_to_a_fifo_is_written_in_place(optout, registry, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []

    def drain():
        with open(fifo, "rb") as f:
            received.append(f.read())

    reader = threading.Thread(target=drain)
    reader.start()
    result = optout(*filter_args(registry, "-o", fifo, "-q"), stdin=hand_extract())
    reader.join(timeout=30)
    assert result.code == 0, result
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # not replaced by a regular file
    assert received == [hand_rows(HAND_KEPT).encode()]
    assert dir_listing(tmp_path) == ["fifo"]


# ---- The progress line: only on a terminal, only for runs over a second -------------------------

def run_with_terminal_stderr(args, chunks, pause):
    """Runs optout with stderr on a pseudo-terminal, writing chunks to its stdin with a pause
    between them; returns (exit status, stdout bytes, what the terminal showed)."""
    import pty
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([binary(), *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=terminal)
    os.close(terminal)
    shown = bytearray()

    def drain():
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # EIO once the process has exited and closed the terminal
                return
            if not data:
                return
            shown.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out = bytearray()
    out_reader = threading.Thread(target=lambda: out.extend(proc.stdout.read()))
    out_reader.start()
    for chunk in chunks:
        proc.stdin.write(chunk)
        proc.stdin.flush()
        time.sleep(pause)
    proc.stdin.close()
    code = proc.wait(timeout=60)
    out_reader.join()
    reader.join(timeout=10)
    os.close(controller)
    return code, bytes(out), bytes(shown).replace(b"\r\n", b"\n")  # the terminal maps LF to CRLF


def slow_extract_chunks():
    header = b"id,nhs_number\n"
    rows = [f"{i},{KEPT[i % len(KEPT)]}\n".encode() for i in range(40)]
    return [header + b"".join(rows[:10])] + [b"".join(rows[k:k + 10]) for k in (10, 20, 30)], header + b"".join(rows)


def test_progress_line_on_a_terminal_for_a_long_run(registry):
    chunks, whole = slow_extract_chunks()
    # Blocks of 64 bytes make every chunk reach the writer while the run goes on for about 2 s.
    code, out, shown = run_with_terminal_stderr(filter_args(registry, "--block-size", "64"), chunks, 0.7)
    assert code == 0, shown
    assert out == whole
    text = shown.decode()
    progress = re.findall(r"\roptout filter: \d+\.\d MB, (\d+) rows, \d+ MB/s {3}", text)
    assert progress, text
    assert all(0 < int(rows) <= 40 for rows in progress), progress
    # The line is cleared before the summary, which is then printed on a clean line.
    summary = text[text.rindex("\r\x1b[K") + 4:]
    assert SUMMARY.fullmatch(summary), text
    assert SUMMARY.fullmatch(summary).groups() == ("40", "40", "0", "0")


def test_no_progress_line_under_quiet_or_for_a_short_run(registry):
    chunks, whole = slow_extract_chunks()
    code, out, shown = run_with_terminal_stderr(filter_args(registry, "--block-size", "64", "-q"), chunks, 0.4)
    assert (code, out, shown) == (0, whole, b"")
    code, out, shown = run_with_terminal_stderr(filter_args(registry), [whole], 0)
    assert code == 0 and out == whole
    assert SUMMARY.fullmatch(shown.decode()), shown  # the summary alone: no progress, nothing to clear


# ---- Regressions: the column rule and what messages may show (issue 10) ----------------------------

def test_no_column_message_never_shows_a_first_line_that_is_data(optout, registry, tmp_path):
    # A headerless extract: its first line is a patient's row, and the message must not show it.
    text = f"1,{NATIONAL[0]},1930-05-30,F,Smith\n2,{KEPT[0]},1951-01-01,M,Jones\n"
    result = optout(*filter_args(registry, "-o", tmp_path / "out.csv"), stdin=text)
    assert result.code == 1, result
    assert result.stdout == ""
    assert result.stderr == ("optout filter: <stdin>: no column named 'nhs_number', and the first line looks like "
                             "data, not a header, so it is not shown (without a header, name the column by "
                             "position: --no-header --column-index K)\n")


@pytest.mark.parametrize("first_line", [
    'id,"nhs\nnumber",x',     # a name holding a newline
    "id,patient,1930-05-30",  # a date
    "id,nhs,x" + "y" * 70,    # a name over 64 bytes
    "id,,x",                  # an empty name
    "id,Smith 12345,x",       # a long digit run
])
def test_header_fields_that_do_not_look_like_names_are_not_listed(optout, registry, first_line):
    result = optout("filter", "-r", registry, "--column", "no_such", "-o", os.devnull, stdin=first_line + "\n1,2,3\n")
    assert result.code == 1, result
    assert "the first line looks like data" in result.stderr and "(it has:" not in result.stderr, result
    assert "Smith" not in result.stderr and "1930" not in result.stderr and "yyyy" not in result.stderr


def test_a_column_name_that_is_a_number_is_refused_not_matched(optout, registry, tmp_path):
    # Matched against a headerless extract's first line, it would release that row as the header.
    text = f"1,{NATIONAL[0]},x\n2,{KEPT[0]},y\n"
    for name in (NATIONAL[0], spaced(NATIONAL[0])):
        result = optout("filter", "-r", registry, "--column", name, "-o", tmp_path / "out.csv", stdin=text)
        message = assert_usage_error(result, "filter")
        assert message == "the column name looks like a number (6 or more digits), not a column's name"
        assert not (tmp_path / "out.csv").exists()


def test_nhs_column_named_twice_is_ambiguous_not_the_first(optout, registry, tmp_path):
    # The second column's opted-out patient would be released if the first one were used.
    text = f"nhs_number,x,nhs_number\n{KEPT[0]},a,{NATIONAL[0]}\n"
    result = optout(*filter_args(registry, "-o", tmp_path / "out.csv"), stdin=text)
    assert result.code == 1, result
    assert result.stderr == ("optout filter: <stdin>: the header names column 'nhs_number' 2 times "
                             "(columns 1, 3): which one holds the NHS number is ambiguous\n")
    assert not (tmp_path / "out.csv").exists()
    by_position = optout(*filter_args(registry, "-q")[:3], "--column-index", "3", "-q", stdin=text)
    assert (by_position.code, by_position.stdout) == (0, "nhs_number,x,nhs_number\n")


def test_numbers_refuses_an_ambiguous_column_too(optout, tmp_path):
    text = f"nhs_number,x,nhs_number\n{KEPT[0]},a,{NATIONAL[0]}\n"
    result = optout("numbers", "--column", "nhs_number", stdin=text)
    assert result.code == 1, result
    assert result.stdout == ""
    assert result.stderr == ("optout numbers: <stdin>: the header names column 'nhs_number' 2 times "
                             "(columns 1, 3): which one holds the NHS number is ambiguous\n")


# gzip, zstd and zip are decompressed (test_compressed_cli.py); other kinds are refused by kind.
@pytest.mark.parametrize("magic,kind", [
    (b"BZh91AY", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x04\x22\x4d\x18", "lz4"),
])
def test_compressed_input_is_refused_by_its_kind_not_echoed(optout, registry, tmp_path, magic, kind):
    data = magic + f"nhs_number\n{NATIONAL[0]}\n".encode()
    for args in (filter_args(registry, "-o", tmp_path / "out.csv"), ["numbers", "--column", "nhs_number"]):
        result = optout(*args, stdin=data)
        assert result.code == 1, (args, result)
        assert result.stdout == ""
        assert result.stderr == (f"optout {args[0]}: <stdin>: unsupported compressed input ({kind}): "
                                 "decompress it first\n")
        assert not (tmp_path / "out.csv").exists()


def test_a_nul_byte_in_the_first_line_is_binary_input(optout, registry, tmp_path):
    result = optout(*filter_args(registry, "-o", tmp_path / "out.csv"), stdin=b"nhs_number\x00\x01\x02\n1\n")
    assert result.code == 1, result
    assert result.stderr == "optout filter: <stdin>:1: a NUL byte: the input looks binary, not CSV\n"


def test_an_invalid_list_name_in_apply_is_a_usage_error(optout, registry):
    message = assert_usage_error(optout(*filter_args(registry, "--apply", "a b"), stdin=hand_extract()), "filter")
    assert message == f"{registry}: list name: byte 2 is not a letter, digit, '_', '.' or '-'"


def test_column_index_zero_says_positions_start_at_1(optout, registry):
    message = assert_usage_error(optout("filter", "-r", registry, "--column-index", "0", stdin=hand_extract()),
                                 "filter")
    assert message == "column positions start at 1"  # the engine's rule, as every binding says it
    assert "[redacted]" not in message


# ---- Issue 10: a bare CR is malformed CSV, never a record end nor data ----------------------------

BARE_CR = "bare CR outside quotes (lines must end with LF or CRLF)"
BARE_CR_CASES = [  # 7408480374 is in both sample lists; 9434765919 is valid and in neither
    ("CR between records", b"id,nhs_number,x\n1,9434765919,a\r2,7408480374,b\r3,7408480374,c\n", 2),
    ("CR line ends only", b"id,nhs_number,x\r1,9434765919,a\r2,7408480374,b\r3,7408480374,c\r", 1),
    ("CR at the end of the input", b"id,nhs_number,x\n1,9434765919,a\n2,7408480374,b\r", 3),
    ("CR after a closing quote", b'id,nhs_number,x\n1,9434765919,"a"\r2,7408480374,b\n', 2),
]


@pytest.mark.parametrize("name,text,line", BARE_CR_CASES, ids=[c[0] for c in BARE_CR_CASES])
def test_bare_cr_line_ending_is_an_error_not_a_release(optout, tmp_path, name, text, line):
    samples = Path(__file__).resolve().parents[2] / "datasets" / "samples"
    built = optout("build", "--list", f"national={samples / 'national.txt'}", "--list",
                   f"type1={samples / 'type1.txt'}", "-o", "deny.optout", "-q", cwd=tmp_path)
    assert built.code == 0, built
    (tmp_path / "crmix.csv").write_bytes(text)
    with pytest.raises(Malformed) as reference:  # the reference reader agrees
        reference_records(text)
    assert (reference.value.line, reference.value.problem) == (line, BARE_CR)
    for more in ([], ["--threads", "4", "--block-size", "1"], ["--block-size", "7"]):
        result = optout("filter", "-r", "deny.optout", "--column", "nhs_number", "-o", "out.csv",
                        "--rejects", "rej.csv", "crmix.csv", *more, cwd=tmp_path)
        assert (result.code, result.stdout) == (1, ""), (more, result)
        assert result.stderr == f"optout filter: crmix.csv:{line}: {BARE_CR}\n", more
        assert sorted(p.name for p in tmp_path.iterdir()) == ["crmix.csv", "deny.optout"]
    to_stdout = optout("filter", "-r", "deny.optout", "--column", "nhs_number", "crmix.csv", cwd=tmp_path)
    assert to_stdout.code == 1, to_stdout
    assert "7408480374" not in to_stdout.stdout
    assert to_stdout.stderr.splitlines()[0] == f"optout filter: crmix.csv:{line}: {BARE_CR}"


# ---- The commit protocol (README, "The commit protocol"; issue 15.2) -----------------------------------

def test_output_made_a_directory_mid_run_leaves_a_failed_audit_and_no_side_files(registry, tmp_path):
    """-o turned into a directory while the run reads its input: the output's rename fails. Before the
    fix the audit said "ok" for an output that never appeared, the rejects and stats stayed, and the
    hidden temporary output stayed unnamed."""
    (tmp_path / "out").mkdir()
    proc = subprocess.Popen([binary(), "filter", "-r", str(registry), "--column", "nhs_number", "-o", "out/clean.csv",
                             "--rejects", "rj.csv", "--stats", "st.json", "--audit", "aud.jsonl"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    proc.stdin.write(hand_extract().encode())
    proc.stdin.flush()
    wait_for(lambda: any(p.name.startswith(".clean.csv.tmp-") for p in (tmp_path / "out").iterdir()))
    (tmp_path / "out" / "clean.csv").mkdir()
    (tmp_path / "out" / "clean.csv" / "keep").write_text("x")
    proc.stdin.close()
    assert proc.wait(timeout=30) == 1
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert stderr == "optout filter: out/clean.csv: rename failed: Is a directory; its temporary file was removed\n"
    assert dir_listing(tmp_path) == ["aud.jsonl", "out"]
    assert dir_listing(tmp_path / "out") == ["clean.csv"]
    committing, failed = audit_lines(tmp_path / "aud.jsonl")
    assert (committing["outcome"], failed["outcome"], failed["error"]) == ("committing", "failed", "i/o error")
    assert committing["run_id"] == failed["run_id"]
    assert committing["output_xxh3_128"] == failed["output_xxh3_128"]  # what would have been released


def test_all_zero_numbers_are_rejected_and_counted(optout, registry, tmp_path):
    """Issue 10.3: a zero-filled NHS-number field is rejected as "all zeros", never kept."""
    (tmp_path / "x.csv").write_text("id,nhs_number\n1,0000000000\n2,000 000 0000\n3,000-000-0000\n")
    result = optout(*filter_args(registry, "x.csv", "-o", "clean.csv", "--stats", "stats.json"), cwd=tmp_path)
    assert result.code == 0, result
    assert (tmp_path / "clean.csv").read_text() == "id,nhs_number\n"
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["rows"], stats["kept"], stats["rejected"]) == (3, 0, 3)
    assert stats["rejected_by_reason"] == {"all zeros": 3}


def test_short_audit_append_is_rolled_back_and_the_next_starts_on_a_new_line(registry, tmp_path):
    """Issue 15.6: on a full disk the run failed but left `{"tool` with no newline, and the next good
    run's record was glued onto it. Here a file size limit (ulimit -f 1: 1024 bytes) stops the
    append part way."""
    (tmp_path / "x.csv").write_text(hand_extract(), newline="")
    earlier = '{"tool":"optout","pad":"' + "x" * 950 + '"}\n'
    (tmp_path / "aud.jsonl").write_text(earlier + '{"tool')  # then a line torn by an older version
    command = f"ulimit -f 1; exec {shlex.quote(binary())} filter -r {shlex.quote(str(registry))} " \
              f"--column nhs_number x.csv -o /dev/null --audit aud.jsonl -q"
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, timeout=60)
    assert result.returncode == 1, result
    assert result.stderr.decode() == ("optout filter: aud.jsonl: write failed: File too large; and its audit record "
                                      "could not be written: aud.jsonl: write failed: File too large\n")
    assert (tmp_path / "aud.jsonl").read_text() == earlier + '{"tool'  # all or nothing
    result = subprocess.run([binary(), *map(str, filter_args(registry, "x.csv", "-o", "/dev/null", "--audit",
                                                             "aud.jsonl", "-q"))], cwd=tmp_path, capture_output=True)
    assert result.returncode == 0, result
    _, torn, *records = (tmp_path / "aud.jsonl").read_text().splitlines()
    assert torn == '{"tool'
    assert [json.loads(r)["outcome"] for r in records] == ["committing", "ok"]
