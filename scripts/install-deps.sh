#!/usr/bin/env bash
# Installs the Debian packages optout needs to build and test. Idempotent: quiet and quick when
# everything is already there.
# Usage: scripts/install-deps.sh [build|test|coverage|bench|all]  (default: test)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config git
            libtbb-dev libroaring-dev libxxhash-dev libcli11-dev nlohmann-json3-dev libssl-dev
            libisal-dev libzstd-dev libarchive-dev libsimdjson-dev)
test_pkgs=(zlib1g-dev libdeflate-dev pigz zstd libgtest-dev libgmock-dev libbenchmark-dev clang-14 clang-format-14 libfuzzer-14-dev libclang-rt-14-dev
           pybind11-dev python3-dev python3-numpy python3-pandas python3-dask python3-distributed
           python3-pytest python3-hypothesis golang-go golang-github-roaringbitmap-roaring-dev)
# Node.js and npm (for the npm benchmark peers) come with the machine image, not from Debian.
bench_pkgs=(miller sqlite3 gawk time gnuplot-nox isal pigz zstd)
coverage_pkgs=(gcovr)  # scripts/coverage.sh

case "${1:-test}" in
  build) want=("${build_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  coverage) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${coverage_pkgs[@]}") ;;
  bench) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  all) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${coverage_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|coverage|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
