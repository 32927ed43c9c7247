// Executor.shutdown: CPython's test_shutdown.py (ExecutorShutdownTest run
// as ThreadPoolShutdownTest, plus the ThreadPoolShutdownTest rows), the
// shutdown race of executor.py (test_shutdown_race_issue12456), and cf's own
// guarantees: submit racing shutdown, shutdown from a worker.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <ranges>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

extern char** environ;

namespace {

using cf_executor_test::CountExitOf;
using cf_executor_test::kShortTimeout;
using cf_executor_test::PollUntil;
using cf_executor_test::RunWithin;

constexpr int kWorkerCount = 5;

// --- Child processes (Python's assert_python_ok) ---------------------------

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

std::string ChildPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "";
  return std::string(srcdir) + "/" + workspace + "/tests/executors/shutdown_child";
}

// Runs shutdown_child <mode>; the whole run is bounded by RunWithin.
ChildResult RunChild(const std::string& mode) {
  ChildResult result;
  RunWithin(kShortTimeout, mode.c_str(), [&] {
    std::string path = ChildPath();
    if (path.empty()) throw std::runtime_error("not run by bazel test");
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
    char* argv[] = {path.data(), mode_arg.data(), nullptr};
    pid_t pid;
    int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) throw std::runtime_error("posix_spawn failed");
    result.out = ReadAll(out_pipe[0]);
    result.err = ReadAll(err_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  });
  return result;
}

// --- ExecutorShutdownTest --------------------------------------------------

// CPython: test_run_after_shutdown.
TEST(ShutdownTest, SubmitAfterShutdownRaisesRuntimeError) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  executor.shutdown();
  try {
    executor.submit([](int a, int b) { return a + b; }, 2, 5);
    ADD_FAILURE() << "submit after shutdown did not throw";
  } catch (const cf::BrokenExecutor&) {
    ADD_FAILURE() << "not broken, only shut down";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
}

// CPython: test_interpreter_shutdown. A child submits a call and exits
// without shutdown: the call completes during exit ("apple"), nothing on
// stderr.
TEST(ShutdownTest, PendingCallCompletesAtProcessExit) {
  ChildResult r = RunChild("interpreter_shutdown");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "apple\n");
}

// CPython: test_submit_after_interpreter_shutdown. A submit from an exit
// handler, after the executor was shut down during exit, raises
// "cannot schedule new futures".
TEST(ShutdownTest, SubmitDuringExitAfterShutdownRaisesRuntimeError) {
  ChildResult r = RunChild("submit_after_shutdown_at_exit");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("RuntimeError: cannot schedule new futures"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "runtime-error\n");
}

// CPython: test_hang_issue12364. 50 queued calls, shutdown(), then every
// result is there.
TEST(ShutdownTest, ShutdownRunsEveryQueuedCall) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(executor.submit([i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return i;
    }));
  }
  RunWithin(kShortTimeout, "shutdown()", [&] { executor.shutdown(); });
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(fs[i].done());
    EXPECT_EQ(fs[i].result(), i);
  }
}

// CPython: test_cancel_futures. Python relies on timing (50 x sleep(0.1) on
// 5 workers, "> 20 cancelled"); here the 5 running calls are known to have
// started, so exactly the 45 queued ones are cancelled.
TEST(ShutdownTest, ShutdownCancelFuturesCancelsOnlyPendingCalls) {
  std::counting_semaphore<> started(0);
  std::counting_semaphore<> gate(0);
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(executor.submit([&, i] {
      started.release();
      gate.acquire();
      return i;
    }));
  }
  for (int i = 0; i < kWorkerCount; ++i) started.acquire();
  executor.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  gate.release(50);
  RunWithin(kShortTimeout, "shutdown(wait=true)",
            [&] { executor.shutdown(/*wait=*/true); });

  std::vector<cf::Future<int>> cancelled, others;
  for (auto& f : fs) (f.cancelled() ? cancelled : others).push_back(f);
  EXPECT_GT(cancelled.size(), 20u);  // Python's assertion
  EXPECT_EQ(cancelled.size(), 45u);
  for (auto& f : others) {
    EXPECT_TRUE(f.done()) << f;
    EXPECT_EQ(f.exception(), nullptr);
  }
  EXPECT_GT(others.size(), 0u);  // Python's assertion
  EXPECT_EQ(others.size(), static_cast<size_t>(kWorkerCount));
  for (auto& f : cancelled) EXPECT_THROW(f.result(), cf::CancelledError);
}

// Beyond Python (thread_pool_executor.cc, CancelQueued): the futures that
// shutdown(cancel_futures=true) cancels are also notified, so wait() and
// as_completed() count them done (Python leaves them un-notified, and
// wait() would wait for them forever).
TEST(ShutdownTest, FuturesCancelledByShutdownAreDoneForWaitAndAsCompleted) {
  std::binary_semaphore gate(0);
  std::binary_semaphore started(0);
  cf::ThreadPoolExecutor executor(1);
  cf::Future<int> running = executor.submit([&] {
    started.release();
    gate.acquire();
    return 0;
  });
  std::vector<cf::Future<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(executor.submit([i] { return i; }));
  started.acquire();
  executor.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  auto [done, not_done] = cf::wait(queued, absl::ZeroDuration());
  EXPECT_EQ(done.size(), 5u);
  EXPECT_TRUE(not_done.empty());
  int yielded = 0;
  for (cf::Future<int> f : cf::as_completed(queued, absl::ZeroDuration())) {
    EXPECT_TRUE(f.cancelled());
    ++yielded;
  }
  EXPECT_EQ(yielded, 5);
  gate.release();
  EXPECT_EQ(running.result(), 0);
}

// test_no_stale_references applied to shutdown(cancel_futures=true): Python
// drops the cancelled work items (function and arguments) from its queue at
// once, even while the caller still holds their futures.
TEST(ShutdownTest, ShutdownCancelFuturesReleasesTheCancelledCallsArguments) {
  std::binary_semaphore gate(0);
  std::binary_semaphore started(0);
  cf::ThreadPoolExecutor executor(1);
  executor.submit([&] {
    started.release();
    gate.acquire();
  });
  auto arg = std::make_shared<int>(7);
  auto captured = std::make_shared<int>(8);
  std::weak_ptr<int> arg_ref = arg, captured_ref = captured;
  cf::Future<int> f = executor.submit(
      [captured](std::shared_ptr<int> a) { return *a + *captured; }, arg);
  arg.reset();
  captured.reset();
  started.acquire();
  executor.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(arg_ref.expired())
      << "the cancelled call's argument outlives shutdown(cancel_futures)";
  EXPECT_TRUE(captured_ref.expired())
      << "the cancelled call's function outlives shutdown(cancel_futures)";
  gate.release();
  executor.shutdown(/*wait=*/true);
}

// CPython: test_hang_gh83386. shutdown(wait=false) with a running call:
// exiting does not hang, the call prints "apple", stderr is empty.
TEST(ShutdownTest, ShutdownNoWaitThenExitDoesNotHang) {
  ChildResult r = RunChild("shutdown_no_wait");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "apple\n");
}

// CPython: test_hang_gh94440. A call submitted and cancelled right before
// shutdown(wait=true) does not make it hang (Python: 5 s SIGALRM).
TEST(ShutdownTest, ShutdownAfterCancellingAQueuedCallDoesNotHang) {
  cf::ThreadPoolExecutor executor(1);
  executor.submit([] { return 0; }).result();
  RunWithin(absl::Seconds(5), "shutdown after cancel", [&] {
    executor.submit([] { return 0; }).cancel();
    executor.shutdown(/*wait=*/true);
  });
}

// --- ThreadPoolShutdownTest ------------------------------------------------

// CPython: test_threads_terminate. 3 blocked calls start 3 threads; after
// shutdown() every one of them has exited.
TEST(ShutdownTest, ShutdownJoinsEveryWorkerThread) {
  std::atomic<int> exited{0};
  std::counting_semaphore<> sem(0);
  cf::ThreadPoolExecutor executor(
      {.max_workers = kWorkerCount,
       .initializer = [&exited] { CountExitOf(exited); }});
  for (int i = 0; i < 3; ++i) executor.submit([&sem] { sem.acquire(); });
  EXPECT_EQ(executor.num_threads(), 3);
  sem.release(3);
  executor.shutdown();
  EXPECT_EQ(exited.load(), 3);
}

// CPython: test_context_manager_shutdown. Python's `with` block is the C++
// scope: leaving it waits for the work and joins the threads.
TEST(ShutdownTest, LeavingTheScopeShutsDownAndJoins) {
  std::atomic<int> exited{0};
  int threads = 0;
  {
    cf::ThreadPoolExecutor e({.max_workers = 5,
                              .initializer = [&exited] { CountExitOf(exited); }});
    std::vector<int> results;
    for (int r : e.map([](int x) { return std::abs(x); }, std::views::iota(-5, 5))) {
      results.push_back(r);
    }
    EXPECT_EQ(results, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
    threads = e.num_threads();
  }
  EXPECT_GE(threads, 1);
  EXPECT_EQ(exited.load(), threads);
}

// CPython: test_del_shutdown. `del executor` without shutdown: the threads
// exit and the map results are still all there.
TEST(ShutdownTest, DestroyingTheExecutorKeepsTheMapResults) {
  std::atomic<int> exited{0};
  auto executor = std::make_unique<cf::ThreadPoolExecutor>(cf::ThreadPoolOptions{
      .max_workers = 5, .initializer = [&exited] { CountExitOf(exited); }});
  auto res = executor->map([](int x) { return std::abs(x); }, std::views::iota(-5, 5));
  const int threads = executor->num_threads();
  executor.reset();
  EXPECT_EQ(exited.load(), threads);
  std::vector<int> results;
  for (int r : res) results.push_back(r);
  EXPECT_EQ(results, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
}

// CPython: test_shutdown_no_wait. shutdown(wait=false) returns at once; the
// threads still finish the work and exit; the results are correct.
TEST(ShutdownTest, ShutdownWithoutWaitStillFinishesTheWork) {
  std::atomic<int> exited{0};
  cf::ThreadPoolExecutor executor(
      {.max_workers = 5, .initializer = [&exited] { CountExitOf(exited); }});
  auto res = executor.map([](int x) { return std::abs(x); }, std::views::iota(-5, 5));
  const int threads = executor.num_threads();
  executor.shutdown(/*wait=*/false);
  EXPECT_TRUE(PollUntil([&] { return exited.load() == threads; }))
      << exited.load() << " of " << threads << " threads exited";
  std::vector<int> results;
  for (int r : res) results.push_back(r);
  EXPECT_EQ(results, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
}

// CPython: test_cancel_futures_wait_false. A child submits, calls
// shutdown(wait=false, cancel_futures=true) and exits: no error, and stdout
// is "apple" or empty (gh-116682: the call may have been cancelled).
TEST(ShutdownTest, ShutdownCancelFuturesNoWaitThenExitIsClean) {
  ChildResult r = RunChild("cancel_futures_no_wait");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(r.out == "apple\n" || r.out.empty()) << r.out;
}

// CPython: test_shutdown_race_issue12456. map() with one more input than
// workers, then shutdown(): no hang, every call ran.
TEST(ShutdownTest, ShutdownRightAfterMapDoesNotHang) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto results = executor.map([](int x) { return std::to_string(x); },
                              std::vector<int>(kWorkerCount + 1, 2));
  RunWithin(kShortTimeout, "shutdown after map", [&] { executor.shutdown(); });
  int n = 0;
  for (const std::string& s : results) {
    EXPECT_EQ(s, "2");
    ++n;
  }
  EXPECT_EQ(n, kWorkerCount + 1);
}

// §1b: shutdown "may be called many times", with any arguments.
TEST(ShutdownTest, ShutdownCanBeCalledManyTimes) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  cf::Future<int> f = executor.submit([] { return 3; });
  executor.shutdown(/*wait=*/false);
  executor.shutdown(/*wait=*/true);
  EXPECT_TRUE(f.done());
  executor.shutdown(/*wait=*/true, /*cancel_futures=*/true);
  executor.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  executor.shutdown();
  EXPECT_EQ(f.result(), 3);
  EXPECT_THROW(executor.submit([] { return 0; }), std::runtime_error);
}

// Two threads calling shutdown(wait=true) at once both return only after
// the running call has finished.
TEST(ShutdownTest, ConcurrentShutdownsBothWaitForTheWork) {
  std::binary_semaphore gate(0);
  std::binary_semaphore started(0);
  std::atomic<bool> finished{false};
  cf::ThreadPoolExecutor executor(2);
  executor.submit([&] {
    started.release();
    gate.acquire();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    finished = true;
  });
  started.acquire();
  std::atomic<int> saw_finished{0};
  std::latch both_started(2);
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&] {
      both_started.arrive_and_wait();
      executor.shutdown(/*wait=*/true);
      if (finished.load()) saw_finished.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  gate.release();
  for (auto& t : callers) t.join();
  EXPECT_EQ(saw_finished.load(), 2);
}

// Submit racing shutdown (issue requirement): several threads submit while
// another calls shutdown(). Every submit either throws the shutdown
// runtime_error or returns a future that completes (with its result, or
// cancelled when cancel_futures=true); nothing hangs, no future is lost.
void SubmitRacingShutdown(bool cancel_futures) {
  constexpr int kSubmitters = 6;
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    std::atomic<long> ran{0};
    std::atomic<int> wrong_errors{0};
    std::vector<std::vector<cf::Future<long>>> futures(kSubmitters);
    std::vector<int> refused(kSubmitters, 0);
    cf::ThreadPoolExecutor executor(4);
    std::latch go(kSubmitters + 1);
    std::atomic<long> submitted{0};
    RunWithin(kShortTimeout, "submit racing shutdown", [&] {
      std::vector<std::thread> submitters;
      for (int t = 0; t < kSubmitters; ++t) {
        submitters.emplace_back([&, t] {
          go.arrive_and_wait();
          for (long i = 0;; ++i) {
            try {
              futures[t].push_back(executor.submit(
                  [&ran](long v) {
                    ran.fetch_add(1, std::memory_order_relaxed);
                    return v;
                  },
                  i));
              submitted.fetch_add(1, std::memory_order_relaxed);
            } catch (const std::runtime_error& e) {
              if (std::string(e.what()) !=
                  "cannot schedule new futures after shutdown") {
                wrong_errors.fetch_add(1);
              }
              refused[t] = 1;
              return;
            }
          }
        });
      }
      go.arrive_and_wait();
      // Let some work in before shutting down.
      while (submitted.load(std::memory_order_relaxed) < 200) std::this_thread::yield();
      executor.shutdown(/*wait=*/true, cancel_futures);
      for (auto& t : submitters) t.join();
    });
    EXPECT_EQ(wrong_errors.load(), 0);
    long finished = 0, cancelled = 0, total = 0;
    for (int t = 0; t < kSubmitters; ++t) {
      EXPECT_EQ(refused[t], 1) << "submitter " << t << " never saw the shutdown";
      for (long i = 0; i < static_cast<long>(futures[t].size()); ++i) {
        const cf::Future<long>& f = futures[t][i];
        ++total;
        ASSERT_TRUE(f.done()) << "lost future " << t << "/" << i << ": " << f;
        if (f.cancelled()) {
          ++cancelled;
        } else {
          ASSERT_EQ(f.result(), i);
          ++finished;
        }
      }
    }
    EXPECT_EQ(finished, ran.load());
    EXPECT_EQ(finished + cancelled, total);
    if (!cancel_futures) {
      EXPECT_EQ(cancelled, 0);
    }
  }
}

TEST(ShutdownTest, SubmitRacingShutdownNeverLosesAFuture) {
  SubmitRacingShutdown(/*cancel_futures=*/false);
}

TEST(ShutdownTest, SubmitRacingShutdownWithCancelFuturesNeverLosesAFuture) {
  SubmitRacingShutdown(/*cancel_futures=*/true);
}

}  // namespace
