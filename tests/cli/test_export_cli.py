"""optout export: one list of a registry as a Roaring bitmap (of stems), text or the .dat form.

The Roaring bytes are read back by a small reader of the portable format written here from its
specification (independent of CRoaring and of optout). Every run also checks that stderr holds
nothing NHS-number-like.
"""

import shlex
import signal
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import NUMBER_IN_TEXT, assert_usage_error, binary, check_digit, nhs, valid_numbers

NUMS = valid_numbers(12, seed=41)  # ascending
NATIONAL = NUMS[:5]
CLEARED = NUMS[5:9]
SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples"


def run_raw(*args, cwd=None):
    """Runs optout with bytes out; stderr is checked as the `optout` fixture does."""
    completed = subprocess.run([binary(), *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True, cwd=cwd,
                               timeout=60)
    assert NUMBER_IN_TEXT.search(completed.stderr.decode("utf-8", "replace")) is None, completed
    assert completed.returncode in (0, 1, 2), completed
    return completed


def lines(numbers, end="\n"):
    return "".join(n + end for n in numbers).encode()


def read_portable(data):
    """The members of a Roaring bitmap in the portable serialization, ascending, and the count of each
    container kind: {"array": n, "bitmap": n, "run": n}."""
    cookie = struct.unpack_from("<I", data, 0)[0]
    pos = 4
    if cookie & 0xFFFF == 12347:  # with run containers: a bitset says which
        count = (cookie >> 16) + 1
        run_flags = data[pos:pos + (count + 7) // 8]
        pos += (count + 7) // 8
        is_run = [run_flags[i // 8] >> (i % 8) & 1 for i in range(count)]
        has_offsets = count >= 4
    else:
        assert cookie == 12346, cookie
        count = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        is_run = [0] * count
        has_offsets = True
    header = [struct.unpack_from("<HH", data, pos + 4 * i) for i in range(count)]
    pos += 4 * count + (4 * count if has_offsets else 0)
    members, kinds = [], {"array": 0, "bitmap": 0, "run": 0}
    for i, (key, cardinality_minus_1) in enumerate(header):
        high, cardinality = key << 16, cardinality_minus_1 + 1
        if is_run[i]:
            kinds["run"] += 1
            runs = struct.unpack_from("<H", data, pos)[0]
            pos += 2
            for _ in range(runs):
                start, length = struct.unpack_from("<HH", data, pos)
                pos += 4
                members.extend(high | v for v in range(start, start + length + 1))
        elif cardinality <= 4096:
            kinds["array"] += 1
            members.extend(high | v for v in struct.unpack_from(f"<{cardinality}H", data, pos))
            pos += 2 * cardinality
        else:
            kinds["bitmap"] += 1
            for w, word in enumerate(struct.unpack_from("<1024Q", data, pos)):
                members.extend(high | (w * 64 + b) for b in range(64) if word >> b & 1)
            pos += 8192
    assert pos == len(data), (pos, len(data))
    assert members == sorted(set(members))
    return members, kinds


def stems(numbers):
    return [int(n) // 10 for n in numbers]


def build(directory, *args):
    completed = subprocess.run([binary(), "build", *map(str, args), "-q"], cwd=directory, capture_output=True,
                               timeout=120)
    assert completed.returncode == 0, completed


@pytest.fixture(scope="module")
def regs(tmp_path_factory):
    """small.optout: national (deny), cleared (allow), empty (deny, no numbers); samples.optout: the
    committed samples' lists; dense.optout: one list with bitmap, run and array containers."""
    d = tmp_path_factory.mktemp("export")
    # Unsorted sources, in every accepted shape: the export is sorted and normalised.
    (d / "national.txt").write_text(f"{NATIONAL[3]}\n{NATIONAL[0][:3]} {NATIONAL[0][3:6]} {NATIONAL[0][6:]}\n"
                                    f"{NATIONAL[4]}\n{NATIONAL[1]}\r\n{NATIONAL[2]}\n{NATIONAL[1]}\n")
    (d / "cleared.dat").write_text("".join(n + ",\n" for n in reversed(CLEARED)))
    (d / "empty.txt").write_text("")
    build(d, "--list", "national=national.txt", "--allow", "cleared=cleared.dat", "--list", "empty=empty.txt",
          "-o", "small.optout")
    build(d, "--list", f"national={SAMPLES / 'national.txt'}", "--list", f"type1={SAMPLES / 'type1.txt'}",
          "--allow", f"cleared={SAMPLES / 'cleared.dat'}", "-o", "samples.optout")
    block = 6000 << 16  # every valid stem of four 65536-stem blocks (2.6 MB of text), and of a short range
    dense = [nhs(s) for s in range(block, block + 4 * 65536) if check_digit(s) is not None]
    dense += [nhs(s) for s in range(500_000_000, 500_000_300) if check_digit(s) is not None]
    dense += NUMS
    (d / "dense.txt").write_text("".join(n + "\n" for n in dense))
    build(d, "--list", "dense=dense.txt", "-o", "dense.optout")
    return d


# ---- Formats --------------------------------------------------------------------------------------

def test_text_is_ten_digit_numbers_ascending(regs):
    result = run_raw("export", regs / "small.optout", "--list", "national", "--format", "text")
    assert (result.returncode, result.stdout) == (0, lines(NATIONAL)), result
    assert result.stderr == b"optout export: 5 numbers of list 'national' written to <stdout> (text, 55 bytes)\n"


def test_mesh_is_the_check_service_dat_form(regs):
    result = run_raw("export", regs / "small.optout", "--list", "cleared", "--format", "mesh", "-q")
    assert (result.returncode, result.stdout, result.stderr) == (0, lines(CLEARED, ",\n"), b""), result


def test_roaring_is_the_default_and_holds_stems(regs):
    result = run_raw("export", regs / "small.optout", "--list", "national", "-q")
    assert result.returncode == 0, result
    members, kinds = read_portable(result.stdout)
    assert members == stems(NATIONAL)
    assert kinds == {"array": 5, "bitmap": 0, "run": 0}  # five numbers far apart: one container each
    assert result.stdout == run_raw("export", regs / "small.optout", "--list", "national", "--format", "roaring",
                                    "-q").stdout


def test_roaring_holds_every_container_kind(regs):
    result = run_raw("export", regs / "dense.optout", "--list", "dense", "-q")
    assert result.returncode == 0, result
    members, kinds = read_portable(result.stdout)
    text = run_raw("export", regs / "dense.optout", "--list", "dense", "--format", "text", "-q").stdout
    assert members == stems(text.decode().split())
    assert kinds["bitmap"] >= 1 and kinds["run"] >= 1 and kinds["array"] >= 1, kinds


def test_samples_round_trip(regs):
    """The committed samples: each list's export is its source file's numbers, sorted."""
    registry = regs / "samples.optout"
    for name, source, end in [("national", "national.txt", "\n"), ("type1", "type1.txt", "\n"),
                              ("cleared", "cleared.dat", ",\n")]:
        numbers = sorted(line.rstrip(",") for line in (SAMPLES / source).read_text().split())
        fmt = "mesh" if end == ",\n" else "text"
        result = run_raw("export", registry, "--list", name, "--format", fmt, "-q")
        assert (result.returncode, result.stdout) == (0, lines(numbers, end)), name
        roaring = run_raw("export", registry, "--list", name, "-q")
        assert read_portable(roaring.stdout)[0] == stems(numbers), name
    assert len(numbers) == 1880


def test_empty_list(regs):
    text = run_raw("export", regs / "small.optout", "--list", "empty", "--format", "text")
    assert (text.returncode, text.stdout) == (0, b""), text
    assert text.stderr == b"optout export: 0 numbers of list 'empty' written to <stdout> (text, 0 bytes)\n"
    roaring = run_raw("export", regs / "small.optout", "--list", "empty", "-q")
    assert roaring.stdout == struct.pack("<II", 12346, 0)
    assert read_portable(roaring.stdout) == ([], {"array": 0, "bitmap": 0, "run": 0})


# ---- Output files -----------------------------------------------------------------------------------

def test_output_file_is_written_and_stdout_stays_empty(regs, tmp_path):
    out = tmp_path / "national.roaring"
    result = run_raw("export", regs / "small.optout", "--list", "national", "-o", out)
    assert (result.returncode, result.stdout) == (0, b""), result
    size = out.stat().st_size
    assert result.stderr == f"optout export: 5 numbers of list 'national' written to {out} (roaring, {size} bytes)\n" \
        .encode()
    assert read_portable(out.read_bytes())[0] == stems(NATIONAL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["national.roaring"]  # no temporary file left


def test_dash_means_stdout(regs):
    result = run_raw("export", regs / "small.optout", "--list", "cleared", "--format", "text", "-o", "-", "-q")
    assert (result.returncode, result.stdout) == (0, lines(CLEARED)), result


def test_failure_leaves_an_existing_output_untouched(regs, tmp_path):
    out = tmp_path / "out.txt"
    out.write_bytes(b"old\n")
    result = run_raw("export", regs / "small.optout", "--list", "objections", "-o", out)
    assert result.returncode == 1, result
    assert out.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_missing_output_directory(regs, tmp_path):
    out = tmp_path / "no-such-dir" / "out.txt"
    result = run_raw("export", regs / "small.optout", "--list", "national", "-o", out)
    assert (result.returncode, result.stdout) == (1, b""), result
    assert result.stderr == f"optout export: {out}: cannot create: No such file or directory\n".encode()
    assert not out.parent.exists()


def test_closed_pipe_ends_quietly_with_sigpipe(regs):
    command = (f"{shlex.quote(binary())} export {shlex.quote(str(regs / 'dense.optout'))} --list dense "
               "--format text | head -c 100 > /dev/null")
    shell = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, timeout=60)
    assert (shell.returncode, shell.stderr) == (141, b""), shell
    proc = subprocess.Popen([binary(), "export", str(regs / "dense.optout"), "--list", "dense", "--format", "text"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(proc.stdout.read(110)) == 110
    proc.stdout.close()
    assert proc.wait(timeout=60) == -signal.SIGPIPE
    assert proc.stderr.read() == b""
    proc.stderr.close()


# ---- Errors -----------------------------------------------------------------------------------------

def test_unknown_list_fails_naming_the_lists(optout, regs, tmp_path):
    registry = regs / "small.optout"
    result = optout("export", registry, "--list", "objections", "--format", "text")
    assert (result.code, result.stdout) == (1, ""), result
    assert result.stderr == (f"optout export: {registry}: no list named 'objections' in the registry "
                             "(it has: cleared, empty, national)\n")


def test_a_list_name_that_looks_like_an_nhs_number_is_redacted(optout, regs):
    registry = regs / "small.optout"
    result = optout("export", registry, "--list", NUMS[11])  # the fixture checks stderr too
    assert (result.code, result.stdout) == (1, ""), result
    assert result.stderr == (f"optout export: {registry}: no list named '[redacted]' in the registry "
                             "(it has: cleared, empty, national)\n")


def test_unreadable_and_corrupt_registries(optout, regs, tmp_path):
    missing = tmp_path / "missing.optout"
    result = optout("export", missing, "--list", "national", "-o", tmp_path / "out")
    assert (result.code, result.stdout) == (1, ""), result
    assert result.stderr == f"optout export: {missing}: cannot open: No such file or directory\n"
    corrupt = tmp_path / "corrupt.optout"
    data = bytearray((regs / "small.optout").read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    result = optout("export", corrupt, "--list", "national", "-o", tmp_path / "out")
    assert (result.code, result.stderr) == (1, f"optout export: {corrupt}: checksum mismatch\n"), result
    result = optout("export", SAMPLES / "national.txt", "--list", "national")
    assert result.code == 1, result
    assert result.stderr == f"optout export: {SAMPLES / 'national.txt'}: not an optout registry snapshot\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args,problem", [
    ([], "REGISTRY is required"),
    (["REG"], "--list is required"),
    (["REG", "--list", "national", "--format", "dat"], "--format: dat not in {roaring,text,mesh}"),
    (["REG", "--list"], "--list: 1 required NAME missing"),
    (["REG", "--list", "national", "--bogus"], "the following argument was not expected: --bogus"),
    (["REG", "--list", "two words"], "list name: byte 4 is not a letter, digit, '_', '.' or '-'"),
    (["REG", "--list", ""], "list name is empty"),
])
def test_usage_errors(optout, regs, args, problem):
    args = [regs / "small.optout" if a == "REG" else a for a in args]
    assert assert_usage_error(optout("export", *args), "export") == problem


def test_help_says_the_bitmap_holds_stems(optout):
    result = optout("export", "--help")
    assert result.code == 0, result
    assert "STEMS, NOT NHS NUMBERS" in result.stdout
    assert "optout export [OPTIONS] REGISTRY" in result.stdout
    for text in ["--list NAME", "--format", "roaring", "text", "mesh", "-o,--output FILE"]:
        assert text in result.stdout, text


# ---- Outputs apart from inputs, never empty (issues 10.6, 15.8) ----------------------------------

def test_output_naming_the_registry_is_refused(optout, regs, tmp_path):
    """Issue 10.6: `export reg.optout ... -o reg.optout` replaced the registry it read."""
    reg = tmp_path / "reg.optout"
    reg.write_bytes((regs / "small.optout").read_bytes())
    result = optout("export", "reg.optout", "--list", "national", "-o", "./reg.optout", cwd=tmp_path)
    assert assert_usage_error(result, "export") == \
        "reg.optout and ./reg.optout are one file: an output would overwrite an input"
    assert reg.read_bytes() == (regs / "small.optout").read_bytes()


def test_empty_output_path_is_a_usage_error(optout, regs):
    """Issue 15.8: -o "" wrote the list to standard output."""
    result = optout("export", regs / "small.optout", "--list", "national", "--format", "text", "-o", "")
    assert assert_usage_error(result, "export") == "an empty output path: give a file name"
