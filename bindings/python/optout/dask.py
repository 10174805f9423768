"""optout on a Dask cluster: the same rules, the same accounting, on more than one machine.

filter_dataframe / count_verdicts: a Dask DataFrame filtered partition by partition with the
pandas helper (optout.pandas).

filter_files: CSV files (or one large file cut at record boundaries by the engine) filtered piece
by piece by the C++ engine on the workers, into part files in one output folder, with one set of
combined stats and one audit record whose counts add up over all pieces.

verify_files: released CSV files checked as `optout verify` checks them, one engine run_verify per
file on the workers, with the counts added up by the engine and clean only when every file is.

Tasks get the registry's path and digest, never the registry: each worker process loads the
snapshot once (optout.cached_registry) and refuses one whose digest differs from the digest the
run started with. Paths (inputs, registry, outputs) must mean the same file on every worker: a
shared file system, as for any Dask job that reads files.
"""

import json
import os
import uuid

import dask

from . import _engine
from .core import (
    _registry_of,
    _secret_key,
    cached_registry,
    make_filter_options,
    parse_max_age,
    set_impact,
    trusted_keys,
    verify_request,
)
from .errors import Error, PieceFailedError
from .pandas import _filter_checked, classify_frame

__all__ = ["filter_dataframe", "count_verdicts", "filter_files", "verify_files"]


def _prepare(registry, apply, max_age, trust=None, expect_digest=None, purpose=None, exempt=None):
    """Loads the registry here (once per process), checks its signer (trust None: OPTOUT_TRUST),
    digest, lists and age, and returns what tasks need to find the same snapshot on a worker:
    (path, digest, lists). Workers load that path and refuse any other digest, so the checks made
    here hold for every partition."""
    registry = _registry_of(registry)
    registry.check_trust(trust)
    if expect_digest is not None:
        registry.check_digest(expect_digest)
    index = registry.index(apply, purpose=purpose, exempt=exempt)  # an unknown list fails here
    if max_age is not None:
        index.check_age(max_age)
    return os.path.abspath(registry.path), registry.digest, index.applied_lists


# ---- Dask DataFrames -------------------------------------------------------------------------


def _keep_partition(part, path, digest, lists, column, pseudonym_key=None):
    return _filter_checked(part, cached_registry(path, digest), column, lists, pseudonym_key=pseudonym_key).kept


def _count_partition(part, path, digest, lists, column, pseudonym_key=None):
    verdicts, reasons = classify_frame(part, cached_registry(path, digest), column, lists, pseudonym_key=pseudonym_key)
    return _engine.tally_verdicts(verdicts, reasons)


def _add_counts(tallies):
    return _engine.add_counts(tallies)


def filter_dataframe(frame, registry, column, *, apply=None, max_age=None, trust=None, expect_digest=None,
                     purpose=None, exempt=None, pseudonym_key=None):
    """The rows of a Dask DataFrame that the filter keeps, partition by partition (lazy).

    registry: a snapshot's path (or an optout.Registry, of which only the path is used);
    column, apply, max_age, trust, expect_digest, pseudonym_key: as optout.pandas.filter_frame
    (the key file is read by each worker, which keeps its token set). Each partition keeps its
    index and row order. The registry is loaded here to check it, and once in each worker process.
    """
    path, digest, lists = _prepare(registry, apply, max_age, trust, expect_digest, purpose, exempt)
    return frame.map_partitions(_keep_partition, path, digest, lists, column, pseudonym_key, meta=frame._meta)


def count_verdicts(frame, registry, column, *, apply=None, max_age=None, trust=None, expect_digest=None,
                   purpose=None, exempt=None, pseudonym_key=None):
    """A dask Delayed of the counts over every partition (rows, kept, removed, rejected,
    rejected_by_reason), as optout.pandas.filter_frame's counts."""
    path, digest, lists = _prepare(registry, apply, max_age, trust, expect_digest, purpose, exempt)
    parts = [dask.delayed(_count_partition)(p, path, digest, lists, column, pseudonym_key)
             for p in frame.to_delayed()]
    return dask.delayed(_add_counts)(parts)


# ---- Files -----------------------------------------------------------------------------------


def _run_piece(registry_path, digest, lists, task):
    """Runs on a worker: one task of the run (a whole file or a piece of one), by the engine."""
    return cached_registry(registry_path, digest).index(lists)._native.run_piece(task)


def _default_client():
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _scheduler(client, registry_path, digest, lists):
    """The run's scheduler for the engine: runs its tasks (bytes) here or on the cluster and returns
    their results in order, or raises the error of the first failing task in task order."""

    def here(tasks):
        results = []
        for task in tasks:
            try:
                results.append(_run_piece(registry_path, digest, lists, task))
            except Error as e:
                e.piece = _engine.piece_task_info(task)
                raise
        return results

    def on_cluster(tasks):
        from distributed import as_completed, wait
        from distributed.scheduler import KilledWorker

        run_id = uuid.uuid4().hex[:12]
        futures = [
            client.submit(_run_piece, registry_path, digest, lists, task, key=f"optout-piece-{run_id}-{i:05d}", pure=False)
            for i, task in enumerate(tasks)
        ]
        where = {f.key: i for i, f in enumerate(futures)}

        def failure(i):
            try:
                error = futures[i].exception()
            except Exception as e:  # cancelled: the run is being torn down
                error = e
            piece = _engine.piece_task_info(tasks[i])
            if isinstance(error, KilledWorker):
                failed = PieceFailedError(
                    f"{piece['input']}: piece {i} ({piece['output']}) was not filtered: the workers running "
                    f"it died ({error})"
                )
                failed.__cause__ = error
                error = failed
            if isinstance(error, Error):
                error.piece = piece
            return error

        results = [None] * len(tasks)
        try:
            for future in as_completed(futures):
                i = where[future.key]
                try:
                    # A result lost with its worker before it got here is computed again: this waits.
                    results[i] = future.result()
                    continue
                except Exception:
                    pass
                # Report the first failing piece in file order, whose message is the one the whole
                # file's filter gives (a later piece may fail only because an earlier one is
                # malformed): wait for the pieces before it, drop the ones after.
                client.cancel(futures[i + 1:])
                wait(futures[:i])
                first = next((j for j in range(i) if futures[j].status == "error"), i)
                raise failure(first)
        except BaseException:
            client.cancel(futures)
            raise
        return results

    return here if client is None else on_cluster


def filter_files(
    inputs,
    output_dir,
    registry,
    *,
    column=None,
    column_index=None,
    header=True,
    delimiter=",",
    apply=None,
    purpose=None,
    exempt=None,
    max_age=None,
    max_rejected=None,
    piece_bytes=None,
    rejects_dir=None,
    stats=None,
    audit=None,
    threads=None,
    block_size=None,
    max_record_bytes=None,
    trust=None,
    expect_digest=None,
    sign=None,
    pseudonym_key=None,
    client=None,
    format="csv",
    entry=None,
    impact=None,
    impact_by=None,
    impact_exact=False,
):
    """Filters CSV files into a folder of parts, each file or piece by the C++ engine on a worker.

    One engine run in parts (README, "Dask"): the engine checks the request, cuts files
    larger than piece_bytes at record ends, applies max_rejected to the whole run and commits it as
    one file's; this only sends its tasks to the workers. The parts are part-00000.csv, ... in
    input order; a cut file's parts, without their headers, concatenated, are its `optout filter`
    output. A compressed file (gzip, zstd, zip: found from its bytes; entry names a zip's file) is
    one part, never cut; the parts are written uncompressed. Other arguments are filter_file's (format, trust, expect_digest and sign included: the keys are
    read and the registry checked here, once, before any task runs); threads: per piece (default 1
    on a cluster, every core here); client: a distributed.Client, None for the current one if any,
    False for this process; impact, impact_by, impact_exact: the impact report, the parts' groups
    summed by the engine before any suppression. pseudonym_key: a key file (as --pseudonym-key), read here and by each
    worker (a path every worker can read, as the inputs); a task carries its path and SHA-256, never
    the key, and a worker whose file holds another key refuses it. Each worker process hashes the
    registry's numbers once and keeps the token set for the next tasks (TokenSet::cached).

    Returns the stats file's JSON (rows, kept, ..., pieces). A failed piece raises its error as
    `optout filter` of its file would, with a .piece attribute; PieceFailedError when its workers
    kept dying.
    """
    inputs = [inputs] if isinstance(inputs, (str, bytes, os.PathLike)) else list(inputs)
    if client is None:
        client = _default_client()
    elif client is False:
        client = None
    if threads is None:
        threads = 1 if client is not None else 0
    options = make_filter_options(
        column, column_index, header, delimiter, threads, block_size, max_record_bytes, max_rejected, format, entry
    )
    max_age_seconds = None if max_age is None else parse_max_age(max_age)
    registry = _registry_of(registry)
    index = registry.index(apply, purpose=purpose, exempt=exempt)  # an unknown list fails here
    request = _engine.FilterRequest(
        inputs, output_dir, rejects_dir, stats, audit, options, max_age_seconds, True, piece_bytes,
        trusted_keys(trust), expect_digest, _secret_key(sign),
    )
    set_impact(request, impact, impact_by, impact_exact)
    request.pseudonym_key = pseudonym_key
    schedule = _scheduler(client, os.path.abspath(registry.path), registry.digest, index.applied_lists)
    _, text = index._native.run(request, schedule)
    return json.loads(text)


# ---- Verifying files -------------------------------------------------------------------------


def _verify_file(registry_path, digest, lists, input, matches, request_args):
    """Runs on a worker: run_verify of one file, by the engine. Returns (its verify JSON text, its
    counts as the engine encodes them)."""
    request = verify_request(input, matches=matches, **request_args)
    return cached_registry(registry_path, digest).index(lists)._native.verify(request)


def _run_verify_tasks(client, registry_path, digest, lists, tasks):
    """Each (input, matches, request_args) task's result, in order, here or on the cluster; raises
    the error of the first failing file in input order."""
    if client is None:
        return [_verify_file(registry_path, digest, lists, *task) for task in tasks]
    from distributed import wait
    from distributed.scheduler import KilledWorker

    run_id = uuid.uuid4().hex[:12]
    futures = [
        client.submit(
            _verify_file, registry_path, digest, lists, *task, key=f"optout-verify-{run_id}-{i:05d}", pure=False
        )
        for i, task in enumerate(tasks)
    ]
    try:
        wait(futures)
        for future, (input, _, _) in zip(futures, tasks):
            if future.status == "error":
                error = future.exception()
                if isinstance(error, KilledWorker):  # as filter_files says it of a piece
                    failed = PieceFailedError(f"{input}: was not verified: the workers running it died ({error})")
                    raise failed from error
                raise error
        return [future.result() for future in futures]
    finally:
        client.cancel(futures)


def verify_files(
    inputs,
    registry,
    *,
    column=None,
    column_index=None,
    header=True,
    delimiter=",",
    apply=None,
    purpose=None,
    exempt=None,
    trust=None,
    expect_digest=None,
    audit=None,
    matches_dir=None,
    id_column=None,
    threads=None,
    block_size=None,
    max_record_bytes=None,
    pseudonym_key=None,
    client=None,
    format="csv",
    entry=None,
):
    """Checks released CSV files as `optout verify` does, each file by the engine's run_verify on a
    worker, and combines the results.

    Arguments are optout.verify_file's (trust: read here, once, so OPTOUT_TRUST is this process's;
    audit: one log that must vouch for every file; pseudonym_key: a key file every worker reads),
    client and threads filter_files'.
    matches_dir: a folder that must not exist, receiving matches-00000.txt, matches-00001.txt, ...
    one per input in input order (each as verify_file's matches: one line per row the registry now
    removes, the id_column's value or the 1-based data-row number; an empty file when none),
    written under a temporary name and put in place only when every file was verified: a failed
    run leaves no folder.

    Returns a dict: clean (every file clean), rows, kept, removed, rejected, rejected_by_reason and
    bytes_in summed by the engine, matches_written (the total), and files: each file's verify_file
    result with its input and matches (the file's name in matches_dir, or None). A file that is not
    clean is a result; the first failing file in input order raises its engine error.
    """
    inputs = [inputs] if isinstance(inputs, (str, bytes, os.PathLike)) else list(inputs)
    inputs = [_engine.fs_path(input, "input") for input in inputs]
    if client is None:
        client = _default_client()
    elif client is False:
        client = None
    if threads is None:
        threads = 1 if client is not None else 0
    registry = _registry_of(registry)
    index = registry.index(apply, purpose=purpose, exempt=exempt)  # an unknown list fails here
    request_args = dict(
        column=column, column_index=column_index, header=header, delimiter=delimiter,
        trust=trusted_keys(trust), expect_digest=expect_digest, audit=audit, id_column=id_column,
        threads=threads, block_size=block_size, max_record_bytes=max_record_bytes, format=format, entry=entry,
        pseudonym_key=pseudonym_key,
    )
    staged = None if matches_dir is None else _engine.StagedDirectory(matches_dir)
    names = [None if staged is None else f"matches-{i:05d}.txt" for i in range(len(inputs))]
    tasks = [
        (input, None if name is None else os.path.join(staged.temp_path, name), request_args)
        for input, name in zip(inputs, names)
    ]
    try:
        results = _run_verify_tasks(client, os.path.abspath(registry.path), registry.digest, index.applied_lists, tasks)
    except BaseException:
        if staged is not None:
            staged.discard()
        raise
    if staged is not None:
        staged.put_in_place()
    files = [
        {"input": input, "matches": name, **json.loads(text)} for input, name, (text, _) in zip(inputs, names, results)
    ]
    combined = {"clean": all(f["clean"] for f in files)}
    combined.update(_engine.add_verify_counts([counts for _, counts in results]))
    combined["matches_written"] = sum(f["matches_written"] for f in files)
    combined["files"] = files
    return combined
