#!/usr/bin/env bash
# Builds optout with everything (library, CLI, tests, benchmarks, generator) and runs every test
# with ctest. Installs what it needs first. BUILD_DIR, BUILD_TYPE and CMAKE_ARGS may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" ${CTEST_ARGS:-}
