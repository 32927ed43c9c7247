// Worker initializers and the broken pool: CPython's test_init.py, thread
// pool rows (ThreadPoolInitializerTest, ThreadPoolFailingInitializerTest),
// with worker_count = 2 as there.
#include <atomic>
#include <chrono>
#include <memory>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

namespace {

using cf_executor_test::kShortTimeout;
using cf_executor_test::PollUntil;
using cf_executor_test::StderrCapture;

constexpr int kWorkerCount = 2;
constexpr char kBroken[] =
    "A thread initializer failed, the thread pool is not usable anymore";

// Python's INITIALIZER_STATUS global. Thread-local here, which is stronger:
// a call sees "initialized" only if the initializer ran in its own thread.
thread_local std::string initializer_status = "uninitialized";

void Init(const std::string& x) { initializer_status = x; }
std::string GetInitStatus() { return initializer_status; }

// CPython: ThreadPoolInitializerTest.test_initializer. initargs are bound
// into the callable.
TEST(InitializerTest, InitializerRunsInEveryWorkerBeforeItsCalls) {
  std::atomic<int> init_calls{0};
  cf::ThreadPoolExecutor executor({.max_workers = kWorkerCount,
                                   .initializer = [&init_calls] {
                                     init_calls.fetch_add(1);
                                     Init("initialized");
                                   }});
  std::vector<cf::Future<std::string>> futures;
  for (int i = 0; i < kWorkerCount; ++i) {
    futures.push_back(executor.submit(GetInitStatus));
  }
  for (auto& f : futures) EXPECT_EQ(f.result(), "initialized");
  executor.shutdown();
  EXPECT_EQ(init_calls.load(), executor.num_threads());
  EXPECT_EQ(initializer_status, "uninitialized");  // not in this thread
}

// Every thread the pool starts runs the initializer exactly once, also when
// calls block so that all max_workers threads start.
TEST(InitializerTest, InitializerRunsOncePerThread) {
  std::atomic<int> init_calls{0};
  std::counting_semaphore<> gate(0);
  cf::ThreadPoolExecutor executor({.max_workers = 4, .initializer = [&] {
                                     init_calls.fetch_add(1);
                                     Init("initialized");
                                   }});
  std::vector<cf::Future<std::string>> futures;
  for (int i = 0; i < 12; ++i) {
    futures.push_back(executor.submit([&gate] {
      gate.acquire();
      return GetInitStatus();
    }));
  }
  gate.release(12);
  for (auto& f : futures) EXPECT_EQ(f.result(), "initialized");
  executor.shutdown();
  EXPECT_EQ(executor.num_threads(), 4);
  EXPECT_EQ(init_calls.load(), 4);
}

void InitFail() {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let some futures be scheduled
  throw std::invalid_argument("error in initializer");
}

// CPython: ThreadPoolFailingInitializerTest.test_initializer. The failure is
// reported ("Exception in initializer:" and the error on stderr, Python's
// CRITICAL log); the submitted call, or the submit itself, raises
// BrokenExecutor; once broken, submit always raises it.
TEST(InitializerTest, FailingInitializerBreaksThePool) {
  StderrCapture capture;
  {
    cf::ThreadPoolExecutor executor(
        {.max_workers = kWorkerCount, .initializer = InitFail});
    try {
      cf::Future<std::string> future = executor.submit(GetInitStatus);
      try {
        future.result();
        ADD_FAILURE() << "result() of a call on a broken pool returned";
      } catch (const cf::BrokenExecutor& e) {
        EXPECT_STREQ(e.what(), kBroken);
      }
    } catch (const cf::BrokenExecutor&) {
      // Perhaps the executor is already broken.
    }
    // At some point the executor breaks, and from then on submit fails.
    bool broken = PollUntil(
        [&] {
          try {
            executor.submit(GetInitStatus);
            return false;
          } catch (const cf::BrokenExecutor&) {
            return true;
          }
        },
        kShortTimeout);
    EXPECT_TRUE(broken) << "executor not broken";
    EXPECT_THROW(executor.submit(GetInitStatus), cf::BrokenThreadPool);
    try {
      executor.submit(GetInitStatus);
    } catch (const cf::BrokenThreadPool& e) {
      EXPECT_STREQ(e.what(), kBroken);
    }
  }
  std::string err = capture.Stop();
  EXPECT_NE(err.find("Exception in initializer:"), std::string::npos) << err;
  EXPECT_NE(err.find("error in initializer"), std::string::npos) << err;
}

// §1b: BrokenThreadPool is a BrokenExecutor is a std::runtime_error.
TEST(InitializerTest, BrokenThreadPoolIsABrokenExecutorAndARuntimeError) {
  static_assert(std::is_base_of_v<cf::BrokenExecutor, cf::BrokenThreadPool>);
  static_assert(std::is_base_of_v<std::runtime_error, cf::BrokenExecutor>);
  StderrCapture capture;
  cf::ThreadPoolExecutor executor(
      {.max_workers = 1, .initializer = [] { throw 42; }});
  cf::Future<int> f = executor.submit([] { return 1; });
  EXPECT_THROW(f.result(), std::runtime_error);
  std::exception_ptr e = f.exception();
  ASSERT_NE(e, nullptr);
  EXPECT_THROW(std::rethrow_exception(e), cf::BrokenThreadPool);
  executor.shutdown();
  EXPECT_NE(capture.Stop().find("Exception in initializer:"), std::string::npos);
}

// _initializer_failed: every queued future gets BrokenThreadPool; a queued
// future that was cancelled stays cancelled (and is notified).
TEST(InitializerTest, BrokenPoolFailsEveryQueuedCall) {
  std::binary_semaphore release_init(0);
  StderrCapture capture;
  cf::ThreadPoolExecutor executor({.max_workers = 1, .initializer = [&] {
                                     release_init.acquire();
                                     throw std::runtime_error("init failed");
                                   }});
  std::vector<cf::Future<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(executor.submit([i] { return i; }));
  EXPECT_TRUE(queued[2].cancel());
  release_init.release();
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    if (i == 2) {
      EXPECT_THROW(queued[i].result(), cf::CancelledError);
    } else {
      EXPECT_THROW(queued[i].result(), cf::BrokenThreadPool);
    }
  }
  auto [done, not_done] = cf::wait(queued, absl::Seconds(5));
  EXPECT_EQ(done.size(), 5u);
  EXPECT_TRUE(not_done.empty());
  executor.shutdown();
  EXPECT_NE(capture.Stop().find("init failed"), std::string::npos);
}

// §1b: "the broken check comes before the shutdown check".
TEST(InitializerTest, BrokenIsReportedBeforeShutdown) {
  StderrCapture capture;
  cf::ThreadPoolExecutor executor(
      {.max_workers = 1, .initializer = [] { throw std::runtime_error("x"); }});
  cf::Future<int> f = executor.submit([] { return 1; });
  EXPECT_THROW(f.result(), cf::BrokenThreadPool);
  executor.shutdown();
  EXPECT_THROW(executor.submit([] { return 2; }), cf::BrokenThreadPool);
}

// test_no_stale_references for the broken pool: Python's
// _initializer_failed drops each queued work item (function and arguments)
// after failing its future, even if the caller keeps the future.
TEST(InitializerTest, BrokenPoolReleasesTheFailedCallsArguments) {
  std::binary_semaphore release_init(0);
  StderrCapture capture;
  cf::ThreadPoolExecutor executor({.max_workers = 1, .initializer = [&] {
                                     release_init.acquire();
                                     throw std::runtime_error("init failed");
                                   }});
  auto arg = std::make_shared<int>(1);
  std::weak_ptr<int> arg_ref = arg;
  cf::Future<int> f = executor.submit([](std::shared_ptr<int> a) { return *a; }, arg);
  arg.reset();
  release_init.release();
  EXPECT_THROW(f.result(), cf::BrokenThreadPool);
  executor.shutdown();
  EXPECT_TRUE(arg_ref.expired())
      << "the failed call's argument is kept alive by its future";
}

}  // namespace
