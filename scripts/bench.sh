#!/usr/bin/env bash
# The end-to-end benchmark (bench/README.md, "End-to-end benchmark"): installs what it needs
# (Debian packages with scripts/install-deps.sh bench; the npm peers are pinned by
# bench/e2e/peers/package-lock.json and installed by the benchmark with npm ci), builds optout
# and optout-gen in Release, then runs bench/e2e/e2e.py.
# Usage: scripts/bench.sh [smoke|quick|full] [e2e.py run options, e.g. --out DIR]  (default: quick)
# BUILD_DIR (default build) and CMAKE_ARGS may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-quick}
shift || true
scripts/install-deps.sh bench
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)" --target optout optout_gen
exec /usr/bin/python3 -B bench/e2e/e2e.py run --mode "$mode" --build-dir "$build" "$@"
