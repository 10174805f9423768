"""Pseudonymised extracts from Python and Dask: pseudonym_key= on filter_file, verify_file,
optout.dask.filter_files and verify_files. Tokens come from Python's hmac; the expected rows from
the csv module; the messages are the engine's (as the CLI prints them).
"""

import csv
import hashlib
import hmac
import io
import json
import logging
import os
from pathlib import Path

import pytest

import optout
import optout.dask
from conftest import check_digit, nhs

KEY = b"python-test-pseudonym-key-0123456789abcdef"


def numbers(count, start=400_000_000):
    out, stem = [], start
    while len(out) < count:
        if check_digit(stem) is not None:
            out.append(nhs(stem))
        stem += 7919
    return out


NUMS = numbers(24)
DENIED = NUMS[:6]


def token(number, key=KEY):
    return hmac.new(key, number.encode(), "sha256").hexdigest()


@pytest.fixture
def files(tmp_path, cli):
    (tmp_path / "key.bin").write_bytes(KEY)
    (tmp_path / "deny.txt").write_text("".join(n + "\n" for n in DENIED))
    cli.run("build", "--list", f"national={tmp_path / 'deny.txt'}", "-o", tmp_path / "reg.optout", "-q")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "token"])
    for i, n in enumerate(NUMS):
        w.writerow([f"P{i}", token(n).upper() if i % 2 else token(n)])
    w.writerow(["BAD", "not a token"])
    (tmp_path / "ex.csv").write_text(out.getvalue())
    return tmp_path


def ids(path):
    return [r["id"] for r in csv.DictReader(open(path))]


KEPT = [f"P{i}" for i, n in enumerate(NUMS) if n not in DENIED]


def test_filter_file_and_verify_file_with_a_pseudonym_key(files):
    d = files
    stats = optout.filter_file(d / "reg.optout", d / "ex.csv", d / "out.csv", column="token",
                               pseudonym_key=d / "key.bin", audit=d / "audit.jsonl", rejects=d / "rej.csv")
    assert (stats["rows"], stats["kept"], stats["removed"], stats["rejected"]) == (25, 18, 6, 1)
    assert stats["rejected_by_reason"] == {"bad character": 1}
    assert ids(d / "out.csv") == KEPT
    record = json.loads((d / "audit.jsonl").read_text().splitlines()[-1])
    assert record["pseudonym_key_sha256"] == hashlib.sha256(KEY).hexdigest()

    result = optout.verify_file(d / "reg.optout", d / "out.csv", column="token", pseudonym_key=d / "key.bin",
                                audit=d / "audit.jsonl")
    assert result["clean"] is True and result["rows"] == 18
    dirty = optout.verify_file(d / "reg.optout", d / "ex.csv", column="token", pseudonym_key=str(d / "key.bin"))
    assert (dirty["removed"], dirty["rejected"]) == (6, 1)


def test_key_errors_are_the_engines(files, cli):
    d = files
    (d / "short.key").write_bytes(b"tiny")
    with pytest.raises(optout.InvalidInputError) as raised:
        optout.filter_file(d / "reg.optout", d / "ex.csv", d / "out.csv", column="token", pseudonym_key=d / "short.key")
    expected = cli.error("filter", "-r", d / "reg.optout", "--column", "token", d / "ex.csv", "-o", d / "o.csv",
                         "--pseudonym-key", d / "short.key")
    assert str(raised.value) == expected
    assert "tiny" not in expected
    with pytest.raises(optout.InvalidArgumentError):
        optout.filter_file(d / "reg.optout", d / "ex.csv", d / "out.csv", column="token", pseudonym_key="")
    assert not (d / "out.csv").exists()


def test_dask_filter_files_and_verify_files_here(files):
    d = files
    stats = optout.dask.filter_files([d / "ex.csv"], d / "parts", d / "reg.optout", column="token",
                                     pseudonym_key=d / "key.bin", piece_bytes=400, client=False,
                                     audit=d / "audit.jsonl")
    assert (stats["rows"], stats["removed"], stats["rejected"]) == (25, 6, 1)
    parts = sorted((d / "parts").iterdir())
    assert len(parts) > 1
    kept = []
    for part in parts:
        kept += [line.split(",")[0] for line in part.read_text().splitlines() if not line.startswith("id,")]
    assert kept == KEPT
    checked = optout.dask.verify_files([d / "ex.csv"], d / "reg.optout", column="token",
                                       pseudonym_key=d / "key.bin", client=False)
    assert (checked["removed"], checked["rejected"]) == (6, 1)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL)
    client = Client(cluster)
    client.wait_for_workers(2)
    yield client
    client.close()
    cluster.close()


def test_dask_workers_read_the_key_themselves(files, client):
    d = files
    stats = optout.dask.filter_files([d / "ex.csv"], d / "parts", d / "reg.optout", column="token",
                                     pseudonym_key=d / "key.bin", piece_bytes=300, client=client)
    assert (stats["rows"], stats["kept"], stats["removed"]) == (25, 18, 6)
    kept = []
    for part in sorted((d / "parts").iterdir()):
        kept += [line.split(",")[0] for line in part.read_text().splitlines() if not line.startswith("id,")]
    assert kept == KEPT


def test_filter_frame_with_a_pseudonym_key(files):
    import pandas as pd
    from optout.pandas import filter_frame

    d = files
    frame = pd.read_csv(d / "ex.csv", dtype=str, keep_default_na=False, na_values=[""])
    frame.loc[len(frame)] = ["MISSING", None]
    result = filter_frame(frame, d / "reg.optout", "token", pseudonym_key=d / "key.bin", return_rejected=True)
    assert list(result.kept["id"]) == KEPT
    assert list(result.rejected["id"]) == ["BAD", "MISSING"]
    assert result.counts["removed"] == 6
    assert result.counts["rejected_by_reason"] == {"bad character": 1, "empty": 1}
    # The same counts as filter_file's on the file.
    stats = optout.filter_file(d / "reg.optout", d / "ex.csv", d / "out.csv", column="token",
                               pseudonym_key=d / "key.bin")
    assert (stats["kept"], stats["removed"]) == (result.counts["kept"], result.counts["removed"])


def test_dask_dataframes_with_a_pseudonym_key(files):
    import dask
    import dask.dataframe as dd
    import pandas as pd

    d = files
    frame = dd.from_pandas(pd.read_csv(d / "ex.csv", dtype=str, keep_default_na=False, na_values=[""]),
                           npartitions=3)
    with dask.config.set(scheduler="synchronous"):
        kept = optout.dask.filter_dataframe(frame, d / "reg.optout", "token", pseudonym_key=d / "key.bin").compute()
        counts = optout.dask.count_verdicts(frame, d / "reg.optout", "token", pseudonym_key=d / "key.bin").compute()
    assert list(kept["id"]) == KEPT
    assert (counts["rows"], counts["kept"], counts["removed"], counts["rejected"]) == (25, 18, 6, 1)


def test_clear_token_cache_drops_the_processs_token_set(files):
    d = files
    optout.clear_token_cache()
    assert optout.clear_token_cache() is False  # nothing held
    first = optout.filter_file(d / "reg.optout", d / "ex.csv", d / "a.csv", column="token",
                               pseudonym_key=d / "key.bin")
    assert optout.clear_token_cache() is True  # the run left its set cached
    assert optout.clear_token_cache() is False
    again = optout.filter_file(d / "reg.optout", d / "ex.csv", d / "b.csv", column="token",
                               pseudonym_key=d / "key.bin")
    assert (d / "a.csv").read_bytes() == (d / "b.csv").read_bytes()
    assert {k: first[k] for k in ("rows", "kept", "removed", "rejected")} == \
        {k: again[k] for k in ("rows", "kept", "removed", "rejected")}
    assert optout.clear_token_cache() is True
