// Calls handed back after their worker died or timed out run again on a
// healthy worker; none waits forever. Exercised with pipelined batches in
// flight (tiny calls make a worker take up to 32 at once), per start method.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/process/cpython_test_util.h"
#include "tests/process/process_test_util.h"

namespace {

using cf_process_test::RunWithin;

constexpr absl::Duration kLimit = absl::Seconds(60);

// A crash no sanitizer intercepts (they turn SIGSEGV into an exit code).
int CrashAt500(int x) {
  if (x == 500) kill(getpid(), SIGKILL);  // sanitizers would catch SIGSEGV
  return 2 * x;
}

int Twice(int x) { return 2 * x; }

int Crash(int) {
  kill(getpid(), SIGKILL);  // sanitizers would catch SIGSEGV
  return 0;
}

int SleepIfSeven(int x) {
  if (x % 50 == 7) std::this_thread::sleep_for(std::chrono::seconds(2));
  return x;
}

int Sleep(int seconds) {
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  return seconds;
}

int Pid(int) { return getpid(); }

class RequeueTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessPoolOptions Options(int workers) const {
    return {.max_workers = workers, .start_method = GetParam()};
  }
};

TEST_P(RequeueTest, ReplaceMapGoesOnPastACrashedElement) {
  RunWithin(kLimit, "map past a crash", [&] {
    cf::ProcessPoolOptions options = Options(2);
    options.on_worker_death = cf::WorkerDeath::kReplace;
    cf::ProcessPoolExecutor pool(options);
    std::vector<int> in(1000);
    for (int i = 0; i < 1000; ++i) in[i] = i;
    auto results = pool.map(CrashAt500, in);
    int i = 0, crashed = 0;
    for (auto it = results.begin(); it != results.end(); ++i) {
      try {
        EXPECT_EQ(*it, 2 * i);
      } catch (const cf::BrokenProcessPool& e) {
        ++crashed;
        EXPECT_EQ(i, 500);
        EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos)
            << e.what();
      }
      ++it;
    }
    EXPECT_EQ(i, 1000);
    EXPECT_EQ(crashed, 1);
  });
}

TEST_P(RequeueTest, CallsQueuedBehindACrashAllComplete) {
  RunWithin(kLimit, "calls behind a crash", [&] {
    cf::ProcessPoolOptions options = Options(2);
    options.on_worker_death = cf::WorkerDeath::kReplace;
    cf::ProcessPoolExecutor pool(options);
    std::vector<cf::Future<int>> before, after;
    for (int i = 0; i < 300; ++i) before.push_back(pool.submit(Twice, i));
    cf::Future<int> crash = pool.submit(Crash, 0);
    for (int i = 0; i < 100; ++i) after.push_back(pool.submit(Twice, i));
    for (int i = 0; i < 300; ++i) EXPECT_EQ(before[i].result(), 2 * i);
    EXPECT_THROW(crash.result(), cf::BrokenProcessPool);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(after[i].result(), 2 * i);
  });
}

TEST_P(RequeueTest, TimedOutCallsFailAndTheCallsBehindThemRun) {
  RunWithin(kLimit, "timeouts with calls behind", [&] {
    for (int round = 0; round < 3; ++round) {
      cf::ProcessPoolOptions options = Options(2);
      options.task_timeout = absl::Milliseconds(100);
      cf::ProcessPoolExecutor pool(options);
      std::vector<int> in(200);
      for (int i = 0; i < 200; ++i) in[i] = i;
      int i = 0, timed_out = 0;
      auto results = pool.map(SleepIfSeven, in);
      for (auto it = results.begin(); it != results.end(); ++i) {
        try {
          EXPECT_EQ(*it, i);
        } catch (const cf::TimeoutError&) {
          ++timed_out;
          EXPECT_EQ(i % 50, 7);
        }
        ++it;
      }
      EXPECT_EQ(i, 200);
      EXPECT_EQ(timed_out, 4);
    }
  });
}

TEST_P(RequeueTest, PerCallTimeoutsOnManyFreshPoolsNeverHang) {
  RunWithin(kLimit, "per-call timeouts on fresh pools", [&] {
    for (int round = 0; round < 10; ++round) {
      cf::ProcessPoolExecutor pool(Options(2));
      std::vector<cf::Future<int>> fast;
      for (int i = 0; i < 40; ++i) fast.push_back(pool.submit(Twice, i));
      cf::Future<int> slow =
          pool.submit({.timeout = absl::Milliseconds(20)}, Sleep, 5);
      for (int i = 0; i < 40; ++i) fast.push_back(pool.submit(Twice, i));
      EXPECT_THROW(slow.result(), cf::TimeoutError);
      for (int i = 0; i < 80; ++i) EXPECT_EQ(fast[i].result(), 2 * (i % 40));
    }
  });
}

TEST_P(RequeueTest, BrokenPoolFailsEveryPipelinedCall) {
  RunWithin(kLimit, "break with calls in flight", [&] {
    cf::ProcessPoolExecutor pool(Options(2));
    std::vector<cf::Future<int>> futures;
    int ok = 0, broken = 0;
    for (int i = 0; i < 200; ++i) futures.push_back(pool.submit(Twice, i));
    futures.push_back(pool.submit(Crash, 0));
    for (int i = 0; i < 200; ++i) {
      try {
        futures.push_back(pool.submit(Twice, i));
      } catch (const cf::BrokenProcessPool&) {
        ++broken;  // the crash was seen first: submit refuses, as Python's
      }
    }
    for (auto& f : futures) {
      try {
        f.result();
        ++ok;
      } catch (const cf::BrokenProcessPool&) {
        ++broken;
      }
    }
    EXPECT_EQ(ok + broken, 401);
    EXPECT_GE(broken, 1);
  });
}

TEST_P(RequeueTest, StoppedWorkerEndsWithTerminateWorkers) {
  RunWithin(kLimit, "terminate a stopped worker", [&] {
    cf::ProcessPoolExecutor pool(Options(1));
    const pid_t pid = pool.submit(Pid, 0).result();
    cf::Future<int> stuck = pool.submit(Sleep, 2);
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    pool.terminate_workers();
    EXPECT_THROW(stuck.result(), cf::BrokenProcessPool);
  });
}

TEST_P(RequeueTest, StoppedWorkerEndsWithKillWorkers) {
  RunWithin(kLimit, "kill a stopped worker", [&] {
    cf::ProcessPoolExecutor pool(Options(1));
    const pid_t pid = pool.submit(Pid, 0).result();
    cf::Future<int> stuck = pool.submit(Sleep, 2);
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    pool.kill_workers();
    EXPECT_THROW(stuck.result(), cf::BrokenProcessPool);
  });
}

TEST_P(RequeueTest, KillWorkersWithReplaceEndsEveryCall) {
  RunWithin(kLimit, "kill_workers with kReplace", [&] {
    cf::ProcessPoolOptions options = Options(2);
    options.on_worker_death = cf::WorkerDeath::kReplace;
    cf::ProcessPoolExecutor pool(options);
    std::vector<cf::Future<int>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(pool.submit(Sleep, 2));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // running
    pool.kill_workers();
    for (auto& f : futures) {
      try {
        f.result();
        ADD_FAILURE() << "a call outlived kill_workers()";
      } catch (const cf::BrokenProcessPool&) {
      } catch (const cf::CancelledError&) {
      }
    }
    // The killed workers are reaped just after their calls fail.
    for (int i = 0; i < 500 && pool.num_workers() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(pool.num_workers(), 0);
  });
}

// terminate_workers() right after the first submit, while the manager may
// not have started any worker yet: the call already RUNNING fails, and no
// worker is started afterwards to run it to the end (it used to: the call
// returned after its full sleep).
TEST_P(RequeueTest, TerminateBeforeTheWorkersStartFailsTheRunningCall) {
  RunWithin(kLimit, "terminate before the workers start", [&] {
    for (int round = 0; round < 10; ++round) {
      cf::ProcessPoolExecutor pool(Options(2));
      cf::Future<int> call = pool.submit(Sleep, 30);
      pool.terminate_workers();
      try {
        call.result();
        ADD_FAILURE() << "the call outlived terminate_workers() in round "
                      << round;
      } catch (const cf::BrokenProcessPool&) {
      } catch (const cf::CancelledError&) {
      }
    }
  });
}

INSTANTIATE_TEST_SUITE_P(StartMethods, RequeueTest,
                         testing::ValuesIn(cf_process_test::StartMethods()),
                         [](const auto& info) {
                           return cf_process_test::StartMethodName(info.param);
                         });

}  // namespace
