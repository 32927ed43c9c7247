// The main job: seed 004's comparison of a serial loop, a thread pool and a
// process pool, reproduced in C++ with the seed's own function and inputs,
// optionally side by side with the seed's Python program on the same machine,
// with other C++ thread pools as peer rows (--peers), and with a sweep of task
// grains that finds where each pool starts to pay off (--sweep, --svg).
//
//   ./bazelw run -c opt //bench:seed_benchmark -- --repeat=5 --python
//   ./bazelw run -c opt //bench:seed_benchmark -- --sweep --svg=sweep.svg
//
// Every executor mode goes through one function taking a cf::Executor&: the
// same code on threads and on processes. Each mode's checksum (the sum of
// the 100 results) must be 881411, or the run fails.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/count_prime.h"
#include "bench/peers.h"
#include "bench/sweep.h"
#include "cf.h"

ABSL_FLAG(int, workers, 0,
          "workers for the pools (0: the CPUs usable by this process)");
ABSL_FLAG(int, repeat, 5,
          "runs of each mode; the table shows their median, min and max");
ABSL_FLAG(std::string, json, "", "also write the results to this JSON file");
ABSL_FLAG(bool, python, false,
          "also run the seed's Python program (bench/seed004.py) with the "
          "same workers and repeats, and add its rows");
ABSL_FLAG(int, first, cf_bench::kSeedFirst, "first n (the seed: 9900)");
ABSL_FLAG(int, last, cf_bench::kSeedLast, "one past the last n (the seed: 10000)");
ABSL_FLAG(bool, peers, true,
          "also run std::async, asio::thread_pool and tbb::task_group on the "
          "same workload, and time no-op tasks on them and on cf's pool");
ABSL_FLAG(int, overhead_tasks, 10000,
          "no-op tasks per run of the --peers overhead table");
ABSL_FLAG(bool, sweep, false,
          "also sweep the task grain: speedup of each pool over serial from "
          "1 us to 10 ms of CPU per task, and the crossover points");
ABSL_FLAG(std::string, svg, "",
          "write the sweep's chart to this SVG file (default with --sweep: "
          "sweep.svg; relative to where bazel run was started)");
ABSL_FLAG(std::string, sweep_grains_us, "1,3,10,30,100,300,1000,3000,10000",
          "the sweep's task grains, in microseconds of CPU per task");
ABSL_FLAG(int, payload_bytes, 0,
          "bytes of std::string each sweep task receives (a process pool "
          "serializes them; threads copy them)");
ABSL_FLAG(int, sweep_repeat, 3, "runs of each mode per grain (median shown)");
ABSL_FLAG(double, sweep_work_ms, 200,
          "serial CPU per grain; tasks = this / grain, within "
          "[4 * workers, --sweep_max_tasks]");
ABSL_FLAG(int, sweep_max_tasks, 10000, "most tasks per grain");
ABSL_FLAG(int, sweep_chunksize, 0,
          "the chunked process pool's map chunksize (0: tasks / (4 * "
          "workers))");

namespace {

struct Row {
  std::string language;  // "C++" or "Python"
  std::string mode;      // "serial", "ThreadPoolExecutor", ...
  int workers = 1;
  std::vector<double> seconds;
  long long checksum = 0;
  bool checksum_ok = false;

  double median() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  double min() const { return *std::min_element(seconds.begin(), seconds.end()); }
  double max() const { return *std::max_element(seconds.begin(), seconds.end()); }
};

// The seed's `list(executor.map(count_prime, values))` and its sum.
long long MapAndSum(cf::Executor& executor, int first, int last) {
  long long sum = 0;
  for (int r : executor.map(cf_bench::count_prime, std::views::iota(first, last))) {
    sum += r;
  }
  return sum;
}

// Times `run` `repeat` times; each run returns its checksum.
Row Measure(std::string mode, int workers, int repeat,
            const std::function<long long()>& run) {
  Row row;
  row.language = "C++";
  row.mode = std::move(mode);
  row.workers = workers;
  for (int i = 0; i < repeat; ++i) {
    const absl::Time start = absl::Now();
    const long long checksum = run();
    row.seconds.push_back(absl::ToDoubleSeconds(absl::Now() - start));
    if (i > 0 && checksum != row.checksum) row.checksum = -1;  // unstable
    if (i == 0) row.checksum = checksum;
  }
  return row;
}

// Runs bench/seed004.py and parses its "mode seconds checksum" lines.
std::optional<std::vector<Row>> RunPython(int workers, int repeat, int first,
                                          int last, std::string* why_not) {
  std::string script = "bench/seed004.py";  // `bazel run` starts in runfiles
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
      ws != nullptr && !std::ifstream(script)) {
    script = absl::StrCat(ws, "/bench/seed004.py");
  }
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) {
    *why_not = "python3 is not installed";
    return std::nullopt;
  }
  const std::string command =
      absl::StrCat("python3 '", script, "' ", workers, " ", repeat, " ",
                   first, " ", last);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *why_not = "could not start python3";
    return std::nullopt;
  }
  const std::vector<std::pair<std::string, std::string>> modes = {
      {"serial", "serial"},
      {"thread", "ThreadPoolExecutor"},
      {"process", "ProcessPoolExecutor"}};
  std::vector<Row> rows;
  for (const auto& [key, name] : modes) {
    Row& row = rows.emplace_back();
    row.language = "Python";
    row.mode = name;
    row.workers = key == "serial" ? 1 : workers;
  }
  char line[256];
  while (fgets(line, sizeof(line), pipe) != nullptr) {
    std::istringstream in(line);
    std::string mode;
    double seconds = 0;
    long long checksum = 0;
    if (!(in >> mode >> seconds >> checksum)) continue;
    for (std::size_t i = 0; i < modes.size(); ++i) {
      if (modes[i].first != mode) continue;
      rows[i].seconds.push_back(seconds);
      rows[i].checksum = checksum;
    }
  }
  const int status = pclose(pipe);
  for (const Row& row : rows) {
    if (row.seconds.empty() || status != 0) {
      *why_not = absl::StrCat("python3 ", script, " failed (exit status ",
                              status, ")");
      return std::nullopt;
    }
  }
  return rows;
}

void PrintTable(const std::vector<Row>& rows, int first, int last) {
  std::cout << absl::StrFormat(
      "count_prime(n) for n in range(%d, %d); time of each mode: median "
      "(min-max) of %d run(s)\n\n",
      first, last, static_cast<int>(rows.front().seconds.size()));
  std::cout << absl::StrFormat("%-8s %-21s %7s %10s %21s %9s %11s %10s\n",
                               "language", "mode", "workers", "median",
                               "min - max", "speedup", "efficiency",
                               "checksum");
  for (const Row& row : rows) {
    double serial = row.median();
    for (const Row& r : rows) {
      if (r.language == row.language && r.mode == "serial") serial = r.median();
    }
    const double speedup = serial / row.median();
    std::cout << absl::StrFormat(
        "%-8s %-21s %7d %9.3fs %9.3fs - %8.3fs %8.2fx %10.0f%% %10d%s\n",
        row.language, row.mode, row.workers, row.median(), row.min(),
        row.max(), speedup, 100 * speedup / row.workers, row.checksum,
        row.checksum_ok ? "" : "  WRONG");
  }
}

void PrintOverhead(const std::vector<cf_bench::OverheadRow>& rows,
                   int workers) {
  std::cout << absl::StrFormat(
      "\nNo-op overhead: %d tasks submitted to a running pool (%d workers) "
      "and every result collected; median of %d run(s)\n\n",
      rows.front().tasks, workers,
      static_cast<int>(rows.front().seconds.size()));
  std::cout << absl::StrFormat("%-23s %12s %12s %9s\n", "pool", "tasks/s",
                               "per task", "cf/peer");
  const double cf_rate = rows.front().tasks_per_s();
  for (const cf_bench::OverheadRow& row : rows) {
    std::cout << absl::StrFormat(
        "%-23s %12.0f %9.2f µs %8.2fx%s\n", row.name, row.tasks_per_s(),
        1e6 / row.tasks_per_s(), cf_rate / row.tasks_per_s(),
        row.checksum_ok ? "" : "  WRONG");
  }
}

// `bazel run` starts the binary in its runfiles; a relative output path
// means the directory the user ran bazel from.
std::string ResolveOutputPath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || cwd == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

bool ParseGrains(const std::string& text, std::vector<double>* grains) {
  grains->clear();
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    double us = 0;
    if (!absl::SimpleAtod(part, &us) || !(us > 0)) return false;
    grains->push_back(us);
  }
  return !grains->empty();
}

void WriteJson(const std::string& path, const std::vector<Row>& rows,
               const std::vector<cf_bench::OverheadRow>& overhead,
               const std::optional<cf_bench::SweepResult>& sweep) {
  std::ofstream out(path);
  out << "{\"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << absl::StrFormat(
        "  {\"language\": \"%s\", \"mode\": \"%s\", \"workers\": %d, "
        "\"median_s\": %.6f, \"min_s\": %.6f, \"max_s\": %.6f, "
        "\"checksum\": %d, \"checksum_ok\": %s}%s\n",
        r.language, r.mode, r.workers, r.median(), r.min(), r.max(),
        r.checksum, r.checksum_ok ? "true" : "false",
        i + 1 < rows.size() ? "," : "");
  }
  out << "],\n\"overhead\": [\n";
  for (std::size_t i = 0; i < overhead.size(); ++i) {
    const cf_bench::OverheadRow& r = overhead[i];
    out << absl::StrFormat(
        "  {\"pool\": \"%s\", \"tasks\": %d, \"median_s\": %.6f, "
        "\"tasks_per_s\": %.0f, \"cf_over_peer\": %.3f, "
        "\"checksum_ok\": %s}%s\n",
        r.name, r.tasks, r.median_s(), r.tasks_per_s(),
        overhead.front().tasks_per_s() / r.tasks_per_s(),
        r.checksum_ok ? "true" : "false", i + 1 < overhead.size() ? "," : "");
  }
  out << "],\n\"sweep\": "
      << (sweep ? cf_bench::SweepJson(*sweep) : std::string("null")) << "}\n";
}

}  // namespace

int main(int argc, char** argv) {
  cf::Init(argc, argv);  // the sweep's process pool uses a fork server
  absl::SetProgramUsageMessage(
      "Seed 004's serial vs. thread pool vs. process pool comparison.");
  absl::ParseCommandLine(argc, argv);
  const int repeat = absl::GetFlag(FLAGS_repeat);
  const int first = absl::GetFlag(FLAGS_first);
  const int last = absl::GetFlag(FLAGS_last);
  if (repeat < 1 || first < 2 || last <= first) {
    std::cerr << "seed_benchmark: need --repeat >= 1 and 2 <= --first < --last\n";
    return 2;
  }
  const int workers = absl::GetFlag(FLAGS_workers) > 0
                          ? absl::GetFlag(FLAGS_workers)
                          : cf::ProcessPoolExecutor().max_workers();
  const bool sweep = absl::GetFlag(FLAGS_sweep);
  cf_bench::SweepOptions sweep_options{
      .workers = workers,
      .payload_bytes = absl::GetFlag(FLAGS_payload_bytes),
      .repeat = absl::GetFlag(FLAGS_sweep_repeat),
      .work_ms = absl::GetFlag(FLAGS_sweep_work_ms),
      .max_tasks = absl::GetFlag(FLAGS_sweep_max_tasks),
      .chunksize = absl::GetFlag(FLAGS_sweep_chunksize)};
  if (sweep &&
      (!ParseGrains(absl::GetFlag(FLAGS_sweep_grains_us),
                    &sweep_options.grains_us) ||
       sweep_options.payload_bytes < 0 || sweep_options.repeat < 1 ||
       !(sweep_options.work_ms > 0) || sweep_options.max_tasks < 1 ||
       sweep_options.chunksize < 0)) {
    std::cerr << "seed_benchmark: need --sweep_grains_us a comma-separated "
                 "list of positive numbers, --payload_bytes >= 0, "
                 "--sweep_repeat >= 1, --sweep_work_ms > 0, "
                 "--sweep_max_tasks >= 1 and --sweep_chunksize >= 0\n";
    return 2;
  }
  if (!sweep && !absl::GetFlag(FLAGS_svg).empty()) {
    std::cerr << "seed_benchmark: --svg needs --sweep\n";
    return 2;
  }
  const bool peers = absl::GetFlag(FLAGS_peers);
  if (peers && absl::GetFlag(FLAGS_overhead_tasks) < 1) {
    std::cerr << "seed_benchmark: need --overhead_tasks >= 1\n";
    return 2;
  }

  std::vector<Row> rows;
  rows.push_back(Measure("serial", 1, repeat, [&] {
    long long sum = 0;
    for (int n = first; n < last; ++n) sum += cf_bench::count_prime(n);
    return sum;
  }));
  rows.push_back(Measure("ThreadPoolExecutor", workers, repeat, [&] {
    cf::ThreadPoolExecutor executor(workers);
    return MapAndSum(executor, first, last);
  }));
  rows.push_back(Measure("ProcessPoolExecutor", workers, repeat, [&] {
    cf::ProcessPoolExecutor executor(workers);
    return MapAndSum(executor, first, last);
  }));
  std::vector<cf_bench::OverheadRow> overhead;
  if (peers) {
    // As the seed times its pools: start-up and shutdown inside each run.
    for (const cf_bench::PeerKind& kind : cf_bench::ThreadPeers()) {
      // cf's own row is the map above.
      if (kind.overhead_only || kind.name.starts_with("cf::")) continue;
      rows.push_back(Measure(kind.name, workers, repeat, [&] {
        return kind.make(workers)->MapSum(cf_bench::count_prime, first, last);
      }));
    }
    overhead = cf_bench::MeasureNoopOverhead(
        workers, absl::GetFlag(FLAGS_overhead_tasks), repeat);
  }
  if (absl::GetFlag(FLAGS_python)) {
    std::string why_not;
    if (auto python = RunPython(workers, repeat, first, last, &why_not)) {
      rows.insert(rows.end(), python->begin(), python->end());
    } else {
      std::cout << "Python rows skipped: " << why_not << "\n";
    }
  }
  // The seed's range has a known answer; any range must agree with serial.
  const long long expected = first == cf_bench::kSeedFirst &&
                                     last == cf_bench::kSeedLast
                                 ? cf_bench::kSeedChecksum
                                 : rows.front().checksum;
  bool all_ok = true;
  for (Row& row : rows) {
    row.checksum_ok = row.checksum == expected;
    all_ok = all_ok && row.checksum_ok;
  }
  PrintTable(rows, first, last);
  if (peers) {
    std::cout << "(std::async starts a thread per call; its efficiency is "
                 "per core, as the others'.)\n";
  }
  auto find = [&](const std::string& language, const std::string& mode) {
    const Row* found = nullptr;
    for (const Row& row : rows) {
      if (row.language == language && row.mode == mode) found = &row;
    }
    return found;
  };
  if (find("Python", "serial") != nullptr) {
    std::cout << "\nC++ vs Python, same mode:";
    const char* separator = " ";
    for (const auto& [mode, name] :
         {std::pair<std::string, std::string>{"serial", "serial"},
          {"ThreadPoolExecutor", "thread pool"},
          {"ProcessPoolExecutor", "process pool"}}) {
      std::cout << absl::StrFormat("%s%s %.0fx", separator, name,
                                   find("Python", mode)->median() /
                                       find("C++", mode)->median());
      separator = ", ";
    }
    std::cout << " faster\n";
  }
  if (peers) {
    PrintOverhead(overhead, workers);
    for (const cf_bench::OverheadRow& row : overhead) {
      all_ok = all_ok && row.checksum_ok;
    }
  }

  std::optional<cf_bench::SweepResult> sweep_result;
  if (sweep) {
    // The sweep's process pool forks: a worker would inherit, and print again
    // at its exit, whatever is still in this process's stdout buffer.
    std::cout << "\n" << std::flush;
    std::fflush(stdout);
    sweep_result = cf_bench::RunSweep(sweep_options);
    cf_bench::PrintSweep(*sweep_result, std::cout);
    all_ok = all_ok && sweep_result->checksums_ok();
    std::string svg = absl::GetFlag(FLAGS_svg);
    if (svg.empty()) svg = "sweep.svg";
    svg = ResolveOutputPath(svg);
    std::ofstream out(svg);
    out << cf_bench::SweepSvg(*sweep_result);
    if (!out.flush()) {
      std::cerr << "seed_benchmark: cannot write " << svg << "\n";
      return 1;
    }
    std::cout << "\nChart: " << svg << "\n";
  }
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    WriteJson(ResolveOutputPath(path), rows, overhead, sweep_result);
  }
  if (!all_ok) {
    std::cerr << "seed_benchmark: a checksum is wrong (expected " << expected
              << " in the table)\n";
    return 1;
  }
  return 0;
}
