// cf::as_completed's range may be destroyed as soon as it has yielded its
// last future, even while the thread that completed that future is still
// inside set_result(). Not a CPython test case: Python's generator is
// garbage collected, so it cannot be freed under a notifier's feet; cf's
// range is freed deterministically (§1b as_completed: "its finally removes
// the waiter from the futures").
//
// A binary of its own: under --config=asan a use of the freed range aborts
// the process, which would hide the results of unrelated tests.
#include <thread>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/futures/future_fixtures.h"

namespace cf_test {
namespace {

// Repeated to catch the window; under --config=asan / --config=tsan a use of
// the destroyed range shows up as heap-use-after-free / data race.
TEST(AsCompletedLifetimeTest, RangeCanBeDestroyedRightAfterTheLastYield) {
  for (int round = 0; round < 300; ++round) {
    cf::Future<int> f;
    Event go;
    std::thread completer([f, &go] {
      go.wait();
      f.set_result(1);
    });
    int yielded = 0;
    {
      auto completed = cf::as_completed({f}, kShortTimeout);
      go.set();
      for (cf::Future<int> g : completed) yielded += g.result();
    }  // destroyed here, possibly while set_result() is still notifying
    completer.join();
    ASSERT_EQ(yielded, 1) << "round " << round;
  }
}

}  // namespace
}  // namespace cf_test
