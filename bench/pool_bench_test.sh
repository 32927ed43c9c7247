#!/usr/bin/env bash
# Runs the Pool benchmark on small sizes, Python's rows included, and checks
# its table and checksums; no timing is asserted.
set -euo pipefail
bin=$1
fail() { echo "$*" >&2; exit 1; }
out=$("$bin" --repeat=1 --calls=300 --map_calls=1000 --python) ||
  { echo "$out"; exit 1; }
echo "$out"
! grep -q WRONG <<<"$out" || fail "a checksum is wrong"
for row in "apply_async + get" "map, default chunksize" "imap_unordered" \
           "parallel_map, seed 004"; do
  line=$(grep -F "$row " <<<"$out" | head -n 1)
  [[ $line =~ [0-9.]+x$ ]] || fail "no ratio for $row"
done
grep -Eq "^Pool::map, .progress option " <<<"$out" || fail "no progress row"
grep -Eq "^Executor::map, cf::progress\(\) " <<<"$out" || fail "no adaptor row"
