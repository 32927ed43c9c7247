// If the parent of a process pool dies, even by SIGKILL (no destructor, no
// shutdown), its workers exit within a second instead of lingering.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "tests/process/process_test_util.h"
#include "gtest/gtest.h"

namespace {

using cf_process_test::IsAlive;

int Pid() { return static_cast<int>(getpid()); }
int Sleep(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}


TEST(ParentDeathTest, WorkersExitWhenTheParentIsKilled) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t parent = fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    // The pool's owner: reports its two workers' pids, one of them busy in a
    // long task, then waits to be killed.
    close(pipe_fds[0]);
    cf::ProcessPoolExecutor pool(2);
    int idle = pool.submit(Pid).result();
    cf::Future<int> busy = pool.submit(Sleep, 60'000);
    int other = pool.submit(Pid).result();
    int pids[2] = {idle, other};
    if (write(pipe_fds[1], pids, sizeof(pids)) != sizeof(pids)) _exit(1);
    pause();
    _exit(0);
  }
  close(pipe_fds[1]);
  int pids[2] = {0, 0};
  ASSERT_EQ(read(pipe_fds[0], pids, sizeof(pids)), static_cast<ssize_t>(sizeof(pids)));
  close(pipe_fds[0]);
  ASSERT_TRUE(IsAlive(pids[0]));
  kill(parent, SIGKILL);
  waitpid(parent, nullptr, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  while ((IsAlive(pids[0]) || IsAlive(pids[1])) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_FALSE(IsAlive(pids[0])) << "worker " << pids[0] << " outlived its parent";
  EXPECT_FALSE(IsAlive(pids[1])) << "worker " << pids[1] << " outlived its parent";
}

}  // namespace
