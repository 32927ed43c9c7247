// First use, the way users run a pool: start it, use it once, shut it down.
// Every figure is the median over `--rounds` fresh pools, next to the same
// work on the warm pool and next to peers measured the same way in the same
// run: Boost.Asio's thread_pool and oneTBB's task_group, each with a
// std::packaged_task future per call, and Python's executors
// (bench/python_first_use.py).
//
//   ./bazelw run -c opt //bench:first_use_bench -- --rounds=9 [--python]
//
// Rows: process pool (per start method) start-up to first result and
// shutdown with idle workers (kFork's next to a bare fork of two children
// that answer a byte each, the floor in this process), first map of 100,000
// no-op calls (chunksize 1000) including start-up, and the warm maps after
// it; thread pool first batch of 10,000 submit+result against Asio and
// oneTBB; thread pool map of 1 µs calls against a serial loop.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cf.h"

ABSL_FLAG(int, rounds, 9, "fresh pools per figure");
ABSL_FLAG(bool, python, false, "also run Python's executors (python3)");
ABSL_FLAG(std::string, methods, "fork,forkserver,spawn",
          "process pool start methods to measure");
ABSL_FLAG(bool, threads, true, "measure the thread pool rows");

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Minor page faults of this process so far.
long Faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int Noop(int x) { return x; }

// Iterations of SpinStep per microsecond of CPU, from CalibrateSpin().
int spin_iterations_per_us = 1;

// Arithmetic the compiler cannot fold away.
unsigned SpinSteps(unsigned x, int iterations) {
  volatile unsigned v = x;
  for (int i = 0; i < iterations; ++i) v = v * 1664525u + 1013904223u;
  return v;
}

// A microsecond of CPU (calibrated as the seed benchmark's sweep does).
int Spin1us(int x) {
  return static_cast<int>(
      SpinSteps(static_cast<unsigned>(x), spin_iterations_per_us) & 1);
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// CPU time rather than wall time: time the host takes the core away for
// must not count. The fastest of a few tries, for the same reason.
void CalibrateSpin() {
  constexpr int kIterations = 2000000;
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    const double start = ThreadCpuSeconds();
    SpinSteps(static_cast<unsigned>(i), kIterations);
    best = std::min(best, ThreadCpuSeconds() - start);
  }
  spin_iterations_per_us =
      std::max(1, static_cast<int>(kIterations * 1e-6 / best));
}

constexpr int kMapInputs = 100000;
constexpr int kBatch = 10000;

std::vector<int> Inputs(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

const char* Name(cf::StartMethod m) {
  switch (m) {
    case cf::StartMethod::kFork:
      return "fork";
    case cf::StartMethod::kSpawn:
      return "spawn";
    case cf::StartMethod::kForkServer:
      return "forkserver";
  }
  return "?";
}

void Row(const std::string& what, double seconds, const std::string& note) {
  std::printf("%-52s %10.3f ms  %s\n", what.c_str(), seconds * 1e3,
              note.c_str());
}

// The floor under a kFork pool's start-up and shutdown on this machine, in
// this process: fork two children that each answer one byte over a socket
// pair, then close the sockets and reap them. A pool does at least this.
struct BareFork {
  double start = 0, shutdown = 0;
};

BareFork BareForkRound() {
  BareFork f;
  int fds[2][2];
  pid_t pids[2];
  auto t = Clock::now();
  for (int i = 0; i < 2; ++i) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds[i]) != 0) {
      std::abort();
    }
    pids[i] = fork();
    if (pids[i] < 0) std::abort();
    if (pids[i] == 0) {
      // Only its own end: an end held here would keep a socket from closing.
      for (int j = 0; j <= i; ++j) close(fds[j][0]);
      char c = 'r';
      if (write(fds[i][1], &c, 1) != 1) _exit(1);
      while (read(fds[i][1], &c, 1) > 0) {
      }
      _exit(0);
    }
    close(fds[i][1]);
  }
  for (int i = 0; i < 2; ++i) {
    char c;
    if (read(fds[i][0], &c, 1) != 1) std::abort();
  }
  f.start = Since(t);
  t = Clock::now();
  for (int i = 0; i < 2; ++i) close(fds[i][0]);
  for (int i = 0; i < 2; ++i) {
    int status = 0;
    if (waitpid(pids[i], &status, 0) != pids[i]) std::abort();
  }
  f.shutdown = Since(t);
  return f;
}

struct ProcessFigures {
  std::vector<double> start, shutdown, first_map, warm_map;
  std::vector<double> first_faults, warm_faults;  // this process's
  std::vector<double> bare_start, bare_shutdown;  // kFork: BareForkRound
};

ProcessFigures MeasureProcessPool(cf::StartMethod method, int rounds) {
  ProcessFigures f;
  const std::vector<int> inputs = Inputs(kMapInputs);
  for (int r = 0; r < rounds; ++r) {
    if (method == cf::StartMethod::kFork) {
      const BareFork bare = BareForkRound();
      f.bare_start.push_back(bare.start);
      f.bare_shutdown.push_back(bare.shutdown);
    }
    {
      auto t = Clock::now();
      auto pool = std::make_unique<cf::ProcessPoolExecutor>(
          cf::ProcessPoolOptions{.max_workers = 2, .start_method = method});
      pool->submit(Noop, 0).result();
      f.start.push_back(Since(t));
      t = Clock::now();
      pool.reset();
      f.shutdown.push_back(Since(t));
    }
    auto t = Clock::now();
    long faults = Faults();
    cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
    long long sum = 0;
    for (int x : pool.map(Noop, inputs, {.chunksize = 1000})) sum += x;
    f.first_map.push_back(Since(t));
    f.first_faults.push_back(Faults() - faults);
    for (int warm = 0; warm < 4; ++warm) {
      t = Clock::now();
      faults = Faults();
      for (int x : pool.map(Noop, inputs, {.chunksize = 1000})) sum += x;
      f.warm_map.push_back(Since(t));
      f.warm_faults.push_back(Faults() - faults);
    }
    if (sum != 5LL * (kMapInputs - 1) * kMapInputs / 2) std::abort();
  }
  return f;
}

double ThreadFirstBatch() {
  const auto t = Clock::now();
  cf::ThreadPoolExecutor pool(2);
  std::vector<cf::Future<int>> futures;
  futures.reserve(kBatch);
  for (int i = 0; i < kBatch; ++i) futures.push_back(pool.submit(Noop, i));
  long long sum = 0;
  for (auto& fut : futures) sum += fut.result();
  if (sum != 1LL * (kBatch - 1) * kBatch / 2) std::abort();
  return Since(t);
}

double AsioFirstBatch() {
  const auto t = Clock::now();
  boost::asio::thread_pool pool(2);
  std::vector<std::future<int>> futures;
  futures.reserve(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    std::packaged_task<int()> task([i] { return Noop(i); });
    futures.push_back(task.get_future());
    boost::asio::post(pool, std::move(task));
  }
  long long sum = 0;
  for (auto& fut : futures) sum += fut.get();
  pool.join();
  if (sum != 1LL * (kBatch - 1) * kBatch / 2) std::abort();
  return Since(t);
}

// oneTBB keeps its worker threads in a process-wide market: a fresh arena is
// a fresh pool from the user's side, but after the first round its threads
// are already running. task_group copies its functor and calls it const, so
// the packaged_task rides in a shared_ptr (one more allocation than Asio's).
double TbbFirstBatch() {
  // The market allows one worker per core but one (the calling thread is
  // meant to work in wait()); here it submits and reads futures, as with
  // the other pools, so the two workers must be TBB's.
  static tbb::global_control allow_two_workers(
      tbb::global_control::max_allowed_parallelism, 3);
  const auto t = Clock::now();
  tbb::task_arena arena(2, /*reserved_for_masters=*/0);
  tbb::task_group group;
  std::vector<std::future<int>> futures;
  futures.reserve(kBatch);
  arena.execute([&] {
    for (int i = 0; i < kBatch; ++i) {
      auto task = std::make_shared<std::packaged_task<int()>>(
          [i] { return Noop(i); });
      futures.push_back(task->get_future());
      group.run([task] { (*task)(); });
    }
  });
  long long sum = 0;
  for (auto& fut : futures) sum += fut.get();
  arena.execute([&] { group.wait(); });
  if (sum != 1LL * (kBatch - 1) * kBatch / 2) std::abort();
  return Since(t);
}

// Python's figures: name -> seconds of each round.
std::map<std::string, std::vector<double>> RunPython(int rounds) {
  std::map<std::string, std::vector<double>> out;
  const std::string cmd =
      absl::StrFormat("python3 bench/python_first_use.py %d", rounds);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char name[64];
  double seconds;
  while (std::fscanf(p, "%63s %lf", name, &seconds) == 2) {
    out[name].push_back(seconds);
  }
  pclose(p);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  std::printf("First use: medians of %d fresh pools each, 2 workers.\n\n",
              rounds);
  std::map<std::string, std::vector<double>> python;
  if (absl::GetFlag(FLAGS_python)) python = RunPython(rounds);

  std::printf("Process pool (100,000 no-op calls, chunksize 1000)\n");
  const std::string methods = absl::GetFlag(FLAGS_methods);
  for (cf::StartMethod m : {cf::StartMethod::kFork, cf::StartMethod::kForkServer,
                            cf::StartMethod::kSpawn}) {
    if (!absl::StrContains(absl::StrCat(",", methods, ","),
                           absl::StrCat(",", Name(m), ","))) {
      continue;
    }
    const ProcessFigures f = MeasureProcessPool(m, rounds);
    const double first = Median(f.first_map), warm = Median(f.warm_map);
    const bool bare = !f.bare_start.empty();
    Row(absl::StrFormat("%s: start-up to first result", Name(m)),
        Median(f.start),
        bare ? absl::StrFormat("%.2fx bare fork's",
                               Median(f.start) / Median(f.bare_start))
             : "");
    Row(absl::StrFormat("%s: shutdown, workers idle", Name(m)),
        Median(f.shutdown),
        bare ? absl::StrFormat("%.2fx bare fork's",
                               Median(f.shutdown) / Median(f.bare_shutdown))
             : "");
    if (bare) {
      Row("bare fork: 2 children answer a byte each", Median(f.bare_start),
          "the floor, this process");
      Row("bare fork: close their sockets, reap both",
          Median(f.bare_shutdown), "");
    }
    Row(absl::StrFormat("%s: fresh pool + first map", Name(m)), first,
        absl::StrFormat("%.2f M/s; %.2fx of warm; %.0f page faults",
                        kMapInputs / first / 1e6, warm / first,
                        Median(f.first_faults)));
    Row(absl::StrFormat("%s: warm map", Name(m)), warm,
        absl::StrFormat("%.2f M/s; %.0f page faults", kMapInputs / warm / 1e6,
                        Median(f.warm_faults)));
    if (m == cf::StartMethod::kFork && python.count("process_first_map")) {
      const double py = Median(python["process_first_map"]);
      Row("python fork: fresh pool + first map", py,
          absl::StrFormat("%.2f M/s; cf is %.1fx", kMapInputs / py / 1e6,
                          py / first));
      const double py_warm = Median(python["process_warm_map"]);
      Row("python fork: warm map", py_warm,
          absl::StrFormat("%.2f M/s", kMapInputs / py_warm / 1e6));
      Row("python fork: start-up to first result",
          Median(python["process_start"]), "");
      Row("python fork: shutdown", Median(python["process_shutdown"]), "");
    }
  }

  if (!absl::GetFlag(FLAGS_threads)) return 0;
  std::printf("\nThread pool, fresh pool + first batch of %d submit+result\n",
              kBatch);
  std::vector<double> cf_batch, asio_batch, tbb_batch, ratios, tbb_ratios;
  for (int r = 0; r < rounds; ++r) {  // interleaved: same machine state
    cf_batch.push_back(ThreadFirstBatch());
    asio_batch.push_back(AsioFirstBatch());
    tbb_batch.push_back(TbbFirstBatch());
    ratios.push_back(asio_batch.back() / cf_batch.back());
    tbb_ratios.push_back(tbb_batch.back() / cf_batch.back());
  }
  Row("cf::ThreadPoolExecutor", Median(cf_batch),
      absl::StrFormat("%.2f M/s", kBatch / Median(cf_batch) / 1e6));
  Row("asio::thread_pool + packaged_task", Median(asio_batch),
      absl::StrFormat("%.2f M/s; cf is %.2fx (min %.2fx, max %.2fx)",
                      kBatch / Median(asio_batch) / 1e6,
                      Median(asio_batch) / Median(cf_batch),
                      *std::min_element(ratios.begin(), ratios.end()),
                      *std::max_element(ratios.begin(), ratios.end())));
  Row("oneTBB task_arena + task_group + packaged_task", Median(tbb_batch),
      absl::StrFormat("%.2f M/s; cf is %.2fx (min %.2fx, max %.2fx)",
                      kBatch / Median(tbb_batch) / 1e6,
                      Median(tbb_batch) / Median(cf_batch),
                      *std::min_element(tbb_ratios.begin(), tbb_ratios.end()),
                      *std::max_element(tbb_ratios.begin(), tbb_ratios.end())));
  if (python.count("thread_first_batch")) {
    const double py = Median(python["thread_first_batch"]);
    Row("python ThreadPoolExecutor", py,
        absl::StrFormat("cf is %.1fx", py / Median(cf_batch)));
  }

  CalibrateSpin();
  std::printf(
      "\nThread pool map of 1 µs calls (100,000; %d iterations each), fresh "
      "pool\n",
      spin_iterations_per_us);
  const std::vector<int> inputs = Inputs(kMapInputs);
  std::vector<double> serial, threads;
  for (int r = 0; r < rounds; ++r) {
    auto t = Clock::now();
    long long sum = 0;
    for (int x : inputs) sum += Spin1us(x);
    serial.push_back(Since(t));
    t = Clock::now();
    cf::ThreadPoolExecutor pool(2);
    for (int x : pool.map(Spin1us, inputs)) sum -= x;
    threads.push_back(Since(t));
    if (sum != 0) std::abort();
  }
  Row("serial loop", Median(serial), "");
  Row("cf::ThreadPoolExecutor map", Median(threads),
      absl::StrFormat("%.2fx over serial", Median(serial) / Median(threads)));
  return 0;
}
