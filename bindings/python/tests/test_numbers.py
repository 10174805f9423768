"""Parsing and lookups over arrays and sequences, checked against `optout check --json`."""

import threading
import tracemalloc

import numpy as np
import pytest

import optout
from conftest import check_digit, nhs

REASON = {name: code for code, name in enumerate(optout.REASONS)}


def check_ten_number():
    stem = 400_000_000
    while check_digit(stem) is not None:
        stem += 1
    return f"{stem:09d}0"


# text → the engine's reason (by name), as the filter would read the field.
TEXT_CASES = [
    ("9434765919", "valid"),
    (" 943 476 5919 ", "valid"),
    ("943-476-5919", "valid"),
    ("\t9434765919\r", "valid"),
    ("", "empty"),
    ("   ", "empty"),
    ("943476591X", "bad character"),
    ("9434765919.0", "bad character"),
    ("+9434765919", "bad character"),
    ("９４３４７６５９１９", "bad character"),
    ("943476591", "wrong length"),
    ("94347659190", "wrong length"),
    ("943 4765919", "bad shape"),
    ("943-476 5919", "bad shape"),
    (check_ten_number(), "check digit 10"),
    ("9434765918", "wrong check digit"),
    ("0000000000", "all zeros"),
    ("000 000 0000", "all zeros"),
]


def test_reason_names_are_the_engines():
    assert optout.REASONS == (
        "valid", "empty", "bad character", "wrong length", "bad shape", "check digit 10", "wrong check digit",
        "all zeros",
    )
    assert optout.REJECTED_REASONS == ("missing field",) + optout.REASONS[1:]
    assert optout.VERDICTS == ("kept", "removed", "rejected")
    assert (optout.KEPT, optout.REMOVED, optout.REJECTED) == (0, 1, 2)


def test_parse_text_cases_match_check(cli, registry_path):
    texts = [t for t, _ in TEXT_CASES]
    parsed = optout.parse(texts)
    assert parsed.stems.dtype == np.uint32 and parsed.reasons.dtype == np.uint8 and parsed.valid.dtype == bool
    for (text, reason), code, valid, stem in zip(TEXT_CASES, parsed.reasons, parsed.valid, parsed.stems):
        assert optout.REASONS[code] == reason, repr(text)
        assert valid == (reason == "valid"), repr(text)
        assert stem == (943476591 if reason == "valid" else 0), repr(text)
    results = cli.check(registry_path, texts)
    assert [r["reason_code"] for r in results] == parsed.reasons.tolist()
    # The same through every text container: bytes, numpy 'U' and 'S' arrays, object arrays, tuples.
    same = parsed.reasons.tolist()
    assert optout.parse(tuple(texts)).reasons.tolist() == same
    assert optout.parse([t.encode() for t in texts]).reasons.tolist() == same
    assert optout.parse([bytearray(t.encode()) for t in texts]).reasons.tolist() == same
    assert optout.parse(np.array(texts)).reasons.tolist() == same
    assert optout.parse(np.array(texts, dtype=">U16")).reasons.tolist() == same  # byte-swapped, converted
    assert optout.parse(np.array(texts, dtype=object)).reasons.tolist() == same
    assert optout.parse(np.array(texts, dtype=object)[::-1]).reasons.tolist() == same[::-1]
    assert optout.parse(np.array([t.encode() for t in texts])).reasons.tolist() == same
    assert optout.parse(iter_sequence(texts)).reasons.tolist() == same


class iter_sequence:
    """A sequence that is neither list nor tuple nor array."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_parse_integers():
    chi = nhs(12_345_678)  # a number with a leading zero: as an integer the zero is implied
    assert chi.startswith("0")
    values = [9434765919, int(chi), 9434765918, 943476591, 10**10, 0]
    expected = ["valid", "valid", "wrong check digit", "wrong check digit", "wrong length", "all zeros"]
    for array in (
        np.array(values, dtype=np.uint64),
        np.array(values, dtype=np.int64),
        np.array(values, dtype=">u8"),
        np.array(values, dtype=np.uint64)[::-1][::-1],
        np.array(values, dtype=object),
        values,
        [np.int64(v) for v in values],
        [np.uint64(v) for v in values],
    ):
        parsed = optout.parse(array)
        assert [optout.REASONS[r] for r in parsed.reasons] == expected, type(array)
        assert parsed.stems.tolist() == [943476591, 12_345_678, 0, 0, 0, 0]
    # 943476591 as an integer is 0943476591: stem 094347659, whose check digit is 3, not 1.
    assert optout.parse(np.array([2**64 - 1], dtype=np.uint64)).reasons.tolist() == [REASON["wrong length"]]
    assert optout.parse([2**70, -(2**70), -1]).reasons.tolist() == [
        REASON["wrong length"], REASON["bad character"], REASON["bad character"],
    ]
    assert optout.parse(np.array([-9434765919, 9434765919], dtype=np.int64)).reasons.tolist() == [
        REASON["bad character"], REASON["valid"],
    ]


def test_parse_floats_and_missing():
    values = [9434765919.0, float("nan"), 9434765919.5, -1.0, float("inf"), 1e10]
    expected = ["valid", "empty", "bad character", "bad character", "bad character", "wrong length"]
    assert [optout.REASONS[r] for r in optout.parse(np.array(values)).reasons] == expected
    assert [optout.REASONS[r] for r in optout.parse(values).reasons] == expected
    mixed = ["9434765919", None, float("nan"), 9434765919, b"943 476 5919", "\ud800"]
    assert [optout.REASONS[r] for r in optout.parse(mixed).reasons] == [
        "valid", "empty", "empty", "valid", "valid", "bad character",
    ]


def test_parse_refuses_what_is_not_a_number():
    cases = [
        ([True], "element 0 is of type bool: NHS numbers must be str, bytes, int, float or None"),
        (["9434765919", {}], "element 1 is of type dict: NHS numbers must be str, bytes, int, float or None"),
        (np.array([True]), "NHS numbers cannot come from a numpy array of dtype bool: use uint64, int64, float64 (integral values) or strings"),
        (np.array([1 + 2j]), "NHS numbers cannot come from a numpy array of dtype complex128: use uint64, int64, float64 (integral values) or strings"),
        (np.array(["2026-01-01"], dtype="datetime64[D]"), "NHS numbers cannot come from a numpy array of dtype datetime64[D]: use uint64, int64, float64 (integral values) or strings"),
        (np.zeros((2, 2), dtype=np.uint64), "expected a 1-D array of NHS numbers, got 2 dimensions"),
        ("9434765919", "expected a sequence of NHS numbers, got a single string: wrap it in a list"),
        (42, "expected a sequence of NHS numbers"),
    ]
    for value, message in cases:
        with pytest.raises(TypeError) as caught:
            optout.parse(value)
        assert str(caught.value) == message, repr(value)


def test_engine_functions_refuse_arrays_they_would_copy(registry_path):
    """The extension reads arrays in place or not at all: a wrong dtype or layout is a TypeError,
    never a silent copy (the Python layer converts once before calling it)."""
    from optout import _engine

    index = optout.load(registry_path).index()._native
    with pytest.raises(TypeError, match="incompatible function arguments|expected a numpy array"):
        index.classify_uint64(np.array([1, 2], dtype=np.int64))
    with pytest.raises(TypeError) as caught:
        _engine.parse_uint64(np.arange(4, dtype=np.uint64)[::2])
    assert str(caught.value) == "expected a C-contiguous numpy array of uint64"
    with pytest.raises(TypeError) as caught:
        _engine.parse_uint64(np.arange(4, dtype=">u8"))
    assert str(caught.value) == "expected a numpy array of uint64, got dtype >u8"
    with pytest.raises(TypeError):
        _engine.parse_uint64([1, 2, 3])  # noconvert: a list is not an array
    with pytest.raises(ValueError) as caught:
        index.classify_parsed(np.array([10**9], dtype=np.uint32), np.array([0], dtype=np.uint8))
    assert str(caught.value) == "stems[0] is not a valid stem"


def sample_numbers(listed_numbers):
    """Numbers from each list, numbers in no list, and invalid ones."""
    numbers = listed_numbers["national"][:150] + listed_numbers["type1"][:150] + listed_numbers["cleared"][:150]
    numbers += [nhs(s) for s in range(800_000_000, 800_000_400) if check_digit(s) is not None][:100]
    numbers += [t for t, _ in TEXT_CASES if t.strip()]
    return numbers


def test_verdicts_and_lists_match_check(cli, registry_path, listed_numbers):
    registry = optout.load(registry_path)
    numbers = sample_numbers(listed_numbers)
    results = cli.check(registry_path, numbers)
    verdicts = registry.verdicts(numbers)
    assert verdicts.dtype == np.uint8
    assert [optout.VERDICTS[v] for v in verdicts] == [r["verdict"] for r in results]
    counts = np.bincount(verdicts, minlength=3).tolist()
    assert counts[optout.KEPT] > 100 and counts[optout.REMOVED] > 300 and counts[optout.REJECTED] > 5
    assert registry.keep_mask(numbers).tolist() == [r["verdict"] == "kept" for r in results]
    for container in (np.array(numbers), np.array([n.encode() for n in numbers]), np.array(numbers, dtype=object),
                      tuple(numbers), [n.encode() for n in numbers]):
        assert [optout.VERDICTS[v] for v in registry.verdicts(container)] == [r["verdict"] for r in results]
    assert registry.index().removes(numbers).tolist() == [r["verdict"] == "removed" for r in results]
    for name in registry.list_names:
        assert registry.contains(name, numbers).tolist() == [name in (r["lists"] or []) for r in results], name
    # The same numbers as integers, read in place.
    valid = [r["number"] for r in results if r["valid"]]
    as_ints = np.array([int(n) for n in valid], dtype=np.uint64)
    expected = [r["verdict"] for r in results if r["valid"]]
    assert [optout.VERDICTS[v] for v in registry.verdicts(as_ints)] == expected
    assert [optout.VERDICTS[v] for v in registry.verdicts(as_ints.astype(np.int64))] == expected
    assert [optout.VERDICTS[v] for v in registry.verdicts(as_ints.astype(">u8"))] == expected
    assert [optout.VERDICTS[v] for v in registry.verdicts(as_ints.astype(np.float64))] == expected
    doubled = np.repeat(as_ints, 2)[::2]  # non-contiguous: converted once
    assert not doubled.flags.c_contiguous
    assert [optout.VERDICTS[v] for v in registry.verdicts(doubled)] == expected
    with pytest.raises(optout.NotFoundError) as caught:
        registry.contains("nope", numbers)
    assert str(caught.value) == f"{registry_path}: no list named 'nope' in the registry (it has: cleared, national, type1)"


def test_apply_chooses_the_lists(registry_path, listed_numbers):
    registry = optout.load(registry_path)
    national = listed_numbers["national"][:50]
    cleared_only = [n for n in listed_numbers["cleared"] if n not in set(listed_numbers["national"]) | set(listed_numbers["type1"])][:50]
    unlisted = [nhs(s) for s in range(800_000_000, 800_000_200) if check_digit(s) is not None][:50]
    # Deny lists only: national numbers removed, others kept.
    assert set(registry.verdicts(national, apply=["national"]).tolist()) == {optout.REMOVED}
    assert set(registry.verdicts(unlisted, apply="national,type1").tolist()) == {optout.KEPT}
    # With the allow list applied, a number never checked (not in cleared) is removed.
    assert set(registry.verdicts(unlisted, apply=["cleared"]).tolist()) == {optout.REMOVED}
    assert set(registry.verdicts(cleared_only, apply=["cleared"]).tolist()) == {optout.KEPT}
    assert set(registry.verdicts(cleared_only).tolist()) == {optout.KEPT}
    # Rejected whatever the lists.
    assert registry.verdicts(["", "x"], apply=["cleared"]).tolist() == [optout.REJECTED] * 2


def test_uint64_input_is_read_in_place(registry_path):
    index = optout.load(registry_path).index()
    numbers = np.full(1_000_000, 9434765919, dtype=np.uint64)  # 8 MB
    index.verdicts(numbers[:10])  # warm up
    tracemalloc.start()
    try:
        verdicts = index.verdicts(numbers)
        _, peak_in_place = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        strided = np.repeat(numbers, 2)[::2]
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        index.verdicts(strided)
        _, peak_copied = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verdicts.shape == (1_000_000,) and verdicts.dtype == np.uint8
    assert set(verdicts.tolist()) == {optout.REMOVED}  # not in the allow list "cleared"
    # The 1 MB of verdicts, and no 8 MB copy of the input; a strided input costs one copy.
    assert peak_in_place < 1_500_000, peak_in_place
    assert peak_copied - baseline > 8_000_000, (peak_copied, baseline)


def test_gil_is_released_during_lookups(registry_path):
    index = optout.load(registry_path).index()
    numbers = np.arange(9_000_000_000, 9_010_000_000, dtype=np.uint64)  # 10 M numbers
    state = {"in_call": False, "done": False}

    def lookup():
        state["in_call"] = True
        index.verdicts(numbers)
        state["done"] = True

    worker = threading.Thread(target=lookup)
    spins_during_call = 0
    worker.start()
    while not state["done"]:
        if state["in_call"]:
            spins_during_call += 1
    worker.join()
    # With the GIL held for the whole call this thread could not run until it returned.
    assert spins_during_call > 1000, spins_during_call


# ---- Issue 10.3: integers have one implied leading zero at most; 0000000000 is no patient's ----


def test_integers_below_nine_digits_and_zero_are_rejected(cli, registry_path):
    """19 is not 0000000019 (which passes modulus 11): the CLI rejects it, so must Python."""
    registry = optout.load(registry_path)
    values = [19, 0, 27, 99_999_999, 1]
    for array in (np.array(values, dtype=np.int64), np.array(values, dtype=np.uint64),
                  np.array(values, dtype=np.float64), values, np.array(values, dtype=object)):
        assert [optout.REASONS[r] for r in optout.parse(array).reasons] == [
            "wrong length", "all zeros", "wrong length", "wrong length", "wrong length",
        ], type(array)
        assert registry.verdicts(array).tolist() == [optout.REJECTED] * 5, type(array)
    assert registry.verdicts([0]).tolist() == [optout.REJECTED]
    assert registry.verdicts(np.array([0], dtype=np.uint64), apply=["national"]).tolist() == [optout.REJECTED]
    # The CLI, given the text the integers would be padded to, agrees on the all-zero number.
    results = cli.check(registry_path, ["0000000000", "000 000 0000"])
    assert [r["verdict"] for r in results] == ["rejected", "rejected"]
    assert [r["reason_code"] for r in results] == [REASON["all zeros"]] * 2


def test_all_zero_text_is_rejected():
    parsed = optout.parse(["0000000000", "000 000 0000", "000-000-0000", b"0000000000", "0000000019"])
    assert [optout.REASONS[r] for r in parsed.reasons] == ["all zeros"] * 4 + ["valid"]


# ---- Issue 15.1: dtypes that cannot hold every 10-digit number are refused ---------------------

NARROW_DTYPES = [np.float32, np.float16, np.int32, np.int16, np.int8, np.uint32, np.uint16, np.uint8]


def test_float32_numbers_are_refused_not_released(registry_path, listed_numbers):
    """float32 turns 4016045452 into 4016045568, another valid number: 272 of 2,989 listed
    patients were kept. Now the dtype is refused, as bool is."""
    registry = optout.load(registry_path)
    national = [int(n) for n in listed_numbers["national"]]
    with pytest.raises(TypeError) as caught:
        registry.verdicts(np.array(national, dtype=np.float32), apply=["national"])
    assert str(caught.value) == (
        "NHS numbers cannot come from a numpy array of dtype float32 (not every 10-digit number is exact in it): "
        "use uint64, int64, float64 (integral values) or strings"
    )
    # float64 holds every one exactly: all removed.
    assert set(registry.verdicts(np.array(national, dtype=np.float64), apply=["national"]).tolist()) == {optout.REMOVED}


@pytest.mark.parametrize("dtype", NARROW_DTYPES, ids=lambda d: np.dtype(d).name)
def test_narrow_dtypes_are_refused_everywhere(registry_path, dtype):
    registry = optout.load(registry_path)
    index = registry.index()
    values = np.array([1, 2, 3], dtype=dtype)
    for call in (optout.parse, registry.verdicts, registry.keep_mask, index.removes,
                 lambda a: registry.contains("national", a)):
        with pytest.raises(TypeError, match="cannot come from a numpy array of dtype " + np.dtype(dtype).name):
            call(values)
        with pytest.raises(TypeError):
            call(values.astype(np.dtype(dtype).newbyteorder()))  # byte-swapped: still refused
    # Its scalars in a sequence too: element 1 is refused by its type, never its value.
    scalar = np.dtype(dtype).type(1)
    with pytest.raises(TypeError) as caught:
        optout.parse([np.int64(9434765919), scalar])
    assert str(caught.value).startswith(f"element 1 is of type numpy.{np.dtype(dtype).name}"), str(caught.value)


def test_float64_reads_integral_values_only():
    values = np.array([9434765919.0, 9434765919.5, float("nan"), 0.0, 19.0, -9434765919.0, 2.0**64])
    assert [optout.REASONS[r] for r in optout.parse(values).reasons] == [
        "valid", "bad character", "empty", "all zeros", "wrong length", "bad character", "bad character",
    ]
