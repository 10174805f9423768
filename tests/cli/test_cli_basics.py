"""optout's command-line framework: --help, --version, usage errors, exit statuses."""

import os
import re

import pytest

from conftest import assert_usage_error

COMMANDS = ["filter", "numbers", "build", "info", "diff", "check", "export"]


def test_version(optout):
    result = optout("--version")
    version = os.environ.get("OPTOUT_VERSION", "0.1.0")
    assert (result.code, result.stdout, result.stderr) == (0, f"optout {version}\n", "")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_root_help(optout, flag):
    result = optout(flag)
    assert result.code == 0 and result.stderr == ""
    assert result.stdout.startswith("Removes the rows of opted-out patients")
    for command in COMMANDS:
        # The root help shows each command's first description line: a whole sentence.
        line = re.search(rf"^\s+{command}\s+(.*)$", result.stdout, re.M)
        assert line and line.group(1).endswith("."), (command, line and line.group(1))
    assert "Exit status: 0 success, 1 failure" in result.stdout


@pytest.mark.parametrize(
    "command, expected",
    [
        ("build", ["--list NAME=FILE", "--allow NAME=FILE", "--base OLD.optout", "--add NAME=FILE",
                   "--remove NAME=FILE", "--description TEXT", "--skip-invalid", "--output OUT.optout",
                   "--quiet"]),
        ("info", ["FILE", "--json"]),
        ("diff", ["OLD", "NEW", "--json", "--list NAME", "--added FILE", "--withdrawn FILE"]),
        ("check", ["NUMBER", "--registry FILE", "--json"]),
    ],
)
def test_command_help(optout, command, expected):
    result = optout(command, "--help")
    assert result.code == 0 and result.stderr == ""
    assert result.stdout.startswith(""), result
    assert f"Usage: optout {command}" in result.stdout, result
    for text in expected:
        assert text in result.stdout, text
    assert "Exit status:" in result.stdout


def test_help_wins_over_missing_arguments(optout):
    result = optout("diff", "--help")
    assert result.code == 0 and "Usage: optout diff" in result.stdout


def test_no_command(optout):
    assert assert_usage_error(optout(), "") == "no command given"


def test_unknown_command(optout):
    assert assert_usage_error(optout("frobnicate"), "") == "unknown command 'frobnicate'"


def test_unknown_command_that_is_a_number_is_redacted(optout):
    # The fixture checks stderr holds no 10-digit run; the message still says what went wrong.
    assert assert_usage_error(optout("9434765919"), "") == "unknown command '[redacted]'"


def test_unknown_root_option(optout):
    problem = assert_usage_error(optout("--frobnicate"), "")
    assert "--frobnicate" in problem


@pytest.mark.parametrize(
    "args, command, problem",
    [
        (["info"], "info", "FILE is required"),
        (["diff", "a.optout"], "diff", "NEW is required"),
        (["build", "--list", "a=b"], "build", "--output is required"),
        (["build", "-o"], "build", "-o"),
        (["info", "a.optout", "b.optout"], "info", "not expected"),
        (["check", "--bogus"], "check", "--bogus"),
        (["diff", "a", "b", "--list"], "diff", "--list"),
    ],
)
def test_parse_errors(optout, args, command, problem):
    assert problem in assert_usage_error(optout(*args), command)


def test_parse_error_quoting_a_number_is_redacted(optout, numbers):
    problem = assert_usage_error(optout("info", "x.optout", numbers[0], "943 476 5919"), "info")
    assert "[redacted]" in problem
    assert numbers[0] not in problem and "943 476 5919" not in problem


def test_two_commands_are_not_run(optout, tmp_path):
    result = optout("info", str(tmp_path / "a"), "check")
    assert_usage_error(result, "info")
