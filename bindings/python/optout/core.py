"""Registries, lookups over arrays of NHS numbers, and file filters: the engine's rules from Python.

Everything here calls optout._engine (the C++ engine); nothing re-implements a rule. This module
converts Python and numpy arguments, keeps one registry per file per process, and names things.
"""

import datetime
import json
import os
import threading
from collections import namedtuple

import numpy as np

from . import _engine
from .errors import RegistryChangedError

__all__ = [
    "KEPT",
    "REMOVED",
    "REJECTED",
    "VERDICTS",
    "REASONS",
    "REJECTED_REASONS",
    "ListInfo",
    "Parsed",
    "Registry",
    "Index",
    "load",
    "cached_registry",
    "registry_cache_info",
    "parse",
    "filter_file",
    "verify_file",
    "keygen",
    "check_audit_record",
    "clear_token_cache",
]

# Verdicts, as the filter decides each row (values fixed by the engine's Verdict enum).
KEPT, REMOVED, REJECTED = 0, 1, 2
VERDICTS = ("kept", "removed", "rejected")
# REASONS[r]: the engine's name for InvalidReason r ("valid", "empty", "bad character", ...).
REASONS = tuple(_engine.INVALID_REASONS)
# The filter's rejected_by_reason names: index 0 is "missing field", the others are REASONS.
REJECTED_REASONS = tuple(_engine.REJECTED_REASONS)

ListInfo = namedtuple("ListInfo", "name kind count serialized_bytes memory_bytes scopes", defaults=((),))
ListInfo.__doc__ = """One list of a registry: its name, kind ('deny' or 'allow'), number count, and
scopes: the purposes it applies to, sorted (empty: every purpose)."""

Parsed = namedtuple("Parsed", "stems valid reasons")
Parsed.__doc__ = """NHS numbers parsed: stems (uint32; 0 where invalid), valid (bool) and reasons
(uint8 InvalidReason values, 0 where valid; names in REASONS), one per input element."""


# ---- Parsing ---------------------------------------------------------------------------------


def _is_pandas(obj):
    return type(obj).__module__.partition(".")[0] == "pandas"


def fs_path(value, argument):
    """A path argument as str (undecodable bytes as surrogate escapes, as os.fsdecode makes them),
    from str, bytes or os.PathLike: the conversion every optout function applies to its paths.
    Raises ValueError for an embedded NUL byte (as open() does), TypeError naming argument for
    anything else."""
    return _engine.fs_path(value, argument)


def _prepared(numbers):
    """(kind, data): the engine function family for numbers ("array" for any numpy array, whose
    dtype the engine checks and which it reads in place when it can; "objects" for sequences)."""
    if isinstance(numbers, np.ndarray):
        return "array", numbers
    if isinstance(numbers, (str, bytes, bytearray)):
        raise TypeError("expected a sequence of NHS numbers, got a single string: wrap it in a list")
    return "objects", numbers


def _parse_arrays(numbers):
    """(stems, reasons) for any accepted input."""
    if _is_pandas(numbers):
        from .pandas import parse_column  # pandas only when a pandas object is given

        return parse_column(numbers)
    kind, data = _prepared(numbers)
    return getattr(_engine, "parse_" + kind)(data)


def parse(numbers):
    """Parses NHS numbers as the filter parses a CSV field. numbers: as the package's notes say
    (missing values are "empty"). Returns Parsed(stems, valid, reasons).

    >>> p = parse(["943 476 5919", "9434765918", None])
    >>> p.valid.tolist(), [REASONS[r] for r in p.reasons]
    ([True, False, False], ['valid', 'wrong check digit', 'empty'])
    """
    stems, reasons = _parse_arrays(numbers)
    return Parsed(stems, reasons == 0, reasons)


# ---- Registries and indexes ------------------------------------------------------------------


def _apply_names(apply):
    if apply is None:
        return []
    if isinstance(apply, str):
        return apply.split(",")
    names = list(apply)
    if not all(isinstance(n, str) for n in names):
        raise TypeError("apply: list names must be str")
    return names


def _exemptions(exempt):
    """exempt as "LIST=REFERENCE" strings for the engine's parse_exemption: None, a dict
    {list: reference}, one "LIST=REFERENCE" string, or an iterable of such strings."""
    if exempt is None:
        return []
    if isinstance(exempt, dict):
        items = list(exempt.items())
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
            raise TypeError("exempt: a dict of list name (str) to reference (str)")
        return [f"{k}={v}" for k, v in items]
    if isinstance(exempt, str):
        return [exempt]
    texts = list(exempt)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError('exempt: "LIST=REFERENCE" strings, or a dict {list: reference}')
    return texts


def _paths(value):
    """A list of paths from one path (str, bytes, os.PathLike) or an iterable of them."""
    if isinstance(value, (str, bytes, os.PathLike)):
        return [value]
    return list(value)


def trusted_keys(trust=None):
    """The engine's trusted keys (read_trusted_keys): the public keys (NAME.pub) at the paths in
    trust (one path or several); None or empty: those OPTOUT_TRUST names, else none (nothing is
    checked). Raises the engine's errors for a missing or malformed key file."""
    return _engine.read_trusted_keys(None if trust is None else _paths(trust))


def _secret_key(sign):
    return None if sign is None else _engine.read_secret_key(sign)


def _native_property(name, doc=None):
    return property(lambda self: getattr(self._native, name), doc=doc)


class Registry:
    """An opt-out registry snapshot (written by ``optout build``), loaded and checked.

    Immutable and thread-safe. Loading fails closed: a missing, truncated, corrupt or foreign file
    raises (MissingFileError, CorruptionError, UnsupportedVersionError) with the engine's message.
    Not picklable: give Dask tasks the path (see optout.dask), never the object.
    """

    def __init__(self, path):
        self._native = _engine.Registry.load(path)
        self._indexes = {}
        self._lock = threading.Lock()

    def __reduce__(self):
        raise TypeError(
            "an optout.Registry is not pickled: pass its path and load it where it is used "
            "(optout.cached_registry keeps one per process)"
        )

    def __repr__(self):
        return f"<optout.Registry {self.path!r} digest {self.digest} lists {self.list_names}>"

    path = _native_property("path")
    digest = _native_property("digest", "XXH3-128 of the snapshot, 32 hex digits (as ``optout info`` prints it).")
    created_at_unix = _native_property("created_at")
    description = _native_property("description")
    total_count = _native_property("total_count")
    memory_bytes = _native_property("memory_bytes")

    @property
    def signer(self):
        """The key id (16 hex digits) of the key that signed the snapshot, or None when unsigned.
        The signature was checked at load; whether the key is trusted is check_trust's."""
        return self._native.signer

    @property
    def provenance(self):
        """Where each list came from, sorted by list name: dicts of list, as_of ("YYYY-MM-DD" or
        None) and sources (dicts of file, op ("add" or "remove"), bytes, xxh3_128, lines, numbers)."""
        return self._native.provenance

    def check_trust(self, trust=None):
        """Raises UntrustedError unless the snapshot is signed by one of the trusted keys (trust:
        .pub paths; None: OPTOUT_TRUST; no keys at all: nothing to check), as --trust does."""
        self._native.check_trust(trusted_keys(trust))

    def check_digest(self, expected):
        """Raises UntrustedError unless the snapshot's digest is expected (32 hex digits), as
        --expect-digest does; InvalidArgumentError for a malformed digest."""
        self._native.check_expected_digest(expected)

    @property
    def created_at(self):
        """When the snapshot was built, a timezone-aware UTC datetime."""
        return datetime.datetime.fromtimestamp(self._native.created_at, datetime.timezone.utc)

    @property
    def lists(self):
        """The lists, sorted by name, as ListInfo(name, kind, count, serialized_bytes, memory_bytes)."""
        return [ListInfo(*t) for t in self._native.lists]

    @property
    def list_names(self):
        return [t[0] for t in self._native.lists]

    @property
    def purposes(self):
        """Every scope some list names, sorted: the purposes an index may choose lists by."""
        return list(self._native.purposes)

    def index(self, apply=None, *, purpose=None, exempt=None):
        """The lookup index applying these lists (None: every list; a list of names or "a,b"), or,
        with purpose, every list scoped to it and every unscoped list, less those exempt names
        ({list: reference} or "LIST=REFERENCE" strings; the engine's rules, as --purpose and
        --exempt). Built once per selection and kept. Raises NotFoundError naming an unknown list,
        InvalidArgumentError for a selection the engine refuses."""
        key = (tuple(_apply_names(apply)), purpose, tuple(_exemptions(exempt)))
        with self._lock:
            index = self._indexes.get(key)
            if index is None:
                index = Index(self, key[0], purpose=purpose, exempt=list(key[2]))
                self._indexes[key] = index
            return index

    def verdicts(self, numbers, apply=None, *, purpose=None, exempt=None):
        """Index.verdicts with the lists in apply (or by purpose, less exempt)."""
        return self.index(apply, purpose=purpose, exempt=exempt).verdicts(numbers)

    def keep_mask(self, numbers, apply=None, *, purpose=None, exempt=None):
        """Index.keep_mask with the lists in apply (or by purpose, less exempt)."""
        return self.index(apply, purpose=purpose, exempt=exempt).keep_mask(numbers)

    def contains(self, list_name, numbers):
        """A bool array: True where the number is valid and in the named list (of either kind)."""
        position = self._native.require_list(list_name)  # NotFoundError with the engine's message
        stems, reasons = _parse_arrays(numbers)
        return self._native.contains_parsed(position, stems, reasons)

    def check_age(self, max_age, now=None):
        """Raises StaleRegistryError when the registry was built longer than max_age ago, as
        ``optout filter --max-age`` does. max_age: seconds, a timedelta, or "36h" / "7d"."""
        self._native.check_age(parse_max_age(max_age), _unix_seconds(now))

    def filter_file(self, input, output, **options):
        return filter_file(self, input, output, **options)


class Index:
    """The applied lists of a registry folded into one lookup: for each number, the filter's verdict.

    A number is REJECTED when invalid (or missing), REMOVED when in an applied deny list or missing
    from an applied allow list, KEPT otherwise. Safe to use from many threads; the GIL is released
    while the engine works.
    """

    def __init__(self, registry, apply=None, *, purpose=None, exempt=None):
        self.registry = registry
        if purpose is None and exempt is None:
            self._native = _engine.Index(registry._native, _apply_names(apply))
        else:
            self._native = _engine.Index(registry._native, _apply_names(apply), purpose, _exemptions(exempt))

    def __reduce__(self):
        raise TypeError("an optout.Index is not pickled: pass the registry's path and the list names")

    def __repr__(self):
        return f"<optout.Index applying {self.applied_lists} of {self.registry.path!r}>"

    @property
    def applied_lists(self):
        return list(self._native.applied_lists)

    @property
    def purpose(self):
        """The purpose the lists were chosen by, or None."""
        return self._native.purpose

    @property
    def exempted_lists(self):
        """The lists the purpose's exemptions left out: (list, kind, count, as_of, reference) each."""
        return list(self._native.exempted_lists)

    def check_age(self, max_age, now=None):
        """Registry.check_age, for this index's registry."""
        self._native.check_age(parse_max_age(max_age), _unix_seconds(now))

    def verdicts(self, numbers):
        """A uint8 array of KEPT (0), REMOVED (1), REJECTED (2), one per number (numbers: as the
        package's notes say)."""
        if _is_pandas(numbers):
            return self._native.classify_parsed(*_parse_arrays(numbers))
        kind, data = _prepared(numbers)
        return getattr(self._native, "classify_" + kind)(data)

    def keep_mask(self, numbers):
        """A bool array: True where the filter would keep the row (valid and not removed)."""
        return self.verdicts(numbers) == KEPT

    def removes(self, numbers):
        """A bool array: True where the number is valid and the applied lists remove it."""
        return self.verdicts(numbers) == REMOVED


def load(path, trust=None, expect_digest=None):
    """Loads a registry snapshot: optout.Registry(path), then, as the CLI does, the trust rule
    (check_trust(trust): trust None means OPTOUT_TRUST, and with no trusted keys at all nothing is
    checked) and, when given, the digest pin (check_digest(expect_digest)). Raises UntrustedError
    with the engine's message for an untrusted or unexpected registry."""
    registry = Registry(path)
    registry.check_trust(trust)
    if expect_digest is not None:
        registry.check_digest(expect_digest)
    return registry


def keygen(name):
    """`optout keygen -o NAME`: a new Ed25519 key pair written to NAME.key (mode 0600) and NAME.pub,
    neither of which may exist. Returns the key id (16 hex digits)."""
    return _engine.write_key_pair(name)


def check_audit_record(line, trust=None, where="audit record"):
    """The engine's check of one audit record (a line of an audit log, without its newline): a
    signature that does not verify raises CorruptionError; with trusted keys (trust: .pub paths;
    None: OPTOUT_TRUST), an unsigned record or one signed by another key raises UntrustedError.
    where names the record in messages (e.g. "audit.jsonl:12"). Returns the signer's key id, or
    None for an unsigned record."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "surrogateescape")
    return _engine.check_audit_record(where, line.rstrip("\n"), trusted_keys(trust))


# ---- One registry per file per process -------------------------------------------------------

_cache = {}
_cache_lock = threading.Lock()
_cache_loads = 0


def _file_key(path):
    """What tells a file's versions apart without reading it (device, inode, size, modification
    time); None when it cannot be read (loading it then says why)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def cached_registry(path, digest=None):
    """The Registry at path, loaded once per process and kept while the file stays the same (its
    device, inode, size and modification time); a replaced snapshot is loaded again.

    digest: when given, the registry must have it, else RegistryChangedError (a run that started
    with one snapshot never finishes with another)."""
    path = fs_path(path, "registry")
    key = os.path.abspath(path)
    global _cache_loads
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] is not None and cached[0] == _file_key(key):
            registry = cached[1]
        else:
            file_key = _file_key(key)
            registry = Registry(path)
            _cache_loads += 1
            _cache[key] = (file_key, registry)
    if digest is not None and registry.digest != digest:
        raise RegistryChangedError(
            f"{path}: the registry changed after the run started (digest {registry.digest}, expected {digest})"
        )
    return registry


def registry_cache_info():
    """{"loads": registries loaded by cached_registry in this process, "registries": {path: digest}}."""
    with _cache_lock:
        return {"loads": _cache_loads, "registries": {k: r.digest for k, (_, r) in _cache.items()}}


# ---- Options ---------------------------------------------------------------------------------


def _unix_seconds(now):
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, datetime.datetime):
        now = now.timestamp()
    return int(now)


def parse_max_age(max_age):
    """Seconds from an int (seconds), a timedelta, or the CLI's form "36h" / "7d" (the engine
    parses it, and refuses a negative age when it applies it)."""
    if isinstance(max_age, datetime.timedelta):
        return int(max_age.total_seconds())
    if isinstance(max_age, int) and not isinstance(max_age, bool):
        return max_age
    if isinstance(max_age, str):
        return _engine.parse_max_age(max_age)
    raise TypeError("max_age: seconds (int), a timedelta, or a string such as '36h' or '7d'")


def make_filter_options(
    column=None,
    column_index=None,
    header=True,
    delimiter=",",
    threads=0,
    block_size=None,
    max_record_bytes=None,
    max_rejected=None,
    format="csv",
    entry=None,
    level=None,
):
    """The engine's FilterOptions from filter_file's arguments (types converted; the engine checks
    the values)."""
    options = _engine.FilterOptions()
    if column is not None:
        if not isinstance(column, str):
            raise TypeError("column: a header name (str); use column_index for a position")
        options.column_name = column
    if column_index is not None:
        options.column_index = column_index
    options.format = format
    options.has_header = bool(header)
    options.delimiter = delimiter
    options.threads = threads
    if block_size is not None:
        options.block_bytes = block_size
    if max_record_bytes is not None:
        options.max_record_bytes = max_record_bytes
    if max_rejected is not None:
        if isinstance(max_rejected, bool) or not isinstance(max_rejected, (int, str)):
            raise TypeError("max_rejected: a row count (int) or a string such as '250' or '0.5%'")
        options.set_max_rejected(max_rejected)
    if entry is not None:
        if not isinstance(entry, str):
            raise TypeError("entry: a zip entry's name (str)")
        options.entry = entry
    if level is not None:
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError("level: a compression level (int)")
        options.compression_level = level
    return options


def _registry_of(registry):
    return registry if isinstance(registry, Registry) else cached_registry(registry)


def filter_file(
    registry,
    input,
    output,
    *,
    column=None,
    column_index=None,
    header=True,
    delimiter=",",
    apply=None,
    purpose=None,
    exempt=None,
    rejects=None,
    stats=None,
    audit=None,
    max_age=None,
    max_rejected=None,
    threads=0,
    block_size=None,
    max_record_bytes=None,
    trust=None,
    expect_digest=None,
    sign=None,
    format="csv",
    entry=None,
    compress=None,
    level=None,
    impact=None,
    impact_by=None,
    impact_exact=False,
    pseudonym_key=None,
):
    """Filters the CSV (or, with format="jsonl", JSON Lines) file input into output as ``optout filter`` does.

    registry: a Registry or a snapshot's path (see cached_registry). The keywords are the CLI's
    options (column: a header name, column_index: 1-based; max_age: also a timedelta; output "-":
    standard output; trust: .pub paths, None for OPTOUT_TRUST; expect_digest: 32 hex digits; sign:
    a NAME.key that signs the audit records, with audit; entry: the file to read in a zip input;
    compress: "gzip", "zstd" or "none" for the output and rejects, None by their suffixes (.gz,
    .zst); level: the codec's level; purpose, exempt: the lists by purpose less exemptions,
    {list: reference} or "LIST=REFERENCE" strings, as --purpose and --exempt, recorded in the audit
    record; impact, impact_by, impact_exact: the impact report, as --impact, --impact-by (a list of
    columns, or one name), --impact-exact; pseudonym_key: a key file, the column then holding
    tokens, as --pseudonym-key). Compressed input (gzip, zstd, zip) is found from its bytes. Returns
    the stats as the --stats file holds them (with bytes_out_compressed and input_compressed_bytes,
    the compressed files' sizes, when compressed), plus output_digest. Raises optout.Error
    subclasses with the CLI's messages
    (UntrustedError for a registry the trust rule or the pin refuses).
    """
    options = make_filter_options(
        column, column_index, header, delimiter, threads, block_size, max_record_bytes, max_rejected, format,
        entry, level,
    )
    max_age_seconds = None if max_age is None else parse_max_age(max_age)
    index = _registry_of(registry).index(apply, purpose=purpose, exempt=exempt)
    request = _engine.FilterRequest(
        [input], output, rejects, stats, audit, options, max_age_seconds, False, None,
        trusted_keys(trust), expect_digest, _secret_key(sign),
    )
    request.compress = compress
    set_impact(request, impact, impact_by, impact_exact)
    request.pseudonym_key = pseudonym_key
    result, _ = index._native.run(request)
    return result


def set_impact(request, impact, impact_by, impact_exact):
    """The impact report's part of a request (the engine checks it: impact and impact_by need each
    other, the columns must exist and not be the NHS column)."""
    if impact is None and impact_by is None and not impact_exact:
        return
    if isinstance(impact_by, (str, bytes)):
        impact_by = [impact_by]
    by = [os.fsdecode(name) if isinstance(name, bytes) else str(name) for name in (impact_by or [])]
    request.set_impact(impact, by, bool(impact_exact))


def verify_request(
    input,
    *,
    column=None,
    column_index=None,
    header=True,
    delimiter=",",
    trust=None,
    expect_digest=None,
    audit=None,
    matches=None,
    id_column=None,
    threads=0,
    block_size=None,
    max_record_bytes=None,
    format="csv",
    entry=None,
    pseudonym_key=None,
):
    """The engine's VerifyRequest from verify_file's arguments (trust: already the engine's keys or
    paths; the engine checks every value)."""
    options = make_filter_options(
        column, column_index, header, delimiter, threads, block_size, max_record_bytes, format=format, entry=entry
    )
    if not isinstance(trust, _engine.TrustedKeys):
        trust = trusted_keys(trust)
    request = _engine.VerifyRequest(input, options, trust, expect_digest, audit, matches, id_column)
    request.pseudonym_key = pseudonym_key
    return request


def verify_file(
    registry,
    input,
    *,
    column=None,
    column_index=None,
    header=True,
    delimiter=",",
    apply=None,
    purpose=None,
    exempt=None,
    trust=None,
    expect_digest=None,
    audit=None,
    matches=None,
    id_column=None,
    threads=0,
    block_size=None,
    max_record_bytes=None,
    format="csv",
    entry=None,
    pseudonym_key=None,
):
    """Checks a released extract as ``optout verify --json`` does, by the engine's run_verify.

    registry: a Registry or a snapshot's path; the CSV keywords, apply, purpose and exempt are
    filter_file's. audit: an audit
    log holding a record that vouches for input (its output digest, this registry's digest, and,
    with trusted keys, signed by one of them); matches: a file (written atomically) that receives
    one line per row the registry now removes: the id_column's value, or the 1-based data-row
    number; never an NHS number. pseudonym_key: a key file, the column then holding tokens (as
    --pseudonym-key; an audit record vouches only under its own key).

    Returns the verify JSON as a dict: clean, rows, kept, removed, rejected, rejected_by_reason,
    bytes_in, input_xxh3_128, matches_written, and audit (log, line, run_id, finished_at, output,
    signer) when vouched for. A file that is not clean is a result (clean False), not an error;
    the engine's errors raise (UntrustedError for the registry or an audit log that does not
    vouch for the file, InvalidInputError for a malformed file, ...).
    """
    index = _registry_of(registry).index(apply, purpose=purpose, exempt=exempt)
    request = verify_request(
        input, column=column, column_index=column_index, header=header, delimiter=delimiter, trust=trust,
        expect_digest=expect_digest, audit=audit, matches=matches, id_column=id_column, threads=threads,
        block_size=block_size, max_record_bytes=max_record_bytes, format=format, entry=entry,
        pseudonym_key=pseudonym_key,
    )
    text, _ = index._native.verify(request)
    return json.loads(text)


def clear_token_cache():
    """Drops this process's cached token set (pseudonym_key=): the set of the last registry, lists
    and key hashed, kept so that many files cost one hashing. Its memory (about 52 bytes per listed
    number) is freed once no run holds it; the next pseudonymised run hashes the registry again.
    Returns True when a set was held."""
    return _engine.clear_token_cache()
