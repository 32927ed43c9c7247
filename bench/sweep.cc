// The grain sweep's measurement, table, JSON and chart. Every mode runs the
// same SpinTask calls; the pools run them through one function taking a
// cf::Executor&, as the seed benchmark does.
#include "bench/sweep.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <ostream>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/svg_chart.h"
#include "cf.h"

namespace cf_bench {
namespace {

// A xorshift64 chain: each step needs the previous one, so the compiler can
// neither vectorize nor shorten the loop, and its cost is linear in steps.
std::uint64_t Spin(std::uint64_t x, std::uint64_t iterations) {
  for (std::uint64_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

// CPU time, not wall time: the calibration must not count the time other
// processes on this shared machine take the core away.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The seed benchmark's `executor.map(...)` and sum, on SpinTask.
std::uint64_t MapSum(cf::Executor& executor, int tasks,
                     std::uint64_t iterations, const std::string& payload,
                     int chunksize) {
  auto seeds = std::views::iota(0, tasks);
  // Views rather than vectors: tasks copies of a large payload would not fit.
  auto steps = seeds | std::views::transform([iterations](int) {
                 return iterations;
               });
  auto payloads =
      seeds | std::views::transform([&payload](int) { return payload; });
  std::uint64_t sum = 0;
  for (std::uint64_t r :
       executor.map(SpinTask, seeds, steps, payloads, {.chunksize = chunksize})) {
    sum += r;
  }
  return sum;
}

// No pool: `workers` threads, each summing its contiguous share of tasks.
std::uint64_t StaticSplitSum(int workers, int tasks, std::uint64_t iterations,
                             const std::string& payload) {
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(workers));
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::uint64_t sum = 0;
      for (int i = tasks * w / workers; i < tasks * (w + 1) / workers; ++i) {
        sum += SpinTask(i, iterations, payload);
      }
      sums[static_cast<std::size_t>(w)] = sum;
    });
  }
  for (std::thread& t : threads) t.join();
  std::uint64_t sum = 0;
  for (std::uint64_t s : sums) sum += s;
  return sum;
}

// Tasks queued at once hold a copy of the payload each; this bounds them.
constexpr double kMaxPayloadBytesInFlight = 64 << 20;

}  // namespace

std::uint64_t SpinTask(int seed, std::uint64_t iterations,
                       const std::string& payload) {
  const std::uint64_t x =
      (static_cast<std::uint64_t>(seed) + 1) * 0x9E3779B97F4A7C15ull +
      payload.size();
  return Spin(x | 1, iterations);
}

double CalibrateNsPerIteration() {
  // Volatile: the timed runs' results must be kept, or they are not run.
  volatile std::uint64_t sink = 1;
  std::uint64_t iterations = 1 << 16;
  // Grow the run to >= 20 ms of CPU, so the clock's resolution is noise.
  while (true) {
    const double start = ThreadCpuSeconds();
    sink = Spin(sink | 1, iterations);
    if (ThreadCpuSeconds() - start >= 0.02) break;
    iterations *= 2;
  }
  double best = INFINITY;
  for (int i = 0; i < 5; ++i) {
    const double start = ThreadCpuSeconds();
    sink = Spin(sink | 1, iterations);
    best = std::min(best, (ThreadCpuSeconds() - start) * 1e9 / iterations);
  }
  return best;
}

const char* SweepModeLabel(int mode) {
  constexpr const char* kLabels[] = {
      "serial", "ThreadPoolExecutor", "ProcessPoolExecutor chunksize=1",
      "ProcessPoolExecutor chunked", "std::thread static split"};
  return kLabels[mode];
}

const char* SweepModeKey(int mode) {
  constexpr const char* kKeys[] = {"serial", "thread", "process_chunksize_1",
                                   "process_chunked", "static_split"};
  return kKeys[mode];
}

std::optional<double> SweepResult::Crossover(int mode) const {
  std::optional<double> from;
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    if (!(it->speedup(mode) > 1)) break;
    from = it->grain_us;
  }
  return from;
}

bool SweepResult::checksums_ok() const {
  return std::all_of(points.begin(), points.end(),
                     [](const SweepPoint& p) { return p.checksum_ok; });
}

SweepResult RunSweep(const SweepOptions& options) {
  SweepResult result;
  result.options = options;
  result.ns_per_iteration = CalibrateNsPerIteration();
  std::vector<double> grains = options.grains_us;
  std::sort(grains.begin(), grains.end());
  grains.erase(std::unique(grains.begin(), grains.end()), grains.end());
  result.options.grains_us = grains;

  const std::string payload(options.payload_bytes, 'x');
  cf::ThreadPoolExecutor threads(options.workers);
  // Both pools live side by side, so the process pool's workers come from a
  // fork server (main calls cf::Init): forking a process that runs threads
  // is what cf warns about.
  cf::ProcessPoolExecutor processes(
      {.max_workers = options.workers,
       .start_method = cf::StartMethod::kForkServer});
  // Every worker up before the first clock starts.
  MapSum(threads, 4 * options.workers, 1, payload, 1);
  MapSum(processes, 4 * options.workers, 1, payload, 1);

  const int min_tasks = 4 * options.workers;
  int max_tasks = options.max_tasks;
  if (options.payload_bytes > 0) {
    max_tasks = std::min<double>(
        max_tasks, kMaxPayloadBytesInFlight / options.payload_bytes);
  }
  max_tasks = std::max(max_tasks, min_tasks);
  for (double grain_us : grains) {
    SweepPoint point;
    point.grain_us = grain_us;
    const std::uint64_t iterations = std::max<std::uint64_t>(
        1, std::llround(grain_us * 1000 / result.ns_per_iteration));
    point.tasks = std::clamp(
        static_cast<int>(std::lround(options.work_ms * 1000 / grain_us)),
        min_tasks, max_tasks);
    point.chunksize = options.chunksize > 0
                          ? options.chunksize
                          : std::max(1, point.tasks / (4 * options.workers));
    std::array<std::vector<double>, kNumModes> seconds;
    std::vector<double> cpu_us_per_task;
    std::optional<std::uint64_t> expected;
    // Modes interleave within each repeat, so a burst of load from another
    // process hits one run of each rather than every run of one.
    for (int r = 0; r < options.repeat; ++r) {
      for (int mode = 0; mode < kNumModes; ++mode) {
        const double cpu_start = ThreadCpuSeconds();
        const absl::Time start = absl::Now();
        std::uint64_t sum = 0;
        switch (mode) {
          case kSerial:
            for (int i = 0; i < point.tasks; ++i) {
              sum += SpinTask(i, iterations, payload);
            }
            cpu_us_per_task.push_back((ThreadCpuSeconds() - cpu_start) * 1e6 /
                                      point.tasks);
            break;
          case kThreads:
            sum = MapSum(threads, point.tasks, iterations, payload, 1);
            break;
          case kProcesses:
            sum = MapSum(processes, point.tasks, iterations, payload, 1);
            break;
          case kProcessesChunked:
            sum = MapSum(processes, point.tasks, iterations, payload,
                         point.chunksize);
            break;
          case kStaticSplit:
            sum = StaticSplitSum(options.workers, point.tasks, iterations,
                                 payload);
            break;
        }
        seconds[mode].push_back(absl::ToDoubleSeconds(absl::Now() - start));
        if (!expected.has_value()) expected = sum;
        point.checksum_ok = point.checksum_ok && sum == *expected;
      }
    }
    for (int mode = 0; mode < kNumModes; ++mode) {
      point.median_s[mode] = Median(seconds[mode]);
    }
    point.measured_us = Median(cpu_us_per_task);
    result.points.push_back(point);
  }
  return result;
}

std::string FormatGrain(double us) {
  return us < 1000 ? absl::StrFormat("%g µs", us)
                   : absl::StrFormat("%g ms", us / 1000);
}

void PrintSweep(const SweepResult& result, std::ostream& out) {
  const SweepOptions& o = result.options;
  out << absl::StrFormat(
      "Grain sweep: SpinTask calls of a given CPU cost (calibrated: %.3f ns "
      "per iteration), %d-byte payload each, %d workers; pools started "
      "before timing; time of map + reading every result, median of %d "
      "run(s); speedup over serial\n\n",
      result.ns_per_iteration, o.payload_bytes, o.workers, o.repeat);
  out << absl::StrFormat("%9s %9s %6s %6s %10s %10s %12s %12s %12s %9s\n",
                         "grain", "measured", "tasks", "chunk", "serial",
                         "threads", "processes", "processes", "std::thread",
                         "checksum");
  out << absl::StrFormat("%9s %9s %6s %6s %10s %10s %12s %12s %12s\n", "",
                         "CPU/task", "", "", "", "", "chunksize=1", "chunked",
                         "static split");
  for (const SweepPoint& p : result.points) {
    out << absl::StrFormat(
        "%9s %6.2f µs %6d %6d %8.1fms %9.2fx %11.2fx %11.2fx %11.2fx %9s\n",
        FormatGrain(p.grain_us), p.measured_us, p.tasks, p.chunksize,
        p.median_s[kSerial] * 1e3, p.speedup(kThreads), p.speedup(kProcesses),
        p.speedup(kProcessesChunked), p.speedup(kStaticSplit),
        p.checksum_ok ? "ok" : "WRONG");
  }
  out << "(std::thread static split: no pool, one thread per worker started "
         "in the timed region, each on its own contiguous share: what this "
         "machine's cores give at that grain.)\n";
  out << "\nCrossover (the smallest grain from which it beats serial at "
         "every larger grain):\n";
  for (int mode = kThreads; mode < kNumModes; ++mode) {
    const std::optional<double> from = result.Crossover(mode);
    out << absl::StrFormat("  %-32s %s\n", SweepModeLabel(mode),
                           from ? FormatGrain(*from) : "never in range");
  }
}

std::string SweepJson(const SweepResult& result) {
  const SweepOptions& o = result.options;
  std::string json = absl::StrFormat(
      "{\"ns_per_iteration\": %.4f, \"workers\": %d, \"payload_bytes\": %d, "
      "\"repeat\": %d, \"points\": [",
      result.ns_per_iteration, o.workers, o.payload_bytes, o.repeat);
  for (std::size_t i = 0; i < result.points.size(); ++i) {
    const SweepPoint& p = result.points[i];
    absl::StrAppendFormat(
        &json,
        "%s\n    {\"grain_us\": %g, \"measured_us\": %.3f, \"tasks\": %d, "
        "\"chunksize\": %d, \"checksum_ok\": %s",
        i ? "," : "", p.grain_us, p.measured_us, p.tasks, p.chunksize,
        p.checksum_ok ? "true" : "false");
    for (int mode = 0; mode < kNumModes; ++mode) {
      absl::StrAppendFormat(&json, ", \"%s_s\": %.6f", SweepModeKey(mode),
                            p.median_s[mode]);
    }
    for (int mode = kThreads; mode < kNumModes; ++mode) {
      absl::StrAppendFormat(&json, ", \"%s_speedup\": %.3f",
                            SweepModeKey(mode), p.speedup(mode));
    }
    json += "}";
  }
  json += "],\n  \"crossover_us\": {";
  for (int mode = kThreads; mode < kNumModes; ++mode) {
    const std::optional<double> from = result.Crossover(mode);
    absl::StrAppendFormat(&json, "%s\"%s\": %s", mode > kThreads ? ", " : "",
                          SweepModeKey(mode),
                          from ? absl::StrFormat("%g", *from) : "null");
  }
  json += "}}";
  return json;
}

std::string SweepSvg(const SweepResult& result) {
  const SweepOptions& o = result.options;
  LineChart chart("cf: speedup over a serial loop vs. task grain",
                  "CPU time per task (log scale)", "speedup over serial (x)");
  chart.set_subtitle(absl::StrFormat(
      "%d workers, %d-byte payload per task, median of %d run(s); pools "
      "started before timing%s",
      o.workers, o.payload_bytes, o.repeat,
      o.chunksize > 0 ? "" : "; chunked: 4 chunks per worker"));
  chart.set_log_x(true);
  chart.set_x_tick_format(FormatGrain);
  for (int mode = kThreads; mode < kNumModes; ++mode) {
    std::vector<LineChart::Point> points;
    for (const SweepPoint& p : result.points) {
      points.emplace_back(p.grain_us, p.speedup(mode));
    }
    std::string name = SweepModeLabel(mode);
    if (mode == kProcesses) name = "ProcessPool, chunksize 1";
    if (mode == kProcessesChunked) {
      name = o.chunksize > 0
                 ? absl::StrFormat("ProcessPool, chunksize %d", o.chunksize)
                 : "ProcessPool, chunked";
    }
    chart.AddSeries(name, std::move(points));
  }
  chart.AddReferenceLine(1, "serial (1x)");
  chart.AddReferenceLine(o.workers,
                         absl::StrFormat("ceiling: %d workers", o.workers));
  return chart.ToSvg();
}

}  // namespace cf_bench
