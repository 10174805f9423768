"""The exceptions optout raises: one class per engine ErrorCode, each carrying the engine's message.

Every class derives from :class:`Error` and, where one fits, from the built-in exception a
Python caller would catch anyway (``OSError`` for I/O, ``ValueError`` for bad input or
arguments, ``LookupError`` for a missing list or column). ``str(e)`` is exactly the message the
CLI prints after ``optout <command>:``; it names the file and line, never an NHS number or row.
"""

import errno
import os

__all__ = [
    "Error",
    "InvalidArgumentError",
    "IoError",
    "MissingFileError",
    "CorruptionError",
    "UnsupportedVersionError",
    "NotFoundError",
    "InvalidInputError",
    "LimitExceededError",
    "PipeClosedError",
    "StaleRegistryError",
    "DataQualityError",
    "InternalError",
    "RegistryChangedError",
    "PieceFailedError",
]


class Error(Exception):
    """Base of every optout error. ``code`` is the engine's ErrorCode value (None when the error
    comes from the Python layer itself), ``code_name`` its short name."""

    code = None
    code_name = None

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class InvalidArgumentError(Error, ValueError):
    """An option or value the engine cannot use (no column chosen, a bad delimiter...)."""

    code, code_name = 1, "invalid argument"


class IoError(Error, OSError):
    """Open, read, write, rename or sync failed."""

    code, code_name = 2, "i/o error"


class MissingFileError(IoError, FileNotFoundError):
    """An I/O error because a file (or its directory) does not exist."""


class CorruptionError(Error, ValueError):
    """A registry snapshot failed its checks (magic, sizes, checksum, structure)."""

    code, code_name = 3, "corruption"


class UnsupportedVersionError(Error, ValueError):
    """A registry snapshot written by a newer format version."""

    code, code_name = 4, "unsupported version"


class NotFoundError(Error, LookupError):
    """A named list or header column that does not exist; the message lists what does."""

    code, code_name = 5, "not found"


class InvalidInputError(Error, ValueError):
    """Input the rules reject: malformed CSV (naming the file and line), a bad source line."""

    code, code_name = 6, "invalid input"


class LimitExceededError(Error, ValueError):
    """A record longer than max_record_bytes."""

    code, code_name = 7, "limit exceeded"


class PipeClosedError(Error, BrokenPipeError):
    """The reader of standard output went away."""

    code, code_name = 8, "broken pipe"


class StaleRegistryError(Error):
    """The registry was built longer ago than max_age allows."""

    code, code_name = 9, "stale registry"


class DataQualityError(Error):
    """More rows were rejected than max_rejected allows."""

    code, code_name = 10, "data quality"


class InternalError(Error, RuntimeError):
    """A bug, or an unexpected failure of a dependency."""

    code, code_name = 11, "internal error"


class RegistryChangedError(Error):
    """The registry file on a worker is not the one the run started with (its digest differs)."""


class PieceFailedError(Error, RuntimeError):
    """A piece of a distributed run could not be filtered for a reason outside the engine (its
    worker died more often than the scheduler allows); ``piece`` names the piece."""


_BY_CODE = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        IoError,
        CorruptionError,
        UnsupportedVersionError,
        NotFoundError,
        InvalidInputError,
        LimitExceededError,
        PipeClosedError,
        StaleRegistryError,
        DataQualityError,
        InternalError,
    )
}

_MISSING = ": " + os.strerror(errno.ENOENT)


def from_status(code, message):
    """The exception for an engine Status (used by optout._engine)."""
    cls = _BY_CODE.get(code, InternalError)
    if cls is IoError and message.endswith(_MISSING):
        cls = MissingFileError
    return cls(message)
