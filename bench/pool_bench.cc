// cf::Pool next to Python's multiprocessing.Pool, in one run on one machine
// (issue 9's targets: at least 30x Python per call, at least 5x on the
// chunked map), and what a progress bar costs a map of tiny tasks.
//
//   ./bazelw run -c opt //bench:pool_bench -- --python
//
// Workloads, 2 workers by default, each timed --repeat times (median shown):
// apply_async + get of --calls no-op calls (all submitted, then every get),
// map of --map_calls no-op calls with Python's default chunksize,
// imap_unordered of --calls no-op calls (chunksize 1), and parallel_map on
// seed 004's count_prime(9900..9999) making its own pool each time, as
// parmap.map does. --python runs bench/pool_python.py with the same sizes.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <ranges>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/count_prime.h"
#include "cf.h"

ABSL_FLAG(int, workers, 2, "worker processes of every pool");
ABSL_FLAG(int, repeat, 7, "runs of each workload; the table shows medians");
ABSL_FLAG(int, calls, 20000, "calls of the apply_async and imap workloads");
ABSL_FLAG(int, map_calls, 100000, "calls of the map workloads");
ABSL_FLAG(bool, python, false,
          "also run bench/pool_python.py (multiprocessing.Pool) with the "
          "same sizes and show the ratios");

namespace {

int Noop(int x) { return x; }

struct Row {
  std::vector<double> seconds;
  long long calls = 0;
  long long checksum = 0;
  double Median() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    return s.empty() ? 0 : s[s.size() / 2];
  }
};

void Time(Row& row, long long calls, const std::function<long long()>& run) {
  const absl::Time start = absl::Now();
  row.checksum = run();
  row.seconds.push_back(absl::ToDoubleSeconds(absl::Now() - start));
  row.calls = calls;
}

// Runs bench/pool_python.py; its rows by workload name.
std::optional<std::map<std::string, Row>> RunPython(int workers, int repeat,
                                                    int calls, int map_calls) {
  std::string script = "bench/pool_python.py";  // `bazel run`: runfiles
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
      ws != nullptr && !std::ifstream(script)) {
    script = absl::StrCat(ws, "/bench/pool_python.py");
  }
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) return std::nullopt;
  const std::string command = absl::StrCat("python3 '", script, "' ", workers,
                                           " ", repeat, " ", calls, " ", map_calls);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::map<std::string, Row> rows;
  char line[256];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    std::istringstream in(line);
    std::string name;
    double seconds = 0;
    long long n = 0, checksum = 0;
    if (!(in >> name >> seconds >> n >> checksum)) continue;
    rows[name].seconds.push_back(seconds);
    rows[name].calls = n;
    rows[name].checksum = checksum;
  }
  if (pclose(pipe) != 0) return std::nullopt;
  return rows;
}

std::string PerCall(const Row& row) {
  const double us = row.Median() * 1e6 / std::max<long long>(1, row.calls);
  return us >= 100 ? absl::StrFormat("%.0f µs", us) : absl::StrFormat("%.2f µs", us);
}

}  // namespace

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  const int workers = absl::GetFlag(FLAGS_workers);
  const int repeat = absl::GetFlag(FLAGS_repeat);
  const int calls = absl::GetFlag(FLAGS_calls);
  const int map_calls = absl::GetFlag(FLAGS_map_calls);
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

  std::map<std::string, Row> cf_rows;
  // One pool at a time: a kFork pool started while another one's threads
  // run would warn about forking a threaded process.
  {
    cf::Pool pool(workers);
    pool.map(Noop, std::views::iota(0, 1000));  // warm
    for (int r = 0; r < repeat; ++r) {
      Time(cf_rows["apply_async"], calls, [&] {
        std::vector<cf::AsyncResult<int>> results;
        results.reserve(calls);
        for (int i = 0; i < calls; ++i) results.push_back(pool.apply_async(Noop, i));
        long long sum = 0;
        for (auto& result : results) sum += result.get();
        return sum;
      });
      // With and without a progress bar (redrawn as on a terminal, into
      // /dev/null), side by side, in alternating order.
      auto map = [&] {
        Time(cf_rows["map"], map_calls, [&] {
          long long sum = 0;
          for (int v : pool.map(Noop, std::views::iota(0, map_calls))) sum += v;
          return sum;
        });
      };
      auto map_bar = [&] {
        Time(cf_rows["map+bar"], map_calls, [&] {
          long long sum = 0;
          for (int v : pool.map(Noop, std::views::iota(0, map_calls),
                                {.progress = cf::ProgressOptions{
                                     .fd = devnull, .dynamic = true}})) {
            sum += v;
          }
          return sum;
        });
      };
      if (r % 2 == 0) {
        map();
        map_bar();
      } else {
        map_bar();
        map();
      }
      Time(cf_rows["imap_unordered"], calls, [&] {
        long long sum = 0;
        for (int v : pool.imap_unordered(Noop, std::views::iota(0, calls))) sum += v;
        return sum;
      });
    }
    pool.close();
    pool.join();
  }
  {
    cf::ProcessPoolExecutor executor(workers);
    executor.submit(Noop, 0).result();
    std::vector<int> in(map_calls);
    for (int i = 0; i < map_calls; ++i) in[i] = i;
    for (int r = 0; r < repeat; ++r) {
      auto plain = [&] {
        Time(cf_rows["executor_map"], map_calls, [&] {
          long long sum = 0;
          for (int v : executor.map(Noop, in, {.chunksize = 1000})) sum += v;
          return sum;
        });
      };
      auto with_bar = [&] {
        Time(cf_rows["executor_map+bar"], map_calls, [&] {
          long long sum = 0;
          for (int v : cf::progress(executor.map(Noop, in, {.chunksize = 1000}),
                                    {.total = map_calls, .fd = devnull,
                                     .dynamic = true})) {
            sum += v;
          }
          return sum;
        });
      };
      if (r % 2 == 0) {
        plain();
        with_bar();
      } else {
        with_bar();
        plain();
      }
    }
  }
  for (int r = 0; r < repeat; ++r) {
    Time(cf_rows["parmap_seed004"], 100, [&] {
      long long sum = 0;
      for (int v : cf::parallel_map({.processes = workers}, cf_bench::count_prime,
                                    std::views::iota(cf_bench::kSeedFirst,
                                                     cf_bench::kSeedLast))) {
        sum += v;
      }
      return sum;
    });
  }
  close(devnull);

  std::optional<std::map<std::string, Row>> py;
  if (absl::GetFlag(FLAGS_python)) {
    py = RunPython(workers, repeat, calls, map_calls);
    if (!py) std::printf("(python3 or bench/pool_python.py failed: no Python rows)\n");
  }
  struct Line {
    const char* key;
    const char* name;
  };
  const Line lines[] = {{"apply_async", "apply_async + get"},
                        {"map", "map, default chunksize"},
                        {"imap_unordered", "imap_unordered"},
                        {"parmap_seed004", "parallel_map, seed 004"}};
  std::printf("cf::Pool vs Python's multiprocessing.Pool, %d workers, median of %d\n\n",
              workers, repeat);
  std::printf("%-24s %7s %11s %11s %11s %11s %9s\n", "workload", "calls",
              "cf", "per call", "Python", "per call", "Python/cf");
  for (const Line& line : lines) {
    const Row& c = cf_rows[line.key];
    std::string py_total = "-", py_call = "-", ratio = "-";
    if (py && py->count(line.key)) {
      const Row& p = (*py)[line.key];
      py_total = absl::StrFormat("%.4f s", p.Median());
      py_call = PerCall(p);
      ratio = absl::StrFormat("%.1fx", p.Median() / c.Median());
      if (p.checksum != c.checksum) ratio += " WRONG";
    }
    std::printf("%-24s %7lld %9.4f s %11s %11s %11s %9s\n", line.name, c.calls,
                c.Median(), PerCall(c).c_str(), py_total.c_str(),
                py_call.c_str(), ratio.c_str());
  }
  std::printf("\nThe progress bar on %d tiny calls (redrawn into /dev/null as on "
              "a terminal):\n\n", map_calls);
  std::printf("%-36s %11s %11s %9s\n", "map", "no bar", "with bar", "cost");
  const std::pair<const char*, const char*> bars[] = {
      {"map", "Pool::map, .progress option"},
      {"executor_map", "Executor::map, cf::progress()"}};
  for (const auto& [key, name] : bars) {
    const double without = cf_rows[key].Median();
    const double with = cf_rows[absl::StrCat(key, "+bar")].Median();
    std::printf("%-36s %9.4f s %9.4f s %+8.1f%%\n", name, without, with,
                100 * (with - without) / without);
  }
  const long long expected = static_cast<long long>(map_calls) * (map_calls - 1) / 2;
  if (cf_rows["map"].checksum != expected ||
      cf_rows["parmap_seed004"].checksum != cf_bench::kSeedChecksum) {
    std::printf("WRONG checksum\n");
    return 1;
  }
  return 0;
}
