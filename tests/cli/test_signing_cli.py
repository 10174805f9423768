"""Issue 12, parts 1 and 2: keygen, build --sign and --as-of, the trust options (--trust,
OPTOUT_TRUST, --expect-digest) on check, export and info, and what info shows of signer and
provenance. The signature of a signed snapshot is also checked here independently of the engine,
with Python's hashlib and the cryptography package.
"""

import hashlib
import json
import os
import re
import struct
from pathlib import Path

import pytest

from conftest import valid_numbers, write_lines

DIGITS = re.compile(r"\d{10}")  # what conftest's stderr check would take for an NHS number


def keygen(optout, directory, name):
    """A new key pair NAME in directory; its key id. A key id with 10 digits in a row (about one
    in 16) would trip the stderr check on messages that name it, so such a key is made again."""
    for _ in range(50):
        result = optout("keygen", "-o", name, cwd=directory)
        assert result.code == 0, result
        key_id = result.stdout.splitlines()[0].split()[-1]
        if not DIGITS.search(key_id):
            return key_id
        (Path(directory) / f"{name}.key").unlink()
        (Path(directory) / f"{name}.pub").unlink()
    raise AssertionError("no key id without 10 digits in a row in 50 tries")


def info_json(optout, directory, *args):
    result = optout("info", "--json", *args, cwd=directory)
    assert (result.code, result.stderr) == (0, ""), result
    return json.loads(result.stdout)


@pytest.fixture
def signed(optout, tmp_path):
    """Keys a and b; signed.optout (signed by a, with an as-of date) and unsigned.optout."""
    nums = valid_numbers(12, seed=12)
    write_lines(tmp_path / "ndoo.dat", [n + "," for n in nums[:8]])
    write_lines(tmp_path / "t1.txt", nums[8:10])
    ids = {"a": keygen(optout, tmp_path, "a"), "b": keygen(optout, tmp_path, "b")}
    result = optout("build", "--list", "national=ndoo.dat", "--list", "type1=t1.txt",
                    "--as-of", "national=2026-11-24", "--sign", "a.key", "-o", "signed.optout", cwd=tmp_path)
    assert result.code == 0, result
    assert f"optout build: signed with key {ids['a']}" in result.stderr.splitlines(), result
    result = optout("build", "--list", "national=ndoo.dat", "-q", "-o", "unsigned.optout", cwd=tmp_path)
    assert (result.code, result.stderr) == (0, ""), result
    return {"dir": tmp_path, "ids": ids, "numbers": nums}


def assert_one_line_error(result, command, message, code=1):
    assert result.code == code, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    if code == 2:
        assert lines == [f"optout {command}: {message}", f"see 'optout {command} --help'"], result
    else:
        assert lines == [f"optout {command}: {message}"], result


# ---- keygen ---------------------------------------------------------------------------------------

def test_keygen_writes_a_pair_and_prints_its_key_id(optout, tmp_path):
    result = optout("keygen", "-o", "k", cwd=tmp_path)
    assert (result.code, result.stderr) == (0, ""), result
    lines = result.stdout.splitlines()
    assert lines[1:] == ["secret key:  k.key", "public key:  k.pub"]
    public = (tmp_path / "k.pub").read_text()
    secret = (tmp_path / "k.key").read_text()
    assert re.fullmatch(r"optout public key ed25519 [0-9a-f]{64}\n", public)
    assert re.fullmatch(r"optout secret key ed25519 [0-9a-f]{64}\n", secret)
    key_id = hashlib.sha256(bytes.fromhex(public.split()[-1])).hexdigest()[:16]
    assert lines[0] == f"key id:      {key_id}"
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k.pub").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("existing", ["k.key", "k.pub"])
def test_keygen_never_overwrites_and_leaves_no_half_pair(optout, tmp_path, existing):
    (tmp_path / existing).write_text("keep")
    result = optout("keygen", "-o", "k", cwd=tmp_path)
    assert_one_line_error(result, "keygen", f"{existing}: already exists (a key is never overwritten)")
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert (tmp_path / existing).read_text() == "keep"


def test_keygen_needs_a_name(optout, tmp_path):
    result = optout("keygen", cwd=tmp_path)
    assert_one_line_error(result, "keygen", "--output is required", code=2)
    result = optout("keygen", "-o", "", cwd=tmp_path)
    assert_one_line_error(result, "keygen", "the key name is empty", code=2)
    assert list(tmp_path.iterdir()) == []


# ---- build --sign, --as-of --------------------------------------------------------------------------

def test_signed_snapshot_verifies_independently(signed):
    """The SIGNATURE section, read by hand: the last section, key id and public key of a.pub, and an
    Ed25519 signature over the domain string and the SHA-256 tree hash of every byte before it."""
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    data = (signed["dir"] / "signed.optout").read_bytes()
    count = struct.unpack_from("<I", data, 32)[0]
    kind, flags, offset, length = struct.unpack_from("<IIQQ", data, 64 + 24 * (count - 1))
    assert (kind, flags, length) == (4, 0, 112)
    assert offset == len(data) - 16 - 112
    algorithm, reserved = struct.unpack_from("<II", data, offset)
    assert (algorithm, reserved) == (1, 0)
    public = bytes.fromhex((signed["dir"] / "a.pub").read_text().split()[-1])
    assert data[offset + 8:offset + 16].hex() == signed["ids"]["a"]
    assert data[offset + 16:offset + 48] == public
    signed_bytes = data[:offset]
    mib = 1 << 20
    tree = struct.pack("<Q", len(signed_bytes)) + b"".join(
        hashlib.sha256(signed_bytes[i:i + mib]).digest() for i in range(0, len(signed_bytes), mib))
    message = b"optout registry signature v1\0" + hashlib.sha256(tree).digest()
    ed25519.Ed25519PublicKey.from_public_bytes(public).verify(data[offset + 48:offset + 112], message)
    # The PROVENANCE section before it: the canonical JSON.
    kind, flags, offset, length = struct.unpack_from("<IIQQ", data, 64 + 24 * (count - 2))
    assert (kind, flags) == (3, 0)
    provenance = json.loads(data[offset:offset + length])
    assert [(e["name"], e.get("as_of")) for e in provenance["lists"]] == [("national", "2026-11-24"), ("type1", None)]


def test_info_json_shows_signer_and_provenance(optout, signed):
    d = signed["dir"]
    info = info_json(optout, d, "signed.optout")
    public = (d / "a.pub").read_text().split()[-1]
    assert info["signer"] == {"key_id": signed["ids"]["a"], "public_key": public}
    assert info["trusted"] is None and info["trust_problem"] is None
    assert info["digest_expected"] is None and info["digest_problem"] is None
    assert info["data_as_of"] == "2026-11-24T00:00:00Z"
    national, type1 = info["lists"]
    assert national["as_of"] == "2026-11-24"
    ndoo = (d / "ndoo.dat").read_bytes()
    assert national["sources"] == [{"file": "ndoo.dat", "op": "add", "bytes": len(ndoo),
                                    "xxh3_128": national["sources"][0]["xxh3_128"], "lines": 8, "numbers": 8}]
    assert re.fullmatch(r"[0-9a-f]{32}", national["sources"][0]["xxh3_128"])
    assert type1["as_of"] is None
    assert [(s["file"], s["op"], s["lines"], s["numbers"]) for s in type1["sources"]] == [("t1.txt", "add", 2, 2)]

    unsigned = info_json(optout, d, "unsigned.optout")
    assert unsigned["signer"] is None
    assert unsigned["data_as_of"] == unsigned["created_at"]


def test_info_reports_trust_without_failing(optout, signed, monkeypatch):
    d, ids = signed["dir"], signed["ids"]
    monkeypatch.delenv("OPTOUT_TRUST", raising=False)
    info = info_json(optout, d, "--trust", "a.pub", "signed.optout")
    assert (info["trusted"], info["trust_problem"]) == (True, None)
    info = info_json(optout, d, "--trust", "b.pub", "signed.optout")
    assert info["trusted"] is False
    assert info["trust_problem"] == (f"signed.optout: signed by key {ids['a']}, which is not trusted "
                                     f"(trusted: {ids['b']})")
    info = info_json(optout, d, "--trust", "b.pub", "--trust", "a.pub", "unsigned.optout")
    assert info["trust_problem"] == "unsigned.optout: unsigned: a registry signed by a trusted key is required"
    monkeypatch.setenv("OPTOUT_TRUST", "b.pub:a.pub")
    assert info_json(optout, d, "signed.optout")["trusted"] is True

    monkeypatch.delenv("OPTOUT_TRUST")
    result = optout("info", "--trust", "b.pub", "signed.optout", cwd=d)
    assert (result.code, result.stderr) == (0, ""), result
    lines = result.stdout.splitlines()
    assert lines[10] == f"signer:          key {ids['a']} (signature verifies)"
    assert lines[11] == (f"trusted:         no: signed.optout: signed by key {ids['a']}, which is not trusted "
                         f"(trusted: {ids['b']})")
    assert lines[9] == "data as of:      2026-11-24T00:00:00Z"
    table = lines[lines.index("") + 1:]
    provenance = table[table.index("") + 1:]
    assert provenance[0].split() == ["LIST", "AS", "OF", "OP", "BYTES", "LINES", "NUMBERS", "XXH3-128", "FILE"]
    rows = [row.split() for row in provenance[1:]]
    assert [row[:6] + row[7:] for row in rows] == [
        ["national", "2026-11-24", "add", str(len((d / "ndoo.dat").read_bytes())), "8", "8", "ndoo.dat"],
        ["type1", "-", "add", str(len((d / "t1.txt").read_bytes())), "2", "2", "t1.txt"],
    ]

    digest = info_json(optout, d, "signed.optout")["digest"]
    result = optout("info", "--expect-digest", digest.upper(), "signed.optout", cwd=d)
    assert result.code == 0 and "digest pinned:   yes" in result.stdout.splitlines(), result
    info = info_json(optout, d, "--expect-digest", "ab" * 16, "signed.optout")
    assert info["digest_expected"] is False
    assert info["digest_problem"] == f"signed.optout: digest {digest} is not the expected {'ab' * 16}"


def test_build_as_of_errors(optout, signed):
    d = signed["dir"]
    cases = [
        (["--as-of", "national"], 2, "--as-of: expected LIST=YYYY-MM-DD, got a value without '='"),
        (["--as-of", "national=2026-02-30"], 2, "the as-of date takes YYYY-MM-DD, e.g. 2026-11-24"),
        (["--as-of", "national=2026-1-05"], 2, "the as-of date takes YYYY-MM-DD, e.g. 2026-11-24"),
        (["--as-of", "national=2026-11-24x"], 2, "the as-of date takes YYYY-MM-DD, e.g. 2026-11-24"),
        (["--as-of", "bad/name=2026-11-24"], 2, "list name: byte 4 is not a letter, digit, '_', '.' or '-'"),
    ]
    for extra, code, message in cases:
        result = optout("build", "--list", "national=ndoo.dat", *extra, "-o", "out.optout", cwd=d)
        assert_one_line_error(result, "build", message, code=code)
        assert not (d / "out.optout").exists()
    result = optout("build", "--list", "national=ndoo.dat", "--as-of", "other=2026-11-24", "-q",
                    "-o", "out.optout", cwd=d)
    assert result.code == 1, result
    assert result.stderr == "optout build: as-of date for list 'other': no list of that name in the registry\n"
    assert not (d / "out.optout").exists()


def test_delta_build_keeps_provenance_and_replaces_as_of(optout, signed):
    d = signed["dir"]
    write_lines(d / "day2.dat", [signed["numbers"][11]])
    result = optout("build", "--base", "signed.optout", "--add", "national=day2.dat", "--as-of",
                    "national=2026-12-01", "-q", "-o", "day2.optout", cwd=d)
    assert (result.code, result.stderr) == (0, ""), result
    info = info_json(optout, d, "day2.optout")
    assert info["signer"] is None  # a delta is signed only when asked
    national = info["lists"][0]
    assert national["as_of"] == "2026-12-01"
    assert [s["file"] for s in national["sources"]] == ["ndoo.dat", "day2.dat"]
    assert info["data_as_of"] == "2026-12-01T00:00:00Z"


@pytest.mark.parametrize("key, message", [
    ("a.pub", "a.pub: a public key, where a secret key (NAME.key) is needed"),
    ("short.key", "short.key: not an optout key file (4 bytes; a key file is one line of 91 bytes, "
                  "made by optout keygen)"),
    ("missing.key", None),
])
def test_build_sign_with_a_bad_key_writes_nothing(optout, signed, key, message):
    d = signed["dir"]
    (d / "short.key").write_text("abc\n")
    result = optout("build", "--list", "national=ndoo.dat", "--sign", key, "-o", "out.optout", cwd=d)
    assert result.code == 1, result
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result
    if message:
        assert result.stderr == f"optout build: {message}\n"
    else:
        assert result.stderr.startswith("optout build: missing.key: "), result
    assert not (d / "out.optout").exists()


def test_build_never_writes_over_its_key(optout, signed):
    d = signed["dir"]
    before = (d / "a.key").read_bytes()
    result = optout("build", "--list", "national=ndoo.dat", "--sign", "a.key", "-o", "a.key", cwd=d)
    assert result.code != 0, result
    assert (d / "a.key").read_bytes() == before


# ---- the trust gate and the digest pin on check and export ------------------------------------------

def run_command(optout, d, command, registry, *extra):
    if command == "check":
        return optout("check", "--registry", registry, *extra, "--json", "4010232137", cwd=d)
    return optout("export", registry, "--list", "national", "--format", "text", "-o", "out.txt", *extra, cwd=d)


@pytest.mark.parametrize("command", ["check", "export"])
def test_trusted_registry_passes(optout, signed, command, monkeypatch):
    d = signed["dir"]
    monkeypatch.delenv("OPTOUT_TRUST", raising=False)
    result = run_command(optout, d, command, "signed.optout", "--trust", "b.pub", "--trust", "a.pub")
    assert result.code == 0, result
    if command == "export":
        assert (d / "out.txt").read_text().splitlines() == sorted(signed["numbers"][:8])
    monkeypatch.setenv("OPTOUT_TRUST", str(d / "a.pub"))
    assert run_command(optout, d, command, "signed.optout").code == 0
    # No --trust and no OPTOUT_TRUST: signed or not, nothing is checked.
    monkeypatch.delenv("OPTOUT_TRUST")
    assert run_command(optout, d, command, "unsigned.optout").code == 0


@pytest.mark.parametrize("command", ["check", "export"])
def test_untrusted_registry_is_refused_with_no_output(optout, signed, command, monkeypatch):
    d, ids = signed["dir"], signed["ids"]
    monkeypatch.delenv("OPTOUT_TRUST", raising=False)
    wrong_key = f"signed.optout: signed by key {ids['a']}, which is not trusted (trusted: {ids['b']})"
    unsigned = "unsigned.optout: unsigned: a registry signed by a trusted key is required"
    assert_one_line_error(run_command(optout, d, command, "signed.optout", "--trust", "b.pub"), command, wrong_key)
    assert_one_line_error(run_command(optout, d, command, "unsigned.optout", "--trust", "a.pub"), command, unsigned)
    monkeypatch.setenv("OPTOUT_TRUST", "b.pub")
    assert_one_line_error(run_command(optout, d, command, "signed.optout"), command, wrong_key)
    # --trust replaces OPTOUT_TRUST.
    assert run_command(optout, d, command, "signed.optout", "--trust", "a.pub").code == 0
    (d / "out.txt").unlink(missing_ok=True)
    monkeypatch.setenv("OPTOUT_TRUST", "a.pub::b.pub")
    assert_one_line_error(run_command(optout, d, command, "signed.optout"), command,
                          "OPTOUT_TRUST holds an empty path (paths are separated by ':')", code=2)
    assert not (d / "out.txt").exists()


@pytest.mark.parametrize("command", ["check", "export", "info"])
@pytest.mark.parametrize("key, message", [
    ("a.key", "a.key: a secret key, where a public key (NAME.pub) is needed"),
    ("short.pub", "short.pub: not an optout key file (4 bytes; a key file is one line of 91 bytes, "
                  "made by optout keygen)"),
])
def test_bad_trusted_key_files_fail_with_one_line(optout, signed, command, key, message, monkeypatch):
    d = signed["dir"]
    monkeypatch.delenv("OPTOUT_TRUST", raising=False)
    (d / "short.pub").write_text("abc\n")
    if command == "info":
        result = optout("info", "--trust", key, "signed.optout", cwd=d)
    else:
        result = run_command(optout, d, command, "signed.optout", "--trust", key)
    assert_one_line_error(result, command, message)
    assert not (d / "out.txt").exists()


def digest_without_digit_runs(optout, d):
    """A registry (pinned.optout) whose digest has no 10 digits in a row, and that digest: messages
    quote it, and conftest's stderr check would take such a run for an NHS number."""
    for i in range(50):
        result = optout("build", "--list", "national=ndoo.dat", "--description", f"d{i}", "-q",
                        "-o", "pinned.optout", cwd=d)
        assert result.code == 0, result
        digest = info_json(optout, d, "pinned.optout")["digest"]
        if not DIGITS.search(digest):
            return digest
    raise AssertionError("no digest without 10 digits in a row in 50 tries")


@pytest.mark.parametrize("command", ["check", "export"])
def test_expected_digest(optout, signed, command, monkeypatch):
    d = signed["dir"]
    monkeypatch.delenv("OPTOUT_TRUST", raising=False)
    digest = digest_without_digit_runs(optout, d)
    assert run_command(optout, d, command, "pinned.optout", "--expect-digest", digest.upper()).code == 0
    (d / "out.txt").unlink(missing_ok=True)
    other = "cd" * 16
    assert_one_line_error(run_command(optout, d, command, "pinned.optout", "--expect-digest", other), command,
                          f"pinned.optout: digest {digest} is not the expected {other}")
    assert not (d / "out.txt").exists()
    assert_one_line_error(run_command(optout, d, command, "pinned.optout", "--expect-digest", "abc"), command,
                          "the expected digest takes 32 hex digits (optout info shows it)", code=2)
    assert not (d / "out.txt").exists()


def test_check_trust_options_need_a_registry(optout, signed):
    d = signed["dir"]
    result = optout("check", "--trust", "a.pub", "4010232137", cwd=d)
    assert_one_line_error(result, "check", "--trust needs --registry", code=2)
    result = optout("check", "--expect-digest", "ab" * 16, "4010232137", cwd=d)
    assert_one_line_error(result, "check", "--expect-digest needs --registry", code=2)


# ---- filter: trust, the digest pin, signed audit records ------------------------------------------

def extract(signed):
    """extract.csv: a listed row, a clean row and an invalid one; returns the clean row's number."""
    nums = signed["numbers"]
    (signed["dir"] / "extract.csv").write_text(f"id,nhs_number\n1,{nums[0]}\n2,{nums[11]}\n3,12345\n")
    return nums[11]


def test_filter_refuses_an_untrusted_or_unsigned_registry_and_writes_nothing(optout, signed, monkeypatch):
    d, ids = signed["dir"], signed["ids"]
    extract(signed)
    before = sorted(p.name for p in d.iterdir())
    result = optout("filter", "-r", "signed.optout", "--trust", "b.pub", "--column", "nhs_number",
                    "extract.csv", "-o", "out.csv", "--audit", "audit.jsonl", cwd=d)
    assert_one_line_error(result, "filter",
                          f"signed.optout: signed by key {ids['a']}, which is not trusted (trusted: {ids['b']})")
    monkeypatch.setenv("OPTOUT_TRUST", "a.pub")
    result = optout("filter", "-r", "unsigned.optout", "--column", "nhs_number", "extract.csv", "-o", "out.csv",
                    cwd=d)
    monkeypatch.delenv("OPTOUT_TRUST")
    assert_one_line_error(result, "filter", "unsigned.optout: unsigned: a registry signed by a trusted key is required")
    result = optout("filter", "-r", "signed.optout", "--expect-digest", "ab" * 16, "--column", "nhs_number",
                    "extract.csv", "-o", "out.csv", cwd=d)
    digest = info_json(optout, d, "signed.optout")["digest"]
    assert_one_line_error(result, "filter", f"signed.optout: digest {digest} is not the expected {'ab' * 16}")
    assert sorted(p.name for p in d.iterdir()) == before  # no output, no audit record


def test_filter_signs_its_audit_records_with_the_signer_and_as_of_dates(optout, signed):
    d, ids = signed["dir"], signed["ids"]
    clean = extract(signed)
    digest = info_json(optout, d, "signed.optout")["digest"]
    result = optout("filter", "-r", "signed.optout", "--trust", "a.pub", "--expect-digest", digest.upper(),
                    "--column", "nhs_number", "extract.csv", "-o", "out.csv", "--audit", "audit.jsonl",
                    "--sign", "b.key", "-q", cwd=d)
    assert (result.code, result.stderr) == (0, ""), result
    assert (d / "out.csv").read_text() == f"id,nhs_number\n2,{clean}\n"
    lines = (d / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        record = json.loads(line)
        assert record["registry_signer"] == ids["a"]
        assert record["lists"] == [{"name": "national", "kind": "deny", "count": 8, "as_of": "2026-11-24"},
                                   {"name": "type1", "kind": "deny", "count": 2, "as_of": None}]
        sig = record["signature"]
        assert sig["algorithm"] == "ed25519" and sig["key_id"] == ids["b"]
        # The signed bytes are the line without its signature member: check it independently.
        suffix = line[line.rindex(',"signature":'):]
        body = line[: -len(suffix)] + "}"
        assert json.loads(body) == {k: v for k, v in record.items() if k != "signature"}
        prehash = hashlib.sha256(struct.pack("<Q", len(body)) + hashlib.sha256(body.encode()).digest()).digest()
        message = b"optout audit record signature v1\0" + prehash
        ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
        public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(sig["public_key"]))
        public.verify(bytes.fromhex(sig["value"]), message)  # raises when it does not verify
    assert json.loads(lines[1])["outcome"] == "ok"


def test_filter_sign_needs_an_audit_log_and_a_secret_key(optout, signed):
    d = signed["dir"]
    extract(signed)
    result = optout("filter", "-r", "signed.optout", "--column", "nhs_number", "extract.csv", "-o", "out.csv",
                    "--sign", "a.key", cwd=d)
    assert_one_line_error(result, "filter", "signing the audit record needs an audit log", code=2)
    result = optout("filter", "-r", "signed.optout", "--column", "nhs_number", "extract.csv", "-o", "out.csv",
                    "--audit", "audit.jsonl", "--sign", "a.pub", cwd=d)
    assert_one_line_error(result, "filter", "a.pub: a public key, where a secret key (NAME.key) is needed")
    assert not (d / "out.csv").exists() and not (d / "audit.jsonl").exists()
