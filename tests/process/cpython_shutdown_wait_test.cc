// Ports of CPython's Lib/test/test_concurrent_futures/ test_shutdown.py
// (ExecutorShutdownTest and ProcessPoolShutdownTest), test_wait.py
// (WaitTests), test_as_completed.py (AsCompletedTests) and test_init.py
// (InitializerTest, FailingInitializerTest, FailingInitializerResourcesTest)
// to cf::ProcessPoolExecutor, once per start method.
//
// Multiprocessing Events become gate files (cpython_test_util.h); Python's
// `p.join()` of the pool's processes becomes "the pid is gone" and "this
// process has no child left"; `python -c` children are
// cpython_shutdown_child.
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <list>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process/cpython_test_util.h"
#include "tests/process/process_test_util.h"

extern char** environ;

namespace {

using cf_process_test::ChildPids;
using cf_process_test::CountOpenFds;
using cf_process_test::IsAlive;
using cf_process_test::kShortTimeout;
using cf_process_test::kWorkerCount;
using cf_process_test::PollUntil;
using cf_process_test::ReleaseOnExit;
using cf_process_test::RunWithin;
using cf_process_test::StartThenWait;
using cf_process_test::TempDir;
using cf_process_test::WaitForFile;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Futures = cf::FutureSet<int>;

// --- Functions run in the workers -------------------------------------------

int Mul(int x, int y) { return x * y; }
int SleepMs(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}
// Python's divmod(x, 0): ZeroDivisionError, std::domain_error here.
int Divmod(int x, int y) {
  if (y == 0) throw std::domain_error("integer division or modulo by zero");
  return x / y;
}
std::pair<int, int> AbsAndPid(int x) {
  return {x < 0 ? -x : x, static_cast<int>(getpid())};
}
// test_wait.py's wait_and_raise(e).
int WaitAndRaise(std::string gate) {
  WaitForFile(gate);
  throw std::runtime_error("this is an exception");
}
// test_shutdown.py's _good_task_gh_132969 / _failing_task_gh_132969.
int GoodTask(int n) {
  absl::SleepFor(absl::Milliseconds(100 * n));
  return n;
}
int FailingTask(int) { throw std::invalid_argument("failing task"); }

// test_init.py's init (SetInitStatus) / get_init_status / init_fail.
std::string init_status = "uninitialized";
void SetInitStatus(std::string status) { init_status = std::move(status); }
std::string GetInitStatus() { return init_status; }
void InitFail() {
  absl::SleepFor(absl::Milliseconds(100));  // let some futures be scheduled
  throw std::invalid_argument("error in initializer");
}

// --- CPython's util.py fixture futures (fresh ones per call) -----------------

// Python's OSError(): the exception of EXCEPTION_FUTURE.
std::system_error OSError() {
  return std::system_error(std::make_error_code(std::errc::io_error), "OSError");
}
cf::Future<int> CancelledFuture() {
  cf::Future<int> f;
  f.cancel();
  return f;
}
cf::Future<int> CancelledAndNotifiedFuture() {
  cf::Future<int> f = CancelledFuture();
  f.set_running_or_notify_cancel();
  return f;
}
cf::Future<int> ExceptionFuture() {
  cf::Future<int> f;
  f.set_exception(OSError());
  return f;
}
cf::Future<int> SuccessfulFuture() {
  cf::Future<int> f;
  f.set_result(42);
  return f;
}

// CPython's ExecutorMixin: kWorkerCount workers, made on first use, shut
// down (wait=True) after the test with every gate opened first.
class CpythonProcessTest : public ::testing::TestWithParam<cf::StartMethod> {
 protected:
  void TearDown() override {
    dir_.ReleaseAll();
    executor_.reset();
  }

  cf::ProcessPoolOptions Options(int max_workers) const {
    return {.max_workers = max_workers, .start_method = GetParam()};
  }

  cf::ProcessPoolExecutor& executor() {
    if (!executor_) {
      executor_ = std::make_unique<cf::ProcessPoolExecutor>(Options(kWorkerCount));
    }
    return *executor_;
  }

  // A call blocked on the gate `name` (Python: submit(event.wait)).
  cf::Future<int> SubmitWait(const std::string& name) {
    return executor().submit(WaitForFile, dir_.Path(name));
  }

  TempDir dir_;

 private:
  std::unique_ptr<cf::ProcessPoolExecutor> executor_;
};

class CpythonShutdownTest : public CpythonProcessTest {};
class CpythonWaitTest : public CpythonProcessTest {};
class CpythonAsCompletedTest : public CpythonProcessTest {};
class CpythonInitializerTest : public CpythonProcessTest {};

// --- Child processes (Python's assert_python_ok) ----------------------------

struct ChildResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(int fd) {
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, n);
  close(fd);
  return text;
}

// Runs cpython_shutdown_child <mode> <method>; bounded by kShortTimeout.
ChildResult RunChild(const std::string& mode, cf::StartMethod method) {
  ChildResult result;
  RunWithin(kShortTimeout, mode.c_str(), [&] {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const char* workspace = std::getenv("TEST_WORKSPACE");
    if (srcdir == nullptr || workspace == nullptr) {
      throw std::runtime_error("not run by bazel test");
    }
    std::string path = std::string(srcdir) + "/" + workspace +
                       "/tests/process/cpython_shutdown_child";
    int out_pipe[2], err_pipe[2];
    if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
      throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    std::string mode_arg = mode;
    std::string method_arg = cf_process_test::StartMethodName(method);
    char* argv[] = {path.data(), mode_arg.data(), method_arg.data(), nullptr};
    pid_t pid;
    const int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) throw std::runtime_error("posix_spawn failed");
    // The child writes little; stdout then stderr cannot fill a pipe.
    result.out = ReadAll(out_pipe[0]);
    result.err = ReadAll(err_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  });
  return result;
}

// ============================================================================
// test_shutdown.py: ExecutorShutdownTest, ProcessPoolShutdownTest
// ============================================================================

// CPython test_run_after_shutdown.
TEST_P(CpythonShutdownTest, SubmitAfterShutdownRaisesRuntimeError) {
  executor().shutdown();
  try {
    executor().submit(Mul, 2, 5);
    ADD_FAILURE() << "submit after shutdown did not throw";
  } catch (const cf::BrokenExecutor&) {
    ADD_FAILURE() << "not broken, only shut down";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
}

// CPython test_interpreter_shutdown: a child submits a call and exits without
// shutdown; the call still completes ("apple") and nothing is on stderr.
TEST_P(CpythonShutdownTest, PendingCallCompletesAtProcessExit) {
  ChildResult r = RunChild("interpreter_shutdown", GetParam());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "apple\n");
}

// CPython test_submit_after_interpreter_shutdown: a submit from an exit
// handler, after the pool was shut down during exit, raises "cannot schedule
// new futures".
TEST_P(CpythonShutdownTest, SubmitDuringExitAfterShutdownRaisesRuntimeError) {
  ChildResult r = RunChild("submit_after_shutdown_at_exit", GetParam());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("RuntimeError: cannot schedule new futures"));
  EXPECT_EQ(r.out, "runtime-error\n");
}

// CPython test_hang_gh83386, which Python skips for process pools ("Hangs"):
// shutdown(wait=false) with a running call, then exit: no hang, the call
// prints "apple", stderr is empty.
TEST_P(CpythonShutdownTest, ShutdownNoWaitThenExitDoesNotHang) {
  ChildResult r = RunChild("shutdown_no_wait", GetParam());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "apple\n");
}

// CPython test_cancel_futures_wait_false, which Python runs for threads only
// ("PPE often hangs"): shutdown(wait=false, cancel_futures=true) right after
// submit, then exit: no error; the call ran ("apple") or was cancelled ("").
TEST_P(CpythonShutdownTest, ShutdownCancelFuturesNoWaitThenExitIsClean) {
  ChildResult r = RunChild("cancel_futures_no_wait", GetParam());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(r.out == "apple\n" || r.out.empty()) << r.out;
}

// CPython test_hang_issue12364: 50 queued calls, shutdown(), then every
// result is there.
TEST_P(CpythonShutdownTest, ShutdownRunsEveryQueuedCall) {
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(executor().submit(SleepMs, 10));
  RunWithin(kShortTimeout, "shutdown()", [&] { executor().shutdown(); });
  for (auto& f : fs) {
    ASSERT_TRUE(f.done());
    EXPECT_EQ(f.result(), 10);
  }
}

// CPython test_cancel_futures: 50 x sleep(0.1) on 5 workers,
// shutdown(cancel_futures=True): more than 20 are cancelled, the others
// finished without an exception, and at least one did.
TEST_P(CpythonShutdownTest, ShutdownCancelFuturesCancelsThePendingCalls) {
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(executor().submit(SleepMs, 100));
  executor().shutdown(/*wait=*/true, /*cancel_futures=*/true);
  int cancelled = 0, others = 0;
  for (auto& f : fs) {
    if (f.cancelled()) {
      ++cancelled;
      EXPECT_THROW(f.result(), cf::CancelledError);
    } else {
      ++others;
      EXPECT_TRUE(f.done()) << f;
      EXPECT_EQ(f.exception(), nullptr);
    }
  }
  EXPECT_GT(cancelled, 20);
  EXPECT_GT(others, 0);
}

// CPython test_hang_gh94440: shutdown(wait=True) returns (Python: within a
// 5 s alarm) after a call was submitted and cancelled right before it.
TEST_P(CpythonShutdownTest, ShutdownAfterCancellingACallDoesNotHang) {
  cf::ProcessPoolExecutor pool(Options(1));
  EXPECT_EQ(pool.submit(Mul, 0, 0).result(kShortTimeout), 0);
  RunWithin(absl::Seconds(5), "shutdown after cancel", [&] {
    pool.submit(Mul, 0, 0).cancel();
    pool.shutdown(/*wait=*/true);
  });
}

// CPython test_processes_terminate: 3 blocked calls run in 3 processes
// (5 with fork, which starts every worker on the first submit); after
// shutdown() they are all reaped.
TEST_P(CpythonShutdownTest, ShutdownReapsEveryWorker) {
  for (int i = 0; i < 3; ++i) {
    executor().submit(StartThenWait, dir_.path(), i, std::string("gate"));
  }
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) pids.push_back(dir_.WaitStarted(i));
  // fork starts every worker on the first submit, not on demand (CPython
  // likewise); cf's manager forks them one after the other.
  const int expected = GetParam() == cf::StartMethod::kFork ? kWorkerCount : 3;
  EXPECT_TRUE(PollUntil([&] { return executor().num_workers() == expected; }))
      << executor().num_workers();
  dir_.Open("gate");
  executor().shutdown();
  for (pid_t pid : pids) {
    ASSERT_GT(pid, 0);
    EXPECT_FALSE(IsAlive(pid)) << pid;
  }
  EXPECT_EQ(executor().num_workers(), 0);
}

// CPython test_context_manager_shutdown: Python's `with` block is the C++
// scope; leaving it waits for the work and reaps the processes.
TEST_P(CpythonShutdownTest, LeavingTheScopeShutsDownAndReaps) {
  const std::vector<pid_t> children_before = ChildPids();
  std::vector<int> pids;
  {
    cf::ProcessPoolExecutor e(Options(5));
    std::vector<int> results;
    for (auto [value, pid] : e.map(AbsAndPid, std::views::iota(-5, 5))) {
      results.push_back(value);
      pids.push_back(pid);
    }
    EXPECT_EQ(results, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
  }
  for (int pid : pids) EXPECT_FALSE(IsAlive(pid)) << pid;
  EXPECT_EQ(ChildPids(), children_before);
}

// CPython test_del_shutdown: `del executor` (the destructor here) shuts down
// and reaps every process; the map results are all still there.
TEST_P(CpythonShutdownTest, DestroyingThePoolKeepsTheMapResults) {
  const std::vector<pid_t> children_before = ChildPids();
  auto executor = std::make_unique<cf::ProcessPoolExecutor>(Options(5));
  auto res = executor->map(AbsAndPid, std::views::iota(-5, 5));
  executor.reset();
  EXPECT_EQ(ChildPids(), children_before);
  std::vector<int> results;
  for (auto [value, pid] : res) {
    results.push_back(value);
    EXPECT_FALSE(IsAlive(pid)) << pid;
  }
  EXPECT_EQ(results, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
}

// CPython test_shutdown_no_wait: shutdown(wait=false) returns at once; the
// pool still finishes the work and its processes exit and are reaped; the
// results are correct.
TEST_P(CpythonShutdownTest, ShutdownWithoutWaitStillFinishesAndReaps) {
  const std::vector<pid_t> children_before = ChildPids();
  cf::ProcessPoolExecutor executor(Options(5));
  auto res = executor.map(AbsAndPid, std::views::iota(-5, 5));
  executor.shutdown(/*wait=*/false);
  EXPECT_TRUE(PollUntil([&] { return ChildPids() == children_before; }))
      << "the workers did not exit after shutdown(wait=false)";
  std::vector<int> results;
  for (auto [value, pid] : res) results.push_back(value);
  EXPECT_EQ(results, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
}

// CPython test_shutdown_gh_132969_case_1 and _case_2 (main): with
// max_tasks_per_child=1, stopping at the first failed call and calling
// shutdown(wait=false) neither crashes nor hangs (2 and 4 workers).
TEST_P(CpythonShutdownTest, ShutdownNoWaitAfterAFailedCallWithMaxTasksPerChild) {
  if (GetParam() == cf::StartMethod::kFork) {
    GTEST_SKIP() << "Incompatible with the fork start method (as in CPython: "
                    "max_tasks_per_child needs spawn or forkserver).";
  }
  for (int max_workers : {2, 4}) {
    SCOPED_TRACE(testing::Message() << "max_workers=" << max_workers);
    auto executor = std::make_unique<cf::ProcessPoolExecutor>(cf::ProcessPoolOptions{
        .max_workers = max_workers, .start_method = GetParam(), .max_tasks_per_child = 1});
    cf::Future<int> f1 = executor->submit(GoodTask, 1);
    cf::Future<int> f2 = executor->submit(FailingTask, 2);
    cf::Future<int> f3 = executor->submit(GoodTask, 3);
    int result = 0;
    try {
      result += f1.result(kShortTimeout);
      result += f2.result(kShortTimeout);
      result += f3.result(kShortTimeout);
    } catch (const std::invalid_argument&) {
      // Stop at the first exception.
    }
    executor->shutdown(/*wait=*/false);
    absl::SleepFor(absl::Milliseconds(200));
    RunWithin(kShortTimeout, "joining the pool", [&] { executor.reset(); });
    EXPECT_EQ(result, 1);
  }
}

// ============================================================================
// test_wait.py: WaitTests
// ============================================================================

// CPython test_20369: a future passed twice is waited on once.
TEST_P(CpythonWaitTest, DuplicateFutureIsReportedOnce) {
  cf::Future<int> future = executor().submit(Mul, 1, 2);
  auto [done, not_done] = cf::wait({future, future}, cf::ReturnWhen::kAllCompleted);
  EXPECT_EQ(done, Futures({future}));
  EXPECT_THAT(not_done, IsEmpty());
}

// CPython test_first_completed: CANCELLED_FUTURE was never notified, so it
// counts as not done.
TEST_P(CpythonWaitTest, FirstCompletedTreatsUnnotifiedCancelAsNotDone) {
  cf::Future<int> cancelled = CancelledFuture();
  cf::Future<int> future1 = executor().submit(Mul, 21, 2);
  cf::Future<int> future2 = SubmitWait("event");
  auto [done, not_done] =
      cf::wait({cancelled, future1, future2}, cf::ReturnWhen::kFirstCompleted);
  EXPECT_EQ(done, Futures({future1}));
  EXPECT_EQ(not_done, Futures({cancelled, future2}));
  dir_.Open("event");
  EXPECT_EQ(future2.result(kShortTimeout), 1);  // wait for the job to finish
}

// CPython test_first_completed_some_already_completed.
TEST_P(CpythonWaitTest, FirstCompletedReturnsTheAlreadyCompletedAtOnce) {
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> future1 = SubmitWait("event");
  auto [finished, pending] = cf::wait({cancelled_and_notified, successful, future1},
                                      cf::ReturnWhen::kFirstCompleted);
  EXPECT_EQ(finished, Futures({cancelled_and_notified, successful}));
  EXPECT_EQ(pending, Futures({future1}));
  dir_.Open("event");
  EXPECT_EQ(future1.result(kShortTimeout), 1);
}

// CPython test_first_exception (main, with events): future1 finishes, then
// future2 raises; future3 is still blocked when wait returns.
TEST_P(CpythonWaitTest, FirstExceptionReturnsOnceACallRaises) {
  cf::Future<int> future1 = executor().submit(Mul, 2, 21);
  cf::Future<int> future2 = executor().submit(WaitAndRaise, dir_.Path("event1"));
  cf::Future<int> future3 = SubmitWait("event2");
  // Ensure that future1 is completed before future2 finishes.
  std::thread t([&] {
    future1.exception(kShortTimeout);
    dir_.Open("event1");
  });
  auto [finished, pending] =
      cf::wait({future1, future2, future3}, cf::ReturnWhen::kFirstException);
  t.join();
  EXPECT_EQ(finished, Futures({future1, future2}));
  EXPECT_EQ(pending, Futures({future3}));
  EXPECT_THROW(future2.result(), std::runtime_error);
  dir_.Open("event2");
  EXPECT_EQ(future3.result(kShortTimeout), 1);
}

// CPython test_first_exception_some_already_complete.
TEST_P(CpythonWaitTest, FirstExceptionCountsTheAlreadyCompleted) {
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> cancelled = CancelledFuture();
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> future1 = executor().submit(Divmod, 21, 0);
  cf::Future<int> future2 = SubmitWait("event");
  auto [finished, pending] =
      cf::wait({successful, cancelled, cancelled_and_notified, future1, future2},
               cf::ReturnWhen::kFirstException);
  EXPECT_EQ(finished, Futures({successful, cancelled_and_notified, future1}));
  EXPECT_EQ(pending, Futures({cancelled, future2}));
  EXPECT_THROW(future1.result(), std::domain_error);
  dir_.Open("event");
  EXPECT_EQ(future2.result(kShortTimeout), 1);
}

// CPython test_first_exception_one_already_failed: returns at once.
TEST_P(CpythonWaitTest, FirstExceptionReturnsAtOnceForAnAlreadyFailedFuture) {
  cf::Future<int> exception = ExceptionFuture();
  cf::Future<int> future1 = SubmitWait("event");
  auto [finished, pending] =
      cf::wait({exception, future1}, cf::ReturnWhen::kFirstException);
  EXPECT_EQ(finished, Futures({exception}));
  EXPECT_EQ(pending, Futures({future1}));
  dir_.Open("event");
  EXPECT_EQ(future1.result(kShortTimeout), 1);
}

// CPython test_all_completed.
TEST_P(CpythonWaitTest, AllCompletedWaitsForEveryFuture) {
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> exception = ExceptionFuture();
  cf::Future<int> future1 = executor().submit(Divmod, 2, 0);
  cf::Future<int> future2 = executor().submit(Mul, 2, 21);
  auto [finished, pending] = cf::wait(
      {successful, cancelled_and_notified, exception, future1, future2},
      cf::ReturnWhen::kAllCompleted);
  EXPECT_EQ(finished, Futures({successful, cancelled_and_notified, exception,
                               future1, future2}));
  EXPECT_THAT(pending, IsEmpty());
  EXPECT_THROW(future1.result(), std::domain_error);
  EXPECT_EQ(future2.result(), 42);
}

// CPython test_timeout: after 50 ms wait returns what is done, and raises
// nothing.
TEST_P(CpythonWaitTest, TimeoutReturnsWhatIsDoneWithoutRaising) {
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> exception = ExceptionFuture();
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> future = SubmitWait("event");
  auto [finished, pending] =
      cf::wait({cancelled_and_notified, exception, successful, future},
               absl::Milliseconds(50), cf::ReturnWhen::kAllCompleted);
  EXPECT_EQ(finished, Futures({cancelled_and_notified, exception, successful}));
  EXPECT_EQ(pending, Futures({future}));
  dir_.Open("event");
  EXPECT_EQ(future.result(kShortTimeout), 1);
}

// ============================================================================
// test_as_completed.py: AsCompletedTests
// ============================================================================

// CPython test_no_timeout.
TEST_P(CpythonAsCompletedTest, NoTimeoutYieldsEveryFuture) {
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> exception = ExceptionFuture();
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> future1 = executor().submit(Mul, 2, 21);
  cf::Future<int> future2 = executor().submit(Mul, 7, 6);
  Futures completed;
  for (cf::Future<int> f : cf::as_completed(
           {cancelled_and_notified, exception, successful, future1, future2})) {
    completed.insert(f);
  }
  EXPECT_EQ(completed, Futures({cancelled_and_notified, exception, successful,
                                future1, future2}));
}

// CPython test_future_times_out: with a timeout of 0 and of 100 ms, only the
// three precompleted futures are yielded, then TimeoutError (the pool's call
// blocks on a gate instead of sleeping 1 s).
TEST_P(CpythonAsCompletedTest, TimeoutYieldsOnlyTheCompletedFutures) {
  const Futures already_completed = {CancelledAndNotifiedFuture(), ExceptionFuture(),
                                     SuccessfulFuture()};
  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Milliseconds(100)}) {
    SCOPED_TRACE(absl::FormatDuration(timeout));
    cf::Future<int> future = SubmitWait("event");
    std::vector<cf::Future<int>> all(already_completed.begin(), already_completed.end());
    all.push_back(future);
    Futures completed;
    bool timed_out = false;
    try {
      for (cf::Future<int> f : cf::as_completed(all, timeout)) completed.insert(f);
    } catch (const cf::TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(completed, already_completed);
  }
  dir_.Open("event");
}

// CPython test_duplicate_futures: the same future three times (in any range,
// bpo-31641) is yielded once.
TEST_P(CpythonAsCompletedTest, DuplicateFuturesAreYieldedOnce) {
  cf::Future<int> future1 = executor().submit(SleepMs, 100);
  std::list<cf::Future<int>> repeated(3, future1);
  int completed = 0;
  for (cf::Future<int> f : cf::as_completed(repeated)) {
    EXPECT_EQ(f, future1);
    ++completed;
  }
  EXPECT_EQ(completed, 1);
}

// CPython test_free_reference_yielded_future: as_completed keeps no
// reference to a future it has yielded. Python uses bare futures; here 8 are
// the pool's (blocked on gates, completed one at a time), which also shows
// that the pool drops a call once it is done.
TEST_P(CpythonAsCompletedTest, YieldedFuturesAreNotRetained) {
  std::vector<cf::Future<int>> futures_list;
  for (int i = 0; i < 8; ++i) {
    futures_list.push_back(executor().submit(StartThenWait, dir_.path(), i,
                                             "gate-" + std::to_string(i)));
  }
  futures_list.push_back(CancelledAndNotifiedFuture());
  futures_list.push_back(SuccessfulFuture());

  bool timed_out = false;
  try {
    for (cf::Future<int> future : cf::as_completed(futures_list, absl::ZeroDuration())) {
      std::erase(futures_list, future);
      std::weak_ptr wr(future.state());
      future = cf::Future<int>();
      EXPECT_TRUE(wr.expired());
    }
  } catch (const cf::TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  ASSERT_EQ(futures_list.size(), 8u);

  int next = 0;
  dir_.Open("gate-" + std::to_string(next++));
  for (cf::Future<int> future : cf::as_completed(futures_list, kShortTimeout)) {
    std::erase(futures_list, future);
    std::weak_ptr wr(future.state());
    future = cf::Future<int>();
    // The pool lets go of a call right after completing it.
    EXPECT_TRUE(PollUntil([&] { return wr.expired(); }));
    if (!futures_list.empty()) dir_.Open("gate-" + std::to_string(next++));
  }
  EXPECT_THAT(futures_list, IsEmpty());
}

// CPython test_correct_timeout_exception_msg: [C&N, PENDING, RUNNING,
// SUCCESSFUL] with timeout 0 -> "2 (of 4) futures unfinished". The PENDING
// and RUNNING ones are the pool's: with one worker, the first two calls are
// RUNNING (Python's call queue holds max_workers + 1) and the third PENDING.
TEST_P(CpythonAsCompletedTest, TimeoutMessageCountsTheUnfinishedFutures) {
  cf::ProcessPoolExecutor pool(Options(1));
  ReleaseOnExit release(dir_);
  cf::Future<int> running = pool.submit(StartThenWait, dir_.path(), 0, std::string("gate"));
  pool.submit(StartThenWait, dir_.path(), 1, std::string("gate"));
  cf::Future<int> pending = pool.submit(StartThenWait, dir_.path(), 2, std::string("gate"));
  EXPECT_TRUE(running.running());
  EXPECT_FALSE(pending.running() || pending.done());
  try {
    for (cf::Future<int> f : cf::as_completed(
             {CancelledAndNotifiedFuture(), pending, running, SuccessfulFuture()},
             absl::ZeroDuration())) {
      (void)f;
    }
    ADD_FAILURE() << "expected cf::TimeoutError";
  } catch (const cf::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "2 (of 4) futures unfinished");
  }
}

// ============================================================================
// test_init.py
// ============================================================================

// CPython InitializerTest.test_initializer: 2 workers, initializer
// init('initialized'); the calls see its effect (and the parent does not).
TEST_P(CpythonInitializerTest, InitializerRunsInTheWorkers) {
  cf::ProcessPoolExecutor pool(
      {.max_workers = 2,
       .start_method = GetParam(),
       .initializer = {SetInitStatus, std::string("initialized")}});
  std::vector<cf::Future<std::string>> futures;
  for (int i = 0; i < 2; ++i) futures.push_back(pool.submit(GetInitStatus));
  for (auto& f : futures) EXPECT_EQ(f.result(kShortTimeout), "initialized");
  EXPECT_EQ(init_status, "uninitialized");
}

// CPython FailingInitializerTest.test_initializer: the initializer raises
// ValueError('error in initializer') after 0.1 s. Either submit or result()
// raises BrokenExecutor; the pool ends up broken and submit raises it from
// then on. Python checks the 'concurrent.futures' CRITICAL log for the
// error; cf puts it in the BrokenProcessPool's message.
TEST_P(CpythonInitializerTest, FailingInitializerBreaksThePool) {
  cf::ProcessPoolExecutor pool(
      {.max_workers = 2, .start_method = GetParam(), .initializer = {InitFail}});
  std::string message;
  try {
    cf::Future<std::string> future = pool.submit(GetInitStatus);
    try {
      future.result(kShortTimeout);
      ADD_FAILURE() << "expected cf::BrokenExecutor";
    } catch (const cf::BrokenExecutor& e) {
      message = e.what();
    }
  } catch (const cf::BrokenExecutor& e) {
    message = e.what();  // perhaps the pool is already broken
  }
  EXPECT_THAT(message, HasSubstr("invalid_argument: error in initializer"));
  EXPECT_TRUE(PollUntil([&] {
    try {
      pool.submit(GetInitStatus);
      return false;
    } catch (const cf::BrokenExecutor&) {
      return true;
    }
  })) << "executor not broken";
  EXPECT_THROW(pool.submit(GetInitStatus), cf::BrokenProcessPool);
}

// CPython FailingInitializerResourcesTest (gh-104090: no leaked semaphores
// after a failing initializer). cf's resources are descriptors and child
// processes: none is left once the broken pool is gone. (A first pool runs
// beforehand so that anything a start method keeps for the process's
// lifetime is already there.)
TEST_P(CpythonInitializerTest, FailingInitializerLeaksNoDescriptorOrProcess) {
  {
    cf::ProcessPoolExecutor warm_up(Options(1));
    ASSERT_EQ(warm_up.submit(Mul, 2, 3).result(kShortTimeout), 6);
  }
  const int fds_before = CountOpenFds();
  const std::vector<pid_t> children_before = ChildPids();
  {
    cf::ProcessPoolExecutor pool(
        {.max_workers = 2, .start_method = GetParam(), .initializer = {InitFail}});
    cf::Future<std::string> future = pool.submit(GetInitStatus);
    EXPECT_THROW(future.result(kShortTimeout), cf::BrokenProcessPool);
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
  EXPECT_EQ(ChildPids(), children_before);
}

CF_INSTANTIATE_FOR_START_METHODS(CpythonShutdownTest);
CF_INSTANTIATE_FOR_START_METHODS(CpythonWaitTest);
CF_INSTANTIATE_FOR_START_METHODS(CpythonAsCompletedTest);
CF_INSTANTIATE_FOR_START_METHODS(CpythonInitializerTest);

}  // namespace
