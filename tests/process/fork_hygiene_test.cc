// A worker holds only its own channel, prints nothing of the parent's, is
// seen to end by its pid (not by EOF on a socket others may hold), never
// runs the parent's exit-time destructors, and cf's own threads never make
// a fork unsafe. Per start method.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "executors/transport/child_exit.h"
#include "executors/transport/clean_fork.h"
#include "gtest/gtest.h"
#include "tests/process/cpython_test_util.h"
#include "tests/process/process_test_util.h"

extern char** environ;

namespace {

using cf_process_test::FileExists;
using cf_process_test::RunWithin;
using cf_process_test::ScopedTempDir;

constexpr absl::Duration kLimit = absl::Seconds(60);

// Descriptors of this process that are sockets or cf's anonymous inodes
// (eventfds, pidfds).
int CountChannels(int) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target =
        std::filesystem::read_symlink(entry.path(), ec).string();
    if (target.rfind("socket:", 0) == 0 ||
        target.find("[eventfd]") != std::string::npos ||
        target.find("pidfd") != std::string::npos) {
      ++n;
    }
  }
  return n;
}

// Sockets open in a program this worker runs.
int SocketsInAProgram(int) {
  FILE* p = popen("ls -l /proc/self/fd/ 2>/dev/null | grep -c socket:", "r");
  if (p == nullptr) return -1;
  int n = -1;
  if (std::fscanf(p, "%d", &n) != 1) n = -1;
  pclose(p);
  return n;
}

// Starts a background program that creates `marker` in 3 s.
int StartBackgroundProgram(std::string marker) {
  const std::string cmd =
      "(sleep 3; touch '" + marker + "') >/dev/null 2>&1 &";
  return std::system(cmd.c_str());
}

// Forks a child that outlives the task and creates `marker` in 3 s.
int ForkLingeringChild(std::string marker) {
  const pid_t pid = fork();
  if (pid == 0) {
    sleep(3);
    std::ofstream(marker.c_str()) << "late\n";
    _exit(0);
  }
  return pid > 0 ? 0 : -1;
}

int Crash(int) {
  kill(getpid(), SIGKILL);  // sanitizers would catch SIGSEGV
  return 0;
}

int Twice(int x) { return 2 * x; }

std::string ChildPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "";
  return std::string(srcdir) + "/" + workspace + "/tests/process/fault_child";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// Runs fault_child <mode> <method> with stdout into `out_path`; its exit
// code, or -1 if it had to be killed after 30 s.
int RunChild(const std::string& mode, cf::StartMethod method,
             const std::string& out_path) {
  std::string path = ChildPath();
  std::string mode_arg = mode;
  std::string method_arg = cf_process_test::StartMethodName(method);
  char* argv[] = {path.data(), mode_arg.data(), method_arg.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  const int rc =
      posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -2;
  for (int i = 0; i < 3000; ++i) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -3;
    }
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// GCC 12's sanitizer runtimes are not fork-safe beside busy threads: under
// ASan a child forked while another thread is inside malloc waits for the
// allocator's lock forever (seen: every hung worker in
// SizeClassAllocator64::GetFromAllocator), and under TSan the 8-thread test
// hangs the same way. glibc's malloc is fork-safe, so this only concerns
// sanitizer builds; tests that fork while other threads allocate skip there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kForkUnsafeAllocator = true;
#else
constexpr bool kForkUnsafeAllocator = false;
#endif

class ForkHygieneTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessPoolOptions Options(int workers) const {
    return {.max_workers = workers, .start_method = GetParam()};
  }
  bool SkipForkWithBusyThreads() const {
    return kForkUnsafeAllocator && GetParam() == cf::StartMethod::kFork;
  }
};

TEST_P(ForkHygieneTest, WorkerHoldsOnlyItsOwnChannel) {
  cf::ProcessPoolExecutor a(Options(2));
  std::vector<cf::Future<int>> warm;
  for (int i = 0; i < 4; ++i) warm.push_back(a.submit(Twice, i));
  for (auto& f : warm) f.result();
  cf::ProcessPoolExecutor b(Options(2));
  // Its socket to this process, and nothing of pool a's or of b's others.
  EXPECT_EQ(b.submit(CountChannels, 0).result(), 1);
  EXPECT_EQ(a.submit(CountChannels, 0).result(), 1);
}

TEST_P(ForkHygieneTest, ProgramsATaskRunsDoNotInheritTheChannel) {
  cf::ProcessPoolExecutor pool(Options(1));
  EXPECT_EQ(pool.submit(SocketsInAProgram, 0).result(), 0);
}

TEST_P(ForkHygieneTest, BackgroundProgramDoesNotDelayShutdown) {
  ScopedTempDir dir;
  const std::string marker = dir.Path("late");
  RunWithin(kLimit, "shutdown with a background program", [&] {
    cf::ProcessPoolExecutor pool(Options(1));
    EXPECT_EQ(pool.submit(StartBackgroundProgram, marker).result(), 0);
  });
  EXPECT_FALSE(FileExists(marker)) << "shutdown waited for the program";
}

TEST_P(ForkHygieneTest, LingeringGrandchildDoesNotDelayShutdown) {
  ScopedTempDir dir;
  const std::string marker = dir.Path("late");
  RunWithin(kLimit, "shutdown with a grandchild", [&] {
    cf::ProcessPoolExecutor pool(Options(1));
    EXPECT_EQ(pool.submit(ForkLingeringChild, marker).result(), 0);
  });
  EXPECT_FALSE(FileExists(marker)) << "shutdown waited for the grandchild";
}

TEST_P(ForkHygieneTest, CrashIsSeenWhileAGrandchildHoldsTheSocket) {
  ScopedTempDir dir;
  const std::string marker = dir.Path("late");
  RunWithin(kLimit, "crash with a grandchild", [&] {
    cf::ProcessPoolExecutor pool(Options(1));
    EXPECT_EQ(pool.submit(ForkLingeringChild, marker).result(), 0);
    try {
      pool.submit(Crash, 0).result();
      ADD_FAILURE() << "no error";
    } catch (const cf::BrokenProcessPool& e) {
      EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(FileExists(marker)) << "the crash was seen only at EOF";
  });
}

// Whether this kernel keeps a reaped child's exit status behind its pidfd.
bool KernelKeepsExitStatus() {
  const pid_t pid = fork();
  if (pid == 0) _exit(3);
  const int pidfd = cf::internal::OpenPidfd(pid);
  int status;
  waitpid(pid, &status, 0);
  const int kept = cf::internal::StatusFromPidfd(pidfd);
  cf::internal::CloseOwnedFd(pidfd);
  return kept == status;
}

TEST_P(ForkHygieneTest, IgnoredSigchldStillReportsHowAWorkerDied) {
  const bool kept = KernelKeepsExitStatus();
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ignore, &old);
  std::string message;
  RunWithin(kLimit, "crash with SIGCHLD ignored", [&] {
    cf::ProcessPoolExecutor pool(Options(1));
    try {
      pool.submit(Crash, 0).result();
    } catch (const cf::BrokenProcessPool& e) {
      message = e.what();
    }
  });
  sigaction(SIGCHLD, &old, nullptr);
  EXPECT_EQ(message.find("exited with code 0"), std::string::npos) << message;
  if (kept || GetParam() == cf::StartMethod::kForkServer) {
    EXPECT_NE(message.find("SIGKILL"), std::string::npos) << message;
  } else {
    EXPECT_NE(message.find("could not collect"), std::string::npos) << message;
  }
}

TEST_P(ForkHygieneTest, TwoPoolsStartingTogetherShutDownOneAfterTheOther) {
  if (SkipForkWithBusyThreads()) {
    GTEST_SKIP() << "the sanitizer runtime is not fork-safe beside busy threads";
  }
  // Pool a shuts down while pool b, whose workers were started at the same
  // moment, still runs: a worker of b that inherited a's worker-side socket
  // would keep a from ever seeing its worker exit.
  RunWithin(kLimit, "two pools starting at once", [&] {
    for (int round = 0; round < 20; ++round) {
      std::latch started(2);
      std::latch a_done(1);
      auto run = [&](bool first) {
        cf::ProcessPoolExecutor pool(Options(4));
        started.arrive_and_wait();
        std::vector<int> in = {1, 2, 3, 4, 5, 6, 7, 8};
        int sum = 0;
        for (int r : pool.map(Twice, in)) sum += r;
        EXPECT_EQ(sum, 72);
        if (first) {
          pool.shutdown();
          a_done.count_down();
        } else {
          a_done.wait();
        }
      };
      std::thread other(run, false);
      run(true);
      other.join();
    }
  });
}

TEST_P(ForkHygieneTest, ManyThreadsStartingFreshPoolsNeverHang) {
  if (SkipForkWithBusyThreads()) {
    GTEST_SKIP() << "the sanitizer runtime is not fork-safe beside busy threads";
  }
  RunWithin(absl::Seconds(120), "8 threads of fresh pools", [&] {
    std::vector<std::thread> threads;
    std::atomic<int> done{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 8; ++i) {
          cf::ProcessPoolExecutor pool(Options(2));
          if (pool.submit(Twice, t + i).result() == 2 * (t + i)) ++done;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(done.load(), 64);
  });
}

TEST_P(ForkHygieneTest, OutputBeforeThePoolIsPrintedOnce) {
  ScopedTempDir dir;
  const std::string out = dir.Path("out");
  ASSERT_EQ(RunChild("print_before_pool", GetParam(), out), 0);
  const std::string text = ReadFile(out);
  EXPECT_EQ(Count(text, "before the pool"), 1) << text;
  EXPECT_EQ(Count(text, "task "), 4) << text;
  EXPECT_EQ(Count(text, "after the pool"), 1) << text;
}

TEST_P(ForkHygieneTest, ExitInATaskOfAStaticPoolLetsTheProgramExit) {
  ScopedTempDir dir;
  const std::string out = dir.Path("out");
  ASSERT_EQ(RunChild("static_pool_exit", GetParam(), out), 0)
      << ReadFile(out);
  const std::string text = ReadFile(out);
  EXPECT_NE(text.find("exited with code 7"), std::string::npos) << text;
}

TEST(ForkStartMethodTest, StartsEveryWorkerOnTheFirstSubmit) {
  cf::ProcessPoolExecutor pool(
      {.max_workers = 3, .start_method = cf::StartMethod::kFork});
  EXPECT_EQ(pool.submit(Twice, 1).result(), 2);
  EXPECT_EQ(pool.num_workers(), 3);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, ForkHygieneTest,
                         testing::ValuesIn(cf_process_test::StartMethods()),
                         [](const auto& info) {
                           return cf_process_test::StartMethodName(info.param);
                         });

}  // namespace
