#!/usr/bin/env python3
"""Throughput of optout from Python and on a Dask LocalCluster. A benchmark, not a test.

    PYTHONPATH=build/bindings/python /usr/bin/python3 bindings/python/bench/bench_python.py --build build

Measures, with data made by optout-gen (a 5 M-number national list built into a registry, as
the README's filter figures use):
  - batch lookups: numbers per second for 10 M uint64 numbers (half listed, half valid but not
    listed, shuffled), the same as int64, as a numpy bytes array ('S10'), and as a list of str;
  - files: FILES extracts of ROWS rows each filtered into a folder, files per second, on a
    LocalCluster (2 worker processes x 1 thread, optout.dask.filter_files) against one process
    (the same call with client=False: the engine with every core, and with 1 thread) and
    against one `optout filter` process per file;
  - one large file cut at record boundaries on the cluster against `optout filter` of it whole.
Each figure is the median of --runs runs (configurations interleaved, after one warm-up run).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np


def valid_numbers(count, rng):
    """count random valid NHS numbers (uint64) in the England ranges."""
    stems = rng.integers(400_000_000, 800_000_000, size=int(count * 1.2), dtype=np.int64)
    total = np.zeros_like(stems)
    rest = stems.copy()
    for weight in range(2, 11):  # the last of the nine digits has weight 2
        total += (rest % 10) * weight
        rest //= 10
    check = 11 - total % 11
    check[check == 11] = 0
    keep = check != 10
    return (stems[keep] * 10 + check[keep])[:count].astype(np.uint64)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_runs(configs, runs):
    """{name: [seconds, ...]}: one warm-up run each, then runs rounds, configurations interleaved."""
    for fn in configs.values():
        fn()
    times = {name: [] for name in configs}
    for _ in range(runs):
        for name, fn in configs.items():
            times[name].append(timed(fn))
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="the CMake build folder (optout, optout-gen)")
    parser.add_argument("--work", default="/tmp/optout-bench-python", help="where data and outputs go")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--numbers", type=int, default=10_000_000)
    parser.add_argument("--strings", type=int, default=2_000_000, help="size of the list-of-str batch")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows", type=int, default=500_000, help="rows per extract")
    parser.add_argument("--big-rows", type=int, default=5_000_000, help="rows of the file cut into pieces")
    parser.add_argument("--piece-bytes", type=int, default=32 << 20)
    args = parser.parse_args()

    import optout
    import optout.dask

    cli = os.path.join(args.build, "engine", "cli", "optout")
    gen = os.path.join(args.build, "datasets", "optout-gen")
    os.makedirs(args.work, exist_ok=True)
    work = lambda name: os.path.join(args.work, name)  # noqa: E731
    quiet = dict(check=True, stdout=subprocess.DEVNULL)

    if not os.path.exists(work("registry.optout")):
        subprocess.run([gen, "list", "--kind", "national", "--count", "5000000", "-o", work("national.txt")], **quiet,
                       stderr=subprocess.DEVNULL)
        subprocess.run([cli, "build", "--list", f"national={work('national.txt')}", "-o", work("registry.optout"),
                        "--quiet"], **quiet)
    if not os.path.exists(work("extract.csv")):
        subprocess.run([gen, "extract", "--rows", str(args.rows), "-o", work("extract.csv")], **quiet)
    files = []
    for i in range(args.files):
        path = work(f"extract-{i}.csv")
        if not os.path.exists(path):
            shutil.copy(work("extract.csv"), path)
        files.append(path)
    if not os.path.exists(work("big.csv")):
        subprocess.run([gen, "extract", "--rows", str(args.big_rows), "-o", work("big.csv")], **quiet)

    registry = optout.load(work("registry.optout"))
    index = registry.index()
    results = {"machine": f"{os.cpu_count()} cores", "runs": args.runs}

    # ---- Batch lookups ------------------------------------------------------------------------
    rng = np.random.default_rng(6)
    listed = np.array(open(work("national.txt")).read().split(), dtype=np.uint64)
    half = args.numbers // 2
    numbers = np.concatenate([rng.choice(listed, size=half, replace=False), valid_numbers(args.numbers - half, rng)])
    rng.shuffle(numbers)
    as_int64 = numbers.astype(np.int64)
    as_bytes = numbers.astype("S10")
    as_str = [str(n) for n in numbers[: args.strings]]
    removed = int((index.verdicts(numbers) == optout.REMOVED).sum())
    assert removed >= half, removed  # every listed number is removed (and random ones that are listed)
    lookups = median_runs(
        {
            "uint64": lambda: index.verdicts(numbers),
            "int64": lambda: index.verdicts(as_int64),
            "bytes S10": lambda: index.verdicts(as_bytes),
            "list of str": lambda: index.verdicts(as_str),
        },
        args.runs,
    )
    sizes = {"uint64": len(numbers), "int64": len(numbers), "bytes S10": len(numbers), "list of str": len(as_str)}
    results["lookups"] = {
        name: {"count": sizes[name], "median_seconds": statistics.median(t),
               "numbers_per_second": sizes[name] / statistics.median(t)}
        for name, t in lookups.items()
    }

    # ---- Files on a LocalCluster against one process ------------------------------------------
    from distributed import Client, LocalCluster

    def fresh(name):
        shutil.rmtree(work(name), ignore_errors=True)
        return work(name)

    def cli_each():
        out = fresh("out-cli")
        os.mkdir(out)
        for i, path in enumerate(files):
            subprocess.run([cli, "filter", "-r", work("registry.optout"), "--column", "nhs_number", path,
                            "-o", os.path.join(out, f"{i}.csv"), "--quiet"], check=True)

    big_bytes = os.path.getsize(work("big.csv"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        run_files = {
            "LocalCluster 2x1 (filter_files)": lambda: optout.dask.filter_files(
                files, fresh("out-cluster"), work("registry.optout"), column="nhs_number", client=client),
            "one process, every core (client=False)": lambda: optout.dask.filter_files(
                files, fresh("out-local"), work("registry.optout"), column="nhs_number", client=False, threads=0),
            "one process, 1 thread (client=False)": lambda: optout.dask.filter_files(
                files, fresh("out-local1"), work("registry.optout"), column="nhs_number", client=False, threads=1),
            "optout filter per file (CLI, every core)": cli_each,
        }
        file_times = median_runs(run_files, args.runs)
        run_big = {
            "LocalCluster 2x1, cut into pieces": lambda: optout.dask.filter_files(
                work("big.csv"), fresh("out-big"), work("registry.optout"), column="nhs_number",
                piece_bytes=args.piece_bytes, client=client),
            "optout filter, whole file (every core)": lambda: subprocess.run(
                [cli, "filter", "-r", work("registry.optout"), "--column", "nhs_number", work("big.csv"),
                 "-o", work("big-clean.csv"), "--quiet"], check=True),
        }
        big_times = median_runs(run_big, args.runs)
    input_bytes = sum(os.path.getsize(p) for p in files)
    results["files"] = {
        name: {"files": len(files), "bytes": input_bytes, "median_seconds": statistics.median(t),
               "files_per_second": len(files) / statistics.median(t),
               "mb_per_second": input_bytes / 1e6 / statistics.median(t)}
        for name, t in file_times.items()
    }
    results["big_file"] = {
        name: {"bytes": big_bytes, "median_seconds": statistics.median(t),
               "mb_per_second": big_bytes / 1e6 / statistics.median(t)}
        for name, t in big_times.items()
    }
    for name in ("out-cluster", "out-local", "out-local1", "out-cli", "out-big", "big-clean.csv"):
        shutil.rmtree(work(name), ignore_errors=True)
    if os.path.exists(work("big-clean.csv")):
        os.unlink(work("big-clean.csv"))

    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
