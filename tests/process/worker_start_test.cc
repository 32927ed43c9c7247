// A process pool whose workers cannot all be started: the ones that could
// run the calls, and the rest are started once there is room; with none,
// the pool breaks naming why. (That a kFork pool forks every worker at its
// first submit: fork_in_main_thread_test.)
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cf.h"
#include "gtest/gtest.h"
#include "tests/process/cpython_test_util.h"

namespace {

int Pid(int) { return static_cast<int>(getpid()); }

int SlowPid(int) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return static_cast<int>(getpid());
}

// The descriptor numbers open now (not the one that listed them).
std::set<int> OpenFds() {
  std::set<int> listed, fds;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    listed.insert(std::stoi(entry.path().filename().string()));
  }
  for (int fd : listed) {
    if (fcntl(fd, F_GETFD) != -1) fds.insert(fd);
  }
  return fds;
}

// Lowers the soft descriptor limit so that exactly `free` more descriptors
// can be opened, and puts it back when it goes.
class ScopedFdRoom {
 public:
  explicit ScopedFdRoom(int free) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    const std::set<int> open = OpenFds();
    int limit = 0;
    for (int room = 0; room < free; ++limit) {
      if (!open.count(limit)) ++room;
    }
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(limit);
    ok_ = setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~ScopedFdRoom() { setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

// Room for one worker's socket pair and one more descriptor (the pidfd, or
// the look at /proc/self/task), not for a second socket pair: the first
// submit starts one worker of two, and every call runs on it; the manager
// must not spend its turns retrying the start. Once there is room again the
// second worker starts, a moment later, when calls wait.
TEST(WorkerStartTest, APoolWhoseSecondWorkerCannotStartRunsOnTheFirst) {
  const int fds_before = cf_process_test::CountOpenFds();
  {
    cf::ProcessPoolExecutor pool(
        {.max_workers = 2, .start_method = cf::StartMethod::kFork});
    std::set<int> pids;
    {
      ScopedFdRoom room(3);
      ASSERT_TRUE(room.ok());
      std::vector<cf::Future<int>> futures;
      for (int i = 0; i < 20; ++i) futures.push_back(pool.submit(Pid, i));
      for (auto& f : futures) pids.insert(f.result());
    }
    EXPECT_EQ(pids.size(), 1u);
    EXPECT_EQ(pids.count(static_cast<int>(getpid())), 0u);

    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    std::vector<cf::Future<int>> futures;
    for (int i = 0; i < 20; ++i) futures.push_back(pool.submit(SlowPid, i));
    for (auto& f : futures) pids.insert(f.result());
    EXPECT_EQ(pids.size(), 2u);
  }
  EXPECT_EQ(cf_process_test::CountOpenFds(), fds_before);
}

// No room for even one socket pair: the pool breaks, naming why, instead
// of waiting for a worker that never comes.
TEST(WorkerStartTest, APoolThatCannotStartAnyWorkerBreaksNamingWhy) {
  const int fds_before = cf_process_test::CountOpenFds();
  {
    cf::ProcessPoolExecutor pool(
        {.max_workers = 2, .start_method = cf::StartMethod::kFork});
    ScopedFdRoom room(1);
    ASSERT_TRUE(room.ok());
    cf::Future<int> f = pool.submit(Pid, 0);
    try {
      f.result();
      ADD_FAILURE() << "a result without a worker";
    } catch (const cf::BrokenProcessPool& e) {
      EXPECT_NE(std::string(e.what()).find(
                    "no worker process could be started"),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("Too many open files"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(cf_process_test::CountOpenFds(), fds_before);
}

}  // namespace
