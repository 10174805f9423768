"""Tests of the end-to-end benchmark's groups (gzip → gzip, zstd → zstd, JSON Lines): the JSON
Lines rendering of an extract, the checks of JSON Lines and compressed outputs, the ratios and
output sizes of a group, and the probe that tells which features an optout binary was built with.

Run by ctest (bench_e2e_groups) as: /usr/bin/python3 -B bench/e2e/test_groups.py
"""
import csv
import gzip
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402

HEADER = ["record_id", "nhs_number", "notes"]
ROWS = [["1", "9434765919", ""],
        ["2", "4010232137", 'said "no", then yes'],
        ["3", "0123456789", "line one\nline two"],
        ["4", "6222625592", "back\\slash \t tab \x01 ctl é"]]
# One line per row (the CSV checks count lines as rows, as the benchmark's extracts have).
CSV_ROWS = [row for row in ROWS if "\n" not in row[2]]


def csv_text(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


class Temp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name: str, content) -> Path:
        path = self.path / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path


class JsonlRenderingTest(Temp):
    def test_one_compact_object_per_row_keys_in_header_order(self):
        lines = list(e2e.jsonl_lines([HEADER, *ROWS]))
        self.assertEqual(len(lines), len(ROWS))
        self.assertEqual(lines[0],
                         '{"record_id":"1","nhs_number":"9434765919","notes":""}\n')
        for line, row in zip(lines, ROWS):
            self.assertTrue(line.endswith("}\n"))
            self.assertEqual(line.count("\n"), 1, "a newline in a field is escaped")
            record = json.loads(line)
            self.assertEqual(list(record), HEADER)
            self.assertEqual(record, dict(zip(HEADER, row)))

    def test_same_spelling_as_json_dumps(self):
        # What DuckDB's FORMAT json writes too: no spaces, UTF-8 unescaped.
        for line, row in zip(e2e.jsonl_lines([HEADER, *ROWS]), ROWS):
            self.assertEqual(line, json.dumps(dict(zip(HEADER, row)), separators=(",", ":"),
                                              ensure_ascii=False) + "\n")

    def test_nothing_without_data_rows(self):
        self.assertEqual(list(e2e.jsonl_lines([])), [])
        self.assertEqual(list(e2e.jsonl_lines([HEADER])), [])

    def test_write_jsonl_reads_csv_quoting(self):
        extract = self.write("x.csv", csv_text([HEADER, *ROWS]))
        out = self.path / "x.jsonl"
        e2e.write_jsonl(extract, out)
        records = [json.loads(line) for line in out.read_bytes().splitlines()]
        self.assertEqual(records, [dict(zip(HEADER, row)) for row in ROWS])


class JsonlCheckTest(Temp):
    def setUp(self):
        super().setUp()
        self.lines = list(e2e.jsonl_lines([HEADER, *ROWS]))
        self.reference = e2e.Reference(self.write("ref.jsonl", "".join(self.lines)), jsonl=True)

    def check(self, lines) -> tuple:
        return e2e.check_output(self.write("out.jsonl", "".join(lines)), self.reference)

    def test_byte_identical_counts_every_line_as_a_row(self):
        self.assertEqual(self.check(self.lines), ("byte-identical", len(ROWS)))

    def test_other_order(self):
        self.assertEqual(self.check(self.lines[::-1]), ("same rows, other order", len(ROWS)))

    def test_respelt_records_are_the_same_rows(self):
        spaced = [json.dumps(dict(zip(HEADER, row)), ensure_ascii=True) + "\n" for row in ROWS]
        self.assertEqual(self.check(spaced), ("same rows (re-serialised)", len(ROWS)))
        self.assertEqual(self.check(spaced[::-1]),
                         ("same rows (re-serialised), other order", len(ROWS)))

    def test_missing_and_extra_rows_are_wrong(self):
        verdict, rows = self.check(self.lines[1:] + ['{"record_id":"9"}\n'])
        self.assertEqual(verdict, "wrong (2 rows differ: 1 missing, 1 extra)")
        self.assertEqual(rows, len(ROWS))

    def test_a_line_that_is_not_json_is_wrong(self):
        verdict, _ = self.check(self.lines[:-1] + ["not json\n"])
        self.assertTrue(verdict.startswith("wrong (2 rows differ"), verdict)


class CompressedCheckTest(Temp):
    def setUp(self):
        super().setUp()
        self.text = csv_text([HEADER, *CSV_ROWS]).encode()
        self.reference = e2e.Reference(self.write("ref.csv", self.text))

    def check(self, content: bytes) -> tuple:
        return e2e.check_compressed(self.write("out.csv.gz", content), ("gzip", "-dc"),
                                    self.reference, self.path / "scratch.csv")

    def test_gzip_of_the_reference_is_byte_identical(self):
        self.assertEqual(self.check(gzip.compress(self.text)),
                         ("byte-identical", len(CSV_ROWS)))
        self.assertFalse((self.path / "scratch.csv").exists())

    def test_multi_member_gzip(self):
        half = len(self.text) // 2
        members = gzip.compress(self.text[:half]) + gzip.compress(self.text[half:])
        self.assertEqual(self.check(members), ("byte-identical", len(CSV_ROWS)))

    def test_truncated_stream_is_wrong(self):
        verdict, rows = self.check(gzip.compress(self.text)[:-6])
        self.assertTrue(verdict.startswith("wrong (does not decompress with gzip -dc"), verdict)
        self.assertIsNone(rows)

    def test_different_rows_are_wrong(self):
        other = csv_text([HEADER, *CSV_ROWS[1:]]).encode()
        self.assertEqual(self.check(gzip.compress(other))[0],
                         "wrong (1 row differs: 1 missing, 0 extra)")


class RatiosTest(unittest.TestCase):
    def result(self, tool: e2e.Tool, median_s, output_bytes=None) -> e2e.Result:
        return e2e.Result("d", tool.name, tool.mode, tool.kind, tool.key, "", group=tool.group,
                          median_s=median_s, output_bytes=output_bytes)

    def test_gz_group_divides_by_the_igzip_floor_and_sizes_by_gzip_6(self):
        group = next(g for g in e2e.GROUPS if g.name == "gz")
        by_mode = {t.mode: t for t in group.tools}
        floor = self.result(by_mode["igzip -dc extract.gz | igzip -3 > copy.gz"], 1.0, 1200)
        optout = self.result(next(t for t in group.tools if t.kind == "optout"), 0.8, 1100)
        shell = self.result(by_mode["gzip -dc | optout | gzip"], 16.0, 1000)
        e2e.ratios(group, [floor, optout, shell])
        self.assertAlmostEqual(optout.ratio_floor, 0.8)
        self.assertAlmostEqual(shell.ratio_optout, 20.0)
        self.assertAlmostEqual(optout.size_ratio, 1.1)
        self.assertAlmostEqual(shell.size_ratio, 1.0)
        self.assertIsNone(floor.size_ratio, "a floor's output is the whole extract")

    def test_csv_rows_over_an_existing_file_divide_by_cat_over_one(self):
        group = e2e.GROUPS[0]
        by_mode = {t.mode: t for t in group.tools}
        new = self.result(by_mode["cat extract > copy"], 0.1)
        existing = self.result(by_mode["cat extract > existing copy"], 0.3)
        optout = self.result(e2e.OPTOUT_TOOLS[0], 0.2)
        over = self.result(next(t for t in e2e.OPTOUT_TOOLS if t.over_existing), 0.27)
        e2e.ratios(group, [new, existing, optout, over])
        self.assertAlmostEqual(optout.ratio_floor, 2.0)
        self.assertAlmostEqual(over.ratio_floor, 0.9)

    def test_not_built_optout_leaves_no_optout_ratio(self):
        group = next(g for g in e2e.GROUPS if g.name == "jsonl")
        floor = self.result(group.tools[0], 0.1)
        optout = self.result(next(t for t in group.tools if t.kind == "optout"), None)
        optout.status = "not built"
        peer = self.result(group.tools[-1], 5.0)
        e2e.ratios(group, [floor, optout, peer])
        self.assertIsNone(peer.ratio_optout)
        self.assertAlmostEqual(peer.ratio_floor, 50.0)

    def test_every_key_is_unique_and_groups_are_prefixed(self):
        keys = [t.key for g in e2e.GROUPS for t in g.tools]
        self.assertEqual(len(keys), len(set(keys)))
        self.assertTrue(all(t.key.startswith("gz-") for t in e2e.GZ_TOOLS))


class TargetsTest(unittest.TestCase):
    DATASET = "narrow, 5 M rows, 5 M-number list"

    def row(self, key: str, kind: str, median_s, output_bytes=None, status="ok",
            correctness="byte-identical") -> dict:
        return {"dataset": self.DATASET, "key": key, "kind": kind, "tool": key, "mode": key,
                "status": status, "detail": "", "median_s": median_s,
                "output_bytes": output_bytes, "correctness": correctness, "group": "gz",
                "peak_rss_bytes": 70 << 20}

    def report(self, *rows) -> dict:
        return {"machine": {"cores": 2}, "datasets": [{"name": self.DATASET}],
                "results": list(rows)}

    def test_gz_targets_met_and_not(self):
        rows = e2e.target_rows(self.report(
            self.row("gz-optout-file-file-2-threads", "optout", 0.9, 120),
            self.row("gz-floor-igzip-dc-extract-gz-igzip-3-copy-gz", "floor", 1.0, 140,
                     correctness=""),
            self.row("gz-shell-gzip-dc-optout-gzip", "pipeline", 18.0, 100)))
        verdicts = {what: (measured, verdict) for _, what, _, measured, verdict in rows}
        self.assertEqual(len(rows), 3)
        time = next(v for w, v in verdicts.items() if "igzip" in w)
        self.assertTrue(time[0].startswith("0.90×"))
        self.assertEqual(time[1], "met")
        size = next(v for w, v in verdicts.items() if "size" in w)
        self.assertTrue(size[0].startswith("1.20×"))
        self.assertEqual(size[1], "met")
        speedup = next(v for w, v in verdicts.items() if "speed-up" in w)
        self.assertTrue(speedup[0].startswith("20.0×"))
        self.assertEqual(speedup[1], "met")

    def test_missed_bound_and_wrong_output_are_said(self):
        rows = e2e.target_rows(self.report(
            self.row("gz-optout-file-file-2-threads", "optout", 1.5, 140,
                     correctness="wrong (1 row differs: 1 missing, 0 extra)"),
            self.row("gz-floor-igzip-dc-extract-gz-igzip-3-copy-gz", "floor", 1.0,
                     correctness="")))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][4], "not met (1.50× the bound); an output is not byte-identical")

    def test_not_built_is_not_measured(self):
        rows = e2e.target_rows(self.report(
            self.row("gz-optout-file-file-2-threads", "optout", None, status="not built"),
            self.row("gz-floor-igzip-dc-extract-gz-igzip-3-copy-gz", "floor", 1.0,
                     correctness="")))
        self.assertEqual(rows[0][3:], ("—", "not measured: gz-optout-file-file-2-threads "
                                             "not built"))

    def test_target_keys_name_real_tools(self):
        for _, num, den, *_ in e2e.TARGETS:
            for key in (num, den):
                self.assertIn(key.format(cores=e2e.CORES), e2e.ALL_TOOLS)


# A stand-in for optout: its `filter --help` names what FEATURES says, and `filter ... FILE`
# decompresses or compresses as the flags say. Which features it has comes from the environment.
FAKE_OPTOUT = textwrap.dedent('''\
    #!/usr/bin/python3
    import gzip, os, sys
    has = set(os.environ.get("FAKE_FEATURES", "").split(","))
    args = sys.argv[1:]
    if "--help" in args:
        print("Usage: optout filter [OPTIONS] [INPUT]")
        if "gzip-out" in has or "zstd-out" in has:
            print("  --compress TEXT   gzip|zstd|none")
        if "jsonl" in has:
            print("  --format TEXT     csv|jsonl")
        sys.exit(0)
    data = open(args[-1], "rb").read()
    if "--format" in args:
        sys.exit(0 if "jsonl" in has else 2)
    if data[:2] == b"\\x1f\\x8b":
        if "gzip-in" not in has:
            sys.exit(1)
        data = gzip.decompress(data)
    elif data[:4] == bytes.fromhex("28b52ffd"):
        if "zstd-in" not in has:
            sys.exit(1)
        data = b"nhs_number,x\\n"
    if "--compress" in args:
        codec = args[args.index("--compress") + 1]
        if codec + "-out" not in has:
            sys.exit(2)
        data = gzip.compress(data) if codec == "gzip" else bytes.fromhex("28b52ffd") + data
    sys.stdout.buffer.write(data)
''')


class ProbeFeaturesTest(Temp):
    def setUp(self):
        super().setUp()
        fake = self.write("optout", FAKE_OPTOUT)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        self.saved = e2e.OPTOUT, os.environ.get("FAKE_FEATURES")
        e2e.OPTOUT = fake

    def tearDown(self):
        e2e.OPTOUT = self.saved[0]
        if self.saved[1] is None:
            os.environ.pop("FAKE_FEATURES", None)
        else:
            os.environ["FAKE_FEATURES"] = self.saved[1]
        super().tearDown()

    def probe(self, features: str) -> set:
        os.environ["FAKE_FEATURES"] = features
        return e2e.probe_features(self.path / "registry", self.path)

    def test_nothing_built(self):
        self.assertEqual(self.probe(""), set())

    def test_everything_built(self):
        self.assertEqual(self.probe(",".join(e2e.FEATURES)), set(e2e.FEATURES))

    def test_each_feature_alone(self):
        for feature in e2e.FEATURES:
            with self.subTest(feature=feature):
                self.assertEqual(self.probe(feature), {feature})

    def test_probe_files_are_removed(self):
        self.probe(",".join(e2e.FEATURES))
        self.assertEqual(sorted(p.name for p in self.path.iterdir()), ["optout"])


if __name__ == "__main__":
    if not shutil.which("gzip"):
        print("gzip not installed", file=sys.stderr)
        sys.exit(1)
    unittest.main()
