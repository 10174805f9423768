"""optout.dask on a real distributed.LocalCluster (2 worker processes x 1 thread), checked against
the single-process CLI filter of the same files."""

import json
import logging
import os
import re
import shutil
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pytest

import optout
import optout.dask
from optout.pandas import filter_frame
from conftest import SAMPLES

TESTS = Path(__file__).resolve().parent
DIRTY = SAMPLES / "extract_dirty.csv"  # BOM, CRLF and LF, quoted LFs, no final newline


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    # Worker processes import worker_hooks (the kill plugin) from this folder.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL)
    client = Client(cluster)
    client.wait_for_workers(2)
    yield client
    client.close()
    cluster.close()


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def cli_filter(cli, registry, source, out_dir, **extra):
    """`optout filter` of one whole file: (output bytes, rejects bytes, stats)."""
    out_dir.mkdir(exist_ok=True)
    cli.run("filter", "-r", registry, "--column", "nhs_number", source, "-o", out_dir / "out.csv",
            "--rejects", out_dir / "rejects.csv", "--stats", out_dir / "stats.json", "--quiet")
    return ((out_dir / "out.csv").read_bytes(), (out_dir / "rejects.csv").read_bytes(),
            json.loads((out_dir / "stats.json").read_text()))


def joined(folder, header):
    """The parts of a folder in order, each checked to start with the header, without repeated headers."""
    names = sorted(os.listdir(folder))
    assert names == [f"part-{i:05d}.csv" for i in range(len(names))]
    data = b""
    for i, name in enumerate(names):
        part = (folder / name).read_bytes()
        assert part.startswith(header), name
        data += part if i == 0 else part[len(header):]
    return data


def header_of(path):
    data = path.read_bytes()
    return data[: data.index(b"\n") + 1]


def counts(stats):
    return {k: stats[k] for k in ("rows", "kept", "removed", "rejected", "rejected_by_reason")}


def test_dataframe_partition_by_partition(client, cli, registry_path, tmp_path):
    cli_out, _, cli_stats = cli_filter(cli, registry_path, DIRTY, tmp_path / "cli")
    frame = read(DIRTY)
    ddf = dd.from_pandas(frame, npartitions=5)
    before = client.run(optout.registry_cache_info)

    kept = optout.dask.filter_dataframe(ddf, registry_path, "nhs_number").compute()
    pd.testing.assert_frame_equal(kept, filter_frame(frame, registry_path, "nhs_number").kept)
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), read(tmp_path / "cli" / "out.csv"))
    total = optout.dask.count_verdicts(ddf, registry_path, "nhs_number").compute()
    assert total == counts(cli_stats)
    # A Registry object may be given: only its path travels.
    again = optout.dask.filter_dataframe(ddf, optout.load(registry_path), "nhs_number", apply=["national"])
    assert len(again.compute()) == filter_frame(frame, registry_path, "nhs_number", apply=["national"]).counts["kept"]

    # Each worker process loaded the snapshot at most once, whatever the number of tasks.
    after = client.run(optout.registry_cache_info)
    key = os.path.abspath(registry_path)
    digest = optout.load(registry_path).digest
    assert sum(a["loads"] - before[w]["loads"] for w, a in after.items()) <= 2
    for worker, info in after.items():
        assert info["loads"] - before[worker]["loads"] <= 1, worker
        assert info["registries"].get(key, digest) == digest
    assert any(key in info["registries"] for info in after.values())
    with pytest.raises(optout.NotFoundError):
        optout.dask.filter_dataframe(ddf, registry_path, "nhs_number", apply=["nope"])


def test_one_large_file_cut_into_pieces(client, cli, registry_path, tmp_path):
    cli_out, cli_rejects, cli_stats = cli_filter(cli, registry_path, DIRTY, tmp_path / "cli")
    out, rejects = tmp_path / "out", tmp_path / "rejects"
    stats_file, audit = tmp_path / "stats.json", tmp_path / "audit.jsonl"
    stats = optout.dask.filter_files(DIRTY, out, registry_path, column="nhs_number", piece_bytes=10_000,
                                     rejects_dir=rejects, stats=stats_file, audit=audit, client=client)
    header = header_of(DIRTY)
    assert header.startswith(b"\xef\xbb\xbf")
    assert len(stats["pieces"]) == len(os.listdir(out)) >= 6
    assert joined(out, header) == cli_out
    assert joined(rejects, header) == cli_rejects
    assert counts(stats) == counts(cli_stats)
    assert stats["rows"] == stats["kept"] + stats["removed"] + stats["rejected"] == 2000
    assert stats["bytes_in"] == os.path.getsize(DIRTY)
    assert stats["bytes_out"] == sum(os.path.getsize(out / p) for p in os.listdir(out))
    # The pieces tile the file after the header, on record boundaries.
    pieces = stats["pieces"]
    assert pieces[0]["offset"] == len(header)
    for a, b in zip(pieces, pieces[1:]):
        assert a["offset"] + a["length"] == b["offset"]
    assert pieces[-1]["offset"] + pieces[-1]["length"] == os.path.getsize(DIRTY)
    assert all(10_000 <= p["length"] < 20_000 for p in pieces[:-1]) and 0 < pieces[-1]["length"] < 20_000
    assert sum(p["rows"] for p in pieces) == 2000
    for p in pieces:
        assert p["output_bytes"] == os.path.getsize(out / p["output"])
        assert len(p["output_xxh3_128"]) == 32
    assert json.loads(stats_file.read_text()) == stats

    lines = audit.read_text().splitlines()
    assert len(lines) == 2  # "committing", then "ok" (README, the commit protocol)
    committing, record = map(json.loads, lines)
    assert committing == dict(record, outcome="committing")
    assert record["outcome"] == "ok" and record["tool"] == "optout"
    assert record["input"] == str(DIRTY) and record["inputs"] == [str(DIRTY)] and record["output"] == str(out)
    assert record["registry_digest"] == optout.load(registry_path).digest
    assert record["lists_applied"] == ["cleared", "national", "type1"]
    assert (record["rows"], record["kept"], record["removed"], record["rejected"]) == (
        cli_stats["rows"], cli_stats["kept"], cli_stats["removed"], cli_stats["rejected"])
    assert record["rows"] == record["kept"] + record["removed"] + record["rejected"]
    assert record["input_bytes"] == os.path.getsize(DIRTY) and record["output_bytes"] == stats["bytes_out"]
    assert record["pieces"] == pieces
    assert sorted(os.listdir(tmp_path)) == ["audit.jsonl", "cli", "out", "rejects", "stats.json"]

    with pytest.raises(optout.IoError) as caught:
        optout.dask.filter_files(DIRTY, out, registry_path, column="nhs_number", client=client)
    assert str(caught.value) == f"{out}: already exists"


def test_many_files(client, cli, registry_path, tmp_path):
    copy = tmp_path / "copy.csv"
    shutil.copy(SAMPLES / "extract_narrow.csv", copy)
    inputs = [SAMPLES / "extract_narrow.csv", DIRTY, copy]
    stats = optout.dask.filter_files(inputs, tmp_path / "out", registry_path, column="nhs_number",
                                     client=client)
    expected = [cli_filter(cli, registry_path, p, tmp_path / f"cli{i}") for i, p in enumerate(inputs)]
    for i, (cli_out, _, cli_stats) in enumerate(expected):
        assert (tmp_path / "out" / f"part-{i:05d}.csv").read_bytes() == cli_out
        for key in ("rows", "kept", "removed", "rejected"):
            assert stats["pieces"][i][key] == cli_stats[key], (i, key)
        assert stats["pieces"][i]["input"] == str(inputs[i])
    for key in ("rows", "kept", "removed", "rejected"):
        assert stats[key] == sum(e[2][key] for e in expected)
    assert stats["bytes_in"] == sum(os.path.getsize(p) for p in inputs)
    # The same run in this process: the same parts.
    local = optout.dask.filter_files(inputs, tmp_path / "local", registry_path, column="nhs_number", client=False)
    for i in range(3):
        name = f"part-{i:05d}.csv"
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()
    assert counts(local) == counts(stats)


def malformed_copy(tmp_path):
    """The dirty sample with a stray quote in an unquoted field on one line, and the CLI's error."""
    data = DIRTY.read_bytes()
    lines = data.split(b"\n")
    target = 1500
    assert b'"' not in lines[target]
    lines[target] = lines[target].replace(b",", b',x"y', 1)
    path = tmp_path / "malformed.csv"
    path.write_bytes(b"\n".join(lines))
    return path


def test_a_failed_piece_fails_the_run(client, cli, registry_path, tmp_path):
    source = malformed_copy(tmp_path)
    message = cli.error("filter", "-r", registry_path, "--column", "nhs_number", source, "-o", tmp_path / "cli.csv")
    assert message.startswith(f"{source}:") and message.endswith(": quote inside an unquoted field")
    audit = tmp_path / "audit.jsonl"
    with pytest.raises(optout.InvalidInputError) as caught:
        optout.dask.filter_files(source, tmp_path / "out", registry_path, column="nhs_number", piece_bytes=10_000,
                                 rejects_dir=tmp_path / "rejects", stats=tmp_path / "stats.json", audit=audit,
                                 client=client)
    assert str(caught.value) == message  # the whole file's line, as the CLI names it
    assert caught.value.piece["input"] == str(source) and caught.value.piece["offset"] > 0
    # Nothing that looks like a result: no folder, no temporary folder, no stats; one failed record.
    assert sorted(os.listdir(tmp_path)) == ["audit.jsonl", "malformed.csv"]
    record = json.loads(audit.read_text())
    assert (record["outcome"], record["error"]) == ("failed", "invalid input")
    assert "rows" not in record

    # The data-quality gate counts over the whole run.
    with pytest.raises(optout.DataQualityError) as caught:
        optout.dask.filter_files(DIRTY, tmp_path / "gated", registry_path, column="nhs_number",
                                 piece_bytes=10_000, max_rejected="1%", client=client)
    assert str(caught.value) == cli.error("filter", "-r", registry_path, "--column", "nhs_number",
                                          "--max-rejected", "1%", DIRTY, "-o", tmp_path / "gated.csv")
    assert not (tmp_path / "gated").exists()


def test_bare_cr_line_ending_in_a_later_piece_fails_the_run(client, cli, registry_path, tmp_path):
    """Issue 10.1: a CR no LF follows, deep in a file cut into pieces, fails the run with the whole
    file's line, as the CLI names it, and leaves no folder."""
    lines = DIRTY.read_bytes().split(b"\n")
    lines[1500] = lines[1500] + b"\r" + lines[1501]  # two records joined by a bare CR
    del lines[1501]
    source = tmp_path / "crmix.csv"
    source.write_bytes(b"\n".join(lines))
    message = cli.error("filter", "-r", registry_path, "--column", "nhs_number", source, "-o", tmp_path / "cli.csv")
    assert message.endswith(": bare CR outside quotes (lines must end with LF or CRLF)"), message
    with pytest.raises(optout.InvalidInputError) as caught:
        optout.dask.filter_files(source, tmp_path / "out", registry_path, column="nhs_number", piece_bytes=10_000,
                                 client=client)
    assert str(caught.value) == message
    assert caught.value.piece["offset"] > 0
    assert sorted(os.listdir(tmp_path)) == ["crmix.csv"]


def kill_plugin(marker, suffix):
    from worker_hooks import KillOnce  # noqa: E402 (only the driver needs it at import time)

    return KillOnce(str(marker), suffix)


def test_killed_worker_piece_is_retried(client, cli, registry_path, tmp_path):
    cli_out, _, cli_stats = cli_filter(cli, registry_path, DIRTY, tmp_path / "cli")
    marker = tmp_path / "killed"
    client.register_worker_plugin(kill_plugin(marker, "-00003"))
    try:
        stats = optout.dask.filter_files(DIRTY, tmp_path / "out", registry_path, column="nhs_number",
                                         piece_bytes=10_000, client=client)
    finally:
        client.unregister_worker_plugin("optout-kill-once")
    killed = int(marker.read_text())  # a worker died after running piece 3
    client.wait_for_workers(2)
    assert killed not in client.run(os.getpid).values()
    assert joined(tmp_path / "out", header_of(DIRTY)) == cli_out
    assert counts(stats) == counts(cli_stats)
    assert sum(p["rows"] for p in stats["pieces"]) == 2000


def test_killed_worker_without_retries_fails_clearly(client, registry_path, tmp_path):
    marker = tmp_path / "killed"

    def set_allowed_failures(n):
        client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", n))

    set_allowed_failures(0)
    client.register_worker_plugin(kill_plugin(marker, "-00002"))
    try:
        with pytest.raises(optout.PieceFailedError) as caught:
            optout.dask.filter_files(DIRTY, tmp_path / "out", registry_path, column="nhs_number",
                                     piece_bytes=10_000, client=client)
    finally:
        client.unregister_worker_plugin("optout-kill-once")
        set_allowed_failures(3)
    assert marker.exists()
    assert str(caught.value).startswith(f"{DIRTY}: piece ")
    assert "was not filtered: the workers running it died" in str(caught.value)
    assert caught.value.piece["input"] == str(DIRTY)
    assert sorted(os.listdir(tmp_path)) == ["killed"]
    client.wait_for_workers(2)


def scheduler_then(monkeypatch, after):
    """optout.dask's scheduler, with after(tasks) called once the tasks have run."""
    real = optout.dask._scheduler

    def scheduler(*args):
        run = real(*args)

        def schedule(tasks):
            results = run(tasks)
            after(tasks)
            return results

        return schedule

    monkeypatch.setattr(optout.dask, "_scheduler", scheduler)


def test_outputs_are_checked_before_the_folder_appears(registry_path, tmp_path, monkeypatch):
    """The engine checks the parts: a killed worker's temporary file is removed; a missing or short
    part fails the run and no folder appears."""
    out = tmp_path / "out"

    def staged(name):
        (folder,) = tmp_path.glob(".out.tmp-*")
        return folder / name

    def run():
        return optout.dask.filter_files(DIRTY, out, registry_path, column="nhs_number", piece_bytes=20_000,
                                        client=False)

    damage = []
    scheduler_then(monkeypatch, lambda tasks: damage[-1]())
    damage.append(lambda: staged("part-00001.csv").unlink())
    with pytest.raises(optout.IoError) as caught:
        run()
    assert re.fullmatch(r".*/\.out\.tmp-\w+/part-00001\.csv: expected \d+ bytes, found none", str(caught.value))
    assert not out.exists() and list(tmp_path.glob(".out.tmp-*")) == []

    def cut_short():
        part = staged("part-00001.csv")
        part.write_bytes(part.read_bytes()[:-1])

    damage.append(cut_short)
    with pytest.raises(optout.IoError) as caught:
        run()
    assert re.fullmatch(r".*/part-00001\.csv: expected (\d+) bytes, found (\d+)", str(caught.value))
    expected, found = map(int, re.findall(r"\d+", str(caught.value).rsplit(":", 1)[1]))
    assert found == expected - 1
    assert not out.exists()

    damage.append(lambda: staged(".part-00001.csv.tmp-abc123").write_bytes(b"h\n"))
    stats = run()
    assert sorted(os.listdir(out)) == [p["output"] for p in stats["pieces"]]


def test_run_arguments_are_checked_by_the_engine(registry_path, tmp_path):
    """No input and a piece size below 1 byte are the engine's InvalidArgumentError (run.cpp's
    words, as for every binding); a negative size is never taken as "pieces too large to cut"."""
    out = tmp_path / "out"
    piece = "the piece size must be at least 1 byte"
    cases = [
        (dict(inputs=[]), 'no input: give a file name, or "-" for standard input'),
        (dict(piece_bytes=0), piece),
        (dict(piece_bytes=-1), piece),
        (dict(piece_bytes=-(2**70)), piece),
    ]
    for arguments, message in cases:
        arguments = {"inputs": DIRTY, **arguments}
        with pytest.raises(optout.InvalidArgumentError) as caught:
            optout.dask.filter_files(arguments.pop("inputs"), out, registry_path, column="nhs_number", client=False,
                                     **arguments)
        assert isinstance(caught.value, ValueError), arguments
        assert str(caught.value) == message, arguments
        assert not out.exists(), arguments
    for piece_bytes in (True, 1.5, "64"):
        with pytest.raises(TypeError) as caught:
            optout.dask.filter_files(DIRTY, out, registry_path, column="nhs_number", piece_bytes=piece_bytes,
                                     client=False)
        assert str(caught.value) == f"piece_bytes must be an int, got {type(piece_bytes).__name__}", piece_bytes


# ---- The commit goes through the engine (issues 15.3, 15.7) ------------------------------------

def audit_records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_runs_to_one_output_dir_the_second_fails_cleanly(registry_path, tmp_path, monkeypatch):
    """Another run puts output_dir in place while this one runs. Before the fix: a raw OSError
    "Directory not empty", this run's stats file left behind, two "ok" records, and a "failed"
    record with the wrong code."""
    out = tmp_path / "out"
    other = []

    def other_run_finishes_first(tasks):
        if not other:
            other.append(True)
            optout.dask.filter_files(DIRTY, out, registry_path, column="nhs_number", audit=tmp_path / "other.jsonl",
                                     client=False)

    scheduler_then(monkeypatch, other_run_finishes_first)
    with pytest.raises(optout.IoError) as caught:
        optout.dask.filter_files(DIRTY, out, registry_path, column="nhs_number", rejects_dir=tmp_path / "rejects",
                                 stats=tmp_path / "stats.json", audit=tmp_path / "audit.jsonl", client=False)
    assert str(caught.value) == f"{out}: already exists (made while this run ran); its temporary folder was removed"
    # The other run's folder stands; of this run nothing is left but its audit records.
    assert sorted(os.listdir(tmp_path)) == ["audit.jsonl", "other.jsonl", "out"]
    assert [r["outcome"] for r in audit_records(tmp_path / "other.jsonl")] == ["committing", "ok"]
    committing, failed = audit_records(tmp_path / "audit.jsonl")
    assert (committing["outcome"], failed["outcome"], failed["error"]) == ("committing", "failed", "i/o error")
    assert committing["run_id"] == failed["run_id"]


def test_a_file_name_that_is_not_utf8_is_recorded_and_its_error_kept(registry_path, tmp_path):
    """Before the fix a non-UTF-8 name replaced the run's error with a TypeError from the audit
    code, and no failed record was written."""
    name = os.fsdecode(b"extract-\xff.csv")
    good = tmp_path / name
    shutil.copy(DIRTY, good)
    stats = optout.dask.filter_files(good, tmp_path / "out", registry_path, column="nhs_number",
                                     audit=tmp_path / "audit.jsonl", client=False)
    assert stats["rows"] == 2000
    bad = tmp_path / os.fsdecode(b"bad-\xff.csv")
    bad.write_bytes(b"id,nhs_number\n1,x\"y\n")
    with pytest.raises(optout.InvalidInputError) as caught:
        optout.dask.filter_files(bad, tmp_path / "out2", registry_path, column="nhs_number",
                                 audit=tmp_path / "audit.jsonl", client=False)
    assert str(caught.value).startswith(str(bad))
    records = audit_records(tmp_path / "audit.jsonl")
    assert [r["outcome"] for r in records] == ["committing", "ok", "failed"]
    assert records[2]["error"] == "invalid input"
    assert records[1]["input"] == str(good).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    assert bytes.fromhex(records[1]["input_hex"]) == os.fsencode(good)  # the name, losslessly
    assert bytes.fromhex(records[2]["input_hex"]) == os.fsencode(bad)
    assert not (tmp_path / "out2").exists()


def test_a_bytes_path_is_filtered_and_recorded(registry_path, tmp_path):
    """Before the fix a bytes path filtered the whole file, then failed at json.dumps."""
    stats = optout.dask.filter_files(os.fsencode(DIRTY), tmp_path / "out", registry_path, column="nhs_number",
                                     stats=tmp_path / "stats.json", audit=tmp_path / "audit.jsonl", client=False)
    assert stats["rows"] == 2000
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    assert audit_records(tmp_path / "audit.jsonl")[1]["inputs"] == [str(DIRTY)]


def test_a_fifo_input_counts_the_bytes_read(registry_path, tmp_path):
    """bytes_in was the input's size on disk: 0 for a FIFO."""
    import threading

    fifo = tmp_path / "extract.fifo"
    os.mkfifo(fifo)
    data = DIRTY.read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    stats = optout.dask.filter_files(fifo, tmp_path / "out", registry_path, column="nhs_number", client=False)
    writer.join(timeout=30)
    assert stats["bytes_in"] == len(data)
    assert stats["rows"] == 2000


def test_verify_files_on_the_cluster(client, cli, registry_path, tmp_path):
    """One run_verify per file on the workers (the trusted keys read here travel with the tasks),
    counts added up by the engine, each file's matches in the folder in input order."""
    key = tmp_path / "signer"
    optout.keygen(key)
    signed = tmp_path / "signed.optout"
    cli.run("build", "--list", f"national={SAMPLES / 'national.txt'}", "--list", f"type1={SAMPLES / 'type1.txt'}",
            "--sign", f"{key}.key", "-o", signed, "--quiet")
    out = tmp_path / "clean.csv"
    optout.filter_file(signed, DIRTY, out, column="nhs_number")
    results = optout.dask.verify_files([DIRTY, out, DIRTY], signed, column="nhs_number", trust=f"{key}.pub",
                                       matches_dir=tmp_path / "matches", client=client)
    single = optout.verify_file(signed, DIRTY, column="nhs_number", matches=tmp_path / "single.txt")
    assert results["clean"] is False
    assert [f["clean"] for f in results["files"]] == [False, True, False]
    for key_name in ("rows", "kept", "removed", "rejected"):
        assert results[key_name] == 2 * single[key_name] + results["files"][1][key_name], key_name
    assert results["rejected_by_reason"] == {k: 2 * v for k, v in single["rejected_by_reason"].items()}
    assert results["matches_written"] == 2 * single["matches_written"] == 2 * single["removed"] > 0
    matches = tmp_path / "matches"
    assert sorted(os.listdir(matches)) == [f"matches-{i:05d}.txt" for i in range(3)]
    assert (matches / "matches-00000.txt").read_bytes() == (tmp_path / "single.txt").read_bytes()
    assert (matches / "matches-00002.txt").read_bytes() == (tmp_path / "single.txt").read_bytes()
    assert (matches / "matches-00001.txt").read_bytes() == b""


def test_verify_files_killed_worker_fails_clearly(client, registry_path, tmp_path):
    """A file whose workers keep dying fails the run with PieceFailedError; no matches folder."""
    marker = tmp_path / "killed"
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    client.register_worker_plugin(kill_plugin(marker, "-00001"))
    try:
        with pytest.raises(optout.PieceFailedError) as caught:
            optout.dask.verify_files([DIRTY, DIRTY], registry_path, column="nhs_number",
                                     matches_dir=tmp_path / "matches", client=client)
    finally:
        client.unregister_worker_plugin("optout-kill-once")
        client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 3))
    assert marker.exists()
    assert str(caught.value).startswith(f"{DIRTY}: was not verified: the workers running it died")
    assert sorted(os.listdir(tmp_path)) == ["killed"]
    client.wait_for_workers(2)


def test_json_lines_and_zip_files_on_the_cluster(client, registry_path, tmp_path):
    """Issue 13: format= and entry= reach each file's engine run (filter_files and verify_files)."""
    import csv
    import zipfile

    with open(SAMPLES / "extract_narrow.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("".join(json.dumps({"row": r["record_id"], "p": {"nhs": r["nhs_number"]}}) + "\n"
                             for r in rows))
    single = optout.filter_file(registry_path, str(jsonl), str(tmp_path / "one.jsonl"), column="/p/nhs",
                                format="jsonl")
    # A plain file is cut into pieces at line ends.
    stats = optout.dask.filter_files([jsonl], tmp_path / "cut", registry_path, column="/p/nhs", format="jsonl",
                                     piece_bytes=4096, client=client)
    parts = sorted((tmp_path / "cut").iterdir())
    assert len(parts) > 2 and b"".join(p.read_bytes() for p in parts) == (tmp_path / "one.jsonl").read_bytes()
    assert (stats["rows"], stats["kept"]) == (single["rows"], single["kept"])
    # Zips, each of two files: entry= names the one to read in every input; each is one whole part.
    archives = [tmp_path / "a.zip", tmp_path / "b.zip"]
    for archive in archives:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(jsonl, "rows.jsonl")
            z.write(SAMPLES / "extract_narrow.csv", "rows.csv")
    stats = optout.dask.filter_files(archives, tmp_path / "out", registry_path, column="/p/nhs", format="jsonl",
                                     entry="rows.jsonl", piece_bytes=4096, client=client)
    assert [p.name for p in sorted((tmp_path / "out").iterdir())] == ["part-00000.jsonl", "part-00001.jsonl"]
    for part in (tmp_path / "out").iterdir():
        assert part.read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert stats["kept"] == 2 * single["kept"] and stats["rows"] == 2 * single["rows"]

    verified = optout.dask.verify_files(archives, registry_path, column="/p/nhs", format="jsonl",
                                        entry="rows.jsonl", client=client)
    assert [f["clean"] for f in verified["files"]] == [False, False]
    assert verified["removed"] + verified["rejected"] == 2 * (single["removed"] + single["rejected"])
    clean = optout.dask.verify_files([tmp_path / "one.jsonl"], registry_path, column="/p/nhs", format="jsonl",
                                     client=client)
    assert clean["clean"] is True
