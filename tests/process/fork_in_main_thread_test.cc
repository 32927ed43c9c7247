// A kFork pool forks its workers in the main thread, within its first
// submit and before the pool has a thread of its own (Python since 3.11,
// gh-90622): a fork copies a process in which nothing of the pool runs. Any
// other thread leaves the forks to the pool's manager thread, since a worker
// dies with the thread that forked it (its parent-death signal).
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "cf.h"
#include "gtest/gtest.h"

namespace {

int Twice(int x) { return 2 * x; }

// The threads that forked, as pthread_atfork's prepare handler saw them.
std::atomic<int> forks{0};
std::atomic<pid_t> forked_by[16];

void RecordFork() {
  const int n = forks.fetch_add(1);
  if (n < 16) forked_by[n].store(gettid());
}

class ForkInMainThreadTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { pthread_atfork(&RecordFork, nullptr, nullptr); }
  void SetUp() override { forks.store(0); }
};

TEST_F(ForkInMainThreadTest, TheFirstSubmitForksEveryWorkerInTheMainThread) {
  ASSERT_EQ(gettid(), getpid()) << "gtest runs tests in the main thread";
  cf::ProcessPoolExecutor pool(
      {.max_workers = 3, .start_method = cf::StartMethod::kFork});
  cf::Future<int> f = pool.submit(Twice, 21);
  // Forked before submit returned, not later by the manager.
  EXPECT_EQ(pool.num_workers(), 3);
  EXPECT_EQ(f.result(), 42);
  ASSERT_EQ(forks.load(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(forked_by[i].load(), getpid());
}

TEST_F(ForkInMainThreadTest, AnotherThreadLeavesTheForksToThePool) {
  cf::ProcessPoolExecutor pool(
      {.max_workers = 2, .start_method = cf::StartMethod::kFork});
  pid_t submitter = 0;
  std::thread([&] {
    submitter = gettid();
    EXPECT_EQ(pool.submit(Twice, 1).result(), 2);
  }).join();
  ASSERT_GE(forks.load(), 1);
  for (int i = 0; i < forks.load() && i < 16; ++i) {
    EXPECT_NE(forked_by[i].load(), submitter);
    EXPECT_NE(forked_by[i].load(), getpid());
  }
  // The submitting thread is gone; the workers it asked for are not.
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(pool.submit(Twice, i));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(futures[i].result(), 2 * i);
  EXPECT_EQ(pool.num_workers(), 2);
}

TEST_F(ForkInMainThreadTest, AMultiprocessingPoolForksInTheThreadThatMakesIt) {
  cf::Pool pool({.processes = 2, .start_method = cf::StartMethod::kFork});
  EXPECT_EQ(forks.load(), 2);
  for (int i = 0; i < forks.load(); ++i) {
    EXPECT_EQ(forked_by[i].load(), getpid());
  }
  EXPECT_EQ(pool.apply(Twice, 4), 8);
}

}  // namespace
