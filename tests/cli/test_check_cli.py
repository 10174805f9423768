"""optout check: validity, reasons, list membership and the filter's verdict, from args or stdin."""

import json

import pytest

from conftest import assert_usage_error, check_ten_stem, valid_numbers, write_lines, wrong_check_digit


@pytest.fixture
def registry(optout, tmp_path):
    """national (deny) holds a[0:3]; type1 (deny) holds a[2:4]; cleared (allow) holds a[3:6]."""
    a = valid_numbers(8, seed=31)
    write_lines(tmp_path / "national.txt", a[0:3])
    write_lines(tmp_path / "type1.txt", a[2:4])
    write_lines(tmp_path / "cleared.txt", a[3:6])
    result = optout("build", "--list", "national=national.txt", "--list", "type1=type1.txt",
                    "--allow", "cleared=cleared.txt", "-q", "-o", "reg.optout", cwd=tmp_path)
    assert result.code == 0, result
    return {"path": str(tmp_path / "reg.optout"), "a": a}


@pytest.fixture
def deny_only(optout, tmp_path):
    a = valid_numbers(4, seed=32)
    write_lines(tmp_path / "national.txt", a[:2])
    result = optout("build", "--list", "national=national.txt", "-q", "-o", "deny.optout", cwd=tmp_path)
    assert result.code == 0, result
    return {"path": str(tmp_path / "deny.optout"), "a": a}


def test_check_without_registry(optout):
    good = valid_numbers(2, seed=33)
    spaced = f"{good[1][:3]} {good[1][3:6]} {good[1][6:]}"
    ten = check_ten_stem()
    result = optout("check", good[0], spaced, wrong_check_digit(good[0]), ten, "987654321X",
                    "12345", "")
    assert (result.code, result.stderr) == (0, ""), result
    assert result.stdout == (
        f"{good[0]}: valid\n"
        f"{spaced}: valid\n"
        f"{wrong_check_digit(good[0])}: invalid: wrong check digit\n"
        f"{ten}: invalid: check digit 10\n"
        "987654321X: invalid: bad character\n"
        "12345: invalid: wrong length\n"
        ": invalid: empty\n")


def test_check_from_stdin(optout):
    good = valid_numbers(3, seed=34)
    stdin = f"{good[0]}\r\n\n  {good[1]}  \n{wrong_check_digit(good[2])}\n{good[2]}"
    result = optout("check", stdin=stdin)
    assert (result.code, result.stderr) == (0, ""), result
    assert result.stdout == (
        f"{good[0]}: valid\n"
        f"{good[1]}: valid\n"
        f"{wrong_check_digit(good[2])}: invalid: wrong check digit\n"
        f"{good[2]}: valid\n")


def test_check_bare_cr_on_stdin_is_an_error_not_one_joined_number(optout):
    """Issue 10.1: stdin is read as list files are; a CR no LF follows is malformed there too (not
    two numbers read as one invalid line). The numbers before it are checked; the run fails."""
    good = valid_numbers(3, seed=35)
    result = optout("check", stdin=f"{good[0]}\n{good[1]}\r{good[2]}\n")
    assert result.code == 1, result
    assert result.stdout == f"{good[0]}: valid\n"
    assert result.stderr == "optout check: <stdin>:2: bare CR (lines must end with LF or CRLF)\n"
    as_json = optout("check", "--json", stdin=f"{good[0]}\r")
    assert (as_json.code, as_json.stdout) == (1, ""), as_json
    assert as_json.stderr == "optout check: <stdin>:1: bare CR (lines must end with LF or CRLF)\n"


def test_check_reads_dat_lines_from_stdin(optout, registry):
    """The Check for National Data Opt-outs service's .dat form: each number followed by a comma."""
    a = registry["a"]
    stdin = f"{a[0]},\r\n{a[7]},\n,\n\n{a[1]}\n{a[0]},,\n"
    result = optout("check", "--registry", registry["path"], stdin=stdin)
    assert (result.code, result.stderr) == (0, ""), result
    assert result.stdout == (
        f"{a[0]},: valid; in national (deny); not in cleared (allow); removed\n"
        f"{a[7]},: valid; in no list; not in cleared (allow); removed\n"
        ",: invalid: empty; rejected\n"
        f"{a[1]}: valid; in national (deny); not in cleared (allow); removed\n"
        f"{a[0]},,: invalid: bad character; rejected\n")


def test_check_empty_stdin(optout):
    assert (lambda r: (r.code, r.stdout, r.stderr))(optout("check", stdin="")) == (0, "", "")


def test_check_with_registry(optout, registry):
    a = registry["a"]
    result = optout("check", "--registry", registry["path"], *a[:7], "987654321X")
    assert (result.code, result.stderr) == (0, ""), result
    assert result.stdout == (
        f"{a[0]}: valid; in national (deny); not in cleared (allow); removed\n"
        f"{a[1]}: valid; in national (deny); not in cleared (allow); removed\n"
        f"{a[2]}: valid; in national (deny), type1 (deny); not in cleared (allow); removed\n"
        f"{a[3]}: valid; in cleared (allow), type1 (deny); removed\n"
        f"{a[4]}: valid; in cleared (allow); kept\n"
        f"{a[5]}: valid; in cleared (allow); kept\n"
        f"{a[6]}: valid; in no list; not in cleared (allow); removed\n"
        "987654321X: invalid: bad character; rejected\n")


def test_check_deny_only_registry(optout, deny_only):
    a = deny_only["a"]
    result = optout("check", "--registry", deny_only["path"], stdin="\n".join(a) + "\n")
    assert (result.code, result.stderr) == (0, ""), result
    assert result.stdout == (
        f"{a[0]}: valid; in national (deny); removed\n"
        f"{a[1]}: valid; in national (deny); removed\n"
        f"{a[2]}: valid; in no list; kept\n"
        f"{a[3]}: valid; in no list; kept\n")


def test_check_json(optout, registry):
    a = registry["a"]
    dashed = f"{a[4][:3]}-{a[4][3:6]}-{a[4][6:]}"
    result = optout("check", "--json", "--registry", registry["path"], a[2], dashed,
                    wrong_check_digit(a[0]))
    assert (result.code, result.stderr) == (0, ""), result
    doc = json.loads(result.stdout)
    assert doc["registry"]["file"] == registry["path"]
    assert doc["registry"]["lists"] == [{"name": "cleared", "kind": "allow"},
                                        {"name": "national", "kind": "deny"},
                                        {"name": "type1", "kind": "deny"}]
    assert doc["results"] == [
        {"input": a[2], "valid": True, "number": a[2], "reason": None, "reason_code": 0,
         "lists": ["national", "type1"], "verdict": "removed"},
        {"input": dashed, "valid": True, "number": a[4], "reason": None, "reason_code": 0,
         "lists": ["cleared"], "verdict": "kept"},
        {"input": wrong_check_digit(a[0]), "valid": False, "number": None,
         "reason": "wrong check digit", "reason_code": 6, "lists": [], "verdict": "rejected"},
    ]


def test_check_json_without_registry_from_stdin(optout):
    good = valid_numbers(1, seed=35)[0]
    result = optout("check", "--json", stdin=f"{good}\n\xff\xfe\n")
    assert (result.code, result.stderr) == (0, ""), result
    doc = json.loads(result.stdout)
    assert doc["registry"] is None
    assert doc["results"][0] == {"input": good, "valid": True, "number": good, "reason": None,
                                 "reason_code": 0, "lists": None, "verdict": None}
    assert doc["results"][1]["valid"] is False
    assert doc["results"][1]["reason"] == "bad character"


def test_check_missing_registry(optout, tmp_path):
    result = optout("check", "--registry", "nope.optout", "4000000632", cwd=tmp_path)
    assert (result.code, result.stdout) == (1, ""), result
    assert result.stderr.startswith("optout check: nope.optout"), result


def test_check_never_echoes_to_stderr_on_usage_error(optout):
    good = valid_numbers(1, seed=36)[0]
    result = optout("check", "--bogus", good)
    assert result.code == 2
    assert good not in result.stderr and result.stdout == ""


def test_empty_registry_path_is_a_usage_error(optout):
    """Issue 15.8: --registry "" checked validity only, as if no registry had been asked for."""
    result = optout("check", "--registry", "", valid_numbers(1, seed=33)[0])
    assert assert_usage_error(result, "check") == "an empty input path: give a file name"


def test_all_zero_number_is_invalid(optout, registry):
    """Issue 10.3: 0000000000 passes modulus 11 but is no patient's: invalid in every form."""
    result = optout("check", "--json", "--registry", registry["path"], "0000000000", "000 000 0000",
                    "000-000-0000", "0000000019")
    assert (result.code, result.stderr) == (0, ""), result
    results = json.loads(result.stdout)["results"]
    assert [(r["valid"], r["reason"], r["reason_code"], r["verdict"]) for r in results] == [
        (False, "all zeros", 7, "rejected")] * 3 + [(True, None, 0, "removed")]
