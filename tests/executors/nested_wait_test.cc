// Beyond Python: a call that waits on a future from inside a worker
// (result(), exception(), wait(), as_completed(), a map result) runs queued
// calls of its pool meanwhile, so tasks waiting on tasks of the same pool do
// not deadlock it, even with max_workers=1 (thread_pool_executor.h). Python
// documents this situation as a deadlock.
//
// Every test bounds its wait with RunWithin: a deadlock aborts with "HANG".
#include <atomic>
#include <chrono>
#include <functional>
#include <numeric>
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

namespace {

using cf_executor_test::kShortTimeout;
using cf_executor_test::RunWithin;
using cf_executor_test::Since;

int Square(int x) { return x * x; }

TEST(NestedWaitTest, CallWaitingOnAChildCallWithOneWorkerDoesNotDeadlock) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> parent = pool.submit([&pool] {
    cf::Future<int> child = pool.submit(Square, 7);
    return child.result() + 1;
  });
  RunWithin(kShortTimeout, "parent.result()",
            [&] { EXPECT_EQ(parent.result(), 50); });
  EXPECT_EQ(pool.num_threads(), 1);
}

int Chain(cf::ThreadPoolExecutor& pool, int depth) {
  if (depth == 0) return 0;
  return pool.submit(Chain, std::ref(pool), depth - 1).result() + 1;
}

TEST(NestedWaitTest, ChainOfFiftyNestedWaitsWithOneWorkerCompletes) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> top = pool.submit(Chain, std::ref(pool), 50);
  RunWithin(kShortTimeout, "chain of 50", [&] { EXPECT_EQ(top.result(), 50); });
}

TEST(NestedWaitTest, ExceptionOfAChildCallWithOneWorker) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<std::string> parent = pool.submit([&pool] {
    cf::Future<int> child =
        pool.submit([]() -> int { throw std::range_error("child failed"); });
    std::exception_ptr e = child.exception();
    try {
      std::rethrow_exception(e);
    } catch (const std::range_error& ex) {
      return std::string(ex.what());
    }
  });
  RunWithin(kShortTimeout, "parent.result()",
            [&] { EXPECT_EQ(parent.result(), "child failed"); });
}

TEST(NestedWaitTest, WaitOnChildCallsWithOneWorker) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> parent = pool.submit([&pool] {
    std::vector<cf::Future<int>> children;
    for (int i = 1; i <= 5; ++i) children.push_back(pool.submit(Square, i));
    auto [done, not_done] = cf::wait(children);
    if (!not_done.empty() || done.size() != 5) return -1;
    int sum = 0;
    for (auto& f : children) sum += f.result();
    return sum;
  });
  RunWithin(kShortTimeout, "parent.result()",
            [&] { EXPECT_EQ(parent.result(), 1 + 4 + 9 + 16 + 25); });
}

TEST(NestedWaitTest, WaitFirstCompletedOnChildCallsWithOneWorker) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<size_t> parent = pool.submit([&pool] {
    std::vector<cf::Future<int>> children;
    for (int i = 1; i <= 3; ++i) children.push_back(pool.submit(Square, i));
    auto [done, not_done] = cf::wait(children, cf::ReturnWhen::kFirstCompleted);
    return done.size();
  });
  RunWithin(kShortTimeout, "parent.result()",
            [&] { EXPECT_GE(parent.result(), 1u); });
}

TEST(NestedWaitTest, AsCompletedOnChildCallsWithOneWorker) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> parent = pool.submit([&pool] {
    std::vector<cf::Future<int>> children;
    for (int i = 1; i <= 5; ++i) children.push_back(pool.submit(Square, i));
    int sum = 0;
    int count = 0;
    for (cf::Future<int> f : cf::as_completed(children)) {
      sum += f.result();
      ++count;
    }
    return count == 5 ? sum : -1;
  });
  RunWithin(kShortTimeout, "parent.result()",
            [&] { EXPECT_EQ(parent.result(), 55); });
}

TEST(NestedWaitTest, MapIteratedInsideACallOfTheSamePoolWithOneWorker) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> parent = pool.submit([&pool] {
    int sum = 0;
    for (int r : pool.map(Square, std::vector<int>{1, 2, 3})) sum += r;
    for (int r : pool.map(Square, std::views::iota(1, 4), {.buffersize = 1})) {
      sum += r;
    }
    return sum;
  });
  RunWithin(kShortTimeout, "parent.result()",
            [&] { EXPECT_EQ(parent.result(), 28); });
}

// Many parents, each fanning out to children, on fewer workers than
// parents: every worker may be a waiting parent at once.
TEST(NestedWaitTest, ManyParentsFanningOutOnTwoWorkers) {
  cf::ThreadPoolExecutor pool(2);
  std::vector<cf::Future<int>> parents;
  for (int p = 0; p < 20; ++p) {
    parents.push_back(pool.submit([&pool, p] {
      std::vector<cf::Future<int>> children;
      for (int c = 0; c < 5; ++c) children.push_back(pool.submit(Square, p + c));
      int sum = 0;
      for (auto& f : children) sum += f.result();
      return sum;
    }));
  }
  RunWithin(kShortTimeout, "parents", [&] {
    for (int p = 0; p < 20; ++p) {
      int expected = 0;
      for (int c = 0; c < 5; ++c) expected += Square(p + c);
      EXPECT_EQ(parents[p].result(), expected);
    }
  });
}

// A worker waiting on a future that is completed by a thread outside the
// pool wakes up (the pool's wait must also watch the future, not only the
// queue).
TEST(NestedWaitTest, WorkerWaitingOnAnExternallyCompletedFutureWakes) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> external;
  cf::Future<int> waiter = pool.submit([external] { return external.result() * 2; });
  std::thread setter([external] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    external.set_result(21);
  });
  RunWithin(kShortTimeout, "waiter.result()",
            [&] { EXPECT_EQ(waiter.result(), 42); });
  setter.join();
}

TEST(NestedWaitTest, WorkerWaitingOnAnotherPoolsCall) {
  cf::ThreadPoolExecutor a(1);
  cf::ThreadPoolExecutor b(1);
  cf::Future<int> f = a.submit([&b] {
    return b.submit([] {
             std::this_thread::sleep_for(std::chrono::milliseconds(20));
             return 4;
           }).result() +
           1;
  });
  RunWithin(kShortTimeout, "f.result()", [&] { EXPECT_EQ(f.result(), 5); });
}

// result(timeout) inside a worker, with nothing queued, honours the timeout.
TEST(NestedWaitTest, ResultTimeoutInsideAWorkerRaisesTimeoutError) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> never;
  cf::Future<bool> f = pool.submit([never] {
    try {
      never.result(absl::Milliseconds(50));
      return false;
    } catch (const cf::TimeoutError&) {
      return true;
    }
  });
  RunWithin(kShortTimeout, "f.result()", [&] { EXPECT_TRUE(f.result()); });
}

// What a worker saw while polling a never-completing future with a timeout.
struct Poll {
  bool timed_out = false;
  bool queued_call_started = false;  // during the poll
  absl::Duration elapsed;
};

// Runs `poll(never)` inside the only worker of a pool whose queue holds
// `queued` slow calls (100 ms each), and reports what happened.
Poll PollInAWorker(std::function<void(const cf::Future<int>&)> poll,
                   int queued = 1) {
  cf::ThreadPoolExecutor pool(1);
  std::atomic<bool> queued_started{false};
  cf::Future<Poll> f = pool.submit([&] {
    cf::Future<int> never;
    for (int i = 0; i < queued; ++i) {
      pool.submit([&queued_started] {
        queued_started = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      });
    }
    Poll p;
    const absl::Time start = absl::Now();
    try {
      poll(never);
    } catch (const cf::TimeoutError&) {
      p.timed_out = true;
    }
    p.elapsed = Since(start);
    p.queued_call_started = queued_started.load();
    return p;
  });
  Poll p;
  RunWithin(kShortTimeout, "poll", [&] { p = f.result(); });
  return p;
}

// future.h: "zero means do not wait". A zero-timeout poll from a worker
// must not first run a queued call of the pool (which can take any time).
TEST(NestedWaitTest, ZeroTimeoutResultInAWorkerDoesNotRunQueuedCalls) {
  Poll p = PollInAWorker([](const cf::Future<int>& never) {
    never.result(absl::ZeroDuration());
  });
  EXPECT_TRUE(p.timed_out);
  EXPECT_FALSE(p.queued_call_started)
      << "result(0) ran a queued call before timing out";
  EXPECT_LT(p.elapsed, absl::Milliseconds(50));
}

TEST(NestedWaitTest, ZeroTimeoutExceptionInAWorkerDoesNotRunQueuedCalls) {
  Poll p = PollInAWorker([](const cf::Future<int>& never) {
    never.exception(absl::ZeroDuration());
  });
  EXPECT_TRUE(p.timed_out);
  EXPECT_FALSE(p.queued_call_started)
      << "exception(0) ran a queued call before timing out";
}

TEST(NestedWaitTest, ZeroTimeoutWaitInAWorkerDoesNotRunQueuedCalls) {
  Poll p = PollInAWorker([](const cf::Future<int>& never) {
    auto [done, not_done] = cf::wait({never}, absl::ZeroDuration());
    if (not_done.size() == 1) throw cf::TimeoutError();  // wait() never throws
  });
  EXPECT_TRUE(p.timed_out);
  EXPECT_FALSE(p.queued_call_started)
      << "wait(timeout=0) ran a queued call before returning";
}

TEST(NestedWaitTest, ZeroTimeoutAsCompletedInAWorkerDoesNotRunQueuedCalls) {
  Poll p = PollInAWorker([](const cf::Future<int>& never) {
    for (cf::Future<int> f : cf::as_completed({never}, absl::ZeroDuration())) {
      (void)f;
    }
  });
  EXPECT_TRUE(p.timed_out);
  EXPECT_FALSE(p.queued_call_started)
      << "as_completed(timeout=0) ran a queued call before timing out";
}

// A finite timeout: queued calls run inline while waiting must stop once the
// deadline has passed. Five 100 ms calls are queued and the timeout is 50 ms;
// at most the call already started may overrun it.
TEST(NestedWaitTest, ResultTimeoutInAWorkerIsNotExtendedByQueuedCalls) {
  Poll p = PollInAWorker(
      [](const cf::Future<int>& never) { never.result(absl::Milliseconds(50)); },
      /*queued=*/5);
  EXPECT_TRUE(p.timed_out);
  EXPECT_LT(p.elapsed, absl::Milliseconds(300))
      << "result(50ms) returned after " << p.elapsed;
}

// The other side of running queued calls inline: a waiting call must not
// get stuck inside an unrelated queued call. Here call A waits for B while an
// unrelated call X, queued before B, blocks until A signals it (after B).
// In Python with 3 workers this completes as soon as the two busy workers
// are freed: one runs X (which waits), the other B; A then signals X. If A's
// worker runs X inline while waiting for B, A can never signal X.
TEST(NestedWaitTest, WaitingCallIsNotStuckInsideAnUnrelatedQueuedCall) {
  std::counting_semaphore<> busy_gate(0);
  std::counting_semaphore<> x_signal(0);
  std::binary_semaphore a_submitted(0);
  cf::ThreadPoolExecutor pool(3);
  pool.submit([&] { busy_gate.acquire(); });
  pool.submit([&] { busy_gate.acquire(); });
  cf::Future<int> a = pool.submit([&] {
    cf::Future<int> x = pool.submit([&] {
      x_signal.acquire();
      return 1;
    });
    cf::Future<int> b = pool.submit([] { return 2; });
    a_submitted.release();
    int result = b.result();
    x_signal.release();
    return result + x.result();
  });
  a_submitted.acquire();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  busy_gate.release(2);
  bool completed = false;
  try {
    completed = a.result(absl::Seconds(2)) == 3;
  } catch (const cf::TimeoutError&) {
  }
  EXPECT_TRUE(completed)
      << "A is stuck: its worker ran the unrelated call X inline while "
         "waiting for B";
  // Unstick X (if A's worker is inside it) so the pool can shut down.
  x_signal.release();
  RunWithin(kShortTimeout, "a.result()", [&] { EXPECT_EQ(a.result(), 3); });
}

}  // namespace
