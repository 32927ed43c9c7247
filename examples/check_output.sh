#!/usr/bin/env bash
# Runs an example and checks its standard output line by line: line N must
# match line N of the expected file, an extended regular expression matched
# against the whole line. The example's own exit code must be 0 too.
set -uo pipefail
bin=$1
expected=$2
out=$("$bin") || { echo "$out"; echo "FAIL: $bin exited with $?" >&2; exit 1; }
echo "$out"
mapfile -t got <<<"$out"
mapfile -t want <"$expected"
# $(...) drops the output's trailing newlines: so do we for the expected.
while ((${#want[@]} > 0)) && [[ -z ${want[-1]} ]]; do unset 'want[-1]'; done
if [[ ${#got[@]} != "${#want[@]}" ]]; then
  echo "FAIL: ${#got[@]} lines of output, expected ${#want[@]}" >&2
  exit 1
fi
for i in "${!want[@]}"; do
  if ! [[ ${got[$i]} =~ ^${want[$i]}$ ]]; then
    echo "FAIL: line $((i + 1)): '${got[$i]}' does not match '${want[$i]}'" >&2
    exit 1
  fi
done
echo "output matches $expected"
