"""optout build, info and diff: the registry commands, run on inputs made in tmp_path."""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import (assert_usage_error, check_ten_stem, valid_numbers, write_lines,
                      wrong_check_digit)


def spaced(number):
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def info_json(optout, path):
    result = optout("info", "--json", path)
    assert result.code == 0 and result.stderr == "", result
    return json.loads(result.stdout)


def counts(optout, path):
    return {entry["name"]: (entry["kind"], entry["count"]) for entry in info_json(optout, path)["lists"]}


# ---- build ----------------------------------------------------------------------------------------

def test_build_merges_text_dat_and_crlf_sources(optout, tmp_path):
    nums = valid_numbers(30, seed=11)
    write_lines(tmp_path / "plain.txt", nums[:12] + [""])                     # one blank line
    write_lines(tmp_path / "ndoo.dat", [n + "," for n in nums[10:20]], "\r\n")  # .dat, CRLF, 2 overlap
    write_lines(tmp_path / "crlf.txt", [spaced(n) for n in nums[20:30]], "\r\n")
    result = optout("build", "--list", "national=plain.txt", "--list", "national=ndoo.dat",
                    "--list", "national=crlf.txt", "-o", "reg.optout", cwd=tmp_path)
    assert result.code == 0, result
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "optout build: plain.txt: 13 lines, 12 numbers, 1 blank, 0 invalid skipped; "
        "to national (deny): 12 added, 0 already there",
        "optout build: ndoo.dat: 10 lines, 10 numbers, 0 blank, 0 invalid skipped; "
        "to national (deny): 8 added, 2 already there",
        "optout build: crlf.txt: 10 lines, 10 numbers, 0 blank, 0 invalid skipped; "
        "to national (deny): 10 added, 0 already there",
        "optout build: list national (deny): 30 numbers",
        "optout build: wrote reg.optout (1 list)",
    ]
    assert counts(optout, str(tmp_path / "reg.optout")) == {"national": ("deny", 30)}


def test_build_deny_and_allow_lists(optout, tmp_path):
    nums = valid_numbers(20, seed=12)
    write_lines(tmp_path / "deny.txt", nums[:5])
    write_lines(tmp_path / "type1.txt", nums[5:8])
    write_lines(tmp_path / "cleared.txt", nums[8:])
    result = optout("build", "--list", "national=deny.txt", "--allow", "cleared=cleared.txt",
                    "--list", "type1=type1.txt", "--description", "NDOO 2026-11-24",
                    "-o", "reg.optout", "--quiet", cwd=tmp_path)
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    info = info_json(optout, str(tmp_path / "reg.optout"))
    assert info["description"] == "NDOO 2026-11-24"
    assert [(e["name"], e["kind"], e["count"]) for e in info["lists"]] == [
        ("cleared", "allow", 12), ("national", "deny", 5), ("type1", "deny", 3)]


def test_build_reports_duplicates(optout, tmp_path):
    nums = valid_numbers(5, seed=13)
    write_lines(tmp_path / "dups.txt", nums + nums[:3] + [spaced(nums[0])])
    result = optout("build", "--list", "national=dups.txt", "-o", "reg.optout", cwd=tmp_path)
    assert result.code == 0, result
    assert result.stderr.splitlines()[0] == (
        "optout build: dups.txt: 9 lines, 9 numbers, 0 blank, 0 invalid skipped; "
        "to national (deny): 5 added, 4 already there")
    assert counts(optout, str(tmp_path / "reg.optout")) == {"national": ("deny", 5)}


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("wrong", "wrong check digit"),
        ("ten", "check digit 10"),
        ("letters", "bad character"),
        ("short", "wrong length"),
        ("zeros", "all zeros"),  # issue 10.3: 0000000000 passes modulus 11 but is no patient's
        ("spaced zeros", "all zeros"),
    ],
)
def test_invalid_line_fails_without_output(optout, tmp_path, bad, reason):
    nums = valid_numbers(4, seed=14)
    bad_text = {"wrong": wrong_check_digit(nums[0]), "ten": check_ten_stem(),
                "letters": nums[0][:9] + "X", "short": nums[0][:9], "zeros": "0000000000",
                "spaced zeros": "000 000 0000"}[bad]
    write_lines(tmp_path / "good.txt", nums)
    write_lines(tmp_path / "ndoo.txt", nums[:2] + [bad_text] + nums[2:])
    result = optout("build", "--list", "national=good.txt", "--list", "national=ndoo.txt",
                    "-o", "reg.optout", cwd=tmp_path)
    assert result.code == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("optout build: good.txt: "), result
    assert lines[1] == f"optout build: ndoo.txt:3: {reason}", result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.txt", "ndoo.txt"]


def test_invalid_line_keeps_an_existing_output(optout, tmp_path):
    nums = valid_numbers(4, seed=15)
    write_lines(tmp_path / "ndoo.txt", [wrong_check_digit(nums[0])])
    (tmp_path / "reg.optout").write_bytes(b"old")
    result = optout("build", "--list", "national=ndoo.txt", "-o", "reg.optout", cwd=tmp_path)
    assert result.code == 1
    assert result.stderr == "optout build: ndoo.txt:1: wrong check digit\n"
    assert (tmp_path / "reg.optout").read_bytes() == b"old"


def test_skip_invalid_counts_and_warns(optout, tmp_path):
    nums = valid_numbers(6, seed=16)
    write_lines(tmp_path / "ndoo.txt",
                nums[:3] + [wrong_check_digit(nums[3]), "", "hello"] + nums[3:], "\r\n")
    result = optout("build", "--skip-invalid", "--list", "national=ndoo.txt", "-o", "reg.optout",
                    cwd=tmp_path)
    assert result.code == 0, result
    assert result.stderr.splitlines()[:2] == [
        "optout build: ndoo.txt: 9 lines, 6 numbers, 1 blank, 2 invalid skipped; "
        "to national (deny): 6 added, 0 already there",
        "optout build: warning: ndoo.txt: 2 invalid lines skipped",
    ]
    assert counts(optout, str(tmp_path / "reg.optout")) == {"national": ("deny", 6)}
    # The warning stays under --quiet: it is about the data.
    quiet = optout("build", "--skip-invalid", "-q", "--list", "national=ndoo.txt", "-o", "reg2.optout",
                   cwd=tmp_path)
    assert (quiet.code, quiet.stderr) == (0, "optout build: warning: ndoo.txt: 2 invalid lines skipped\n")


def test_empty_source_is_allowed_with_warnings(optout, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    write_lines(tmp_path / "blank.txt", ["", "  "])
    result = optout("build", "--list", "national=empty.txt", "--list", "national=blank.txt", "-q",
                    "-o", "reg.optout", cwd=tmp_path)
    assert (result.code, result.stdout) == (0, ""), result
    assert result.stderr.splitlines() == [
        "optout build: warning: empty.txt: no numbers",
        "optout build: warning: blank.txt: no numbers",
        "optout build: warning: list national (deny) is empty",
    ]
    assert counts(optout, str(tmp_path / "reg.optout")) == {"national": ("deny", 0)}


@pytest.mark.parametrize(
    "args, problem",
    [
        ([], "no source given: use --list, --allow or --base"),
        (["--description", "x"], "no source given: use --list, --allow or --base"),
        (["--list", "national"], "--list: expected NAME=FILE, got a value without '='"),
        (["--allow", "cleared"], "--allow: expected NAME=FILE, got a value without '='"),
        (["--list", "national="], "--list: NAME=FILE with an empty FILE"),
        (["--list", "a=ok.txt", "--add", "a=ok.txt"], "--add needs --base"),
        (["--list", "a=ok.txt", "--remove", "a=ok.txt"], "--remove needs --base"),
    ],
)
def test_build_usage_errors(optout, tmp_path, args, problem):
    write_lines(tmp_path / "ok.txt", valid_numbers(2))
    result = optout("build", *args, "-o", "reg.optout", cwd=tmp_path)
    assert assert_usage_error(result, "build") == problem
    assert not (tmp_path / "reg.optout").exists()


def test_build_value_without_equals_is_not_echoed(optout, tmp_path, numbers):
    result = optout("build", "--list", numbers[0], "-o", "reg.optout", cwd=tmp_path)
    assert assert_usage_error(result, "build") == "--list: expected NAME=FILE, got a value without '='"


@pytest.mark.parametrize("name", ["bad name", "a/b", "x" * 65])
def test_build_bad_list_name(optout, tmp_path, name):
    write_lines(tmp_path / "ok.txt", valid_numbers(2))
    result = optout("build", "--list", f"{name}=ok.txt", "-o", "reg.optout", cwd=tmp_path)
    assert_usage_error(result, "build")
    assert not (tmp_path / "reg.optout").exists()


def test_build_one_name_two_kinds(optout, tmp_path):
    # Found before any source is read: no report line comes first.
    write_lines(tmp_path / "ok.txt", valid_numbers(2))
    result = optout("build", "--list", "x=ok.txt", "--allow", "x=ok.txt", "-o", "reg.optout",
                    cwd=tmp_path)
    assert "'x'" in assert_usage_error(result, "build")
    assert not (tmp_path / "reg.optout").exists()


def test_build_kind_differs_from_base(optout, delta):
    result = optout("build", "--base", "old.optout", "--list", "cleared=added.txt", "-o", "x.optout",
                    cwd=delta["dir"])
    assert "'cleared'" in assert_usage_error(result, "build")
    assert not (delta["dir"] / "x.optout").exists()


def test_build_missing_source(optout, tmp_path):
    result = optout("build", "--list", "national=nope.txt", "-o", "reg.optout", cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr.startswith("optout build: nope.txt"), result
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "reg.optout").exists()


@pytest.mark.parametrize("output", ["no/such/dir/reg.optout", "file.txt/reg.optout"])
def test_build_unwritable_output(optout, tmp_path, output):
    write_lines(tmp_path / "file.txt", valid_numbers(2))
    result = optout("build", "--list", "national=file.txt", "-q", "-o", output, cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr.startswith("optout build: "), result
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_build_read_only_directory(optout, tmp_path):
    write_lines(tmp_path / "ok.txt", valid_numbers(2))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = optout("build", "--list", "national=ok.txt", "-q", "-o", "locked/reg.optout",
                        cwd=tmp_path)
        assert result.code == 1, result
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


# ---- delta builds and diff ------------------------------------------------------------------------

@pytest.fixture
def delta(optout, tmp_path):
    """A base and a delta build: national (deny) gains 3 and loses 2, cleared (allow) gains 2."""
    nums = valid_numbers(40, seed=21)
    national, cleared = nums[:10], nums[10:20]
    added, withdrawn = nums[30:33], national[2:4]
    cleared_added = nums[35:37]
    write_lines(tmp_path / "national.txt", national)
    write_lines(tmp_path / "cleared.txt", cleared)
    write_lines(tmp_path / "added.txt", added + [national[0]])          # one already there
    write_lines(tmp_path / "withdrawn.txt", withdrawn + [nums[39]])    # one not in the list
    write_lines(tmp_path / "cleared_added.txt", cleared_added)
    base = optout("build", "--list", "national=national.txt", "--allow", "cleared=cleared.txt",
                  "--description", "base", "-q", "-o", "old.optout", cwd=tmp_path)
    assert (base.code, base.stderr) == (0, ""), base
    result = optout("build", "--base", "old.optout", "--add", "national=added.txt",
                    "--remove", "national=withdrawn.txt", "--add", "cleared=cleared_added.txt",
                    "-o", "new.optout", cwd=tmp_path)
    assert result.code == 0, result
    return {"dir": tmp_path, "build": result, "added": added, "withdrawn": withdrawn,
            "cleared_added": cleared_added}


def test_delta_build_report(delta):
    assert delta["build"].stderr.splitlines() == [
        "optout build: added.txt: 4 lines, 4 numbers, 0 blank, 0 invalid skipped; "
        "to national (deny): 3 added, 1 already there",
        "optout build: withdrawn.txt: 3 lines, 3 numbers, 0 blank, 0 invalid skipped; "
        "from national (deny): 2 withdrawn, 1 not in the list",
        "optout build: cleared_added.txt: 2 lines, 2 numbers, 0 blank, 0 invalid skipped; "
        "to cleared (allow): 2 added, 0 already there",
        "optout build: list cleared (allow): 12 numbers",
        "optout build: list national (deny): 11 numbers",
        "optout build: wrote new.optout (2 lists)",
    ]


def test_delta_keeps_base_description_and_kinds(optout, delta):
    info = info_json(optout, str(delta["dir"] / "new.optout"))
    assert info["description"] == "base"
    assert counts(optout, str(delta["dir"] / "new.optout")) == {
        "cleared": ("allow", 12), "national": ("deny", 11)}


def test_diff_text(optout, delta):
    result = optout("diff", "old.optout", "new.optout", cwd=delta["dir"])
    assert (result.code, result.stderr) == (0, ""), result
    assert result.stdout == (
        "LIST      KIND   ADDED  WITHDRAWN\n"
        "cleared   allow      2          0\n"
        "national  deny       3          2\n")


def test_diff_json(optout, delta):
    result = optout("diff", "--json", "old.optout", "new.optout", cwd=delta["dir"])
    assert (result.code, result.stderr) == (0, ""), result
    doc = json.loads(result.stdout)
    assert doc["lists"] == [
        {"name": "cleared", "old_kind": "allow", "new_kind": "allow", "added": 2, "withdrawn": 0,
         "old_scopes": [], "new_scopes": []},
        {"name": "national", "old_kind": "deny", "new_kind": "deny", "added": 3, "withdrawn": 2,
         "old_scopes": [], "new_scopes": []},
    ]
    assert doc["old"]["file"] == "old.optout" and doc["new"]["file"] == "new.optout"
    assert doc["old"]["description"] == "base"
    assert re.fullmatch(r"[0-9a-f]{32}", doc["new"]["digest"])
    assert doc["old"]["digest"] != doc["new"]["digest"]


def test_diff_one_list(optout, delta):
    result = optout("diff", "old.optout", "new.optout", "--list", "national", cwd=delta["dir"])
    assert result.stdout == "LIST      KIND  ADDED  WITHDRAWN\nnational  deny      3          2\n"


def test_diff_writes_numbers_only_to_named_files(optout, delta):
    d = delta["dir"]
    result = optout("diff", "old.optout", "new.optout", "--list", "national",
                    "--added", "plus.txt", "--withdrawn", "minus.txt", cwd=d)
    assert (result.code, result.stderr) == (0, ""), result
    assert not re.search(r"\d{10}", result.stdout)
    assert (d / "plus.txt").read_text() == "".join(n + "\n" for n in sorted(delta["added"]))
    assert (d / "minus.txt").read_text() == "".join(n + "\n" for n in sorted(delta["withdrawn"]))
    cleared = optout("diff", "old.optout", "new.optout", "--list", "cleared", "--added", "c.txt",
                     cwd=d)
    assert cleared.code == 0
    assert (d / "c.txt").read_text() == "".join(n + "\n" for n in sorted(delta["cleared_added"]))
    assert not (d / "minus2.txt").exists()


def test_diff_unwritable_numbers_file(optout, delta):
    d = delta["dir"]
    result = optout("diff", "old.optout", "new.optout", "--list", "national",
                    "--added", "no/such/dir/plus.txt", cwd=d)
    assert (result.code, result.stdout) == (1, ""), result
    assert result.stderr.startswith("optout diff: no/such/dir/plus.txt"), result
    assert len(result.stderr.splitlines()) == 1


def test_diff_files_need_a_list(optout, delta):
    result = optout("diff", "old.optout", "new.optout", "--added", "plus.txt", cwd=delta["dir"])
    problem = assert_usage_error(result, "diff")
    assert problem == "--added/--withdrawn: the registries hold 2 lists; choose a list with --list"
    assert not (delta["dir"] / "plus.txt").exists()


def test_diff_single_list_needs_no_list_option(optout, tmp_path):
    nums = valid_numbers(6, seed=22)
    write_lines(tmp_path / "a.txt", nums[:4])
    write_lines(tmp_path / "b.txt", nums[2:])
    assert optout("build", "--list", "n=a.txt", "-q", "-o", "a.optout", cwd=tmp_path).code == 0
    assert optout("build", "--list", "n=b.txt", "-q", "-o", "b.optout", cwd=tmp_path).code == 0
    result = optout("diff", "a.optout", "b.optout", "--withdrawn", "w.txt", "--added", "p.txt",
                    cwd=tmp_path)
    assert result.code == 0, result
    assert result.stdout == "LIST  KIND  ADDED  WITHDRAWN\nn     deny      2          2\n"
    assert (tmp_path / "p.txt").read_text() == nums[4] + "\n" + nums[5] + "\n"
    assert (tmp_path / "w.txt").read_text() == nums[0] + "\n" + nums[1] + "\n"


def test_diff_unknown_list(optout, delta):
    result = optout("diff", "old.optout", "new.optout", "--list", "nope", cwd=delta["dir"])
    assert assert_usage_error(result, "diff") == "--list: no list 'nope' in either registry"


def test_diff_new_dropped_and_kind_changed_lists(optout, tmp_path):
    nums = valid_numbers(12, seed=23)
    write_lines(tmp_path / "a.txt", nums[:4])
    write_lines(tmp_path / "b.txt", nums[4:8])
    write_lines(tmp_path / "c.txt", nums[8:])
    assert optout("build", "--list", "gone=a.txt", "--list", "flip=b.txt", "-q", "-o", "old.optout",
                  cwd=tmp_path).code == 0
    assert optout("build", "--allow", "flip=b.txt", "--list", "fresh=c.txt", "-q", "-o", "new.optout",
                  cwd=tmp_path).code == 0
    result = optout("diff", "old.optout", "new.optout", cwd=tmp_path)
    assert (result.code, result.stderr) == (0, ""), result
    assert result.stdout == (
        "LIST   KIND            ADDED  WITHDRAWN\n"
        "flip   deny -> allow       0          0\n"
        "fresh  deny (new)          4          0\n"
        "gone   deny (dropped)      0          4\n")
    doc = json.loads(optout("diff", "--json", "old.optout", "new.optout", cwd=tmp_path).stdout)
    assert doc["lists"][1] == {"name": "fresh", "old_kind": None, "new_kind": "deny", "added": 4,
                               "withdrawn": 0, "old_scopes": None, "new_scopes": []}
    assert doc["lists"][2]["new_kind"] is None


def test_add_to_a_list_the_base_lacks(optout, delta):
    result = optout("build", "--base", "old.optout", "--add", "typo=added.txt", "-o", "x.optout",
                    cwd=delta["dir"])
    problem = assert_usage_error(result, "build")
    assert problem == "--add: no list 'typo' in the base; create a list with --list or --allow"
    assert not (delta["dir"] / "x.optout").exists()
    result = optout("build", "--base", "old.optout", "--remove", "typo=added.txt", "-o", "x.optout",
                    cwd=delta["dir"])
    assert assert_usage_error(result, "build").startswith("--remove: no list 'typo' in the base")


def test_base_plus_new_list_and_description(optout, delta):
    d = delta["dir"]
    write_lines(d / "t1.txt", valid_numbers(3, seed=24))
    result = optout("build", "--base", "old.optout", "--list", "type1=t1.txt", "--description", "v2",
                    "-q", "-o", "v2.optout", cwd=d)
    assert (result.code, result.stderr) == (0, ""), result
    assert info_json(optout, str(d / "v2.optout"))["description"] == "v2"
    assert counts(optout, str(d / "v2.optout")) == {
        "cleared": ("allow", 10), "national": ("deny", 10), "type1": ("deny", 3)}


def test_update_in_place_is_refused(optout, delta):
    """Issue 10.6: no output may name an input, the base included: write the update to a new file."""
    d = delta["dir"]
    before = (d / "new.optout").read_bytes()
    result = optout("build", "--base", "new.optout", "--remove", "cleared=cleared_added.txt", "-q",
                    "-o", "new.optout", cwd=d)
    assert assert_usage_error(result, "build") == "new.optout is given twice: an output would overwrite an input"
    assert (d / "new.optout").read_bytes() == before
    assert sorted(p.name for p in d.iterdir() if "optout" in p.name) == ["new.optout", "old.optout"]


@pytest.mark.parametrize("args,problem", [
    (["--list", "n=a.txt", "-o", "a.txt"], "a.txt is given twice: an output would overwrite an input"),
    (["--list", "n=a.txt", "-o", ""], "an empty output path: give a file name"),
    (["--base", "", "--list", "n=a.txt", "-o", "x.optout"], "an empty input path: give a file name"),
])
def test_build_outputs_apart_from_inputs_and_never_empty(optout, tmp_path, args, problem):
    write_lines(tmp_path / "a.txt", valid_numbers(3))
    result = optout("build", *args, cwd=tmp_path)
    assert assert_usage_error(result, "build") == problem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_base_alone_rewrites(optout, delta):
    d = delta["dir"]
    result = optout("build", "--base", "old.optout", "-q", "-o", "copy.optout", cwd=d)
    assert (result.code, result.stderr) == (0, ""), result
    assert counts(optout, str(d / "copy.optout")) == counts(optout, str(d / "old.optout"))


def test_bad_base(optout, tmp_path):
    (tmp_path / "junk.optout").write_bytes(b"not a snapshot at all\n" * 10)
    write_lines(tmp_path / "a.txt", valid_numbers(2))
    result = optout("build", "--base", "junk.optout", "--add", "n=a.txt", "-o", "x.optout",
                    cwd=tmp_path)
    assert result.code == 1, result
    assert result.stderr.startswith("optout build: junk.optout"), result
    assert not (tmp_path / "x.optout").exists()


# ---- info -----------------------------------------------------------------------------------------

def test_info_text(optout, delta):
    d = delta["dir"]
    result = optout("info", "new.optout", cwd=d)
    assert (result.code, result.stderr) == (0, ""), result
    lines = result.stdout.splitlines()
    size = os.path.getsize(d / "new.optout")
    assert lines[0] == "file:            new.optout"
    assert lines[1] == "format version:  1"
    assert re.fullmatch(r"created at:      \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[2])
    assert lines[3] == "description:     base"
    assert re.fullmatch(r"digest:          [0-9a-f]{32}", lines[4])
    assert lines[5] == f"file bytes:      {size}"
    assert re.fullmatch(r"memory bytes:    \d+", lines[6])
    assert lines[7] == "numbers:         23"
    assert lines[8] == f"bytes/number:    {size / 23:.2f}"
    assert lines[9] == "data as of:      " + lines[2][len("created at:      "):]  # no --as-of: the build time
    assert lines[10] == "signer:          unsigned"
    assert lines[11] == ""
    assert lines[12].split() == ["LIST", "KIND", "COUNT", "BYTES", "MEMORY", "BYTES/NUMBER"]
    assert lines[13].split()[:3] == ["cleared", "allow", "12"]
    assert lines[14].split()[:3] == ["national", "deny", "11"]
    assert lines[15] == ""
    # Provenance: every source of the base and the delta, by list, in the order read.
    assert lines[16].split() == ["LIST", "AS", "OF", "OP", "BYTES", "LINES", "NUMBERS", "XXH3-128", "FILE"]
    rows = [line.split() for line in lines[17:]]
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{32}", row[6]), row
    assert [row[:6] + row[7:] for row in rows] == [
        ["cleared", "-", "add", "110", "10", "10", "cleared.txt"],
        ["cleared", "-", "add", "22", "2", "2", "cleared_added.txt"],
        ["national", "-", "add", "110", "10", "10", "national.txt"],
        ["national", "-", "add", "44", "4", "4", "added.txt"],
        ["national", "-", "remove", "33", "3", "3", "withdrawn.txt"],
    ]


def test_info_json(optout, delta):
    d = delta["dir"]
    info = info_json(optout, str(d / "new.optout"))
    assert info["format_version"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["created_at"])
    assert isinstance(info["created_at_unix"], int)
    assert info["description"] == "base"
    assert re.fullmatch(r"[0-9a-f]{32}", info["digest"])
    assert info["file_bytes"] == os.path.getsize(d / "new.optout")
    assert info["memory_bytes"] > 0
    assert info["total_count"] == 23
    assert info["bytes_per_number"] == pytest.approx(info["file_bytes"] / 23)
    names = [(e["name"], e["kind"], e["count"]) for e in info["lists"]]
    assert names == [("cleared", "allow", 12), ("national", "deny", 11)]
    for entry in info["lists"]:
        assert entry["serialized_bytes"] > 0 and entry["memory_bytes"] > 0
        assert entry["bytes_per_number"] == pytest.approx(entry["serialized_bytes"] / entry["count"])


def test_info_digest_is_stable(optout, delta):
    d = delta["dir"]
    first = info_json(optout, str(d / "new.optout"))["digest"]
    assert info_json(optout, str(d / "new.optout"))["digest"] == first


def test_info_empty_registry(optout, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    assert optout("build", "--list", "n=empty.txt", "-q", "-o", "e.optout", cwd=tmp_path).code == 0
    info = info_json(optout, str(tmp_path / "e.optout"))
    assert info["total_count"] == 0 and info["bytes_per_number"] is None
    assert info["lists"][0]["bytes_per_number"] is None


# Issue 10.9: `optout info /dev/zero` (and `filter -r /dev/zero`) read until memory ran out. A
# registry that is not a regular file is refused at once, a FIFO without a writer included.
@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
@pytest.mark.parametrize("command", ["info", "filter"])
def test_registry_that_is_not_a_regular_file_is_refused_at_once(optout, tmp_path, kind, command):
    path = kind
    if kind == "fifo":
        path = tmp_path / "reg.optout"
        os.mkfifo(path)
    args = ["info", path] if command == "info" else ["filter", "-r", path, "--column", "nhs_number"]
    result = optout(*args, stdin="nhs_number\n")
    assert result.code == 1, result
    assert result.stderr == f"optout {command}: {path}: not a regular file\n"
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["info", "diff", "check", "build"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "flipped", "missing"])
def test_corrupt_registry(optout, tmp_path, delta, command, damage):
    d = delta["dir"]
    good = (d / "new.optout").read_bytes()
    bad = d / "bad.optout"
    if damage == "truncated":
        bad.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        bad.write_bytes(bytes(range(256)) * 4)
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "flipped":
        middle = len(good) // 2
        bad.write_bytes(good[:middle] + bytes([good[middle] ^ 0x40]) + good[middle + 1:])
    args = {"info": ["info", "bad.optout"],
            "diff": ["diff", "old.optout", "bad.optout"],
            "check": ["check", "--registry", "bad.optout", "4000000632"],
            "build": ["build", "--base", "bad.optout", "-o", "out.optout"]}[command]
    result = optout(*args, cwd=d)
    assert result.code == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith(f"optout {command}: bad.optout"), result
    assert not (d / "out.optout").exists()


@pytest.mark.parametrize("args,problem", [
    (["--added", "x.txt", "--withdrawn", "./x.txt"], "x.txt and ./x.txt are one file: an output would overwrite "
                                                     "another output"),
    (["--added", "new.optout"], "new.optout is given twice: an output would overwrite an input"),
    (["--withdrawn", ""], "an empty output path: give a file name"),
])
def test_diff_outputs_apart_from_inputs_and_never_empty(optout, delta, args, problem):
    d = delta["dir"]
    before = sorted(p.name for p in d.iterdir())
    result = optout("diff", "old.optout", "new.optout", "--list", "national", *args, cwd=d)
    assert assert_usage_error(result, "diff") == problem
    assert sorted(p.name for p in d.iterdir()) == before
