"""The message sweep for the Python and Dask bindings (tests/cli/test_message_sweep.py has the CLI's).

Every error path the bindings offer runs on inputs whose every field carries a marker, the header
included: valid NHS numbers from tests/data/nhs_test_vectors.txt, plain, spaced, dashed and quoted,
and the word ZQXMARKER in names, dates, free text and column names. No exception text (str, repr,
args, a Dask piece's description), stats file or audit record may hold a marker: a marker number is
looked for in every form (plain, spaced, dashed, its 9-digit stem), the word case-insensitively, and
control characters count as echoed bytes. Names the caller passes (list, column) are NHS numbers,
which the engine's redaction rule must hide. File names are not markers.

A case that fails because of a known open defect is marked xfail(strict=True), so that its fix
turns it into a failure and the marker is removed.
"""

import gzip
import json
import os
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

import optout
from conftest import env_path
from optout_testing import MARKERS as N, WORD, dashed, leaks, spaced
from optout_testing import MARKER_ROWS as ROWS, marker_csv as csv_bytes


def exception_texts(error):
    texts = [str(error), repr(error), *map(repr, error.args)]
    piece = getattr(error, "piece", None)
    if piece is not None:
        texts.append(repr(piece))
    if error.__cause__ is not None:
        texts.append(str(error.__cause__))
    return texts


def assert_clean_error(excinfo, *files):
    for text in exception_texts(excinfo.value):
        assert leaks(text) == [], f"{type(excinfo.value).__name__}: {leaks(text)}"
    assert str(excinfo.value), "an error says why"
    for path in files:
        if Path(path).exists():
            assert leaks(Path(path).read_bytes()) == [], os.path.basename(path)


@pytest.fixture
def work(tmp_path):
    (tmp_path / "list.txt").write_text("".join(n + "\n" for n in N[:3]))
    (tmp_path / "allow.dat").write_text("".join(n + ",\n" for n in N[3:5]))
    (tmp_path / "in.csv").write_bytes(csv_bytes())
    subprocess.run([str(env_path("OPTOUT_BIN")), "build", "--list", "national=list.txt", "--allow",
                    "cleared=allow.dat", "-o", "reg.optout", "-q"], cwd=tmp_path, check=True, timeout=120)
    return tmp_path


def write(work, name, data):
    path = work / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


def filter_fails(work, error_type, input_name="in.csv", **options):
    """optout.filter_file on a marker input fails with error_type and leaks nothing."""
    registry = optout.load(work / "reg.optout")
    stats, audit = work / "stats.json", work / "audit.jsonl"
    with pytest.raises(error_type) as excinfo:
        optout.filter_file(registry, str(work / input_name), str(work / "out.csv"), stats=str(stats),
                           audit=str(audit), rejects=str(work / "rejects.csv"), **options)
    assert_clean_error(excinfo, stats, audit)
    assert not (work / "out.csv").exists()
    return excinfo.value


# ---- Successful runs ---------------------------------------------------------------------------------

def test_successful_filter_file_stats_and_audit_hold_no_marker(work):
    registry = optout.load(work / "reg.optout")
    stats = optout.filter_file(registry, str(work / "in.csv"), str(work / "out.csv"), column="nhs_number",
                               stats=str(work / "stats.json"), audit=str(work / "audit.jsonl"))
    assert stats["rows"] == len(ROWS)
    assert leaks(repr(stats)) == []
    assert leaks((work / "stats.json").read_bytes()) == []
    assert leaks((work / "audit.jsonl").read_bytes()) == []


# ---- filter_file: the engine's error paths -------------------------------------------------------------

def test_filter_file_unknown_column(work):
    filter_fails(work, optout.NotFoundError, column="nhs")


def test_filter_file_unknown_column_when_the_first_line_is_data(work):
    write(work, "headerless.csv", csv_bytes(header=False))
    filter_fails(work, optout.NotFoundError, input_name="headerless.csv", column="nhs_number")


@pytest.mark.parametrize("column", [N[5], spaced(N[1]), dashed(N[2])])  # not a field of the first line
def test_filter_file_unknown_column_named_by_a_number(work, column):
    write(work, "headerless.csv", csv_bytes(header=False))
    filter_fails(work, optout.InvalidArgumentError, input_name="headerless.csv", column=column)


def test_filter_file_duplicate_column(work):
    write(work, "dup.csv", f"{N[0]},nhs_number,{WORD},nhs_number,{spaced(N[1])}\n1,{N[2]},3,{N[3]},5\n")
    filter_fails(work, optout.Error, input_name="dup.csv", column="nhs_number")


MALFORMED = {
    "stray_quote": ROWS[:2] + [f'6,{N[0]},{WORD}"{N[1]},{WORD}'] + ROWS[2:],
    "text_after_closing_quote": ROWS[:1] + [f'6,"{N[0]}"{WORD},{N[1]},x,y'] + ROWS[1:],
    "unterminated_quote": ROWS + [f'6,{N[0]},"{WORD} {N[1]},x,y'],
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_filter_file_malformed_csv(work, name):
    write(work, "bad.csv", csv_bytes(rows=MALFORMED[name]))
    filter_fails(work, optout.InvalidInputError, input_name="bad.csv", column="nhs_number")


def test_filter_file_cr_joined_file(work):
    write(work, "cr.csv", csv_bytes(ending="\r"))
    filter_fails(work, optout.Error, input_name="cr.csv", column="nhs")


def test_filter_file_record_too_long(work):
    filter_fails(work, optout.LimitExceededError, column="nhs_number", max_record_bytes=40)


def test_filter_file_data_quality_gate(work):
    filter_fails(work, optout.DataQualityError, column="nhs_number", max_rejected=0)


def test_filter_file_stale_registry(work):
    time.sleep(1.1)  # created_at has second resolution
    filter_fails(work, optout.StaleRegistryError, column="nhs_number", max_age="0h")


@pytest.mark.parametrize("level", [0, 6])
def test_filter_file_gzip_input(work, level):
    # gzip is decompressed (issue 13.1): a truncated one fails, its bytes never echoed.
    data = gzip.compress(csv_bytes(), compresslevel=level, mtime=0)
    write(work, "in.csv.gz", data[:len(data) - 5])
    filter_fails(work, optout.Error, input_name="in.csv.gz", column="nhs_number")


@pytest.mark.parametrize("name", [N[0], spaced(N[1]), f"national,{dashed(N[2])}"])
def test_filter_file_unknown_or_invalid_list(work, name):
    filter_fails(work, optout.Error, column="nhs_number", apply=name)


# ---- Registries and lists --------------------------------------------------------------------------------

def bad_registries(work):
    data = (work / "reg.optout").read_bytes()
    middle = len(data) // 2
    return {
        "corrupt": write(work, "corrupt.optout", data[:middle] + bytes([data[middle] ^ 0x5A]) + data[middle + 1:]),
        "truncated": write(work, "truncated.optout", data[:middle]),
        "dev_null": "/dev/null",
        "csv": str(work / "in.csv"),
        "gzip": write(work, "reg.optout.gz", gzip.compress(data, compresslevel=0, mtime=0)),
        "missing": str(work / "missing.optout"),
    }


def test_load_bad_registry(work):
    for kind, path in bad_registries(work).items():
        with pytest.raises(optout.Error) as excinfo:
            optout.load(path)
        assert_clean_error(excinfo)
        with pytest.raises(optout.Error) as excinfo:
            optout.cached_registry(path)
        assert_clean_error(excinfo)


@pytest.mark.parametrize("name", [N[0], spaced(N[1]), dashed(N[2]) + "x", N[3] + "!"])
def test_unknown_or_invalid_list_names(work, name):
    registry = optout.load(work / "reg.optout")
    for call in (lambda: registry.index(apply=[name]), lambda: registry.verdicts([N[0]], apply=name),
                 lambda: registry.contains(name, [N[0]])):
        with pytest.raises(optout.Error) as excinfo:
            call()
        assert_clean_error(excinfo)


def test_check_age_stale(work):
    registry = optout.load(work / "reg.optout")
    time.sleep(1.1)
    with pytest.raises(optout.StaleRegistryError) as excinfo:
        registry.check_age("0h")
    assert_clean_error(excinfo)


# ---- pandas ------------------------------------------------------------------------------------------------

def marker_frame():
    return pd.read_csv(pd.io.common.BytesIO(csv_bytes()), dtype=str)


@pytest.mark.parametrize("column", ["nhs", N[0], spaced(N[4])])
def test_filter_frame_unknown_column(work, column):
    frame = marker_frame()
    with pytest.raises(optout.Error) as excinfo:
        optout.filter_frame(frame, optout.load(work / "reg.optout"), column)
    assert_clean_error(excinfo)


def test_filter_frame_duplicate_column(work):
    frame = marker_frame()
    frame.columns = ["record_id", "nhs_number", f"{WORD}", "nhs_number", N[0]]
    with pytest.raises(optout.Error) as excinfo:
        optout.filter_frame(frame, optout.load(work / "reg.optout"), "nhs_number")
    assert_clean_error(excinfo)


def test_filter_frame_stale_registry(work):
    time.sleep(1.1)
    with pytest.raises(optout.StaleRegistryError) as excinfo:
        optout.filter_frame(marker_frame(), optout.load(work / "reg.optout"), "nhs_number", max_age="0h")
    assert_clean_error(excinfo)


def test_filter_frame_unknown_list(work):
    with pytest.raises(optout.Error) as excinfo:
        optout.filter_frame(marker_frame(), optout.load(work / "reg.optout"), "nhs_number", apply=[N[0]])
    assert_clean_error(excinfo)


# ---- Dask ----------------------------------------------------------------------------------------------------

def dask_fails(work, error_type, input_name="in.csv", **options):
    """optout.dask.filter_files (in this process: client=False) fails, leaking nothing, and leaves no output."""
    import optout.dask

    audit, stats = work / "audit-dask.jsonl", work / "stats-dask.json"
    with pytest.raises(error_type) as excinfo:
        optout.dask.filter_files(str(work / input_name), str(work / "parts"), str(work / "reg.optout"),
                                 stats=str(stats), audit=str(audit), client=False, **options)
    assert_clean_error(excinfo, stats, audit)
    assert not (work / "parts").exists()
    if audit.exists():
        assert json.loads(audit.read_text().splitlines()[-1])["outcome"] != "success"
    return excinfo.value


def test_dask_unknown_column(work):
    dask_fails(work, optout.NotFoundError, column="nhs")


def test_dask_unknown_column_when_the_first_line_is_data(work):
    write(work, "headerless.csv", csv_bytes(header=False))
    dask_fails(work, optout.NotFoundError, input_name="headerless.csv", column="nhs_number")


def test_dask_unknown_column_named_by_a_number(work):
    dask_fails(work, optout.InvalidArgumentError, column=N[0])


@pytest.mark.parametrize("name", sorted(MALFORMED))
@pytest.mark.parametrize("piece_bytes", [None, 64])
def test_dask_malformed_csv(work, name, piece_bytes):
    write(work, "bad.csv", csv_bytes(rows=ROWS * 3 + MALFORMED[name]))
    dask_fails(work, optout.Error, input_name="bad.csv", column="nhs_number", piece_bytes=piece_bytes)


@pytest.mark.parametrize("piece_bytes", [None, 64])
def test_dask_data_quality_gate(work, piece_bytes):
    dask_fails(work, optout.DataQualityError, column="nhs_number", max_rejected=0, piece_bytes=piece_bytes)


def test_dask_record_too_long(work):
    dask_fails(work, optout.LimitExceededError, column="nhs_number", max_record_bytes=40)


def test_dask_gzip_input_is_one_whole_part(work):
    """Issue 13.1: gzip input is decompressed; it cannot be cut at byte offsets, so it is one part."""
    import optout.dask

    write(work, "in.csv.gz", gzip.compress(csv_bytes(), compresslevel=0, mtime=0))
    optout.dask.filter_files(str(work / "in.csv.gz"), str(work / "parts-gz"), str(work / "reg.optout"),
                             column="nhs_number", piece_bytes=64, client=False)
    assert sorted(p.name for p in (work / "parts-gz").iterdir()) == ["part-00000.csv"]


def test_dask_unknown_list(work):
    dask_fails(work, optout.Error, column="nhs_number", apply=[N[0]])


def test_dask_bad_registry(work):
    import optout.dask

    for kind, path in bad_registries(work).items():
        with pytest.raises(optout.Error) as excinfo:
            optout.dask.filter_files(str(work / "in.csv"), str(work / "parts"), path, column="nhs_number",
                                     client=False)
        assert_clean_error(excinfo)


@pytest.mark.parametrize("column", ["nhs", N[0]])
def test_dask_dataframe_unknown_column(work, column):
    import dask.dataframe as dd
    import optout.dask

    frame = dd.from_pandas(marker_frame(), npartitions=2)
    with pytest.raises(optout.Error) as excinfo:
        optout.dask.filter_dataframe(frame, str(work / "reg.optout"), column).compute(scheduler="sync")
    assert_clean_error(excinfo)
    with pytest.raises(optout.Error) as excinfo:
        optout.dask.count_verdicts(frame, str(work / "reg.optout"), column).compute(scheduler="sync")
    assert_clean_error(excinfo)
