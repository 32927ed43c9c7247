// Launcher mode, run by mpi_launcher_test.sh as `mpirun -n 3 ./this`: rank 0
// runs these tests, ranks 1 and 2 serve it from inside cf::Init (mpi4py's
// `mpiexec -n 3 python -m mpi4py.futures`).
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <vector>

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

TEST(MPILauncherTest, RanksOneAndTwoServeRankZero) {
  cf::MPIPoolExecutor pool({.max_workers = 7});  // ignored: the launch's
  pool.bootup();
  EXPECT_EQ(pool.num_workers(), 2);
  std::set<int> ranks;
  for (int i = 0; i < 8; ++i) {
    try {
      pool.submit(ThrowOutOfRange, i).result();
    } catch (const std::out_of_range& e) {
      std::optional<cf::MPIOrigin> origin = cf::MPIOriginOf(e);
      ASSERT_TRUE(origin.has_value());
      EXPECT_NE(origin->pid, getpid());
      ranks.insert(origin->rank);
    }
  }
  for (int r : ranks) EXPECT_TRUE(r == 1 || r == 2) << r;
  std::vector<int> inputs(50);
  for (int i = 0; i < 50; ++i) inputs[i] = i;
  int i = 0;
  for (int r : pool.map(Square, inputs, {.chunksize = 4})) {
    EXPECT_EQ(r, i * i);
    ++i;
  }
  EXPECT_EQ(i, 50);
}

TEST(MPILauncherTest, OneExecutorAtATimeThenTheNext) {
  {
    cf::MPIPoolExecutor pool;
    EXPECT_EQ(pool.submit(Square, 3).result(), 9);
    EXPECT_THROW(cf::MPIPoolExecutor(), std::runtime_error);
  }
  cf::MPIPoolExecutor next;
  EXPECT_EQ(next.submit(Square, 4).result(), 16);
}

TEST(MPILauncherTest, CommExecutorAtRankZeroUsesTheLaunch) {
  EXPECT_THROW(cf::MPICommExecutor(MPI_COMM_WORLD, 1), std::invalid_argument);
  cf::MPICommExecutor executor(MPI_COMM_WORLD, 0);
  ASSERT_TRUE(executor);
  EXPECT_EQ(executor.num_workers(), 2);
  EXPECT_NE(executor.submit(WorkerPid).result(), getpid());
}

// Only in the second run of the script (Open MPI started with
// --enable-recovery, so that it does not end the whole job).
TEST(MPILauncherTest, KilledRankBreaksThePoolAndRankZeroGoesOn) {
  if (std::getenv("CF_MPI_TEST_KILL") == nullptr) GTEST_SKIP();
  const absl::Time start = absl::Now();
  {
    cf::MPIPoolExecutor pool;
    std::vector<cf::Future<int>> sleeps;
    for (int i = 0; i < 2; ++i) sleeps.push_back(pool.submit(SleepMs, 300));
    const int victim = pool.submit(WorkerPid).result();
    std::vector<cf::Future<int>> running;
    for (int i = 0; i < 4; ++i) running.push_back(pool.submit(SleepMs, 20000));
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_EQ(kill(victim, SIGKILL), 0);
    for (auto& f : running) {
      try {
        f.result(absl::Seconds(10));
        FAIL() << "no exception";
      } catch (const cf::BrokenMPIPool& e) {
        EXPECT_THAT(e.what(), HasSubstr("pid " + std::to_string(victim)));
      }
    }
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  // The launch's workers stay broken for every later executor.
  cf::MPIPoolExecutor again;
  EXPECT_THROW(again.submit(Square, 1).result(), cf::BrokenMPIPool);
}

}  // namespace
