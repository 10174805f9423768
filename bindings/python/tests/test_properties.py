"""Property tests: for generated inputs, Python's answers are the CLI's (`optout check`, `optout filter`).

Hypothesis runs derandomized (a fixed seed), so ctest runs are repeatable.
"""

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optout
from optout import _engine
from conftest import SAMPLES, check_digit, nhs

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def sample_list(name):
    return [line.strip().rstrip(",") for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


LISTED = sample_list("national.txt")[:300] + sample_list("type1.txt")[:300] + sample_list("cleared.dat")[:300]

valid_stems = st.integers(0, 999_999_999).filter(lambda s: check_digit(s) is not None)
valid_number = st.one_of(st.sampled_from(LISTED), valid_stems.map(nhs))
shaped_number = st.tuples(valid_number, st.sampled_from(["plain", "spaced", "dashed"])).map(
    lambda t: t[0] if t[1] == "plain" else (" " if t[1] == "spaced" else "-").join((t[0][:3], t[0][3:6], t[0][6:]))
)
padding = st.sampled_from(["", " ", "  ", "\t"])
damaged = st.tuples(valid_number, st.integers(0, 9), st.sampled_from("0123456789X. -")).map(
    lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1:]
)
noise = st.text(alphabet="0123456789 -\t.+aé", max_size=14)
number_text = st.one_of(
    st.tuples(padding, shaped_number, padding).map("".join),
    damaged,
    noise,
    st.integers(0, 10**11).map(str),
)


@SETTINGS
@given(texts=st.lists(number_text, min_size=1, max_size=40))
def test_text_verdicts_equal_check(cli, registry_path, texts):
    registry = optout.cached_registry(registry_path)
    results = cli.check(registry_path, texts)
    parsed = optout.parse(texts)
    verdicts = registry.verdicts(texts)
    for i, result in enumerate(results):
        assert result["input"] == texts[i].strip(" \t")
        assert int(parsed.reasons[i]) == result["reason_code"], repr(texts[i])
        assert bool(parsed.valid[i]) == result["valid"], repr(texts[i])
        if result["valid"]:
            assert _engine.format_nhs_number(int(parsed.stems[i])) == result["number"]
        assert optout.VERDICTS[verdicts[i]] == result["verdict"], repr(texts[i])
        for name in registry.list_names:
            assert bool(registry.contains(name, [texts[i]])[0]) == (name in (result["lists"] or [])), name


REASON_WRONG_LENGTH = optout.REASONS.index("wrong length")

integers = st.one_of(
    st.integers(0, 10**8),
    st.sampled_from(LISTED).map(int),
    valid_stems.map(lambda s: int(nhs(s))),
    st.integers(0, 10**10 - 1),
    st.integers(0, 2**64 - 1),
)


@SETTINGS
@given(values=st.lists(integers, min_size=1, max_size=40))
def test_integer_verdicts_equal_check_of_ten_digits(cli, registry_path, values):
    registry = optout.cached_registry(registry_path)
    # An integer is the 10-digit text with at most one leading zero (a CHI number's): below 10^8
    # (but 0, the all-zero number "0000000000") it is the wrong length, as more digits are.
    results = cli.check(registry_path, [f"{v:010d}" for v in values])
    array = np.array(values, dtype=np.uint64)
    short = [0 < v < 10**8 for v in values]
    expected = ["rejected" if s else r["verdict"] for s, r in zip(short, results)]
    reasons = [REASON_WRONG_LENGTH if s else r["reason_code"] for s, r in zip(short, results)]
    assert [optout.VERDICTS[v] for v in registry.verdicts(array)] == expected
    assert [optout.VERDICTS[v] for v in registry.verdicts(values)] == expected
    assert optout.parse(array).reasons.tolist() == reasons


note = st.text(alphabet='ab ,"\n\r', max_size=8)


def quoted(text):
    return '"' + text.replace('"', '""') + '"'


@SETTINGS
@given(
    rows=st.lists(st.tuples(number_text, note), max_size=30),
    apply=st.sampled_from([None, ["national"], ["type1", "national"], ["cleared"], ["cleared", "type1"]]),
    crlf=st.booleans(),
)
def test_filter_keeps_what_keep_mask_keeps(cli, registry_path, rows, apply, crlf):
    """`optout filter --apply` keeps exactly the rows whose numbers keep_mask keeps."""
    end = "\r\n" if crlf else "\n"
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "extract.csv")
        with open(source, "w", newline="") as f:
            f.write("id,nhs_number,note" + end)
            for i, (number, text) in enumerate(rows):
                f.write(f"{i},{number},{quoted(text)}{end}")
        args = ["filter", "-r", registry_path, "--column", "nhs_number", source, "-o", os.path.join(work, "out.csv")]
        if apply:
            args += ["--apply", ",".join(apply)]
        cli.run(*args, "--quiet")
        stats = optout.filter_file(registry_path, source, os.path.join(work, "py.csv"), column="nhs_number",
                                   apply=apply)
        with open(os.path.join(work, "out.csv"), "rb") as f:
            by_cli = f.read()
        with open(os.path.join(work, "py.csv"), "rb") as f:
            by_python = f.read()
    mask = optout.cached_registry(registry_path).keep_mask([number for number, _ in rows], apply=apply)
    expected = f"id,nhs_number,note{end}" + "".join(
        f"{i},{number},{quoted(text)}{end}" for i, (number, text) in enumerate(rows) if mask[i]
    )
    assert by_cli == by_python == expected.encode()
    assert stats["kept"] == int(mask.sum())
    assert stats["rows"] == len(rows) == stats["kept"] + stats["removed"] + stats["rejected"]
