"""Registries from Python: what `optout info --json` says, the CLI's errors, ages, the cache."""

import datetime
import os
import pickle
import shutil

import pytest

import optout
from optout import _engine


def test_load_matches_info(cli, registry_path):
    registry = optout.load(registry_path)
    info = cli.info(registry_path)
    assert registry.path == registry_path
    assert registry.digest == info["digest"]
    assert len(registry.digest) == 32
    assert registry.created_at_unix == info["created_at_unix"]
    assert registry.created_at == datetime.datetime.fromtimestamp(info["created_at_unix"], datetime.timezone.utc)
    assert registry.created_at.tzinfo is datetime.timezone.utc
    assert registry.description == "python tests" == info["description"]
    assert registry.total_count == info["total_count"] == 2989 + 2059 + 1880
    assert registry.memory_bytes == info["memory_bytes"]
    assert registry.list_names == ["cleared", "national", "type1"]
    assert registry.lists == [
        optout.ListInfo(l["name"], l["kind"], l["count"], l["serialized_bytes"], l["memory_bytes"])
        for l in info["lists"]
    ]
    assert [(l.name, l.kind, l.count) for l in registry.lists] == [
        ("cleared", "allow", 1880),
        ("national", "deny", 2989),
        ("type1", "deny", 2059),
    ]
    assert optout.Registry(registry_path).digest == registry.digest


def test_index_lists_and_unknown_list(cli, registry_path):
    registry = optout.load(registry_path)
    assert registry.index().applied_lists == ["cleared", "national", "type1"]
    # In the order given, each once (filter.hpp says "registry order"; the engine keeps apply's).
    assert registry.index(["type1", "national", "type1"]).applied_lists == ["national", "type1"]  # registry order
    assert registry.index("national,type1").applied_lists == ["national", "type1"]
    assert registry.index(["national"]) is registry.index(["national"])  # built once
    with pytest.raises(optout.NotFoundError) as caught:
        registry.index(["national", "nope"])
    message = f"{registry_path}: no list named 'nope' in the registry (it has: cleared, national, type1)"
    assert str(caught.value) == message
    assert isinstance(caught.value, LookupError)
    assert caught.value.code == 5 and caught.value.code_name == "not found"
    # The CLI names it the same way (as a failure: exit 1).
    assert cli.error("filter", "-r", registry_path, "--column", "x", "--apply", "national,nope", os.devnull) == message
    with pytest.raises(TypeError, match="list names must be str"):
        registry.index([1])


def corrupt_copy(source, target, offset):
    data = bytearray(open(source, "rb").read())
    data[offset] ^= 0xFF
    open(target, "wb").write(bytes(data))
    return str(target)


def test_load_errors_carry_the_cli_messages(cli, registry_path, tmp_path):
    missing = str(tmp_path / "missing.optout")
    with pytest.raises(optout.MissingFileError) as caught:
        optout.load(missing)
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, optout.IoError)
    assert str(caught.value) == cli.error("info", missing) == f"{missing}: cannot open: No such file or directory"

    size = os.path.getsize(registry_path)
    cases = {
        "checksum": (corrupt_copy(registry_path, tmp_path / "flipped.optout", size // 2), optout.CorruptionError),
        "magic": (corrupt_copy(registry_path, tmp_path / "magic.optout", 0), optout.CorruptionError),
    }
    truncated = tmp_path / "truncated.optout"
    truncated.write_bytes(open(registry_path, "rb").read()[:40])
    cases["truncated"] = (str(truncated), optout.CorruptionError)
    foreign = tmp_path / "foreign.optout"
    foreign.write_bytes(b"id,nhs_number\n" * 20)
    cases["foreign"] = (str(foreign), optout.CorruptionError)
    for name, (path, cls) in cases.items():
        with pytest.raises(optout.Error) as caught:
            optout.load(path)
        assert type(caught.value) is cls, name
        assert isinstance(caught.value, ValueError), name
        assert str(caught.value) == cli.error("info", path), name
        assert str(caught.value).startswith(path + ": "), name
    assert str(optout_error(cases["truncated"][0])) == f"{truncated}: truncated (40 bytes)"
    assert str(optout_error(cases["foreign"][0])) == f"{foreign}: not an optout registry snapshot"


def optout_error(path):
    try:
        optout.load(path)
    except optout.Error as e:
        return e
    raise AssertionError("loaded")


def test_check_age(registry_path):
    registry = optout.load(registry_path)
    built = registry.created_at_unix
    registry.check_age("7d", now=built + 7 * 86400)  # exactly the limit: fine
    registry.check_age(datetime.timedelta(hours=1), now=built)
    registry.check_age(3600, now=registry.created_at + datetime.timedelta(minutes=59))
    with pytest.raises(optout.StaleRegistryError) as caught:
        registry.check_age("1d", now=built + 2 * 86400)
    assert str(caught.value) == (
        f"{registry_path}: the registry was built {_engine.iso8601_utc(built)}, 48 h ago, "
        "older than the limit of 24 h"
    )
    with pytest.raises(optout.StaleRegistryError):
        registry.check_age("36h", now=built + 36 * 3600 + 1)
    for bad in ("7", "7w", "", "-1d", "1234567890h"):
        with pytest.raises(optout.InvalidArgumentError) as caught:
            registry.check_age(bad)
        assert str(caught.value) == "the maximum age takes a number of hours or days, e.g. 36h or 7d"
    with pytest.raises(TypeError):
        registry.check_age(1.5)


def test_registry_is_never_pickled(registry_path):
    registry = optout.load(registry_path)
    with pytest.raises(TypeError, match="pass its path"):
        pickle.dumps(registry)
    with pytest.raises(TypeError, match="pass the registry's path"):
        pickle.dumps(registry.index())


def test_cache_loads_once_per_file_and_digest(cli, registry_path, deny_registry_path, tmp_path):
    path = str(tmp_path / "cached.optout")
    shutil.copy(registry_path, path)
    before = optout.registry_cache_info()["loads"]
    first = optout.cached_registry(path)
    assert optout.cached_registry(path) is first
    assert optout.cached_registry(path, digest=first.digest) is first
    assert optout.registry_cache_info()["loads"] == before + 1
    assert optout.registry_cache_info()["registries"][os.path.abspath(path)] == first.digest
    # A run that started with this snapshot refuses another one.
    with pytest.raises(optout.RegistryChangedError):
        optout.cached_registry(path, digest="0" * 32)

    # A new snapshot at the same path is loaded again.
    shutil.copy(deny_registry_path, path)
    second = optout.cached_registry(path)
    assert second is not first
    assert second.digest == optout.load(deny_registry_path).digest
    assert optout.registry_cache_info()["loads"] == before + 2

    # A run pinned to the first digest refuses the new file.
    with pytest.raises(optout.RegistryChangedError) as caught:
        optout.cached_registry(path, digest=first.digest)
    assert str(caught.value) == (
        f"{path}: the registry changed after the run started (digest {second.digest}, expected {first.digest})"
    )
    with pytest.raises(optout.MissingFileError):
        optout.cached_registry(str(tmp_path / "nothing.optout"))
