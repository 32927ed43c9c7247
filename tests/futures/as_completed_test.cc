// cf::as_completed: yields each distinct future once as it completes,
// already-done ones first; times out with "N (of M) futures unfinished";
// keeps no reference to a future it has yielded.
// Ports Lib/test/test_concurrent_futures/test_as_completed.py
// (AsCompletedTests, CPython main) on a cf::ThreadPoolExecutor, plus the §1b
// as_completed() rows those tests do not cover.
#include <algorithm>
#include <chrono>
#include <exception>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/futures/future_fixtures.h"

namespace cf_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using Futures = cf::FutureSet<int>;

// CPython's ExecutorMixin on a thread pool (5 workers). Tasks that block do
// so on events owned here, all set in TearDown before the shutdown, so that a
// failing assertion cannot hang the test.
class AsCompletedTest : public testing::Test {
 protected:
  void TearDown() override {
    for (const std::shared_ptr<Event>& e : events_) e->set();
    executor_.shutdown(/*wait=*/true);
  }

  // A task that blocks until the returned event is set.
  std::pair<cf::Future<int>, std::shared_ptr<Event>> SubmitBlocked() {
    auto event = std::make_shared<Event>();
    events_.push_back(event);
    cf::Future<int> f =
        executor_.submit([event] { return event->wait() ? 1 : 0; });
    return {f, event};
  }

  std::vector<std::shared_ptr<Event>> events_;
  cf::ThreadPoolExecutor executor_{kWorkerCount};
};

// Iterates `range` to its end like Python's set(as_completed(...)); returns
// the yielded futures in order, and whether a TimeoutError ended it.
template <class Range>
std::pair<std::vector<cf::Future<int>>, bool> Drain(Range&& range) {
  std::vector<cf::Future<int>> yielded;
  try {
    for (cf::Future<int> f : range) yielded.push_back(f);
  } catch (const cf::TimeoutError&) {
    return {yielded, true};
  }
  return {yielded, false};
}

// CPython: test_no_timeout.
TEST_F(AsCompletedTest, YieldsEveryFutureWithoutTimeout) {
  cf::Future<int> cancelled_and_notified = CancelledAndNotifiedFuture();
  cf::Future<int> failed = ExceptionFuture();
  cf::Future<int> successful = SuccessfulFuture();
  cf::Future<int> future1 = executor_.submit(Mul, 2, 21);
  cf::Future<int> future2 = executor_.submit(Mul, 7, 6);

  Futures completed;
  for (cf::Future<int> f : cf::as_completed(
           {cancelled_and_notified, failed, successful, future1, future2})) {
    EXPECT_TRUE(f.done());
    EXPECT_TRUE(completed.insert(f).second) << "yielded twice: " << f;
  }

  EXPECT_EQ(completed, Futures({cancelled_and_notified, failed, successful,
                                future1, future2}));
  EXPECT_EQ(future1.result(), 42);
  EXPECT_EQ(future2.result(), 42);
}

// CPython: test_future_times_out (main; 3.8-3.10's test_zero_timeout is the
// timeout=0 case). The pending future is never yielded; TimeoutError ends the
// iteration after the deadline.
TEST_F(AsCompletedTest, TimesOutBeforeTheLastFutureCompletes) {
  const absl::Duration short_timeout = absl::Milliseconds(100);
  for (absl::Duration timeout : {absl::ZeroDuration(), short_timeout}) {
    SCOPED_TRACE(absl::FormatDuration(timeout));
    const Futures already_completed = {CancelledAndNotifiedFuture(),
                                       ExceptionFuture(), SuccessfulFuture()};
    auto [future, event] = SubmitBlocked();
    std::vector<cf::Future<int>> fs(already_completed.begin(),
                                    already_completed.end());
    fs.push_back(future);

    const auto start = std::chrono::steady_clock::now();
    auto [yielded, timed_out] = Drain(cf::as_completed(fs, timeout));
    const auto elapsed = std::chrono::steady_clock::now() - start;

    EXPECT_TRUE(timed_out);
    // Check that `future` was not completed.
    EXPECT_EQ(Futures(yielded.begin(), yielded.end()), already_completed);
    EXPECT_EQ(yielded.size(), 3u);
    EXPECT_GE(elapsed, absl::ToChronoNanoseconds(timeout));
    EXPECT_FALSE(future.done());
    event->set();
    EXPECT_EQ(future.result(), 1);
  }
}

// CPython: test_duplicate_futures (bpo-20367: duplicates are yielded once;
// bpo-31641: any iterable is accepted).
TEST_F(AsCompletedTest, DuplicateFuturesAreYieldedOnce) {
  auto [future1, event] = SubmitBlocked();
  std::thread releaser([event = event] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    event->set();
  });
  std::vector<cf::Future<int>> completed;
  for (cf::Future<int> f :
       cf::as_completed(std::vector<cf::Future<int>>(3, future1))) {
    completed.push_back(f);
  }
  releaser.join();
  EXPECT_THAT(completed, ElementsAre(future1));

  // Another kind of range, with an already finished future repeated.
  cf::Future<int> successful = SuccessfulFuture();
  std::list<cf::Future<int>> repeated = {successful, future1, successful,
                                         future1};
  auto [yielded, timed_out] = Drain(cf::as_completed(repeated));
  EXPECT_FALSE(timed_out);
  EXPECT_THAT(yielded, UnorderedElementsAre(successful, future1));
}

// CPython: test_free_reference_yielded_future (bpo-14406: the iterator keeps
// no reference to a future it has yielded). Python checks a weakref after
// `del future`; here a std::weak_ptr to the future's shared state.
TEST_F(AsCompletedTest, YieldedFuturesAreNotRetainedByTheIterator) {
  using State = cf::internal::FutureState<std::string>;
  std::vector<cf::Future<std::string>> futures_list;
  for (int i = 0; i < 8; ++i) futures_list.emplace_back();
  futures_list.push_back(CancelledAndNotifiedFuture<std::string>());
  futures_list.push_back(SuccessfulFuture<std::string>("42"));

  // Drops the caller's handle to the future at `it` and returns a weak
  // reference to its state: Python's remove(future); wr = ref(future); del.
  auto yield_and_drop = [&futures_list](auto& it) {
    cf::Future<std::string> future = *it;
    EXPECT_EQ(std::erase(futures_list, future), 1u);
    return std::weak_ptr<State>(future.state());
  };

  {
    auto completed = cf::as_completed(futures_list, absl::ZeroDuration());
    int yielded = 0;
    try {
      for (auto it = completed.begin(); it != completed.end(); ++it) {
        std::weak_ptr<State> wr = yield_and_drop(it);
        EXPECT_TRUE(wr.expired()) << "yielded future #" << yielded;
        ++yielded;
      }
      ADD_FAILURE() << "as_completed(timeout=0) did not time out";
    } catch (const cf::TimeoutError& e) {
      EXPECT_STREQ(e.what(), "8 (of 10) futures unfinished");
    }
    EXPECT_EQ(yielded, 2);
  }
  ASSERT_EQ(futures_list.size(), 8u);

  futures_list[0].set_result("test");
  auto completed = cf::as_completed(futures_list);
  int yielded = 0;
  for (auto it = completed.begin(); it != completed.end(); ++it) {
    std::weak_ptr<State> wr = yield_and_drop(it);
    EXPECT_TRUE(wr.expired()) << "yielded future #" << yielded;
    ++yielded;
    if (!futures_list.empty()) futures_list[0].set_result("test");
  }
  EXPECT_EQ(yielded, 8);
  EXPECT_THAT(futures_list, IsEmpty());
}

// CPython: test_correct_timeout_exception_msg.
TEST_F(AsCompletedTest, TimeoutMessageCountsUnfinishedFutures) {
  std::vector<cf::Future<int>> futures_list = {
      CancelledAndNotifiedFuture(), PendingFuture(), RunningFuture(),
      SuccessfulFuture()};
  try {
    std::vector<cf::Future<int>> all;
    for (cf::Future<int> f : cf::as_completed(futures_list, absl::ZeroDuration())) {
      all.push_back(f);
    }
    ADD_FAILURE() << "as_completed(timeout=0) did not time out";
  } catch (const cf::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "2 (of 4) futures unfinished");
  }
}

// §1b as_completed(): the counts in the message are of distinct futures.
TEST_F(AsCompletedTest, TimeoutMessageCountsDistinctFutures) {
  cf::Future<int> pending = PendingFuture();
  cf::Future<int> successful = SuccessfulFuture();
  auto [yielded, timed_out] = Drain(
      cf::as_completed({pending, successful, pending}, absl::ZeroDuration()));
  EXPECT_TRUE(timed_out);
  EXPECT_THAT(yielded, ElementsAre(successful));
  try {
    for (cf::Future<int> f : cf::as_completed({pending, pending, successful},
                                              absl::ZeroDuration())) {
      EXPECT_EQ(f, successful);
    }
    ADD_FAILURE() << "no timeout";
  } catch (const cf::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "1 (of 2) futures unfinished");
  }
}

// §1b as_completed(): futures done at the start come first; the others come
// in completion order, not input order.
TEST_F(AsCompletedTest, YieldsDoneFuturesFirstThenInCompletionOrder) {
  cf::Future<int> p1 = PendingFuture();
  cf::Future<int> done1 = SuccessfulFuture(1);
  cf::Future<int> p2 = RunningFuture();
  cf::Future<int> done2 = ExceptionFuture();
  cf::Future<int> p3 = PendingFuture();

  auto completed = cf::as_completed({p1, done1, p2, done2, p3});
  auto it = completed.begin();
  std::vector<cf::Future<int>> first_two;
  first_two.push_back(*it);
  ++it;
  first_two.push_back(*it);
  EXPECT_THAT(first_two, UnorderedElementsAre(done1, done2));

  p2.set_result(2);
  p3.cancel();  // not yielded until notified
  p1.set_result(1);
  ++it;
  ASSERT_NE(it, completed.end());
  EXPECT_EQ(*it, p2);
  ++it;
  ASSERT_NE(it, completed.end());
  EXPECT_EQ(*it, p1);
  p3.set_running_or_notify_cancel();
  ++it;
  ASSERT_NE(it, completed.end());
  EXPECT_EQ(*it, p3);
  ++it;
  EXPECT_EQ(it, completed.end());
}

// §1b as_completed(): a cancelled future is yielded only once the cancel is
// notified (CANCELLED_AND_NOTIFIED), like in wait().
TEST_F(AsCompletedTest, UnnotifiedCancelIsNotYielded) {
  cf::Future<int> cancelled = CancelledFuture();
  auto [yielded, timed_out] =
      Drain(cf::as_completed({cancelled}, absl::Milliseconds(20)));
  EXPECT_TRUE(timed_out);
  EXPECT_THAT(yielded, IsEmpty());

  std::thread notifier([cancelled] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancelled.set_running_or_notify_cancel();
  });
  auto [yielded2, timed_out2] = Drain(cf::as_completed({cancelled}, kShortTimeout));
  notifier.join();
  EXPECT_FALSE(timed_out2);
  EXPECT_THAT(yielded2, ElementsAre(cancelled));
}

// §1b as_completed(): the deadline counts from the first next() (begin()),
// not from the call [probe: Python waits the full timeout after a sleep].
TEST_F(AsCompletedTest, TimeoutCountsFromTheStartOfIteration) {
  cf::Future<int> pending = PendingFuture();
  auto completed = cf::as_completed({pending}, absl::Milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(completed.begin(), cf::TimeoutError);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(50));
}

// §1b as_completed(): futures completing in other threads while the
// iteration blocks are all yielded, each once.
TEST_F(AsCompletedTest, YieldsFuturesCompletedByExecutorTasks) {
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(executor_.submit(Mul, i, 2));
  Futures seen;
  int sum = 0;
  for (cf::Future<int> f : cf::as_completed(fs, kShortTimeout)) {
    EXPECT_TRUE(seen.insert(f).second);
    sum += f.result();
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(sum, 2 * (19 * 20 / 2));
}

// §1b as_completed(): an empty range yields nothing and does not wait.
TEST_F(AsCompletedTest, EmptyRangeYieldsNothing) {
  std::vector<cf::Future<int>> none;
  auto completed = cf::as_completed(none, absl::ZeroDuration());
  EXPECT_EQ(completed.begin(), completed.end());
}

// §1b as_completed(): its `finally` removes the waiter from the futures: a
// range destroyed (iterated or not) before its futures complete leaves
// nothing behind that completion could touch (ASan checks the memory).
TEST_F(AsCompletedTest, DestroyedRangeDoesNotObserveLaterCompletions) {
  cf::Future<int> a = PendingFuture();
  cf::Future<int> b = RunningFuture();
  cf::Future<int> c = CancelledFuture();
  {
    auto [yielded, timed_out] =
        Drain(cf::as_completed({a, b, c}, absl::ZeroDuration()));
    EXPECT_TRUE(timed_out);
    EXPECT_THAT(yielded, IsEmpty());
  }
  {
    auto never_iterated = cf::as_completed({a, b, c});
  }
  {
    // Stopped early, with futures still pending.
    auto completed = cf::as_completed({SuccessfulFuture(), a, b});
    auto it = completed.begin();
    EXPECT_TRUE((*it).done());
  }
  a.set_result(1);
  b.set_exception(OSError());
  c.set_running_or_notify_cancel();
  EXPECT_EQ(a.result(), 1);
  EXPECT_THROW(b.result(), std::system_error);
  EXPECT_THROW(c.result(), cf::CancelledError);
}

// cf extension (thread_pool_executor.h): as_completed() iterated in a worker
// thread runs queued calls of its pool while it blocks, so a task of a
// one-worker pool can consume other tasks of the same pool.
TEST(AsCompletedFromWorkerTest, IteratingInATaskRunsTheTasksOfTheSamePool) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> outer = pool.submit([&pool] {
    std::vector<cf::Future<int>> inner;
    for (int i = 1; i <= 4; ++i) inner.push_back(pool.submit(Mul, i, 10));
    int sum = 0;
    // No deadline: only such waits run queued calls (blocking_hook.h).
    for (cf::Future<int> f : cf::as_completed(inner)) {
      sum += f.result();
    }
    return sum;
  });
  EXPECT_EQ(outer.result(kShortTimeout), 100);
}

// ... and its timeout still ends the iteration with TimeoutError.
TEST(AsCompletedFromWorkerTest, IteratingInATaskHonoursTheTimeout) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<int> never;
  cf::Future<int> outer = pool.submit([never] {
    int n = 0;
    for (cf::Future<int> f :
         cf::as_completed({SuccessfulFuture(), never}, absl::Milliseconds(30))) {
      n += f.done() ? 1 : 0;
    }
    return n;
  });
  std::exception_ptr e = outer.exception(kShortTimeout);
  ASSERT_NE(e, nullptr);
  try {
    std::rethrow_exception(e);
  } catch (const cf::TimeoutError& timeout) {
    EXPECT_STREQ(timeout.what(), "1 (of 2) futures unfinished");
  } catch (...) {
    ADD_FAILURE() << "not a cf::TimeoutError";
  }
}

}  // namespace
}  // namespace cf_test
