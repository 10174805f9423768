"""Policy as data (issue 14) from Python: scopes on Registry.lists, Registry.purposes, indexes by
purpose less exemptions ({list: reference} or "LIST=REFERENCE"), filter_file, verify_file,
filter_frame and optout.dask with purpose= and exempt=, and the engine's errors with the CLI's
words. Expected rows come from Python's own set logic over the files made here."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

import optout
import optout.dask
import optout.pandas
from conftest import env_path

CAG = "CAG 20/CAG/0001"


def valid(count, start=400_000_000):
    from conftest import check_digit, nhs

    out = []
    stem = start
    while len(out) < count:
        if check_digit(stem) is not None:
            out.append(nhs(stem))
        stem += 7919
    return out


@pytest.fixture
def policy(tmp_path):
    nums = valid(16)
    lists = {"national": nums[0:4], "type1": nums[4:6], "objections.fdp": nums[6:8]}
    (tmp_path / "national.txt").write_text("\n".join(lists["national"]) + "\n")
    (tmp_path / "type1.txt").write_text("\n".join(lists["type1"]) + "\n")
    (tmp_path / "objections.csv").write_text(
        "nhs_number,scope\n" + "".join(f"{n},fdp\n" for n in lists["objections.fdp"]))
    (tmp_path / "extract.csv").write_text("nhs_number,id\n" + "".join(f"{n},{i}\n" for i, n in enumerate(nums)))
    subprocess.run([str(env_path("OPTOUT_BIN")), "build", "--list", "national=national.txt", "--scope",
                    "national=research,planning", "--list", "type1=type1.txt", "--objections", "objections.csv",
                    "--as-of", "national=2026-11-24", "-o", "reg.optout", "-q"], cwd=tmp_path, check=True)
    return tmp_path, nums, lists


def test_registry_lists_show_scopes_and_purposes(policy):
    folder, _, _ = policy
    registry = optout.load(folder / "reg.optout")
    assert [(l.name, l.scopes) for l in registry.lists] == [
        ("national", ("planning", "research")), ("objections.fdp", ("fdp",)), ("type1", ())]
    assert registry.purposes == ["fdp", "planning", "research"]


@pytest.mark.parametrize("purpose, exempt, applied", [
    ("research", None, ["national", "type1"]),
    ("fdp", None, ["objections.fdp", "type1"]),
    ("planning", {"national": CAG}, ["type1"]),
    ("planning", f"national={CAG}", ["type1"]),
    ("planning", [f"national={CAG}"], ["type1"]),
])
def test_an_index_by_purpose(policy, purpose, exempt, applied):
    folder, nums, lists = policy
    registry = optout.load(folder / "reg.optout")
    index = registry.index(purpose=purpose, exempt=exempt)
    assert index.applied_lists == applied
    assert index.purpose == purpose
    removed = set().union(*(lists[name] for name in applied))
    numbers = np.array([int(n) for n in nums], dtype=np.uint64)
    assert list(registry.keep_mask(numbers, purpose=purpose, exempt=exempt)) == [n not in removed for n in nums]
    if exempt:
        assert index.exempted_lists == [("national", "deny", 4, "2026-11-24", CAG)]
    assert registry.index(purpose=purpose, exempt=exempt) is index  # kept per selection


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(apply="type1", purpose="research"), optout.InvalidArgumentError,
     "--purpose and --apply exclude each other: a purpose chooses the lists"),
    (dict(purpose="audit"), optout.InvalidArgumentError,
     "no list is scoped to purpose 'audit' (the registry's purposes: fdp, planning, research)"),
    (dict(exempt={"national": CAG}), optout.InvalidArgumentError,
     "--exempt needs --purpose: an exemption leaves a list out of a purpose's lists"),
    (dict(purpose="research", exempt="national"), optout.InvalidArgumentError,
     "--exempt LIST needs a reference: LIST=REFERENCE, e.g. national=CAG 20/CAG/0001"),
    (dict(purpose="research", exempt={"national": "9434765919"}), optout.InvalidArgumentError,
     "--exempt national: the reference holds a run of 9 or more digits, which may be an NHS number"),
    (dict(purpose="research", exempt={"objections.fdp": CAG}), optout.InvalidArgumentError,
     "--exempt objections.fdp: purpose 'research' does not apply list 'objections.fdp'"),
    (dict(purpose="research", exempt=[f"national={CAG}", "national=COPI"]), optout.InvalidArgumentError,
     "--exempt national: the list is exempted twice"),
    (dict(purpose="research", exempt={"national": 1}), TypeError,
     "exempt: a dict of list name (str) to reference (str)"),
])
def test_selection_errors_are_the_engines(policy, kwargs, error, message):
    folder, _, _ = policy
    registry = optout.load(folder / "reg.optout")
    with pytest.raises(error) as raised:
        registry.index(**kwargs)
    assert str(raised.value).endswith(message)


def test_filter_file_and_verify_file_by_purpose(policy):
    folder, nums, lists = policy
    stats = optout.filter_file(folder / "reg.optout", folder / "extract.csv", folder / "out.csv",
                               column="nhs_number", purpose="planning", exempt={"national": CAG},
                               audit=folder / "audit.jsonl")
    assert stats["removed"] == 2
    removed = set(lists["type1"])
    assert (folder / "out.csv").read_text() == "nhs_number,id\n" + "".join(
        f"{n},{i}\n" for i, n in enumerate(nums) if n not in removed)
    ok = [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()][-1]
    assert ok["purpose"] == "planning" and ok["lists_applied"] == ["type1"]
    assert ok["exemptions"] == [{"list": "national", "kind": "deny", "count": 4, "as_of": "2026-11-24",
                                 "reference": CAG}]
    clean = optout.verify_file(folder / "reg.optout", folder / "out.csv", column="nhs_number", purpose="planning",
                               exempt={"national": CAG})
    assert clean["clean"] is True
    research = optout.verify_file(folder / "reg.optout", folder / "out.csv", column="nhs_number", purpose="research")
    assert research["clean"] is False and research["removed"] == 4


def test_filter_frame_by_purpose(policy):
    folder, nums, lists = policy
    frame = pd.DataFrame({"nhs_number": nums, "id": range(len(nums))})
    result = optout.pandas.filter_frame(frame, folder / "reg.optout", "nhs_number", purpose="fdp")
    removed = set(lists["objections.fdp"]) | set(lists["type1"])
    assert list(result.kept["nhs_number"]) == [n for n in nums if n not in removed]
    assert result.counts["removed"] == 4


def test_dask_by_purpose(policy):
    dd = pytest.importorskip("dask.dataframe")
    folder, nums, lists = policy
    frame = pd.DataFrame({"nhs_number": nums, "id": range(len(nums))})
    ddf = dd.from_pandas(frame, npartitions=3)
    kept = optout.dask.filter_dataframe(ddf, folder / "reg.optout", "nhs_number", purpose="planning",
                                        exempt={"national": CAG}).compute()
    assert list(kept["nhs_number"]) == [n for n in nums if n not in set(lists["type1"])]
    counts = optout.dask.count_verdicts(ddf, folder / "reg.optout", "nhs_number", purpose="research").compute()
    assert counts["removed"] == 6
    stats = optout.dask.filter_files([folder / "extract.csv"], folder / "parts", folder / "reg.optout",
                                     column="nhs_number", purpose="fdp", audit=folder / "audit.jsonl", client=False)
    assert stats["removed"] == 4
    ok = [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()][-1]
    assert ok["purpose"] == "fdp" and ok["lists_applied"] == ["objections.fdp", "type1"]
    verified = optout.dask.verify_files([folder / "parts" / "part-00000.csv"], folder / "reg.optout",
                                        column="nhs_number", purpose="fdp", client=False)
    assert verified["clean"] is True
    with pytest.raises(optout.InvalidArgumentError):
        optout.dask.filter_files([folder / "extract.csv"], folder / "parts2", folder / "reg.optout",
                                 column="nhs_number", purpose="fdp", apply="type1", client=False)
