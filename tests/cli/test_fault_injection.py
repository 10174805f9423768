"""Fault injection through the real binary (issue 10, defence 3).

The LD_PRELOAD shim tests/fault_shim.c (OPTOUT_FAULT_SHIM, set by ctest) fails the k-th read,
write, fsync, rename or close on one file. For each command and each file it touches, k walks from 1
until the fault no longer fires:
  EIO / ENOSPC: exit 1, one line "optout <command>: <file>: ... <strerror>", no output file (final or
                temporary ".NAME.tmp-*") left behind;
  EINTR / short (a read or write that moves 1 byte): the run succeeds with exactly the output of a
                run without faults.
When the fault stops firing the run must succeed with that same output.
"""

import json
import os
import shutil
import subprocess

import pytest

import optout_testing
from conftest import NUMBER_IN_TEXT, binary, valid_numbers
from optout_testing import fault_env

SHIM = os.environ.get("OPTOUT_FAULT_SHIM")
pytestmark = pytest.mark.skipif(not SHIM, reason="OPTOUT_FAULT_SHIM is not set: run these tests through ctest")

ERRNO_TEXT = {"EIO": "Input/output error", "ENOSPC": "No space left on device"}
MAX_CALLS = 400  # a bound on k, should a walk never end


def extract(numbers):
    """60 rows: kept, removed (listed), rejected; one quoted field with a line break."""
    rows = ["id,nhs_number,notes"]
    for i in range(60):
        if i % 3 == 0:
            rows.append(f"{i},{numbers['listed'][i % len(numbers['listed'])]},removed")
        elif i % 3 == 1:
            rows.append(f'{i},{numbers["other"][i % len(numbers["other"])]},"kept,\nover two lines"')
        else:
            rows.append(f"{i},12345,rejected")
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs every case copies into its own folder: lists, two registries, an extract."""
    base = tmp_path_factory.mktemp("inputs")
    numbers = valid_numbers(80, seed=11)
    listed, other = numbers[:40], numbers[40:]
    (base / "national.txt").write_text("".join(n + "\n" for n in listed))
    (base / "national2.txt").write_text("".join(n + "\n" for n in listed[5:] + other[:5]))
    (base / "cleared.txt").write_text("".join(n + "\n" for n in other[:10]))
    (base / "extract.csv").write_bytes(extract({"listed": listed, "other": other}))
    for name, lists in (("reg.optout", "national.txt"), ("new.optout", "national2.txt")):
        done = subprocess.run([binary(), "build", "--list", f"national={base / lists}", "-o", base / name, "-q"],
                              capture_output=True, timeout=60)
        assert done.returncode == 0, done
    return base


# command, its arguments (run in a folder holding copies of the inputs), its output files, the
# faults to inject as (operation, file, kinds).
READ_KINDS = ("EIO", "EINTR", "short")
WRITE_KINDS = ("EIO", "ENOSPC", "EINTR", "short")
CASES = {
    "filter": (["filter", "-r", "reg.optout", "--column", "nhs_number", "extract.csv", "-o", "out.csv",
                "--rejects", "rej.csv", "--stats", "stats.json", "--audit", "audit.jsonl", "--block-size", "256",
                "--threads", "2", "-q"],
               ["out.csv", "rej.csv", "stats.json"],
               [("read", "extract.csv", READ_KINDS), ("read", "reg.optout", READ_KINDS),
                ("write", "out.csv", WRITE_KINDS), ("write", "rej.csv", WRITE_KINDS),
                ("write", "stats.json", WRITE_KINDS), ("write", "audit.jsonl", ("EIO", "ENOSPC")),
                ("close", "out.csv", ("EIO",)), ("close", "rej.csv", ("EIO",)), ("close", "stats.json", ("EIO",)),
                ("rename", "out.csv", ("EIO",)), ("rename", "rej.csv", ("EIO",)), ("rename", "stats.json", ("EIO",))]),
    "build": (["build", "--list", "national=national.txt", "--allow", "cleared=cleared.txt", "--description", "d",
               "-o", "built.optout", "-q"],
              ["built.optout"],
              [("read", "national.txt", READ_KINDS), ("read", "cleared.txt", READ_KINDS),
               ("write", "built.optout", WRITE_KINDS), ("fsync", "built.optout", ("EIO",)),
               ("close", "built.optout", ("EIO",)), ("rename", "built.optout", ("EIO",))]),
    "export": (["export", "reg.optout", "--list", "national", "--format", "text", "-o", "export.txt", "-q"],
               ["export.txt"],
               [("read", "reg.optout", READ_KINDS), ("write", "export.txt", WRITE_KINDS),
                ("close", "export.txt", ("EIO",)), ("rename", "export.txt", ("EIO",))]),
    "numbers": (["numbers", "--column", "nhs_number", "extract.csv", "-o", "numbers.txt", "--block-size", "256",
                 "-q"],
                ["numbers.txt"],
                [("read", "extract.csv", READ_KINDS), ("write", "numbers.txt", WRITE_KINDS),
                 ("close", "numbers.txt", ("EIO",)), ("rename", "numbers.txt", ("EIO",))]),
    "diff": (["diff", "reg.optout", "new.optout", "--list", "national", "--added", "added.txt",
              "--withdrawn", "withdrawn.txt"],
             ["added.txt", "withdrawn.txt"],
             [("read", "reg.optout", READ_KINDS), ("read", "new.optout", READ_KINDS),
              ("write", "added.txt", WRITE_KINDS), ("write", "withdrawn.txt", WRITE_KINDS),
              ("rename", "added.txt", ("EIO",)), ("rename", "withdrawn.txt", ("EIO",))]),
}
INPUTS = ["national.txt", "national2.txt", "cleared.txt", "extract.csv", "reg.optout", "new.optout"]


def fresh_folder(world, tmp_path, name):
    folder = tmp_path / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for f in INPUTS:
        shutil.copy(world / f, folder / f)
    return folder


def shim_env(log, **fault):
    return optout_testing.shim_env(SHIM, log, **fault)


def run(args, cwd, fault=None, log=None):
    env = fault_env(SHIM, fault, log)
    done = subprocess.run([binary(), *args], cwd=cwd, env=env, capture_output=True, timeout=60)
    stderr = done.stderr.decode("utf-8", "replace")
    assert NUMBER_IN_TEXT.search(stderr) is None, stderr
    return done.returncode, done.stdout, stderr


def outputs(folder, names):
    return {name: (folder / name).read_bytes() for name in names if (folder / name).exists()}


def comparable(name, data):
    """What must equal a clean run's: snapshots differ in their creation time and digest only."""
    if name.endswith(".optout"):
        return len(data)  # fixed by the lists; listed() compares those
    if name == "stats.json":
        stats = json.loads(data)
        return {k: v for k, v in stats.items() if k not in ("seconds", "mb_per_second", "started_at", "finished_at")}
    return data


def listed(folder, name):
    info = subprocess.run([binary(), "info", "--json", name], cwd=folder, capture_output=True, timeout=60)
    assert info.returncode == 0, info
    return [(l["name"], l["kind"], l["count"]) for l in json.loads(info.stdout)["lists"]]


@pytest.mark.parametrize("command", sorted(CASES))
def test_every_failing_call_ends_in_a_clear_error_and_leaves_nothing(world, tmp_path, command):
    args, produced, faults = CASES[command]
    clean = fresh_folder(world, tmp_path, "clean")
    code, expected_stdout, stderr = run(args, clean)
    assert code == 0, stderr
    expected = {name: comparable(name, data) for name, data in outputs(clean, produced).items()}
    assert sorted(expected) == sorted(produced)
    expected_lists = {n: listed(clean, n) for n in produced if n.endswith(".optout")}

    for op, path, kinds in faults:
        for kind in kinds:
            for k in range(1, MAX_CALLS):
                where = f"{command}: {op} #{k} on {path} fails with {kind}"
                folder = fresh_folder(world, tmp_path, "work")
                log = tmp_path / "fault.log"
                log.unlink(missing_ok=True)
                code, stdout, stderr = run(args, folder, (op, path, k, kind), log)
                fired = log.exists()
                leftovers = sorted(set(os.listdir(folder)) - set(INPUTS) - {"audit.jsonl"})
                if not fired or kind in ("EINTR", "short"):
                    assert code == 0, f"{where}: {stderr}"
                    got = {name: comparable(name, data) for name, data in outputs(folder, produced).items()}
                    assert got == expected, where
                    for name, lists in expected_lists.items():
                        assert listed(folder, name) == lists, where
                    assert leftovers == sorted(produced), where
                    if not fired:
                        assert k > 1, f"{where}: the call never happens (a test that cannot fail)"
                        break
                    continue
                assert code == 1, f"{where}: exit {code}: {stderr}"
                lines = stderr.splitlines()
                assert len(lines) == 1 and lines[0].startswith(f"optout {command}: "), f"{where}: {stderr}"
                assert ERRNO_TEXT[kind] in lines[0], f"{where}: {stderr}"
                assert path in lines[0], f"{where}: {stderr}"
                assert not [f for f in leftovers if ".tmp-" in f], f"{where}: temporary files left: {leftovers}"
                audit = (folder / "audit.jsonl").read_text() if (folder / "audit.jsonl").exists() else ""
                says_ok = '"outcome":"ok"' in audit.replace(" ", "")
                assert leftovers == [], f"{where}: left {leftovers}"
                assert not says_ok, f"{where}: the audit record says ok: {audit}"
            else:
                pytest.fail(f"{command}: {op} on {path} with {kind} still fires after {MAX_CALLS} calls")


# Issue 15.5: an extract cut short while it was read (`truncate -s` during a run) was accepted and
# its cut-off last record released, with exit 0 and an "ok" audit record. The shim changes the file
# at its second read: cut mid-record, emptied, or appended to.
@pytest.mark.parametrize("change, size", [("truncate", 1000), ("truncate", 0), ("append", None)],
                         ids=["cut mid-record", "emptied", "appended to"])
@pytest.mark.parametrize("command", ["filter", "numbers"])
def test_input_that_changes_while_read_fails_and_writes_nothing(world, tmp_path, command, change, size):
    folder = fresh_folder(world, tmp_path, "work")
    args = list(CASES[command][0])
    produced = CASES[command][1]
    data = (folder / "extract.csv").read_bytes()
    assert len(data) > 1000 and data[999:1000] != b"\n"  # 1000 is mid-record
    env = shim_env(tmp_path / "fault.log", op="read", path="extract.csv", at=2, kind=change, size=size or 0)
    done = subprocess.run([binary(), *args], cwd=folder, env=env, capture_output=True, timeout=60)
    assert (tmp_path / "fault.log").exists()
    assert done.returncode == 1, done
    assert done.stderr.decode() == f"optout {command}: extract.csv: the file changed while it was read\n"
    left = sorted(set(os.listdir(folder)) - set(INPUTS))
    assert [f for f in left if f in produced or ".tmp-" in f] == [], left
    if command == "filter":
        audit = (folder / "audit.jsonl").read_text()
        assert '"outcome":"failed"' in audit.replace(" ", "") and '"outcome":"ok"' not in audit.replace(" ", "")
