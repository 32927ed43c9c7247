// A pool's workers never outlive their parent: if it dies, even by SIGKILL
// (no destructor, no shutdown), or by Ctrl-C, its workers (and fork server)
// exit within a second, quietly, whatever the start method.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace {

using cf_process_test::IsAlive;

struct Ids {
  int pid = 0;
  int parent = 0;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(pid, parent);
  }
};

// Sleeps first, so that two of these submitted together run on two workers.
Ids SleepThenIds(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return {static_cast<int>(getpid()), static_cast<int>(getppid())};
}
int Sleep(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}

// A forked child that owns a pool of two workers, both busy (one of them in
// a task that sleeps for a minute), and then waits. The processes it
// started (workers, and for kForkServer the server) are returned once it
// has reported them; its stderr goes to *err_fd.
struct Owner {
  pid_t pid = -1;
  std::vector<int> started;
  int err_fd = -1;
};

Owner StartOwner(cf::StartMethod method, bool own_group) {
  int report[2], err[2];
  if (pipe(report) != 0 || pipe(err) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    if (own_group) setpgid(0, 0);  // as a shell puts a job in its own group
    dup2(err[1], STDERR_FILENO);
    close(report[0]);
    close(err[0]);
    cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
    cf::Future<Ids> a = pool.submit(SleepThenIds, 300);
    cf::Future<Ids> b = pool.submit(SleepThenIds, 300);
    std::vector<int> started = {a.result().pid, b.result().pid};
    if (method == cf::StartMethod::kForkServer) {
      started.push_back(a.result().parent);
    }
    cf::Future<int> busy = pool.submit(Sleep, 60'000);
    cf::Future<int> busy2 = pool.submit(Sleep, 60'000);
    absl::SleepFor(absl::Milliseconds(100));  // both running
    const int n = static_cast<int>(started.size());
    if (write(report[1], &n, sizeof(n)) != sizeof(n) ||
        write(report[1], started.data(), n * sizeof(int)) !=
            static_cast<ssize_t>(n * sizeof(int))) {
      _exit(1);
    }
    busy.result();  // until killed
    _exit(0);
  }
  close(report[1]);
  close(err[1]);
  Owner owner{.pid = pid, .started = {}, .err_fd = err[0]};
  int n = 0;
  if (read(report[0], &n, sizeof(n)) == sizeof(n) && n > 0 && n < 8) {
    owner.started.resize(n);
    if (read(report[0], owner.started.data(), n * sizeof(int)) !=
        static_cast<ssize_t>(n * sizeof(int))) {
      owner.started.clear();
    }
  }
  close(report[0]);
  return owner;
}

void ExpectAllGoneWithinASecond(const std::vector<int>& pids) {
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  auto any_alive = [&] {
    for (int pid : pids) {
      if (IsAlive(pid)) return true;
    }
    return false;
  };
  while (any_alive() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (int pid : pids) {
    EXPECT_FALSE(IsAlive(pid)) << "process " << pid << " outlived its parent";
  }
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

class ParentDeathTest : public testing::TestWithParam<cf::StartMethod> {};

TEST_P(ParentDeathTest, WorkersExitWhenTheParentIsKilled) {
  Owner owner = StartOwner(GetParam(), /*own_group=*/false);
  ASSERT_GT(owner.pid, 0);
  ASSERT_GE(owner.started.size(), 2u);
  for (int pid : owner.started) ASSERT_TRUE(IsAlive(pid)) << pid;
  kill(owner.pid, SIGKILL);
  waitpid(owner.pid, nullptr, 0);
  ExpectAllGoneWithinASecond(owner.started);
  close(owner.err_fd);
}

TEST_P(ParentDeathTest, CtrlCStopsTheParentAndQuietlyItsWorkers) {
  Owner owner = StartOwner(GetParam(), /*own_group=*/true);
  ASSERT_GT(owner.pid, 0);
  ASSERT_GE(owner.started.size(), 2u);
  // A terminal's Ctrl-C: SIGINT to every process of the foreground group,
  // workers included.
  ASSERT_EQ(kill(-owner.pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(owner.pid, &status, 0), owner.pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT)
      << "the parent should end by SIGINT, got status " << status;
  ExpectAllGoneWithinASecond(owner.started);
  // No worker printed anything on its way out.
  EXPECT_EQ(ReadAll(owner.err_fd), "");
}

volatile sig_atomic_t interrupted = 0;

// A parent that handles Ctrl-C itself decides what happens to the work: the
// workers ignore SIGINT, so the calls they run finish and the pool goes on.
TEST_P(ParentDeathTest, CtrlCHandledByTheParentLeavesTheWorkersRunning) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t owner = fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    setpgid(0, 0);
    close(ready[0]);
    signal(SIGINT, [](int) { interrupted = 1; });
    cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = GetParam()});
    pool.submit(Sleep, 1).result();  // workers started
    cf::Future<int> running = pool.submit(Sleep, 1500);
    absl::SleepFor(absl::Milliseconds(200));
    const char go = 1;
    if (write(ready[1], &go, 1) != 1) _exit(1);
    while (!interrupted) absl::SleepFor(absl::Milliseconds(5));
    // 10: the call was lost; 11: the pool broke; 0: both fine.
    try {
      if (running.result(absl::Seconds(30)) != 1500) _exit(10);
      if (pool.submit(Sleep, 2).result(absl::Seconds(30)) != 2) _exit(11);
    } catch (...) {
      _exit(12);
    }
    _exit(0);
  }
  close(ready[1]);
  char go = 0;
  ASSERT_EQ(read(ready[0], &go, 1), 1);
  close(ready[0]);
  ASSERT_EQ(kill(-owner, SIGINT), 0);  // the whole group, as a terminal
  int status = 0;
  ASSERT_EQ(waitpid(owner, &status, 0), owner);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: the running call was lost, 12: it failed";
}

INSTANTIATE_TEST_SUITE_P(
    StartMethods, ParentDeathTest,
    testing::ValuesIn(cf_process_test::StartMethods()),
    [](const testing::TestParamInfo<cf::StartMethod>& info) {
      return cf_process_test::StartMethodName(info.param);
    });

}  // namespace
