"""The exceptions optout raises: one class per engine ErrorCode, each carrying the engine's message.

Every class derives from :class:`Error` and, where one fits, from the built-in exception a
Python caller would catch anyway (``OSError`` for I/O, ``ValueError`` for bad input or
arguments, ``LookupError`` for a missing list or column). ``str(e)`` is exactly the message the
CLI prints after ``optout <command>:``; it names the file and line, never an NHS number or row.
"""

import errno
import os

from . import _engine

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
    "UntrustedError",
    "RegistryChangedError",
    "PieceFailedError",
]

_BY_CODE = {}


class Error(Exception):
    """Base of every optout error. ``code`` is the engine's ErrorCode value (None when the error
    comes from the Python layer itself), ``code_name`` the engine's name for it."""

    code = None
    code_name = None

    def __init_subclass__(cls, code=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if code is not None:  # the class for this ErrorCode
            cls.code, cls.code_name = code, _engine.ERROR_CODE_NAMES[code]
            _BY_CODE[code] = cls

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class InvalidArgumentError(Error, ValueError, code=1):
    """An option or value the engine cannot use (no column chosen, a bad delimiter...)."""


class IoError(Error, OSError, code=2):
    """Open, read, write, rename or sync failed."""


class MissingFileError(IoError, FileNotFoundError):
    """An I/O error because a file (or its directory) does not exist."""


class CorruptionError(Error, ValueError, code=3):
    """A registry snapshot failed its checks (magic, sizes, checksum, structure)."""


class UnsupportedVersionError(Error, ValueError, code=4):
    """A registry snapshot written by a newer format version."""


class NotFoundError(Error, LookupError, code=5):
    """A named list or header column that does not exist; the message lists what does."""


class InvalidInputError(Error, ValueError, code=6):
    """Input the rules reject: malformed CSV (naming the file and line), a bad source line."""


class LimitExceededError(Error, ValueError, code=7):
    """A record longer than max_record_bytes."""


class PipeClosedError(Error, BrokenPipeError, code=8):
    """The reader of standard output went away."""


class StaleRegistryError(Error, code=9):
    """The registry was built longer ago than max_age allows."""


class DataQualityError(Error, code=10):
    """More rows were rejected than max_rejected allows."""


class InternalError(Error, RuntimeError, code=11):
    """A bug, or an unexpected failure of a dependency."""


class UntrustedError(Error, code=12):
    """A registry not signed by a trusted key or not the pinned digest (trust=, expect_digest=,
    OPTOUT_TRUST), or an extract no audit record vouches for."""


class RegistryChangedError(Error):
    """The registry file on a worker is not the one the run started with (its digest differs)."""


class PieceFailedError(Error, RuntimeError):
    """A piece of a distributed run could not be filtered for a reason outside the engine (its
    worker died more often than the scheduler allows); ``piece`` names the piece."""


_MISSING = ": " + os.strerror(errno.ENOENT)


def from_status(code, message):
    """The exception for an engine Status (used by optout._engine)."""
    cls = _BY_CODE.get(code, InternalError)
    if cls is IoError and message.endswith(_MISSING):
        cls = MissingFileError
    return cls(message)
