// cf::Process under every start method: exit codes as Python's (0, exit(n),
// 1 with a traceback after an exception, -15 / -9 after terminate / kill),
// names, current_process / parent_process / active_children, Python's
// assertion messages, daemon children dying with their parent (even a
// SIGKILLed one, even when a thread that started them has ended), and a
// child's exit waiting for its own non-daemon children.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mp/mp_test_util.h"

namespace {

using ::cf_mp_test::IsAlive;
using ::cf_mp_test::ReadFile;
using ::cf_mp_test::ScopedTempDir;
using ::cf_mp_test::WaitFor;
using ::cf_mp_test::WriteFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Children report failed checks through their exit code.
constexpr int kCheckFailed = 42;

void Nothing() {}
void ExitWith(int code) { std::exit(code); }
void SleepMs(int ms) { usleep(static_cast<useconds_t>(ms) * 1000); }

void ThrowTo(std::string stderr_path, std::string message) {
  if (std::freopen(stderr_path.c_str(), "w", stderr) == nullptr) _exit(99);
  throw std::runtime_error(message);
}

void CheckIdentity(std::string name, pid_t parent, std::string parent_name) {
  const std::optional<cf::ParentProcess> p = cf::parent_process();
  if (cf::current_process().name() != name || cf::current_process().daemon() ||
      !p.has_value() || p->pid() != parent || p->name() != parent_name ||
      !p->is_alive() || getppid() <= 1) {
    _exit(kCheckFailed);
  }
}

// Starts `grandchild` (daemon or not, sleeping), writes its pid to `path`,
// then sleeps until killed.
void StartGrandchildAndWait(int method, bool daemon, std::string path) {
  cf::Process grandchild({.daemon = daemon,
                          .start_method = static_cast<cf::StartMethod>(method)},
                         SleepMs, 60000);
  grandchild.start();
  WriteFile(path, std::to_string(*grandchild.pid()));
  SleepMs(60000);
}

// Starts a grandchild and returns at once: this child's exit must then wait
// for a non-daemon one and terminate a daemon one.
void StartGrandchildAndReturn(int method, bool daemon, int sleep_ms,
                              std::string path) {
  cf::Process grandchild({.daemon = daemon,
                          .start_method = static_cast<cf::StartMethod>(method)},
                         SleepMs, sleep_ms);
  grandchild.start();
  WriteFile(path, std::to_string(*grandchild.pid()));
}

void CheckNestedName(int method) {
  cf::Process grandchild(
      {.start_method = static_cast<cf::StartMethod>(method)}, Nothing);
  // Python's nested identity: the child's numbers, then its own counter.
  if (grandchild.name() != cf::current_process().name() + ":1") {
    _exit(kCheckFailed);
  }
  grandchild.start();
  grandchild.join();
  if (grandchild.exitcode() != 0) _exit(kCheckFailed);
  if (!cf::active_children().empty()) _exit(kCheckFailed);
}

void StartFromDaemon() {
  try {
    cf::Process p(Nothing);
    p.start();
  } catch (const std::logic_error& e) {
    if (std::string(e.what()) ==
        "daemonic processes are not allowed to have children") {
      _exit(0);
    }
  }
  _exit(kCheckFailed);
}

class ProcessTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessOptions Options() { return {.start_method = GetParam()}; }
  int Method() { return static_cast<int>(GetParam()); }
};

TEST_P(ProcessTest, RunsTheTargetAndExitsWithZero) {
  cf::Process p(Options(), Nothing);
  EXPECT_FALSE(p.is_alive());
  EXPECT_EQ(p.pid(), std::nullopt);
  EXPECT_EQ(p.exitcode(), std::nullopt);
  p.start();
  ASSERT_TRUE(p.pid().has_value());
  EXPECT_NE(*p.pid(), getpid());
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(p.is_alive());
  p.join();  // a process can be joined many times
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ProcessTest, NoTargetExitsWithZero) {
  cf::Process p(Options());
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ProcessTest, ExitInTheTargetIsTheExitcode) {
  cf::Process p(Options(), ExitWith, 7);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 7);
}

TEST_P(ProcessTest, UncaughtExceptionIsExitcodeOneWithATraceback) {
  ScopedTempDir dir;
  const std::string err = dir.Path("stderr");
  cf::Process p(Options(), ThrowTo, err, std::string("bad value"));
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 1);
  const std::string text = ReadFile(err);
  EXPECT_THAT(text, StartsWith("Process " + p.name() +
                               ":\nTraceback (most recent call last):\n"));
  EXPECT_THAT(text, HasSubstr("ThrowTo"));  // the throw site's frame
  EXPECT_THAT(text, HasSubstr("\nstd::runtime_error: bad value\n"));
}

TEST_P(ProcessTest, TerminateAndKillGiveMinusTheSignal) {
  cf::Process a(Options(), SleepMs, 60000);
  cf::Process b(Options(), SleepMs, 60000);
  a.start();
  b.start();
  EXPECT_TRUE(a.is_alive());
  EXPECT_EQ(a.exitcode(), std::nullopt);
  a.terminate();
  b.kill();
  a.join();
  b.join();
  EXPECT_EQ(a.exitcode(), -SIGTERM);
  EXPECT_EQ(b.exitcode(), -SIGKILL);
  EXPECT_FALSE(a.is_alive());
  a.terminate();  // ended: nothing to signal
  EXPECT_EQ(a.exitcode(), -SIGTERM);
}

TEST_P(ProcessTest, JoinWithATimeoutReturnsWhileTheChildRuns) {
  cf::Process p(Options(), SleepMs, 60000);
  p.start();
  const auto begin = std::chrono::steady_clock::now();
  p.join(absl::Milliseconds(100));
  EXPECT_GE(std::chrono::steady_clock::now() - begin,
            std::chrono::milliseconds(90));
  EXPECT_TRUE(p.is_alive());
  EXPECT_EQ(p.exitcode(), std::nullopt);
  p.kill();
  p.join();
}

TEST_P(ProcessTest, NamesAndIdentityInTheChild) {
  cf::Process unnamed(Options(), Nothing);
  EXPECT_THAT(unnamed.name(), StartsWith("Process-"));
  cf::Process named({.name = "name1", .start_method = GetParam()},
                    CheckIdentity, std::string("name1"), getpid(),
                    std::string("MainProcess"));
  EXPECT_EQ(named.name(), "name1");
  EXPECT_FALSE(named.daemon());
  named.start();
  named.join();
  EXPECT_EQ(named.exitcode(), 0);
  cf::Process renamed(Options(), CheckIdentity, std::string("renamed"),
                      getpid(), std::string("MainProcess"));
  renamed.set_name("renamed");
  renamed.start();
  renamed.join();
  EXPECT_EQ(renamed.exitcode(), 0);
  EXPECT_EQ(cf::current_process().name(), "MainProcess");
  EXPECT_EQ(cf::parent_process(), std::nullopt);
}

TEST_P(ProcessTest, DefaultNamesCountUp) {
  cf::Process a(Options(), Nothing);
  cf::Process b(Options(), Nothing);
  const int na = std::stoi(a.name().substr(8));
  EXPECT_EQ(b.name(), "Process-" + std::to_string(na + 1));
}

TEST_P(ProcessTest, ChildrenOfAChildAreNamedAfterIt) {
  cf::Process checker(Options(), CheckNestedName, Method());
  checker.start();
  checker.join();
  EXPECT_EQ(checker.exitcode(), 0);
}

TEST_P(ProcessTest, PythonsAssertionMessages) {
  cf::Process p(Options(), SleepMs, 60000);
  EXPECT_THROW(
      {
        try {
          p.join();
        } catch (const std::logic_error& e) {
          EXPECT_STREQ(e.what(), "can only join a started process");
          throw;
        }
      },
      std::logic_error);
  EXPECT_THROW(
      {
        try {
          (void)p.sentinel();
        } catch (const std::invalid_argument& e) {
          EXPECT_STREQ(e.what(), "process not started");
          throw;
        }
      },
      std::invalid_argument);
  p.start();
  EXPECT_GE(p.sentinel(), 0);
  EXPECT_THROW(
      {
        try {
          p.start();
        } catch (const std::logic_error& e) {
          EXPECT_STREQ(e.what(), "cannot start a process twice");
          throw;
        }
      },
      std::logic_error);
  EXPECT_THROW(
      {
        try {
          p.set_daemon(true);
        } catch (const std::logic_error& e) {
          EXPECT_STREQ(e.what(), "process has already started");
          throw;
        }
      },
      std::logic_error);
  EXPECT_THROW(
      {
        try {
          p.close();
        } catch (const std::invalid_argument& e) {
          EXPECT_STREQ(e.what(),
                       "Cannot close a process while it is still running. You "
                       "should first call join() or terminate().");
          throw;
        }
      },
      std::invalid_argument);
  p.kill();
  p.join();
  p.close();
  p.close();  // twice is fine
  for (auto call : {+[](cf::Process& q) { q.join(); },
                    +[](cf::Process& q) { (void)q.is_alive(); },
                    +[](cf::Process& q) { (void)q.exitcode(); },
                    +[](cf::Process& q) { q.start(); },
                    +[](cf::Process& q) { q.terminate(); }}) {
    EXPECT_THROW(
        {
          try {
            call(p);
          } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "process object is closed");
            throw;
          }
        },
        std::invalid_argument);
  }
}

TEST_P(ProcessTest, ADaemonCannotStartChildren) {
  cf::Process p({.daemon = true, .start_method = GetParam()}, StartFromDaemon);
  EXPECT_TRUE(p.daemon());
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ProcessTest, ActiveChildrenListsTheRunningAndReapsTheRest) {
  cf::Process a(Options(), SleepMs, 60000);
  cf::Process b(Options(), Nothing);
  a.start();
  b.start();
  ASSERT_TRUE(WaitFor([&] {
    const std::vector<cf::Process> live = cf::active_children();
    return live.size() == 1 && live[0] == a;
  }));
  a.kill();
  ASSERT_TRUE(WaitFor([] { return cf::active_children().empty(); }));
  EXPECT_EQ(a.exitcode(), -SIGKILL);
  EXPECT_EQ(b.exitcode(), 0);
}

TEST_P(ProcessTest, ReprIsPythons) {
  cf::Process p({.name = "p", .daemon = true, .start_method = GetParam()},
                SleepMs, 60000);
  const std::string parent = std::to_string(getpid());
  EXPECT_EQ(cf::to_string(p), "<Process name='p' parent=" + parent +
                                  " initial daemon>");
  p.start();
  const std::string pid = std::to_string(*p.pid());
  EXPECT_EQ(cf::to_string(p), "<Process name='p' pid=" + pid + " parent=" +
                                  parent + " started daemon>");
  p.terminate();
  p.join();
  EXPECT_EQ(cf::to_string(p), "<Process name='p' pid=" + pid + " parent=" +
                                  parent + " stopped exitcode=-SIGTERM daemon>");
}

TEST_P(ProcessTest, ADaemonDiesWithItsKilledParent) {
  ScopedTempDir dir;
  const std::string path = dir.Path("pid");
  cf::Process middle(Options(), StartGrandchildAndWait, Method(), true, path);
  middle.start();
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(path).empty(); }));
  const pid_t grandchild = std::stoi(ReadFile(path));
  EXPECT_TRUE(IsAlive(grandchild));
  middle.kill();
  middle.join();
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(grandchild); }))
      << "the daemon outlived its SIGKILLed parent";
}

TEST_P(ProcessTest, ANonDaemonOutlivesItsKilledParentAsInPython) {
  ScopedTempDir dir;
  const std::string path = dir.Path("pid");
  cf::Process middle(Options(), StartGrandchildAndWait, Method(), false, path);
  middle.start();
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(path).empty(); }));
  const pid_t grandchild = std::stoi(ReadFile(path));
  middle.kill();
  middle.join();
  usleep(200 * 1000);
  EXPECT_TRUE(IsAlive(grandchild));
  ::kill(grandchild, SIGKILL);
}

TEST_P(ProcessTest, AChildsExitWaitsForItsChildrenAndTerminatesDaemons) {
  ScopedTempDir dir;
  const auto begin = std::chrono::steady_clock::now();
  cf::Process waits(Options(), StartGrandchildAndReturn, Method(), false, 300,
                    dir.Path("a"));
  waits.start();
  waits.join();
  EXPECT_EQ(waits.exitcode(), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - begin,
            std::chrono::milliseconds(290));
  cf::Process terminates(Options(), StartGrandchildAndReturn, Method(), true,
                         60000, dir.Path("b"));
  terminates.start();
  terminates.join(absl::Seconds(20));
  EXPECT_EQ(terminates.exitcode(), 0);
  const pid_t daemon = std::stoi(ReadFile(dir.Path("b")));
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(daemon); }));
}

TEST_P(ProcessTest, ADaemonStartedByAThreadOutlivesTheThread) {
  cf::Process p({.daemon = true, .start_method = GetParam()}, SleepMs, 60000);
  std::thread([&p] { p.start(); }).join();
  usleep(200 * 1000);
  EXPECT_TRUE(p.is_alive()) << "killed when the thread that started it ended";
  p.terminate();
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGTERM);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, ProcessTest,
                         testing::ValuesIn(cf_mp_test::StartMethods()),
                         cf_mp_test::ParamName);

}  // namespace
