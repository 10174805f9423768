"""Issue 12 from Python: signed registries (trust=, OPTOUT_TRUST), the digest pin (expect_digest=),
signed audit records (sign=), provenance, and verify_file / optout.dask.verify_files, checked
against the CLI's keys, registries and messages."""

import json
import os
import pickle
import stat

import pytest

import optout
import optout.dask
from conftest import SAMPLES, build_sample_registry

NARROW = SAMPLES / "extract_narrow.csv"  # 2000 rows: 1863 kept, 137 removed by every list
DIRTY = SAMPLES / "extract_dirty.csv"  # 2000 rows: 1779 kept, 126 removed, 95 rejected


# Each test sets OPTOUT_TRUST itself when it needs it (module fixtures included).
os.environ.pop("OPTOUT_TRUST", None)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two key pairs made by optout.keygen: {"signer": (name, key id), "other": (name, key id)}."""
    folder = tmp_path_factory.mktemp("keys")
    return {name: (folder / name, optout.keygen(folder / name)) for name in ("signer", "other")}


def pub(keys, name):
    return str(keys[name][0]) + ".pub"


def secret(keys, name):
    return str(keys[name][0]) + ".key"


@pytest.fixture(scope="module")
def signed_path(cli, keys, tmp_path_factory):
    """The three sample lists, signed by "signer", national issued on 2026-11-24."""
    return build_sample_registry(cli, tmp_path_factory.mktemp("signed") / "signed.optout",
                                 ["national", "type1", "cleared"], "--sign", secret(keys, "signer"),
                                 "--as-of", "national=2026-11-24")


# ---- Keys ------------------------------------------------------------------------------------


def test_keygen_writes_a_key_pair_once(keys, tmp_path):
    name, key_id = keys["signer"]
    assert len(key_id) == 16 and set(key_id) <= set("0123456789abcdef")
    assert keys["other"][1] != key_id
    assert stat.S_IMODE(os.stat(secret(keys, "signer")).st_mode) == 0o600
    assert os.path.exists(pub(keys, "signer"))
    with pytest.raises(optout.IoError) as e:
        optout.keygen(name)
    assert str(e.value) == f"{name}.key: already exists (a key is never overwritten)"
    # Nothing half-written when the secret key's file is refused.
    assert optout.keygen(tmp_path / "fresh") != key_id


def test_trusted_keys_travel_to_workers_as_the_keys(keys):
    trusted = optout.core.trusted_keys([pub(keys, "signer"), pub(keys, "other")])
    again = pickle.loads(pickle.dumps(trusted))
    assert again.key_ids == trusted.key_ids == [keys["signer"][1], keys["other"][1]]
    with pytest.raises(TypeError):
        pickle.dumps(optout.core._secret_key(secret(keys, "signer")))


def test_key_files_of_the_wrong_kind_are_refused(keys, signed_path):
    registry = optout.load(signed_path)
    with pytest.raises(optout.InvalidInputError) as e:
        registry.check_trust(secret(keys, "signer"))
    assert str(e.value) == f"{secret(keys, 'signer')}: a secret key, where a public key (NAME.pub) is needed"
    with pytest.raises(optout.InvalidInputError) as e:
        optout.filter_file(registry, NARROW, "-", column="nhs_number", audit="never.jsonl", sign=pub(keys, "signer"))
    assert str(e.value) == f"{pub(keys, 'signer')}: a public key, where a secret key (NAME.key) is needed"


# ---- Registries: signer, provenance, trust, pin ----------------------------------------------


def test_signer_and_provenance(cli, keys, signed_path, registry_path):
    signed = optout.load(signed_path)
    assert signed.signer == keys["signer"][1]
    assert optout.load(registry_path).signer is None
    provenance = {p["list"]: p for p in signed.provenance}
    # As `optout info --json` shows it.
    info = cli.info(signed_path)
    assert info["signer"]["key_id"] == signed.signer
    assert {l["name"]: (l["as_of"], l["sources"]) for l in info["lists"]} == {
        name: (p["as_of"], p["sources"]) for name, p in provenance.items()
    }
    assert sorted(provenance) == ["cleared", "national", "type1"]
    national = provenance["national"]
    assert national["as_of"] == "2026-11-24"
    assert provenance["type1"]["as_of"] is None
    [source] = national["sources"]
    text = (SAMPLES / "national.txt").read_bytes()
    assert source["file"] == "national.txt" and source["op"] == "add"
    assert source["bytes"] == len(text)
    assert source["lines"] == text.count(b"\n")
    assert source["numbers"] == 2989
    assert len(source["xxh3_128"]) == 32


def test_check_trust(cli, keys, signed_path, registry_path, monkeypatch):
    signed, unsigned = optout.load(signed_path), optout.load(registry_path)
    signer, other = keys["signer"][1], keys["other"][1]
    signed.check_trust(pub(keys, "signer"))
    signed.check_trust([pub(keys, "other"), pub(keys, "signer")])
    unsigned.check_trust()  # no keys anywhere: nothing to check
    with pytest.raises(optout.UntrustedError) as e:
        signed.check_trust([pub(keys, "other")])
    assert str(e.value) == f"{signed_path}: signed by key {signer}, which is not trusted (trusted: {other})"
    assert e.value.code == 12 and e.value.code_name == "untrusted"
    with pytest.raises(optout.UntrustedError) as e:
        unsigned.check_trust([pub(keys, "signer")])
    assert str(e.value) == f"{registry_path}: unsigned: a registry signed by a trusted key is required"
    # The CLI says the same.
    assert cli.error("filter", "-r", registry_path, "--trust", pub(keys, "signer"), "--column", "nhs_number",
                     NARROW, "-o", "/dev/null") == str(e.value)

    # trust=None: OPTOUT_TRUST.
    monkeypatch.setenv("OPTOUT_TRUST", pub(keys, "other"))
    with pytest.raises(optout.UntrustedError):
        signed.check_trust()
    with pytest.raises(optout.UntrustedError):
        optout.load(signed_path)
    monkeypatch.setenv("OPTOUT_TRUST", f"{pub(keys, 'other')}:{pub(keys, 'signer')}")
    signed.check_trust()
    assert optout.load(signed_path).signer == signer


def test_load_applies_trust_and_the_pin(keys, signed_path, registry_path):
    digest = optout.load(signed_path).digest
    assert optout.load(signed_path, trust=[pub(keys, "signer")], expect_digest=digest.upper()).digest == digest
    with pytest.raises(optout.UntrustedError) as e:
        optout.load(signed_path, trust=[pub(keys, "other")])
    with pytest.raises(optout.UntrustedError) as e:
        optout.load(registry_path, expect_digest=digest)
    unsigned_digest = optout.load(registry_path).digest
    assert str(e.value) == f"{registry_path}: digest {unsigned_digest} is not the expected {digest}"
    with pytest.raises(optout.InvalidArgumentError):
        optout.load(registry_path, expect_digest="not hex")
    with pytest.raises(optout.UntrustedError):
        optout.load(signed_path).check_digest(unsigned_digest)


def test_frame_helpers_apply_trust_and_the_pin_before_any_row(keys, signed_path, registry_path, monkeypatch):
    import dask.dataframe as dd
    import pandas as pd

    frame = pd.read_csv(NARROW, dtype=str)
    signer, other = keys["signer"][1], keys["other"][1]
    kept = optout.pandas.filter_frame(frame, signed_path, "nhs_number", trust=[pub(keys, "signer")])
    assert (kept.counts["rows"], kept.counts["kept"]) == (2000, 1863)
    with pytest.raises(optout.UntrustedError) as e:
        optout.pandas.filter_frame(frame, signed_path, "nhs_number", trust=[pub(keys, "other")])
    assert str(e.value) == f"{signed_path}: signed by key {signer}, which is not trusted (trusted: {other})"
    with pytest.raises(optout.UntrustedError):
        optout.pandas.filter_frame(frame, signed_path, "nhs_number", expect_digest="0" * 32)
    # trust=None: the keys OPTOUT_TRUST names, for a path as for a Registry.
    monkeypatch.setenv("OPTOUT_TRUST", pub(keys, "signer"))
    with pytest.raises(optout.UntrustedError) as e:
        optout.pandas.filter_frame(frame, registry_path, "nhs_number")
    assert str(e.value) == f"{registry_path}: unsigned: a registry signed by a trusted key is required"
    parts = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(optout.UntrustedError):  # on the client, before the graph runs
        optout.dask.filter_dataframe(parts, registry_path, "nhs_number")
    with pytest.raises(optout.UntrustedError):
        optout.dask.count_verdicts(parts, registry_path, "nhs_number")
    counted = optout.dask.count_verdicts(parts, signed_path, "nhs_number").compute(scheduler="sync")
    assert (counted["rows"], counted["kept"]) == (2000, 1863)


# ---- filter_file: trust, pin, signed audit records -------------------------------------------


def test_filter_file_refuses_an_untrusted_or_unexpected_registry(keys, signed_path, tmp_path):
    signer, other = keys["signer"][1], keys["other"][1]
    out, audit = tmp_path / "out.csv", tmp_path / "audit.jsonl"
    with pytest.raises(optout.UntrustedError) as e:
        optout.filter_file(signed_path, NARROW, out, column="nhs_number", audit=audit, trust=[pub(keys, "other")])
    assert str(e.value) == f"{signed_path}: signed by key {signer}, which is not trusted (trusted: {other})"
    with pytest.raises(optout.UntrustedError) as e:
        optout.filter_file(signed_path, NARROW, out, column="nhs_number", audit=audit, expect_digest="0" * 32)
    digest = optout.load(signed_path).digest
    assert str(e.value) == f"{signed_path}: digest {digest} is not the expected {'0' * 32}"
    assert os.listdir(tmp_path) == []  # not even an audit record
    with pytest.raises(optout.InvalidArgumentError) as e:
        optout.filter_file(signed_path, NARROW, out, column="nhs_number", sign=secret(keys, "signer"))
    assert str(e.value) == "signing the audit record needs an audit log"
    assert os.listdir(tmp_path) == []


def test_signed_audit_records(cli, keys, signed_path, tmp_path):
    signer = keys["signer"][1]
    audit = tmp_path / "audit.jsonl"
    stats = optout.filter_file(signed_path, NARROW, tmp_path / "out.csv", column="nhs_number", audit=audit,
                               trust=pub(keys, "signer"), expect_digest=optout.load(signed_path).digest,
                               sign=secret(keys, "signer"))
    assert stats["kept"] == 1863
    lines = audit.read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["committing", "ok"]
    for i, line in enumerate(lines, 1):
        record = json.loads(line)
        assert record["signature"]["key_id"] == signer
        assert record["registry_signer"] == signer
        assert {"name": "national", "kind": "deny", "count": 2989, "as_of": "2026-11-24"} in record["lists"]
        assert optout.check_audit_record(line, trust=[pub(keys, "signer")], where=f"audit.jsonl:{i}") == signer
        assert optout.check_audit_record(line) == signer  # no trusted keys: the signature is still checked
        with pytest.raises(optout.UntrustedError):
            optout.check_audit_record(line, trust=[pub(keys, "other")], where=f"audit.jsonl:{i}")
    assert json.loads(lines[1])["output_xxh3_128"] == stats["output_digest"]

    # A byte changed under the signature.
    tampered = lines[1].replace('"kept":1863', '"kept":1864')
    assert tampered != lines[1]
    with pytest.raises(optout.CorruptionError) as e:
        optout.check_audit_record(tampered, where="audit.jsonl:2")
    assert str(e.value) == f"audit.jsonl:2: audit record signature does not verify (key {signer}): changed after signing"

    # An unsigned record passes without trusted keys only.
    optout.filter_file(signed_path, NARROW, tmp_path / "plain.csv", column="nhs_number", audit=tmp_path / "plain.jsonl")
    plain = (tmp_path / "plain.jsonl").read_text().splitlines()[-1]
    assert optout.check_audit_record(plain) is None
    with pytest.raises(optout.UntrustedError):
        optout.check_audit_record(plain, trust=[pub(keys, "signer")])


# ---- verify_file -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def release(keys, signed_path, tmp_path_factory):
    """The narrow extract filtered with every list, its audit log signed by "signer": (path, audit
    log, output digest)."""
    folder = tmp_path_factory.mktemp("release")
    stats = optout.filter_file(signed_path, NARROW, folder / "release.csv", column="nhs_number",
                               audit=folder / "audit.jsonl", sign=secret(keys, "signer"))
    return folder / "release.csv", folder / "audit.jsonl", stats["output_digest"]


def test_verify_a_clean_release(cli, keys, signed_path, release):
    path, audit, digest = release
    result = optout.verify_file(signed_path, path, column="nhs_number")
    assert result["clean"] is True
    assert (result["rows"], result["kept"], result["removed"], result["rejected"]) == (1863, 1863, 0, 0)
    assert result["input_xxh3_128"] == digest
    assert result["bytes_in"] == os.path.getsize(path)
    assert result["matches_written"] == 0 and "audit" not in result

    vouched = optout.verify_file(signed_path, path, column="nhs_number", audit=audit, trust=[pub(keys, "signer")])
    assert vouched["clean"] is True
    run_id = json.loads(audit.read_text().splitlines()[1])["run_id"]
    assert vouched["audit"]["line"] == 2 and vouched["audit"]["run_id"] == run_id
    assert vouched["audit"]["signer"] == keys["signer"][1]
    # The CLI's JSON is the same.
    out = cli.run("verify", "--registry", signed_path, "--column", "nhs_number", "--audit", audit,
                  "--trust", pub(keys, "signer"), "--json", path).stdout
    assert json.loads(out) == vouched


def test_verify_an_extract_that_is_not_clean(cli, signed_path, tmp_path):
    result = optout.verify_file(signed_path, NARROW, column="nhs_number", matches=tmp_path / "rows.txt")
    assert result["clean"] is False
    assert (result["rows"], result["kept"], result["removed"], result["rejected"]) == (2000, 1863, 137, 0)
    assert result["matches_written"] == 137
    rows = (tmp_path / "rows.txt").read_text().splitlines()
    assert len(rows) == 137
    # Row numbers, and the same by record_id (which numbers the rows here); never an NHS number.
    by_id = optout.verify_file(signed_path, NARROW, column="nhs_number", matches=tmp_path / "ids.txt",
                               id_column="record_id")
    assert by_id["matches_written"] == 137
    assert (tmp_path / "ids.txt").read_text().splitlines() == rows
    assert all(len(r) < 6 for r in rows)
    out = cli.run("verify", "--registry", signed_path, "--column", "nhs_number", "--json", NARROW, expect=1).stdout
    assert json.loads(out) == {**result, "matches_written": 0}

    dirty = optout.verify_file(signed_path, DIRTY, column="nhs_number", apply=["national", "type1"])
    assert dirty["clean"] is False and dirty["rejected"] == 95
    assert dirty["rejected_by_reason"] == {"empty": 30, "bad character": 13, "wrong length": 19,
                                           "wrong check digit": 33}


def test_verify_errors(keys, signed_path, release, tmp_path):
    path, audit, _ = release
    signer, other = keys["signer"][1], keys["other"][1]
    with pytest.raises(optout.UntrustedError) as e:
        optout.verify_file(signed_path, path, column="nhs_number", trust=[pub(keys, "other")])
    assert str(e.value) == f"{signed_path}: signed by key {signer}, which is not trusted (trusted: {other})"
    with pytest.raises(optout.UntrustedError):
        optout.verify_file(signed_path, path, column="nhs_number", expect_digest="0" * 32)
    # A file no record vouches for; a release changed by one byte.
    with pytest.raises(optout.UntrustedError):
        optout.verify_file(signed_path, NARROW, column="nhs_number", audit=audit)
    changed = tmp_path / "changed.csv"
    data = bytearray(path.read_bytes())
    first_row = data.index(b"\n") + 1
    data[first_row] += 1  # the first row's record_id: still a valid, clean CSV
    changed.write_bytes(bytes(data))
    assert optout.verify_file(signed_path, changed, column="nhs_number")["clean"] is True
    with pytest.raises(optout.UntrustedError):
        optout.verify_file(signed_path, changed, column="nhs_number", audit=audit)
    # --matches naming the input; the matches file is left only by a run that succeeded.
    with pytest.raises(optout.InvalidArgumentError):
        optout.verify_file(signed_path, path, column="nhs_number", matches=path)
    with pytest.raises(optout.NotFoundError):
        optout.verify_file(signed_path, path, column="nhs", matches=tmp_path / "m.txt")
    assert not (tmp_path / "m.txt").exists()


# ---- optout.dask.verify_files ----------------------------------------------------------------


def test_dask_verify_files_combines_the_files(keys, signed_path, release, tmp_path):
    path, audit, _ = release
    results = optout.dask.verify_files([path, NARROW], signed_path, column="nhs_number", trust=pub(keys, "signer"),
                                       matches_dir=tmp_path / "matches", id_column="record_id", client=False)
    one = optout.verify_file(signed_path, path, column="nhs_number")
    two = optout.verify_file(signed_path, NARROW, column="nhs_number", matches=tmp_path / "two.txt",
                             id_column="record_id")
    assert results["clean"] is False
    assert results["rows"] == one["rows"] + two["rows"] == 3863
    assert (results["kept"], results["removed"], results["rejected"]) == (3726, 137, 0)
    assert results["bytes_in"] == one["bytes_in"] + two["bytes_in"]
    assert results["matches_written"] == 137
    assert [f["input"] for f in results["files"]] == [str(path), str(NARROW)]
    assert [f["matches"] for f in results["files"]] == ["matches-00000.txt", "matches-00001.txt"]
    assert [f["clean"] for f in results["files"]] == [True, False]
    assert results["files"][1]["input_xxh3_128"] == two["input_xxh3_128"]
    assert sorted(os.listdir(tmp_path / "matches")) == ["matches-00000.txt", "matches-00001.txt"]
    assert (tmp_path / "matches" / "matches-00000.txt").read_bytes() == b""
    assert (tmp_path / "matches" / "matches-00001.txt").read_bytes() == (tmp_path / "two.txt").read_bytes()

    # Clean files only: clean; an audit log vouching for each file.
    clean = optout.dask.verify_files([path, path], signed_path, column="nhs_number", audit=audit, client=False)
    assert clean["clean"] is True and clean["rows"] == 2 * 1863
    assert [f["audit"]["line"] for f in clean["files"]] == [2, 2]


def test_dask_verify_files_fails_as_its_first_failing_file(keys, signed_path, release, tmp_path):
    path, audit, _ = release
    before = set(os.listdir(tmp_path))
    with pytest.raises(optout.UntrustedError):
        optout.dask.verify_files([path, NARROW], signed_path, column="nhs_number", audit=audit,
                                 matches_dir=tmp_path / "matches", client=False)
    assert set(os.listdir(tmp_path)) == before  # no matches folder, no temporary one
    with pytest.raises(optout.UntrustedError) as e:
        optout.dask.verify_files([path], signed_path, column="nhs_number", trust=[pub(keys, "other")], client=False)
    assert str(e.value).startswith(f"{signed_path}: signed by key {keys['signer'][1]}")
    (tmp_path / "exists").mkdir()
    with pytest.raises(optout.IoError) as e:
        optout.dask.verify_files([path], signed_path, column="nhs_number", matches_dir=tmp_path / "exists",
                                 client=False)
    assert str(e.value) == f"{tmp_path / 'exists'}: already exists"


def test_dask_filter_files_trust_pin_and_signing(keys, signed_path, tmp_path):
    with pytest.raises(optout.UntrustedError):
        optout.dask.filter_files([NARROW], tmp_path / "parts", signed_path, column="nhs_number",
                                 trust=[pub(keys, "other")], client=False)
    assert not (tmp_path / "parts").exists()
    stats = optout.dask.filter_files([NARROW, DIRTY], tmp_path / "parts", signed_path, column="nhs_number",
                                     trust=[pub(keys, "signer")], expect_digest=optout.load(signed_path).digest,
                                     audit=tmp_path / "audit.jsonl", sign=secret(keys, "signer"), client=False)
    assert stats["rows"] == 4000
    for line in (tmp_path / "audit.jsonl").read_text().splitlines():
        assert optout.check_audit_record(line, trust=[pub(keys, "signer")]) == keys["signer"][1]
