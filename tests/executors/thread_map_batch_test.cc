// ThreadPoolExecutor::map queues its calls as one batch the threads share
// (executors/internal/map_batch.h). These prove that every element is still a
// call of its own, as in Python: its own value or exception at its position,
// cancelled alone when the result is dropped, cancelled with the pool's
// queue by shutdown(cancel_futures=true), runnable by a worker of the same
// pool that waits for it, and that the threads a map starts are reused.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

namespace {

using cf_executor_test::kShortTimeout;
using cf_executor_test::RunWithin;

int ThrowAtMultiplesOf7(int x) {
  if (x % 7 == 0) throw std::invalid_argument("multiple of 7: " + std::to_string(x));
  return x * 2;
}

TEST(ThreadMapBatchTest, EveryElementKeepsItsOwnValueOrException) {
  cf::ThreadPoolExecutor pool(3);
  std::vector<int> inputs(5000);
  for (int i = 0; i < 5000; ++i) inputs[i] = i;
  auto results = pool.map(ThrowAtMultiplesOf7, inputs);
  int i = 0;
  for (auto it = results.begin(); it != results.end(); ++it, ++i) {
    if (i % 7 == 0) {
      EXPECT_THROW(*it, std::invalid_argument) << i;
    } else {
      EXPECT_EQ(*it, 2 * i);
    }
  }
  EXPECT_EQ(i, 5000);
}

// `n` elements: with many, a thread claims several at once; those it has not
// started are cancelled too.
void ExpectShutdownCancelsAllButTheRunningElement(int n) {
  cf::ThreadPoolExecutor pool(1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<bool> started{false};
  std::atomic<int> ran{0};
  auto fn = [gate, &started, &ran](int x) {
    if (x == 0) {
      started = true;
      gate.wait();
    }
    ran.fetch_add(1);
    return x;
  };
  std::vector<int> inputs(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) inputs[static_cast<std::size_t>(i)] = i;
  auto results = pool.map(fn, inputs);
  auto it = results.begin();
  // The one thread is inside element 0; the others are not claimed yet.
  ASSERT_TRUE(cf_executor_test::PollUntil([&] { return started.load(); },
                                          kShortTimeout));
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(50));
    release.set_value();
  });
  pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  EXPECT_EQ(*it, 0);
  int cancelled = 0;
  for (++it; it != results.end(); ++it) {
    try {
      *it;
    } catch (const cf::CancelledError&) {
      ++cancelled;
    }
  }
  releaser.join();
  pool.shutdown(/*wait=*/true);
  EXPECT_EQ(cancelled, n - 1);
  EXPECT_EQ(ran.load(), 1);
}

TEST(ThreadMapBatchTest, EachCallGetsItsOwnCopyOfAStatefulFunction) {
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> inputs(2000, 0);
  int calls_on_one_copy_max = 0;
  for (int r : pool.map([count = 0](int) mutable { return ++count; }, inputs)) {
    calls_on_one_copy_max = std::max(calls_on_one_copy_max, r);
  }
  EXPECT_EQ(calls_on_one_copy_max, 1);  // as submit() copies it per call
}

TEST(ThreadMapBatchTest, ShutdownWithCancelFuturesCancelsTheElementsNotStarted) {
  ExpectShutdownCancelsAllButTheRunningElement(6);
}

TEST(ThreadMapBatchTest, ShutdownWithCancelFuturesCancelsClaimedElementsNotStarted) {
  ExpectShutdownCancelsAllButTheRunningElement(2000);
}

TEST(ThreadMapBatchTest, DroppingTheResultCancelsWhatWasNotYielded) {
  cf::ThreadPoolExecutor pool(1);
  std::promise<void> first, second;
  std::shared_future<void> gate0 = first.get_future().share();
  std::shared_future<void> gate1 = second.get_future().share();
  std::atomic<int> ran{0};
  auto fn = [gate0, gate1, &ran](int x) {
    if (x == 0) gate0.wait();
    if (x == 1) gate1.wait();
    ran.fetch_add(1);
    return x;
  };
  std::vector<int> inputs(100);
  for (int i = 0; i < 100; ++i) inputs[i] = i;
  {
    auto results = pool.map(fn, inputs);
    auto it = results.begin();
    first.set_value();
    EXPECT_EQ(*it, 0);  // iteration started: dropping now cancels the rest
  }
  second.set_value();  // element 1 ran or was cancelled; 2..99 were cancelled
  pool.shutdown();
  EXPECT_GE(ran.load(), 1);
  EXPECT_LE(ran.load(), 2);
}

TEST(ThreadMapBatchTest, AWorkerWaitingOnAMapOfItsOwnPoolRunsItsElements) {
  // One thread: the map's elements can only run if the waiting task runs
  // them itself.
  cf::ThreadPoolExecutor pool(1);
  RunWithin(kShortTimeout, "a task mapping on its own one-thread pool", [&] {
    cf::Future<int> outer = pool.submit([&pool] {
      int sum = 0;
      for (int r : pool.map([](int x) { return x + 1; },
                            std::vector<int>{1, 2, 3, 4})) {
        sum += r;
      }
      return sum;
    });
    EXPECT_EQ(outer.result(), 14);
  });
}

// The task's map has element 0 running on the other thread, and element 1,
// which the task runs itself: after that it can only wait, and the thread
// that settles element 0 must wake it (an element is no future that wakes
// its waiters by itself).
TEST(ThreadMapBatchTest, AWorkerWaitingOnAnElementAnotherThreadRunsIsWoken) {
  cf::ThreadPoolExecutor pool(2);
  std::promise<void> element0_started;
  std::shared_future<void> started = element0_started.get_future().share();
  RunWithin(kShortTimeout, "a task waiting on an element another thread runs",
            [&] {
              cf::Future<int> outer = pool.submit([&] {
                int sum = 0;
                auto fn = [&](int x) {
                  if (x == 0) {
                    element0_started.set_value();
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                  } else {
                    started.wait();  // element 0 is claimed: the task's turn
                  }
                  return x + 1;
                };
                for (int r : pool.map(fn, std::vector<int>{0, 1})) sum += r;
                return sum;
              });
              EXPECT_EQ(outer.result(), 3);
            });
}

TEST(ThreadMapBatchTest, AMapStartsAThreadPerElementUpToMaxWorkersAndTheyAreReused) {
  cf::ThreadPoolExecutor pool(4);
  std::vector<int> out;
  for (int r : pool.map([](int x) { return x; }, std::vector<int>{1, 2})) {
    out.push_back(r);
  }
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
  EXPECT_LE(pool.num_threads(), 2);
  // Both threads are idle again: a call reuses one (Python's idle
  // semaphore) instead of starting a third.
  for (int i = 0; i < 5; ++i) pool.submit([] { return 0; }).result();
  EXPECT_LE(pool.num_threads(), 2);
}

// Times the calling thread blocked (gave up the CPU to wait) so far.
long VoluntarySwitches() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nvcsw;
}

int Sleep20Ms(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return x;
}

// The reader of a map's results looks every 250 µs only while it has waited
// less than the patience for its element; for a slow element it sleeps until
// the thread that finishes it wakes it, so it takes no CPU from the workers:
// about two wake-ups per element, not one per 250 µs (80 for each of these).
TEST(ThreadMapBatchTest, AReaderWaitingOnSlowElementsIsWokenOnlyWhenTheyEnd) {
  cf::ThreadPoolExecutor pool(1);
  std::vector<int> inputs(10);
  for (int i = 0; i < 10; ++i) inputs[i] = i;
  const long before = VoluntarySwitches();
  int sum = 0;
  for (int r : pool.map(Sleep20Ms, inputs)) sum += r;
  const long switches = VoluntarySwitches() - before;
  EXPECT_EQ(sum, 45);
  EXPECT_LT(switches, 60) << "the reader slept " << switches << " times";
}

int Sleep5Ms(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return x;
}

// Once one element was slow, the reader expects the next to be slow too and
// goes straight to sleep until it ends: one wake-up per element, not a
// fruitless 250 µs look first, each taking a core from a worker (the seed's
// map of 1.4 ms calls).
TEST(ThreadMapBatchTest, AfterASlowElementTheReaderSleepsOncePerElement) {
  cf::ThreadPoolExecutor pool(1);
  constexpr int kElements = 40;
  std::vector<int> inputs(kElements);
  for (int i = 0; i < kElements; ++i) inputs[i] = i;
  auto results = pool.map(Sleep5Ms, inputs);
  auto it = results.begin();
  EXPECT_EQ(*it, 0);  // the first slow element teaches the reader
  ++it;
  const long before = VoluntarySwitches();
  int sum = 0;
  for (; it != results.end(); ++it) sum += *it;
  const long switches = VoluntarySwitches() - before;
  EXPECT_EQ(sum, kElements * (kElements - 1) / 2);
  EXPECT_LE(switches, 3 * (kElements - 1) / 2)
      << "the reader slept " << switches << " times";
}

TEST(ThreadMapBatchTest, ATimeoutCancelsTheRest) {
  cf::ThreadPoolExecutor pool(1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto fn = [gate](int x) {
    if (x == 0) gate.wait();
    return x;
  };
  auto results = pool.map(fn, std::vector<int>{0, 1, 2},
                          {.timeout = absl::Milliseconds(50)});
  auto it = results.begin();
  EXPECT_THROW(*it, cf::TimeoutError);
  release.set_value();
  pool.shutdown();
}

}  // namespace
