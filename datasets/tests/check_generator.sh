#!/bin/bash
# Checks optout-gen: determinism, validity of every number, exact counts, record counts, shares,
# dirty-mode coverage, exit codes, and that make-samples.sh reproduces the committed samples.
#
#   datasets/tests/check_generator.sh path/to/optout-gen path/to/datasets
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 path/to/optout-gen path/to/datasets" >&2
  exit 2
fi
gen=$1
datasets=$2
py=/usr/bin/python3
inspect="$py $datasets/tests/inspect_extract.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }

# A value within [lo, hi]?
within() { $py -c "import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(0 if lo <= v <= hi else 1)" "$@"; }

# Runs a command that must fail with the given exit status.
expect_status() {
  local want=$1
  shift
  local got=0
  "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  [ "$got" = "$want" ] || fail "exit $got, want $want: $*"
}

pop="--population 200000"

# --- determinism ------------------------------------------------------------------------------
"$gen" list --kind national $pop -o "$tmp/a.txt"
"$gen" list --kind national $pop --threads 1 -o "$tmp/b.txt"
cmp "$tmp/a.txt" "$tmp/b.txt" || fail "list differs between default threads and --threads 1"
"$gen" list --kind national $pop --seed 2 -o "$tmp/c.txt"
! cmp -s "$tmp/a.txt" "$tmp/c.txt" || fail "list identical for seeds 1 and 2"
"$gen" list --kind national $pop >"$tmp/stdout.txt"
cmp "$tmp/a.txt" "$tmp/stdout.txt" || fail "list differs between -o and stdout"
for width in narrow wide; do
  rows=$([ $width = narrow ] && echo 40000 || echo 3000)  # several chunks each
  "$gen" extract $pop --rows $rows --width $width --dirty -o "$tmp/x1.csv"
  "$gen" extract $pop --rows $rows --width $width --dirty --threads 1 -o "$tmp/x2.csv"
  "$gen" extract $pop --rows $rows --width $width --dirty --threads 3 -o "$tmp/x3.csv"
  cmp "$tmp/x1.csv" "$tmp/x2.csv" || fail "$width extract differs with --threads 1"
  cmp "$tmp/x1.csv" "$tmp/x3.csv" || fail "$width extract differs with --threads 3"
  "$gen" extract $pop --rows $rows --width $width --dirty --seed 2 -o "$tmp/x4.csv"
  ! cmp -s "$tmp/x1.csv" "$tmp/x4.csv" || fail "$width extract identical for seeds 1 and 2"
done
pass "determinism"

# --- every number valid, distinct; counts exact --------------------------------------------------
n=$("$gen" validate --unique "$tmp/a.txt")
[ "$n" = "$(wc -l <"$tmp/a.txt")" ] || fail "validate counted $n numbers"
within "$n" 9600 10400 || fail "national list of 200 000 patients has $n numbers"
"$gen" list --kind type1 $pop -o "$tmp/t1.txt"
"$gen" validate --unique "$tmp/t1.txt" >/dev/null || fail "type1 list invalid"
n1=$(wc -l <"$tmp/t1.txt")
within "$n1" 6600 7400 || fail "type1 list of 200 000 patients has $n1 numbers"
both=$(comm -12 <(sort "$tmp/a.txt") <(sort "$tmp/t1.txt") | wc -l)
within "$($py -c "print($both / $n1)")" 0.36 0.44 || fail "type1/national overlap $both of $n1"
"$gen" allow $pop --patients 50000 -o "$tmp/allow.dat"
"$gen" validate --unique "$tmp/allow.dat" >/dev/null || fail "allow list invalid"
grep -qv ',$' "$tmp/allow.dat" && fail ".dat line without a trailing comma"
"$gen" allow $pop --patients 1000 --crlf -o "$tmp/allow_crlf.dat"
[ "$(grep -c $',\r$' "$tmp/allow_crlf.dat")" = "$(wc -l <"$tmp/allow_crlf.dat")" ] || fail "--crlf .dat lines"
"$gen" validate "$tmp/allow_crlf.dat" >/dev/null || fail "CRLF .dat list invalid"
for count in 0 1 1234 65536 65537; do
  "$gen" list --kind national $pop --count $count -o "$tmp/n.txt" 2>/dev/null
  [ "$(wc -l <"$tmp/n.txt")" = "$count" ] || fail "--count $count gave $(wc -l <"$tmp/n.txt") lines"
  [ "$count" = 0 ] || "$gen" validate --unique "$tmp/n.txt" >/dev/null || fail "--count $count list invalid"
done
# --count N below the rate's expectation: a prefix of the full list.
"$gen" list --kind national $pop --count 1234 -o "$tmp/n.txt"
cmp "$tmp/n.txt" <(head -n 1234 "$tmp/a.txt") || fail "--count 1234 is not a prefix of the list"
# Above it: the rate is raised (and said on stderr); 9 000 of 10 000 and 3 000 of 1 000 patients.
"$gen" list --kind national --population 10000 --count 9000 -o "$tmp/n.txt" 2>"$tmp/err"
grep -q "raised --national-rate to 0.9" "$tmp/err" || fail "no note about the raised rate"
[ "$("$gen" validate --unique "$tmp/n.txt")" = 9000 ] || fail "--count 9000 of 10 000"
"$gen" list --kind type1 --population 1000 --count 3000 -o "$tmp/n.txt" 2>/dev/null
[ "$("$gen" validate --unique "$tmp/n.txt")" = 3000 ] || fail "--count 3000 of 1 000"
pass "validity and counts"

# --- validate rejects bad lists, without printing numbers ------------------------------------------
printf '9434765919\n9434765918\n943476591\n' >"$tmp/bad.txt"
expect_status 1 "$gen" validate "$tmp/bad.txt"
grep -q "bad.txt:2: wrong check digit" "$tmp/err" || fail "validate message: $(cat "$tmp/err")"
grep -q "bad.txt:3: wrong length" "$tmp/err" || fail "validate message: $(cat "$tmp/err")"
grep -Eq '[0-9]{9}' "$tmp/err" && fail "validate printed an NHS number"
printf '9434765919,\n9434765919,\n' >"$tmp/dup.dat"
"$gen" validate "$tmp/dup.dat" >/dev/null || fail "duplicates rejected without --unique"
expect_status 1 "$gen" validate --unique "$tmp/dup.dat"
expect_status 1 "$gen" validate "$tmp/does-not-exist"
pass "validate"

# --- usage errors exit 2, help exits 0 -------------------------------------------------------------
expect_status 2 "$gen"
expect_status 2 "$gen" list --kind nope
expect_status 2 "$gen" extract
expect_status 2 "$gen" extract --rows 10 --optout-share 1.5
expect_status 2 "$gen" list --population 0
expect_status 2 "$gen" allow --population 100 --patients 101
expect_status 2 "$gen" extract --population 10 --national-rate 0 --optout-share 0.5 --rows 5
expect_status 0 "$gen" --help
grep -q "optout-gen" "$tmp/out" || fail "--help not on stdout"
expect_status 0 "$gen" extract --help
grep -q -- "--dirty" "$tmp/out" || fail "extract --help lacks --dirty"
pass "exit codes"

# --- extracts: record counts, field counts, shares --------------------------------------------------
for args in "--rows 0" "--rows 1" "--rows 16385" "--rows 16385 --dirty" "--rows 1025 --width wide" \
            "--rows 1025 --width wide --dirty" "--rows 5000 --crlf"; do
  rows=$(echo "$args" | awk '{print $2}')
  "$gen" extract $pop $args -o "$tmp/e.csv"
  got=$($inspect records "$tmp/e.csv") || fail "extract $args: $got"
  [ "$got" = "$rows" ] || fail "extract $args has $got records"
done
for delimiter in '|' ';' tab; do
  "$gen" extract $pop --rows 3000 --dirty --delimiter "$delimiter" -o "$tmp/e.csv"
  got=$($inspect records "$tmp/e.csv" --delimiter "$delimiter") || fail "--delimiter $delimiter: $got"
  [ "$got" = 3000 ] || fail "--delimiter $delimiter has $got records"
done
"$gen" extract $pop --rows 20000 -o "$tmp/e.csv"
share=$($inspect share "$tmp/e.csv" "$tmp/a.txt")
within "$share" 0.044 0.056 || fail "default national share $share"
share=$($inspect share "$tmp/e.csv" "$tmp/t1.txt")
within "$share" 0.030 0.040 || fail "type1 share $share"
"$gen" extract $pop --rows 20000 --optout-share 0.3 -o "$tmp/e.csv"
share=$($inspect share "$tmp/e.csv" "$tmp/a.txt")
within "$share" 0.285 0.315 || fail "--optout-share 0.3 gave $share"
"$gen" extract $pop --rows 3000 --width wide --optout-share 0.5 -o "$tmp/e.csv"
share=$($inspect share "$tmp/e.csv" "$tmp/a.txt")
within "$share" 0.46 0.54 || fail "wide --optout-share 0.5 gave $share"
# The national list and the Check service's reply for the same patients split the extract exactly.
"$gen" extract $pop --patients 50000 --rows 5000 -o "$tmp/e.csv"
$inspect partition "$tmp/e.csv" "$tmp/a.txt" "$tmp/allow.dat" >/dev/null || fail "deny/allow partition"
pass "extracts"

# --- dirty mode: every kind of mess, still RFC 4180 --------------------------------------------------
"$gen" extract $pop --rows 20000 --dirty -o "$tmp/d.csv"
$inspect dirty "$tmp/d.csv" >"$tmp/kinds" || fail "narrow dirty: $(tail -1 "$tmp/kinds")"
"$gen" extract $pop --rows 3000 --dirty --width wide -o "$tmp/d.csv"
$inspect dirty "$tmp/d.csv" >"$tmp/kinds" || fail "wide dirty: $(tail -1 "$tmp/kinds")"
$inspect dirty "$datasets/samples/extract_dirty.csv" >"$tmp/kinds" || fail "sample extract_dirty.csv"
pass "dirty mode"

# --- the committed samples are exactly what make-samples.sh makes -----------------------------------
"$datasets/make-samples.sh" "$gen" "$tmp/samples"
for f in "$tmp"/samples/*; do
  cmp "$f" "$datasets/samples/$(basename "$f")" || fail "samples/$(basename "$f") is not reproduced"
done
for f in "$datasets"/samples/*; do
  name=$(basename "$f")
  [ "$name" = README.md ] || [ -e "$tmp/samples/$name" ] || fail "samples/$name is not made by make-samples.sh"
done
pass "samples reproduced"
