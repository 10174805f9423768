"""optout on a Dask cluster: the same rules, the same accounting, on more than one machine.

filter_dataframe / count_verdicts: a Dask DataFrame filtered partition by partition with the
pandas helper (optout.pandas).

filter_files: CSV files (or one large file cut at record boundaries by the engine) filtered piece
by piece by the C++ engine on the workers, into part files in one output folder, with one set of
combined stats and one audit record whose counts add up over all pieces.

Tasks get the registry's path and digest, never the registry: each worker process loads the
snapshot once (optout.cached_registry) and refuses one whose digest differs from the digest the
run started with. Paths (inputs, registry, outputs) must mean the same file on every worker: a
shared file system, as for any Dask job that reads files.
"""

import json
import os
import shutil
import time
import uuid

import dask

from . import _engine
from .core import _registry_of, cached_registry, make_filter_options, parse_max_age
from .errors import Error, InternalError, IoError, PieceFailedError
from .pandas import classify_frame, count_verdicts as _count_arrays, filter_frame

__all__ = ["filter_dataframe", "count_verdicts", "filter_files"]


def _prepare(registry, apply, max_age):
    """Loads the registry here (once per process), checks its age and the lists, and returns what
    tasks need to find the same snapshot on a worker: (path, digest, lists)."""
    registry = _registry_of(registry)
    if max_age is not None:
        registry.check_age(parse_max_age(max_age))
    index = registry.index(apply)  # an unknown list fails here, before any task runs
    return os.path.abspath(registry.path), registry.digest, index.applied_lists


# ---- Dask DataFrames -------------------------------------------------------------------------


def _keep_partition(part, path, digest, lists, column):
    return filter_frame(part, cached_registry(path, digest), column, apply=lists).kept


def _count_partition(part, path, digest, lists, column):
    verdicts, reasons = classify_frame(part, cached_registry(path, digest), column, lists)
    return _count_arrays(verdicts, reasons)


def _add_counts(counts):
    total = {"rows": 0, "kept": 0, "removed": 0, "rejected": 0, "rejected_by_reason": {}}
    for c in counts:
        for key in ("rows", "kept", "removed", "rejected"):
            total[key] += c[key]
        for name, n in c["rejected_by_reason"].items():
            total["rejected_by_reason"][name] = total["rejected_by_reason"].get(name, 0) + n
    return total


def filter_dataframe(frame, registry, column, *, apply=None, max_age=None):
    """The rows of a Dask DataFrame that the filter keeps, partition by partition (lazy).

    registry: a snapshot's path (or an optout.Registry, of which only the path is used);
    column, apply, max_age: as optout.pandas.filter_frame. Each partition keeps its index and row
    order. The registry is loaded here to check it, and once in each worker process.
    """
    path, digest, lists = _prepare(registry, apply, max_age)
    return frame.map_partitions(_keep_partition, path, digest, lists, column, meta=frame._meta)


def count_verdicts(frame, registry, column, *, apply=None, max_age=None):
    """A dask Delayed of the counts over every partition (rows, kept, removed, rejected,
    rejected_by_reason), as optout.pandas.filter_frame's counts."""
    path, digest, lists = _prepare(registry, apply, max_age)
    parts = [dask.delayed(_count_partition)(p, path, digest, lists, column) for p in frame.to_delayed()]
    return dask.delayed(_add_counts)(parts)


# ---- Files -----------------------------------------------------------------------------------


def _run_piece(spec):
    """Runs on a worker: one whole file or one piece of a file, by the C++ engine."""
    registry = cached_registry(spec["registry"], spec["digest"])
    index = registry.index(spec["lists"])
    options = make_filter_options(**spec["options"])
    options.digest_output = True  # each part's digest goes into the run's audit record
    if spec["header"] is None:
        stats = _engine.filter_file(
            registry._native, index._native, options, spec["input"], spec["output"], spec["rejects"], None, None
        )
    else:
        stats = _engine.filter_piece(
            registry._native,
            index._native,
            options,
            spec["input"],
            spec["header"],
            spec["header_lines"],
            spec["file_bytes"],
            spec["offset"],
            spec["length"],
            spec["first_line"],
            spec["output"],
            spec["rejects"],
        )
    return stats


def _describe(spec):
    """A piece as the stats and audit record list it."""
    d = {"input": spec["input"], "output": os.path.basename(spec["output"])}
    if spec["header"] is not None:
        d["offset"] = spec["offset"]
        d["length"] = spec["length"]
        d["first_line"] = spec["first_line"]
    return d


def _remove_tree(path):
    # A task still running on a worker may create a temporary file while the folder is removed.
    for _ in range(20):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.05)


def _default_client():
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _gather(client, specs, run_id):
    """Runs every spec; returns their stats in order, or raises for the first piece that fails."""
    if client is None:
        results = []
        for spec in specs:
            try:
                results.append(_run_piece(spec))
            except Error as e:
                e.piece = _describe(spec)
                raise
        return results

    from distributed import as_completed, wait
    from distributed.scheduler import KilledWorker

    def failure(i):
        try:
            error = futures[i].exception()
        except Exception as e:  # cancelled: the run is being torn down
            error = e
        if isinstance(error, KilledWorker):
            failed = PieceFailedError(
                f"{specs[i]['input']}: piece {i} ({os.path.basename(specs[i]['output'])}) was not "
                f"filtered: the workers running it died ({error})"
            )
            failed.__cause__ = error
            error = failed
        if isinstance(error, Error):
            error.piece = _describe(specs[i])
        return error

    keys = [f"optout-piece-{run_id}-{i:05d}" for i in range(len(specs))]
    futures = [client.submit(_run_piece, spec, key=key, pure=False) for spec, key in zip(specs, keys)]
    where = {f.key: i for i, f in enumerate(futures)}
    results = [None] * len(specs)
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


def _check_outputs(folder, specs, results):
    """Every part file is there, whole; stray temporary files of killed workers are removed."""
    expected = {os.path.basename(s["output"]): r["bytes_out"] for s, r in zip(specs, results)}
    for name in os.listdir(folder):
        if name not in expected:
            os.unlink(os.path.join(folder, name))  # a ".part-....tmp-..." a killed worker left
    for name, size in expected.items():
        path = os.path.join(folder, name)
        actual = os.path.getsize(path) if os.path.exists(path) else None
        if actual != size:
            raise PieceFailedError(f"{path}: expected {size} bytes, found {actual}")


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
    max_age=None,
    max_rejected=None,
    piece_bytes=None,
    rejects_dir=None,
    stats=None,
    audit=None,
    threads=None,
    block_size=None,
    max_record_bytes=None,
    client=None,
):
    """Filters CSV files on a Dask cluster, each file or piece by the C++ engine on a worker.

    inputs: a path or a list of paths. piece_bytes: cut each file larger than this into pieces
    of about this size at record boundaries (the engine finds them, quote-aware, reading the
    file once here); None: one piece per file. Each piece is filtered as the header followed by
    its records, so each output is a valid CSV with the header.

    output_dir: a folder that must not exist yet. The outputs are part-00000.csv, part-00001.csv,
    ... in input order (for a cut file, the parts without their headers, concatenated, are the
    whole file's `optout filter` output byte for byte). They are written into a temporary folder
    beside output_dir, and the engine commits the run as it commits one file's (README, "Audit
    records"): audit "committing", rejects_dir, stats, output_dir (a rename that never replaces:
    of two runs to one output_dir, the second fails with IoError), audit "ok". output_dir never
    exists incomplete. rejects_dir: the same for rejected rows. stats: a JSON file of the combined
    stats. audit: the run's records (counts over all pieces, each part's XXH3-128 under "pieces");
    a failed run appends "failed" with its error code.

    column, column_index, header, delimiter, apply, max_age, block_size, max_record_bytes: as
    optout.filter_file. max_rejected: checked over the whole run. threads: per piece (default 1
    on a cluster, every core in this process).

    client: a distributed.Client; None: the current client if there is one, else this process;
    False: this process, piece after piece.

    Returns the combined stats (the stats file's JSON, made by the engine): rows, kept, removed,
    rejected (rows == kept + removed + rejected), rejected_by_reason, bytes_in (the bytes read,
    a cut file's header once; a FIFO's too), bytes_out (the parts' sizes), bytes_rejected,
    seconds (wall), mb_per_second, pieces (one dict per part: input, output, offset/length/
    first_line for a cut file, and its counts and output_digest). A failed piece raises its
    error (an engine error names the input file and its line, as `optout filter` on that file
    would; its .piece attribute says which piece); a piece whose workers kept dying raises
    PieceFailedError. Then no output_dir, rejects_dir or stats file appears. An output_dir or
    rejects_dir that exists already is optout.IoError "...: already exists".
    """
    started = time.time()
    inputs = [os.fspath(inputs)] if isinstance(inputs, (str, bytes, os.PathLike)) else [os.fspath(p) for p in inputs]
    if not inputs:
        raise ValueError("no input files")
    if client is None:
        client = _default_client()
    elif client is False:
        client = None
    if threads is None:
        threads = 1 if client is not None else 0
    option_args = dict(
        column=column,
        column_index=column_index,
        header=header,
        delimiter=delimiter,
        threads=threads,
        block_size=block_size,
        max_record_bytes=max_record_bytes,
    )
    options = make_filter_options(**option_args, max_rejected=max_rejected)  # checks everything first
    if piece_bytes is not None and (isinstance(piece_bytes, bool) or not isinstance(piece_bytes, int) or piece_bytes < 1):
        raise ValueError("piece_bytes must be a positive int")
    registry = _registry_of(registry)
    registry_path, digest, lists = _prepare(registry, apply, max_age)
    input_name = inputs[0] if len(inputs) == 1 else f"{len(inputs)} files"

    # The engine stages the folders and commits the run (its one commit protocol, README "Audit
    # records"): this module only schedules the pieces and hands their results over.
    output = rejects_out = None
    committing = False
    try:
        output = _engine.StagedDirectory(output_dir)  # IoError "...: already exists"
        rejects_out = _engine.StagedDirectory(rejects_dir) if rejects_dir is not None else None
        folder = output.temp_path
        rejects_folder = rejects_out.temp_path if rejects_out is not None else None
        # What to run: whole files, or the pieces the engine cut them into (here, reading each once).
        specs = []
        for path in inputs:
            base = dict(
                registry=registry_path, digest=digest, lists=lists, options=option_args, input=path, header=None
            )
            cut = None
            if piece_bytes is not None and os.path.getsize(path) > piece_bytes:
                cut = _engine.cut_file(path, options, piece_bytes)
            if cut is None:
                specs.append(base)
                continue
            head, header_lines, file_bytes, pieces = cut
            for offset, length, first_line in pieces:
                specs.append(
                    dict(
                        base,
                        header=head,
                        header_lines=header_lines,
                        file_bytes=file_bytes,
                        offset=offset,
                        length=length,
                        first_line=first_line,
                    )
                )
        for i, spec in enumerate(specs):
            name = f"part-{i:05d}.csv"
            spec["output"] = os.path.join(folder, name)
            spec["rejects"] = os.path.join(rejects_folder, name) if rejects_folder else None

        results = _gather(client, specs, uuid.uuid4().hex[:12])
        _check_outputs(folder, specs, results)
        if rejects_folder:
            _check_outputs(rejects_folder, specs, [dict(r, bytes_out=r["bytes_rejected"]) for r in results])
        total = _add_counts(results)
        _engine.check_rejected(total["rows"], total["rejected"], options, input_name)  # the run's gate

        pieces = [
            (
                spec["input"],
                os.path.basename(spec["output"]),
                *(
                    (None, 0, 0, 0)
                    if spec["header"] is None
                    else (spec["offset"], spec["length"], spec["first_line"], len(spec["header"]))
                ),
                r,
            )
            for spec, r in zip(specs, results)
        ]
        committing = True  # from here the engine records the outcome, a failure included
        text = _engine.commit_pieces(
            registry._native, lists, input_name, inputs, int(started), time.time() - started, pieces,
            output, rejects_out, stats, audit,
        )
        output = rejects_out = None
        return json.loads(text)
    except BaseException as error:
        if output is not None and not committing:
            if isinstance(error, Error) and error.code is not None:
                code = error.code
            else:
                code = IoError.code if isinstance(error, OSError) else InternalError.code
            # The run's own error stays the one raised; what could not be cleaned up or recorded
            # is added to it.
            note = _engine.abandon_pieces(
                registry._native, lists, input_name, inputs, int(started), output_dir, output, rejects_out,
                audit, code,
            )
            if note:
                error.add_note(note)
        raise
    finally:
        # A task still running on a worker may create a temporary file while the folder is removed.
        for staged in (output, rejects_out):
            if staged is not None:
                _remove_tree(staged.temp_path)
