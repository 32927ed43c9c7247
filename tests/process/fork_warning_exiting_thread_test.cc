// A thread on its way out when a kFork pool forks its workers is no reason
// for the "forking from a process with other threads" warning: a thread
// that was just joined stays listed until the kernel has reaped it, so the
// check waits a moment for such a thread before it warns. (Its own binary:
// the warning is once per process.)
#include <chrono>
#include <string>
#include <thread>

#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int Twice(int x) { return 2 * x; }

TEST(ForkWarningExitingThreadTest,
     AThreadEndingAsThePoolForksIsNotWarnedAbout) {
  testing::internal::CaptureStderr();
  {
    // Alive when the pool forks (a fresh pool forks on its first submit,
    // well within a millisecond here), gone a millisecond later.
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }).detach();
    cf::ProcessPoolExecutor pool(
        {.max_workers = 1, .start_method = cf::StartMethod::kFork});
    EXPECT_EQ(pool.submit(Twice, 21).result(), 42);
  }
  EXPECT_THAT(testing::internal::GetCapturedStderr(),
              Not(HasSubstr("warning")));
}

}  // namespace
