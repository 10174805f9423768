#!/bin/sh
# Regenerates the committed samples in datasets/samples/ byte for byte.
#
#   datasets/make-samples.sh path/to/optout-gen [OUTDIR]
#
# OUTDIR defaults to datasets/samples next to this script. Every sample comes from one population
# (seed 1, 60 000 patients, the default 5% national and 3.5% type 1 rates): the lists cover all of
# it, the extracts and the Check-service reply the first 2 000 patients, so the deny lists remove
# a visible share of the extract rows and cleared.dat keeps exactly the others.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 path/to/optout-gen [OUTDIR]" >&2
  exit 2
fi
gen=$1
out=${2:-$(dirname "$0")/samples}
mkdir -p "$out"

population="--seed 1 --population 60000"
slice="--patients 2000"

"$gen" list --kind national $population -o "$out/national.txt"
"$gen" list --kind type1 $population -o "$out/type1.txt"
"$gen" allow $population $slice -o "$out/cleared.dat"
"$gen" extract $population $slice --rows 2000 -o "$out/extract_narrow.csv"
"$gen" extract $population $slice --rows 2000 --dirty -o "$out/extract_dirty.csv"
"$gen" extract $population $slice --rows 100 --width wide -o "$out/extract_wide.csv"
