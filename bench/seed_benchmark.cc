// The main job: seed 004's comparison of a serial loop, a thread pool and a
// process pool, reproduced in C++ with the seed's own function and inputs,
// optionally side by side with the seed's Python program on the same machine.
//
//   ./bazelw run -c opt //bench:seed_benchmark -- --repeat=5 --python
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
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/count_prime.h"
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
  Row row{.language = "C++", .mode = std::move(mode), .workers = workers};
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
    rows.push_back(Row{.language = "Python",
                       .mode = name,
                       .workers = key == "serial" ? 1 : workers});
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

void WriteJson(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path);
  out << "[\n";
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
  out << "]\n";
}

}  // namespace

int main(int argc, char** argv) {
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
  if (absl::GetFlag(FLAGS_python) && rows.size() > 3) {
    std::cout << absl::StrFormat(
        "\nC++ vs Python, same mode: serial %.0fx, thread pool %.0fx, "
        "process pool %.0fx faster\n",
        rows[3].median() / rows[0].median(), rows[4].median() / rows[1].median(),
        rows[5].median() / rows[2].median());
  }
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    WriteJson(path, rows);
  }
  if (!all_ok) {
    std::cerr << "seed_benchmark: a checksum is wrong (expected " << expected
              << ")\n";
    return 1;
  }
  return 0;
}
