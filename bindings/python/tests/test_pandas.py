"""The pandas helper against `optout filter`: the kept frame is the CLI's output read by pandas."""

import datetime
import time

import numpy as np
import pandas as pd
import pytest

import optout
from optout.pandas import filter_frame
from conftest import SAMPLES, check_digit, nhs


def read(path):
    """A CSV as pandas reads an extract: every field a string, an empty field missing (NaN)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


@pytest.mark.parametrize("sample", ["extract_narrow.csv", "extract_dirty.csv", "extract_wide.csv"])
@pytest.mark.parametrize("apply", [None, ["national", "type1"], ["cleared"]])
def test_kept_frame_is_the_cli_output(cli, registry_path, tmp_path, sample, apply):
    source = SAMPLES / sample
    args = ["filter", "-r", registry_path, "--column", "nhs_number", source, "-o", tmp_path / "out.csv",
            "--rejects", tmp_path / "rejects.csv", "--stats", tmp_path / "stats.json", "--quiet"]
    if apply:
        args += ["--apply", ",".join(apply)]
    cli.run(*args)
    cli_stats = pd.read_json(tmp_path / "stats.json", typ="series")

    frame = read(source)
    frame.index = frame.index * 10 + 5  # a non-default index, which the kept frame must keep
    result = filter_frame(frame, registry_path, "nhs_number", apply=apply, return_rejected=True)

    expected = read(tmp_path / "out.csv")
    pd.testing.assert_frame_equal(result.kept.reset_index(drop=True), expected)
    # (pandas reads a header-only file with an object index: the values are what count.)
    pd.testing.assert_frame_equal(result.rejected.reset_index(drop=True), read(tmp_path / "rejects.csv"),
                                  check_index_type=False)
    # Original index and order: each kept row is the frame's row with that label.
    assert result.kept.index.is_monotonic_increasing
    key = frame.columns[0]  # record_id, or EPIKEY in the wide extract: unique per row
    assert frame[key].is_unique
    assert result.kept.index.tolist() == frame.index[frame[key].isin(set(expected[key]))].tolist()
    pd.testing.assert_frame_equal(result.kept, frame.loc[result.kept.index])

    counts = result.counts
    assert counts == {
        "rows": int(cli_stats["rows"]),
        "kept": int(cli_stats["kept"]),
        "removed": int(cli_stats["removed"]),
        "rejected": int(cli_stats["rejected"]),
        "rejected_by_reason": dict(cli_stats["rejected_by_reason"]),
    }
    assert counts["rows"] == counts["kept"] + counts["removed"] + counts["rejected"] == len(frame)
    assert len(result.kept) == counts["kept"] and len(result.rejected) == counts["rejected"]


def test_column_types(cli, deny_registry_path, listed_numbers):
    listed = listed_numbers["national"][:20]
    unlisted = [nhs(s) for s in range(800_000_000, 800_000_100) if check_digit(s) is not None][:20]
    numbers = listed + unlisted
    results = cli.check(deny_registry_path, numbers)
    expected_kept = [i for i, r in enumerate(results) if r["verdict"] == "kept"]
    assert len(expected_kept) == 20

    ints = [int(n) for n in numbers]
    columns = {
        "str": pd.Series(numbers, dtype=object),
        "string": pd.Series(numbers, dtype="string"),
        "category": pd.Series(numbers, dtype="category"),
        "int64": pd.Series(ints, dtype=np.int64),
        "uint64": pd.Series(ints, dtype=np.uint64),
        "Int64": pd.Series(ints, dtype="Int64"),
        "UInt64": pd.Series(ints, dtype="UInt64"),
        "float64": pd.Series(ints, dtype=np.float64),
    }
    for name, column in columns.items():
        frame = pd.DataFrame({"id": range(len(numbers)), "nhs": column})
        result = filter_frame(frame, deny_registry_path, "nhs")
        assert result.kept["id"].tolist() == expected_kept, name
        assert result.counts == {"rows": 40, "kept": 20, "removed": 20, "rejected": 0, "rejected_by_reason": {}}, name

    # Missing values, in every column type that can hold them, are rejected as empty.
    with_missing = {
        "str-None": pd.Series([numbers[0], None, numbers[-1]], dtype=object),
        "str-NaN": pd.Series([numbers[0], np.nan, numbers[-1]], dtype=object),
        "string-NA": pd.Series([numbers[0], pd.NA, numbers[-1]], dtype="string"),
        "Int64-NA": pd.Series([ints[0], pd.NA, ints[-1]], dtype="Int64"),
        "float-NaN": pd.Series([float(ints[0]), np.nan, float(ints[-1])]),
        "object-mixed": pd.Series([ints[0], pd.NaT, numbers[-1]], dtype=object),
    }
    for name, column in with_missing.items():
        frame = pd.DataFrame({"id": [0, 1, 2], "nhs": column})
        result = filter_frame(frame, deny_registry_path, "nhs", return_rejected=True)
        assert result.kept["id"].tolist() == [2], name
        assert result.rejected["id"].tolist() == [1], name
        assert result.counts == {
            "rows": 3, "kept": 1, "removed": 1, "rejected": 1, "rejected_by_reason": {"empty": 1},
        }, name


def test_errors(deny_registry_path):
    frame = pd.DataFrame({"id": [1], "nhs_number": ["9434765919"]})
    with pytest.raises(optout.NotFoundError) as caught:
        filter_frame(frame, deny_registry_path, "nhs")
    assert str(caught.value) == "the frame: no column named 'nhs' in the header (it has: id, nhs_number)"
    doubled = pd.DataFrame([[1, 2]], columns=["nhs", "nhs"])
    with pytest.raises(optout.InvalidInputError) as caught:
        filter_frame(doubled, deny_registry_path, "nhs")
    assert str(caught.value) == ("the frame: the header names column 'nhs' 2 times (columns 1, 2): "
                                 "which one holds the NHS number is ambiguous")
    with pytest.raises(TypeError) as caught:
        filter_frame(frame["nhs_number"], deny_registry_path, "nhs_number")
    assert str(caught.value) == "expected a pandas DataFrame, got Series"
    with pytest.raises(TypeError) as caught:
        filter_frame(pd.DataFrame({"nhs": [True]}), deny_registry_path, "nhs")
    assert str(caught.value) == "an NHS-number column cannot have dtype bool: use strings or integers"
    with pytest.raises(TypeError) as caught:
        filter_frame(pd.DataFrame({"nhs": ["9434765919", {}]}), deny_registry_path, "nhs")
    assert str(caught.value) == "element 1 is of type dict: NHS numbers must be str, bytes, int, float or None"
    with pytest.raises(optout.NotFoundError):
        filter_frame(frame, deny_registry_path, "nhs_number", apply=["cleared"])
    registry = optout.load(deny_registry_path)
    while time.time() < registry.created_at_unix + 1.5:  # at least a second old: stale at 0 hours
        time.sleep(0.1)
    with pytest.raises(optout.StaleRegistryError) as caught:
        filter_frame(frame, registry, "nhs_number", max_age="0h")
    assert str(caught.value).startswith(f"{deny_registry_path}: the registry was built ")
    assert filter_frame(frame, registry, "nhs_number", max_age=datetime.timedelta(days=1)).counts["rows"] == 1


def test_count_verdicts_is_the_engines_count():
    """The engine counts: each row under its verdict, a rejected one under its reason's name; what
    is not a verdict or a rejected number's reason is refused, naming the position."""
    from optout.pandas import count_verdicts

    reasons = np.array([0, 0, optout.REASONS.index("empty"), optout.REASONS.index("all zeros"),
                        optout.REASONS.index("empty")], dtype=np.uint8)
    verdicts = np.array([optout.KEPT, optout.REMOVED, optout.REJECTED, optout.REJECTED, optout.REJECTED],
                        dtype=np.uint8)
    assert count_verdicts(verdicts, reasons) == {
        "rows": 5, "kept": 1, "removed": 1, "rejected": 3, "rejected_by_reason": {"empty": 2, "all zeros": 1},
    }
    empty = np.array([], dtype=np.uint8)
    assert count_verdicts(empty, empty) == {"rows": 0, "kept": 0, "removed": 0, "rejected": 0,
                                            "rejected_by_reason": {}}
    cases = [
        (np.array([3], dtype=np.uint8), np.array([0], dtype=np.uint8), "verdicts[0] is not a Verdict value"),
        (np.array([0, 2], dtype=np.uint8), np.array([0, 0], dtype=np.uint8),
         "reasons[1] is not the InvalidReason of a rejected number"),
        (np.array([2], dtype=np.uint8), np.array([200], dtype=np.uint8),
         "reasons[0] is not the InvalidReason of a rejected number"),
        (np.array([0], dtype=np.uint8), empty, "verdicts and reasons differ in length"),
    ]
    for verdicts, reasons, message in cases:
        with pytest.raises(ValueError) as caught:
            count_verdicts(verdicts, reasons)
        assert str(caught.value) == message, message


def test_frame_labels_that_look_like_data_are_not_shown(deny_registry_path):
    # A headerless CSV read with pandas' default header=0 makes a data row the labels.
    frame = pd.DataFrame([["2", "4010232137", "1930-05-30"]], columns=["1", "9434765919", "1951-01-01"])
    with pytest.raises(optout.NotFoundError) as caught:
        filter_frame(frame, deny_registry_path, "nhs_number")
    message = str(caught.value)
    assert "9434765919" not in message and "1951" not in message
    assert message == ("the frame: no column named 'nhs_number', and the first line looks like data, not a "
                       "header, so it is not shown (without a header, name the column by position: "
                       "--no-header --column-index K)")


def test_a_frame_column_named_twice_is_ambiguous_not_the_first(deny_registry_path):
    frame = pd.DataFrame([["9434765919", "4010232137"]], columns=["nhs_number", "nhs_number"])
    with pytest.raises(optout.InvalidInputError):
        filter_frame(frame, deny_registry_path, "nhs_number")


# ---- Issues 10.3 and 15.1: integers, the all-zero number, and dtypes too narrow for NHS numbers ----


def test_short_integers_and_zero_are_rejected_not_kept(cli, deny_registry_path, tmp_path):
    """An int64 column of 19, 0, 27 kept them as 0000000019 (which passes modulus 11); the CLI
    rejects such a field, and fillna(0) made missing numbers kept rows."""
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "nhs": np.array([19, 0, 27, 9434765919], dtype=np.int64)})
    result = filter_frame(frame, deny_registry_path, "nhs", return_rejected=True)
    assert result.kept["id"].tolist() == [4]
    assert result.rejected["id"].tolist() == [1, 2, 3]
    assert result.counts["rejected_by_reason"] == {"wrong length": 2, "all zeros": 1}
    # The CLI on the same extract as text (the integers as a CSV writes them) rejects the same rows.
    (tmp_path / "in.csv").write_text("id,nhs\n1,19\n2,0\n3,27\n4,9434765919\n")
    stats = tmp_path / "stats.json"
    cli.run("filter", "-r", deny_registry_path, "--column", "nhs", tmp_path / "in.csv", "-o", tmp_path / "out.csv",
            "--stats", stats, "--quiet")
    cli_stats = pd.read_json(stats, typ="series")
    assert (cli_stats["kept"], cli_stats["rejected"]) == (1, 3)
    # fillna(0) on a nullable column: the filled rows are rejected, never kept.
    filled = pd.DataFrame({"id": [1, 2], "nhs": pd.Series([9434765919, pd.NA], dtype="Int64").fillna(0)})
    result = filter_frame(filled, deny_registry_path, "nhs")
    assert result.kept["id"].tolist() == [1]
    assert result.counts["rejected_by_reason"] == {"all zeros": 1}
    # Text zeros too.
    text = pd.DataFrame({"id": [1, 2], "nhs": ["0000000000", "000 000 0000"]})
    assert filter_frame(text, deny_registry_path, "nhs").counts["rejected_by_reason"] == {"all zeros": 2}


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int16", "uint32", "uint8",
                                   "Int32", "Int8", "UInt32", "Float32"])
def test_float32_and_narrow_columns_are_refused(deny_registry_path, listed_numbers, dtype):
    """float32 turned 4016045452 into 4016045568, another valid number, and kept the row."""
    national = [int(n) for n in listed_numbers["national"][:50]]
    values = national if dtype.lower().startswith("float") else list(range(50))
    frame = pd.DataFrame({"id": range(50), "nhs": pd.Series(values).astype(dtype)})
    with pytest.raises(TypeError) as caught:
        filter_frame(frame, deny_registry_path, "nhs")
    assert str(caught.value).startswith(f"NHS numbers cannot come from a numpy array of dtype {dtype.lower()} ")
    with pytest.raises(TypeError):
        optout.pandas.classify_frame(frame, deny_registry_path, "nhs")


def test_float64_and_wide_integer_columns_are_read(deny_registry_path, listed_numbers):
    national = [int(n) for n in listed_numbers["national"][:50]]
    for dtype in ("float64", "int64", "uint64", "Int64", "UInt64", "Float64"):
        frame = pd.DataFrame({"id": range(50), "nhs": pd.Series(national).astype(dtype)})
        assert filter_frame(frame, deny_registry_path, "nhs").counts["removed"] == 50, dtype


def test_dask_float32_partitions_are_refused(deny_registry_path, listed_numbers):
    import dask.dataframe as dd
    import optout.dask

    national = [int(n) for n in listed_numbers["national"][:40]]
    frame = pd.DataFrame({"id": range(40), "nhs": np.array(national, dtype=np.float32)})
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(TypeError, match="dtype float32"):
        optout.dask.filter_dataframe(ddf, deny_registry_path, "nhs").compute(scheduler="synchronous")
