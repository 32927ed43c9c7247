#!/usr/bin/env bash
# Runs the main benchmark's every code path on a small range (the seed's
# full range too, once), checks its checksums, its table, its peer rows, its
# grain sweep, chart and JSON; no timing is asserted.
set -euo pipefail
bin=$1
fail() { echo "$*" >&2; exit 1; }

# As under `bazel run`: relative output paths land where bazel was started.
wd=$TEST_TMPDIR/wd
mkdir -p "$wd"
out=$(BUILD_WORKING_DIRECTORY=$wd "$bin" --first=9990 --last=10000 \
      --repeat=2 --workers=2 --json=r.json --python --overhead_tasks=200 \
      --sweep --sweep_grains_us=1,100 --sweep_repeat=1 --sweep_work_ms=2 \
      --sweep_max_tasks=200 --payload_bytes=100) || { echo "$out"; exit 1; }
echo "$out"
for mode in serial ThreadPoolExecutor ProcessPoolExecutor; do
  grep -Eq "^C\+\+ +$mode " <<<"$out" || fail "no C++ $mode row"
  grep -Eq "^Python +$mode " <<<"$out" || fail "no Python $mode row"
done
for peer in std::async asio::thread_pool tbb::task_group; do
  grep -Eq "^C\+\+ +$peer " <<<"$out" || fail "no $peer row"
  grep -Eq "^$peer +[0-9]+ " <<<"$out" || fail "no $peer overhead row"
done
grep -Eq "^cf::ThreadPoolExecutor +[0-9]+ " <<<"$out" || fail "no cf overhead row"
! grep -q WRONG <<<"$out"
# The sweep's table: one line per grain, and a crossover line per pool.
grep -Eq "^ +1 µs .* ok$" <<<"$out" || fail "no 1 µs sweep line"
grep -Eq "^ +100 µs .* ok$" <<<"$out" || fail "no 100 µs sweep line"
for mode in ThreadPoolExecutor "ProcessPoolExecutor chunksize=1" \
            "ProcessPoolExecutor chunked" "std::thread static split"; do
  grep -Eq "^  $mode +([0-9]+ (µs|ms)|never in range)$" <<<"$out" ||
    fail "no crossover for $mode"
done
# A table printed once: forked workers must not print the parent's buffer.
[[ $(grep -c '^language ' <<<"$out") == 1 ]] || fail "the table is repeated"

svg=$wd/sweep.svg
[[ -s $svg ]] || fail "no $svg"
[[ $(head -c 4 "$svg") == "<svg" ]] || fail "$svg does not start with <svg"
[[ $(tail -n 1 "$svg") == "</svg>" ]] || fail "$svg does not end with </svg>"
[[ $(grep -c '<polyline ' "$svg") == 4 ]] || fail "$svg: not 4 polylines"
for name in ThreadPoolExecutor "ProcessPool, chunksize 1" \
            "ProcessPool, chunked" "std::thread static split"; do
  grep -q ">$name</text>" "$svg" || fail "$svg: no legend for $name"
done

json=$wd/r.json
python3 - "$json" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
rows = {(r["language"], r["mode"]): r for r in data["rows"]}
for mode in ["serial", "ThreadPoolExecutor", "ProcessPoolExecutor",
             "std::async", "asio::thread_pool", "tbb::task_group"]:
    assert rows[("C++", mode)]["checksum_ok"], mode
assert all(r["checksum_ok"] for r in data["rows"])
assert [o["pool"] for o in data["overhead"]][0] == "cf::ThreadPoolExecutor"
assert all(o["checksum_ok"] and o["tasks_per_s"] > 0 for o in data["overhead"])
sweep = data["sweep"]
assert [p["grain_us"] for p in sweep["points"]] == [1, 100], sweep
for p in sweep["points"]:
    assert p["checksum_ok"]
    for key in ["serial_s", "thread_s", "process_chunksize_1_s",
                "process_chunked_s", "static_split_s", "thread_speedup",
                "static_split_speedup"]:
        assert p[key] > 0, key
assert sweep["payload_bytes"] == 100
assert set(sweep["crossover_us"]) == {"thread", "process_chunksize_1",
                                      "process_chunked", "static_split"}
print("JSON ok")
EOF

# --svg without --sweep is a usage error.
if "$bin" --svg=x.svg --repeat=1 --peers=false >/dev/null 2>&1; then
  fail "--svg without --sweep was accepted"
fi

full=$("$bin" --repeat=1 --workers=2 --overhead_tasks=100)
echo "$full"
[[ $(grep -c ' 881411$' <<<"$full") == 6 ]] || fail "checksum 881411 missing"
