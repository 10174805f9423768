"""optout filter --impact: the impact report against an independent reference.

The reference reads the extract with Python's csv module (the group values), decides each row with
conftest's own NHS-number parser and the lists' numbers, counts the groups, applies the disclosure
rule (1-7 written *, the others rounded to the nearest 5) and writes the expected report itself.
"""

import csv
import io
import json
import random
import subprocess

import pytest

from conftest import assert_usage_error, binary, parse_nhs, valid_numbers, wrong_check_digit

NUMS = valid_numbers(400, seed=314)
LISTED = set(NUMS[:120])  # the deny list
SEXES = ["F", "M", "U", "X"]
# Skewed regions: a few large groups and many small ones (counts of 1 to 7 are common).
REGIONS = [f"R{k:02d}" for k in range(60)] + ["with,comma", 'with "quote"', "Ünïcödé"]


def build_registry(optout, tmp_path):
    (tmp_path / "deny.txt").write_text("".join(n + "\n" for n in sorted(LISTED)))
    result = optout("build", "--list", f"national={tmp_path / 'deny.txt'}", "-o", tmp_path / "reg.optout")
    assert result.code == 0, result
    return tmp_path / "reg.optout"


def csv_text(value):
    """A value as the report writes it (RFC 4180 quoting; "" for an empty value)."""
    if value == "" or any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def generated_extract(rows=6000, seed=5):
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["record_id", "nhs_number", "sex", "region", "note"])
    for i in range(rows):
        roll = rng.random()
        if roll < 0.05:
            number = ""
        elif roll < 0.08:
            number = wrong_check_digit(rng.choice(NUMS))
        else:
            number = rng.choice(NUMS)
        region = REGIONS[min(int(rng.expovariate(0.08)), len(REGIONS) - 1)]
        sex = rng.choice(SEXES)
        if rng.random() < 0.01:  # too few fields: no sex or region
            out.write(f"{i},{number}\n")
            continue
        if rng.random() < 0.01:
            out.write(f"{i},{number},{sex}\n")  # no region
            continue
        writer.writerow([str(i), number, sex, region, "note"])
    return out.getvalue()


def reference_groups(text, by):
    """{key: [rows, kept, removed, rejected]}; a missing field is None."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    positions = [header.index(name) for name in by]
    nhs = header.index("nhs_number")
    groups = {}
    for fields in reader:
        key = tuple(fields[p] if p < len(fields) else None for p in positions)
        number, _ = parse_nhs(fields[nhs].encode()) if nhs < len(fields) else (None, "missing")
        verdict = 3 if number is None else (2 if number in LISTED else 1)
        counts = groups.setdefault(key, [0, 0, 0, 0])
        counts[0] += 1
        counts[verdict] += 1
    return groups


def shown(count, exact):
    if exact or count == 0:
        return str(count)
    if count <= 7:
        return "*"
    return str(5 * ((count + 2) // 5))


def order(key):
    return tuple((0, b"") if v is None else (1, v.encode()) for v in key)


def expected_csv(groups, by, exact):
    lines = [",".join(csv_text(n) for n in by) + ",rows,kept,removed,rejected"]
    for key in sorted(groups, key=order):
        values = ",".join("" if v is None else csv_text(v) for v in key)
        lines.append(values + "," + ",".join(shown(c, exact) for c in groups[key]))
    return "\n".join(lines) + "\n"


@pytest.fixture
def setup(optout, tmp_path):
    registry = build_registry(optout, tmp_path)
    text = generated_extract()
    extract = tmp_path / "extract.csv"
    extract.write_text(text)
    return registry, extract, text


@pytest.mark.parametrize("threads,block", [(1, "1048576"), (2, "4096"), (4, "257")])
@pytest.mark.parametrize("exact", [False, True])
def test_counts_suppression_and_rounding_match_the_reference(optout, setup, tmp_path, threads, block, exact):
    registry, extract, text = setup
    by = ["sex", "region"]
    args = ["filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
            "--impact", tmp_path / "impact.csv", "--impact-by", ",".join(by), "--threads", threads,
            "--block-size", block, "--quiet"]
    result = optout(*args, *(["--impact-exact"] if exact else []))
    assert result.code == 0, result
    groups = reference_groups(text, by)
    assert (tmp_path / "impact.csv").read_text() == expected_csv(groups, by, exact)
    # Many small groups, so the rule is exercised, and every group is there.
    assert sum(1 for c in groups.values() if 1 <= c[0] <= 7) >= 20
    assert any(None in key for key in groups)


def test_one_column_and_the_order_of_columns(optout, setup, tmp_path):
    registry, extract, text = setup
    for by in (["region"], ["region", "sex"]):
        result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "o.csv",
                        "--impact", tmp_path / "i.csv", "--impact-by", ",".join(by), "--impact-exact", "--quiet")
        assert result.code == 0, result
        assert (tmp_path / "i.csv").read_text() == expected_csv(reference_groups(text, by), by, True)
        (tmp_path / "o.csv").unlink()


def test_json_report(optout, setup, tmp_path):
    registry, extract, text = setup
    by = ["sex", "region"]
    result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "impact.json", "--impact-by", "sex,region", "--quiet")
    assert result.code == 0, result
    report = json.loads((tmp_path / "impact.json").read_text())
    assert list(report) == ["by", "exact", "suppressed_up_to", "rounded_to", "groups"]
    assert report["by"] == by and report["exact"] is False
    assert report["suppressed_up_to"] == 7 and report["rounded_to"] == 5
    groups = reference_groups(text, by)
    expected = []
    for key in sorted(groups, key=order):
        c = [shown(n, False) for n in groups[key]]
        expected.append({"values": list(key), **{name: (v if v == "*" else int(v))
                                                 for name, v in zip(("rows", "kept", "removed", "rejected"), c)}})
    assert report["groups"] == expected


def test_audit_record_names_the_columns_never_a_value(optout, setup, tmp_path):
    registry, extract, _ = setup
    audit = tmp_path / "audit.jsonl"
    result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "impact.csv", "--impact-by", "sex,region", "--audit", audit, "--quiet")
    assert result.code == 0, result
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["committing", "ok"]
    groups = len((tmp_path / "impact.csv").read_text().splitlines()) - 1
    for r in records:
        assert r["impact"] == {"by": ["sex", "region"], "exact": False, "file": str(tmp_path / "impact.csv"),
                               "groups": groups}
    assert "R01" not in audit.read_text() and "with,comma" not in audit.read_text()
    (tmp_path / "out.csv").unlink()
    result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "impact2.csv", "--impact-by", "sex", "--impact-exact", "--audit", audit,
                    "--quiet")
    assert result.code == 0, result
    assert json.loads(audit.read_text().splitlines()[-1])["impact"]["exact"] is True


def test_no_impact_file_after_a_failed_run(optout, setup, tmp_path):
    registry, extract, text = setup
    bad = tmp_path / "bad.csv"
    bad.write_text(text + '9999,x"y,F,R01,note\n')  # a quote inside an unquoted field, last line
    result = optout("filter", "-r", registry, "--column", "nhs_number", bad, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "impact.csv", "--impact-by", "sex", "--audit", tmp_path / "audit.jsonl")
    assert result.code == 1, result
    assert "quote" in result.stderr
    assert not (tmp_path / "impact.csv").exists() and not (tmp_path / "out.csv").exists()
    record = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert record["outcome"] == "failed" and record["impact"]["by"] == ["sex"] and "groups" not in record["impact"]
    # The data-quality gate fails the run after counting: no report either.
    result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "impact.csv", "--impact-by", "sex", "--max-rejected", "1")
    assert result.code == 1, result
    assert not (tmp_path / "impact.csv").exists() and not (tmp_path / "out.csv").exists()
    assert list(tmp_path.glob(".impact.csv*")) == []


def test_usage_errors(optout, setup, tmp_path):
    registry, extract, _ = setup
    base = ["filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv"]
    cases = [
        (["--impact-by", "sex"], "grouping columns need an impact report to write"),
        (["--impact", tmp_path / "i.csv"], "an impact report needs the columns to group by"),
        (["--impact-exact"], "exact counts need an impact report"),
        (["--impact", tmp_path / "i.csv", "--impact-by", "nhs_number"],
         "the NHS-number column cannot be a grouping column of the impact report (the report would hold NHS "
         "numbers)"),
        (["--impact", tmp_path / "i.csv", "--impact-by", "sex,sex"], "the grouping column 'sex' is given twice"),
        (["--impact", "", "--impact-by", "sex"], "an empty impact report path: give a file name"),
        (["--impact", extract, "--impact-by", "sex"], None),
        (["--impact", tmp_path / "out.csv", "--impact-by", "sex"], None),
        (["--impact", tmp_path / "i.csv", "--impact-by", "a,b,c,d,e,f,g,h,i"],
         "the impact report groups by at most 8 columns"),
        (["--impact", tmp_path / "i.csv", "--impact-by", "x9434765919"],
         "a grouping column's name looks like a number (6 or more digits), not a column's name"),
    ]
    for extra, message in cases:
        result = optout(*base, *extra)
        assert_usage_error(result, "filter")
        if message is not None:
            assert result.stderr.splitlines()[0] == "optout filter: " + message, result
        assert not (tmp_path / "i.csv").exists() and not (tmp_path / "out.csv").exists()
    # By position, the NHS column is found once the header is read: the same rule, exit 2.
    result = optout("filter", "-r", registry, "--column-index", "2", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "i.csv", "--impact-by", "nhs_number")
    assert result.code == 2, result
    assert "the NHS-number column cannot be a grouping column" in result.stderr
    assert not (tmp_path / "i.csv").exists() and not (tmp_path / "out.csv").exists()
    # Without a header the columns cannot be named.
    result = optout("filter", "-r", registry, "--column-index", "2", "--no-header", extract, "-o",
                    tmp_path / "out.csv", "--impact", tmp_path / "i.csv", "--impact-by", "sex")
    assert_usage_error(result, "filter")
    assert "the impact report's grouping columns are named by the header: the input needs one" in result.stderr


def test_a_column_the_header_lacks(optout, setup, tmp_path):
    registry, extract, _ = setup
    result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "i.csv", "--impact-by", "sex,postcode")
    assert result.code == 1, result
    assert result.stderr == (f"optout filter: {extract}: no column named 'postcode' in the header (it has: "
                             "record_id, nhs_number, sex, region, note)\n")
    assert not (tmp_path / "i.csv").exists() and not (tmp_path / "out.csv").exists()
    # A header that may be data is not shown.
    data = tmp_path / "data.csv"
    data.write_text(f"1,{NUMS[200]},F\n2,{NUMS[201]},M\n")
    result = optout("filter", "-r", registry, "--column-index", "2", data, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "i.csv", "--impact-by", "sex")
    assert result.code == 1, result
    assert "the first line looks like data" in result.stderr and NUMS[200] not in result.stderr


def test_too_many_groups_fail_cleanly(optout, tmp_path):
    registry = build_registry(optout, tmp_path)
    rows = ["record_id,nhs_number"] + [f"{i},{NUMS[200 + i % 100]}" for i in range(100_001)]
    extract = tmp_path / "unique.csv"
    extract.write_text("\n".join(rows) + "\n")
    result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "i.csv", "--impact-by", "record_id", "--threads", "2")
    assert result.code == 1, result
    assert result.stderr == (f"optout filter: {extract}: more than 100000 groups of 'record_id' for the impact "
                             "report (its limit): group by fewer or coarser columns\n")
    assert not (tmp_path / "i.csv").exists() and not (tmp_path / "out.csv").exists()
    # At the limit it works.
    extract.write_text("\n".join(rows[:100_001]) + "\n")
    result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "out.csv",
                    "--impact", tmp_path / "i.csv", "--impact-by", "record_id", "--impact-exact", "--quiet")
    assert result.code == 0, result
    assert len((tmp_path / "i.csv").read_text().splitlines()) == 100_001


def test_json_lines_keys_and_pointers(optout, tmp_path):
    registry = build_registry(optout, tmp_path)
    listed = sorted(LISTED)
    free = [n for n in NUMS if n not in LISTED]
    lines = [
        {"nhs_number": free[0], "sex": "F", "p": {"region": "A"}},
        {"nhs_number": listed[0], "sex": "F", "p": {"region": "A"}},
        {"nhs_number": "bad", "sex": "M", "p": {"region": "B"}},
        {"nhs_number": free[1], "sex": None, "p": {}},
        {"nhs_number": free[2], "sex": 1, "p": {"region": "A"}},
    ]
    extract = tmp_path / "e.jsonl"
    extract.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = optout("filter", "-r", registry, "--format", "jsonl", "--column", "nhs_number", extract, "-o",
                    tmp_path / "out.jsonl", "--impact", tmp_path / "i.csv", "--impact-by", "sex,/p/region",
                    "--impact-exact", "--quiet")
    assert result.code == 0, result
    assert (tmp_path / "i.csv").read_text() == ("sex,/p/region,rows,kept,removed,rejected\n"
                                               ",,1,1,0,0\n"
                                               "1,A,1,1,0,0\n"
                                               "F,A,2,1,1,0\n"
                                               "M,B,1,0,0,1\n")
    result = optout("filter", "-r", registry, "--format", "jsonl", "--column", "nhs_number", extract, "-o",
                    tmp_path / "out2.jsonl", "--impact", tmp_path / "i2.csv", "--impact-by", "/nhs_number")
    assert_usage_error(result, "filter")


@pytest.mark.parametrize("threads,block", [(1, "1048576"), (2, "257")])
def test_keys_either_side_of_sixteen_bytes(optout, tmp_path, threads, block):
    """Keys of up to 16 bytes are built in two words, longer ones (and fields near a block's end)
    byte by byte: values of every length from 0 to 20, quoted or not, missing or not, group alike."""
    registry = build_registry(optout, tmp_path)
    rng = random.Random(16)
    values = ["ABCDEFGHIJKLMNOPQRST"[:n] for n in range(21)] + ['a,b', 'q"q', "é" * 7, "é" * 8]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["record_id", "nhs_number", "sex", "region"])
    for i in range(3000):
        number = rng.choice(NUMS)
        sex, region = rng.choice(["F", "", "MM"]), rng.choice(values)
        if rng.random() < 0.03:
            out.write(f"{i},{number},{sex}\n")  # no region
        elif rng.random() < 0.2:
            out.write(f'{i},{number},"{sex}","{region.replace(chr(34), chr(34) * 2)}"\n')  # quoted
        else:
            writer.writerow([str(i), number, sex, region])
    text = out.getvalue()
    extract = tmp_path / "extract.csv"
    extract.write_text(text)
    for by in (["sex", "region"], ["region"]):
        result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "o.csv",
                        "--impact", tmp_path / "i.csv", "--impact-by", ",".join(by), "--impact-exact",
                        "--threads", threads, "--block-size", block, "--quiet")
        assert result.code == 0, result
        assert (tmp_path / "i.csv").read_text() == expected_csv(reference_groups(text, by), by, True)
        (tmp_path / "o.csv").unlink()


@pytest.mark.parametrize("threads,block", [(1, "1048576"), (2, "263")])
def test_grouping_columns_anywhere_in_the_record(optout, tmp_path, threads, block):
    """The key holds one raw span a run of adjacent grouping columns: a run at the record's start,
    at its end (CRLF or LF, or no terminator at the input's end), runs apart, columns out of file
    order, records that end inside a run or before it, and quoted values holding the delimiter."""
    registry = build_registry(optout, tmp_path)
    rng = random.Random(2027)
    values = ["", "x", "yy", "a,b", 'q"q', "long value of twenty", "é"]
    lines = ["a,nhs_number,b,c,d"]
    for _ in range(2500):
        fields = [rng.choice(values), rng.choice(NUMS), rng.choice(values), rng.choice(values), rng.choice(values)]
        fields = fields[:rng.choice([1, 2, 3, 4, 5, 5, 5, 5])]
        line = ",".join(csv_text(f) if rng.random() < 0.5 else f'"{f.replace(chr(34), chr(34) * 2)}"'
                        for f in fields)
        lines.append(line + ("\r" if rng.random() < 0.3 else ""))
    lines[-1] = lines[-1].rstrip("\r")
    text = "\n".join(lines)  # the last record has no terminator
    extract = tmp_path / "extract.csv"
    extract.write_bytes(text.encode())
    for by in (["a"], ["d"], ["c", "d"], ["a", "c"], ["d", "a"], ["b", "c", "d"], ["d", "b", "a"]):
        result = optout("filter", "-r", registry, "--column", "nhs_number", extract, "-o", tmp_path / "o.csv",
                        "--impact", tmp_path / "i.csv", "--impact-by", ",".join(by), "--impact-exact",
                        "--threads", threads, "--block-size", block, "--quiet")
        assert result.code == 0, (by, result)
        reference = reference_groups(text.replace("\r\n", "\n"), by)
        assert (tmp_path / "i.csv").read_text() == expected_csv(reference, by, True), by
        (tmp_path / "o.csv").unlink()
