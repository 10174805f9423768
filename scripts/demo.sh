#!/usr/bin/env bash
# The demo: installs the build dependencies, builds optout, and runs its main job on the small
# committed samples: build a registry from two opt-out lists, strip an extract, show the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
build=${BUILD_DIR:-build-demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DOPTOUT_BUILD_TESTS=OFF \
      -DOPTOUT_BUILD_BENCHMARKS=OFF -DOPTOUT_BUILD_BINDINGS=OFF > "$build.configure.log"
cmake --build "$build" -j"$(nproc)" --target optout > "$build.build.log"
optout="$build/engine/cli/optout"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
samples=datasets/samples

echo "== optout build: two deny lists -> one registry snapshot"
"$optout" build --list national="$samples/national.txt" --list type1="$samples/type1.txt" \
  --description "demo: synthetic national + type1 lists" -o "$out/registry.optout"
echo
echo "== optout info"
"$optout" info "$out/registry.optout"
echo
echo "== optout filter: strip opted-out patients from a 2000-row extract"
"$optout" filter --registry "$out/registry.optout" --column nhs_number \
  "$samples/extract_narrow.csv" -o "$out/clean.csv" --stats "$out/stats.json"
echo "stats: $(cat "$out/stats.json")"
echo
echo "== the same as a pipeline stage, on a messy extract (bad numbers are rejected, never released)"
"$optout" filter --registry "$out/registry.optout" --column nhs_number --rejects "$out/rejects.csv" \
  < "$samples/extract_dirty.csv" > "$out/clean-dirty.csv"
echo
echo "== optout numbers: the distinct valid numbers to send to the national opt-out check"
"$optout" numbers --column nhs_number --format mesh "$samples/extract_dirty.csv" -o "$out/check.dat"
echo "first lines of the .dat file: $(head -c 24 "$out/check.dat" | tr '\n' ' ')..."
