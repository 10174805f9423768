"""optout filter writing compressed output (issue 13 part 2): -o x.csv.gz / x.csv.zst, --compress,
--level. Decompressed by the gzip and zstd programs, the output must be byte for byte the
uncompressed run's, for every codec, thread count and block size; the audit record's output digest
stays over the uncompressed bytes, with the compressed file's own beside it.
"""

import ctypes
import ctypes.util
import json
import random
import shutil
import subprocess

import pytest

from conftest import Run, assert_usage_error, binary, valid_numbers

NUMS = valid_numbers(20, seed=1307)
LISTED = NUMS[:5]
KEPT = NUMS[5:]

pytestmark = pytest.mark.skipif(not (shutil.which("gzip") and shutil.which("zstd")),
                                reason="needs the gzip and zstd programs")


class _Hash128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


def xxh128(data):
    """XXH3-128 as the audit record writes it (high half first), from the system's libxxhash."""
    lib = ctypes.CDLL(ctypes.util.find_library("xxhash"))
    lib.XXH3_128bits.restype = _Hash128
    lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    h = lib.XXH3_128bits(data, len(data))
    return f"{h.high64:016x}{h.low64:016x}"


def decompress(codec, data):
    program = {"gzip": ["gzip", "-dc"], "zstd": ["zstd", "-dcq"]}[codec]
    completed = subprocess.run(program, input=data, capture_output=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def extract(rows=4000, seed=13):
    """A seeded extract: kept, removed and rejected rows, quoted newlines, CRLF."""
    rng = random.Random(seed)
    out = ["id,nhs_number,notes\r\n"]
    for i in range(rows):
        number = rng.choice(LISTED + KEPT * 3 + ["", "12345"])
        notes = rng.choice(["plain", '"a, b\nc"', "x" * rng.randint(0, 300)])
        out.append(f"{i},{number},{notes}" + rng.choice(["\n", "\r\n"]))
    return "".join(out).encode()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("compressed")
    (d / "listed.txt").write_text("".join(n + "\n" for n in LISTED))
    built = subprocess.run([binary(), "build", "--list", "national=listed.txt", "-o", "deny.optout", "-q"],
                           cwd=d, capture_output=True, timeout=60)
    assert built.returncode == 0, built
    (d / "in.csv").write_bytes(extract())
    plain = subprocess.run([binary(), "filter", "-r", "deny.optout", "--column", "nhs_number", "in.csv",
                            "-o", "plain.csv", "--rejects", "plain-rejects.csv", "-q"],
                           cwd=d, capture_output=True, timeout=60)
    assert plain.returncode == 0, plain
    return d


def run(setup, *args, stdin=None):
    return subprocess.run([binary(), "filter", "-r", "deny.optout", "--column", "nhs_number", *map(str, args)],
                          cwd=setup, input=stdin, capture_output=True, timeout=120)


@pytest.mark.parametrize("codec,suffix", [("gzip", ".gz"), ("zstd", ".zst")])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block", ["1", "1000", "65536"])
def test_suffix_compresses_output_and_rejects_to_the_plain_runs_bytes(setup, codec, suffix, threads, block):
    out, rejects = f"out-{threads}-{block}.csv{suffix}", f"rej-{threads}-{block}.csv{suffix}"
    done = run(setup, "in.csv", "-o", out, "--rejects", rejects, "--threads", threads, "--block-size", block,
               "-q")
    assert done.returncode == 0, done
    assert done.stderr == b""
    assert decompress(codec, (setup / out).read_bytes()) == (setup / "plain.csv").read_bytes()
    assert decompress(codec, (setup / rejects).read_bytes()) == (setup / "plain-rejects.csv").read_bytes()


@pytest.mark.parametrize("codec,level", [("gzip", 0), ("gzip", 1), ("gzip", 3), ("zstd", 1), ("zstd", 19)])
def test_compress_to_standard_output_at_every_level(setup, codec, level):
    done = run(setup, "-", "--compress", codec, "--level", level, "-q", stdin=(setup / "in.csv").read_bytes())
    assert done.returncode == 0, done
    assert decompress(codec, done.stdout) == (setup / "plain.csv").read_bytes()


def test_compress_none_overrides_the_suffix(setup):
    done = run(setup, "in.csv", "-o", "override.csv.gz", "--compress", "none", "-q")
    assert done.returncode == 0, done
    assert (setup / "override.csv.gz").read_bytes() == (setup / "plain.csv").read_bytes()


@pytest.mark.parametrize("args,message", [
    (["-o", "bad.csv.gz", "--level", "4"], "the gzip level must be from 0 to 3"),
    (["-o", "bad.csv.gz", "--level", "-1"], "the gzip level must be from 0 to 3"),
    (["-o", "bad.csv.zst", "--level", "0"], "the zstd level must be from 1 to 19"),
    (["-o", "bad.csv.zst", "--level", "20"], "the zstd level must be from 1 to 19"),
    (["--compress", "zstd", "--level", "22"], "the zstd level must be from 1 to 19"),
    (["-o", "bad.csv", "--level", "3"],
     "a compression level needs a compressed output (a .gz or .zst name, or a compression)"),
    (["--compress", "xz"], "the compression is gzip, zstd or none"),
])
def test_bad_compression_options_are_usage_errors_and_write_nothing(setup, args, message):
    done = run(setup, "in.csv", *args)
    result = Run(done)
    assert assert_usage_error(result, "filter") == message
    assert not (setup / "bad.csv.gz").exists() and not (setup / "bad.csv.zst").exists()
    assert not (setup / "bad.csv").exists()


def test_audit_digest_is_over_the_uncompressed_bytes_and_records_the_files(setup):
    (setup / "audit.jsonl").unlink(missing_ok=True)
    done = run(setup, "in.csv", "-o", "audited.csv.zst", "--audit", "audit.jsonl", "-q")
    assert done.returncode == 0, done
    plain_run = run(setup, "in.csv", "-o", "audited.csv", "--audit", "audit.jsonl", "-q")
    assert plain_run.returncode == 0, plain_run
    records = [json.loads(line) for line in (setup / "audit.jsonl").read_text().splitlines()]
    compressed, plain = [r for r in records if r.get("outcome") == "ok"][-2:]
    data = (setup / "audited.csv.zst").read_bytes()
    assert compressed["output_xxh3_128"] == plain["output_xxh3_128"] == xxh128((setup / "plain.csv").read_bytes())
    assert compressed["output_bytes"] == plain["output_bytes"] == (setup / "plain.csv").stat().st_size
    assert compressed["output_compressed_xxh3_128"] == xxh128(data)
    assert compressed["output_compressed_bytes"] == len(data)
    assert "output_compressed_xxh3_128" not in plain


@pytest.mark.parametrize("name", ["broken.csv.gz", "broken.csv.zst"])
def test_a_failure_mid_run_leaves_no_output(setup, name):
    (setup / "broken.csv").write_bytes(extract(rows=3000, seed=5) + b'1,2,"unterminated\n')
    done = run(setup, "broken.csv", "-o", name, "--rejects", "r-" + name, "--block-size", "4096")
    assert done.returncode == 1, done
    assert b"unterminated quoted field" in done.stderr
    assert not (setup / name).exists()
    assert not (setup / ("r-" + name)).exists()
    assert not [p for p in setup.iterdir() if p.name.startswith(".")]
