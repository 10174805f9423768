"""Policy as data (issue 14, parts 1-3) from the CLI: build --scope, --objections and
--withdraw-objections; info and diff showing scopes; filter and verify --purpose and --exempt,
their usage errors (exit 2, exact messages) and the audit record. The expected rows come from
Python's own set logic over the files made here, never from the engine."""

import csv
import io
import json

import pytest

from conftest import assert_usage_error, valid_numbers, write_lines, wrong_check_digit

CAG = "CAG 20/CAG/0001"


@pytest.fixture
def policy(tmp_path, optout):
    """A registry: national (research, planning), type1 (unscoped), objections.fdp; an extract of
    every listed patient and some unlisted ones."""
    nums = valid_numbers(20, seed=14)
    lists = {"national": nums[0:4], "type1": nums[4:6], "objections.fdp": nums[6:8]}
    write_lines(tmp_path / "national.txt", lists["national"])
    write_lines(tmp_path / "type1.txt", lists["type1"])
    (tmp_path / "objections.csv").write_text(
        "nhs_number,scope,reference,decided\n" + "".join(f"{n},fdp,A21-{i},2026-11-0{i + 1}\n"
                                                        for i, n in enumerate(lists["objections.fdp"])))
    rows = [f"{n},{i}" for i, n in enumerate(nums)]
    (tmp_path / "extract.csv").write_text("nhs_number,id\n" + "\n".join(rows) + "\n")
    result = optout("build", "--list", "national=national.txt", "--scope", "national=research,planning",
                    "--list", "type1=type1.txt", "--objections", "objections.csv", "--as-of", "national=2026-11-24",
                    "-o", "reg.optout", "-q", cwd=tmp_path)
    assert result.code == 0 and result.stderr == "", result
    return tmp_path, nums, lists


def kept_rows(nums, removed_lists):
    removed = set().union(*removed_lists) if removed_lists else set()
    return [f"{n},{i}" for i, n in enumerate(nums) if n not in removed]


def run_filter(optout, folder, *args):
    return optout("filter", "-r", "reg.optout", "--column", "nhs_number", *args, "extract.csv", cwd=folder)


def audit_records(folder):
    return [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]


def test_info_shows_scopes_and_purposes(policy, optout):
    folder, _, _ = policy
    info = json.loads(optout("info", "--json", "reg.optout", cwd=folder).stdout)
    assert [(l["name"], l["scopes"]) for l in info["lists"]] == [
        ("national", ["planning", "research"]), ("objections.fdp", ["fdp"]), ("type1", [])]
    assert info["purposes"] == ["fdp", "planning", "research"]
    text = optout("info", "reg.optout", cwd=folder).stdout
    assert ("LIST            SCOPES (PURPOSES IT APPLIES TO)\n"
            "national        planning,research\n"
            "objections.fdp  fdp\n"
            "type1           (every purpose)\n") in text


def test_a_registry_without_scopes_shows_none(tmp_path, optout, numbers):
    write_lines(tmp_path / "n.txt", numbers[:3])
    assert optout("build", "--list", "national=n.txt", "-o", "r.optout", "-q", cwd=tmp_path).code == 0
    info = json.loads(optout("info", "--json", "r.optout", cwd=tmp_path).stdout)
    assert info["lists"][0]["scopes"] == [] and info["purposes"] == []
    assert "SCOPES" not in optout("info", "r.optout", cwd=tmp_path).stdout
    (tmp_path / "e.csv").write_text("nhs_number\n" + numbers[0] + "\n")
    result = optout("filter", "-r", "r.optout", "--column", "nhs_number", "--purpose", "research", "e.csv",
                    cwd=tmp_path)
    assert assert_usage_error(result, "filter") == (
        "r.optout: no list is scoped to purpose 'research' (the registry names no purpose: give lists scopes "
        "with optout build --scope)")


@pytest.mark.parametrize("purpose, applied", [
    ("research", ["national", "type1"]),
    ("planning", ["national", "type1"]),
    ("fdp", ["objections.fdp", "type1"]),
])
def test_a_purpose_applies_its_scoped_lists_and_every_unscoped_one(policy, optout, purpose, applied):
    folder, nums, lists = policy
    result = run_filter(optout, folder, "--purpose", purpose, "-o", "out.csv", "--audit", "audit.jsonl", "-q")
    assert result.code == 0 and result.stderr == "", result
    expected = kept_rows(nums, [lists[name] for name in applied])
    assert (folder / "out.csv").read_text() == "nhs_number,id\n" + "".join(r + "\n" for r in expected)
    ok = audit_records(folder)[-1]
    assert ok["outcome"] == "ok" and ok["lists_applied"] == applied
    assert ok["purpose"] == purpose and ok["exemptions"] == []


def test_an_exemption_leaves_the_list_out_and_is_recorded(policy, optout):
    folder, nums, lists = policy
    result = run_filter(optout, folder, "--purpose", "planning", "--exempt", f"national={CAG}", "-o", "out.csv",
                        "--audit", "audit.jsonl", "-q")
    assert result.code == 0 and result.stderr == "", result
    expected = kept_rows(nums, [lists["type1"]])
    assert (folder / "out.csv").read_text() == "nhs_number,id\n" + "".join(r + "\n" for r in expected)
    records = audit_records(folder)
    assert [r["outcome"] for r in records] == ["committing", "ok"]
    for record in records:
        assert record["purpose"] == "planning"
        assert record["lists_applied"] == ["type1"]
        assert record["exemptions"] == [
            {"list": "national", "kind": "deny", "count": 4, "as_of": "2026-11-24", "reference": CAG}]


def test_without_a_purpose_the_record_has_neither_key(policy, optout):
    folder, _, _ = policy
    assert run_filter(optout, folder, "--apply", "type1", "-o", "out.csv", "--audit", "audit.jsonl", "-q").code == 0
    for record in audit_records(folder):
        assert "purpose" not in record and "exemptions" not in record


@pytest.mark.parametrize("args, message", [
    (["--purpose", "research", "--apply", "type1"],
     "--purpose and --apply exclude each other: a purpose chooses the lists"),
    (["--purpose", "audit"],
     "reg.optout: no list is scoped to purpose 'audit' (the registry's purposes: fdp, planning, research)"),
    (["--purpose", "Research"], "--purpose: scope names are 1 to 32 of a-z, 0-9, '_' and '-'"),
    (["--exempt", f"national={CAG}"], "--exempt needs --purpose: an exemption leaves a list out of a purpose's lists"),
    (["--purpose", "research", "--exempt", "national"],
     "--exempt LIST needs a reference: LIST=REFERENCE, e.g. national=CAG 20/CAG/0001"),
    (["--purpose", "research", "--exempt", "national="], "--exempt national: the reference is empty"),
    (["--purpose", "research", "--exempt", "national=" + "x" * 201],
     "--exempt national: the reference is longer than 200 bytes"),
    (["--purpose", "research", "--exempt", "national=CAG\t1"], "--exempt national: the reference holds a control character"),
    (["--purpose", "research", "--exempt", "national=ref 943 476 5919"],
     "--exempt national: the reference holds a run of 9 or more digits, which may be an NHS number"),
    (["--purpose", "research", "--exempt", f"objections.fdp={CAG}"],
     "--exempt objections.fdp: purpose 'research' does not apply list 'objections.fdp'"),
    (["--purpose", "research", "--exempt", f"national={CAG}", "--exempt", "national=COPI"],
     "--exempt national: the list is exempted twice"),
    (["--purpose", "research", "--exempt", f"national={CAG}", "--exempt", "type1=COPI"],
     "purpose 'research': every list it applies is exempted, so nothing would be applied"),
])
@pytest.mark.parametrize("command", ["filter", "verify"])
def test_selection_errors_are_usage_errors(policy, optout, command, args, message):
    folder, _, _ = policy
    result = optout(command, "-r", "reg.optout", "--column", "nhs_number", *args, "extract.csv", cwd=folder)
    assert assert_usage_error(result, command) == message
    assert sorted(p.name for p in folder.iterdir()) == [
        "extract.csv", "national.txt", "objections.csv", "reg.optout", "type1.txt"]


def test_verify_by_purpose(policy, optout):
    folder, nums, lists = policy
    assert run_filter(optout, folder, "--purpose", "fdp", "-o", "fdp.csv", "-q").code == 0
    clean = optout("verify", "-r", "reg.optout", "--column", "nhs_number", "--purpose", "fdp", "--json", "fdp.csv",
                   cwd=folder)
    assert clean.code == 0 and json.loads(clean.stdout)["clean"] is True, clean
    research = optout("verify", "-r", "reg.optout", "--column", "nhs_number", "--purpose", "research", "--json",
                      "fdp.csv", cwd=folder)
    assert research.code == 1
    assert json.loads(research.stdout)["removed"] == len(set(lists["national"]))
    exempt = optout("verify", "-r", "reg.optout", "--column", "nhs_number", "--purpose", "planning", "--exempt",
                    f"national={CAG}", "-q", "fdp.csv", cwd=folder)
    assert exempt.code == 0, exempt


def test_build_scope_errors(tmp_path, optout, numbers):
    write_lines(tmp_path / "n.txt", numbers[:2])
    base = ["build", "--list", "national=n.txt", "-o", "r.optout", "-q"]
    assert assert_usage_error(optout(*base, "--scope", "national", cwd=tmp_path), "build") == (
        "--scope: expected LIST=SCOPE[,SCOPE...], got a value without '='")
    assert assert_usage_error(optout(*base, "--scope", "national=a", "--scope", "national=b", cwd=tmp_path),
                              "build") == "--scope: list 'national' given twice"
    bad = optout(*base, "--scope", "national=Research", cwd=tmp_path)
    assert bad.code == 2 and bad.stderr == (
        "optout build: scopes for list 'national': scope names are 1 to 32 of a-z, 0-9, '_' and '-'\n"
        "see 'optout build --help'\n"), bad
    twice = optout(*base, "--scope", "national=a,b,a", cwd=tmp_path)
    assert twice.code == 2 and "scopes for list 'national': scope 'a' given twice" in twice.stderr
    empty = optout(*base, "--scope", "national=", cwd=tmp_path)
    assert empty.code == 2 and "scopes for list 'national': scope names are" in empty.stderr
    unknown = optout(*base, "--scope", "nationall=research", cwd=tmp_path)
    assert unknown.code == 1 and unknown.stderr == (
        "optout build: scopes for list 'nationall': no list of that name in the registry\n"), unknown
    assert not (tmp_path / "r.optout").exists()


def test_a_delta_keeps_scopes_a_new_scope_replaces_them_and_diff_shows_it(policy, optout):
    folder, nums, _ = policy
    write_lines(folder / "more.txt", nums[10:11])
    assert optout("build", "--base", "reg.optout", "--add", "national=more.txt", "-o", "delta.optout", "-q",
                  cwd=folder).code == 0
    info = json.loads(optout("info", "--json", "delta.optout", cwd=folder).stdout)
    assert info["lists"][0]["scopes"] == ["planning", "research"]
    assert "SCOPES" not in optout("diff", "reg.optout", "delta.optout", cwd=folder).stdout

    assert optout("build", "--base", "reg.optout", "--scope", "national=research", "-o", "narrow.optout", "-q",
                  cwd=folder).code == 0
    diff = optout("diff", "reg.optout", "narrow.optout", cwd=folder)
    assert diff.code == 0, diff
    assert diff.stdout.endswith("\nLIST      OLD SCOPES         NEW SCOPES\n"
                                "national  planning,research  research\n"), diff
    lists = json.loads(optout("diff", "--json", "reg.optout", "narrow.optout", cwd=folder).stdout)["lists"]
    assert [(l["name"], l["old_scopes"], l["new_scopes"]) for l in lists] == [
        ("national", ["planning", "research"], ["research"]), ("objections.fdp", ["fdp"], ["fdp"]),
        ("type1", [], [])]


def test_objections_deltas_add_remove_and_withdraw(policy, optout):
    folder, nums, lists = policy
    write_lines(folder / "more.txt", nums[12:13])
    (folder / "withdrawn.csv").write_text(f"scope,nhs_number\r\nfdp,{lists['objections.fdp'][0]}\r\n")
    write_lines(folder / "gone.txt", lists["objections.fdp"][1:2])
    (folder / "new.csv").write_text(f"nhs_number,scope\n{nums[14]},fdp\n{nums[15]},research\n")
    result = optout("build", "--base", "reg.optout", "--add", "objections.fdp=more.txt", "--withdraw-objections",
                    "withdrawn.csv", "--objections", "new.csv", "-o", "d.optout", cwd=folder)
    assert result.code == 0, result
    assert ("optout build: withdrawn.csv: 1 row; from objections.fdp (deny): 1 withdrawn, 0 not in the list\n"
            in result.stderr)
    assert ("optout build: new.csv: 2 rows; to objections.fdp (deny): 1 added, 0 already there; "
            "to objections.research (deny): 1 added, 0 already there\n") in result.stderr
    info = json.loads(optout("info", "--json", "d.optout", cwd=folder).stdout)
    by_name = {l["name"]: l for l in info["lists"]}
    assert by_name["objections.fdp"]["count"] == 3  # 2 - 1 withdrawn + 1 added + 1 from new.csv
    assert by_name["objections.research"]["scopes"] == ["research"]
    assert [(s["file"], s["op"], s["lines"], s["numbers"]) for s in by_name["objections.fdp"]["sources"]] == [
        ("objections.csv", "add", 2, 2), ("more.txt", "add", 1, 1), ("withdrawn.csv", "remove", 1, 1),
        ("new.csv", "add", 2, 1)]
    # --remove works on an objections list as on any other.
    assert optout("build", "--base", "d.optout", "--remove", "objections.fdp=gone.txt", "-o", "e.optout", "-q",
                  cwd=folder).code == 0
    after = {l["name"]: l["count"] for l in json.loads(optout("info", "--json", "e.optout", cwd=folder).stdout)["lists"]}
    assert after["objections.fdp"] == 2
    # Filtering for fdp after the withdrawal keeps the withdrawn patient.
    assert optout("filter", "-r", "d.optout", "--column", "nhs_number", "--purpose", "fdp", "-o", "fdp.csv", "-q",
                  "extract.csv", cwd=folder).code == 0
    released = (folder / "fdp.csv").read_text()
    assert lists["objections.fdp"][0] in released and lists["objections.fdp"][1] not in released


@pytest.mark.parametrize("text, message", [
    ("nhs_number\n", "o.csv:1: the header must name nhs_number and scope (and may name reference and decided)"),
    ("nhs_number,scope,notes\n",
     "o.csv:1: column 3 is not one of nhs_number, scope, reference, decided (the header takes no other column)"),
    ("nhs_number,scope\n{good},fdp\n{bad},fdp\n", "o.csv:3: nhs_number: wrong check digit"),
    ("nhs_number,scope\n{good},FDP\n", "o.csv:2: scope: scope names are 1 to 32 of a-z, 0-9, '_' and '-'"),
    # Columns swapped: a number in the scope column would become a list named by it.
    ("scope,nhs_number\n{good},{good}\n",
     "o.csv:2: scope: a scope name looks like a number (6 or more digits), not a purpose"),
    ("nhs_number,scope,reference\n{good},fdp,{good}\n",
     "o.csv:2: reference: the reference holds a run of 9 or more digits, which may be an NHS number"),
    ("nhs_number,scope,decided\n{good},fdp,2026-13-01\n", "o.csv:2: decided: not a date of the form YYYY-MM-DD"),
    ("nhs_number,scope\n{good},fdp,x\n", "o.csv:2: 3 fields, the header has 2"),
    ("", "o.csv: empty: an objections file starts with the header nhs_number,scope"),
])
def test_invalid_objections_stop_the_build_naming_file_and_line(tmp_path, optout, numbers, text, message):
    (tmp_path / "o.csv").write_text(text.format(good=numbers[0], bad=wrong_check_digit(numbers[1])))
    result = optout("build", "--objections", "o.csv", "-o", "r.optout", cwd=tmp_path)
    assert result.code == 1 and result.stderr == f"optout build: {message}\n", result
    assert not (tmp_path / "r.optout").exists()


def test_withdrawing_objections_of_a_scope_without_a_list(policy, optout):
    folder, nums, _ = policy
    (folder / "w.csv").write_text(f"nhs_number,scope\n{nums[0]},research\n")
    result = optout("build", "--base", "reg.optout", "--withdraw-objections", "w.csv", "-o", "x.optout", cwd=folder)
    assert result.code == 1 and result.stderr == "optout build: no list 'objections.research' to withdraw from\n"


def test_names_that_look_like_numbers_are_redacted(policy, optout, numbers):
    folder, nums, _ = policy
    number = numbers[0]
    result = run_filter(optout, folder, "--purpose", number)
    assert assert_usage_error(result, "filter") == (
        "--purpose: a scope name looks like a number (6 or more digits), not a purpose")
    result = run_filter(optout, folder, "--purpose", "research", "--exempt", f"{number}={CAG}")
    assert assert_usage_error(result, "filter") == (
        "--exempt [redacted]: purpose 'research' does not apply list '[redacted]'")
    result = optout("build", "--base", "reg.optout", "--scope", f"{number}=research", "-o", "x.optout", cwd=folder)
    assert result.code == 1 and result.stderr == (
        "optout build: scopes for list '[redacted]': no list of that name in the registry\n"), result
    # An objections file full of numbers: the message names the line, never a value.
    (folder / "o.csv").write_text(f"nhs_number,scope,reference\n{nums[0]},fdp,{nums[1]}\n")
    result = optout("build", "--objections", "o.csv", "-o", "y.optout", cwd=folder)
    assert result.stderr == (
        "optout build: o.csv:2: reference: the reference holds a run of 9 or more digits, which may be an NHS "
        "number\n"), result
