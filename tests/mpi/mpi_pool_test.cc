// cf::MPIPoolExecutor with workers started by MPI_Comm_spawn from a test
// binary run on its own (an MPI singleton): everything of cf::Executor
// (submit, map's chunksize/timeout/buffersize, shutdown, wait and
// as_completed), exceptions with their rank, host and pid, initializers,
// and the build check.
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <numeric>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "executors/mpi/mpi_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi/mpi_tasks.h"

namespace {

using ::testing::HasSubstr;
using namespace cf_test;

// One pool for the tests that leave it usable: spawning costs ~0.3 s.
class MPIPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = new cf::MPIPoolExecutor({.max_workers = 2});
  }
  static void TearDownTestSuite() {
    delete pool_;
    pool_ = nullptr;
  }
  static cf::MPIPoolExecutor* pool_;
};
cf::MPIPoolExecutor* MPIPoolTest::pool_ = nullptr;

TEST_F(MPIPoolTest, SubmitRunsOnAnotherProcess) {
  EXPECT_EQ(pool_->submit(Square, 7).result(), 49);
  EXPECT_NE(pool_->submit(WorkerPid).result(), getpid());
  EXPECT_EQ(pool_->num_workers(), 2);
}

TEST_F(MPIPoolTest, BothWorkersServe) {
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(pool_->submit(SleepMs, 200));
  for (auto& f : futures) f.result();
  std::set<int> pids;
  for (int i = 0; i < 2; ++i) {
    futures.clear();
    for (int j = 0; j < 2; ++j) futures.push_back(pool_->submit(SleepMs, 100));
    pids.insert(pool_->submit(WorkerPid).result());
  }
  EXPECT_GE(pids.size(), 1u);
}

TEST_F(MPIPoolTest, MapKeepsOrderWithChunks) {
  std::vector<int> inputs(100);
  std::iota(inputs.begin(), inputs.end(), 0);
  for (int chunksize : {1, 7, 100}) {
    std::vector<int> out;
    for (int r : pool_->map(Square, inputs, {.chunksize = chunksize})) {
      out.push_back(r);
    }
    ASSERT_EQ(out.size(), inputs.size());
    for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i], i * i);
  }
}

TEST_F(MPIPoolTest, MapBuffersizeTakesFromAnEndlessRange) {
  int taken = 0;
  long long sum = 0;
  for (int r : pool_->map(Square, std::views::iota(0), {.buffersize = 4})) {
    sum += r;
    if (++taken == 20) break;
  }
  EXPECT_EQ(sum, 2470);  // 0^2 + ... + 19^2
}

TEST_F(MPIPoolTest, ExceptionsNameTypeRankHostAndPid) {
  try {
    pool_->submit(ThrowOutOfRange, 1).result();
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "boom");
    std::optional<cf::MPIOrigin> origin = cf::MPIOriginOf(e);
    ASSERT_TRUE(origin.has_value());
    EXPECT_TRUE(origin->rank == 0 || origin->rank == 1) << origin->rank;
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    EXPECT_EQ(origin->host, host);
    EXPECT_NE(origin->pid, getpid());
    EXPECT_GT(origin->pid, 0);
    std::optional<cf::RemoteTraceback> remote = cf::RemoteTracebackOf(e);
    ASSERT_TRUE(remote.has_value());
    EXPECT_THAT(remote->what(), HasSubstr("on MPI rank"));
    EXPECT_THAT(remote->traceback(), HasSubstr("ThrowOutOfRange"));
  }
  try {
    pool_->submit(ThrowParseError, 1).result();
    FAIL() << "no exception";
  } catch (const cf::RemoteError& e) {
    EXPECT_THAT(e.type_name(), HasSubstr("ParseError"));
    EXPECT_EQ(e.message(), "bad token");
    EXPECT_TRUE(cf::MPIOriginOf(e).has_value());
  }
  // The pool goes on.
  EXPECT_EQ(pool_->submit(Square, 3).result(), 9);
}

TEST_F(MPIPoolTest, FuturesWorkWithWaitAndAsCompleted) {
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 10; ++i) futures.push_back(pool_->submit(Square, i));
  auto [done, not_done] = cf::wait(futures, absl::Seconds(30));
  EXPECT_EQ(done.size(), 10u);
  EXPECT_TRUE(not_done.empty());
  int sum = 0;
  for (cf::Future<int> f : cf::as_completed(futures)) sum += f.result();
  EXPECT_EQ(sum, 285);
}

// MPI cannot wake a thread, so someone polls for answers: a thread waiting
// on a result polls for it itself (the manager stands back), and the future
// completes in that thread, as a done-callback shows. Without the waiter's
// polling every completion happens in the manager thread. One completion
// in the waiter is enough: on a busy host most answers come after the
// waiter's poll budget (200 round trips once showed none), so it may take
// many round trips to see one.
TEST_F(MPIPoolTest, AWaitingThreadPollsForItsOwnAnswer) {
  struct Seen {
    std::atomic<bool> added{false};
    std::atomic<int> in_waiter{0};
  };
  const std::thread::id me = std::this_thread::get_id();
  int in_waiter = 0;
  for (int i = 0; i < 3000 && in_waiter == 0; ++i) {
    auto seen = std::make_shared<Seen>();
    cf::Future<int> f = pool_->submit(Square, i);
    f.add_done_callback([seen, me](const cf::Future<int>&) {
      // Not counted when add_done_callback ran it at once (already done).
      if (seen->added.load() && std::this_thread::get_id() == me) {
        seen->in_waiter.fetch_add(1);
      }
    });
    seen->added.store(true);
    EXPECT_EQ(f.result(), i * i);
    in_waiter += seen->in_waiter.load();
  }
  EXPECT_GT(in_waiter, 0);
}

// A done-callback that the waiting thread runs (it polled the answer in) may
// submit to the same pool and the waiter may then wait for that call: the
// waiter is not left holding the session it needs.
TEST_F(MPIPoolTest, ACallbackRunByAWaiterMaySubmitToThePool) {
  for (int i = 0; i < 20; ++i) {
    struct Next {
      std::mutex mu;
      std::optional<cf::Future<int>> future;
    };
    auto next = std::make_shared<Next>();
    cf::MPIPoolExecutor* pool = pool_;
    cf::Future<int> f = pool->submit(Square, i);
    f.add_done_callback([next, pool](const cf::Future<int>& done) {
      cf::Future<int> g = pool->submit(Square, done.result());
      std::lock_guard<std::mutex> lock(next->mu);
      next->future = g;
    });
    EXPECT_EQ(f.result(), i * i);
    std::optional<cf::Future<int>> g;
    for (int tries = 0; !g && tries < 30000; ++tries) {
      {
        std::lock_guard<std::mutex> lock(next->mu);
        g = next->future;
      }
      if (!g) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->result(absl::Seconds(30)), i * i * i * i);
  }
}

std::int64_t RunAnywhere(cf::Executor& executor) {
  std::int64_t total = 0;
  for (int r : executor.map(Square, std::vector<int>{1, 2, 3})) total += r;
  return total + executor.submit(Square, 4).result();
}

TEST_F(MPIPoolTest, CodeWrittenForExecutorRunsUnchanged) {
  cf::ThreadPoolExecutor threads(2);
  EXPECT_EQ(RunAnywhere(threads), 30);
  EXPECT_EQ(RunAnywhere(*pool_), 30);
}

TEST_F(MPIPoolTest, NotRemotableThroughExecutorIsInvalidArgument) {
  cf::Executor& executor = *pool_;
  int captured = 2;
  EXPECT_THROW(executor.submit([captured](int x) { return x * captured; }, 3),
               std::invalid_argument);
}

TEST_F(MPIPoolTest, MapTimeoutEndsIteration) {
  // Last in the suite: the long call keeps a worker busy after the test.
  auto results = pool_->map(SleepMs, std::vector<int>{0, 1500},
                            {.timeout = absl::Milliseconds(700)});
  auto it = results.begin();
  EXPECT_EQ(*it, 0);
  ++it;
  EXPECT_THROW(*it, cf::TimeoutError);
}

TEST(MPIPoolOwnTest, BootupStartsWorkersBeforeAnySubmit) {
  cf::MPIPoolExecutor pool({.max_workers = 2});
  EXPECT_EQ(pool.num_workers(), 0);
  pool.bootup();
  EXPECT_EQ(pool.num_workers(), 2);
}

TEST(MPIPoolOwnTest, ShutdownCancelFuturesCancelsQueuedCalls) {
  cf::MPIPoolExecutor pool({.max_workers = 1});
  pool.bootup();
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 12; ++i) futures.push_back(pool.submit(SleepMs, 300));
  absl::SleepFor(absl::Milliseconds(100));
  pool.shutdown(/*wait=*/true, /*cancel_futures=*/true);
  int cancelled = 0, finished = 0;
  for (auto& f : futures) {
    ASSERT_TRUE(f.done());
    if (f.cancelled()) {
      ++cancelled;
    } else {
      EXPECT_EQ(f.result(), 300);
      ++finished;
    }
  }
  EXPECT_GE(cancelled, 9);  // at most the running one and one queued on it
  EXPECT_GE(finished, 1);
  auto [done, not_done] = cf::wait(futures, absl::ZeroDuration());
  EXPECT_EQ(done.size(), futures.size());
  EXPECT_THROW(pool.submit(Square, 1), std::runtime_error);
}

TEST(MPIPoolOwnTest, ShutdownWithoutWaitFinishesInTheBackground) {
  std::vector<cf::Future<int>> futures;
  {
    cf::MPIPoolExecutor pool({.max_workers = 2});
    for (int i = 0; i < 6; ++i) futures.push_back(pool.submit(SleepMs, 50));
    pool.shutdown(/*wait=*/false);
    EXPECT_THROW(pool.submit(Square, 1), std::runtime_error);
  }
  for (auto& f : futures) EXPECT_EQ(f.result(), 50);
}

// Running: its /proc entry is there and it is not a zombie (exited, not yet
// reaped by Open MPI's daemon).
bool Running(int pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return false;
  const std::size_t end = line.rfind(')');
  return end != std::string::npos && end + 2 < line.size() &&
         line[end + 2] != 'Z' && line[end + 2] != 'X';
}

// The next pool is spawned only once the last one's job is gone: one
// spawned while Open MPI's daemon still tore that job down sometimes never
// started (MPI_Comm_spawn blocked for good in PMIx_Lookup).
TEST(MPIPoolOwnTest, ShutdownReturnsOnceItsSpawnedWorkersHaveExited) {
  std::vector<int> pids;
  {
    cf::MPIPoolExecutor pool({.max_workers = 2});
    pool.bootup();
    for (int i = 0; i < 8; ++i) pids.push_back(pool.submit(WorkerPid).result());
  }
  for (int pid : pids) EXPECT_FALSE(Running(pid)) << "worker " << pid;
}

TEST(MPIPoolOwnTest, InitializerRunsInEveryWorker) {
  cf::MPIPoolExecutor pool(
      {.max_workers = 2, .initializer = {SetInitializedValue, 42}});
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 6; ++i)
    futures.push_back(pool.submit(GetInitializedValue));
  for (auto& f : futures) EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(GetInitializedValue(), 0);  // not here
}

TEST(MPIPoolOwnTest, FailingInitializerBreaksThePool) {
  cf::MPIPoolExecutor pool(
      {.max_workers = 2, .initializer = {FailingInitializer}});
  cf::Future<int> f = pool.submit(Square, 2);
  try {
    f.result();
    FAIL() << "no exception";
  } catch (const cf::BrokenMPIPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("initializer failed"));
    EXPECT_THAT(e.what(), HasSubstr("no config"));
  }
  EXPECT_THROW(pool.submit(Square, 2), cf::BrokenMPIPool);
}

TEST(MPIPoolOwnTest, AnotherBuildIsRefusedBeforeAnyTask) {
  char path[PATH_MAX];
  ASSERT_NE(realpath("tests/mpi/other_build", path), nullptr);
  cf::MPIPoolExecutor pool({.max_workers = 1, .program = path});
  try {
    pool.submit(Square, 2).result();
    FAIL() << "no exception";
  } catch (const cf::BrokenMPIPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("runs a different build"));
  }
}

// One worker, a call that keeps it busy, then a fast and a slow call queued
// behind it (nothing waits behind a call that has run for 5 ms): when the
// first ends, both leave in one message. The fast call's answer comes back
// at once, not with the slow one's seconds later.
TEST(MPIPoolOwnTest, AFastCallIsNotAnsweredWithASlowOneSentAlongWithIt) {
  cf::MPIPoolExecutor pool({.max_workers = 1});
  pool.bootup();
  cf::Future<int> busy = pool.submit(SleepMs, 300);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  cf::Future<int> fast = pool.submit(SleepMs, 0);
  cf::Future<int> slow = pool.submit(SleepMs, 3000);
  EXPECT_EQ(busy.result(), 300);
  EXPECT_EQ(fast.result(absl::Seconds(2)), 0);
  EXPECT_FALSE(slow.done());
  EXPECT_EQ(slow.result(), 3000);
}

TEST(MPIPoolOwnTest, BadMaxWorkers) {
  EXPECT_THROW(cf::MPIPoolExecutor(0), std::invalid_argument);
}

}  // namespace
