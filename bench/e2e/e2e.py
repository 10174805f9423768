#!/usr/bin/python3
"""optout's end-to-end benchmark: whole commands on generated extracts, against the floors (cat,
wc) and the tools people use instead (DuckDB, Polars, Miller, SQLite, pandas, awk, grep), each
doing the same anti-join, and each output checked against optout's. Besides CSV → CSV, the same
extract compressed (gzip → gzip, zstd → zstd: against igzip and zstd floors, the shell pipelines
users write and DuckDB) and as JSON Lines (against DuckDB's read_json), with output sizes.

  e2e.py run --mode smoke|quick|medium|full [--out DIR] [--groups csv,gz,zst,jsonl]
             [--tools REGEX] [--build-dir DIR | --optout PATH --optout-gen PATH]
  e2e.py compare OLD.json NEW.json [--threshold 10] [--all]
  e2e.py report NAME.json           (rewrites NAME.md and NAME.png from it)

`run` writes results.json (every run's time), results.md (the tables) and results.png into DIR
(default bench-results/<mode>-<UTC time>/). It exits 1 when optout fails, when its modes disagree,
when the generated list and extract do not agree (too few or too many rows removed), and in smoke
mode when any tool fails or differs. `compare` exits 1 when a figure of NEW is more than the
threshold worse than in OLD. See bench/README.md.

Standard library only, run with Debian's /usr/bin/python3.
"""
from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import datetime
import gzip
import hashlib
import itertools
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(__file__).resolve().parent / "peers"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has python3-pandas
CORES = len(os.sched_getaffinity(0))
GIB = 1 << 30
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

# optout-gen's default population. A list of N numbers uses the national rate N / POPULATION, so
# that the list holds (about) every opted-out patient the extract can draw.
POPULATION = 60_000_000
# Share of extract rows whose patient is on the list: the real national rate (about 5 %).
OPTOUT_SHARE = 0.05
# Outside this range the list and the extract do not agree, and the comparison means nothing.
REMOVED_SHARE_RANGE = (0.02, 0.10)


# ---------------------------------------------------------------------------------------------
# Modes: data sizes, repetitions, limits

@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    width: str          # "narrow" (9 columns, ~75 B/row) or "wide" (191 columns, ~1 KB/row)
    rows: int
    list_numbers: int

    @property
    def name(self) -> str:
        return (f"{self.width}, {count_label(self.rows)} rows, "
                f"{count_label(self.list_numbers)}-number list")

    @property
    def column_index(self) -> int:  # 1-based, for awk
        return 2 if self.width == "narrow" else 91


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    datasets: tuple[DatasetSpec, ...]
    with_peers: bool          # False: floors, optout and awk only (no npm, no Debian peers)
    timeout_s: float          # per run; a tool past it is stopped and reported as timed out
    runs: Callable[[float], int]  # timed runs after the warm-up, from the warm-up's seconds;
                              # 0: the warm-up itself is the one timed run (for minute-long tools)
    strict: bool              # every tool must succeed with the same rows (smoke: a test)


def _full_runs(warmup_s: float) -> int:
    # Full mode must end in well under an hour on 2 cores. A tool that takes half a minute reads
    # an extract the floors have already put in the page cache, so its warm-up is its one timing.
    if warmup_s < 10:
        return 5
    if warmup_s < 30:
        return 3
    return 0


MODES = {
    "smoke": Mode("smoke", (DatasetSpec("narrow", 20_000, 10_000),
                            DatasetSpec("wide", 500, 10_000)),
                  with_peers=False, timeout_s=60, runs=lambda _: 3, strict=True),
    # Quick must end within 3 minutes on a busy 2-core machine, all peers included.
    "quick": Mode("quick", (DatasetSpec("narrow", 100_000, 50_000),
                            DatasetSpec("wide", 5_000, 50_000)),
                  with_peers=True, timeout_s=60, runs=lambda warmup_s: 3 if warmup_s < 5 else 1,
                  strict=False),
    "full": Mode("full", (DatasetSpec("narrow", 5_000_000, 5_000_000),
                          DatasetSpec("narrow", 20_000_000, 50_000_000),
                          DatasetSpec("wide", 1_000_000, 5_000_000)),
                 with_peers=True, timeout_s=300, runs=_full_runs, strict=False),
    # The 5 M-row extract alone (issue 13's figures): with --tools, about 10 minutes on 2 cores.
    "medium": Mode("medium", (DatasetSpec("narrow", 5_000_000, 5_000_000),),
                   with_peers=True, timeout_s=300,
                   runs=lambda warmup_s: 3 if warmup_s < 10 else 1 if warmup_s < 30 else 0,
                   strict=False),
}


def count_label(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g} {unit}"
    return str(n)


# ---------------------------------------------------------------------------------------------
# Generated inputs, cached by the generator's arguments

@dataclasses.dataclass(frozen=True)
class Dataset:
    spec: DatasetSpec
    extract: Path       # ends in .csv (Polars' readCSV would take another name for CSV text)
    list_txt: Path      # one 10-digit number per line: optout build, awk, grep
    list_csv: Path      # the same with a header, nhs_number: the CSV tools
    extract_bytes: int


class DataCache:
    """Generated files under DIR, each named by a digest of optout-gen's version and arguments, so
    that a rerun (or another mode with the same sizes) skips generation."""

    def __init__(self, directory: Path, optout_gen: Path):
        self.directory = directory
        self.optout_gen = optout_gen
        self.version = run_text([str(optout_gen), "--version"])

    def dataset(self, spec: DatasetSpec) -> Dataset:
        # repr: the shortest text of the double optout-gen computes itself for --count, so the
        # list's rate is not "raised" and the extract uses exactly the same one.
        rate = repr(spec.list_numbers / POPULATION)
        common = ["--seed", "1", "--population", str(POPULATION), "--national-rate", rate]
        extract = self._generated(
            ["extract", *common, "--rows", str(spec.rows), "--width", spec.width,
             "--optout-share", str(OPTOUT_SHARE)], ".csv")
        list_txt = self._generated(
            ["list", *common, "--kind", "national", "--count", str(spec.list_numbers)], ".txt")
        list_csv = list_txt.with_suffix(".csv")
        if not list_csv.exists():
            partial = list_csv.with_suffix(".csv.partial")
            with open(partial, "wb") as out, open(list_txt, "rb") as numbers:
                out.write(b"nhs_number\n")
                shutil.copyfileobj(numbers, out, 1 << 20)
            partial.rename(list_csv)
        return Dataset(spec, extract, list_txt, list_csv, extract.stat().st_size)

    def derived(self, extract: Path, group: "Group") -> Path:
        """The extract in the group's input format (gzip -6, zstd -3, JSON Lines), made from the
        cached extract once and cached beside it."""
        path = extract.with_name(extract.stem + group.input_suffix)
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            log(f"making {path.name}: {group.input_made_by}")
            if group.name == "jsonl":
                write_jsonl(extract, partial)
            else:
                with open(partial, "wb") as out:
                    subprocess.run([*group.compress, str(extract)], stdout=out, check=True)
            partial.rename(path)
        return path


    def _generated(self, args: list[str], suffix: str) -> Path:
        key = hashlib.sha256(json.dumps([self.version, args]).encode()).hexdigest()[:16]
        path = self.directory / f"{args[0]}-{key}{suffix}"
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            log(f"generating {path.name}: optout-gen {' '.join(args)}")
            # optout-gen -o writes a temporary file and renames it: no half file is ever cached.
            subprocess.run([str(self.optout_gen), *args, "-o", str(path)], check=True)
            path.with_suffix(".args.json").write_text(json.dumps(
                {"generator": self.version, "args": args}, indent=1) + "\n")
        return path


# JSON Lines from CSV: one object per row, the header's names as keys in order, every value a
# string (as a CSV reader gives it: quotes removed), compact (no spaces, `","` and `":"`), UTF-8
# unescaped. That is how DuckDB's COPY ... (FORMAT json) writes the same records, so its output
# can be byte-identical. Bump the version when the rendering changes: it names the cached file.
JSONL_RENDERING = 1
_JSON_PLAIN = re.compile(r'[^"\\\x00-\x1f]*\Z')


def jsonl_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """The CSV records (the first one the header) as JSON Lines, one object per data record."""
    rows = iter(rows)
    header = next(rows, None)
    if header is None:
        return
    keys = [json.dumps(name, ensure_ascii=False) + ":" for name in header]
    for row in rows:
        yield "{" + ",".join(
            key + ('"' + value + '"' if _JSON_PLAIN.match(value)
                   else json.dumps(value, ensure_ascii=False))
            for key, value in zip(keys, row)) + "}\n"


def write_jsonl(csv_path: Path, out: Path) -> None:
    with open(out, "w", encoding="utf-8", errors="surrogateescape", newline="",
              buffering=1 << 20) as f:
        f.writelines(jsonl_lines(csv_rows(csv_path)))

# ---------------------------------------------------------------------------------------------
# Running a command: wall time, peak memory, timeout and memory budget

@dataclasses.dataclass(frozen=True)
class Command:
    """A pipeline: stages[0] | stages[1] | ..., stdin from a file, the last stdout to a file."""
    stages: tuple[tuple[str, ...], ...]
    stdout: Path | None = None    # None: the tool writes its own output file (or nothing)
    env: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass
class Run:
    seconds: float
    peak_rss_bytes: int | None    # the largest peak resident set among the pipeline's processes
    status: str                   # "ok", "timeout", "memory", "failed"
    detail: str = ""


# Peak memory comes from GNU time (%M), which runs each stage as its own child. The rusage that
# wait4 gives this script would not do: a child forked from Python keeps Python's resident pages
# until exec, and Linux folds that high-water mark into the child's ru_maxrss (a `cat` would
# "peak" at this script's size, and at gigabytes after an output check).
GNU_TIME = "/usr/bin/time"


def run_command(command: Command, cwd: Path, timeout_s: float, memory_budget: int,
                stderr_path: Path) -> Run:
    env = dict(os.environ, **dict(command.env))
    measured = os.access(GNU_TIME, os.X_OK)
    rss_files = [stderr_path.with_name(f"{stderr_path.stem}.rss{i}")
                 for i in range(len(command.stages))]
    procs: list[subprocess.Popen] = []
    with open(stderr_path, "wb") as stderr, \
            open(command.stdout or os.devnull, "wb") as stdout:
        start = time.perf_counter()
        for i, argv in enumerate(command.stages):
            last = i == len(command.stages) - 1
            wrapped = ((GNU_TIME, "-q", "-f", "%M", "-o", str(rss_files[i]), *argv) if measured
                       else argv)
            procs.append(subprocess.Popen(
                wrapped, cwd=cwd, env=env, stdin=procs[-1].stdout if procs else subprocess.DEVNULL,
                stdout=stdout if last else subprocess.PIPE, stderr=stderr,
                # One process group per run, so that a timeout stops every stage and its children.
                process_group=procs[0].pid if procs else 0))
            if i > 0:
                procs[-2].stdout.close()  # only the next stage holds the pipe: SIGPIPE works
        watchdog = _Watchdog(procs[0].pid, start, timeout_s, memory_budget)
        watchdog.start()
        exit_codes = [proc.wait() for proc in procs]
        seconds = time.perf_counter() - start
        watchdog.finish()
    peak = None
    if measured and not watchdog.reason:
        peak = max(int(f.read_text().split()[-1]) * 1024 for f in rss_files)
    for f in rss_files:
        f.unlink(missing_ok=True)
    if watchdog.reason == "timeout":
        return Run(seconds, peak, "timeout", f"timed out after {timeout_s:g} s")
    if watchdog.reason == "memory":
        return Run(seconds, peak, "memory",
                   f"stopped: over the {memory_budget / GIB:g} GiB memory budget")
    failed = [(argv[0], code) for argv, code in zip(command.stages, exit_codes) if code != 0]
    if failed:
        name, code = failed[0]
        return Run(seconds, peak, "failed",
                   f"{Path(name).name} exited {code}: {last_line(stderr_path)}")
    return Run(seconds, peak, "ok")


class _Watchdog(threading.Thread):
    """Stops a run's process group past the timeout, or when the resident memory of its
    processes adds up to more than the budget (a peer that would push the shared machine into
    swap or the OOM killer). Polls /proc; the main thread times the run undisturbed."""

    POLL_S = 0.25

    def __init__(self, group: int, start: float, timeout_s: float, memory_budget: int):
        super().__init__(daemon=True)
        self.group, self.start_time = group, start
        self.timeout_s, self.memory_budget = timeout_s, memory_budget
        self.reason = ""
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.POLL_S):
            if time.perf_counter() - self.start_time > self.timeout_s:
                self._kill("timeout")
            elif self._group_rss() > self.memory_budget:
                self._kill("memory")
            else:
                continue
            return

    def _group_rss(self) -> int:
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.group:  # field 5 of stat, the process group
                    total += int(fields[21]) * PAGE_BYTES  # field 24, rss in pages
            except (OSError, IndexError, ValueError):
                pass  # exited while we looked
        return total

    def _kill(self, reason: str) -> None:
        self.reason = reason
        try:
            os.killpg(self.group, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self) -> None:
        self._done.set()
        self.join()


def last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    # Tools may echo a row in an error message: never copy an NHS number into the results.
    return re.sub(r"\d{10}", "<number>", lines[-1][:300]) if lines else "(no message)"


def run_text(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


# ---------------------------------------------------------------------------------------------
# Checking outputs against optout's

class Reference:
    """optout's output for a dataset, and the fingerprints every other output is compared with.
    The costly ones are computed only when some output needs them."""

    def __init__(self, path: Path, jsonl: bool = False):
        self.path = path
        self.jsonl = jsonl  # JSON Lines: no header line; records compared as JSON values
        self.size = path.stat().st_size
        self.digest = file_digest(path)
        self._lines: tuple[int, int] | None = None

    @property
    def lines(self) -> tuple[int, int]:
        if self._lines is None:
            self._lines = line_fingerprint(self.path)
        return self._lines

    @property
    def rows(self) -> int:
        return self.lines[0] - (0 if self.jsonl else 1)  # a CSV header is not a row


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "blake2b").hexdigest()


# A multiset fingerprint: the count and the sum (mod 2^64) of per-row hashes. Python's hash of
# bytes is keyed SipHash, fresh per process, so unequal multisets collide with odds of ~2^-64;
# this needs one pass and no memory, where sorting 20 M rows would not.
def line_fingerprint(path: Path) -> tuple[int, int]:
    count = total = 0
    with open(path, "rb") as f:
        for line in f:
            count += 1
            total += hash(line.rstrip(b"\r\n"))
    return count, total & 0xFFFF_FFFF_FFFF_FFFF


def csv_rows(path: Path) -> Iterable[list[str]]:
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        yield from csv.reader(f)


def json_records(path: Path) -> Iterable[str]:
    """Each line's JSON value, spelled canonically (keys sorted, one spelling of each string), so
    that records written with other spacing, escapes or key order compare equal; a line that is
    not JSON stays as it is (and so differs)."""
    with open(path, "rb") as f:
        for line in f:
            try:
                yield json.dumps(json.loads(line), sort_keys=True, ensure_ascii=False)
            except ValueError:
                yield line.decode("utf-8", "replace")


def check_output(path: Path, reference: Reference) -> tuple[str, int]:
    """Classifies an output and counts its data rows. From cheap to dear:
    byte-identical (size + digest); same rows, other order (raw lines as a multiset);
    same rows (re-quoted) [, other order] when only the CSV quoting differs (fields compared as
    values, as a CSV reader sees them; for JSON Lines, "re-serialised": each line's JSON value);
    else wrong, with how many rows are missing or extra."""
    if path.stat().st_size == reference.size and file_digest(path) == reference.digest:
        return "byte-identical", reference.rows
    header_lines = 0 if reference.jsonl else 1
    lines = line_fingerprint(path)
    if lines == reference.lines:
        return "same rows, other order", lines[0] - header_lines
    # Field values, as a CSV (or JSON) reader sees them: one pass over both files.
    records, respelt = ((json_records, "re-serialised") if reference.jsonl
                        else (lambda p: map(tuple, csv_rows(p)), "re-quoted"))
    in_order = True
    count, total, ref_count, ref_total = 0, 0, 0, 0
    for row, ref_row in itertools.zip_longest(records(path), records(reference.path)):
        in_order = in_order and row == ref_row
        if row is not None:
            count += 1
            total += hash(row)
        if ref_row is not None:
            ref_count += 1
            ref_total += hash(ref_row)
    rows = count - header_lines
    if count == ref_count and total == ref_total:
        return (f"same rows ({respelt})" if in_order
                else f"same rows ({respelt}), other order"), rows
    missing = collections.Counter(hash(row) for row in records(reference.path))
    extra = 0
    for row in records(path):
        key = hash(row)
        if missing[key] > 0:
            missing[key] -= 1
        else:
            extra += 1
    missing_count = sum(missing.values())
    differ = missing_count + extra
    return (f"wrong ({differ} {'row differs' if differ == 1 else 'rows differ'}: "
            f"{missing_count} missing, {extra} extra)"), rows


def check_compressed(path: Path, decompress: tuple[str, ...], reference: Reference,
                     scratch: Path) -> tuple[str, int | None]:
    """A compressed output, decompressed (`gzip -dc`, `zstd -dc`) into SCRATCH and checked as
    check_output does."""
    with open(scratch, "wb") as out:
        done = subprocess.run([*decompress, str(path)], stdout=out, stderr=subprocess.PIPE)
    try:
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()
            return (f"wrong (does not decompress with {' '.join(decompress)}: "
                    f"{why[-1][:120] if why else 'exit ' + str(done.returncode)})"), None
        return check_output(scratch, reference)
    finally:
        scratch.unlink(missing_ok=True)


def is_same_rows(correctness: str) -> bool:
    return correctness == "byte-identical" or correctness.startswith("same rows")


# ---------------------------------------------------------------------------------------------
# The tools

@dataclasses.dataclass(frozen=True)
class Inputs:
    dataset: Dataset
    registry: Path
    out: Path
    awk: str
    input: Path = Path()      # the group's input: the extract, or it compressed or as JSON Lines


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    mode: str
    kind: str                              # "floor", "optout", "pipeline" (optout between other
                                           # tools: the shell pipelines users write) or "peer"
    command: Callable[[Inputs], Command]
    floor: str = "file"                    # the floor its time is divided by: "file", "pipe"
                                           # or "existing" (the group's floor of that name, else
                                           # its "file" floor)
    floor_of: str = ""                     # a floor: the name under which others divide by it
    writes_output: bool = True             # False: nothing to check (wc, cat > /dev/null)
    needs: tuple[str, ...] = ()            # executables; "npm-peers" for node_modules
    features: tuple[str, ...] = ()         # what optout must have been built with (FEATURES)
    note: str = ""                         # caveat printed under the table
    bytes_per_list_number: int = 0         # memory estimate, to skip a run that cannot fit
    in_smoke: bool = False
    group: str = "csv"                     # the GROUPS entry whose input it reads
    over_existing: bool = False            # the output file is left from the previous run
    size_baseline: bool = False            # the output size others in the group are compared to

    @property
    def key(self) -> str:
        prefix = "" if self.group == "csv" else f"{self.group} "
        return re.sub(r"[^a-z0-9]+", "-", f"{prefix}{self.name} {self.mode}".lower()).strip("-")


# What an optout binary may or may not have been built with (issue 13); probe_features tells.
FEATURES = {
    "gzip-in": "gzip input",
    "zstd-in": "zstd input",
    "gzip-out": "gzip output (--compress gzip, -o NAME.gz)",
    "zstd-out": "zstd output (--compress zstd, -o NAME.zst)",
    "jsonl": "JSON Lines (--format jsonl)",
}


def _optout_filter(i: Inputs, threads: int, *extra: str) -> tuple[str, ...]:
    return (str(OPTOUT), "filter", "-r", str(i.registry), "--column", "nhs_number",
            "--threads", str(threads), "--quiet", *extra)


def _optout_tools() -> list[Tool]:
    """File to file and through pipes, on every core and on one; the first is the reference."""
    tools = []
    for threads in (CORES, 1):
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        tools.append(Tool("optout", f"file → file, {label}", "optout", in_smoke=True,
                          command=lambda i, t=threads: Command((
                              (*_optout_filter(i, t), str(i.dataset.extract), "-o", str(i.out)),))))
        tools.append(Tool("optout", f"cat | optout | cat, {label}", "optout", floor="pipe",
                          in_smoke=True, command=lambda i, t=threads: Command(
                              (("cat", str(i.dataset.extract)), _optout_filter(i, t), ("cat",)),
                              stdout=i.out)))
    # The copy limit over an existing output (a nightly job's): both pay ext4's flush of the
    # replaced file, at cat's close and at optout's rename.
    tools.append(Tool("optout", f"file → existing file, {CORES} threads", "optout",
                      floor="existing", over_existing=True, in_smoke=True,
                      command=lambda i: Command((
                          (*_optout_filter(i, CORES), str(i.dataset.extract), "-o", str(i.out)),))))
    return tools


OPTOUT_TOOLS = _optout_tools()
FLOORS = [
    Tool("floor", "cat extract > copy", "floor", in_smoke=True, floor_of="file",
         command=lambda i: Command((("cat", str(i.dataset.extract)),), stdout=i.out)),
    Tool("floor", "wc -l extract", "floor", writes_output=False, in_smoke=True,
         command=lambda i: Command((("wc", "-l", str(i.dataset.extract)),))),
    Tool("floor", "cat extract | cat > /dev/null", "floor", writes_output=False, in_smoke=True,
         command=lambda i: Command((("cat", str(i.dataset.extract)), ("cat",)))),
    Tool("floor", "cat extract | cat | cat > copy", "floor", floor="pipe", floor_of="pipe",
         in_smoke=True,
         command=lambda i: Command((("cat", str(i.dataset.extract)), ("cat",), ("cat",)),
                                   stdout=i.out)),
    # Through sh, so that the truncation of the old file and the last close (where ext4 flushes
    # a file rewritten after a truncation) are the timed process's, not this script's.
    Tool("floor", "cat extract > existing copy", "floor", floor="existing", floor_of="existing",
         over_existing=True, in_smoke=True,
         command=lambda i: Command((("sh", "-c", 'cat "$1" > "$2"', "sh",
                                     str(i.dataset.extract), str(i.out)),))),
]

SUBSTRING_CAVEAT = ("splits on every comma (a quoted field holding one shifts the columns) and "
                    "compares bytes, not NHS numbers (`943 476 5919`, a padded or quoted number "
                    "is missed): right only on clean data")


def _node(script: str, *args: str) -> tuple[str, ...]:
    return ("node", str(PEERS_DIR / script), *args)


def _peer_args(i: Inputs) -> tuple[str, ...]:
    return (str(i.dataset.extract), str(i.dataset.list_csv), "nhs_number", str(i.out))


def _duckdb_ordered(i: Inputs, *options: str) -> Command:
    return Command((_node("duckdb_antijoin.mjs", "--order", "input", "--threads", str(CORES),
                          *options, str(i.input), str(i.dataset.list_csv), "nhs_number",
                          str(i.out)),))


PEERS = [
    Tool("DuckDB", "ANTI JOIN (any order)", "peer", needs=("node", "npm-peers"),
         command=lambda i: Command((_node("duckdb_antijoin.mjs", "--order", "any",
                                          "--threads", str(CORES), *_peer_args(i)),))),
    Tool("DuckDB", "ANTI JOIN + row_number() ORDER BY", "peer", needs=("node", "npm-peers"),
         command=lambda i: Command((_node("duckdb_antijoin.mjs", "--order", "input",
                                          "--threads", str(CORES), *_peer_args(i)),))),
    Tool("Polars", "lazy anti join, maintainOrder", "peer", needs=("node", "npm-peers"),
         command=lambda i: Command((_node("polars_antijoin.mjs", *_peer_args(i)),),
                                   env=(("POLARS_MAX_THREADS", str(CORES)),))),
    # --ur: the unpaired records of the streamed (right) input, the extract. --ul would give the
    # list's numbers that no row has. Miller holds the -f list in memory as full records: about
    # 3 KB per number measured (1.4 GB more for 500 k numbers), so 5 M numbers need ~14 GiB.
    Tool("Miller", "join --np --ur -f list", "peer", needs=("mlr",),
         bytes_per_list_number=3000,
         command=lambda i: Command((("mlr", "--csv", "join", "--np", "--ur",
                                     "-f", str(i.dataset.list_csv), "-j", "nhs_number",
                                     str(i.dataset.extract)),), stdout=i.out)),
    Tool("SQLite", ".import + NOT IN, ORDER BY rowid", "peer", needs=("sqlite3",),
         command=lambda i: Command((("sqlite3", ":memory:", ".mode csv",
                                     f'.import "{i.dataset.extract}" extract',
                                     "CREATE TABLE optouts(nhs_number TEXT);",
                                     f'.import "{i.dataset.list_txt}" optouts',
                                     ".headers on", f'.once "{i.out}"',
                                     "SELECT * FROM extract WHERE nhs_number NOT IN "
                                     "(SELECT nhs_number FROM optouts) ORDER BY rowid;"),))),
    Tool("pandas", "read_csv(dtype=str), ~isin", "peer", needs=(SYSTEM_PYTHON,),
         command=lambda i: Command(((SYSTEM_PYTHON, str(PEERS_DIR / "pandas_antijoin.py"),
                                     *_peer_args(i)),))),
    Tool("awk", "hash anti-join", "peer", in_smoke=True, note=SUBSTRING_CAVEAT,
         command=lambda i: Command(((i.awk, "-F,",
                                     f"NR == FNR {{ drop[$0]; next }} "
                                     f"FNR == 1 || !(${i.dataset.spec.column_index} in drop)",
                                     str(i.dataset.list_txt), str(i.dataset.extract)),),
                                   stdout=i.out, env=(("LC_ALL", "C"),))),
    Tool("grep", "grep -vFf list", "peer", needs=("grep",),
         note="drops any row in which a listed number appears anywhere, even inside another "
              "field, and keeps rows whose number is spaced, padded or quoted",
         command=lambda i: Command((("grep", "-vFf", str(i.dataset.list_txt),
                                     str(i.dataset.extract)),),
                                   stdout=i.out, env=(("LC_ALL", "C"),))),
]


def _compressed_tools(group: str, codec: str, floor: Tool, decompress_floor: Tool,
                      pipelines: list[Tool], duckdb_option: str) -> list[Tool]:
    """A compressed → compressed group: its floors, optout reading and writing the codec itself
    (file → file by the output's suffix; stdin → stdout with --compress), the shell pipelines
    around an optout that reads and writes CSV, and DuckDB."""
    needs_codec = (f"{codec}-in", f"{codec}-out")
    return [
        floor, decompress_floor,
        Tool("optout", f"file → file, {CORES} threads", "optout", group=group, in_smoke=True,
             features=needs_codec,
             command=lambda i: Command((
                 (*_optout_filter(i, CORES), str(i.input), "-o", str(i.out)),))),
        Tool("optout", f"cat | optout --compress {codec} | cat, {CORES} threads", "optout",
             group=group, in_smoke=True, features=needs_codec,
             command=lambda i: Command((("cat", str(i.input)),
                                        _optout_filter(i, CORES, "--compress", codec), ("cat",)),
                                       stdout=i.out)),
        Tool("optout", "file → file, 1 thread", "optout", group=group, in_smoke=True,
             features=needs_codec,
             command=lambda i: Command(((*_optout_filter(i, 1), str(i.input), "-o", str(i.out)),))),
        *pipelines,
        Tool("DuckDB", f"read_csv, ANTI JOIN + row_number() ORDER BY, COMPRESSION {codec}",
             "peer", group=group, needs=("node", "npm-peers"),
             command=lambda i: _duckdb_ordered(i, "--compression", duckdb_option)),
    ]


GZ_TOOLS = _compressed_tools(
    "gz", "gzip",
    Tool("floor", "igzip -dc extract.gz | igzip -3 > copy.gz", "floor", group="gz",
         floor_of="file", needs=("igzip",), in_smoke=True,
         command=lambda i: Command((("igzip", "-dc", str(i.input)), ("igzip", "-3")),
                                   stdout=i.out)),
    Tool("floor", "igzip -dc extract.gz > /dev/null", "floor", group="gz", writes_output=False,
         needs=("igzip",), in_smoke=True,
         command=lambda i: Command((("igzip", "-dc", str(i.input)),))),
    [Tool("shell", "gzip -dc | optout | gzip", "pipeline", group="gz", needs=("gzip",),
          in_smoke=True, size_baseline=True,
          command=lambda i: Command((("gzip", "-dc", str(i.input)), _optout_filter(i, CORES),
                                     ("gzip",)), stdout=i.out)),
     Tool("shell", "pigz -dc | optout | pigz", "pipeline", group="gz", needs=("pigz",),
          in_smoke=True,
          command=lambda i: Command((("pigz", "-dc", str(i.input)), _optout_filter(i, CORES),
                                     ("pigz",)), stdout=i.out))],
    "gzip")
ZST_TOOLS = _compressed_tools(
    "zst", "zstd",
    Tool("floor", f"zstd -dc extract.zst | zstd -3 -T{CORES} > copy.zst", "floor", group="zst",
         floor_of="file", needs=("zstd",), in_smoke=True,
         command=lambda i: Command((("zstd", "-dc", str(i.input)), ("zstd", "-3", f"-T{CORES}")),
                                   stdout=i.out)),
    Tool("floor", "zstd -dc extract.zst > /dev/null", "floor", group="zst", writes_output=False,
         needs=("zstd",), in_smoke=True,
         command=lambda i: Command((("zstd", "-dc", str(i.input)),))),
    [Tool("shell", "zstd -dc | optout | zstd -T0", "pipeline", group="zst", needs=("zstd",),
          in_smoke=True, size_baseline=True,
          command=lambda i: Command((("zstd", "-dc", str(i.input)), _optout_filter(i, CORES),
                                     ("zstd", "-T0")), stdout=i.out))],
    "zstd")
JSONL_TOOLS = [
    Tool("floor", "cat extract.jsonl > copy", "floor", group="jsonl", floor_of="file",
         in_smoke=True, command=lambda i: Command((("cat", str(i.input)),), stdout=i.out)),
    Tool("floor", "cat extract.jsonl | cat | cat > copy", "floor", group="jsonl", floor="pipe",
         floor_of="pipe", in_smoke=True,
         command=lambda i: Command((("cat", str(i.input)), ("cat",), ("cat",)), stdout=i.out)),
    Tool("optout", f"file → file, {CORES} threads", "optout", group="jsonl", in_smoke=True,
         features=("jsonl",),
         command=lambda i: Command(((*_optout_filter(i, CORES, "--format", "jsonl"),
                                     str(i.input), "-o", str(i.out)),))),
    Tool("optout", f"cat | optout | cat, {CORES} threads", "optout", group="jsonl", floor="pipe",
         in_smoke=True, features=("jsonl",),
         command=lambda i: Command((("cat", str(i.input)),
                                    _optout_filter(i, CORES, "--format", "jsonl"), ("cat",)),
                                   stdout=i.out)),
    Tool("optout", "file → file, 1 thread", "optout", group="jsonl", in_smoke=True,
         features=("jsonl",),
         command=lambda i: Command(((*_optout_filter(i, 1, "--format", "jsonl"),
                                     str(i.input), "-o", str(i.out)),))),
    Tool("DuckDB", "read_json, ANTI JOIN + row_number() ORDER BY", "peer", group="jsonl",
         needs=("node", "npm-peers"),
         command=lambda i: _duckdb_ordered(i, "--format", "jsonl")),
]


@dataclasses.dataclass(frozen=True)
class Group:
    """A task: one input format, its tools, how its outputs are checked."""
    name: str
    title: str
    tools: tuple[Tool, ...]
    input_suffix: str = ".csv"             # of the input, made from the extract (and its output)
    input_made_by: str = ""                # how, in words
    compress: tuple[str, ...] = ()         # argv that compresses the extract to stdout
    decompress: tuple[str, ...] = ()       # argv that decompresses an output to stdout
    needs: tuple[str, ...] = ()            # executables without which nothing can run

    @property
    def output_suffix(self) -> str:        # the output's name tells optout what to write
        return self.input_suffix.removeprefix(f".v{JSONL_RENDERING}")


GROUPS = (
    Group("csv", "CSV → CSV", tuple(FLOORS + OPTOUT_TOOLS + PEERS)),
    Group("gz", "gzip → gzip", tuple(GZ_TOOLS), ".csv.gz", "gzip -6 -n",
          ("gzip", "-6", "-n", "-c"), ("gzip", "-dc"), ("gzip",)),
    Group("zst", "zstd → zstd", tuple(ZST_TOOLS), ".csv.zst", "zstd -3",
          ("zstd", "-3", "-q", "-c"), ("zstd", "-dc", "-q"), ("zstd",)),
    Group("jsonl", "JSON Lines → JSON Lines", tuple(JSONL_TOOLS), f".v{JSONL_RENDERING}.jsonl",
          "the CSV rendered as JSON Lines by e2e.py (every value a string)"),
)
ALL_TOOLS = {t.key: t for g in GROUPS for t in g.tools}
assert len(ALL_TOOLS) == sum(len(g.tools) for g in GROUPS), "tool keys must be unique"

OPTOUT = Path()  # set by `run` (module-level so that the tool table reads as data)


def tools_for(mode: Mode, group: Group, only: re.Pattern | None = None) -> list[Tool]:
    """The group's tools in this mode; with ONLY, those whose key it matches, and optout's
    reference run (the first optout row) always."""
    reference = next(t for t in group.tools if t.kind == "optout")
    return [t for t in group.tools if (mode.with_peers or t.in_smoke)
            and (only is None or only.search(t.key) or t is reference)]


# A zstd frame of b"nhs_number,x\n" (zstd -c), to probe for zstd input without the zstd CLI.
_ZSTD_PROBE = bytes.fromhex("28b52ffd04586900006e68735f6e756d6265722c780a221d1683")


def probe_features(registry: Path, work: Path) -> set[str]:
    """What this optout can do of FEATURES: asks it, on a header-only CSV, compressed, and a
    one-line JSON Lines file. Input compression is detected by content, so it is tried; output
    compression and JSON Lines must also be named in `optout filter --help`."""
    header = b"nhs_number,x\n"
    try:
        help_text = subprocess.run([str(OPTOUT), "filter", "--help"], capture_output=True,
                                   text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()

    def output(args: list[str], content: bytes, name: str) -> bytes | None:
        probe = work / name
        probe.write_bytes(content)
        try:
            done = subprocess.run([str(OPTOUT), "filter", "-r", str(registry), "--column",
                                   "nhs_number", "--quiet", *args, str(probe)],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        finally:
            probe.unlink(missing_ok=True)
        return done.stdout if done.returncode == 0 else None

    def gunzips_to_header(data: bytes | None) -> bool:
        try:
            return data is not None and data[:2] == b"\x1f\x8b" and \
                gzip.decompress(data) == header
        except (OSError, EOFError):
            return False

    features = set()
    if output([], gzip.compress(header, mtime=0), "probe.csv.gz") == header:
        features.add("gzip-in")
    if output([], _ZSTD_PROBE, "probe.csv.zst") == header:
        features.add("zstd-in")
    if "--compress" in help_text:
        if gunzips_to_header(output(["--compress", "gzip"], header, "probe.csv")):
            features.add("gzip-out")
        if (output(["--compress", "zstd"], header, "probe.csv") or b"")[:4] == _ZSTD_PROBE[:4]:
            features.add("zstd-out")
    if "--format" in help_text and "jsonl" in help_text and \
            output(["--format", "jsonl"], b'{"nhs_number":"x"}\n', "probe.jsonl") is not None:
        features.add("jsonl")
    return features


def ensure_npm_peers(log_path: Path) -> str:
    """Installs the npm peers pinned by peers/package-lock.json (npm ci) unless the installed
    tree is from that lock. Returns "" when ready, else why not."""
    installed = PEERS_DIR / "node_modules" / ".package-lock.json"
    lock = PEERS_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return ""
    if not shutil.which("npm"):
        return "npm not installed"
    log("installing the npm peers: npm ci (bench/e2e/peers)")
    with open(log_path, "wb") as out:
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEERS_DIR,
                              stdout=out, stderr=subprocess.STDOUT)
    return "" if done.returncode == 0 else f"npm ci failed (see {log_path.name})"


# ---------------------------------------------------------------------------------------------
# The benchmark

@dataclasses.dataclass
class Result:
    dataset: str
    tool: str
    mode: str
    kind: str
    key: str
    command: str
    status: str = "ok"                 # ok, skipped, not built, timeout, memory, failed
    detail: str = ""
    warmup_s: float | None = None
    runs_s: list[float] = dataclasses.field(default_factory=list)
    median_s: float | None = None
    peak_rss_bytes: int | None = None
    mb_per_s: float | None = None
    rows_per_s: float | None = None
    ratio_floor: float | None = None
    ratio_optout: float | None = None
    correctness: str = ""
    rows_out: int | None = None
    note: str = ""
    load_average: float | None = None  # 1-minute load when the tool started: others' work too
    group: str = "csv"                 # GROUPS: csv, gz, zst, jsonl
    output_bytes: int | None = None    # the output file's size (compressed, if it is)
    size_ratio: float | None = None    # output_bytes / the group's baseline (gzip -6, zstd -3)


# Statuses that are not failures: the tool could not be run here.
NOT_RUN = ("skipped", "not built")


class Bench:
    def __init__(self, mode: Mode, out_dir: Path, data: DataCache, memory_budget: int,
                 npm_problem: str, groups: tuple[Group, ...] = GROUPS,
                 only: re.Pattern | None = None):
        self.mode, self.out_dir, self.data = mode, out_dir, data
        self.memory_budget, self.npm_problem = memory_budget, npm_problem
        self.groups, self.only = groups, only
        self.work = out_dir / "work"
        self.awk = "gawk" if shutil.which("gawk") else "awk"
        self.results: list[Result] = []
        self.datasets: list[dict] = []
        self.problems: list[str] = []
        self.features: set[str] | None = None  # probed once, with the first registry

    def run(self) -> None:
        for spec in self.mode.datasets:
            self.work.mkdir(parents=True, exist_ok=True)
            dataset = self.data.dataset(spec)
            registry = self.work / "registry.optout"
            build_start = time.perf_counter()
            subprocess.run([str(OPTOUT), "build", "--list", f"national={dataset.list_txt}",
                            "-o", str(registry), "--quiet"], check=True)
            build_s = time.perf_counter() - build_start
            if self.features is None:
                self.features = probe_features(registry, self.work)
                log("optout has: " + (", ".join(sorted(self.features)) or "none")
                    + (" (of " + ", ".join(FEATURES) + ")"))
            info = {"name": spec.name, "width": spec.width, "rows": spec.rows,
                    "list_numbers": spec.list_numbers, "extract_bytes": dataset.extract_bytes,
                    "registry_bytes": registry.stat().st_size,
                    "registry_build_s": round(build_s, 4), "inputs": {}}
            self.datasets.append(info)
            log(f"== {spec.name} ({format_size(dataset.extract_bytes)})")
            reference: Reference | None = None
            for group in self.groups:
                reference = self._run_group(group, dataset, registry, info, reference)
            shutil.rmtree(self.work)

    def _run_group(self, group: Group, dataset: Dataset, registry: Path, info: dict,
                   csv_reference: Reference | None) -> Reference | None:
        """Runs the group's tools; returns the CSV reference (made by the csv group)."""
        missing = next((n for n in group.needs if not shutil.which(n)), None)
        input_path, input_bytes = dataset.extract, dataset.extract_bytes
        if group.name != "csv" and missing is None:
            input_path = self.data.derived(dataset.extract, group)
            input_bytes = input_path.stat().st_size
            info["inputs"][group.name] = {"file": input_path.name, "bytes": input_bytes,
                                          "made_by": group.input_made_by}
            log(f"-- {group.title} ({format_size(input_bytes)} {input_path.name})")
        # The outputs are checked against the CSV reference (decompressed, for gz and zst) or,
        # for JSON Lines, against the CSV reference rendered as JSON Lines, as the input was.
        reference = csv_reference
        if group.name == "jsonl" and csv_reference is not None:
            # Cached by the CSV reference's digest: rendering 5 M rows takes Python a minute.
            jsonl_reference = self.data.directory / (
                f"reference-{csv_reference.digest[:16]}.v{JSONL_RENDERING}.jsonl")
            if not jsonl_reference.exists():
                partial = jsonl_reference.with_name(jsonl_reference.name + ".partial")
                write_jsonl(csv_reference.path, partial)
                partial.rename(jsonl_reference)
            reference = Reference(jsonl_reference, jsonl=True)
        results = []
        for tool in tools_for(self.mode, group, self.only):
            out = self.work / f"out-{tool.key}{group.output_suffix}"
            inputs = Inputs(dataset, registry, out, self.awk, input_path)
            command = tool.command(inputs)
            result = Result(dataset.spec.name, tool.name, tool.mode, tool.kind, tool.key,
                            display(command, inputs), note=tool.note, group=group.name)
            results.append(result)
            if why := (f"skipped: {missing} not installed" if missing
                       else self._skip_reason(tool, dataset.spec)):
                result.status, result.detail = why.split(":")[0], why
                log(f"{tool.name:7} {tool.mode:40} {why}")
                continue
            result.load_average = round(os.getloadavg()[0], 2)
            self._time(tool, command, out, result)
            self._summarise(dataset, input_bytes, result)
            if result.status == "ok" and tool.writes_output:
                result.output_bytes = out.stat().st_size
                if group.name == "csv" and reference is None and tool.kind == "optout":
                    reference = Reference(out)  # optout, file to file, every core
                    out = out.rename(self.work / "reference.csv")
                    reference.path = out
                    info["rows_out"] = reference.rows
                    info["removed_share"] = round(1 - reference.rows / dataset.spec.rows, 5)
                    self._check_removed_share(info)
                if tool.kind == "floor":
                    pass  # a copy of the input: nothing to check
                elif reference is None:
                    result.correctness = "unchecked: optout gave no reference output"
                elif group.decompress:
                    result.correctness, result.rows_out = check_compressed(
                        out, group.decompress, reference, self.work / "decompressed.csv")
                else:
                    result.correctness, result.rows_out = check_output(out, reference)
            if out.exists() and out != getattr(reference, "path", None):
                out.unlink()
            log(f"{tool.name:7} {tool.mode:40} {format_seconds(result.median_s):>9}  "
                f"{format_bytes(result.peak_rss_bytes):>9}  "
                f"{format_size(result.output_bytes) if result.output_bytes else '':>8}  "
                f"{result.correctness or result.detail}")
        self._ratios(group, results)
        self._check_optout(results)
        self.results.extend(results)
        return reference if group.name == "csv" else csv_reference

    def _skip_reason(self, tool: Tool, spec: DatasetSpec) -> str:
        lacking = [f for f in tool.features if f not in (self.features or set())]
        if lacking:
            return "not built: this optout lacks " + ", ".join(FEATURES[f] for f in lacking)
        for need in tool.needs:
            if need == "npm-peers":
                if self.npm_problem:
                    return f"skipped: {self.npm_problem}"
            elif not shutil.which(need):
                return f"skipped: {need} not installed"
        estimate = tool.bytes_per_list_number * spec.list_numbers
        if estimate > self.memory_budget:
            return (f"skipped: needs > {self.memory_budget / GIB:g} GiB (about "
                    f"{estimate / GIB:.0f} GiB for {count_label(spec.list_numbers)} numbers)")
        return ""

    def _time(self, tool: Tool, command: Command, out: Path, result: Result) -> None:
        stderr_path = self.work / f"stderr-{tool.key}.txt"
        out.unlink(missing_ok=True)

        def once() -> Run:
            if not tool.over_existing:
                out.unlink(missing_ok=True)  # every run starts from no output file
            return run_command(command, self.work, self.mode.timeout_s, self.memory_budget,
                               stderr_path)

        warmup = once()  # over an existing output: the warm-up leaves the file the runs replace
        result.warmup_s = round(warmup.seconds, 4)
        count = self.mode.runs(warmup.seconds) if warmup.status == "ok" else 0
        runs = [once() for _ in range(count)] if count > 0 else [warmup]
        failed = next((r for r in runs if r.status != "ok"), None)
        if failed:
            result.status, result.detail = failed.status, failed.detail
            return
        result.runs_s = [round(r.seconds, 4) for r in runs]
        result.median_s = statistics.median(r.seconds for r in runs)
        peaks = [r.peak_rss_bytes for r in runs if r.peak_rss_bytes is not None]
        result.peak_rss_bytes = max(peaks) if peaks else None  # None: no GNU time to measure
        if count == 0:
            result.detail = "timed once: the warm-up run"

    @staticmethod
    def _summarise(dataset: Dataset, input_bytes: int, result: Result) -> None:
        # MB/s of the extract as CSV (for gz and zst: uncompressed), or of the JSON Lines file.
        if result.median_s:
            throughput_bytes = dataset.extract_bytes if result.group in ("gz", "zst") \
                else input_bytes
            result.mb_per_s = throughput_bytes / 1e6 / result.median_s
            result.rows_per_s = dataset.spec.rows / result.median_s

    @staticmethod
    def _ratios(group: Group, results: list[Result]) -> None:
        ratios(group, results)

    def _check_removed_share(self, info: dict) -> None:
        low, high = REMOVED_SHARE_RANGE
        if not low <= info["removed_share"] <= high:
            self.problems.append(
                f"{info['name']}: optout removed {info['removed_share']:.1%} of the rows, outside "
                f"{low:.0%}-{high:.0%}: the generated list and extract do not agree")

    def _check_optout(self, results: list[Result]) -> None:
        for r in results:
            must_agree = r.kind == "optout" or self.mode.strict
            if not must_agree or r.status in NOT_RUN:
                continue
            if r.status != "ok":
                self.problems.append(f"{r.dataset}: {r.tool} {r.mode}: {r.detail}")
            elif r.kind != "floor" and r.correctness != "byte-identical":
                self.problems.append(f"{r.dataset}: {r.tool} {r.mode}: {r.correctness}")


def ratios(group: Group, results: list[Result]) -> None:
    """× floor (the group's floor named by the tool's `floor`, else its "file" floor), × optout
    (the group's first optout row: file → file, every core) and the output size against the
    group's size baseline."""
    by_key = {r.key: r for r in results}
    tools = {t.key: t for t in group.tools}
    floors = {t.floor_of: by_key.get(t.key) for t in group.tools if t.floor_of}
    optout = next((r for r in results if r.kind == "optout"), None)
    baseline = next((by_key.get(t.key) for t in group.tools if t.size_baseline), None)
    for r in results:
        if baseline is not None and baseline.output_bytes and r.output_bytes \
                and r.kind != "floor":  # a floor's output is the whole extract
            r.size_ratio = r.output_bytes / baseline.output_bytes
        if r.median_s is None:
            continue
        floor = floors.get(tools[r.key].floor) or floors.get("file")
        if floor is not None and floor.median_s:
            r.ratio_floor = r.median_s / floor.median_s
        if optout is not None and optout.median_s:
            r.ratio_optout = r.median_s / optout.median_s


def display(command: Command, i: Inputs) -> str:
    """The command as a reader would type it: paths as EXTRACT, LIST.txt, LIST.csv, REG, OUT."""
    names = {str(i.dataset.extract): "EXTRACT", str(i.dataset.list_txt): "LIST.txt",
             str(i.dataset.list_csv): "LIST.csv", str(i.registry): "REG", str(i.out): "OUT",
             str(OPTOUT): "optout", str(PEERS_DIR) + "/": "bench/e2e/peers/"}
    suffix = "".join(s for s in i.out.suffixes if not s.startswith(".v"))  # .csv.gz, .jsonl
    if i.input != i.dataset.extract and i.input != Path():
        names[str(i.input)] = "EXTRACT" + "".join(
            s for s in i.input.suffixes if not s.startswith(".v"))
    if suffix != ".csv":
        names[str(i.out)] = "OUT" + suffix
    pattern = re.compile("|".join(re.escape(k) for k in sorted(names, key=len, reverse=True)))
    text = " | ".join(shlex.join(argv) for argv in command.stages)
    if command.stdout:
        text += f" > {command.stdout}"
    env = " ".join(f"{k}={v}" for k, v in command.env)
    return pattern.sub(lambda m: names[m.group(0)], f"{env} {text}".strip())


# ---------------------------------------------------------------------------------------------
# Reports

def machine_info(optout_gen: Path, awk: str) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    os_release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', Path("/etc/os-release").read_text(),
                                 re.M))

    def npm_version(package: str) -> str:
        path = PEERS_DIR / "node_modules" / package / "package.json"
        return json.loads(path.read_text())["version"] if path.exists() else "not installed"

    return {
        "cpu": cpu, "cores": CORES, "memory_gib": round(mem_kib / (1 << 20), 1),
        "kernel": platform.release(), "os": os_release.get("PRETTY_NAME", "unknown"),
        "load_average_start": os.getloadavg(),
        # The optout measured: this tree's commit, and whether it had uncommitted changes.
        "source": run_text(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
        "tools": {
            "optout": run_text([str(OPTOUT), "--version"]),
            "optout-gen": run_text([str(optout_gen), "--version"]),
            "node": run_text(["node", "--version"]),
            "@duckdb/node-api": npm_version("@duckdb/node-api"),
            "nodejs-polars": npm_version("nodejs-polars"),
            "mlr": run_text(["mlr", "--version"]),
            "sqlite3": run_text(["sqlite3", "--version"]).split(" ")[0],  # then date, hash
            "pandas": run_text([SYSTEM_PYTHON, "-c",
                                "import pandas, sys; print('pandas', pandas.__version__, "
                                "'python', sys.version.split()[0])"]),
            "awk": f"{awk}: {run_text([awk, '--version'])}",
            "grep": run_text(["grep", "--version"]),
            "cat": run_text(["cat", "--version"]),
            "gzip": run_text(["gzip", "--version"]),
            "pigz": run_text(["pigz", "--version"]),
            "igzip": run_text(["igzip", "--version"]),
            "zstd": run_text(["zstd", "--version"]),
        },
    }


def format_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s * 1000:.1f} ms" if s < 0.1 else f"{s:.3g} s" if s < 100 else f"{s:.0f} s"


def format_bytes(b: float | None) -> str:
    if b is None:
        return "—"
    return f"{b / (1 << 20):.0f} MiB" if b < GIB else f"{b / GIB:.1f} GiB"


def format_size(b: int) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.0f} MB" if b >= 1e7 \
        else f"{b / 1e6:.2f} MB"


def format_rate(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    return f"{x / 1e6:.2f} M{unit}" if x >= 1e6 else f"{x / 1e3:.0f} k{unit}" if x >= 1e3 \
        else f"{x:.0f} {unit}"


def format_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}" if x < 10 else f"{x:.0f}"


GROUP_TEXT = {
    "csv": ("CSV → CSV", "× floor: against `cat extract > copy` (a new file); for the "
            "`cat | optout | cat` rows `cat extract | cat | cat > copy`; for the rows over an "
            "existing file, `cat extract > existing copy`."),
    "gz": ("gzip → gzip", "The extract compressed with `gzip -6`. × floor: against "
           "`igzip -dc | igzip -3`. Output size: the compressed output, and against "
           "`gzip -dc | optout | gzip` (gzip -6 of the same kept rows). Outputs are checked "
           "decompressed (`gzip -dc`) against optout's CSV output. MB/s of the uncompressed "
           "extract."),
    "zst": ("zstd → zstd", "The extract compressed with `zstd -3`. × floor: against "
            "`zstd -dc | zstd -3 -T<cores>`. Output size: against `zstd -dc | optout | zstd` "
            "(level 3). Outputs are checked decompressed (`zstd -dc`). MB/s of the uncompressed "
            "extract."),
    "jsonl": ("JSON Lines → JSON Lines", "The extract rendered as JSON Lines by e2e.py (one "
              "compact object per row, every value a string, the NHS number too). × floor: "
              "against `cat extract.jsonl > copy` (the `cat | optout | cat` row: "
              "`cat | cat | cat`). Outputs are checked against optout's CSV output rendered "
              "the same way."),
}


# Issue 13's targets, from the keys of the rows they compare: (what, numerator, denominator,
# figure: "time" (median ratio), "size" (output bytes ratio) or "speedup" (denominator's time
# over numerator's), the bound, "≤" or "≥").
TARGETS = (
    ("gz → gz: optout against `igzip -dc | igzip -3`", "gz-optout-file-file-{cores}-threads",
     "gz-floor-igzip-dc-extract-gz-igzip-3-copy-gz", "time", 1.0, "≤"),
    ("gz → gz: output size against gzip -6 of the same rows",
     "gz-optout-file-file-{cores}-threads", "gz-shell-gzip-dc-optout-gzip", "size", 1.25, "≤"),
    ("gz → gz: speed-up over `gzip -dc | optout | gzip`", "gz-optout-file-file-{cores}-threads",
     "gz-shell-gzip-dc-optout-gzip", "speedup", 10.0, "≥"),
    ("zst → zst: optout against `zstd -dc | zstd -3 -T{cores}`",
     "zst-optout-file-file-{cores}-threads",
     "zst-floor-zstd-dc-extract-zst-zstd-3-t{cores}-copy-zst", "time", 1.0, "≤"),
    ("CSV file → new file against `cat extract > new`", "optout-file-file-{cores}-threads",
     "floor-cat-extract-copy", "time", 1.3, "≤"),
    ("CSV over an existing file against `cat extract > existing`",
     "optout-file-existing-file-{cores}-threads", "floor-cat-extract-existing-copy", "time",
     1.0, "≤"),
    ("CSV as a pipe stage: `cat | optout | cat` against `cat | cat | cat`",
     "optout-cat-optout-cat-{cores}-threads", "floor-cat-extract-cat-cat-copy", "time", 1.0, "≤"),
    ("JSONL: speed-up over DuckDB's ordered read_json anti-join",
     "jsonl-optout-file-file-{cores}-threads",
     "jsonl-duckdb-read-json-anti-join-row-number-order-by", "speedup", 10.0, "≥"),
)


def target_rows(report: dict) -> list[tuple[str, str, str, str, str]]:
    """Per dataset, each target of TARGETS: (dataset, target, bound, measured, verdict)."""
    cores = report["machine"]["cores"]
    rows = []
    for ds in report["datasets"]:
        by_key = {r["key"]: r for r in report["results"] if r["dataset"] == ds["name"]}
        for what, num_key, den_key, figure, bound, sense in TARGETS:
            num = by_key.get(num_key.format(cores=cores))
            den = by_key.get(den_key.format(cores=cores))
            what = what.format(cores=cores)
            limit = f"{sense} {bound:g}×"
            if num is None or den is None:
                continue
            if num["status"] != "ok" or den["status"] != "ok":
                missing = num if num["status"] != "ok" else den
                rows.append((ds["name"], what, limit, "—",
                             f"not measured: {missing['tool']} {missing['status']}"))
                continue
            if figure == "size":
                value = num.get("output_bytes") / den.get("output_bytes") \
                    if num.get("output_bytes") and den.get("output_bytes") else None
                shown = (f"{value:.2f}× ({format_size(num['output_bytes'])} against "
                         f"{format_size(den['output_bytes'])})" if value else "—")
            elif figure == "speedup":
                value = den["median_s"] / num["median_s"]
                shown = (f"{value:.1f}× ({format_seconds(num['median_s'])} against "
                         f"{format_seconds(den['median_s'])})")
            else:
                value = num["median_s"] / den["median_s"]
                shown = (f"{value:.2f}× ({format_seconds(num['median_s'])} against "
                         f"{format_seconds(den['median_s'])})")
            right = all(r["kind"] == "floor" or r["correctness"] == "byte-identical"
                        for r in (num, den) if figure != "size" or r is num)
            if value is None:
                verdict = "—"
            else:
                met = value <= bound if sense == "≤" else value >= bound
                verdict = "met" if met else f"not met ({value / bound:.2f}× the bound)" \
                    if sense == "≤" else f"not met ({bound / value:.2f}× short)"
            if not right:
                verdict += "; an output is not byte-identical"
            rows.append((ds["name"], what, limit, shown, verdict))
    return rows


def targets_markdown(report: dict) -> list[str]:
    rows = target_rows(report)
    if not rows:
        return []
    out = ["## Issue 13's targets", "",
           "Medians of this run (not interleaved pairs); each ratio divides the first command's "
           "median by the second's. The targets are set for the 5 M-row extract (`--mode "
           "medium`); on small data start-up costs dominate.", "",
           "| Dataset | Target | Bound | Measured | Verdict |", "|---|---|---|---|---|"]
    out += [f"| {' | '.join(cell.replace('|', chr(92) + '|') for cell in row)} |"
            for row in rows]
    # Memory: the largest peak of optout's own rows, per group.
    peaks = collections.defaultdict(int)
    for r in report["results"]:
        if r["kind"] == "optout" and r.get("peak_rss_bytes"):
            peaks[r.get("group", "csv")] = max(peaks[r.get("group", "csv")], r["peak_rss_bytes"])
    if peaks:
        out += ["", "optout's largest peak memory per group (any dataset): " +
                ", ".join(f"{g} {format_bytes(b)}" for g, b in peaks.items()) + "."]
    return out + [""]


def markdown(report: dict) -> str:
    m = report["machine"]
    out = [f"# optout end-to-end benchmark: {report['mode']} mode",
           "",
           f"{report['started']} to {report['finished']} (UTC). {m['cpu']}, {m['cores']} cores, "
           f"{m['memory_gib']} GiB, {m['os']}, Linux {m['kernel']}. Load average "
           f"{m['load_average_start'][0]:.2f} at the start, {report['load_average_end'][0]:.2f} "
           f"at the end. Source tree {m.get('source', 'unknown')}.",
           "",
           "Tools: " + "; ".join(v if v.lower().startswith(k) else f"{k} {v}"
                                 for k, v in m["tools"].items()) + ".",
           ""]
    if m.get("optout_features") is not None:
        out += ["optout built with: " + (", ".join(m["optout_features"]) or "none") +
                " (of gzip-in, zstd-in, gzip-out, zstd-out, jsonl).", ""]
    notes: dict[str, str] = {}
    for ds in report["datasets"]:
        out += [f"## {ds['name']}", "",
                f"{format_size(ds['extract_bytes'])} extract; optout removed "
                f"{ds.get('removed_share', 0):.2%} of the rows; registry "
                f"{ds['registry_bytes'] / 1e6:.1f} MB, built in {ds['registry_build_s']:.2f} s "
                f"(not in the times below).", ""]
        rows = [r for r in report["results"] if r["dataset"] == ds["name"]]
        groups = list(dict.fromkeys(r.get("group", "csv") for r in rows))
        for group in groups:
            title, about = GROUP_TEXT.get(group, (group, ""))
            made = ds.get("inputs", {}).get(group)
            if len(groups) > 1 or group != "csv":
                out += [f"### {title}" + (f" ({format_size(made['bytes'])} input)" if made
                                          else ""), "", about, ""]
            out += ["| Tool | Mode | Wall (median) | Runs | MB/s | Rows/s | × floor | × optout | "
                    "Peak memory | Output size | Output |",
                    "|---|---|---|---|---|---|---|---|---|---|---|"]
            for r in (r for r in rows if r.get("group", "csv") == group):
                tool = f"**{r['tool']}**" if r["kind"] == "optout" else r["tool"]
                mode = r["mode"].replace("|", "\\|")  # a pipe would end the table cell
                if r["note"]:
                    marker = notes.setdefault(r["note"], f"[{len(notes) + 1}]")
                    tool += f" {marker}"
                if r["status"] != "ok":
                    out.append(f"| {tool} | {mode} | {r['detail']} | | | | | | | | |")
                    continue
                runs = str(len(r["runs_s"])) + (" (no warm-up)" if r["detail"] else "")
                correctness = r["correctness"] or ("(floor)" if r["kind"] == "floor" else "")
                size = format_size(r["output_bytes"]) if r.get("output_bytes") else ""
                if size and r.get("size_ratio") and group in ("gz", "zst"):
                    size += f" ({r['size_ratio']:.2f}×)"
                out.append(
                    f"| {tool} | {mode} | {format_seconds(r['median_s'])} | {runs} | "
                    f"{r['mb_per_s']:.0f} | {format_rate(r['rows_per_s'], '')} | "
                    f"{format_ratio(r['ratio_floor'])} | {format_ratio(r['ratio_optout'])} | "
                    f"{format_bytes(r['peak_rss_bytes'])} | {size} | {correctness} |")
            out.append("")
    out += ["How to read this: wall times are whole processes (start-up, registry or list load, "
            "reading, writing) on a warm page cache, the median of the runs after one warm-up "
            "run. × floor divides by the group's floor (said under each heading; CSV: "
            "`cat extract > copy`, for the `cat | optout | cat` rows "
            "`cat extract | cat | cat > copy`); × optout by optout file → file on every core in "
            "the same group. Peak memory is the largest resident set of the command's processes. "
            "Output size: the output file (compressed, if it is), and for gzip and zstd against "
            "the shell pipeline's (gzip -6, zstd -3). Output: *byte-identical* to optout's "
            "(compressed outputs: once decompressed); *same rows, other order*; *same rows "
            "(re-quoted)*: equal field by field, but quoted differently (JSON Lines: "
            "*re-serialised*); *wrong (N rows differ)*: N rows missing or extra as a multiset. "
            "A wrong output is not a result, however fast. *not built*: the optout measured "
            "lacks the feature.", ""]
    out += [f"{marker} {note}." for note, marker in notes.items()]
    if targets := targets_markdown(report):
        out += ["", *targets]
    return "\n".join(out) + "\n"


def chart(report: dict, png: Path) -> str:
    """One panel per dataset and group: each tool's median wall time (log scale), colour by kind
    and by whether its rows were right. Returns "" or why no chart was drawn."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "chart skipped: gnuplot not installed"
    data = png.with_suffix(".dat")
    blocks, panels = [], []
    for ds in report["datasets"]:
        groups = dict.fromkeys(r.get("group", "csv") for r in report["results"]
                               if r["dataset"] == ds["name"])
        for group in groups:
            rows = [r for r in report["results"] if r["dataset"] == ds["name"]
                    and r.get("group", "csv") == group and r["median_s"]]
            if not rows:
                continue
            lines = []
            for n, r in enumerate(rows):
                colour = {"floor": 0x999999, "optout": 0x1f5fbf}.get(
                    r["kind"], 0x2a9d8f if is_same_rows(r["correctness"]) else 0xd62828)
                label = (r["mode"] if r["kind"] == "floor" else f"{r['tool']}: {r['mode']}") \
                    .replace('"', "'")
                lines.append(f'{n} {r["median_s"]:.6f} {colour} "{label}"')
            blocks.append("\n".join(lines))
            title = GROUP_TEXT.get(group, (group,))[0]
            panels.append((ds["name"] if group == "csv" else f"{ds['name']}, {title}", len(rows)))
    data.write_text("\n\n\n".join(blocks) + "\n")
    script = [f"set terminal pngcairo size 1400,{560 * len(panels)} font 'sans,10'",
              f"set output '{png}'",
              "set termoption noenhanced",  # labels hold _ and ~, not sub/superscripts
              f"set multiplot layout {len(panels)},1",
              "set style fill solid 0.85 noborder", "set boxwidth 0.7",
              "set logscale y", "set ylabel 'median wall time, s (log scale)'",
              "set grid ytics", "set xtics rotate by 35 right nomirror", "unset key",
              "set bmargin 12"]
    for index, (name, count) in enumerate(panels):
        script += [f"set title \"{name} — grey: floors, blue: optout, green: same rows as optout, "
                   f"red: wrong\"",
                   f"set xrange [-0.6:{count - 0.4}]",
                   f"plot '{data}' index {index} using 1:2:3:xtic(4) with boxes lc rgb variable, "
                   f"'' index {index} using 1:2:(sprintf('%.3g s', $2)) with labels "
                   f"offset 0,0.7 font ',8'"]
    script.append("unset multiplot")
    done = subprocess.run([gnuplot], input="\n".join(script), text=True, capture_output=True)
    data.unlink()
    return "" if done.returncode == 0 else f"chart failed: {done.stderr.strip()[:300]}"


# ---------------------------------------------------------------------------------------------
# Commands

def log(message: str) -> None:
    print(f"e2e: {message}", file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    global OPTOUT
    mode = MODES[args.mode]
    build = Path(args.build_dir)
    OPTOUT = Path(args.optout or build / "engine/cli/optout").resolve()
    optout_gen = Path(args.optout_gen or build / "datasets/optout-gen").resolve()
    for binary in (OPTOUT, optout_gen):
        if not os.access(binary, os.X_OK):
            print(f"e2e: {binary}: not found; build it (scripts/bench.sh does) or pass "
                  f"--optout/--optout-gen", file=sys.stderr)
            return 2
    started = datetime.datetime.now(datetime.timezone.utc)
    out_dir = Path(args.out or REPO / "bench-results" /
                   f"{mode.name}-{started.strftime('%Y%m%dT%H%M%SZ')}").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    npm_problem = (ensure_npm_peers(out_dir / "npm-ci.log") if mode.with_peers
                   else "not in smoke mode")
    names = args.groups.split(",") if args.groups else [g.name for g in GROUPS]
    if unknown := [n for n in names if n not in {g.name for g in GROUPS}]:
        print(f"e2e: unknown group {', '.join(unknown)} (groups: "
              f"{', '.join(g.name for g in GROUPS)})", file=sys.stderr)
        return 2
    # The CSV group makes the reference every other group is checked against: it always runs.
    groups = tuple(g for g in GROUPS if g.name == "csv" or g.name in names)
    bench = Bench(mode, out_dir, DataCache(Path(args.data_dir).resolve(), optout_gen),
                  int(args.memory_budget_gib * GIB), npm_problem, groups,
                  re.compile(args.tools) if args.tools else None)
    machine = machine_info(optout_gen, bench.awk)
    log(f"{mode.name} mode into {out_dir}")
    bench.run()
    machine["optout_features"] = sorted(bench.features or ())
    finished = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "schema": 1, "mode": mode.name,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "wall_s": round((finished - started).total_seconds(), 1),
        "load_average_end": os.getloadavg(),
        "memory_budget_gib": args.memory_budget_gib, "timeout_s": mode.timeout_s,
        "machine": machine, "datasets": bench.datasets,
        "results": [dataclasses.asdict(r) for r in bench.results],
        "problems": bench.problems,
    }
    results = out_dir / "results.json"
    results.write_text(json.dumps(report, indent=1) + "\n")
    write_reports(report, results)
    log(f"done in {report['wall_s']:.0f} s: {out_dir}/results.md")
    for problem in bench.problems:
        log(f"PROBLEM: {problem}")
    return 1 if bench.problems else 0


def write_reports(report: dict, results: Path) -> None:
    """NAME.md and NAME.png beside NAME.json."""
    results.with_suffix(".md").write_text(markdown(report))
    if why := chart(report, results.with_suffix(".png")):
        log(why)


def cmd_report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    try:
        report = json.loads(results.read_text())
    except (OSError, ValueError) as e:
        print(f"e2e report: {e}", file=sys.stderr)
        return 2
    write_reports(report, results)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        old, new = (json.loads(Path(p).read_text()) for p in (args.old, args.new))
    except (OSError, ValueError) as e:
        print(f"e2e compare: {e}", file=sys.stderr)
        return 2

    def by_key(report: dict) -> dict:
        return {(r["dataset"], r["key"]): r for r in report["results"]
                if args.all or r["kind"] == "optout"}

    old_rows, new_rows = by_key(old), by_key(new)
    common = [k for k in new_rows if k in old_rows]
    if not common:
        print("e2e compare: the two results share no dataset and tool", file=sys.stderr)
        return 2
    table = [("Dataset", "Tool", "Mode", "Figure", "Old", "New", "Change", "")]
    worse = 0
    for key in common:
        o, n = old_rows[key], new_rows[key]
        checks = [("wall median", o["median_s"], n["median_s"], format_seconds),
                  ("peak memory", o["peak_rss_bytes"], n["peak_rss_bytes"], format_bytes)]
        for figure, before, after, fmt in checks:
            if before is None:
                continue  # nothing measured before: nothing to regress from
            if after is None:
                verdict, change = "WORSE", n["detail"] or n["status"]
            else:
                pct = (after - before) / before * 100
                verdict, change = ("WORSE" if pct > args.threshold else ""), f"{pct:+.1f} %"
            worse += verdict == "WORSE"
            table.append((o["dataset"], o["tool"], o["mode"], figure, fmt(before),
                          fmt(after), change, verdict))
        if is_same_rows(o["correctness"]) and n["status"] == "ok" \
                and not is_same_rows(n["correctness"]):
            worse += 1
            table.append((o["dataset"], o["tool"], o["mode"], "output", o["correctness"],
                          n["correctness"], "", "WORSE"))
    widths = [max(len(str(row[c])) for row in table) for c in range(len(table[0]))]
    for row in table:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"{worse} figure(s) worse by more than {args.threshold:g} %" if worse
          else f"no figure worse by more than {args.threshold:g} %")
    return 1 if worse else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="e2e.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark")
    run.add_argument("--mode", choices=MODES, default="quick")
    run.add_argument("--out", help="output folder (default: bench-results/<mode>-<UTC time>)")
    run.add_argument("--build-dir", default=str(REPO / "build"),
                     help="where optout and optout-gen were built (default: build)")
    run.add_argument("--optout", help="the optout binary (default: BUILD_DIR/engine/cli/optout)")
    run.add_argument("--optout-gen",
                     help="the optout-gen binary (default: BUILD_DIR/datasets/optout-gen)")
    run.add_argument("--data-dir", default=str(REPO / ".cache" / "bench-e2e"),
                     help="cache of generated inputs (default: .cache/bench-e2e)")
    run.add_argument("--memory-budget-gib", type=float, default=12,
                     help="stop (or skip) a tool whose processes would hold more (default: 12)")
    run.add_argument("--groups", help="comma-separated, of csv, gz, zst, jsonl (default: all; "
                     "csv always runs: it makes the reference)")
    run.add_argument("--tools", metavar="REGEX",
                     help="only the tools whose key (results.json) it matches, e.g. "
                          "'floor|optout|shell|duckdb' (optout's reference run always runs)")
    run.set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="rewrite NAME.md and NAME.png from NAME.json")
    report.add_argument("results")
    report.set_defaults(func=cmd_report)
    compare = sub.add_parser("compare", help="compare two results.json; exit 1 on a regression")
    compare.add_argument("old")
    compare.add_argument("new")
    compare.add_argument("--threshold", type=float, default=10,
                         help="percent worse that fails (default: 10)")
    compare.add_argument("--all", action="store_true",
                         help="compare every tool, not only optout")
    compare.set_defaults(func=cmd_compare)
    args = parser.parse_args(argv[1:])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
