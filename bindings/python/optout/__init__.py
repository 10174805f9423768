"""optout for Python: strip opted-out patients' rows by NHS number, with the C++ engine's rules.

    import optout
    registry = optout.load("optouts.optout")           # a snapshot from `optout build`
    registry.keep_mask(numbers)                         # numpy uint64 / strings -> bool array
    optout.filter_file(registry, "extract.csv", "clean.csv", column="nhs_number")
    kept, counts, _ = optout.filter_frame(df, registry, "nhs_number")   # pandas

optout.dask runs the same on a Dask cluster. Errors are optout.Error subclasses carrying the
engine's messages, which never contain an NHS number.

Numbers: numpy arrays of uint64, int64 (10 digits, one leading zero implied: below 10^8 is "wrong
length", 0 is "all zeros"), float64 (integral; NaN is missing) or strings ('U', 'S', object),
pandas Series of those (or Int64, UInt64, Float64, string), or sequences of str, bytes, int,
float and None. float32, float16, (u)int8..32 and their pandas forms raise TypeError: they cannot
hold every 10-digit number, so their values may already be other, valid, numbers.
Paths: str (surrogate escapes for undecodable bytes), bytes or os.PathLike; a NUL is ValueError.
"""

from . import _engine, core, errors
from .core import *  # noqa: F403 (core.__all__)
from .errors import *  # noqa: F403 (errors.__all__)

__version__ = _engine.VERSION


def filter_frame(frame, registry, column, **options):
    """optout.pandas.filter_frame (pandas is imported on first use)."""
    from .pandas import filter_frame as run

    return run(frame, registry, column, **options)


__all__ = [*core.__all__, "filter_frame", *errors.__all__]
