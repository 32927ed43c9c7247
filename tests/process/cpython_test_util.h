// Helpers for the ports of CPython's Lib/test/test_concurrent_futures/ to
// cf::ProcessPoolExecutor (cpython_*_test.cc), parametrized over the start
// methods of cf_process_test::StartMethods().
//
// Workers are separate processes, so CPython's multiprocessing Events,
// Semaphores and Queues become files in a per-test temporary directory: a
// task blocks until a "gate" file appears, and says it started by creating a
// "started-<id>" file that holds its pid. Paths travel as std::string
// arguments, which works in every start method.
#ifndef CF_TESTS_PROCESS_CPYTHON_TEST_UTIL_H_
#define CF_TESTS_PROCESS_CPYTHON_TEST_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "executors/transport/fork_server.h"
#include "tests/process/process_test_util.h"

namespace cf_process_test {

// CPython's support.SHORT_TIMEOUT: a bound only a hang reaches.
inline constexpr absl::Duration kShortTimeout = absl::Seconds(30);
// test_deadlock.py waits LONG_TIMEOUT (300 s) before calling it a deadlock;
// a minute is plenty here and keeps a real deadlock within Bazel's timeout.
inline constexpr absl::Duration kDeadlockTimeout = absl::Seconds(60);
// CPython's ExecutorMixin.worker_count.
inline constexpr int kWorkerCount = 5;
// How long a task blocked on a gate waits at most: a test that fails before
// opening its gates still ends.
inline constexpr absl::Duration kGateLimit = absl::Seconds(60);

// Sanitizers intercept a worker's fatal signals (and exit codes of crashes)
// with their own reports, so tests check "which signal" only without them.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// Polls `pred` until it holds or `timeout` passes; returns pred().
inline bool PollUntil(const std::function<bool()>& pred,
                      absl::Duration timeout = kShortTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() >= deadline) return pred();
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// Runs `fn` on a helper thread and waits at most `limit` for it; a hang
// aborts the test binary naming `what` (instead of a silent Bazel timeout).
// Rethrows what `fn` throws.
inline void RunWithin(absl::Duration limit, const char* what,
                      std::function<void()> fn) {
  std::packaged_task<void()> task(std::move(fn));
  std::future<void> done = task.get_future();
  std::thread runner(std::move(task));
  if (done.wait_for(absl::ToChronoNanoseconds(limit)) !=
      std::future_status::ready) {
    std::fprintf(stderr, "HANG: %s did not return within %s\n", what,
                 absl::FormatDuration(limit).c_str());
    std::fflush(stderr);
    std::abort();
  }
  runner.join();
  done.get();
}

inline bool FileExists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

// Creates `path` with `content`, atomically (a reader sees all or nothing).
inline void WriteFileAtomically(const std::string& path,
                                const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  std::rename(tmp.c_str(), path.c_str());
}

// The content of `path`, or what could be read of it. Plain read(2), not a
// stream: libstdc++'s filebuf throws when a read fails, and a /proc file of
// a process that has just exited fails with ESRCH.
inline std::string ReadFile(const std::string& path) {
  std::string content;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return content;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) content.append(buf, n);
  close(fd);
  return content;
}

inline std::string DirOf(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

// --- Run in workers --------------------------------------------------------

// Blocks until `path`, or "release-all" next to it, exists (at most
// kGateLimit). Returns 1 if released, 0 if it gave up. Python's
// `event.wait()` / `sem.acquire()` on a multiprocessing primitive.
inline int WaitForFile(std::string path) {
  const std::string all = DirOf(path) + "/release-all";
  const absl::Time deadline = absl::Now() + kGateLimit;
  while (!FileExists(path) && !FileExists(all)) {
    if (absl::Now() >= deadline) return 0;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return 1;
}

// Says "started" (creates <dir>/started-<id> holding this process's pid),
// waits for <dir>/<gate>, then says "finished" (<dir>/finished-<id>).
// Returns `id`. Python's `_put_wait_put(queue, event)`.
inline int StartThenWait(std::string dir, int id, std::string gate) {
  WriteFileAtomically(dir + "/started-" + std::to_string(id),
                      std::to_string(getpid()));
  if (WaitForFile(dir + "/" + gate) == 0) return -1;
  WriteFileAtomically(dir + "/finished-" + std::to_string(id), "");
  return id;
}

// --- In the test process ---------------------------------------------------

// A fresh directory for one test's gates and markers, removed with the
// object. ReleaseAll() opens every gate at once.
class TempDir : public ScopedTempDir {
 public:
  TempDir() : ScopedTempDir("cf_cpython_") {}

  // Opens the gate `name` (see WaitForFile).
  void Open(const std::string& name) const { WriteFileAtomically(Path(name), ""); }
  void ReleaseAll() const { Open("release-all"); }

  bool Started(int id) const { return FileExists(Path("started-" + std::to_string(id))); }
  bool Finished(int id) const {
    return FileExists(Path("finished-" + std::to_string(id)));
  }
  // Waits (up to kShortTimeout) until task `id` has started; its worker's pid,
  // or -1.
  pid_t WaitStarted(int id) const {
    if (!PollUntil([&] { return Started(id); })) return -1;
    return static_cast<pid_t>(
        std::stol(ReadFile(Path("started-" + std::to_string(id)))));
  }
  // How many tasks have said "started".
  int CountStarted() const {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(path())) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("started-", 0) == 0 && name.find(".tmp.") == std::string::npos) ++n;
    }
    return n;
  }
};

// Opens every gate of `dir` when it goes out of scope: declare it after a
// pool whose tasks may block, so that the pool's destructor (shutdown with
// wait) does not wait for gates a failed assertion left closed.
class ReleaseOnExit {
 public:
  explicit ReleaseOnExit(const TempDir& dir) : dir_(dir) {}
  ReleaseOnExit(const ReleaseOnExit&) = delete;
  ReleaseOnExit& operator=(const ReleaseOnExit&) = delete;
  ~ReleaseOnExit() { dir_.ReleaseAll(); }

 private:
  const TempDir& dir_;
};

// Descriptors open in this process.
inline int CountOpenFds() {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

// The pids of this process's children, zombies included (Python's
// `multiprocessing.active_children()` plus the unreaped).
inline std::vector<pid_t> ChildPids() {
  std::vector<pid_t> children;
  const pid_t self = getpid();
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const std::size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = '?';
    long ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) != 2) continue;
    // The fork server serves the whole process and outlives pools.
    if (ppid == self && pid != cf::internal::ForkServerPid()) {
      children.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return children;
}

}  // namespace cf_process_test

// Instantiates the value-parametrized suite `suite` once per start method of
// StartMethods(); tests read StartMethods/<suite>.<Test>/Fork (.../Spawn,
// .../ForkServer).
#define CF_INSTANTIATE_FOR_START_METHODS(suite)                         \
  INSTANTIATE_TEST_SUITE_P(                                             \
      StartMethods, suite,                                              \
      ::testing::ValuesIn(::cf_process_test::StartMethods()),           \
      [](const ::testing::TestParamInfo<cf::StartMethod>& info) {       \
        return ::cf_process_test::StartMethodName(info.param);          \
      })

#endif  // CF_TESTS_PROCESS_CPYTHON_TEST_UTIL_H_
