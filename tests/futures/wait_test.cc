// cf::wait: FIRST_COMPLETED / FIRST_EXCEPTION / ALL_COMPLETED, timeouts
// (never an exception), deduplication, and the rule that a cancelled but
// not yet notified future is not done.
// Ports Lib/test/test_concurrent_futures/test_wait.py (WaitTests and
// ThreadPoolWaitTests, CPython main: events instead of sleeps), on a
// cf::ThreadPoolExecutor, plus the §1b wait() rows those tests do not cover.
#include <chrono>
#include <list>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/futures/future_fixtures.h"

namespace cf_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using Futures = cf::FutureSet<int>;

// CPython's ThreadPoolMixin + BaseTestCase: an executor with 5 workers,
// shut down (wait=True) in tearDown. The events are set first, so that a
// failed assertion cannot leave a task blocked and the shutdown hanging.
class WaitTest : public testing::Test {
 protected:
  void TearDown() override {
    event1_.set();
    event2_.set();
    executor_.shutdown(/*wait=*/true);
  }

  // A task that blocks until `event` is set (Python: submit(event.wait)).
  cf::Future<int> SubmitWait(const Event& event) {
    return executor_.submit([&event] { return event.wait() ? 1 : 0; });
  }

  Event event1_;
  Event event2_;
  cf::ThreadPoolExecutor executor_{kWorkerCount};
};

// CPython: test_20369 (bpo-20369: a future passed twice is waited on once).
TEST_F(WaitTest, DuplicateFutureIsReportedOnce) {
  cf::Future<int> future = executor_.submit(Mul, 1, 2);
  auto [done, not_done] = cf::wait({future, future}, cf::ReturnWhen::kAllCompleted);
  EXPECT_EQ(done, Futures({future}));
  EXPECT_THAT(not_done, IsEmpty());
  EXPECT_EQ(future.result(), 2);
}

// CPython: test_first_completed. CANCELLED_FUTURE was cancelled but never
// notified, so it counts as not done although done() is true.
TEST_F(WaitTest, FirstCompletedTreatsUnnotifiedCancelAsNotDone) {
  cf::Future<int> cancelled = CancelledFuture();
  cf::Future<int> future1 = executor_.submit(Mul, 21, 2);
  cf::Future<int> future2 = SubmitWait(event1_);

  auto [done, not_done] = cf::wait({cancelled, future1, future2},
                                   cf::ReturnWhen::kFirstCompleted);

  EXPECT_EQ(done, Futures({future1}));
  EXPECT_EQ(not_done, Futures({cancelled, future2}));
  EXPECT_TRUE(cancelled.done());
  event1_.set();
  EXPECT_EQ(future2.result(), 1);  // wait for the job to finish
}

// CPython: test_first_completed_some_already_completed.
TEST_F(WaitTest, FirstCompletedReturnsAlreadyCompletedFuturesAtOnce) {
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> future1 = SubmitWait(event1_);

  auto [finished, pending] =
      cf::wait({cancelled_and_notified, successful, future1},
               cf::ReturnWhen::kFirstCompleted);

  EXPECT_EQ(finished, Futures({cancelled_and_notified, successful}));
  EXPECT_EQ(pending, Futures({future1}));
  event1_.set();
  EXPECT_EQ(future1.result(), 1);
}

// CPython: test_first_exception.
TEST_F(WaitTest, FirstExceptionReturnsWhenAFutureRaises) {
  Event& event1 = event1_;
  cf::Future<int> future1 = executor_.submit(Mul, 2, 21);
  cf::Future<int> future2 = executor_.submit([&event1]() -> int {
    event1.wait();
    throw std::runtime_error("this is an exception");
  });
  cf::Future<int> future3 = SubmitWait(event2_);

  // Ensure that future1 is completed before future2 finishes.
  std::thread t([&] {
    future1.result();
    event1.set();
  });

  auto [finished, pending] = cf::wait({future1, future2, future3},
                                      cf::ReturnWhen::kFirstException);

  EXPECT_EQ(finished, Futures({future1, future2}));
  EXPECT_EQ(pending, Futures({future3}));
  t.join();
  EXPECT_THROW(future2.result(), std::runtime_error);
  event2_.set();
  EXPECT_EQ(future3.result(), 1);
}

// CPython: test_first_exception_some_already_complete.
TEST_F(WaitTest, FirstExceptionCountsAlreadyCompletedAndNotifiedFutures) {
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> cancelled = CancelledFuture();
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> future1 = executor_.submit(Divmod, 21, 0);
  cf::Future<int> future2 = SubmitWait(event1_);

  auto [finished, pending] =
      cf::wait({successful, cancelled, cancelled_and_notified, future1, future2},
               cf::ReturnWhen::kFirstException);

  EXPECT_EQ(finished, Futures({successful, cancelled_and_notified, future1}));
  EXPECT_EQ(pending, Futures({cancelled, future2}));
  EXPECT_THROW(future1.result(), ZeroDivisionError);
  event1_.set();
  EXPECT_EQ(future2.result(), 1);
}

// CPython: test_first_exception_one_already_failed.
TEST_F(WaitTest, FirstExceptionReturnsAtOnceWhenOneAlreadyFailed) {
  cf::Future<int> failed = ExceptionFuture();
  cf::Future<int> future1 = SubmitWait(event1_);

  auto [finished, pending] =
      cf::wait({failed, future1}, cf::ReturnWhen::kFirstException);

  EXPECT_EQ(finished, Futures({failed}));
  EXPECT_EQ(pending, Futures({future1}));
  event1_.set();
  EXPECT_EQ(future1.result(), 1);
}

// CPython: test_all_completed.
TEST_F(WaitTest, AllCompletedWaitsForEveryFuture) {
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> failed = ExceptionFuture();
  cf::Future<int> future1 = executor_.submit(Divmod, 2, 0);
  cf::Future<int> future2 = executor_.submit(Mul, 2, 21);

  auto [finished, pending] =
      cf::wait({successful, cancelled_and_notified, failed, future1, future2},
               cf::ReturnWhen::kAllCompleted);

  EXPECT_EQ(finished, Futures({successful, cancelled_and_notified, failed,
                               future1, future2}));
  EXPECT_THAT(pending, IsEmpty());
  EXPECT_EQ(future2.result(absl::ZeroDuration()), 42);
}

// CPython: test_timeout. wait() never raises on timeout: it returns what is
// done by then.
TEST_F(WaitTest, TimeoutReturnsTheDoneFuturesWithoutRaising) {
  const absl::Duration short_timeout = absl::Milliseconds(50);
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> failed = ExceptionFuture();
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> future = SubmitWait(event1_);

  const std::vector<cf::Future<int>> fs = {cancelled_and_notified, failed,
                                            successful, future};
  const auto start = std::chrono::steady_clock::now();
  cf::DoneAndNotDoneFutures<int> result;
  EXPECT_NO_THROW(
      result = cf::wait(fs, short_timeout, cf::ReturnWhen::kAllCompleted));
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(50));

  EXPECT_EQ(result.done, Futures({cancelled_and_notified, failed, successful}));
  EXPECT_EQ(result.not_done, Futures({future}));
  EXPECT_FALSE(future.done());
  event1_.set();
  EXPECT_EQ(future.result(), 1);
}

// CPython: ThreadPoolWaitTests.test_pending_calls_race (bpo-14406): 100
// futures released at once; wait(ALL_COMPLETED) must see every completion.
// Python shrinks the switch interval to provoke the race; here the round is
// repeated instead.
TEST_F(WaitTest, AllCompletedSeesManyFuturesFinishingTogether) {
  for (int round = 0; round < 10; ++round) {
    Event event;
    std::vector<cf::Future<int>> fs;
    for (int i = 0; i < 100; ++i) {
      fs.push_back(executor_.submit([&event] { return event.wait() ? 1 : 0; }));
    }
    event.set();
    auto [done, not_done] = cf::wait(fs, cf::ReturnWhen::kAllCompleted);
    EXPECT_EQ(done.size(), 100u) << "round " << round;
    EXPECT_THAT(not_done, IsEmpty()) << "round " << round;
    for (const cf::Future<int>& f : fs) ASSERT_TRUE(f.done());
  }
}

// §1b wait(): with FIRST_COMPLETED the wait ends at the first completion,
// not before; the others stay in not_done.
TEST_F(WaitTest, FirstCompletedBlocksUntilAFutureCompletes) {
  cf::Future<int> future1 = SubmitWait(event1_);
  cf::Future<int> future2 = SubmitWait(event2_);
  cf::Future<int> plain;  // never completed by anyone

  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    event2_.set();
  });
  auto [done, not_done] =
      cf::wait({future1, future2, plain}, cf::ReturnWhen::kFirstCompleted);
  t.join();

  EXPECT_EQ(done, Futures({future2}));
  EXPECT_EQ(not_done, Futures({future1, plain}));
}

// §1b wait(): FIRST_EXCEPTION without any exception behaves like
// ALL_COMPLETED; a cancelled-and-notified future does not count as raised.
TEST_F(WaitTest, FirstExceptionWithoutExceptionWaitsForAll) {
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> future1 = executor_.submit(Mul, 3, 4);
  cf::Future<int> future2 = SubmitWait(event1_);

  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    event1_.set();
  });
  auto [done, not_done] = cf::wait({cancelled_and_notified, future1, future2},
                                   cf::ReturnWhen::kFirstException);
  t.join();

  EXPECT_EQ(done, Futures({cancelled_and_notified, future1, future2}));
  EXPECT_THAT(not_done, IsEmpty());
}

// §1b wait(): with a zero timeout it reports without waiting.
TEST_F(WaitTest, ZeroTimeoutReportsWithoutWaiting) {
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> running = RunningFuture();
  cf::Future<int> cancelled = CancelledFuture();
  for (cf::ReturnWhen when :
       {cf::ReturnWhen::kFirstCompleted, cf::ReturnWhen::kFirstException,
        cf::ReturnWhen::kAllCompleted}) {
    auto [done, not_done] =
        cf::wait({successful, running, cancelled}, absl::ZeroDuration(), when);
    EXPECT_EQ(done, Futures({successful}));
    EXPECT_EQ(not_done, Futures({running, cancelled}));
  }
}

// §1b wait(): a cancellation counts once the executor notifies it
// (set_running_or_notify_cancel), which wakes a waiting wait().
TEST_F(WaitTest, NotifiedCancellationCompletesTheWait) {
  cf::Future<int> f = PendingFuture();
  std::thread t([f] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    f.cancel();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    f.set_running_or_notify_cancel();
  });
  auto [done, not_done] = cf::wait({f}, kShortTimeout);
  t.join();
  EXPECT_EQ(done, Futures({f}));
  EXPECT_THAT(not_done, IsEmpty());
}

// §1b wait(): any range of futures, an empty one included.
TEST_F(WaitTest, AcceptsAnyRangeIncludingAnEmptyOne) {
  std::list<cf::Future<int>> futures = {SuccessfulFuture(), ExceptionFuture()};
  auto [done, not_done] = cf::wait(futures);
  EXPECT_EQ(done.size(), 2u);
  EXPECT_THAT(not_done, IsEmpty());

  std::vector<cf::Future<int>> none;
  auto [done2, not_done2] = cf::wait(none, absl::InfiniteDuration(),
                                     cf::ReturnWhen::kFirstCompleted);
  EXPECT_THAT(done2, IsEmpty());
  EXPECT_THAT(not_done2, IsEmpty());
}

// §1b wait(): an invalid return_when raises ValueError ("Invalid return
// condition"), but only if no early return happened first.
TEST_F(WaitTest, InvalidReturnWhenRaisesOnlyWhenItWouldWait) {
  const auto bogus = static_cast<cf::ReturnWhen>(42);
  cf::Future<int> successful = SuccessfulFuture();
  auto [done, not_done] = cf::wait({successful}, bogus);
  EXPECT_EQ(done, Futures({successful}));
  EXPECT_THAT(not_done, IsEmpty());

  cf::Future<int> pending = PendingFuture();
  try {
    cf::wait({successful, pending}, absl::ZeroDuration(), bogus);
    ADD_FAILURE() << "no error for an invalid return_when";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("Invalid return condition"));
  }
  // The failed wait left nothing registered on the future.
  pending.set_result(1);
  EXPECT_EQ(pending.result(), 1);
}

// cf extension (thread_pool_executor.h): wait() called from a worker thread
// runs queued calls of its pool while it blocks, so a task of a one-worker
// pool can wait for another task of the same pool. Python deadlocks here.
TEST(WaitFromWorkerTest, WaitInATaskRunsTheAwaitedTaskOfTheSamePool) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> outer = pool.submit([&pool] {
    cf::Future<int> inner1 = pool.submit(Mul, 6, 7);
    cf::Future<int> inner2 = pool.submit(Mul, 2, 3);
    // No deadline: only such waits run queued calls (blocking_hook.h). The
    // outer result() below bounds a hang.
    auto [done, not_done] = cf::wait({inner1, inner2},
                                     cf::ReturnWhen::kAllCompleted);
    if (!not_done.empty()) return -1;
    return inner1.result() + inner2.result();
  });
  EXPECT_EQ(outer.result(kShortTimeout), 48);
}

// The same with FIRST_COMPLETED and a timeout that expires: the worker gives
// up after the timeout and reports the unfinished future.
TEST(WaitFromWorkerTest, WaitInATaskHonoursItsTimeout) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> never;  // nobody completes it
  cf::Future<int> outer = pool.submit([never] {
    auto [done, not_done] = cf::wait({never}, absl::Milliseconds(30),
                                     cf::ReturnWhen::kFirstCompleted);
    return static_cast<int>(done.size() * 10 + not_done.size());
  });
  EXPECT_EQ(outer.result(kShortTimeout), 1);
  EXPECT_FALSE(never.done());
}

}  // namespace
}  // namespace cf_test
