#!/usr/bin/env bash
# Builds frame_fuzz.cc as a libFuzzer binary with clang (Bazel's toolchain is
# gcc, which has no libFuzzer) under ASan+UBSan, and fuzzes FrameDecoder from
# a seed corpus of valid streams. Fails on any crash, leak, timeout or
# sanitizer report; the offending input is kept in the test's outputs
# (bazel-testlogs/tests/frame/frame_fuzz_test/test.outputs/).
#
# usage: frame_fuzz_test.sh SEED_WRITER [SECONDS]
set -euo pipefail

seed_writer=$1 seconds=${2:-20}
work=${TEST_TMPDIR:-$(mktemp -d)}/fuzz
artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/
mkdir -p "$work/seeds" "$work/corpus"

for tool in clang++-14 pkg-config; do
  command -v "$tool" >/dev/null ||
    { echo "$tool not found; run ./bazelw, which installs it" >&2; exit 1; }
done

# The sources are in the runfiles tree, which is the working directory.
clang++-14 -std=c++20 -O1 -g -Wall -Wextra -I. \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  executors/transport/frame.cc tests/frame/frame_fuzz.cc \
  -o "$work/frame_fuzz" \
  $(pkg-config --libs absl_status absl_statusor absl_strings) -lsodium

"$seed_writer" "$work/seeds"

# New inputs go to corpus/ (first directory); seeds/ is only read.
status=0
"$work/frame_fuzz" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
  "$work/corpus" "$work/seeds" >"$work/log" 2>&1 || status=$?
# The start, the last progress line and the summary, not every new input.
grep -E '^(INFO|#[0-9]+[[:space:]]+DONE|Done|stat::)|ERROR|SUMMARY|check failed' \
  "$work/log" | grep -v '^INFO: Seed' || true
if ((status != 0)); then
  echo "--- fuzzer failed (exit $status); its log:" >&2
  tail -n 60 "$work/log" >&2
  exit 1
fi
