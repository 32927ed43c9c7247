// cf::ProcessPoolExecutor: calls run in other processes, with Python's
// semantics (ports of CPython's test_process_pool.py and test_deadlock.py
// where they apply to the fork start method) and cf's guarantees beyond them.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <ranges>
#include <utility>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "executors/transport/fork_server.h"
#include "tests/process/process_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using cf_process_test::IsAlive;

using ::testing::HasSubstr;

int Square(int x) { return x * x; }
int Pid() { return static_cast<int>(getpid()); }
std::string Concat(std::string a, std::vector<int> v) {
  for (int x : v) a += std::to_string(x);
  return a;
}
int ThrowOutOfRange(int i) {
  if (i >= 0) throw std::out_of_range("index " + std::to_string(i));
  return i;
}
struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
int ThrowCustom() { throw ParseError("bad token"); }
int Segfault() {
  raise(SIGSEGV);
  return 0;
}
int Abort() { std::abort(); }
int ExitWith(int code) { _exit(code); }
int KillSelf() {
  kill(getpid(), SIGKILL);
  pause();
  return 0;
}
int SleepMs(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}
int CountOpenFds() {
  int n = 0;
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

struct Point {
  int x = 0, y = 0;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(x, y);
  }
};
Point Flip(Point p) { return {p.y, p.x}; }

// Every case runs once per start method (kFork, kSpawn, kForkServer).
class ProcessPoolTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessPoolOptions Options(int max_workers) const {
    return {.max_workers = max_workers, .start_method = GetParam()};
  }
};

TEST_P(ProcessPoolTest, SubmitRunsInAnotherProcess) {  // CPython test_submit
  cf::ProcessPoolExecutor pool(Options(2));
  EXPECT_EQ(pool.submit(Square, 16).result(), 256);
  EXPECT_NE(pool.submit(Pid).result(), getpid());
}

TEST_P(ProcessPoolTest, CaptureLessLambdasAndStandardTypesCross) {
  cf::ProcessPoolExecutor pool(Options(2));
  auto add = [](int a, int b) { return a + b; };
  EXPECT_EQ(pool.submit(add, 2, 40).result(), 42);
  EXPECT_EQ(pool.submit(Concat, std::string("n="), std::vector<int>{1, 2, 3}).result(),
            "n=123");
  Point p = pool.submit(Flip, Point{1, 2}).result();
  EXPECT_EQ(p.x, 2);
  EXPECT_EQ(p.y, 1);
  cf::Future<void> v = pool.submit([](int) {}, 1);
  v.result();
  EXPECT_TRUE(v.done());
}

TEST_P(ProcessPoolTest, CapturingLambdaThroughExecutorIsInvalidArgument) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Executor& executor = pool;
  int state = 3;
  try {
    executor.submit([state](int x) { return x + state; }, 1);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("pass its state as arguments"));
  }
}

TEST_P(ProcessPoolTest, MapYieldsInInputOrder) {  // CPython test_map
  cf::ProcessPoolExecutor pool(Options(3));
  std::vector<int> inputs(40);
  std::iota(inputs.begin(), inputs.end(), 0);
  std::vector<int> got;
  for (int r : pool.map(Square, inputs)) got.push_back(r);
  ASSERT_EQ(got.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(got[i], i * i);
}

TEST_P(ProcessPoolTest, StandardExceptionComesBackAsSameTypeWithRemoteTraceback) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Future<int> f = pool.submit(ThrowOutOfRange, 7);
  try {
    f.result();
    FAIL() << "expected std::out_of_range";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "index 7");
    std::optional<cf::RemoteTraceback> remote = cf::RemoteTracebackOf(e);
    ASSERT_TRUE(remote.has_value());
    EXPECT_NE(remote->pid(), getpid());
    EXPECT_EQ(remote->type_name(), "std::out_of_range");
    EXPECT_THAT(remote->traceback(), HasSubstr("ThrowOutOfRange"));
  }
  // The pool is not broken by a task's exception.
  EXPECT_EQ(pool.submit(Square, 3).result(), 9);
}

TEST_P(ProcessPoolTest, UserExceptionComesBackAsRemoteError) {
  cf::ProcessPoolExecutor pool(Options(1));
  try {
    pool.submit(ThrowCustom).result();
    FAIL() << "expected cf::RemoteError";
  } catch (const cf::RemoteError& e) {
    EXPECT_THAT(e.type_name(), HasSubstr("ParseError"));
    EXPECT_EQ(e.message(), "bad token");
  }
}

// Sanitizers catch a worker's fatal signal themselves and exit with their own
// code, so under them only "it broke the pool" can be checked.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

void ExpectBrokenByCrash(cf::ProcessPoolOptions options, int (*crash)(),
                         const std::string& how) {
  cf::ProcessPoolExecutor pool(options);
  cf::Future<int> warm = pool.submit(Square, 2);
  ASSERT_EQ(warm.result(), 4);
  // Longer than any crash takes to be seen, even an ASan report's
  // symbolizing (over 2 s once): the pool's break must fail it, not its end.
  cf::Future<int> slow = pool.submit(SleepMs, 60000);
  cf::Future<int> crashed = pool.submit(crash);
  try {
    crashed.result(absl::Seconds(30));
    FAIL() << "expected cf::BrokenProcessPool";
  } catch (const cf::BrokenProcessPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("terminated abruptly"));
    if (!kSanitized) {
      EXPECT_THAT(e.what(), HasSubstr(how));
    }
    EXPECT_THAT(e.what(), HasSubstr("worker "));
  }
  // Python: every pending and running future fails, and so does submit.
  EXPECT_THROW(slow.result(absl::Seconds(30)), cf::BrokenProcessPool);
  EXPECT_THROW(pool.submit(Square, 1), cf::BrokenProcessPool);
}

TEST_P(ProcessPoolTest, SegfaultBreaksThePoolNamingTheSignal) {
  ExpectBrokenByCrash(Options(2), Segfault, "signal 11 (SIGSEGV)");
}
TEST_P(ProcessPoolTest, AbortBreaksThePool) {
  ExpectBrokenByCrash(Options(2), Abort, "signal 6 (SIGABRT)");
}
TEST_P(ProcessPoolTest, ExitBreaksThePoolNamingTheExitCode) {
  ExpectBrokenByCrash(Options(2), [] { return ExitWith(99); }, "exited with code 99");
}
TEST_P(ProcessPoolTest, SigkillBreaksThePool) {  // CPython test_killed_child
  ExpectBrokenByCrash(Options(2), KillSelf, "signal 9 (SIGKILL)");
}

TEST_P(ProcessPoolTest, ReplaceOnWorkerDeathFailsOnlyThatTask) {
  cf::ProcessPoolExecutor pool(
      {.max_workers = 2, .start_method = GetParam(), .on_worker_death = cf::WorkerDeath::kReplace});
  cf::Future<int> crashed = pool.submit(Segfault);
  EXPECT_THROW(crashed.result(absl::Seconds(30)), cf::BrokenProcessPool);
  std::vector<cf::Future<int>> after;
  for (int i = 0; i < 10; ++i) after.push_back(pool.submit(Square, i));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(after[i].result(absl::Seconds(30)), i * i);
}

TEST_P(ProcessPoolTest, TaskTimeoutKillsTheWorkerAndThePoolGoesOn) {
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = GetParam(), .task_timeout = absl::Milliseconds(300)});
  cf::Future<int> hung = pool.submit(SleepMs, 60'000);
  try {
    hung.result(absl::Seconds(30));
    FAIL() << "expected cf::TimeoutError";
  } catch (const cf::TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr("timeout"));
  }
  EXPECT_EQ(pool.submit(Square, 5).result(absl::Seconds(30)), 25);
}

TEST_P(ProcessPoolTest, SubmitAfterShutdownThrows) {  // CPython test_run_after_shutdown
  cf::ProcessPoolExecutor pool(Options(1));
  pool.shutdown();
  try {
    pool.submit(Square, 2);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
}

TEST_P(ProcessPoolTest, MaxWorkersMustBePositive) {
  EXPECT_THROW(cf::ProcessPoolExecutor(Options(0)), std::invalid_argument);
  EXPECT_THROW(cf::ProcessPoolExecutor(Options(-1)), std::invalid_argument);
}

// Lines of /proc/self/maps that map shared memory: a POSIX segment, a
// memfd or a System V segment.
std::vector<std::string> SharedMemoryMappings() {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::string> found;
  for (std::string line; std::getline(maps, line);) {
    for (const char* kind : {"/dev/shm/", "/memfd:", "/SYSV"}) {
      if (line.find(kind) != std::string::npos) found.push_back(line);
    }
  }
  return found;
}

// Python's shutdown(wait=True) releases the pool's resources at once; a
// program that keeps the executor object around must not keep descriptors.
TEST_P(ProcessPoolTest, ShutdownWithWaitClosesEveryDescriptorBeforeThePoolGoes) {
  {  // a fork server, which serves the whole process, is started beforehand
    cf::ProcessPoolExecutor warm_up(Options(1));
    ASSERT_EQ(warm_up.submit(Square, 3).result(), 9);
  }
  const int fds_before = CountOpenFds();
  cf::ProcessPoolExecutor pool(Options(2));
  ASSERT_EQ(pool.submit(Square, 4).result(), 16);
  pool.shutdown(/*wait=*/true);
  EXPECT_EQ(CountOpenFds(), fds_before);
  pool.shutdown(/*wait=*/true);  // again: nothing left to close or wake
  EXPECT_THROW(pool.submit(Square, 1), std::runtime_error);
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(ProcessPoolTest, ShutdownReapsEveryWorkerAndClosesEveryDescriptor) {
  // Anything the pool or its workers would put in a temporary directory
  // lands in this one (they inherit the environment).
  const cf_process_test::ScopedTempDir tmp;
  const cf_process_test::ScopedEnv tmpdir("TMPDIR", tmp.path());
  cf::internal::StopForkServer();  // one left by an earlier test
  const int fds_before = CountOpenFds();
  std::vector<int> pids;
  {
    cf::ProcessPoolExecutor pool(Options(3));
    std::vector<cf::Future<int>> fs;
    for (int i = 0; i < 6; ++i) fs.push_back(pool.submit([](int ms) {
      absl::SleepFor(absl::Milliseconds(ms));
      return static_cast<int>(getpid());
    }, 50));
    for (auto& f : fs) pids.push_back(f.result());
  }
  for (int pid : pids) EXPECT_FALSE(IsAlive(pid)) << pid;
  // The fork server outlives pools (it serves the whole process); ending it
  // must leave nothing either.
  cf::internal::StopForkServer();
  EXPECT_EQ(CountOpenFds(), fds_before);
  // No worker, fork server or zombie of ours is left.
  EXPECT_THAT(cf_process_test::ChildrenOf(getpid()), testing::IsEmpty());
  // Nor a shared-memory segment or a temporary file.
  EXPECT_THAT(SharedMemoryMappings(), testing::IsEmpty());
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << tmp.path();
}

TEST_P(ProcessPoolTest, CancelFuturesCancelsPendingOnes) {  // CPython test_cancel_futures
  cf::ProcessPoolExecutor pool(Options(2));
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 30; ++i) fs.push_back(pool.submit(SleepMs, 20));
  pool.shutdown(/*wait=*/true, /*cancel_futures=*/true);
  int cancelled = 0;
  for (auto& f : fs) {
    EXPECT_TRUE(f.done());
    if (f.cancelled()) {
      ++cancelled;
    } else {
      EXPECT_EQ(f.exception(), nullptr);
    }
  }
  EXPECT_GT(cancelled, 10);
  EXPECT_LT(cancelled, 30);
}

TEST_P(ProcessPoolTest, IdleWorkerIsReused) {  // CPython test_idle_process_reuse_one
  if (GetParam() == cf::StartMethod::kFork) {
    GTEST_SKIP() << "Incompatible with the fork start method: it starts every "
                    "worker on the first submit (CPython 3.11+, gh-90622)";
  }
  cf::ProcessPoolExecutor pool(Options(4));
  const int first = pool.submit(Pid).result();
  EXPECT_EQ(pool.submit(Pid).result(), first);
  EXPECT_EQ(pool.submit(Pid).result(), first);
  EXPECT_EQ(pool.num_workers(), 1);
}

void SetInitStatus(std::string status);
std::string init_status = "uninitialized";
void SetInitStatus(std::string status) { init_status = std::move(status); }
std::string GetInitStatus() { return init_status; }
void FailingInitializer() { throw std::invalid_argument("error in initializer"); }

TEST_P(ProcessPoolTest, InitializerRunsInEachWorker) {  // CPython test_initializer
  cf::ProcessPoolExecutor pool(
      {.max_workers = 2,
       .start_method = GetParam(),
       .initializer = {SetInitStatus, std::string("initialized")}});
  EXPECT_EQ(pool.submit(GetInitStatus).result(), "initialized");
  EXPECT_EQ(pool.submit(GetInitStatus).result(), "initialized");
  EXPECT_EQ(init_status, "uninitialized");  // not in the parent
}

TEST_P(ProcessPoolTest, FailingInitializerBreaksThePool) {
  cf::ProcessPoolExecutor pool({.max_workers = 2,
                                .start_method = GetParam(),
                                .initializer = {FailingInitializer}});
  try {
    pool.submit(Square, 2).result(absl::Seconds(30));
    FAIL() << "expected cf::BrokenProcessPool";
  } catch (const cf::BrokenProcessPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("error in initializer"));
  }
  EXPECT_THROW(pool.submit(Square, 2), cf::BrokenExecutor);
}

TEST_P(ProcessPoolTest, KillWorkersFailsRunningTasksAndStopsThePool) {
  for (bool kill : {false, true}) {
    cf::ProcessPoolExecutor pool(Options(1));
    cf::Future<int> running = pool.submit(SleepMs, 60'000);
    absl::SleepFor(absl::Milliseconds(200));
    if (kill) {
      pool.kill_workers();
    } else {
      pool.terminate_workers();
    }
    EXPECT_THROW(running.result(absl::Seconds(30)), cf::BrokenProcessPool);
    EXPECT_THROW(pool.submit(Square, 1), std::runtime_error);
  }
}

TEST_P(ProcessPoolTest, LargeArgumentAndResultRoundTrip) {
  // Under a sanitizer, frames of as many reads and buffer growths in 32 MiB:
  // at 256 MiB this test took 2-3 minutes of shadow-memory page faults under
  // TSan.
  const std::size_t size = kSanitized ? 32u << 20 : 256u << 20;
  std::string big(size, 'x');
  big[12345] = 'y';
  cf::ProcessPoolExecutor pool(Options(1));
  std::string back = pool.submit([](std::string s) {
    s[0] = 'z';
    return s;
  }, std::move(big)).result();
  ASSERT_EQ(back.size(), size);
  EXPECT_EQ(back[0], 'z');
  EXPECT_EQ(back[12345], 'y');
  EXPECT_EQ(back[size - 1], 'x');
}

TEST_P(ProcessPoolTest, ThousandsOfTasksAtOnceDoNotDeadlock) {  // gh-105829
  cf::ProcessPoolExecutor pool(Options(2));
  std::vector<cf::Future<std::string>> fs;
  for (int i = 0; i < 5000; ++i) {
    fs.push_back(pool.submit([](std::string s) { return s; },
                             std::string(1000, static_cast<char>('a' + i % 26))));
  }
  for (int i = 0; i < 5000; ++i) {
    EXPECT_EQ(fs[i].result(absl::Seconds(60))[0], static_cast<char>('a' + i % 26));
  }
}

}  // namespace

namespace {

class ProcessPoolMapTest : public ProcessPoolTest {};

long long Pow(int base, int exp) {
  long long r = 1;
  for (int i = 0; i < exp % 8; ++i) r *= base;
  return r;
}

std::pair<int, int> Divmod(int a, int b) {
  if (b == 0) throw std::domain_error("integer division or modulo by zero");
  return {a / b, a % b};
}

TEST_P(ProcessPoolMapTest, ChunkedMapEqualsSerialMap) {  // CPython test_map_chunksize
  cf::ProcessPoolExecutor pool(Options(2));
  std::vector<int> r(40);
  std::iota(r.begin(), r.end(), 0);
  for (int chunksize : {1, 6, 40, 50}) {
    std::vector<long long> got;
    for (long long v : pool.map(Pow, r, r, {.chunksize = chunksize})) got.push_back(v);
    ASSERT_EQ(got.size(), 40u) << chunksize;
    for (int i = 0; i < 40; ++i) EXPECT_EQ(got[i], Pow(i, i)) << chunksize;
  }
}

TEST_P(ProcessPoolMapTest, ChunksizeBelowOneIsInvalid) {
  cf::ProcessPoolExecutor pool(Options(1));
  std::vector<int> r = {1, 2};
  for (int chunksize : {0, -1}) {
    try {
      pool.map(Square, r, {.chunksize = chunksize});
      FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(), "chunksize must be >= 1.");
    }
  }
}

// CPython main's test_map_exception with chunksize=3: an element's exception
// surfaces at its position, and its chunk neighbours' results are kept.
TEST_P(ProcessPoolMapTest, ChunkedMapKeepsResultsAroundAnException) {
  cf::ProcessPoolExecutor pool(Options(2));
  std::vector<int> a = {5, 5, 5, 5};
  std::vector<int> b = {2, 0, 3, 5};
  auto results = pool.map(Divmod, a, b, {.chunksize = 3});
  auto it = results.begin();
  EXPECT_EQ(*it, std::make_pair(2, 1));
  ++it;
  EXPECT_THROW(*it, std::domain_error);
  ++it;
  EXPECT_EQ(*it, std::make_pair(1, 2));
  ++it;
  EXPECT_EQ(*it, std::make_pair(1, 0));
  ++it;
  EXPECT_TRUE(it == results.end());
}

TEST_P(ProcessPoolMapTest, CrashInAChunkFailsEveryElementOfIt) {
  cf::ProcessPoolExecutor pool(Options(1));
  std::vector<int> inputs = {1, 2, -1, 4};
  auto results = pool.map(
      [](int x) {
        if (x < 0) raise(SIGSEGV);
        return x;
      },
      inputs, {.chunksize = 4});
  int broken = 0;
  for (auto it = results.begin(); it != results.end(); ++it) {
    try {
      (void)*it;
    } catch (const cf::BrokenProcessPool&) {
      ++broken;
    }
  }
  EXPECT_EQ(broken, 4);
}

TEST_P(ProcessPoolMapTest, BufferedChunkedMapOverAnInfiniteRange) {
  cf::ProcessPoolExecutor pool(Options(2));
  auto results = pool.map(Square, std::views::iota(0),
                          {.chunksize = 5, .buffersize = 2});
  auto it = results.begin();
  for (int i = 0; i < 23; ++i, ++it) EXPECT_EQ(*it, i * i);
}

// With a buffer, a chunk is one task, as in Python (its map chains the
// chunks' result lists): a new chunk is submitted as the reader starts on a
// chunk, not for every element it reads.
TEST_P(ProcessPoolMapTest, ABufferedChunkedMapSubmitsAChunkPerChunkRead) {
  cf::ProcessPoolExecutor pool(Options(2));
  int pulled = 0;  // inputs taken from the range, in this thread
  auto inputs = std::views::iota(0) |
                std::views::transform([&pulled](int x) {
                  ++pulled;
                  return x;
                });
  auto results = pool.map(Square, inputs, {.chunksize = 5, .buffersize = 2});
  EXPECT_EQ(pulled, 10);  // two chunks ahead
  auto it = results.begin();
  EXPECT_EQ(*it, 0);
  EXPECT_EQ(pulled, 15);  // starting on chunk 0 sent chunk 2
  for (int i = 1; i < 5; ++i) {
    ++it;
    EXPECT_EQ(*it, i * i);
  }
  EXPECT_EQ(pulled, 15);  // the rest of chunk 0 sent nothing more
  ++it;
  EXPECT_EQ(*it, 25);
  EXPECT_EQ(pulled, 20);
}

std::string ParamName(const testing::TestParamInfo<cf::StartMethod>& info) {
  return cf_process_test::StartMethodName(info.param);
}
INSTANTIATE_TEST_SUITE_P(StartMethods, ProcessPoolTest,
                         testing::ValuesIn(cf_process_test::StartMethods()),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(StartMethods, ProcessPoolMapTest,
                         testing::ValuesIn(cf_process_test::StartMethods()),
                         ParamName);

}  // namespace
