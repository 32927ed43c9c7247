// Forking workers from a process that has other threads prints one warning
// recommending kForkServer; a single-threaded owner and the other start
// methods print nothing. (One test: the warning is once per process.)
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int Twice(int x) { return 2 * x; }

std::string StderrOfOnePool(cf::StartMethod method) {
  testing::internal::CaptureStderr();
  {
    cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
    EXPECT_EQ(pool.submit(Twice, 21).result(), 42);
  }
  return testing::internal::GetCapturedStderr();
}

TEST(ForkWarningTest, WarnsOnceWhenForkingWithOtherThreads) {
  EXPECT_THAT(StderrOfOnePool(cf::StartMethod::kFork), Not(HasSubstr("warning")));

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread other([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop; });
  });
  EXPECT_THAT(StderrOfOnePool(cf::StartMethod::kForkServer),
              Not(HasSubstr("warning")));
  const std::string first = StderrOfOnePool(cf::StartMethod::kFork);
  EXPECT_THAT(first, HasSubstr("warning: forking worker processes from a "
                               "process with 1 other thread"));
  EXPECT_THAT(first, HasSubstr("cf::StartMethod::kForkServer"));
  EXPECT_THAT(StderrOfOnePool(cf::StartMethod::kFork), Not(HasSubstr("warning")));
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_one();
  other.join();
}

}  // namespace
