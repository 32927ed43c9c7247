// A kFork child must not need glibc's lock over the exit handlers, which
// fork does not reset: a child forked while another thread of the parent
// held it (registering a function-local static's destructor, say) waited
// for it forever. Here a thread holds that lock most of the time, and every
// forked worker, replacement and cf::Process must still run. (A task that
// calls exit() itself in such a child still waits: exit() takes that lock.)
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"

extern "C" int __cxa_atexit(void (*fn)(void*), void* arg, void* dso);
extern "C" void __cxa_finalize(void* dso);

namespace {

int Twice(int x) { return 2 * x; }
int DieOnZero(int x) {
  if (x == 0) _exit(3);
  return x;
}
void Nothing(void*) {}
void Return() {}
char unused_dso, other_dso;

// Starts a child that does the same `depth` - 1 levels down; fails (exit
// code 1) if the child did not exit with 0.
void Nest(int depth) {
  if (depth == 0) return;
  cf::Process child({.start_method = cf::StartMethod::kFork}, Nest, depth - 1);
  child.start();
  child.join();
  if (child.exitcode() != std::optional<int>(0)) {
    throw std::runtime_error("a child failed");
  }
}

// While alive, a thread walks glibc's exit-handler list, under its lock,
// again and again: 20,000 handlers that belong to no library it finalizes.
class ExitLockHolder {
 public:
  ExitLockHolder() {
    static const bool registered = [] {
      for (int i = 0; i < 20000; ++i) __cxa_atexit(Nothing, nullptr, &other_dso);
      return true;
    }();
    (void)registered;
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        __cxa_finalize(&unused_dso);
        ++walks_;
      }
    });
    while (walks_.load() == 0) std::this_thread::yield();
  }
  ~ExitLockHolder() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> walks_{0};
  std::thread thread_;
};

TEST(ForkExitLockTest, WorkersForkedWhileTheExitHandlerLockIsHeldRunTheirTasks) {
  ExitLockHolder holder;
  for (int round = 0; round < 10; ++round) {
    cf::ProcessPoolExecutor pool(
        {.max_workers = 2, .start_method = cf::StartMethod::kFork});
    std::vector<cf::Future<int>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(pool.submit(Twice, i));
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(fs[i].result(absl::Seconds(20)), 2 * i) << "round " << round;
    }
  }
}

TEST(ForkExitLockTest, ReplacementWorkersForkedByTheManagerRunTheirTasks) {
  ExitLockHolder holder;
  cf::Pool pool({.processes = 1, .start_method = cf::StartMethod::kFork});
  for (int round = 0; round < 10; ++round) {
    // The worker dies; its replacement is forked by the pool's thread.
    EXPECT_THROW(pool.apply(DieOnZero, 0), cf::BrokenProcessPool);
    EXPECT_EQ(pool.apply_async(DieOnZero, 5).get(absl::Seconds(20)), 5)
        << "round " << round;
  }
}

TEST(ForkExitLockTest, ProcessesForkedWhileTheExitHandlerLockIsHeldRun) {
  ExitLockHolder holder;
  for (int round = 0; round < 10; ++round) {
    cf::Process p({.start_method = cf::StartMethod::kFork}, Return);
    p.start();
    p.join(absl::Seconds(20));
    ASSERT_EQ(p.exitcode(), std::optional<int>(0)) << "round " << round;
  }
}

// Each forked child starts with no exit hooks of its own: those its parent
// (itself a child) pushed are not its to run, and too many abort.
TEST(ForkExitLockTest, ProcessesNestedSixDeepExitCleanly) {
  cf::Process p({.start_method = cf::StartMethod::kFork}, Nest, 5);
  p.start();
  p.join(absl::Seconds(60));
  EXPECT_EQ(p.exitcode(), std::optional<int>(0));
}

}  // namespace
