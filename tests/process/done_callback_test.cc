// A process pool runs a future's done callbacks in its manager thread, as
// Python runs them in its executor manager thread. What a callback does
// there must not hold back the workers: Python has already put the next
// call in its call queue, where a worker takes it on its own.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "tests/process/process_test_util.h"
#include "gtest/gtest.h"

namespace {

bool WaitForFile(const std::string& path, absl::Duration limit) {
  const absl::Time until = absl::Now() + limit;
  while (!std::filesystem::exists(path)) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// Waits until `go` exists, so that the test's callback is added before it
// ends, then answers.
int FirstCall(std::string go) { return WaitForFile(go, absl::Seconds(30)); }

// Says it started by creating `started`.
int SecondCall(std::string started) {
  std::ofstream(started).close();
  return 2;
}

class DoneCallbackTest : public testing::TestWithParam<cf::StartMethod> {};

// Python's behaviour (python3, ProcessPoolExecutor(1)): a callback of the
// first future that waits for the second call to start sees it start. cf
// sends a worker its next call before it completes the answered future, so
// here too the one worker is not kept waiting for the callback.
TEST_P(DoneCallbackTest, ACallbackWaitingForTheNextCallDoesNotHoldTheWorker) {
  const std::string dir = testing::TempDir();
  const std::string go = absl::StrCat(dir, "/go-", getpid());
  const std::string started = absl::StrCat(dir, "/started-", getpid());
  std::filesystem::remove(go);
  std::filesystem::remove(started);

  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam()});
  cf::Future<int> first = pool.submit(FirstCall, go);
  cf::Future<int> second = pool.submit(SecondCall, started);
  std::atomic<int> saw_start{-1};
  first.add_done_callback([&](const cf::Future<int>&) {
    saw_start = WaitForFile(started, absl::Seconds(20)) ? 1 : 0;
  });
  std::ofstream(go).close();

  EXPECT_EQ(first.result(absl::Seconds(60)), 1);
  EXPECT_EQ(second.result(absl::Seconds(60)), 2);
  EXPECT_EQ(saw_start.load(), 1)
      << "the second call did not start while the first one's callback ran";
  std::filesystem::remove(go);
  std::filesystem::remove(started);
}

std::string ParamName(const testing::TestParamInfo<cf::StartMethod>& info) {
  return cf_process_test::StartMethodName(info.param);
}
INSTANTIATE_TEST_SUITE_P(StartMethods, DoneCallbackTest,
                         testing::ValuesIn(cf_process_test::StartMethods()),
                         ParamName);

}  // namespace
