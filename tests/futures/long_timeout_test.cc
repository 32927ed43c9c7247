// A long finite timeout is a real wait, in result(), exception(), wait() and
// as_completed(). CPython accepts any timeout up to threading.TIMEOUT_MAX
// (9223372036 s, about 292 years, on 64-bit Linux) and waits; CPython 3.11:
//
//   >>> f = Future(); Timer(0.1, lambda: f.set_result(42)).start()
//   >>> f.result(timeout=threading.TIMEOUT_MAX)
//   42
//
// Not a CPython test case (§1b result/wait/as_completed timeouts). Kept in a
// binary of its own: a deadline overflow is undefined behaviour, which the
// asan config's UBSan turns into an abort of the whole binary.
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <thread>
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

// Python's threading.TIMEOUT_MAX on 64-bit Linux.
const absl::Duration kTimeoutMax = absl::Seconds(9223372036);

// Sets `f`'s result from another thread shortly after the test starts
// waiting.
class SetLater {
 public:
  explicit SetLater(cf::Future<int> f)
      : thread_([f] {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          f.set_result(42);
        }) {}
  ~SetLater() { thread_.join(); }

 private:
  std::thread thread_;
};

TEST(LongTimeoutTest, ResultWithTimeoutMaxWaitsForTheResult) {
  cf::Future<int> f = PendingFuture();
  SetLater setter(f);
  int result = 0;
  EXPECT_NO_THROW(result = f.result(kTimeoutMax));
  EXPECT_EQ(result, 42);
}

TEST(LongTimeoutTest, ExceptionWithTimeoutMaxWaitsForTheOutcome) {
  cf::Future<int> f = PendingFuture();
  SetLater setter(f);
  std::exception_ptr e = std::make_exception_ptr(1);
  EXPECT_NO_THROW(e = f.exception(kTimeoutMax));
  EXPECT_EQ(e, nullptr);
  EXPECT_TRUE(f.done());
}

TEST(LongTimeoutTest, WaitWithTimeoutMaxWaitsForTheFuture) {
  cf::Future<int> f = PendingFuture();
  SetLater setter(f);
  auto [done, not_done] = cf::wait({f}, kTimeoutMax);
  EXPECT_EQ(done, cf::FutureSet<int>({f}));
  EXPECT_THAT(not_done, IsEmpty());
}

TEST(LongTimeoutTest, AsCompletedWithTimeoutMaxYieldsTheFuture) {
  cf::Future<int> f = PendingFuture();
  SetLater setter(f);
  std::vector<cf::Future<int>> yielded;
  EXPECT_NO_THROW({
    for (cf::Future<int> g : cf::as_completed({f}, kTimeoutMax)) {
      yielded.push_back(g);
    }
  });
  EXPECT_THAT(yielded, ElementsAre(f));
}

// Beyond TIMEOUT_MAX CPython raises OverflowError; cf's documented contract
// only has InfiniteDuration() as "forever", so a duration too long for the
// clock must at least not be taken for an expired one.
TEST(LongTimeoutTest, LongerThanTheClockCanHoldIsNotAnExpiredTimeout) {
  cf::Future<int> f = PendingFuture();
  SetLater setter(f);
  try {
    EXPECT_EQ(f.result(absl::Seconds(std::numeric_limits<std::int64_t>::max())),
              42);
  } catch (const cf::TimeoutError&) {
    ADD_FAILURE() << "a ~2.9e11-year timeout expired at once";
  } catch (const std::exception& e) {
    // An explicit range error would be acceptable, like Python's.
    SUCCEED() << "rejected: " << e.what();
  }
}

}  // namespace
}  // namespace cf_test
