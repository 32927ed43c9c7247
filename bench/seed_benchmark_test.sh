#!/usr/bin/env bash
# Runs the main benchmark's every code path on a small range (the seed's
# full range too, once), checks its checksums, its table and its JSON; no
# timing is asserted.
set -euo pipefail
bin=$1
out=$("$bin" --first=9990 --last=10000 --repeat=2 --workers=2 \
      --json="$TEST_TMPDIR/r.json" --python) || { echo "$out"; exit 1; }
echo "$out"
for mode in serial ThreadPoolExecutor ProcessPoolExecutor; do
  grep -Eq "^C\+\+ +$mode " <<<"$out" || { echo "no C++ $mode row" >&2; exit 1; }
  grep -Eq "^Python +$mode " <<<"$out" || { echo "no Python $mode row" >&2; exit 1; }
done
! grep -q WRONG <<<"$out"
grep -q '"checksum_ok": true' "$TEST_TMPDIR/r.json"
! grep -q '"checksum_ok": false' "$TEST_TMPDIR/r.json"
full=$("$bin" --repeat=1 --workers=2)
echo "$full"
[[ $(grep -c ' 881411$' <<<"$full") == 3 ]] || { echo "checksum 881411 missing" >&2; exit 1; }
