"""optout.filter_file against `optout filter`: the same bytes, stats, audit record and errors."""

import json
import os
import pathlib
import time

import pytest

import optout
from conftest import SAMPLES


def cli_args(options):
    """`optout filter` arguments for filter_file's keyword options."""
    args = []
    flags = {
        "column": "--column", "column_index": "--column-index", "delimiter": "--delimiter",
        "threads": "--threads", "block_size": "--block-size", "max_record_bytes": "--max-record-bytes",
        "max_rejected": "--max-rejected", "max_age": "--max-age", "rejects": "--rejects", "stats": "--stats",
        "audit": "--audit",
    }
    for key, value in options.items():
        if key == "header":
            if not value:
                args.append("--no-header")
        elif key == "apply":
            args += ["--apply", ",".join(value)]
        else:
            args += [flags[key], str(value)]
    return args


def run_both(cli, registry, source, tmp_path, name, **options):
    """Runs filter_file and the CLI on source; returns (python stats, cli stats) after checking
    that every output file is byte for byte the same."""
    py_dir, cli_dir = tmp_path / f"{name}-py", tmp_path / f"{name}-cli"
    py_dir.mkdir()
    cli_dir.mkdir()
    extra = {}
    for key in ("rejects", "stats", "audit"):
        if options.pop(key, False):
            extra[key] = key
    py_stats = optout.filter_file(
        registry, source, py_dir / "out.csv", **options, **{k: py_dir / v for k, v in extra.items()}
    )
    cli.run("filter", "-r", registry, *cli_args({**options, **{k: cli_dir / v for k, v in extra.items()}}),
            source, "-o", cli_dir / "out.csv", "--quiet")
    assert (py_dir / "out.csv").read_bytes() == (cli_dir / "out.csv").read_bytes(), name
    if "rejects" in extra:
        assert (py_dir / "rejects").read_bytes() == (cli_dir / "rejects").read_bytes(), name
    cli_stats = json.loads((cli_dir / "stats").read_text()) if "stats" in extra else None
    if cli_stats is not None:
        assert json.loads((py_dir / "stats").read_text()).keys() == cli_stats.keys()
    if "audit" in extra:
        # The commit protocol's records ("committing", then "ok"), the same for both but for times,
        # the run's id and the output's (temporary) name.
        py_audit = [json.loads(line) for line in (py_dir / "audit").read_text().splitlines()]
        cli_audit = [json.loads(line) for line in (cli_dir / "audit").read_text().splitlines()]
        for record in py_audit + cli_audit:
            for varying in ("started_at", "finished_at", "output", "run_id"):
                record.pop(varying, None)
        assert py_audit == cli_audit, name
        assert cli_audit[-1]["outcome"] == "ok", name
        assert py_stats["output_digest"] == cli_audit[-1]["output_xxh3_128"]
    return py_stats, cli_stats


def comparable(stats):
    return {k: v for k, v in stats.items() if k not in ("seconds", "mb_per_second")}


def test_same_output_as_the_cli(cli, registry_path, tmp_path):
    cases = [
        ("narrow", SAMPLES / "extract_narrow.csv", dict(column="nhs_number")),
        ("dirty", SAMPLES / "extract_dirty.csv", dict(column="nhs_number", rejects=True)),
        ("dirty-deny", SAMPLES / "extract_dirty.csv", dict(column="nhs_number", apply=["national", "type1"])),
        ("dirty-allow", SAMPLES / "extract_dirty.csv", dict(column="nhs_number", apply=["cleared"], rejects=True)),
        ("wide", SAMPLES / "extract_wide.csv", dict(column_index=91)),
        ("narrow-small-blocks", SAMPLES / "extract_narrow.csv", dict(column="nhs_number", threads=1, block_size=777)),
        ("dirty-audited", SAMPLES / "extract_dirty.csv", dict(column="nhs_number", audit=True)),
    ]
    expected = {  # rows, kept, removed, rejected
        "narrow": (2000, 1863, 137, 0),
        "dirty": (2000, 1779, 126, 95),
        "dirty-deny": (2000, 1783, 122, 95),
        "wide": (100, 90, 10, 0),
    }
    for name, source, options in cases:
        py_stats, cli_stats = run_both(cli, registry_path, source, tmp_path, name, stats=True, **options)
        assert comparable(py_stats) == {
            **comparable(cli_stats),
            "bytes_rejected": py_stats["bytes_rejected"],
            "output_digest": py_stats["output_digest"],
        }, name
        assert py_stats["rows"] == py_stats["kept"] + py_stats["removed"] + py_stats["rejected"]
        assert py_stats["bytes_in"] == os.path.getsize(source)
        assert (py_stats["output_digest"] is None) == (name != "dirty-audited")
        if name in expected:
            assert (py_stats["rows"], py_stats["kept"], py_stats["removed"], py_stats["rejected"]) == expected[name]
    dirty = optout.filter_file(registry_path, SAMPLES / "extract_dirty.csv", tmp_path / "d.csv", column="nhs_number")
    assert dirty["rejected_by_reason"] == {"empty": 30, "bad character": 13, "wrong length": 19, "wrong check digit": 33}


def test_no_header_and_other_delimiters(cli, registry_path, tmp_path, listed_numbers):
    narrow = (SAMPLES / "extract_narrow.csv").read_bytes()
    headless = tmp_path / "headless.csv"
    headless.write_bytes(narrow.split(b"\n", 1)[1])
    position = narrow.split(b"\n", 1)[0].split(b",").index(b"nhs_number") + 1
    py_stats, _ = run_both(cli, registry_path, headless, tmp_path, "headless", column_index=position, header=False)
    assert py_stats["rows"] == 2000

    numbers = listed_numbers["national"][:3] + listed_numbers["cleared"][:3]
    tsv = tmp_path / "extract.tsv"
    tsv.write_text("id\tnhs_number\n" + "".join(f"{i}\t{n}\n" for i, n in enumerate(numbers)))
    py_stats, _ = run_both(cli, registry_path, tsv, tmp_path, "tab", column="nhs_number", delimiter="tab")
    kept = int(optout.load(registry_path).keep_mask(numbers).sum())
    assert 0 < kept < 6
    assert (py_stats["kept"], py_stats["removed"]) == (kept, 6 - kept)
    assert optout.filter_file(registry_path, tsv, tmp_path / "t2.csv", column="nhs_number", delimiter="\t")["kept"] == kept
    semi = tmp_path / "extract.ssv"
    semi.write_text(tsv.read_text().replace("\t", ";"))
    assert optout.filter_file(registry_path, semi, tmp_path / "s.csv", column="nhs_number", delimiter=b";")["kept"] == kept


def assert_same_error(cli, cls, call, cli_args_list, tmp_path, message=None):
    """filter_file raises cls with exactly the CLI's message, and leaves no file behind."""
    before = set(os.listdir(tmp_path))
    with pytest.raises(optout.Error) as caught:
        call()
    assert type(caught.value) is cls, (type(caught.value), str(caught.value))
    cli_message = cli.error("filter", *map(str, cli_args_list), "--quiet")
    assert str(caught.value) == cli_message
    if message is not None:
        assert str(caught.value) == message
    assert set(os.listdir(tmp_path)) == before  # no output, no temporary file
    return caught.value


def test_errors_carry_the_cli_messages(cli, registry_path, tmp_path):
    out = tmp_path / "out.csv"
    reg = registry_path
    missing = str(tmp_path / "missing.csv")
    error = assert_same_error(
        cli, optout.MissingFileError,
        lambda: optout.filter_file(reg, missing, out, column="nhs_number"),
        ["-r", reg, "--column", "nhs_number", missing, "-o", out], tmp_path,
        f"{missing}: cannot open: No such file or directory",
    )
    assert isinstance(error, FileNotFoundError)

    work = tmp_path / "inputs"
    work.mkdir()
    bad_inputs = [  # file, its bytes, the error, its message after the file's path, more arguments
        ("extract.csv", b"id,nhs,note\n1,9434765919,a\n", optout.NotFoundError,
         ": no column named 'nhs_number' in the header (it has: id, nhs, note)", {}),
        ("malformed.csv", b"id,nhs_number\n1,9434765919\n2,\"open\n3,x\n4,9434765919\n", optout.InvalidInputError,
         ":3: unterminated quoted field", {"rejects": tmp_path / "r.csv"}),
        ("stray.csv", b"id,nhs_number\n1,94347\"65919\n", optout.InvalidInputError,
         ":2: quote inside an unquoted field", {}),
        ("empty.csv", b"", optout.InvalidInputError, ": empty input: expected a header record", {}),
    ]
    for name, data, cls, problem, more in bad_inputs:
        path = work / name
        path.write_bytes(data)
        error = assert_same_error(
            cli, cls,
            lambda: optout.filter_file(reg, path, out, column="nhs_number", **more),
            ["-r", reg, "--column", "nhs_number", path, "-o", out], tmp_path,
            f"{path}{problem}",
        )
        if cls is optout.InvalidInputError:
            assert isinstance(error, ValueError), name
    assert_same_error(
        cli, optout.LimitExceededError,
        lambda: optout.filter_file(reg, SAMPLES / "extract_wide.csv", out, column="nhs_number", max_record_bytes=500),
        ["-r", reg, "--column", "nhs_number", "--max-record-bytes", 500, SAMPLES / "extract_wide.csv", "-o", out],
        tmp_path,
    )
    for limit in (10, "10", "1%", "4.7%"):
        error = assert_same_error(
            cli, optout.DataQualityError,
            lambda: optout.filter_file(reg, SAMPLES / "extract_dirty.csv", out, column="nhs_number", max_rejected=limit),
            ["-r", reg, "--column", "nhs_number", "--max-rejected", limit, SAMPLES / "extract_dirty.csv", "-o", out],
            tmp_path,
        )
    assert str(error) == f"{SAMPLES / 'extract_dirty.csv'}: 95 of 2000 rows rejected (4.75%), more than the limit of 4.70% of rows"
    # 4.75% is the exact share: not more than the limit.
    assert optout.filter_file(reg, SAMPLES / "extract_dirty.csv", out, column="nhs_number", max_rejected="4.75%")["rejected"] == 95
    assert optout.filter_file(reg, SAMPLES / "extract_dirty.csv", out, column="nhs_number", max_rejected=95)["rejected"] == 95
    os.unlink(out)
    no_dir = tmp_path / "no-dir" / "out.csv"
    assert_same_error(
        cli, optout.MissingFileError,
        lambda: optout.filter_file(reg, SAMPLES / "extract_narrow.csv", no_dir, column="nhs_number"),
        ["-r", reg, "--column", "nhs_number", SAMPLES / "extract_narrow.csv", "-o", no_dir],
        tmp_path,
        f"{no_dir}: cannot create: No such file or directory",
    )
    error = assert_same_error(  # a directory where the output should go: an I/O error, not a missing file
        cli, optout.IoError,
        lambda: optout.filter_file(reg, SAMPLES / "extract_narrow.csv", work, column="nhs_number"),
        ["-r", reg, "--column", "nhs_number", SAMPLES / "extract_narrow.csv", "-o", work],
        tmp_path,
    )
    assert isinstance(error, OSError) and not isinstance(error, FileNotFoundError)
    assert str(error).startswith(f"{work}: ")

    # A stale registry: built at least a second ago, refused with a limit of 0 hours.
    built = optout.load(reg).created_at_unix
    while time.time() < built + 1.5:
        time.sleep(0.1)
    assert_same_error(
        cli, optout.StaleRegistryError,
        lambda: optout.filter_file(reg, SAMPLES / "extract_narrow.csv", out, column="nhs_number", max_age="0h"),
        ["-r", reg, "--column", "nhs_number", "--max-age", "0h", SAMPLES / "extract_narrow.csv", "-o", out],
        tmp_path,
    )


def test_option_errors(registry_path, tmp_path):
    out = tmp_path / "out.csv"
    narrow = SAMPLES / "extract_narrow.csv"
    cases = [
        (dict(), optout.InvalidArgumentError, "choose the NHS-number column by name or by position, not both or neither"),
        (dict(column="nhs_number", column_index=3), optout.InvalidArgumentError,
         "choose the NHS-number column by name or by position, not both or neither"),
        (dict(column="nhs_number", header=False), optout.InvalidArgumentError,
         "a column name needs a header; use a column position"),
        (dict(column="nhs_number", delimiter="ab"), optout.InvalidArgumentError, "the delimiter takes one byte, or 'tab'"),
        (dict(column="nhs_number", delimiter="é"), optout.InvalidArgumentError, "the delimiter takes one byte, or 'tab'"),
        (dict(column="nhs_number", delimiter='"'), optout.InvalidArgumentError, "the delimiter cannot be a quote, CR or LF"),
        (dict(column_index=0), optout.InvalidArgumentError, "column positions start at 1"),
        (dict(column="nhs_number", max_rejected="lots"), optout.InvalidArgumentError,
         "the rejected-row limit takes a row count (250) or a percentage of rows (0.5%)"),
        (dict(column="nhs_number", max_rejected="101%"), optout.InvalidArgumentError,
         "the rejected-row limit takes a row count (250) or a percentage of rows (0.5%)"),
        (dict(column="nhs_number", max_age="soon"), optout.InvalidArgumentError,
         "the maximum age takes a number of hours or days, e.g. 36h or 7d"),
        (dict(column="nhs_number", block_size=0), optout.InvalidArgumentError, "the block size must be from 1 byte to 1 GiB"),
        (dict(column="nhs_number", threads=-1), optout.InvalidArgumentError,
         "the thread count must be at most 1024 (0: every core)"),
        (dict(column="nhs_number", apply=["nope"]), optout.NotFoundError,
         f"{registry_path}: no list named 'nope' in the registry (it has: cleared, national, type1)"),
    ]
    for options, cls, message in cases:
        with pytest.raises(optout.Error) as caught:
            optout.filter_file(registry_path, narrow, out, **options)
        assert type(caught.value) is cls, options
        assert str(caught.value) == message, options
        assert not out.exists()
    with pytest.raises(TypeError):
        optout.filter_file(registry_path, narrow, out, column="nhs_number", max_rejected=0.5)
    with pytest.raises(TypeError):
        optout.filter_file(registry_path, narrow, out, column=3)


def test_out_of_range_integer_options_are_the_engines_invalid_argument(registry_path, tmp_path):
    """Issue 10.10: block_size=2**40 raised a raw MemoryError, threads or column_index of 2**64 a
    pybind11 TypeError. Any int reaches the engine (saturated when it does not fit), which refuses
    it with its own message."""
    out = tmp_path / "out.csv"
    narrow = SAMPLES / "extract_narrow.csv"
    block = "the block size must be from 1 byte to 1 GiB"
    record = "the record limit must be from 1 byte to 1 GiB"
    threads = "the thread count must be at most 1024 (0: every core)"
    column = "the column position must be at most 1048576"
    cases = [
        (dict(column="nhs_number", block_size=2**40), block),
        (dict(column="nhs_number", block_size=2**64), block),
        (dict(column="nhs_number", block_size=-(2**70)), block),
        (dict(column="nhs_number", max_record_bytes=2**31), record),
        (dict(column="nhs_number", max_record_bytes=2**100), record),
        (dict(column="nhs_number", threads=2**64), threads),
        (dict(column="nhs_number", threads=2**32), threads),  # would wrap to 0 ("every core") in C
        (dict(column="nhs_number", threads=1025), threads),
        (dict(column_index=2**64), column),
        (dict(column_index=2**20 + 1), column),
        (dict(column_index=-1), column),
    ]
    for options, message in cases:
        with pytest.raises(optout.InvalidArgumentError) as caught:
            optout.filter_file(registry_path, narrow, out, **options)
        assert isinstance(caught.value, ValueError), options
        assert str(caught.value) == message, options
        assert not out.exists(), options
    for options in (dict(threads=True), dict(threads="2"), dict(block_size=1.5), dict(column_index="2")):
        with pytest.raises(TypeError) as caught:
            optout.filter_file(registry_path, narrow, out, column="nhs_number", **options)
        assert "must be an int" in str(caught.value), options
    with pytest.raises(optout.InvalidArgumentError) as caught:
        optout.filter_file(registry_path, narrow, out, column="nhs_number", max_rejected=-1)
    assert str(caught.value) == "max_rejected cannot be negative"
    # A huge row limit is a limit no run reaches, never "no limit" by wrapping.
    stats = optout.filter_file(registry_path, narrow, out, column="nhs_number", max_rejected=2**70)
    assert stats["rows"] == 2000


def test_path_with_nul_byte_is_refused(registry_path, tmp_path):
    """Issue 10.8: a path with an embedded NUL wrote to the path cut at the NUL. ValueError, as
    open() raises, for every path argument."""
    narrow = SAMPLES / "extract_narrow.csv"
    out = tmp_path / "out.csv"
    cut = str(tmp_path / "out")
    with pytest.raises(ValueError) as caught:
        open(cut + "\0.csv", "wb")
    assert "embedded null byte" in str(caught.value)
    for options, argument in [
        (dict(input=str(narrow) + "\0x", output=out), "input"),
        (dict(input=narrow, output=cut + "\0.csv"), "output"),
        (dict(input=narrow, output=os.fsencode(cut) + b"\0.csv"), "output"),
        (dict(input=narrow, output=out, rejects=cut + "\0.rej"), "rejects"),
        (dict(input=narrow, output=out, stats=cut + "\0.json"), "stats"),
        (dict(input=narrow, output=out, audit=cut + "\0.jsonl"), "audit"),
    ]:
        with pytest.raises(ValueError) as caught:
            optout.filter_file(registry_path, column="nhs_number", **options)
        assert not isinstance(caught.value, optout.Error)
        assert str(caught.value) == f"{argument}: embedded null byte", options
        assert sorted(os.listdir(tmp_path)) == [], options  # nothing written, at the cut path least of all
    with pytest.raises(ValueError) as caught:
        optout.load(registry_path + "\0x")
    assert str(caught.value) == "path: embedded null byte"
    with pytest.raises(ValueError) as caught:
        optout.cached_registry(registry_path + "\0x")
    assert str(caught.value) == "registry: embedded null byte"
    with pytest.raises(ValueError):
        optout.filter_file(registry_path + "\0x", narrow, out, column="nhs_number")


def test_paths_as_str_bytes_pathlike_and_undecodable_names(registry_path, tmp_path):
    """Issue 15.7: a file name that is not UTF-8 gave a pybind11 signature dump. str (surrogate
    escapes, as os.listdir returns such names), bytes and os.PathLike are paths everywhere."""
    narrow = SAMPLES / "extract_narrow.csv"
    data = narrow.read_bytes()
    raw = os.fsencode(tmp_path) + b"/bad\xff.csv"
    with open(raw, "wb") as f:
        f.write(data)
    as_str = os.fsdecode(raw)
    assert "\udcff" in as_str
    expected = None
    for i, (source, target) in enumerate([
        (as_str, os.fsdecode(os.fsencode(tmp_path) + b"/out\xfe1.csv")),
        (raw, os.fsencode(tmp_path) + b"/out\xfe2.csv"),
        (pathlib.Path(as_str), pathlib.Path(os.fsdecode(os.fsencode(tmp_path) + b"/out\xfe3.csv"))),
    ]):
        stats = optout.filter_file(registry_path, source, target, column="nhs_number", stats=os.fsencode(target) + b".json")
        assert stats["rows"] == 2000, i
        written = open(os.fsencode(target), "rb").read()
        expected = expected or written
        assert written == expected, i
        assert os.path.exists(os.fsencode(target) + b".json"), i
    # A missing file whose name is not UTF-8: the engine's message, the name as the caller spelt it.
    missing = os.fsdecode(os.fsencode(tmp_path) + b"/gone\xff.csv")
    with pytest.raises(optout.MissingFileError) as caught:
        optout.filter_file(registry_path, missing, tmp_path / "o.csv", column="nhs_number")
    assert str(caught.value) == f"{missing}: cannot open: No such file or directory"
    # A registry under such a name loads, and its path reads back as given.
    reg_raw = os.fsencode(tmp_path) + b"/reg\xff.optout"
    with open(reg_raw, "wb") as f:
        f.write(open(registry_path, "rb").read())
    assert optout.load(reg_raw).path == os.fsdecode(reg_raw)
    assert optout.load(os.fsdecode(reg_raw)).digest == optout.load(registry_path).digest
    assert optout.core.fs_path(reg_raw, "x") == os.fsdecode(reg_raw)
    with pytest.raises(TypeError) as caught:
        optout.filter_file(registry_path, narrow, None, column="nhs_number")
    assert str(caught.value) == "output: expected a path (str, bytes or os.PathLike), got NoneType"
    with pytest.raises(TypeError) as caught:
        optout.load(42)
    assert str(caught.value) == "path: expected a path (str, bytes or os.PathLike), got int"


def test_empty_output_is_not_standard_output(registry_path, tmp_path, capfd):
    """Issue 15.8: output="" wrote the whole extract to standard output. The binding passes ""
    to the engine as it is, which refuses it."""
    narrow = SAMPLES / "extract_narrow.csv"
    with pytest.raises(optout.InvalidArgumentError):
        optout.filter_file(registry_path, narrow, "", column="nhs_number")
    assert capfd.readouterr().out == ""
    assert os.listdir(tmp_path) == []


def test_number_like_names_are_redacted(registry_path, tmp_path):
    """Issue 10.7: apply, contains and filter_file echoed a number-like list name."""
    registry = optout.load(registry_path)
    expected = f"{registry_path}: no list named '[redacted]' in the registry (it has: cleared, national, type1)"
    for call in (
        lambda: registry.verdicts(["9434765919"], apply=["9434765919"]),
        lambda: registry.index("943-476-5919"),
        lambda: registry.contains("9434765919", ["9434765919"]),
        lambda: optout.filter_file(registry, SAMPLES / "extract_narrow.csv", tmp_path / "o.csv",
                                   column="nhs_number", apply="9434765919"),
    ):
        with pytest.raises(optout.NotFoundError) as caught:
            call()
        assert str(caught.value) == expected
        assert "9434765919" not in str(caught.value) and "5919" not in str(caught.value)


@pytest.mark.parametrize("side", ["rejects", "stats", "audit"])
def test_empty_side_path_is_a_usage_error(registry_path, tmp_path, side):
    """Issue 15.8: rejects="" silently dropped the rejected rows ("" meant none)."""
    with pytest.raises(optout.InvalidArgumentError) as caught:
        optout.filter_file(registry_path, SAMPLES / "extract_dirty.csv", tmp_path / "out.csv", column="nhs_number",
                           **{side: ""})
    assert str(caught.value) == f"an empty {side} path: give a file name"
    assert os.listdir(tmp_path) == []


def test_output_naming_the_input_is_refused(registry_path, tmp_path):
    """Issue 10.6: the input (or the registry) replaced by an output."""
    source = tmp_path / "x.csv"
    source.write_bytes((SAMPLES / "extract_narrow.csv").read_bytes())
    dotted = os.path.join(str(tmp_path), ".", "x.csv")
    with pytest.raises(optout.InvalidArgumentError) as caught:
        optout.filter_file(registry_path, source, dotted, column="nhs_number")
    assert str(caught.value) == f"{source} and {dotted} are one file: an output would overwrite an input"
    with pytest.raises(optout.InvalidArgumentError) as caught:
        optout.filter_file(registry_path, source, tmp_path / "out.csv", column="nhs_number", stats=registry_path)
    assert str(caught.value) == f"{registry_path} is given twice: an output would overwrite an input"
    assert os.listdir(tmp_path) == ["x.csv"]


def test_two_outputs_naming_one_file_are_refused(registry_path, tmp_path):
    """Issue 10.6: output and rejects to one file lost the rejects."""
    with pytest.raises(optout.InvalidArgumentError) as caught:
        optout.filter_file(registry_path, SAMPLES / "extract_dirty.csv", tmp_path / "out.csv", column="nhs_number",
                           rejects=tmp_path / "out.csv")
    assert str(caught.value) == f"{tmp_path / 'out.csv'} is given twice: an output would overwrite another output"
    assert os.listdir(tmp_path) == []


# ---- JSON Lines (issue 13.3): format="jsonl" reaches the engine's JSONL reading -----------------------

def test_filter_file_and_verify_file_read_json_lines(deny_registry_path, listed_numbers, tmp_path):
    removed = listed_numbers["national"][0]
    kept = "4010232137"  # on no sample list
    lines = [
        json.dumps({"id": 1, "patient": {"nhs": kept}}) + "\n",
        json.dumps({"id": 2, "patient": {"nhs": removed}}) + "\r\n",
        json.dumps({"id": 3, "patient": {"nhs": None}}) + "\n",
        json.dumps({"id": 4, "patient": {"nhs": int(kept)}, "name": "Zoë"}),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes("".join(lines).encode())
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    stats = optout.filter_file(deny_registry_path, str(src), str(out), column="/patient/nhs", format="jsonl",
                               rejects=str(rejects), block_size=16, threads=2)
    assert (stats["rows"], stats["kept"], stats["removed"], stats["rejected"]) == (4, 2, 1, 1)
    assert stats["rejected_by_reason"] == {"missing field": 1}
    assert out.read_bytes() == (lines[0] + lines[3]).encode()
    assert rejects.read_bytes() == lines[2].encode()

    verified = optout.verify_file(deny_registry_path, str(out), column="/patient/nhs", format="jsonl")
    assert verified["clean"] is True and verified["rows"] == 2
    dirty = optout.verify_file(deny_registry_path, str(src), column="/patient/nhs", format="jsonl",
                               matches=str(tmp_path / "m.txt"))
    assert dirty["removed"] == 1 and (tmp_path / "m.txt").read_text() == "2\n"


def test_json_lines_options_are_the_engines_to_refuse(deny_registry_path, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"nhs": "4010232137"}\n')
    with pytest.raises(optout.InvalidArgumentError, match="JSON Lines has no column positions"):
        optout.filter_file(deny_registry_path, str(src), str(tmp_path / "o"), column_index=1, format="jsonl")
    with pytest.raises(optout.InvalidArgumentError, match="the format is csv or jsonl"):
        optout.filter_file(deny_registry_path, str(src), str(tmp_path / "o"), column="nhs", format="xml")
    src.write_text('{"nhs": "4010232137"}\nnot json\n')
    with pytest.raises(optout.InvalidInputError, match=r"in\.jsonl:2: not a JSON object"):
        optout.filter_file(deny_registry_path, str(src), str(tmp_path / "o"), column="nhs", format="jsonl")


# ---- Compressed extracts (issue 13.1, 13.2): entry, compress and level reach the engine -------------


def test_compressed_output_and_input_round_trip(deny_registry_path, tmp_path):
    import gzip
    import zipfile

    src = SAMPLES / "extract_narrow.csv"
    plain = tmp_path / "plain.csv"
    expected = optout.filter_file(deny_registry_path, str(src), str(plain), column="nhs_number")
    assert "bytes_out_compressed" not in expected and "input_compressed_bytes" not in expected

    # By suffix: gzip; the stats give the file's size beside the uncompressed bytes.
    gz = tmp_path / "out.csv.gz"
    stats = optout.filter_file(deny_registry_path, str(src), str(gz), column="nhs_number", level=1)
    assert gzip.decompress(gz.read_bytes()) == plain.read_bytes()
    assert stats["bytes_out"] == plain.stat().st_size
    assert stats["bytes_out_compressed"] == gz.stat().st_size

    # compress= overrides the suffix; the engine finds the input's codec from its bytes.
    zst = tmp_path / "out.data"
    optout.filter_file(deny_registry_path, str(src), str(zst), column="nhs_number", compress="zstd", level=19)
    assert _zstd_decompress(zst.read_bytes()) == plain.read_bytes()
    back = tmp_path / "back.csv"
    stats = optout.filter_file(deny_registry_path, str(zst), str(back), column="nhs_number")
    assert back.read_bytes() == plain.read_bytes()
    assert stats["input_compressed_bytes"] == zst.stat().st_size and "bytes_out_compressed" not in stats
    none = tmp_path / "none.csv.gz"
    optout.filter_file(deny_registry_path, str(src), str(none), column="nhs_number", compress="none")
    assert none.read_bytes() == plain.read_bytes()

    # A zip of two files: entry= chooses one; verify_file reads it the same way.
    archive = tmp_path / "extracts.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(src, "a.csv")
        z.write(SAMPLES / "extract_dirty.csv", "b.csv")
    with pytest.raises(optout.InvalidInputError, match=r"extracts\.zip: the zip holds 2 entries"):
        optout.filter_file(deny_registry_path, str(archive), str(tmp_path / "z.csv"), column="nhs_number")
    with pytest.raises(optout.NotFoundError, match=r"the zip has no entry 'c\.csv' \(it has 2 entries\)"):
        optout.filter_file(deny_registry_path, str(archive), str(tmp_path / "z.csv"), column="nhs_number",
                           entry="c.csv")
    assert not (tmp_path / "z.csv").exists()
    optout.filter_file(deny_registry_path, str(archive), str(tmp_path / "z.csv"), column="nhs_number", entry="a.csv")
    assert (tmp_path / "z.csv").read_bytes() == plain.read_bytes()
    verified = optout.verify_file(deny_registry_path, str(archive), column="nhs_number", entry="a.csv")
    assert verified["rows"] == expected["rows"] and verified["clean"] is False

    # The engine's rules and words.
    with pytest.raises(optout.InvalidArgumentError, match="^the compression is gzip, zstd or none$"):
        optout.filter_file(deny_registry_path, str(src), str(tmp_path / "x"), column="nhs_number", compress="lz4")
    with pytest.raises(optout.InvalidArgumentError, match="^the gzip level must be from 0 to 3$"):
        optout.filter_file(deny_registry_path, str(src), str(tmp_path / "x.gz"), column="nhs_number", level=4)
    with pytest.raises(TypeError, match="level"):
        optout.filter_file(deny_registry_path, str(src), str(tmp_path / "x.gz"), column="nhs_number", level="3")
    with pytest.raises(TypeError, match="compress"):
        optout.filter_file(deny_registry_path, str(src), str(tmp_path / "x.gz"), column="nhs_number", compress=1)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.gz").exists()


def _zstd_decompress(data):
    """zstd -dc of data (Debian's python3-zstandard may be missing; the zstd program is a test dep)."""
    import subprocess

    return subprocess.run(["zstd", "-dcq"], input=data, capture_output=True, check=True).stdout
