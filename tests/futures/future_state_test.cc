// The Future state machine: cancel(), cancelled()/done()/running(),
// result()/exception() with timeouts, the setters' InvalidStateError, repr.
// Ports Lib/test/test_concurrent_futures/test_future.py (FutureTests, CPython
// main) except the done-callback tests (future_callbacks_test.cc), plus the
// §1b rows of the reference those tests do not cover.
#include <sys/resource.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/futures/future_fixtures.h"

namespace cf_test {
namespace {

using ::cf::internal::FutureStatus;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// The message of the exception held by `e`.
std::string WhatOf(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  }
}

// CPython: test_cancel.
// CPU time of the calling thread.
std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Times the calling thread blocked (gave up the CPU to wait) so far.
long VoluntarySwitches() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nvcsw;
}

struct WaitCost {
  std::chrono::nanoseconds cpu;
  long blocked;  // voluntary context switches
};

// What the calling thread spends in result() on a future that another
// thread completes after 100 ms.
WaitCost CostOfWaiting(std::optional<std::chrono::microseconds> spin) {
  auto state = std::make_shared<cf::internal::FutureState<int>>();
  if (spin) state->SetSpinHint(*spin);
  cf::Future<int> f(state);
  std::thread setter([f] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    f.set_result(1);
  });
  const auto before = ThreadCpuTime();
  const long switches = VoluntarySwitches();
  EXPECT_EQ(f.result(), 1);
  WaitCost cost{ThreadCpuTime() - before, VoluntarySwitches() - switches};
  setter.join();
  return cost;
}

std::chrono::nanoseconds CpuSpentWaiting(
    std::optional<std::chrono::microseconds> spin) {
  return CostOfWaiting(spin).cpu;
}

// An executor expecting a quick outcome raises a future's spin hint: the
// waiter then keeps checking (spending CPU) instead of sleeping at once.
TEST(FutureStateTest, SpinHintMakesAWaiterSpinBeforeSleeping) {
  EXPECT_LT(CpuSpentWaiting(std::nullopt), std::chrono::milliseconds(20));
  // Spinning burns CPU, unless other processes take it (the spin yields):
  // then it shows as a wait that never blocked.
  const WaitCost spinning = CostOfWaiting(std::chrono::seconds(10));
  EXPECT_TRUE(spinning.cpu > std::chrono::milliseconds(20) ||
              spinning.blocked == 0)
      << spinning.cpu.count() << " ns of CPU, blocked " << spinning.blocked
      << " times";
}

// A poller that completes the awaited future on its `finish_on`-th poll, or
// never (0), counting its polls and the budget it was given.
class CountingPoller final : public cf::internal::Poller {
 public:
  explicit CountingPoller(int finish_on) : finish_on_(finish_on) {}
  bool PollUntil(const cf::internal::FutureStateBase& awaited,
                 std::chrono::nanoseconds budget) override {
    budget_ = budget;
    if (++polls_ == finish_on_) {
      // The awaited future is a FutureState<int>: complete it as its
      // executor would, from the polling thread.
      auto& state = const_cast<cf::internal::FutureState<int>&>(
          static_cast<const cf::internal::FutureState<int>&>(awaited));
      state.SetResult(5);
      return true;
    }
    return awaited.done();
  }
  int polls_ = 0;
  std::chrono::nanoseconds budget_{0};

 private:
  const int finish_on_;
};

// A future that names a poller is completed by its waiter's own polling,
// within the spin hint; when the poll gives up, the waiter sleeps until
// another thread completes it.
TEST(FutureStateTest, WaitPollsThroughThePollerBeforeSleeping) {
  {
    auto state = std::make_shared<cf::internal::FutureState<int>>();
    auto poller = std::make_shared<CountingPoller>(1);
    state->SetSpinHint(std::chrono::microseconds(300));
    state->SetPoller(poller);
    EXPECT_EQ(cf::Future<int>(state).result(), 5);
    EXPECT_EQ(poller->polls_, 1);
    EXPECT_EQ(poller->budget_, std::chrono::microseconds(300));
  }
  {
    auto state = std::make_shared<cf::internal::FutureState<int>>();
    auto poller = std::make_shared<CountingPoller>(0);
    state->SetPoller(poller);
    cf::Future<int> f(state);
    std::thread setter([f] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      f.set_result(7);
    });
    EXPECT_EQ(f.result(), 7);
    setter.join();
    EXPECT_EQ(poller->polls_, 1);  // then it slept
  }
}

TEST(FutureStateTest, CancelSucceedsOnlyOnPendingOrCancelledFutures) {
  cf::Future<int> f1 = PendingFuture();
  cf::Future<int> f2 = RunningFuture();
  cf::Future<int> f3 = CancelledFuture();
  cf::Future<int> f4 = CancelledAndNotifiedFuture();
  cf::Future<int> f5 = ExceptionFuture();
  cf::Future<int> f6 = SuccessfulFuture(5);

  EXPECT_TRUE(f1.cancel());
  EXPECT_EQ(StateOf(f1), FutureStatus::kCancelled);

  EXPECT_FALSE(f2.cancel());
  EXPECT_EQ(StateOf(f2), FutureStatus::kRunning);

  EXPECT_TRUE(f3.cancel());
  EXPECT_EQ(StateOf(f3), FutureStatus::kCancelled);

  EXPECT_TRUE(f4.cancel());
  EXPECT_EQ(StateOf(f4), FutureStatus::kCancelledAndNotified);

  EXPECT_FALSE(f5.cancel());
  EXPECT_EQ(StateOf(f5), FutureStatus::kFinished);

  EXPECT_FALSE(f6.cancel());
  EXPECT_EQ(StateOf(f6), FutureStatus::kFinished);
  EXPECT_EQ(f6.result(), 5);  // the value survives the failed cancel
}

// CPython: test_cancelled.
TEST(FutureStateTest, CancelledIsTrueOnlyForCancelledStates) {
  EXPECT_FALSE(PendingFuture().cancelled());
  EXPECT_FALSE(RunningFuture().cancelled());
  EXPECT_TRUE(CancelledFuture().cancelled());
  EXPECT_TRUE(CancelledAndNotifiedFuture().cancelled());
  EXPECT_FALSE(ExceptionFuture().cancelled());
  EXPECT_FALSE(SuccessfulFuture().cancelled());
}

// CPython: test_done.
TEST(FutureStateTest, DoneIsTrueForCancelledAndFinishedStates) {
  EXPECT_FALSE(PendingFuture().done());
  EXPECT_FALSE(RunningFuture().done());
  EXPECT_TRUE(CancelledFuture().done());
  EXPECT_TRUE(CancelledAndNotifiedFuture().done());
  EXPECT_TRUE(ExceptionFuture().done());
  EXPECT_TRUE(SuccessfulFuture().done());
}

// CPython: test_running.
TEST(FutureStateTest, RunningIsTrueOnlyForRunningState) {
  EXPECT_FALSE(PendingFuture().running());
  EXPECT_TRUE(RunningFuture().running());
  EXPECT_FALSE(CancelledFuture().running());
  EXPECT_FALSE(CancelledAndNotifiedFuture().running());
  EXPECT_FALSE(ExceptionFuture().running());
  EXPECT_FALSE(SuccessfulFuture().running());
}

// CPython: test_result_with_timeout.
TEST(FutureStateTest, ResultWithZeroTimeoutFollowsTheState) {
  const absl::Duration zero = absl::ZeroDuration();
  EXPECT_THROW(PendingFuture().result(zero), cf::TimeoutError);
  EXPECT_THROW(RunningFuture().result(zero), cf::TimeoutError);
  EXPECT_THROW(CancelledFuture().result(zero), cf::CancelledError);
  EXPECT_THROW(CancelledAndNotifiedFuture().result(zero), cf::CancelledError);
  EXPECT_THROW(ExceptionFuture().result(zero), std::system_error);
  EXPECT_EQ(SuccessfulFuture().result(zero), 42);
}

// CPython: test_result_with_timeout, with a real (non-zero) timeout: a
// future that stays pending times out after about that long, not before.
TEST(FutureStateTest, ResultTimesOutAfterTheTimeoutOnAPendingFuture) {
  cf::Future<int> f = RunningFuture();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(f.result(absl::Milliseconds(50)), cf::TimeoutError);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(50));
  EXPECT_FALSE(f.done());  // a timeout does not touch the future
}

// CPython: test_result_with_success.
TEST(FutureStateTest, ResultWaitsForAResultSetByAnotherThread) {
  cf::Future<int> f1 = PendingFuture();
  std::thread t([f1] {
    // Give the main thread time to start waiting.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f1.set_result(42);
  });
  EXPECT_EQ(f1.result(absl::Seconds(5)), 42);
  t.join();
}

// CPython: test_result_with_cancel.
TEST(FutureStateTest, ResultRaisesCancelledErrorWhenAnotherThreadCancels) {
  cf::Future<int> f1 = PendingFuture();
  std::thread t([f1] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f1.cancel();
  });
  EXPECT_THROW(f1.result(kShortTimeout), cf::CancelledError);
  t.join();
}

// CPython: test_exception_with_timeout.
TEST(FutureStateTest, ExceptionWithZeroTimeoutFollowsTheState) {
  const absl::Duration zero = absl::ZeroDuration();
  EXPECT_THROW(PendingFuture().exception(zero), cf::TimeoutError);
  EXPECT_THROW(RunningFuture().exception(zero), cf::TimeoutError);
  EXPECT_THROW(CancelledFuture().exception(zero), cf::CancelledError);
  EXPECT_THROW(CancelledAndNotifiedFuture().exception(zero),
               cf::CancelledError);
  std::exception_ptr e = ExceptionFuture().exception(zero);
  ASSERT_NE(e, nullptr);
  EXPECT_THROW(std::rethrow_exception(e), std::system_error);
  EXPECT_EQ(SuccessfulFuture().exception(zero), nullptr);
}

// CPython: test_exception_with_success.
TEST(FutureStateTest, ExceptionWaitsForAnExceptionSetByAnotherThread) {
  cf::Future<int> f1 = PendingFuture();
  std::thread t([f1] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f1.set_exception(OSError());
  });
  std::exception_ptr e = f1.exception(kShortTimeout);
  ASSERT_NE(e, nullptr);
  EXPECT_THROW(std::rethrow_exception(e), std::system_error);
  t.join();
}

// §1b result(): a finished future re-raises the stored exception object
// itself, not a copy, on every call.
TEST(FutureStateTest, ResultRethrowsTheSameStoredExceptionObject) {
  cf::Future<int> f;
  std::exception_ptr stored = std::make_exception_ptr(OSError());
  f.set_exception(stored);
  const std::system_error* first = nullptr;
  const std::system_error* second = nullptr;
  try {
    f.result();
  } catch (const std::system_error& e) {
    first = &e;
  }
  try {
    f.result();
  } catch (const std::system_error& e) {
    second = &e;
  }
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first, second);
  EXPECT_EQ(f.exception(), stored);
}

// CPython: test_multiple_set_result.
TEST(FutureStateTest, SecondSetResultRaisesInvalidStateErrorAndKeepsResult) {
  cf::Future<int> f = PendingFuture();
  f.set_result(1);

  try {
    f.set_result(2);
    ADD_FAILURE() << "set_result on a finished future did not throw";
  } catch (const cf::InvalidStateError& e) {
    EXPECT_THAT(e.what(),
                MatchesRegex("FINISHED: <Future at 0x[0-9a-f]+ "
                             "state=finished returned int>"));
    // The repr in the message is the future's own.
    EXPECT_EQ(std::string(e.what()), "FINISHED: " + cf::to_string(f));
  }

  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 1);
}

// CPython: test_multiple_set_exception (ValueError -> std::invalid_argument).
TEST(FutureStateTest, SecondSetExceptionRaisesInvalidStateErrorAndKeepsIt) {
  cf::Future<int> f = PendingFuture();
  std::exception_ptr e =
      std::make_exception_ptr(std::invalid_argument("first"));
  f.set_exception(e);

  try {
    f.set_exception(std::runtime_error("second"));
    ADD_FAILURE() << "set_exception on a finished future did not throw";
  } catch (const cf::InvalidStateError& err) {
    EXPECT_THAT(err.what(),
                MatchesRegex("FINISHED: <Future at 0x[0-9a-f]+ "
                             "state=finished raised std::invalid_argument>"));
  }

  EXPECT_EQ(f.exception(), e);  // the same exception object
  EXPECT_EQ(WhatOf(f.exception()), "first");
}

// §1b set_result/set_exception: on a cancelled future the error names the
// state; CPython 3.11 prints "CANCELLED: <Future at 0x.. state=cancelled>"
// and "CANCELLED_AND_NOTIFIED: <Future at 0x.. state=cancelled>".
TEST(FutureStateTest, SettersOnCancelledFuturesRaiseInvalidStateError) {
  cf::Future<int> cancelled = CancelledFuture();
  try {
    cancelled.set_result(1);
    ADD_FAILURE() << "set_result on a cancelled future did not throw";
  } catch (const cf::InvalidStateError& e) {
    EXPECT_THAT(e.what(), MatchesRegex("CANCELLED: <Future at 0x[0-9a-f]+ "
                                       "state=cancelled>"));
  }
  EXPECT_TRUE(cancelled.cancelled());

  cf::Future<int> notified = CancelledAndNotifiedFuture();
  try {
    notified.set_exception(OSError());
    ADD_FAILURE() << "set_exception on a cancelled future did not throw";
  } catch (const cf::InvalidStateError& e) {
    EXPECT_THAT(e.what(),
                MatchesRegex("CANCELLED_AND_NOTIFIED: <Future at 0x[0-9a-f]+ "
                             "state=cancelled>"));
  }
  EXPECT_THROW(notified.result(absl::ZeroDuration()), cf::CancelledError);
}

// §1b set_running_or_notify_cancel: PENDING -> RUNNING (true); CANCELLED ->
// CANCELLED_AND_NOTIFIED (false); any other state raises RuntimeError("Future
// in unexpected state").
TEST(FutureStateTest, SetRunningOrNotifyCancelFollowsTheStateMachine) {
  cf::Future<int> pending = PendingFuture();
  EXPECT_TRUE(pending.set_running_or_notify_cancel());
  EXPECT_EQ(StateOf(pending), FutureStatus::kRunning);

  cf::Future<int> cancelled = CancelledFuture();
  EXPECT_FALSE(cancelled.set_running_or_notify_cancel());
  EXPECT_EQ(StateOf(cancelled), FutureStatus::kCancelledAndNotified);

  for (cf::Future<int> f : {RunningFuture(), CancelledAndNotifiedFuture(),
                            ExceptionFuture(), SuccessfulFuture()}) {
    const FutureStatus before = StateOf(f);
    try {
      f.set_running_or_notify_cancel();
      ADD_FAILURE() << "no error for " << f;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("Future in unexpected state"));
    }
    EXPECT_EQ(StateOf(f), before);
  }
}

// §1b result(): the value stays in the future; every call returns it.
TEST(FutureStateTest, ResultCanBeReadRepeatedly) {
  cf::Future<std::string> f = SuccessfulFuture<std::string>("value");
  EXPECT_EQ(f.result(), "value");
  EXPECT_EQ(f.result(absl::ZeroDuration()), "value");
  EXPECT_EQ(f.exception(), nullptr);
}

// CPython: test_repr (OSError -> std::system_error).
TEST(FutureStateTest, ToStringMatchesPythonRepr) {
  EXPECT_THAT(cf::to_string(PendingFuture()),
              MatchesRegex("<Future at 0x[0-9a-f]+ state=pending>"));
  EXPECT_THAT(cf::to_string(RunningFuture()),
              MatchesRegex("<Future at 0x[0-9a-f]+ state=running>"));
  EXPECT_THAT(cf::to_string(CancelledFuture()),
              MatchesRegex("<Future at 0x[0-9a-f]+ state=cancelled>"));
  EXPECT_THAT(cf::to_string(CancelledAndNotifiedFuture()),
              MatchesRegex("<Future at 0x[0-9a-f]+ state=cancelled>"));
  EXPECT_THAT(cf::to_string(ExceptionFuture()),
              MatchesRegex("<Future at 0x[0-9a-f]+ state=finished raised "
                           "std::system_error>"));
  EXPECT_THAT(cf::to_string(SuccessfulFuture()),
              MatchesRegex("<Future at 0x[0-9a-f]+ state=finished returned "
                           "int>"));
}

// CPython: test_repr; the stream operator prints the same repr, and the
// address identifies the shared state (copies print alike).
TEST(FutureStateTest, StreamOutputEqualsToStringAndIsSharedByCopies) {
  cf::Future<int> f = SuccessfulFuture();
  cf::Future<int> copy = f;
  std::ostringstream os;
  os << f;
  EXPECT_EQ(os.str(), cf::to_string(f));
  EXPECT_EQ(cf::to_string(copy), cf::to_string(f));
  EXPECT_NE(cf::to_string(SuccessfulFuture()), cf::to_string(f));
}

// CPython main: test_get_snapshot. cf has no _get_snapshot(); the snapshot
// (done, cancelled, result, exception) is read through the public API.
using Snapshot =
    std::tuple<bool, bool, std::optional<int>, std::optional<std::string>>;

Snapshot SnapshotOf(const cf::Future<int>& f) {
  const bool done = f.done();
  const bool cancelled = f.cancelled();
  std::optional<int> result;
  std::optional<std::string> exception;
  if (done && !cancelled) {
    std::exception_ptr e = f.exception(absl::ZeroDuration());
    if (e) {
      exception = WhatOf(e);
    } else {
      result = f.result(absl::ZeroDuration());
    }
  }
  return {done, cancelled, result, exception};
}

TEST(FutureStateTest, SnapshotIsConsistentInEveryStateAndAcrossThreads) {
  EXPECT_EQ(SnapshotOf(PendingFuture()),
            Snapshot(false, false, std::nullopt, std::nullopt));
  EXPECT_EQ(SnapshotOf(SuccessfulFuture()),
            Snapshot(true, false, 42, std::nullopt));
  cf::Future<int> failed;
  failed.set_exception(std::invalid_argument("test error"));
  EXPECT_EQ(SnapshotOf(failed),
            Snapshot(true, false, std::nullopt, "test error"));
  EXPECT_EQ(SnapshotOf(CancelledFuture()),
            Snapshot(true, true, std::nullopt, std::nullopt));

  // Concurrent reads of a finished future all see the same thing.
  cf::Future<int> f = SuccessfulFuture(100);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([f, &mismatches] {
      for (int i = 0; i < 1000; ++i) {
        if (SnapshotOf(f) != Snapshot(true, false, 100, std::nullopt)) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// §1b done/result while another thread finishes the future: readers never
// see done() without the outcome (the outcome is stored before FINISHED is
// published).
TEST(FutureStateTest, ConcurrentReadersNeverSeeDoneWithoutTheResult) {
  for (int round = 0; round < 50; ++round) {
    cf::Future<int> f;
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
      readers.emplace_back([f, &bad] {
        while (!f.done()) std::this_thread::yield();
        if (SnapshotOf(f) != Snapshot(true, false, 7, std::nullopt)) ++bad;
      });
    }
    f.set_result(7);
    for (std::thread& t : readers) t.join();
    EXPECT_EQ(bad.load(), 0) << "round " << round;
  }
}

}  // namespace
}  // namespace cf_test
