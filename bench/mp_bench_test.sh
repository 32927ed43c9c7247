#!/usr/bin/env bash
# Runs the multiprocessing benchmark on small sizes, Python's rows included,
# and checks its table; no timing is asserted.
set -euo pipefail
bin=$1
fail() { echo "$*" >&2; exit 1; }
out=$("$bin" --repeat=1 --round_trips=400 --messages=4000 --increments=4000 \
      --python) || { echo "$out"; exit 1; }
echo "$out"
for row in "Pipe round trip" "Queue round trip" "Pipe messages/s" \
           "Queue messages/s" "Value \\+= 1 under lock"; do
  grep -Eq "^$row +[0-9.]+ .*[0-9.]+x$" <<<"$out" || fail "no ratio for $row"
done
grep -Eq "^Pipe round trip / bare socketpair round trip: [0-9.]+x" <<<"$out" ||
  fail "no Pipe/socketpair ratio"
