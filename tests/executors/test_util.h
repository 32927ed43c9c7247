// Helpers shared by the executor tests (ports of CPython's
// Lib/test/test_concurrent_futures/{executor,test_thread_pool,test_shutdown,
// test_init}.py).
//
// Pool workers never call GoogleTest assertions (Debian's libgtest is not
// TSan-instrumented): they report into atomics, futures or mutex-guarded
// vectors, and the test thread asserts. The one exception is RunWithin's
// helper thread, which asserts while the test thread waits for it (the join
// orders the two).
#ifndef CF_TESTS_EXECUTORS_TEST_UTIL_H_
#define CF_TESTS_EXECUTORS_TEST_UTIL_H_

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cf_executor_test {

// CPython's support.SHORT_TIMEOUT (30 s): the bound for "does not hang".
inline constexpr absl::Duration kShortTimeout = absl::Seconds(30);

// True when built with a sanitizer (GCC defines __SANITIZE_*; Clang has
// __has_feature).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// Polls `pred` until it holds or `timeout` passes; returns pred().
inline bool PollUntil(const std::function<bool()>& pred,
                      absl::Duration timeout = kShortTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Runs `fn` on a helper thread and waits at most `limit` for it. A hang
// aborts the test binary with a message naming `what` (a hung test would
// otherwise only show up as a Bazel timeout). Exceptions thrown by `fn` are
// rethrown here.
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

// Seconds since `start`, for walltime assertions.
inline absl::Duration Since(absl::Time start) { return absl::Now() - start; }

// Redirects file descriptor 2 into a temporary file until Stop(); Python's
// assertLogs for the "Exception in initializer:" report.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    char path[] = "/tmp/cf_stderr_XXXXXX";
    file_ = mkstemp(path);
    if (file_ < 0) throw std::runtime_error("mkstemp failed");
    unlink(path);
    saved_ = dup(2);
    dup2(file_, 2);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() { Stop(); }

  // Restores stderr and returns what was written meanwhile.
  std::string Stop() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      dup2(saved_, 2);
      close(saved_);
      saved_ = -1;
      lseek(file_, 0, SEEK_SET);
      char buf[4096];
      ssize_t n;
      while ((n = read(file_, buf, sizeof(buf))) > 0) text_.append(buf, n);
      close(file_);
      file_ = -1;
    }
    return text_;
  }

 private:
  int file_ = -1;
  int saved_ = -1;
  std::string text_;
};

// Counts thread exits: a thread that calls CountExitOf(counter) increments
// `counter` when it terminates (thread_local destructors run before a joined
// thread is reported finished). Python's "t.join() for t in _threads".
struct ThreadExitCounter {
  std::atomic<int>* counter = nullptr;
  ~ThreadExitCounter() {
    if (counter != nullptr) counter->fetch_add(1);
  }
};
inline thread_local ThreadExitCounter thread_exit_counter;
inline void CountExitOf(std::atomic<int>& counter) {
  thread_exit_counter.counter = &counter;
}

// A thread-safe append-only log of strings (Python's `log = []`).
class Log {
 public:
  void Add(std::string entry) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(std::move(entry));
  }
  std::vector<std::string> entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> entries_;
};

}  // namespace cf_executor_test

#endif  // CF_TESTS_EXECUTORS_TEST_UTIL_H_
