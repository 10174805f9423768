"""Compressed input (issue 13.1): gzip, zstd and zip made by their own tools, through a file and
standard input, give the plain run's bytes; a truncated stream fails with one line and no output."""

import shutil
import subprocess

import pytest

from conftest import binary, valid_numbers

NUMS = valid_numbers(12, seed=31)
DENIED = NUMS[:3]


def extract(rows=3000):
    lines = ["id,nhs_number,note"]
    for i in range(rows):
        number = NUMS[i % len(NUMS)] if i % 9 else "bad"
        note = '"two\nlines"' if i % 13 == 0 else "plain"
        lines.append(f"{i},{number},{note}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("compressed")
    (d / "deny.txt").write_text("".join(n + "\n" for n in DENIED))
    completed = subprocess.run([binary(), "build", "--list", "national=deny.txt", "-o", "deny.optout", "-q"],
                               cwd=d, capture_output=True, timeout=60)
    assert completed.returncode == 0, completed
    (d / "plain.csv").write_bytes(extract())
    return d


def tool(*args, cwd):
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is not installed")
    completed = subprocess.run(list(args), cwd=cwd, capture_output=True, timeout=60)
    assert completed.returncode == 0, completed
    return completed.stdout


def compressed(work, codec):
    """The extract compressed by codec's own tool: (file name, bytes)."""
    if codec == "gzip":
        data = tool("gzip", "-c", "plain.csv", cwd=work)
    elif codec == "gzip-two-members":
        data = tool("gzip", "-c", "plain.csv", cwd=work) + tool("gzip", "-c", "plain.csv", cwd=work)
    elif codec == "zstd":
        data = tool("zstd", "-q", "-c", "plain.csv", cwd=work)
    else:
        (work / "x.zip").unlink(missing_ok=True)
        tool("zip", "-q", "x.zip", "plain.csv", cwd=work)
        data = (work / "x.zip").read_bytes()
    name = f"in-{codec}.bin"
    (work / name).write_bytes(data)
    return name, data


def filter_args(work, *more):
    return ["filter", "-r", work / "deny.optout", "--column", "nhs_number", "-q", *more]


@pytest.mark.parametrize("codec", ["gzip", "gzip-two-members", "zstd", "zip"])
def test_compressed_input_gives_the_plain_bytes_from_a_file_and_stdin(optout, work, codec):
    expected_input = extract() * (2 if codec == "gzip-two-members" else 1)
    (work / "expected.csv").write_bytes(expected_input)
    plain = optout(*filter_args(work, work / "expected.csv"))
    assert plain.code == 0, plain
    name, data = compressed(work, codec)
    from_file = optout(*filter_args(work, work / name))
    assert from_file.code == 0, from_file
    assert from_file.stdout == plain.stdout
    for threads in ("1", "2"):
        from_stdin = optout(*filter_args(work, "--threads", threads, "--block-size", "4096"), stdin=data)
        assert from_stdin.code == 0, from_stdin
        assert from_stdin.stdout == plain.stdout
    numbers_plain = optout("numbers", "--column", "nhs_number", work / "expected.csv")
    numbers = optout("numbers", "--column", "nhs_number", work / name)
    assert numbers.code == 0 and numbers.stdout == numbers_plain.stdout, numbers


@pytest.mark.parametrize("codec,message", [
    ("gzip", "truncated gzip input: it ends at byte {cut}, inside a member"),
    ("zstd", "truncated zstd input: it ends at byte {cut}, inside a frame"),
])
def test_a_truncated_stream_fails_with_one_line_and_no_output(optout, work, codec, message):
    name, data = compressed(work, codec)
    cut = len(data) // 2
    (work / "cut.bin").write_bytes(data[:cut])
    out = work / "out.csv"
    result = optout(*filter_args(work, work / "cut.bin", "-o", out))
    assert result.code == 1, result
    assert result.stderr == f"optout filter: {work / 'cut.bin'}: {message.format(cut=cut)}\n"
    assert not out.exists()
    result = optout(*filter_args(work, "-o", out), stdin=data[:cut])
    assert result.code == 1, result
    assert result.stderr == f"optout filter: <stdin>: {message.format(cut=cut)}\n"
    assert not out.exists()


def test_zip_entries(optout, work):
    if shutil.which("zip") is None:
        pytest.skip("zip is not installed")
    (work / "two.zip").unlink(missing_ok=True)
    (work / "other.csv").write_bytes(extract(10))
    tool("zip", "-q", "two.zip", "plain.csv", "other.csv", cwd=work)
    result = optout(*filter_args(work, work / "two.zip", "-o", work / "out.csv"))
    assert result.code == 1, result
    assert result.stderr == f"optout filter: {work / 'two.zip'}: the zip holds 2 entries: choose one with --entry NAME\n"
    assert not (work / "out.csv").exists()
    plain = optout(*filter_args(work, work / "other.csv"))
    chosen = optout(*filter_args(work, "--entry", "other.csv"), stdin=(work / "two.zip").read_bytes())
    assert chosen.code == 0, chosen
    assert chosen.stdout == plain.stdout
    missing = optout(*filter_args(work, work / "two.zip", "--entry", "nope.csv", "-o", work / "out.csv"))
    assert missing.code == 1, missing
    assert missing.stderr == f"optout filter: {work / 'two.zip'}: the zip has no entry 'nope.csv' (it has 2 entries)\n"
    assert not (work / "out.csv").exists()
