#!/usr/bin/env bash
# Line and branch coverage of engine/ and bindings/ by every ctest test (C++, CLI, C API, Python,
# Dask), with Debian's gcovr. Builds with --coverage (-DOPTOUT_COVERAGE=ON, Debug: -O0, so that
# lines map to code) into its own build dir, runs ctest, prints the summary and the ten
# least-covered files, and writes the reports into the build dir:
#   BUILD/coverage/index.html (per-file, per-line HTML), BUILD/coverage.txt, BUILD/coverage.json.
# tests/, bench/, datasets/ and the bindings' tests are not counted.
#
# Branches: g++ gives every call that may throw an exception edge, and inlined library code
# unreachable ones; --exclude-throw-branches and --exclude-unreachable-branches leave those out, so
# the branch figure counts the code's own decisions.
#
# BUILD_DIR (default build-cov), CMAKE_ARGS and CTEST_ARGS may be set. Exits non-zero when a test
# failed (after writing the report). Not part of .ci/run: ~3x the time of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh coverage
build=${BUILD_DIR:-build-cov}
root=$PWD

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DOPTOUT_COVERAGE=ON -DOPTOUT_BUILD_BENCHMARKS=OFF \
  ${CMAKE_ARGS:-} > "$build.configure.log"
cmake --build "$build" -j"$(nproc)"
find "$build" -name '*.gcda' -delete  # this run's counts only
status=0
# libgcov's own complaints (a test that caps the file size also caps the .gcda writes) go to a
# file, not into the stderr the tests compare. The install test links an uninstrumented consumer
# against the instrumented library, which cannot link; it covers packaging, not engine code.
GCOV_ERROR_FILE="$(cd "$build" && pwd)/gcov-errors.log" \
  ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -E install_find_package ${CTEST_ARGS:-} || status=$?

mkdir -p "$build/coverage"
gcovr --root "$root" --object-directory "$build" -j"$(nproc)" \
  --filter "$root/engine/" --filter "$root/bindings/" \
  --exclude "$root/.*/tests/" --exclude "$root/tests/" --exclude "$root/bench/" --exclude "$root/datasets/" \
  --exclude-throw-branches --exclude-unreachable-branches --gcov-ignore-parse-errors \
  --print-summary --txt "$build/coverage.txt" --json-summary-pretty --json-summary "$build/coverage.json" \
  --html-details "$build/coverage/index.html"

echo "by part:"
/usr/bin/python3 - "$build/coverage.json" <<'EOF'
import json, sys
files = json.load(open(sys.argv[1]))["files"]
percent = lambda covered, total: 100.0 * covered / total if total else 100.0
for name in ("engine/", "bindings/"):
    part = [f for f in files if f["filename"].startswith(name)]
    lines, branches = [sum(f[k] for f in part) for k in ("line_covered", "line_total")], \
                      [sum(f[k] for f in part) for k in ("branch_covered", "branch_total")]
    print(f"  {name:48} {lines[0]:5}/{lines[1]:<5} lines {percent(*lines):5.1f}%"
          f"  {branches[0]:5}/{branches[1]:<5} branches {percent(*branches):5.1f}%")
print("least-covered files (lines, branches):")
key = lambda f: (percent(f["line_covered"], f["line_total"]), percent(f["branch_covered"], f["branch_total"]))
for f in sorted(files, key=key)[:10]:
    print(f"  {f['filename']:48} {f['line_covered']:5}/{f['line_total']:<5} lines {key(f)[0]:5.1f}%"
          f"  {f['branch_covered']:5}/{f['branch_total']:<5} branches {key(f)[1]:5.1f}%")
EOF
echo "reports: $build/coverage/index.html $build/coverage.txt $build/coverage.json"
exit "$status"
