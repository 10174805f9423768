"""Tests of `e2e.py compare`, the release regression check: exit 0 when no figure got worse by
more than the threshold, 1 when one did, 2 when the files cannot be compared.

Run by ctest (bench_e2e_compare) as: /usr/bin/python3 -B bench/e2e/test_compare.py
"""
import copy
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

E2E = Path(__file__).resolve().parent / "e2e.py"
DATASET = "narrow, 5 M rows, 5 M-number list"


def result(tool: str, key: str, kind: str, median_s: float, peak_mib: int,
           correctness: str = "byte-identical") -> dict:
    """One row of results.json, with the fields compare reads."""
    return {"dataset": DATASET, "tool": tool, "mode": key, "kind": kind, "key": key,
            "status": "ok", "detail": "", "median_s": median_s,
            "peak_rss_bytes": peak_mib << 20, "correctness": correctness}


BASELINE = {"schema": 1, "mode": "full", "results": [
    result("optout", "optout-file-file-2-threads", "optout", 0.500, 67),
    result("optout", "optout-cat-optout-cat-2-threads", "optout", 0.400, 66),
    result("DuckDB", "duckdb-anti-join", "peer", 15.0, 900, "same rows, other order"),
]}


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.old = self.write("old.json", BASELINE)

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name: str, report: dict) -> Path:
        path = Path(self.dir.name) / name
        path.write_text(json.dumps(report))
        return path

    def changed(self, index: int, **fields) -> Path:
        report = copy.deepcopy(BASELINE)
        report["results"][index].update(fields)
        return self.write("new.json", report)

    def compare(self, new: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-B", str(E2E), "compare", str(self.old),
                               str(new), *extra], capture_output=True, text=True)

    def assert_exit(self, done: subprocess.CompletedProcess, code: int) -> None:
        self.assertEqual(done.returncode, code, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")

    def test_same_figures_pass(self):
        done = self.compare(self.write("new.json", BASELINE))
        self.assert_exit(done, 0)
        self.assertIn("no figure worse by more than 10 %", done.stdout)

    def test_slower_within_threshold_passes(self):
        self.assert_exit(self.compare(self.changed(0, median_s=0.540)), 0)  # +8 %

    def test_faster_passes(self):
        self.assert_exit(self.compare(self.changed(0, median_s=0.300)), 0)

    def test_slower_past_threshold_fails_and_names_the_figure(self):
        done = self.compare(self.changed(0, median_s=0.600))  # +20 %
        self.assert_exit(done, 1)
        line = next(l for l in done.stdout.splitlines() if "WORSE" in l)
        self.assertIn("wall median", line)
        self.assertIn("+20.0 %", line)

    def test_threshold_option(self):
        self.assert_exit(self.compare(self.changed(0, median_s=0.600), "--threshold", "25"), 0)
        self.assert_exit(self.compare(self.changed(0, median_s=0.540), "--threshold", "5"), 1)

    def test_more_memory_fails(self):
        done = self.compare(self.changed(1, peak_rss_bytes=80 << 20))
        self.assert_exit(done, 1)
        self.assertIn("peak memory", next(l for l in done.stdout.splitlines() if "WORSE" in l))

    def test_wrong_output_fails(self):
        wrong = "wrong (3 rows differ: 3 missing, 0 extra)"
        self.assert_exit(self.compare(self.changed(0, correctness=wrong)), 1)

    def test_run_that_no_longer_finishes_fails(self):
        done = self.compare(self.changed(0, status="timeout", detail="timed out after 300 s",
                                         median_s=None, peak_rss_bytes=None))
        self.assert_exit(done, 1)
        self.assertIn("timed out after 300 s", done.stdout)

    def test_peers_are_compared_only_with_all(self):
        slower_peer = self.changed(2, median_s=30.0)
        self.assert_exit(self.compare(slower_peer), 0)
        self.assert_exit(self.compare(slower_peer, "--all"), 1)

    def test_unreadable_file_is_a_usage_error(self):
        self.assert_exit(self.compare(Path(self.dir.name) / "missing.json"), 2)

    def test_nothing_in_common_is_a_usage_error(self):
        other = copy.deepcopy(BASELINE)
        for r in other["results"]:
            r["dataset"] = "wide, 1 M rows, 5 M-number list"
        self.assert_exit(self.compare(self.write("new.json", other)), 2)


if __name__ == "__main__":
    unittest.main()
