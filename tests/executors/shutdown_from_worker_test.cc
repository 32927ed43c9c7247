// Shutting a thread pool down from one of its own calls, and destroying it
// there. Kept apart from shutdown_test.cc: when these fail, a worker thread
// uses the freed pool, which can corrupt the heap of whatever runs next in
// the same binary. ASan reports the use-after-free; the plain build sees a
// worker that outlives the executor's destructor.
#include <atomic>
#include <chrono>
#include <memory>
#include <semaphore>
#include <thread>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

namespace {

using cf_executor_test::CountExitOf;
using cf_executor_test::kShortTimeout;
using cf_executor_test::PollUntil;
using cf_executor_test::RunWithin;

// shutdown(wait=true) from inside one of the pool's own calls must not
// deadlock (Python raises "cannot join current thread"; cf lets the calling
// worker finish by itself). The executor's destructor, run later by its
// owner, is still shutdown(wait=true): "returns once every started call has
// finished and the executor's resources are freed", so by then the worker
// that called shutdown must have exited and must no longer touch the pool.
TEST(ShutdownTest, ShutdownFromOwnWorkerThenDestructorWaitsForThatWorker) {
  std::atomic<int> exited{0};
  std::binary_semaphore gate(0);
  std::atomic<bool> callback_done{false};
  cf::Future<int> f;
  {
    cf::ThreadPoolExecutor executor(
        {.max_workers = 1, .initializer = [&exited] { CountExitOf(exited); }});
    f = executor.submit([&] {
      gate.acquire();
      executor.shutdown(/*wait=*/true);
      return 1;
    });
    // Runs in the worker after the result is published: the worker is still
    // busy when the owner sees the result and destroys the executor.
    f.add_done_callback([&](const cf::Future<int>&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      callback_done = true;
    });
    gate.release();
    RunWithin(kShortTimeout, "shutdown from own worker", [&] {
      EXPECT_EQ(f.result(), 1);
    });
  }  // ~ThreadPoolExecutor
  EXPECT_TRUE(callback_done.load())
      << "the destructor returned while a worker was still running";
  EXPECT_EQ(exited.load(), 1);
  // Let a still-running worker reach the freed pool while this test runs,
  // so ASan reports it here.
  PollUntil([&] { return exited.load() == 1; }, absl::Seconds(2));
}

// The last owner of an executor may be one of its own calls (a shared_ptr
// captured by the task). Destroying it there must not free the pool under
// the worker that is running the destructor.
TEST(ShutdownTest, DestroyingTheExecutorFromItsOwnWorkerIsSafe) {
  std::atomic<int> exited{0};
  std::binary_semaphore gate(0);
  auto executor = std::make_shared<cf::ThreadPoolExecutor>(cf::ThreadPoolOptions{
      .max_workers = 1, .initializer = [&exited] { CountExitOf(exited); }});
  cf::Future<int> f = executor->submit([&gate, keep = executor] {
    gate.acquire();
    return 5;
  });
  executor.reset();  // the call now holds the last reference
  gate.release();
  RunWithin(kShortTimeout, "result", [&] { EXPECT_EQ(f.result(), 5); });
  EXPECT_TRUE(PollUntil([&] { return exited.load() == 1; }, absl::Seconds(5)))
      << "the worker did not exit";
}

}  // namespace
