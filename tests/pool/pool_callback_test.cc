// cf::Pool's callbacks: which thread runs them (one pool thread, never the
// caller's, as Python's result-handler thread), that a result is ready only
// after its callback ran, and that a callback that throws is reported while
// the pool goes on (Python's result handler dies there and the pool hangs).
#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/pool/pool_test_util.h"

namespace {

using cf_pool_test::Square;
using cf_pool_test::ThrowAt3;

class PoolCallbackTest : public cf_pool_test::PoolTestBase {};

// The threads callbacks ran on.
class ThreadLog {
 public:
  void Record() {
    std::lock_guard<std::mutex> lock(mu_);
    ids_.insert(std::this_thread::get_id());
  }
  std::set<std::thread::id> ids() {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }

 private:
  std::mutex mu_;
  std::set<std::thread::id> ids_;
};

TEST_P(PoolCallbackTest, CallbacksRunOnOnePoolThreadNeverTheCallers) {
  cf::Pool pool(Options());
  ThreadLog log;
  std::vector<cf::AsyncResult<int>> results;
  for (int i = 0; i < 20; ++i) {
    results.push_back(pool.apply_async(
        {.callback = [&](const int&) { log.Record(); }}, Square, i));
  }
  auto failed = pool.apply_async(
      {.error_callback = [&](std::exception_ptr) { log.Record(); }}, ThrowAt3, 3);
  auto mapped = pool.map_async(
      Square, std::vector<int>{1, 2, 3},
      {.callback = [&](const std::vector<int>&) { log.Record(); }});
  auto starred = pool.starmap_async(
      cf_pool_test::Add, std::vector<std::pair<int, int>>{{1, 2}},
      {.callback = [&](const std::vector<int>&) { log.Record(); }});
  for (auto& r : results) r.get();
  EXPECT_THROW(failed.get(), std::invalid_argument);
  mapped.get();
  starred.get();
  const std::set<std::thread::id> ids = log.ids();
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_NE(*ids.begin(), std::this_thread::get_id());
}

TEST_P(PoolCallbackTest, AResultIsReadyOnlyAfterItsCallbackRan) {
  cf::Pool pool(Options(1));
  std::atomic<bool> called{false};
  cf::AsyncResult<int> r = pool.apply_async(
      {.callback =
           [&](const int& v) {
             EXPECT_EQ(v, 49);
             absl::SleepFor(absl::Milliseconds(30));
             called = true;
           }},
      Square, 7);
  EXPECT_EQ(r.get(), 49);
  EXPECT_TRUE(called.load());
  std::atomic<bool> error_called{false};
  auto bad = pool.map_async(ThrowAt3, std::vector<int>{1, 2, 3, 4},
                            {.chunksize = 1,
                             .error_callback =
                                 [&](std::exception_ptr e) {
                                   absl::SleepFor(absl::Milliseconds(30));
                                   EXPECT_THROW(std::rethrow_exception(e),
                                                std::invalid_argument);
                                   error_called = true;
                                 }});
  EXPECT_TRUE(bad.wait());
  EXPECT_TRUE(error_called.load());
  EXPECT_FALSE(bad.successful());
}

TEST_P(PoolCallbackTest, MapAsyncCallsOneCallbackWithTheWholeListOrFirstError) {
  cf::Pool pool(Options());
  std::atomic<int> calls{0};
  std::vector<int> seen;
  auto r = pool.map_async(Square, std::vector<int>{1, 2, 3, 4, 5},
                          {.chunksize = 2, .callback = [&](const std::vector<int>& v) {
                             ++calls;
                             seen = v;
                           }});
  EXPECT_EQ(r.get(), (std::vector<int>{1, 4, 9, 16, 25}));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen, r.get());
  std::atomic<int> errors{0};
  auto bad = pool.map_async(ThrowAt3, std::vector<int>{3, 3, 3, 3},
                            {.chunksize = 1,
                             .callback = [&](const std::vector<int>&) { ++calls; },
                             .error_callback = [&](std::exception_ptr) { ++errors; }});
  EXPECT_THROW(bad.get(), std::invalid_argument);
  EXPECT_EQ(errors.load(), 1);  // once, with the first exception
  EXPECT_EQ(calls.load(), 1);
  // Python: an empty map is ready at once and calls no callback.
  auto empty = pool.map_async(Square, std::vector<int>{},
                              {.callback = [&](const std::vector<int>&) { ++calls; }});
  EXPECT_TRUE(empty.ready());
  EXPECT_TRUE(empty.get().empty());
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(PoolCallbackTest, AThrowingCallbackIsReportedAndThePoolGoesOn) {
  cf::Pool pool(Options());
  testing::internal::CaptureStderr();
  cf::AsyncResult<int> r = pool.apply_async(
      {.callback = [](const int&) { throw std::runtime_error("callback broke"); }},
      Square, 6);
  EXPECT_EQ(r.get(), 36);  // the value stands
  EXPECT_TRUE(r.successful());
  auto e = pool.apply_async(
      {.error_callback = [](std::exception_ptr) { throw std::logic_error("again"); }},
      ThrowAt3, 3);
  EXPECT_THROW(e.get(), std::invalid_argument);
  std::atomic<bool> later{false};
  EXPECT_EQ(pool.apply_async({.callback = [&](const int&) { later = true; }}, Square, 2)
                .get(),
            4);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("cf::Pool: exception in a callback (reported and ignored; "
                     "the pool goes on): std::runtime_error: callback broke"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("exception in an error_callback"), std::string::npos) << err;
  EXPECT_TRUE(later.load());
  pool.close();
  pool.join();
}

TEST_P(PoolCallbackTest, ACallbackMaySubmitMoreWorkAndJoinWaitsForCallbacks) {
  cf::Pool pool(Options());
  std::atomic<int> chained{0};
  std::optional<cf::AsyncResult<int>> second;
  std::mutex mu;
  pool.apply_async(
          {.callback =
               [&](const int& v) {
                 std::lock_guard<std::mutex> lock(mu);
                 second.emplace(pool.apply_async(
                     {.callback = [&](const int&) { ++chained; }}, Square, v));
               }},
          Square, 3)
      .get();
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second->get(), 81);
  }
  std::atomic<bool> slow_done{false};
  pool.apply_async({.callback =
                        [&](const int&) {
                          absl::SleepFor(absl::Milliseconds(50));
                          slow_done = true;
                        }},
                   Square, 1);
  pool.close();
  pool.join();  // Python joins the result handler: callbacks have run
  EXPECT_TRUE(slow_done.load());
  EXPECT_EQ(chained.load(), 1);
}

TEST_P(PoolCallbackTest, VoidFunctionsGetACallbackWithoutArguments) {
  cf::Pool pool(Options(1));
  std::atomic<bool> called{false};
  pool.apply_async({.callback = [&] { called = true; }}, cf_pool_test::Nothing, 1)
      .get();
  EXPECT_TRUE(called.load());
}

CF_INSTANTIATE_FOR_START_METHODS(PoolCallbackTest);

}  // namespace
