// The grain sweep: how much CPU a task must cost before a thread pool, and a
// process pool (chunksize 1 and chunked), beat a serial loop, measured on a
// ladder of task costs from microseconds to milliseconds.
//
// The one thing to know: a task's cost is a calibrated busy loop (calibrated
// once per run against this thread's CPU clock, then measured again on every
// grain), and the pools are started before the clock runs, so a speedup here
// is per-task overhead and parallelism only, not pool start-up.
#ifndef CF_BENCH_SWEEP_H_
#define CF_BENCH_SWEEP_H_

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace cf_bench {

// The sweep's task: `iterations` steps of a dependent arithmetic chain seeded
// with `seed`. `payload` crosses to the worker (and is serialized on the way
// to a process pool); the task only reads its size, so it costs no CPU here.
std::uint64_t SpinTask(int seed, std::uint64_t iterations,
                       const std::string& payload);

// CPU nanoseconds per SpinTask iteration on this thread: the least of a few
// timed runs, the one least disturbed by other processes.
double CalibrateNsPerIteration();

struct SweepOptions {
  std::vector<double> grains_us = {1, 3, 10, 30, 100, 300, 1000, 3000, 10000};
  int workers = 2;
  int payload_bytes = 0;
  int repeat = 3;
  // Each grain runs about this much serial CPU (work_ms / grain tasks),
  // within [4 * workers, max_tasks] tasks.
  double work_ms = 200;
  int max_tasks = 10000;
  // The chunked process pool's chunksize; 0: tasks / (4 * workers), so each
  // worker gets about four chunks.
  int chunksize = 0;
};

// kStaticSplit is the machine's own ceiling at each grain, no pool: one
// std::thread per worker started in the timed region, each running its
// contiguous share of the tasks.
enum SweepMode {
  kSerial,
  kThreads,
  kProcesses,
  kProcessesChunked,
  kStaticSplit,
  kNumModes
};

// "ThreadPoolExecutor", ... for tables and the chart.
const char* SweepModeLabel(int mode);
// "thread", ... for JSON keys.
const char* SweepModeKey(int mode);

struct SweepPoint {
  double grain_us = 0;     // asked for
  double measured_us = 0;  // serial CPU time per task, measured (median)
  int tasks = 0;
  int chunksize = 1;       // of kProcessesChunked
  std::array<double, kNumModes> median_s = {};
  bool checksum_ok = true;  // every mode's sum of results equals serial's

  double speedup(int mode) const {
    return median_s[kSerial] / median_s[mode];
  }
};

struct SweepResult {
  SweepOptions options;
  double ns_per_iteration = 0;
  std::vector<SweepPoint> points;

  // The smallest grain from which `mode` beats serial (speedup > 1) on it
  // and on every larger grain of the ladder; nullopt: never in range.
  std::optional<double> Crossover(int mode) const;
  bool checksums_ok() const;
};

SweepResult RunSweep(const SweepOptions& options);

// "1 µs", "300 µs", "1 ms", ...
std::string FormatGrain(double us);

void PrintSweep(const SweepResult& result, std::ostream& out);
// A JSON object (no trailing newline).
std::string SweepJson(const SweepResult& result);
// Speedup vs. grain, one polyline per executor mode.
std::string SweepSvg(const SweepResult& result);

}  // namespace cf_bench

#endif  // CF_BENCH_SWEEP_H_
