// Executor.map: the map half of CPython's ExecutorTest
// (Lib/test/test_concurrent_futures/executor.py, main branch: iteration goes
// on past a call's exception, gh-108518; buffersize from 3.14) and the map
// tests of ThreadPoolExecutorTest (test_thread_pool.py).
//
// Python's next(i) is `*it` followed by `++it`; StopIteration is
// `it == results.end()`.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <latch>
#include <list>
#include <memory>
#include <optional>
#include <ranges>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

namespace {

using cf_executor_test::Log;
using cf_executor_test::Since;

constexpr int kWorkerCount = 5;

long Pow(int base, int exp) {
  long r = 1;
  for (int i = 0; i < exp; ++i) r *= base;
  return r;
}

// Python's divmod for ints (floor division); ZeroDivisionError becomes
// std::domain_error.
std::pair<int, int> Divmod(int a, int b) {
  if (b == 0) throw std::domain_error("integer division or modulo by zero");
  return {a / b, a % b};
}

std::string Str(int i) { return std::to_string(i); }
int Add(int a, int b) { return a + b; }

template <class R>
std::vector<R> ToVector(cf::MapResult<R>&& results) {
  std::vector<R> out;
  for (auto&& r : results) out.push_back(std::move(r));
  return out;
}

// Python's next(it): takes the value at the current position and advances,
// even when taking it throws (the position is consumed either way).
template <class It>
auto Next(It& it) -> decltype(*it) {
  struct Advance {
    It& it;
    ~Advance() { ++it; }
  } advance{it};
  return *it;
}

// CPython: test_map.
TEST(ExecutorMapTest, MapYieldsResultsInInputOrder) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::vector<long> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(Pow(i, i));
  auto range10 = std::views::iota(0, 10);
  EXPECT_EQ(ToVector(executor.map(Pow, range10, range10)), expected);
  // chunksize is ignored by thread pools, as in Python.
  EXPECT_EQ(ToVector(executor.map(Pow, range10, range10, {.chunksize = 3})),
            expected);
}

// Python's map(fn, *iterables) zips and stops at the shortest; cf takes one
// to four ranges of any kind (here: a vector, a list, an iota view, an
// array).
TEST(ExecutorMapTest, MapZipsUpToFourRangesAndStopsAtTheShortest) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::vector<int> a = {1, 2, 3, 4, 5};
  std::list<int> b = {10, 20, 30};
  EXPECT_EQ(ToVector(executor.map(Add, a, b)),
            (std::vector<int>{11, 22, 33}));
  EXPECT_EQ(ToVector(executor.map([](int x, int y, int z) { return x + y + z; },
                                  a, b, std::views::iota(100))),
            (std::vector<int>{111, 123, 135}));
  int four[] = {1000, 2000, 3000, 4000};
  EXPECT_EQ(ToVector(executor.map(
                [](int w, int x, int y, int z) { return w + x + y + z; }, a,
                std::views::iota(0, 4), four, std::vector<int>{0, 0})),
            (std::vector<int>{1001, 2003}));
  EXPECT_EQ(ToVector(executor.map(Str, std::vector<int>{})),
            std::vector<std::string>{});
}

// CPython main: test_map_exception. The call's exception is raised at its
// position and iteration goes on; then StopIteration, twice.
TEST(ExecutorMapTest, MapRaisesAtTheFailingPositionAndContinues) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  for (int chunksize : {1, 3}) {
    SCOPED_TRACE(chunksize);
    {
      auto i = executor.map(Divmod, std::vector<int>{5, 5, 5, 5},
                            std::vector<int>{2, 3, 0, 5},
                            {.chunksize = chunksize});
      auto it = i.begin();
      EXPECT_EQ(Next(it), std::make_pair(2, 1));
      EXPECT_EQ(Next(it), std::make_pair(1, 2));
      EXPECT_THROW(Next(it), std::domain_error);
      EXPECT_EQ(Next(it), std::make_pair(1, 0));
      EXPECT_TRUE(it == i.end());
      EXPECT_TRUE(it == i.end());
    }
    {
      auto i = executor.map(Divmod, std::vector<int>{5, 5, 5, 5},
                            std::vector<int>{2, 0, 3, 5},
                            {.chunksize = chunksize});
      auto it = i.begin();
      EXPECT_EQ(Next(it), std::make_pair(2, 1));
      EXPECT_THROW(Next(it), std::domain_error);
      EXPECT_EQ(Next(it), std::make_pair(1, 2));
      EXPECT_EQ(Next(it), std::make_pair(1, 0));
      EXPECT_TRUE(it == i.end());
    }
  }
}

// map_result.h: each position's value is handed over once; the exception
// of a failed position is rethrown for as long as the iterator stays there.
TEST(ExecutorMapTest, MapPositionIsTakenOnceAndAnExceptionRepeats) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto i = executor.map(Divmod, std::vector<int>{7, 7}, std::vector<int>{0, 2});
  auto it = i.begin();
  EXPECT_THROW(*it, std::domain_error);
  EXPECT_THROW(*it, std::domain_error);
  ++it;
  EXPECT_EQ(*it, std::make_pair(3, 1));
  EXPECT_THROW(*it, std::logic_error);
  ++it;
  EXPECT_TRUE(it == i.end());
}

struct ThrowTimeoutOnOne {
  int operator()(int x) const {
    if (x == 1) throw cf::TimeoutError();
    return x;
  }
};

// CPython main: test_map_timeout_from_callable. A TimeoutError raised by the
// callable is not map's timeout: it does not end the iteration, with or
// without a map timeout.
TEST(ExecutorMapTest, TimeoutErrorFromTheCallableIsNotMapsTimeout) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  for (absl::Duration timeout :
       {absl::InfiniteDuration(), cf_executor_test::kShortTimeout}) {
    SCOPED_TRACE(absl::FormatDuration(timeout));
    auto i = executor.map(ThrowTimeoutOnOne(), std::vector<int>{0, 1, 2, 3},
                          {.timeout = timeout});
    auto it = i.begin();
    EXPECT_EQ(Next(it), 0);
    EXPECT_THROW(Next(it), cf::TimeoutError);
    EXPECT_EQ(Next(it), 2);
    EXPECT_EQ(Next(it), 3);
    EXPECT_TRUE(it == i.end());
  }
}

// CPython main: test_map_timeout (walltime). Python maps time.sleep over
// [0, 0, 6] with timeout=5; here the third call blocks on a gate and the
// timeout is 300 ms. Results are [None, None] (gh-110097 also allows fewer on
// a loaded machine); then the remaining calls are cancelled and the iterator
// is exhausted.
TEST(ExecutorMapTest, MapTimeoutRaisesTimeoutErrorAndEndsTheIteration) {
  std::counting_semaphore<> gate(0);
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto sleep_or_block = [&gate](int x) {
    if (x != 0) gate.acquire();
    return x;
  };
  const absl::Time start = absl::Now();
  auto i = executor.map(sleep_or_block, std::vector<int>{0, 0, 6},
                        {.timeout = absl::Milliseconds(300)});
  std::vector<int> results;
  bool timed_out = false;
  auto it = i.begin();
  try {
    for (; it != i.end(); ++it) results.push_back(*it);
  } catch (const cf::TimeoutError&) {
    timed_out = true;
  }
  const absl::Duration waited = Since(start);
  gate.release();
  EXPECT_TRUE(timed_out) << "expected TimeoutError";
  EXPECT_GE(waited, absl::Milliseconds(290));
  EXPECT_LT(waited, absl::Seconds(10));
  EXPECT_TRUE(results == std::vector<int>({0, 0}) ||
              results == std::vector<int>({0}) || results.empty());
  // The remaining calls are cancelled, so the iterator is exhausted.
  ++it;
  EXPECT_TRUE(it == i.end());
  EXPECT_TRUE(it == i.end());
}

// The map deadline counts from the call to map(), not from the first next()
// (§1b: `end_time` is computed at the call).
TEST(ExecutorMapTest, MapTimeoutCountsFromTheCallToMap) {
  std::binary_semaphore gate(0);
  cf::ThreadPoolExecutor executor(1);
  auto i = executor.map(
      [&gate](int x) {
        gate.acquire();
        return x;
      },
      std::vector<int>{1}, {.timeout = absl::Milliseconds(100)});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const absl::Time start = absl::Now();
  auto it = i.begin();
  EXPECT_THROW(*it, cf::TimeoutError);
  EXPECT_LT(Since(start), absl::Milliseconds(90))
      << "the deadline had passed already: no further wait";
  gate.release();
}

// A result that is ready is yielded even after map's deadline has passed
// (Python's fut.result(negative timeout) returns a finished result).
TEST(ExecutorMapTest, MapYieldsFinishedResultsAfterTheDeadline) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto i = executor.map(Str, std::vector<int>{1, 2},
                        {.timeout = absl::Milliseconds(50)});
  executor.shutdown(/*wait=*/true);  // both calls are finished
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ToVector(std::move(i)), (std::vector<std::string>{"1", "2"}));
}

// CPython main: test_map_close. Python's close() has no C++ spelling;
// destroying the MapResult is its close: the calls not yet yielded are
// cancelled. The second call blocks the only worker, so the last two are
// still queued at the close and must never run.
TEST(ExecutorMapTest, DestroyingTheMapResultCancelsTheRest) {
  std::binary_semaphore gate(0);
  Log ran;
  cf::ThreadPoolExecutor executor(1);
  auto divmod = [&](int a, int b) {
    ran.Add(std::to_string(b));
    if (b == 0) gate.acquire();
    return Divmod(a, b);
  };
  {
    auto i = executor.map(divmod, std::vector<int>{5, 5, 5, 5},
                          std::vector<int>{2, 0, 3, 5});
    auto it = i.begin();
    EXPECT_EQ(Next(it), std::make_pair(2, 1));
  }  // i.close()
  gate.release();
  executor.shutdown(/*wait=*/true);
  std::vector<std::string> calls = ran.entries();
  ASSERT_GE(calls.size(), 1u);
  EXPECT_EQ(calls[0], "2");
  EXPECT_LE(calls.size(), 2u) << "a call queued at the close ran";
  for (const std::string& b : calls) {
    EXPECT_NE(b, "3");
    EXPECT_NE(b, "5");
  }
}

// CPython: test_map_buffersize_type_validation. Python's TypeError for
// buffersize "foo" or 2.0 is a compile error: the option is an optional<int>.
TEST(ExecutorMapTest, BuffersizeIsAnOptionalInt) {
  static_assert(std::is_same_v<decltype(cf::MapOptions::buffersize),
                               std::optional<int>>);
  static_assert(!std::is_assignable_v<std::optional<int>&, const char*>);
  static_assert(!std::is_assignable_v<std::optional<int>&, std::string>);
  cf::MapOptions options;
  EXPECT_FALSE(options.buffersize.has_value());  // Python's None
  EXPECT_EQ(options.timeout, absl::InfiniteDuration());
  EXPECT_EQ(options.chunksize, 1);
}

// CPython: test_map_buffersize_value_validation. Raised at the map() call.
TEST(ExecutorMapTest, BuffersizeZeroOrNegativeIsRejectedAtTheCall) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  for (int buffersize : {0, -1}) {
    SCOPED_TRACE(buffersize);
    std::atomic<int> calls{0};
    try {
      auto results = executor.map(
          [&calls](int i) {
            calls.fetch_add(1);
            return i;
          },
          std::views::iota(0, 4), {.buffersize = buffersize});
      ADD_FAILURE() << "map() accepted buffersize " << buffersize;
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(), "buffersize must be None or > 0");
    }
    executor.shutdown(/*wait=*/false);
    EXPECT_EQ(calls.load(), 0);
  }
}

// CPython: test_map_buffersize.
TEST(ExecutorMapTest, BuffersizeGivesTheSameResults) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto ints = std::views::iota(0, 4);
  for (int buffersize : {1, 2, 4, 8}) {
    SCOPED_TRACE(buffersize);
    EXPECT_EQ(ToVector(executor.map(Str, ints, {.buffersize = buffersize})),
              (std::vector<std::string>{"0", "1", "2", "3"}));
  }
}

// CPython: test_map_buffersize_on_multiple_iterables.
TEST(ExecutorMapTest, BuffersizeOnMultipleRanges) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto ints = std::views::iota(0, 4);
  for (int buffersize : {1, 2, 4, 8}) {
    SCOPED_TRACE(buffersize);
    EXPECT_EQ(
        ToVector(executor.map(Add, ints, ints, {.buffersize = buffersize})),
        (std::vector<int>{0, 2, 4, 6}));
  }
}

// CPython: test_map_buffersize_on_infinite_iterable.
TEST(ExecutorMapTest, BuffersizeOnAnInfiniteRange) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto res = executor.map(Str, std::views::iota(0), {.buffersize = 2});
  auto it = res.begin();
  EXPECT_EQ(Next(it), "0");
  EXPECT_EQ(Next(it), "1");
  EXPECT_EQ(Next(it), "2");
  EXPECT_FALSE(it == res.end());
}

// CPython: test_map_buffersize_on_multiple_infinite_iterables.
TEST(ExecutorMapTest, BuffersizeOnMultipleInfiniteRanges) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto res = executor.map(Add, std::views::iota(0), std::views::iota(0),
                          {.buffersize = 2});
  auto it = res.begin();
  EXPECT_EQ(Next(it), 0);
  EXPECT_EQ(Next(it), 2);
  EXPECT_EQ(Next(it), 4);
}

// CPython: test_map_buffersize_on_empty_iterable.
TEST(ExecutorMapTest, BuffersizeOnAnEmptyRange) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto res = executor.map(Str, std::vector<int>{}, {.buffersize = 2});
  EXPECT_TRUE(res.begin() == res.end());
}

// CPython: test_map_buffersize_without_iterable.
TEST(ExecutorMapTest, BuffersizeWithoutRanges) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto res = executor.map([] { return 1; }, cf::MapOptions{.buffersize = 2});
  EXPECT_TRUE(res.begin() == res.end());
  auto eager = executor.map([] { return 1; }, cf::MapOptions{});
  EXPECT_TRUE(eager.begin() == eager.end());
}

// CPython: test_map_buffersize_when_buffer_is_full. Only `buffersize` inputs
// are consumed while nobody iterates; each next() then pulls one more before
// waiting for the oldest.
TEST(ExecutorMapTest, BuffersizeConsumesOnlyThatManyInputsAhead) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::atomic<int> pulled{0};
  auto ints = std::views::iota(0, 4) | std::views::transform([&pulled](int i) {
                pulled.fetch_add(1);
                return i;
              });
  constexpr int kBuffersize = 2;
  auto res = executor.map(Str, ints, {.buffersize = kBuffersize});
  EXPECT_EQ(pulled.load(), kBuffersize)
      << "should have fetched only `buffersize` elements from `ints`";
  auto it = res.begin();
  EXPECT_EQ(*it, "0");
  EXPECT_EQ(pulled.load(), kBuffersize + 1);
  ++it;
  EXPECT_EQ(*it, "1");
  EXPECT_EQ(pulled.load(), kBuffersize + 2);
  executor.shutdown(/*wait=*/true);
  EXPECT_EQ(pulled.load(), 4);
}

// The same with Python's exact steps: map, shutdown(wait=True), and the input
// iterator has given out exactly `buffersize` elements.
TEST(ExecutorMapTest, BuffersizeInputsConsumedBeforeShutdown) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::atomic<int> pulled{0};
  auto ints = std::views::iota(0, 4) | std::views::transform([&pulled](int i) {
                pulled.fetch_add(1);
                return i;
              });
  auto res = executor.map(Str, ints, {.buffersize = 2});
  executor.shutdown(/*wait=*/true);
  EXPECT_EQ(pulled.load(), 2);
}

// CPython 3.14 buffersize branch: test_map_buffersize_raise_on_shutdown.
// Refilling the buffer after shutdown raises the submit's RuntimeError from
// next(), whether or not iteration had started.
TEST(ExecutorMapTest, BuffersizeRefillAfterShutdownRaisesRuntimeError) {
  for (bool start_iteration : {false, true}) {
    SCOPED_TRACE(start_iteration);
    cf::ThreadPoolExecutor executor(1);
    auto results = executor.map(Str, std::views::iota(0, 4), {.buffersize = 1});
    auto it = results.begin();
    if (start_iteration) Next(it);
    executor.shutdown(/*wait=*/true);
    try {
      *it;
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
    }
  }
}

// After the refill failure of the previous test, Python's generator has
// raised and is finished: the next next() is StopIteration. In C++ `++it`
// must then reach end() instead of throwing again (the documented idiom
// `try { use(*it); } catch (...) {} ++it;` relies on ++ not throwing).
TEST(ExecutorMapTest, BuffersizeIterationEndsAfterTheRefillFailure) {
  cf::ThreadPoolExecutor executor(1);
  auto results = executor.map(Str, std::views::iota(0, 4), {.buffersize = 1});
  auto it = results.begin();
  executor.shutdown(/*wait=*/true);
  EXPECT_THROW(*it, std::runtime_error);
  bool advanced = false;
  try {
    ++it;
    advanced = true;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "++it threw after the failed refill: " << e.what();
  }
  if (advanced) {
    EXPECT_TRUE(it == results.end());
  }
}

// Python re-submits through a weakref: once the executor is gone, a
// buffered map yields what was already submitted and stops.
TEST(ExecutorMapTest, BuffersizeStopsSubmittingOnceTheExecutorIsDestroyed) {
  auto executor = std::make_unique<cf::ThreadPoolExecutor>(kWorkerCount);
  auto res = executor->map(Str, std::views::iota(0), {.buffersize = 2});
  executor.reset();  // waits for the two submitted calls
  EXPECT_EQ(ToVector(std::move(res)), (std::vector<std::string>{"0", "1"}));
}

// CPython: test_free_reference (issue #14406). The iterator keeps no
// reference to a yielded result: once the caller drops it, it is gone (main
// retries for a while; cf's hand-over makes it immediate).
TEST(ExecutorMapTest, MapKeepsNoReferenceToYieldedResults) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  int seen = 0;
  for (std::shared_ptr<int> obj :
       executor.map([](int i) { return std::make_shared<int>(i); },
                    std::views::iota(0, 10))) {
    std::weak_ptr<int> wr = obj;
    obj.reset();
    EXPECT_TRUE(wr.expired()) << "result " << seen << " still referenced";
    ++seen;
  }
  EXPECT_EQ(seen, 10);
}

// CPython: ThreadPoolExecutorTest.test_map_submits_without_iteration (issue
// 11777): map submits every call at once, the results need not be iterated
// (see also DestroyingAnUnstartedMapResultCancelsNothing).
TEST(ExecutorMapTest, MapSubmitsEveryCallWithoutIteration) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::mutex mu;
  std::vector<int> finished;
  auto results = executor.map(
      [&](int n) {
        std::lock_guard<std::mutex> lock(mu);
        finished.push_back(n);
        return n;
      },
      std::views::iota(0, 10));
  executor.shutdown(/*wait=*/true);
  std::sort(finished.begin(), finished.end());
  EXPECT_EQ(finished, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

// As Python: a never-started generator's `finally` never runs, so an
// un-iterated MapResult that is destroyed cancels nothing; every call runs.
TEST(ExecutorMapTest, DestroyingAnUnstartedMapResultCancelsNothing) {
  std::binary_semaphore gate(0);
  std::atomic<int> calls{0};
  cf::ThreadPoolExecutor executor(1);
  executor.submit([&gate] { gate.acquire(); });
  {
    auto results = executor.map(
        [&calls](int n) {
          calls.fetch_add(1);
          return n;
        },
        std::views::iota(0, 10));
  }
  gate.release();
  executor.shutdown(/*wait=*/true);
  EXPECT_EQ(calls.load(), 10);
}

// Once iteration has started, destroying the result cancels the calls not
// yet yielded (Python's generator.close()).
TEST(ExecutorMapTest, DestroyingAStartedMapResultCancelsQueuedCalls) {
  std::binary_semaphore gate(0);
  std::atomic<int> calls{0};
  cf::ThreadPoolExecutor executor(1);
  executor.submit([&gate] { gate.acquire(); });
  {
    auto results = executor.map(
        [&calls](int n) {
          calls.fetch_add(1);
          return n;
        },
        std::views::iota(0, 10));
    auto it = results.begin();
    ++it;  // skips position 0 without waiting: iteration has started
  }
  gate.release();
  executor.shutdown(/*wait=*/true);
  EXPECT_EQ(calls.load(), 1);  // only the skipped call 0 was not cancelled
}

// CPython: ThreadPoolExecutorTest.test_executor_map_current_future_cancel.
// The pool's only worker is busy; map(timeout=0) raises TimeoutError at the
// first next(); the awaited call ('second') and the remaining one ('third')
// are cancelled and never run.
TEST(ExecutorMapTest, MapTimeoutCancelsTheAwaitedAndRemainingCalls) {
  std::binary_semaphore stop_event(0);
  Log log;
  auto log_n_wait = [&](std::string ident) {
    log.Add("ident='" + ident + "' started");
    stop_event.acquire();
    stop_event.release();
    log.Add("ident='" + ident + "' stopped");
    return 0;
  };
  {
    cf::ThreadPoolExecutor pool(1);
    cf::Future<int> fut = pool.submit(log_n_wait, std::string("first"));
    {
      auto gen = pool.map(log_n_wait,
                          std::vector<std::string>{"second", "third"},
                          {.timeout = absl::ZeroDuration()});
      auto it = gen.begin();
      EXPECT_THROW(*it, cf::TimeoutError);
      stop_event.release();
    }
    fut.result();
  }
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"ident='first' started",
                                                     "ident='first' stopped"}));
}

// map() after shutdown raises at the call, like Python's eager submit list.
TEST(ExecutorMapTest, MapAfterShutdownRaisesAtTheCall) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  executor.shutdown();
  try {
    auto results = executor.map(Str, std::vector<int>{1});
    ADD_FAILURE() << "map() after shutdown did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
}

}  // namespace

// CPython: chunksize is ignored by ThreadPoolExecutor (only process pools
// validate and use it).
TEST(ExecutorMapTest, ThreadPoolIgnoresChunksize) {
  cf::ThreadPoolExecutor executor(2);
  std::vector<int> got;
  for (int r : executor.map([](int x) { return x + 1; }, std::vector<int>{1, 2, 3},
                            {.chunksize = -1})) {
    got.push_back(r);
  }
  EXPECT_EQ(got, (std::vector<int>{2, 3, 4}));
}

// An executor that runs nothing: it keeps the calls, so a test sees the
// order in which map's result cancels them.
class HoldingExecutor final : public cf::Executor {
 public:
  void shutdown(bool = true, bool = false) override {}
  void Submit(std::shared_ptr<cf::internal::WorkItem> call) override {
    const int index = static_cast<int>(held_.size());
    call->future().AddDoneCallback([this, index](auto&) {
      cancelled_.push_back(index);
    });
    held_.push_back(std::move(call));
  }
  const std::vector<int>& cancelled() const { return cancelled_; }

 private:
  std::vector<std::shared_ptr<cf::internal::WorkItem>> held_;
  std::vector<int> cancelled_;
};

// Python's generator cancels what it has not yielded from the last submitted
// back: a dispatcher that pops the queue meanwhile skips the cancelled calls
// and finds the next in line, never a later call the loop has yet to reach.
TEST(ExecutorMapTest, DestroyingTheMapResultCancelsTheLastSubmittedFirst) {
  HoldingExecutor executor;
  {
    auto results = executor.map([](int n) { return n; }, std::views::iota(0, 5));
    auto it = results.begin();
    ++it;  // position 0 skipped: iteration has started
  }
  EXPECT_EQ(executor.cancelled(), (std::vector<int>{4, 3, 2, 1}));
}
