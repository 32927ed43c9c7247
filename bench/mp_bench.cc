// cf::Pipe, cf::Queue and cf::Value next to Python's multiprocessing (run in
// the same invocation: bench/mp_python.py) and to a bare socketpair between
// two forked processes: round trip of one small message, messages per second
// from one process to another, and locked increments of a shared value.
//
//   ./bazelw run -c opt //bench:mp_bench                # --python by default
//   ./bazelw run -c opt //bench:mp_bench -- --repeat=9 --python=false
//
// Each row is the median of --repeat runs; a child is started before the
// clock starts, and the clock stops when the parent has the last message.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"

ABSL_FLAG(int, repeat, 5, "runs per workload (the median is shown)");
ABSL_FLAG(int, round_trips, 20000, "round trips per run (Python: a quarter)");
ABSL_FLAG(int, messages, 1000000, "messages per run (Python: a twentieth)");
ABSL_FLAG(int, increments, 2000000, "increments per run (Python: a tenth)");
ABSL_FLAG(bool, python, true, "also run Python's multiprocessing (python3)");
ABSL_FLAG(std::string, only, "",
          "run only this workload (say queue_throughput), for profiling");

namespace {

// --- cf -------------------------------------------------------------------

void Echo(cf::Connection<std::int64_t> conn) {
  try {
    while (true) conn.send(conn.recv());
  } catch (const cf::EOFError&) {
  }
}

double PipeRoundTrip(int n) {
  auto [mine, theirs] = cf::Pipe<std::int64_t>();
  cf::Process p(Echo, theirs);
  p.start();
  theirs.close();
  mine.send(0);
  mine.recv();
  const absl::Time start = absl::Now();
  for (std::int64_t i = 0; i < n; ++i) {
    mine.send(i);
    if (mine.recv() != i) std::abort();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  mine.close();
  p.join();
  return seconds;
}

void SendMany(cf::Connection<std::int64_t> conn, int n) {
  conn.recv();
  for (std::int64_t i = 0; i < n; ++i) conn.send(i);
}

double PipeThroughput(int n) {
  auto [mine, theirs] = cf::Pipe<std::int64_t>();
  cf::Process p(SendMany, theirs, n);
  p.start();
  theirs.close();
  const absl::Time start = absl::Now();
  mine.send(0);
  for (std::int64_t i = 0; i < n; ++i) {
    if (mine.recv() != i) std::abort();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  p.join();
  return seconds;
}

void QueueEcho(cf::Queue<std::int64_t> in, cf::Queue<std::int64_t> out) {
  while (true) {
    const std::int64_t item = in.get();
    if (item < 0) return;
    out.put(item);
  }
}

double QueueRoundTrip(int n) {
  cf::Queue<std::int64_t> q1, q2;
  cf::Process p(QueueEcho, q1, q2);
  p.start();
  q1.put(0);
  q2.get();
  const absl::Time start = absl::Now();
  for (std::int64_t i = 0; i < n; ++i) {
    q1.put(i);
    if (q2.get() != i) std::abort();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  q1.put(-1);
  p.join();
  return seconds;
}

void PutMany(cf::Event go, cf::Queue<std::int64_t> q, int n) {
  go.wait();
  for (std::int64_t i = 0; i < n; ++i) q.put(i);
}

double QueueThroughput(int n) {
  cf::Queue<std::int64_t> q;
  cf::Event go;
  cf::Process p(PutMany, go, q, n);
  p.start();
  const absl::Time start = absl::Now();
  go.set();
  for (std::int64_t i = 0; i < n; ++i) {
    if (q.get() != i) std::abort();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  p.join();
  return seconds;
}

double ValueLocked(int n) {
  cf::Value<int> v(0);
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    std::lock_guard<cf::RLock> guard(v.get_lock());
    v.set_value(v.value() + 1);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (v.value() != n) std::abort();
  return seconds;
}

void AddLocked(cf::Event go, cf::Value<int> v, int n) {
  go.wait();
  for (int i = 0; i < n; ++i) {
    std::lock_guard<cf::RLock> guard(v.get_lock());
    v.set_value(v.value() + 1);
  }
}

double ValueLockedTwo(int n) {
  cf::Value<int> v(0);
  cf::Event go;
  std::vector<cf::Process> ps;
  for (int i = 0; i < 2; ++i) {
    ps.emplace_back(AddLocked, go, v, n / 2);
    ps.back().start();
  }
  const absl::Time start = absl::Now();
  go.set();
  for (cf::Process& p : ps) p.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (v.value() != n / 2 * 2) std::abort();
  return seconds;
}

// --- a bare socketpair: one write and one read per message ------------------

void ReadExactly(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r <= 0) std::abort();
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

template <class Child>
pid_t ForkRaw(int fds[2], Child child) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  return pid;
}

double SocketpairRoundTrip(int n) {
  int fds[2];
  const pid_t pid = ForkRaw(fds, [](int fd) {
    std::int64_t x;
    while (read(fd, &x, sizeof(x)) == sizeof(x)) {
      if (write(fd, &x, sizeof(x)) != sizeof(x)) break;
    }
  });
  const absl::Time start = absl::Now();
  for (std::int64_t i = 0; i < n; ++i) {
    if (write(fds[0], &i, sizeof(i)) != sizeof(i)) std::abort();
    std::int64_t back;
    ReadExactly(fds[0], reinterpret_cast<char*>(&back), sizeof(back));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return seconds;
}

double SocketpairThroughput(int n) {
  int fds[2];
  const pid_t pid = ForkRaw(fds, [n](int fd) {
    char go;
    if (read(fd, &go, 1) != 1) return;
    for (std::int64_t i = 0; i < n; ++i) {
      if (write(fd, &i, sizeof(i)) != sizeof(i)) return;
    }
  });
  const absl::Time start = absl::Now();
  if (write(fds[0], "g", 1) != 1) std::abort();
  std::vector<char> buf(64 * 1024);
  std::size_t want = static_cast<std::size_t>(n) * 8;
  while (want > 0) {
    const ssize_t r = read(fds[0], buf.data(), std::min(buf.size(), want));
    if (r <= 0) std::abort();
    want -= static_cast<std::size_t>(r);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return seconds;
}

// --- the table ---------------------------------------------------------------

struct Row {
  std::vector<double> seconds;
  long long count = 0;
  double Median() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    return s.empty() ? 0 : s[s.size() / 2];
  }
  double PerItemUs() const { return Median() * 1e6 / std::max(1LL, count); }
  double PerSecond() const { return count / std::max(1e-12, Median()); }
};

std::optional<std::map<std::string, Row>> RunPython(int repeat, int trips,
                                                    int messages,
                                                    int increments) {
  std::string script = "bench/mp_python.py";  // `bazel run`: runfiles
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
      ws != nullptr && !std::ifstream(script)) {
    script = absl::StrCat(ws, "/bench/mp_python.py");
  }
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) return std::nullopt;
  const std::string command =
      absl::StrCat("python3 '", script, "' ", repeat, " ", trips, " ",
                   messages, " ", increments);
  std::fflush(stdout);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::map<std::string, Row> rows;
  char line[256];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    std::istringstream in(line);
    std::string name;
    double seconds = 0;
    long long n = 0;
    if (!(in >> name >> seconds >> n)) continue;
    rows[name].seconds.push_back(seconds);
    rows[name].count = n;
  }
  if (pclose(pipe) != 0) return std::nullopt;
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  const int repeat = absl::GetFlag(FLAGS_repeat);
  const int trips = absl::GetFlag(FLAGS_round_trips);
  const int messages = absl::GetFlag(FLAGS_messages);
  const int increments = absl::GetFlag(FLAGS_increments);

  struct Workload {
    std::string name;
    std::function<double(int)> run;
    int n;
  };
  const std::vector<Workload> workloads = {
      {"socketpair_round_trip", SocketpairRoundTrip, trips},
      {"pipe_round_trip", PipeRoundTrip, trips},
      {"queue_round_trip", QueueRoundTrip, trips},
      {"socketpair_throughput", SocketpairThroughput, messages},
      {"pipe_throughput", PipeThroughput, messages},
      {"queue_throughput", QueueThroughput, messages},
      {"value_locked", ValueLocked, increments},
      {"value_locked_2proc", ValueLockedTwo, increments},
  };
  std::map<std::string, Row> cf_rows;
  // Interleaved rounds, so that a noisy moment hits every row alike.
  for (int r = 0; r < repeat; ++r) {
    for (const Workload& w : workloads) {
      if (!absl::GetFlag(FLAGS_only).empty() &&
          w.name != absl::GetFlag(FLAGS_only)) {
        continue;
      }
      cf_rows[w.name].seconds.push_back(w.run(w.n));
      cf_rows[w.name].count = w.n;
    }
  }
  std::optional<std::map<std::string, Row>> py;
  if (absl::GetFlag(FLAGS_python)) {
    py = RunPython(repeat, std::max(1, trips / 4), std::max(1, messages / 20),
                   std::max(1, increments / 10));
    if (!py) std::printf("(python3 or bench/mp_python.py failed: no Python rows)\n");
  }

  auto py_row = [&](const std::string& name) -> const Row* {
    if (!py) return nullptr;
    auto it = py->find(name);
    return it == py->end() ? nullptr : &it->second;
  };
  std::printf("%-24s %14s %16s %14s %10s\n", "workload", "cf", "bare socketpair",
              "Python", "cf/Python");
  auto latency = [&](const char* label, const char* name, const char* bare) {
    const Row& c = cf_rows[name];
    const Row* p = py_row(name);
    std::string bare_cell = "";
    if (bare != nullptr) {
      bare_cell = absl::StrFormat("%.2f µs", cf_rows[bare].PerItemUs());
    }
    std::printf("%-24s %11.2f µs %16s %14s %10s\n", label, c.PerItemUs(),
                bare_cell.c_str(),
                p ? absl::StrFormat("%.2f µs", p->PerItemUs()).c_str() : "-",
                p ? absl::StrFormat("%.1fx", p->PerItemUs() / c.PerItemUs()).c_str()
                  : "-");
  };
  auto rate = [&](const char* label, const char* name, const char* bare) {
    const Row& c = cf_rows[name];
    const Row* p = py_row(name);
    std::string bare_cell = "";
    if (bare != nullptr) {
      bare_cell = absl::StrFormat("%.2f M/s", cf_rows[bare].PerSecond() / 1e6);
    }
    std::printf("%-24s %10.2f M/s %16s %14s %10s\n", label, c.PerSecond() / 1e6,
                bare_cell.c_str(),
                p ? absl::StrFormat("%.3f M/s", p->PerSecond() / 1e6).c_str() : "-",
                p ? absl::StrFormat("%.1fx", c.PerSecond() / p->PerSecond()).c_str()
                  : "-");
  };
  latency("Pipe round trip", "pipe_round_trip", "socketpair_round_trip");
  latency("Queue round trip", "queue_round_trip", "socketpair_round_trip");
  rate("Pipe messages/s", "pipe_throughput", "socketpair_throughput");
  rate("Queue messages/s", "queue_throughput", "socketpair_throughput");
  rate("Value += 1 under lock", "value_locked", nullptr);
  rate("  two processes", "value_locked_2proc", nullptr);
  const double pipe_vs_bare = cf_rows["pipe_round_trip"].PerItemUs() /
                              cf_rows["socketpair_round_trip"].PerItemUs();
  std::printf("\nPipe round trip / bare socketpair round trip: %.2fx (target <= 1.5x)\n",
              pipe_vs_bare);
  if (const Row* p = py_row("queue_throughput")) {
    std::printf("Queue messages/s, cf / Python: %.1fx (target >= 20x)\n",
                cf_rows["queue_throughput"].PerSecond() / p->PerSecond());
  }
  return 0;
}
