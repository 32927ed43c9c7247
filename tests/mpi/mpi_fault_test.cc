// What a dying or silent MPI worker does to an MPIPoolExecutor: every
// pending future, and every later submit, fail with cf::BrokenMPIPool naming
// the worker, within a bounded time, and the pool's destructor returns. The
// test binary runs alone (an MPI singleton), which is how Open MPI 4.1 lets
// the parent survive its spawned job's abort.
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "executors/mpi/mpi_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi/mpi_tasks.h"

namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using namespace cf_test;

// Within this, a broken pool must have said so (the heartbeat tests use a
// 1 s timeout; a death on this host is seen through a pidfd in ~10 ms).
constexpr absl::Duration kBound = absl::Seconds(10);

std::vector<int> WorkerPids(cf::MPIPoolExecutor& pool, int n) {
  // Long enough that each worker takes one.
  std::vector<cf::Future<int>> sleeps;
  for (int i = 0; i < n; ++i) sleeps.push_back(pool.submit(SleepMs, 300));
  std::vector<cf::Future<int>> pids;
  for (int i = 0; i < n; ++i) pids.push_back(pool.submit(WorkerPid));
  std::vector<int> out;
  for (auto& f : pids) out.push_back(f.result());
  return out;
}

void ExpectBroken(cf::Future<int>& f, const std::string& fragment) {
  try {
    f.result(kBound);
    FAIL() << "no exception";
  } catch (const cf::BrokenMPIPool& e) {
    EXPECT_THAT(e.what(), HasSubstr(fragment));
  } catch (const cf::TimeoutError&) {
    FAIL() << "the pool did not notice within " << kBound;
  }
}

TEST(MPIFaultTest, KilledWorkerFailsEveryPendingFutureAndLaterSubmits) {
  const absl::Time start = absl::Now();
  {
    cf::MPIPoolExecutor pool({.max_workers = 2});
    std::vector<int> pids = WorkerPids(pool, 2);
    std::vector<cf::Future<int>> running;
    for (int i = 0; i < 6; ++i) running.push_back(pool.submit(SleepMs, 20000));
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_EQ(kill(pids[0], SIGKILL), 0);
    for (auto& f : running) ExpectBroken(f, "while the pool was in use");
    try {
      running[0].result();
    } catch (const cf::BrokenMPIPool& e) {
      // Open MPI aborts the whole spawned job, so either worker may be the
      // one seen ending first; the message names it.
      EXPECT_THAT(e.what(), AnyOf(HasSubstr("pid " + std::to_string(pids[0])),
                                  HasSubstr("pid " + std::to_string(pids[1]))));
      EXPECT_THAT(e.what(), HasSubstr("ended"));
    }
    EXPECT_THROW(pool.submit(Square, 1), cf::BrokenMPIPool);
  }
  EXPECT_LT(absl::Now() - start, 2 * kBound);  // the destructor returned
}

TEST(MPIFaultTest, StoppedWorkerIsLostAfterTheHeartbeatTimeout) {
  cf::MPIPoolExecutor pool(
      {.max_workers = 1, .heartbeat_timeout = absl::Seconds(1)});
  const int pid = pool.submit(WorkerPid).result();
  cf::Future<int> f = pool.submit(SleepMs, 20000);
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  const absl::Time stopped = absl::Now();
  ExpectBroken(f, "sent nothing for 1s");
  // Not before the timeout, counted from the last heartbeat heard: workers
  // send one every 250 ms (a quarter of it), so that one may precede the
  // stop by up to 250 ms (891 ms after the stop was once seen).
  EXPECT_GE(absl::Now() - stopped, absl::Milliseconds(750));
  kill(pid, SIGKILL);
}

TEST(MPIFaultTest, WorkerExitingInATaskBreaksThePool) {
  cf::MPIPoolExecutor pool({.max_workers = 1});
  cf::Future<int> f = pool.submit(ExitNow, 3);
  ExpectBroken(f, "ended");
  EXPECT_THROW(pool.submit(Square, 1), cf::BrokenMPIPool);
}

TEST(MPIFaultTest, ANewPoolWorksAfterABrokenOne) {
  cf::MPIPoolExecutor pool({.max_workers = 1});
  EXPECT_EQ(pool.submit(Square, 5).result(), 25);
}

}  // namespace
