"""The impact report from Python: filter_file(impact=...), optout.pandas.impact_report and
optout.dask.filter_files (a run in parts, here and on a LocalCluster), all the engine's counts and
words; checked against each other and against a csv-module count of the filter's own outputs."""

import csv
import io
import json

import pandas as pd
import pytest

import optout
import optout.dask
import optout.pandas
from conftest import SAMPLES

EXTRACT = SAMPLES / "extract_dirty.csv"


def shown(count, exact):
    if exact or count == 0:
        return str(count)
    return "*" if count <= 7 else str(5 * ((count + 2) // 5))


def reference(tmp_path, registry_path, by, exact):
    """The report from the filter's kept and rejected rows (by record_id), counted with csv."""
    kept_path, rejects_path = tmp_path / "ref_kept.csv", tmp_path / "ref_rejects.csv"
    optout.filter_file(registry_path, EXTRACT, kept_path, column="nhs_number", rejects=rejects_path)
    ids = lambda path: {row["record_id"] for row in csv.DictReader(io.StringIO(path.read_text("utf-8-sig")))}
    kept, rejected = ids(kept_path), ids(rejects_path)
    groups = {}
    for row in csv.DictReader(io.StringIO(EXTRACT.read_text("utf-8-sig"))):
        key = tuple(row[name] for name in by)
        counts = groups.setdefault(key, [0, 0, 0, 0])
        counts[0] += 1
        counts[1 if row["record_id"] in kept else 3 if row["record_id"] in rejected else 2] += 1
    lines = [",".join(by) + ",rows,kept,removed,rejected"]
    for key in sorted(groups, key=lambda k: tuple(v.encode() for v in k)):
        lines.append(",".join(key) + "," + ",".join(shown(c, exact) for c in groups[key]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("exact", [False, True])
def test_filter_file_matches_the_reference(registry_path, tmp_path, exact):
    by = ["sex", "postcode_district"]
    stats = optout.filter_file(registry_path, EXTRACT, tmp_path / "out.csv", column="nhs_number",
                               impact=tmp_path / "impact.csv", impact_by=by, impact_exact=exact)
    report = (tmp_path / "impact.csv").read_text()
    assert report == reference(tmp_path, registry_path, by, exact)
    assert stats["rows"] == 2000


def test_pandas_report_is_the_files(registry_path, tmp_path):
    frame = pd.read_csv(EXTRACT, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    optout.filter_file(registry_path, EXTRACT, tmp_path / "out.csv", column="nhs_number",
                       impact=tmp_path / "impact.json", impact_by="sex")
    text = optout.pandas.impact_report(frame, registry_path, "nhs_number", "sex", format="json")
    assert text == (tmp_path / "impact.json").read_text()
    assert json.loads(text)["by"] == ["sex"]
    with pytest.raises(optout.InvalidArgumentError, match="^the NHS-number column cannot be a grouping column"):
        optout.pandas.impact_report(frame, registry_path, "nhs_number", ["nhs_number"])
    with pytest.raises(optout.NotFoundError, match="no column named 'postcode'"):
        optout.pandas.impact_report(frame, registry_path, "nhs_number", ["postcode"])


def test_the_engines_rules_and_words(registry_path, tmp_path):
    run = lambda **kw: optout.filter_file(registry_path, EXTRACT, tmp_path / "out.csv", column="nhs_number", **kw)
    with pytest.raises(optout.InvalidArgumentError, match="^grouping columns need an impact report to write$"):
        run(impact_by=["sex"])
    with pytest.raises(optout.InvalidArgumentError, match="^an impact report needs the columns to group by$"):
        run(impact=tmp_path / "i.csv")
    with pytest.raises(optout.InvalidArgumentError, match="^exact counts need an impact report$"):
        run(impact_exact=True)
    assert not (tmp_path / "i.csv").exists() and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("piece_bytes", [None, 20_000])
def test_dask_in_parts_here_sums_before_suppression(registry_path, tmp_path, piece_bytes):
    by = ["sex", "postcode_district"]
    optout.filter_file(registry_path, EXTRACT, tmp_path / "whole.csv", column="nhs_number",
                       impact=tmp_path / "whole.csv.impact.csv", impact_by=by)
    optout.dask.filter_files([EXTRACT], tmp_path / "parts", registry_path, column="nhs_number", client=False,
                             piece_bytes=piece_bytes, impact=tmp_path / "parts.impact.csv", impact_by=by,
                             audit=tmp_path / "audit.jsonl")
    assert (tmp_path / "parts.impact.csv").read_text() == (tmp_path / "whole.csv.impact.csv").read_text()
    record = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert record["outcome"] == "ok" and record["impact"]["by"] == by and record["impact"]["exact"] is False


def test_dask_on_a_cluster(registry_path, tmp_path):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        by = ["sex"]
        optout.dask.filter_files([EXTRACT], tmp_path / "parts", registry_path, column="nhs_number", client=client,
                                 piece_bytes=30_000, impact=tmp_path / "impact.csv", impact_by=by, impact_exact=True)
        assert (tmp_path / "impact.csv").read_text() == reference(tmp_path, registry_path, by, True)
    finally:
        client.close()
        cluster.close()
