"""Dropping the rows of opted-out patients from a pandas DataFrame, by its NHS-number column.

The column may hold strings (as read by ``pd.read_csv(..., dtype=str)``), 64-bit integers,
float64 (an integer column with missing values), or a pandas extension dtype (string, Int64,
UInt64, Float64). Missing values (None, NaN, pd.NA) are rejected as "empty", like an empty CSV
field; rejected rows are never kept. A column of float32, float16 or a narrower integer (numpy's
or pandas' Int32, Float32...) is a TypeError: it cannot hold every 10-digit number, so its values
may already be other numbers (the engine decides this, for numpy arrays too).
"""

from collections import namedtuple

import numpy as np
import pandas as pd

from . import _engine
from .core import KEPT, REJECTED, _parse_arrays, _registry_of

__all__ = ["FrameResult", "filter_frame", "classify_frame", "count_verdicts", "parse_column"]

FrameResult = namedtuple("FrameResult", "kept counts rejected")
FrameResult.__doc__ = """kept: the rows the filter keeps (original index and order); counts: rows,
kept, removed, rejected and rejected_by_reason (name -> count, non-zero only), as the CLI's
--stats; rejected: the rejected rows when asked for, else None."""


def parse_column(column):
    """(stems, reasons) for a pandas Series (or Index) of NHS numbers: see the module's notes."""
    if isinstance(column, pd.DataFrame):
        raise TypeError("expected one column (a Series), got a DataFrame")
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            return _parse_arrays(column.to_numpy(dtype=object, na_value=None))
        if dtype.kind in "uif":
            return _parse_arrays(column.to_numpy())
        raise TypeError(f"an NHS-number column cannot have dtype {dtype}: use strings or integers")
    if pd.api.types.is_bool_dtype(dtype):
        raise TypeError(f"an NHS-number column cannot have dtype {dtype}: use strings or integers")
    # Masked numeric dtypes keep their own width (numpy_dtype), so the engine refuses Int32 or
    # Float32 as it refuses int32 or float32; the engine reads the mask as missing values.
    if pd.api.types.is_integer_dtype(dtype):
        values = column.to_numpy(dtype=getattr(dtype, "numpy_dtype", None), na_value=0)
    elif pd.api.types.is_float_dtype(dtype):
        values = column.to_numpy(dtype=getattr(dtype, "numpy_dtype", None), na_value=np.nan)
    else:  # string, categorical and other extension dtypes: their values as objects
        values = column.to_numpy(dtype=object, na_value=None)
    return _engine.parse_array(values, np.asarray(column.isna(), dtype=bool))


def _column(frame, column):
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    # The engine's column rule, on the labels as text: exactly one must match (an ambiguous or
    # missing name is the engine's error, worded without showing labels that look like data).
    names = [str(label) for label in frame.columns]
    return frame.iloc[:, _engine.resolve_column(names, str(column), "the frame")]


def classify_frame(frame, registry, column, apply=None, *, purpose=None, exempt=None, pseudonym_key=None):
    """(verdicts, reasons): the filter's verdict (KEPT, REMOVED, REJECTED) and the InvalidReason
    of each row's NHS number, as uint8 arrays aligned with the frame's rows. purpose, exempt:
    lists by purpose less exemptions, as Registry.index. pseudonym_key: a key file, the column then
    holding tokens (strings; as --pseudonym-key: README, "Pseudonymised extracts"); missing values
    are "empty", numbers "bad character"."""
    index = _registry_of(registry).index(apply, purpose=purpose, exempt=exempt)
    if pseudonym_key is not None:
        values = _column(frame, column).to_numpy(dtype=object, na_value=None)
        return index._native.classify_tokens(values, pseudonym_key)
    stems, reasons = parse_column(_column(frame, column))
    return index._native.classify_parsed(stems, reasons), reasons


def count_verdicts(verdicts, reasons):
    """The counts dict of FrameResult from classify_frame's arrays (counted by the engine)."""
    return _engine.add_counts([_engine.tally_verdicts(verdicts, reasons)])


def filter_frame(frame, registry, column, *, apply=None, max_age=None, trust=None, expect_digest=None,
                 return_rejected=False, purpose=None, exempt=None, pseudonym_key=None):
    """Drops the rows of opted-out patients: the rows the CLI's filter would keep, and the counts.

    registry: an optout.Registry or a snapshot's path (loaded once per process); column: the
    NHS-number column's label; apply, max_age, trust, expect_digest: as filter_file's (trust None:
    the keys OPTOUT_TRUST names, if any); return_rejected: also return the rejected rows; purpose,
    exempt: lists by purpose less exemptions ({list: reference}), as --purpose and --exempt;
    pseudonym_key: a key file, the column then holding tokens (classify_frame). Returns
    FrameResult(kept, counts, rejected); kept keeps the frame's index and order.
    """
    registry = _registry_of(registry)
    registry.check_trust(trust)
    if expect_digest is not None:
        registry.check_digest(expect_digest)
    if max_age is not None:
        registry.check_age(max_age)
    return _filter_checked(frame, registry, column, apply, return_rejected, purpose, exempt, pseudonym_key)


def _filter_checked(frame, registry, column, apply, return_rejected=False, purpose=None, exempt=None,
                    pseudonym_key=None):
    """filter_frame once its registry passed the trust, digest and age checks."""
    verdicts, reasons = classify_frame(frame, registry, column, apply, purpose=purpose, exempt=exempt,
                                       pseudonym_key=pseudonym_key)
    kept = frame.loc[verdicts == KEPT]
    rejected = frame.loc[verdicts == REJECTED] if return_rejected else None
    return FrameResult(kept, count_verdicts(verdicts, reasons), rejected)


def impact_report(frame, registry, column, by, *, apply=None, exact=False, format="csv"):
    """The impact report of filtering a frame (as `optout filter --impact`): per group of the `by`
    columns, rows, kept, removed and rejected, counted, suppressed (1 to 7 written *, the others
    rounded to the nearest 5, unless exact) and written by the engine. Returns the report's text,
    CSV or (format="json") JSON. A value is the cell as text (str() of a non-string); a missing
    cell (None, NaN) is a missing value. by must not include the NHS-number column."""
    if isinstance(by, (str, bytes)):
        by = [by]
    by = [str(name) for name in by]
    _engine.check_impact_by(str(column), by)  # the engine's rules: not the NHS column, none twice
    names = [str(label) for label in frame.columns]
    keys = []
    for name in by:
        cells = frame.iloc[:, _engine.resolve_column(names, name, "the frame")]
        keys.append([None if _missing(v) else (v if isinstance(v, str) else str(v)) for v in cells.tolist()])
    verdicts, _ = classify_frame(frame, registry, column, apply)
    return _engine.impact_report(verdicts, keys, by, bool(exact), format == "json")


def _missing(value):
    return value is None or (isinstance(value, float) and value != value)
