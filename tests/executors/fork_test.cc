// fork() and thread pools: the adapted rows of CPython's test_thread_pool.py
// that fork (no process pool exists yet, so the children use a plain fork()
// and a fresh ThreadPoolExecutor, as the ProcessPoolExecutor of the original
// tests would).
//
// Not run under TSan (BUILD tag no_tsan): TSan does not support starting
// threads in the child of a multi-threaded fork; CPython skips its fork tests
// under TSan too. Under ASan the busy-pool test is skipped (see there).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <semaphore>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

// Set in a forked child that exits through exit(): LeakSanitizer would
// report the parent's objects, which the child's only thread cannot reach
// (their owners are threads that do not exist in the child).
static bool in_forked_child = false;
extern "C" int __lsan_is_turned_off() { return in_forked_child ? 1 : 0; }

namespace {

using cf_executor_test::kShortTimeout;
using cf_executor_test::RunWithin;

// What a forked child does: a fresh pool, one call, a clean exit. Returns the
// child's exit status (0 = the call gave the right result).
[[noreturn]] void ChildUsesAFreshPool() {
  int code = 1;
  {
    cf::ThreadPoolExecutor workers(1);
    if (workers.submit([] { return 7; }).result() == 7) code = 0;
  }
  std::_Exit(code);
}

// Like ChildUsesAFreshPool, but the call takes 50 ms, so that the child is
// surely blocked in result() while it runs.
[[noreturn]] void ChildWaitsOnASlowCall() {
  int code = 1;
  {
    cf::ThreadPoolExecutor workers(1);
    cf::Future<int> f = workers.submit([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      return 7;
    });
    if (f.result() == 7) code = 0;
  }
  std::_Exit(code);
}

int WaitForExitCode(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// CPython: test_hang_global_shutdown_lock (bpo-45021). While a pool is kept
// busy by a call that keeps re-submitting itself, the process forks 50 times;
// each child starts its own pool and runs a call. No child hangs (no lock of
// the parent's pools is inherited in a held state).
TEST(ForkTest, ForkingWhileAPoolIsBusyDoesNotHangTheChild) {
#if defined(__SANITIZE_ADDRESS__)
  // GCC 12's ASan allocator is not fork-safe: a fork while the busy worker
  // allocates leaves the allocator's lock held in the child, which then
  // hangs in its first `new` (seen in gdb: __asan::Allocator::Allocate).
  GTEST_SKIP() << "ASan's allocator deadlocks in the child of a fork taken "
                  "while another thread allocates";
#endif
  std::function<void()> resubmit;
  cf::ThreadPoolExecutor pool(1);
  resubmit = [&] {
    try {
      pool.submit(resubmit);
    } catch (const std::runtime_error&) {
      // shut down: the chain ends
    }
  };
  pool.submit(resubmit);
  RunWithin(kShortTimeout, "50 forks", [&] {
    for (int i = 0; i < 50; ++i) {
      pid_t pid = fork();
      if (pid == 0) ChildUsesAFreshPool();
      ASSERT_GT(pid, 0);
      EXPECT_EQ(WaitForExitCode(pid), 0) << "child " << i;
    }
  });
  pool.shutdown();
}

// Runs a call on `pool` that forks; the child runs `child` (which must not
// return), the call returns the child's exit code. The fork waits until the
// test's other threads are idle: under ASan a fork taken while another
// thread allocates leaves the allocator locked in the child.
int ForkInAWorker(cf::ThreadPoolExecutor& pool, void (*child)()) {
  std::binary_semaphore go(0);
  cf::Future<int> exit_code = pool.submit([&go, child] {
    go.acquire();
    pid_t pid = fork();
    if (pid == 0) child();
    return WaitForExitCode(pid);
  });
  int code = -1;
  RunWithin(kShortTimeout, "fork from a worker", [&] {
    go.release();
    code = exit_code.result();
  });
  return code;
}

// CPython: test_process_fork_from_a_threadpool (bpo-43944). A process forked
// from a worker thread exits with code 0: its exit() must not try to join or
// wait for the parent's worker threads.
TEST(ForkTest, ChildForkedFromAWorkerExitsCleanly) {
  cf::ThreadPoolExecutor pool(1);
  EXPECT_EQ(ForkInAWorker(pool,
                          [] {
                            in_forked_child = true;
                            std::exit(0);  // runs exit handlers and static
                                           // destructors
                          }),
            0);
}

// The same child also uses cf: a fresh pool and a call.
TEST(ForkTest, ChildForkedFromAWorkerCanUseAFreshPool) {
  cf::ThreadPoolExecutor pool(1);
  EXPECT_EQ(ForkInAWorker(pool, ChildUsesAFreshPool), 0);
}

// A child forked from a worker thread inherits that thread's state. When it
// waits on a future, it must not run the calls that were queued in the
// parent's pool at the time of the fork: those belong to the parent, which
// runs them too, so their side effects would happen twice.
TEST(ForkTest, ChildForkedFromAWorkerDoesNotRunTheParentsQueuedCalls) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const int write_fd = fds[1];
  std::binary_semaphore queued(0);
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> forker = pool.submit([&queued] {
    queued.acquire();  // B is in the queue now, and the test thread waits
    pid_t pid = fork();
    if (pid == 0) ChildWaitsOnASlowCall();
    return WaitForExitCode(pid);
  });
  cf::Future<void> b = pool.submit([write_fd] {
    std::string line = std::to_string(getpid()) + "\n";
    (void)!write(write_fd, line.data(), line.size());
  });
  int code = -1;
  RunWithin(kShortTimeout, "fork with a queued call", [&] {
    queued.release();  // from here on the test's threads only wait
    code = forker.result();
    b.result();
  });
  EXPECT_EQ(code, 0);
  pool.shutdown();
  close(write_fd);
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  close(fds[0]);
  std::vector<std::string> pids = absl::StrSplit(text, '\n', absl::SkipEmpty());
  EXPECT_EQ(pids, std::vector<std::string>{std::to_string(getpid())})
      << "the parent's queued call B also ran in the child";
}

}  // namespace
