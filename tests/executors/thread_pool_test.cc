// ThreadPoolExecutor specifics: CPython's ThreadPoolExecutorTest
// (test_thread_pool.py: default workers, saturation, idle reuse) and the
// thread-name tests of ThreadPoolShutdownTest (test_shutdown.py).
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <mutex>
#include <regex>
#include <semaphore>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

namespace {

int Mul(int x, int y) { return x * y; }

// CPython 3.13's os.process_cpu_count(): the CPUs this process may use.
int ProcessCpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// CPython: test_default_workers.
TEST(ThreadPoolTest, DefaultMaxWorkersIsUsableCpusPlusFourCappedAt32) {
  cf::ThreadPoolExecutor executor;
  EXPECT_EQ(executor.max_workers(), std::min(32, ProcessCpuCount() + 4));
  cf::ThreadPoolExecutor with_options({.thread_name_prefix = "x"});
  EXPECT_EQ(with_options.max_workers(), std::min(32, ProcessCpuCount() + 4));
  EXPECT_EQ(cf::ThreadPoolExecutor(3).max_workers(), 3);
}

// CPython: test_saturation. 15 x max_workers calls blocked on a semaphore
// start exactly max_workers threads.
TEST(ThreadPoolTest, SaturationStartsExactlyMaxWorkersThreads) {
  std::counting_semaphore<> sem(0);
  cf::ThreadPoolExecutor executor(4);
  const int n = 15 * executor.max_workers();
  for (int i = 0; i < n; ++i) executor.submit([&sem] { sem.acquire(); });
  EXPECT_EQ(executor.num_threads(), executor.max_workers());
  sem.release(n);
  executor.shutdown(/*wait=*/true);
  EXPECT_EQ(executor.num_threads(), 4);
}

// CPython: test_idle_thread_reuse. Three sequential submit().result() use
// one thread. (Python skips it without the GIL as flaky; cf marks the
// worker idle before publishing the result, so it must hold every time:
// repeated on fresh executors.)
TEST(ThreadPoolTest, IdleThreadIsReused) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    cf::ThreadPoolExecutor executor;
    EXPECT_EQ(executor.submit(Mul, 21, 2).result(), 42);
    EXPECT_EQ(executor.submit(Mul, 6, 7).result(), 42);
    EXPECT_EQ(executor.submit(Mul, 3, 14).result(), 42);
    EXPECT_EQ(executor.num_threads(), 1);
    executor.shutdown(/*wait=*/true);
  }
}

// §1b: threads are created lazily, one per submit while none is idle, up to
// max_workers; none before the first submit.
TEST(ThreadPoolTest, ThreadsStartLazilyOnePerSubmitWhileNoneIsIdle) {
  std::counting_semaphore<> gate(0);
  cf::ThreadPoolExecutor executor(3);
  EXPECT_EQ(executor.num_threads(), 0);
  executor.submit([&gate] { gate.acquire(); });
  EXPECT_EQ(executor.num_threads(), 1);
  executor.submit([&gate] { gate.acquire(); });
  EXPECT_EQ(executor.num_threads(), 2);
  executor.submit([&gate] { gate.acquire(); });
  EXPECT_EQ(executor.num_threads(), 3);
  executor.submit([&gate] { gate.acquire(); });
  EXPECT_EQ(executor.num_threads(), 3);
  gate.release(4);
  executor.shutdown();
  EXPECT_EQ(executor.num_threads(), 3);
}

struct ThreadNames {
  std::string cf_name;
  std::string os_name;
};

// Runs `workers` calls that all wait for each other, so each runs on its own
// thread, and returns the names each saw.
std::vector<ThreadNames> NamesOfAllWorkers(cf::ThreadPoolExecutor& executor,
                                           int workers) {
  std::latch all_running(workers);
  std::vector<cf::Future<ThreadNames>> fs;
  for (int i = 0; i < workers; ++i) {
    fs.push_back(executor.submit([&all_running] {
      all_running.arrive_and_wait();
      char os_name[16] = {};
      pthread_getname_np(pthread_self(), os_name, sizeof(os_name));
      return ThreadNames{cf::ThreadPoolExecutor::current_thread_name(), os_name};
    }));
  }
  std::vector<ThreadNames> names;
  for (auto& f : fs) names.push_back(f.result());
  return names;
}

// CPython: test_thread_names_assigned. Names match ^SpecialPool_[0-4]$, one
// per thread; the OS sees the same name (it fits in 15 characters).
TEST(ThreadPoolTest, ThreadNamesUseTheGivenPrefix) {
  cf::ThreadPoolExecutor executor(
      {.max_workers = 5, .thread_name_prefix = "SpecialPool"});
  std::vector<ThreadNames> names = NamesOfAllWorkers(executor, 5);
  std::set<std::string> distinct;
  for (const ThreadNames& n : names) {
    EXPECT_TRUE(std::regex_match(n.cf_name, std::regex("^SpecialPool_[0-4]$")))
        << n.cf_name;
    EXPECT_EQ(n.os_name, n.cf_name);
    distinct.insert(n.cf_name);
  }
  EXPECT_EQ(distinct.size(), 5u);
}

// CPython: test_thread_names_default. Names match
// ThreadPoolExecutor-\d+_[0-4]$, and two executors get different numbers.
TEST(ThreadPoolTest, ThreadNamesDefaultToThreadPoolExecutorCounter) {
  cf::ThreadPoolExecutor executor(5);
  cf::ThreadPoolExecutor other(1);
  std::vector<ThreadNames> names = NamesOfAllWorkers(executor, 5);
  std::set<std::string> distinct;
  std::set<std::string> prefixes;
  const std::regex pattern(R"((ThreadPoolExecutor-\d+)_[0-4]$)");
  for (const ThreadNames& n : names) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(n.cf_name, m, pattern)) << n.cf_name;
    prefixes.insert(m[1]);
    distinct.insert(n.cf_name);
    // pthread_setname_np takes at most 15 characters.
    EXPECT_EQ(n.os_name, n.cf_name.substr(0, 15));
  }
  EXPECT_EQ(distinct.size(), 5u);
  ASSERT_EQ(prefixes.size(), 1u);
  std::string other_name = other.submit(cf::ThreadPoolExecutor::current_thread_name).result();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(other_name, m, pattern)) << other_name;
  EXPECT_NE(std::string(m[1]), *prefixes.begin());
}

// A long prefix: the cf name is complete, the OS name its first 15
// characters.
TEST(ThreadPoolTest, OsThreadNameIsTruncatedTo15Characters) {
  cf::ThreadPoolExecutor executor(
      {.max_workers = 1, .thread_name_prefix = "AVeryLongPrefixName"});
  std::vector<ThreadNames> names = NamesOfAllWorkers(executor, 1);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].cf_name, "AVeryLongPrefixName_0");
  EXPECT_EQ(names[0].os_name, "AVeryLongPrefix");
}

TEST(ThreadPoolTest, CurrentThreadNameIsEmptyOutsideWorkers) {
  EXPECT_EQ(cf::ThreadPoolExecutor::current_thread_name(), "");
  std::string name;
  std::thread([&name] { name = cf::ThreadPoolExecutor::current_thread_name(); })
      .join();
  EXPECT_EQ(name, "");
}

}  // namespace
