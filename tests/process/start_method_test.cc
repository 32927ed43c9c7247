// Each start method starts the workers it says it does: kFork copies the
// parent, kSpawn runs the program anew, kForkServer forks workers from a
// fresh run of it; and per-call timeouts bound one call.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "executors/transport/fork_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace {

using ::testing::HasSubstr;

// Set by the parent after startup: a copy of the parent sees it, a fresh run
// of the program does not.
int marker = 0;

int Marker() { return marker; }

// argv[1] of the worker process ("" if it has none).
std::string WorkerFlag() {
  std::ifstream in("/proc/self/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  const std::size_t first = cmdline.find('\0');
  if (first == std::string::npos || first + 1 >= cmdline.size()) return "";
  return std::string(cmdline.c_str() + first + 1);
}

int ParentPid() { return static_cast<int>(getppid()); }
int Pid() { return static_cast<int>(getpid()); }
int SleepMs(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}

class StartMethodTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessPoolOptions Options(int max_workers) const {
    return {.max_workers = max_workers, .start_method = GetParam()};
  }
};

TEST_P(StartMethodTest, WorkersAreStartedAsTheMethodSays) {
  marker = 42;
  cf::ProcessPoolExecutor pool(Options(1));
  EXPECT_EQ(pool.start_method(), GetParam());
  const int seen = pool.submit(Marker).result(absl::Seconds(60));
  const std::string flag = pool.submit(WorkerFlag).result(absl::Seconds(60));
  const int parent = pool.submit(ParentPid).result(absl::Seconds(60));
  switch (GetParam()) {
    case cf::StartMethod::kFork:
      EXPECT_EQ(seen, 42);  // a copy of this process
      EXPECT_EQ(flag, "");
      EXPECT_EQ(parent, getpid());
      break;
    case cf::StartMethod::kSpawn:
      EXPECT_EQ(seen, 0);  // a fresh run of the program
      EXPECT_EQ(flag, "--cf-worker");
      EXPECT_EQ(parent, getpid());
      break;
    case cf::StartMethod::kForkServer:
      EXPECT_EQ(seen, 0);  // forked from a fresh run, not from us
      EXPECT_EQ(flag, "--cf-forkserver");
      EXPECT_NE(parent, getpid());  // the server's child
      break;
  }
  marker = 0;
}

TEST_P(StartMethodTest, PerCallTimeoutKillsOnlyThatCall) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Future<int> hung =
      pool.submit({.timeout = absl::Milliseconds(200)}, SleepMs, 60'000);
  cf::Future<int> unbounded = pool.submit(SleepMs, 300);  // queued behind it
  try {
    hung.result(absl::Seconds(60));
    FAIL() << "expected cf::TimeoutError";
  } catch (const cf::TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr("timeout of 200ms"));
  }
  // The replacement runs the next call, which has no deadline of its own.
  EXPECT_EQ(unbounded.result(absl::Seconds(60)), 300);
  EXPECT_EQ(pool.submit({.timeout = absl::Seconds(30)}, SleepMs, 1)
                .result(absl::Seconds(60)),
            1);
}

TEST_P(StartMethodTest, PerCallTimeoutOverridesThePoolsTimeout) {
  cf::ProcessPoolOptions options = Options(1);
  options.task_timeout = absl::Milliseconds(100);
  cf::ProcessPoolExecutor pool(options);
  EXPECT_EQ(pool.submit({.timeout = absl::Seconds(30)}, SleepMs, 400)
                .result(absl::Seconds(60)),
            400);
  EXPECT_THROW(pool.submit(SleepMs, 60'000).result(absl::Seconds(60)),
               cf::TimeoutError);
}

TEST_P(StartMethodTest, MaxTasksPerChildReplacesTheWorker) {
  if (GetParam() == cf::StartMethod::kFork) {
    cf::ProcessPoolOptions options = Options(1);
    options.max_tasks_per_child = 2;
    try {
      cf::ProcessPoolExecutor pool(options);
      FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("incompatible with the 'fork'"));
    }
    return;
  }
  cf::ProcessPoolOptions options = Options(1);
  options.max_tasks_per_child = 2;
  cf::ProcessPoolExecutor pool(options);
  std::vector<int> pids;
  for (int i = 0; i < 6; ++i) pids.push_back(pool.submit(Pid).result());
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_NE(pids[1], pids[2]);
  EXPECT_EQ(pids[2], pids[3]);
  EXPECT_NE(pids[3], pids[4]);
  EXPECT_EQ(pids[4], pids[5]);
  EXPECT_LE(pool.num_workers(), 1);
}

int Noop(int x) { return x; }

// A burst of tiny calls is pipelined (several sent to a worker at once), and
// each still gets its own result, in order.
TEST_P(StartMethodTest, BurstOfTinyCallsKeepsEveryResult) {
  cf::ProcessPoolExecutor pool(Options(2));
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 5000; ++i) fs.push_back(pool.submit(Noop, i));
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(fs[i].result(absl::Seconds(60)), i);
}

// Once the burst is over, a worker gets one call at a time again: calls
// queued behind a long one stay cancellable, as in Python (only
// max_workers + 1 are RUNNING).
TEST_P(StartMethodTest, AfterABurstQueuedCallsStayCancellable) {
  cf::ProcessPoolExecutor pool(Options(1));
  std::vector<cf::Future<int>> burst;
  for (int i = 0; i < 2000; ++i) burst.push_back(pool.submit(Noop, i));
  for (auto& f : burst) f.result(absl::Seconds(60));
  std::vector<cf::Future<int>> slow;
  for (int i = 0; i < 6; ++i) slow.push_back(pool.submit(SleepMs, 200));
  absl::SleepFor(absl::Milliseconds(50));  // the manager has dispatched
  int cancelled = 0;
  for (int i = 2; i < 6; ++i) cancelled += slow[i].cancel();
  EXPECT_EQ(cancelled, 4);
  EXPECT_EQ(slow[0].result(absl::Seconds(60)), 200);
  EXPECT_EQ(slow[1].result(absl::Seconds(60)), 200);
}

// A worker is never sent more calls than it has left before it retires.
TEST_P(StartMethodTest, BurstWithMaxTasksPerChildLosesNothing) {
  if (GetParam() == cf::StartMethod::kFork) GTEST_SKIP() << "not with fork";
  cf::ProcessPoolOptions options = Options(2);
  options.max_tasks_per_child = 5;
  cf::ProcessPoolExecutor pool(options);
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 300; ++i) fs.push_back(pool.submit(Noop, i));
  for (int i = 0; i < 300; ++i) ASSERT_EQ(fs[i].result(absl::Seconds(60)), i);
}

INSTANTIATE_TEST_SUITE_P(
    StartMethods, StartMethodTest,
    testing::ValuesIn(cf_process_test::StartMethods()),
    [](const testing::TestParamInfo<cf::StartMethod>& info) {
      return cf_process_test::StartMethodName(info.param);
    });

// Python's forkserver is shared too: only the first pool pays to start it.
TEST(ForkServerTest, LaterPoolsReuseTheWarmServer) {
  pid_t server = -1;
  for (int round = 0; round < 3; ++round) {
    cf::ProcessPoolExecutor pool(
        {.max_workers = 2, .start_method = cf::StartMethod::kForkServer});
    const int parent = pool.submit(ParentPid).result(absl::Seconds(60));
    EXPECT_EQ(parent, cf::internal::ForkServerPid());
    if (round > 0) EXPECT_EQ(parent, server) << "round " << round;
    server = parent;
  }
  // Two pools at once share it, each with its own key and workers.
  cf::ProcessPoolExecutor a(
      {.max_workers = 1, .start_method = cf::StartMethod::kForkServer});
  cf::ProcessPoolExecutor b(
      {.max_workers = 1, .start_method = cf::StartMethod::kForkServer});
  EXPECT_EQ(a.submit(ParentPid).result(absl::Seconds(60)), server);
  EXPECT_EQ(b.submit(ParentPid).result(absl::Seconds(60)), server);
  EXPECT_NE(a.submit(Pid).result(), b.submit(Pid).result());
}

TEST(ForkServerTest, AStoppedServerIsReplacedByTheNextPool) {
  {
    cf::ProcessPoolExecutor pool(
        {.max_workers = 1, .start_method = cf::StartMethod::kForkServer});
    EXPECT_EQ(pool.submit(SleepMs, 1).result(absl::Seconds(60)), 1);
  }
  const pid_t old = cf::internal::ForkServerPid();
  cf::internal::StopForkServer();
  EXPECT_EQ(cf::internal::ForkServerPid(), -1);
  EXPECT_FALSE(cf_process_test::IsAlive(old));
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = cf::StartMethod::kForkServer});
  const int parent = pool.submit(ParentPid).result(absl::Seconds(60));
  EXPECT_NE(parent, old);
  EXPECT_EQ(parent, cf::internal::ForkServerPid());
}

TEST(StartMethodDefaultsTest, MaxTasksPerChildDefaultsToSpawn) {
  cf::ProcessPoolExecutor pool({.max_workers = 1, .max_tasks_per_child = 3});
  EXPECT_EQ(pool.start_method(), cf::StartMethod::kSpawn);
  cf::ProcessPoolExecutor plain(1);
  EXPECT_EQ(plain.start_method(), cf::StartMethod::kFork);
}

TEST(StartMethodDefaultsTest, MaxTasksPerChildMustBePositive) {
  for (int bad : {0, -1}) {
    try {
      cf::ProcessPoolExecutor pool({.max_workers = 1,
                                    .start_method = cf::StartMethod::kSpawn,
                                    .max_tasks_per_child = bad});
      FAIL() << "expected std::invalid_argument for " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(), "max_tasks_per_child must be >= 1");
    }
  }
}

}  // namespace
