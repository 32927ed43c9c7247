// cf::Process under kFork in a process with other threads prints one warning
// recommending kForkServer, as the process pool does (and Python 3.12+); a
// single-threaded parent and the other start methods print nothing. One
// test, in its own binary: the warning is once per process.
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

void Nothing() {}

std::string StderrOfOneProcess(cf::StartMethod method) {
  testing::internal::CaptureStderr();
  cf::Process p({.start_method = method}, Nothing);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  return testing::internal::GetCapturedStderr();
}

TEST(ProcessForkWarningTest, WarnsOnceWhenForkingWithOtherThreads) {
  EXPECT_THAT(StderrOfOneProcess(cf::StartMethod::kFork),
              Not(HasSubstr("warning")));
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread other([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop; });
  });
  EXPECT_THAT(StderrOfOneProcess(cf::StartMethod::kForkServer),
              Not(HasSubstr("warning")));
  const std::string first = StderrOfOneProcess(cf::StartMethod::kFork);
  EXPECT_THAT(first, HasSubstr("cf::Process: warning: forking a process from "
                               "a process with 1 other thread"));
  EXPECT_THAT(first, HasSubstr("cf::StartMethod::kForkServer"));
  EXPECT_THAT(StderrOfOneProcess(cf::StartMethod::kFork),
              Not(HasSubstr("warning")));
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_one();
  other.join();
}

}  // namespace
