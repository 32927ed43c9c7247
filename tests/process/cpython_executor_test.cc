// Ports of CPython's Lib/test/test_concurrent_futures/executor.py
// (ExecutorTest, as run by ProcessPool{Fork,Forkserver,Spawn}
// ProcessPoolExecutorTest) and test_process_pool.py (ProcessPoolExecutorTest)
// to cf::ProcessPoolExecutor, once per start method.
//
// Adaptations (see the comment on each test): multiprocessing Events,
// Semaphores and Queues are files in a per-test directory
// (cpython_test_util.h); Python's `_processes[pid].terminate()` is
// kill(pid, SIGTERM) of a pid a task reported; weakrefs are std::weak_ptr.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process/cpython_test_util.h"
#include "tests/process/process_test_util.h"

namespace {

using cf_process_test::IsAlive;
using cf_process_test::kShortTimeout;
using cf_process_test::kWorkerCount;
using cf_process_test::PollUntil;
using cf_process_test::ReleaseOnExit;
using cf_process_test::RunWithin;
using cf_process_test::StartThenWait;
using cf_process_test::TempDir;
using cf_process_test::WaitForFile;
using cf_process_test::WriteFileAtomically;
using ::testing::HasSubstr;

// --- Functions run in the workers -------------------------------------------

// Python's pow(base, exp), modulo 1e9+7 so that range(40) ** range(40) fits.
long long PowMod(int base, int exp) {
  constexpr long long kMod = 1'000'000'007;
  long long result = 1;
  for (int i = 0; i < exp; ++i) result = result * base % kMod;
  return result;
}
int Mul(int x, int y) { return x * y; }
int Add(int x, int y) { return x + y; }
int Pid() { return static_cast<int>(getpid()); }
int ExitWith(int code) { _exit(code); }
std::string ToString(int x) { return std::to_string(x); }

// Python's divmod; ZeroDivisionError is std::domain_error here.
std::pair<int, int> Divmod(int a, int b) {
  if (b == 0) throw std::domain_error("integer division or modulo by zero");
  return {a / b, a % b};
}

// Python's `capture(*args, **kwargs)`: keyword arguments become a map.
using Kwargs = std::map<std::string, int>;
std::pair<std::vector<int>, Kwargs> Capture(std::vector<int> args,
                                            Kwargs kwargs) {
  return {std::move(args), std::move(kwargs)};
}

// time.sleep(0) for an empty path, else blocks until the file exists.
int WaitIfGiven(std::string path) {
  if (path.empty()) return 0;
  return WaitForFile(path);
}

// Raises Python's TimeoutError for input 1 (test_map_timeout_from_callable).
int RaiseTimeoutFor1(int i) {
  if (i == 1) throw cf::TimeoutError("raised by the function");
  return i;
}

// Records that input `i` ran (<dir>/ran-<i>); input 1 waits for <dir>/gate.
int RunAndRecord(std::string dir, int i) {
  if (i == 1) WaitForFile(dir + "/gate");
  WriteFileAtomically(dir + "/ran-" + std::to_string(i), "");
  return i;
}

int Deref(std::shared_ptr<int> p) { return *p; }
std::shared_ptr<std::string> MakeDummyObject(int i) {
  return std::make_shared<std::string>(std::to_string(i));
}

int RaiseRuntimeError123() {
  throw std::runtime_error("123");  // some comment
}

// Exceptions that say nothing: an empty what(), and `throw 0` (Python's
// falsey exceptions, gh-132063).
int RaiseEmptyRuntimeError() { throw std::runtime_error(""); }
int RaiseZero() { throw 0; }

// An argument that creates the file `path` when it is destroyed in a worker
// (only a deserialized copy is armed). Python's EventfulGCObj.
struct DestroyedMarker {
  std::string path;
  bool loaded = false;

  template <class Archive>
  void save(Archive& archive) const {
    archive(path);
  }
  template <class Archive>
  void load(Archive& archive) {
    archive(path);
    loaded = true;
  }
  ~DestroyedMarker() {
    if (loaded) WriteFileAtomically(path, "");
  }
};
int WasLoaded(DestroyedMarker marker) { return marker.loaded ? 1 : 0; }

template <class T>
std::vector<T> Collect(cf::MapResult<T>&& results) {
  std::vector<T> out;
  for (T value : results) out.push_back(std::move(value));
  return out;
}

// CPython's ExecutorMixin: an executor of kWorkerCount workers made on first
// use and shut down (wait=True) after the test, with every gate opened first.
class CpythonExecutorTest : public ::testing::TestWithParam<cf::StartMethod> {
 protected:
  void TearDown() override {
    dir_.ReleaseAll();
    executor_.reset();
  }

  cf::ProcessPoolOptions Options(int max_workers) const {
    return {.max_workers = max_workers, .start_method = GetParam()};
  }

  cf::ProcessPoolExecutor& executor() {
    if (!executor_) {
      executor_ = std::make_unique<cf::ProcessPoolExecutor>(Options(kWorkerCount));
    }
    return *executor_;
  }

  TempDir dir_;

 private:
  std::unique_ptr<cf::ProcessPoolExecutor> executor_;
};

class CpythonProcessPoolTest : public CpythonExecutorTest {};

// Where CPython skips for fork: max_tasks_per_child needs spawn or forkserver.
#define SKIP_FOR_FORK()                                                   \
  if (GetParam() == cf::StartMethod::kFork)                               \
  GTEST_SKIP() << "Incompatible with the fork start method (as in CPython: " \
                  "max_tasks_per_child needs spawn or forkserver)."


// ============================================================================
// executor.py: ExecutorTest
// ============================================================================

// CPython test_submit.
TEST_P(CpythonExecutorTest, SubmitReturnsTheResult) {
  cf::Future<long long> future = executor().submit(PowMod, 2, 8);
  EXPECT_EQ(future.result(kShortTimeout), 256);
}

// CPython test_submit_keyword. Keyword arguments are bound in a captureless
// lambda (mul(2, y=8)) or passed as a map (capture(1, self=2, fn=3)); the
// TypeErrors of a submit without a function are compile errors, checked here.
template <class... A>
concept CanSubmit = requires(cf::ProcessPoolExecutor& pool, A... args) {
  pool.submit(args...);
};
static_assert(!CanSubmit<int>, "submit(arg=1): no function");
static_assert(!CanSubmit<int (*)(int, int), int>, "a missing argument");
static_assert(CanSubmit<int (*)(int, int), int, int>);

TEST_P(CpythonExecutorTest, SubmitWithKeywordArgumentsBoundInALambda) {
  EXPECT_EQ(executor()
                .submit([](int x, int y) { return Mul(x, /*y=*/y); }, 2, 8)
                .result(kShortTimeout),
            16);
  auto [args, kwargs] =
      executor()
          .submit(Capture, std::vector<int>{1}, Kwargs{{"self", 2}, {"fn", 3}})
          .result(kShortTimeout);
  EXPECT_EQ(args, std::vector<int>{1});
  EXPECT_EQ(kwargs, (Kwargs{{"self", 2}, {"fn", 3}}));
}

// CPython test_map: with the default chunksize and with chunksize=3.
TEST_P(CpythonExecutorTest, MapEqualsTheSerialMapWithAndWithoutChunks) {
  std::vector<long long> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(PowMod(i, i));
  auto r = std::views::iota(0, 10);
  EXPECT_EQ(Collect(executor().map(PowMod, r, r)), expected);
  EXPECT_EQ(Collect(executor().map(PowMod, r, r, {.chunksize = 3})), expected);
}

// CPython test_map_exception, main's semantics (gh-108518, as cf documents):
// the exception surfaces at its position and iteration goes on; the same
// with chunksize=3 and the zero in the middle of a chunk.
TEST_P(CpythonExecutorTest, MapRaisesAtTheFailingPositionAndGoesOn) {
  {
    auto results = executor().map(Divmod, std::vector<int>{5, 5, 5, 5},
                                  std::vector<int>{2, 3, 0, 5});
    auto it = results.begin();
    EXPECT_EQ(*it, std::make_pair(2, 1));
    ++it;
    EXPECT_EQ(*it, std::make_pair(1, 2));
    ++it;
    EXPECT_THROW(*it, std::domain_error);
    ++it;
    EXPECT_EQ(*it, std::make_pair(1, 0));
    ++it;
    EXPECT_TRUE(it == results.end());
    EXPECT_TRUE(results.begin() == results.end());
  }
  {
    auto results =
        executor().map(Divmod, std::vector<int>{5, 5, 5, 5},
                       std::vector<int>{2, 0, 3, 5}, {.chunksize = 3});
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
}

// CPython test_map_timeout: map(sleep, [0, 0, 6], timeout=5) raises
// TimeoutError while iterating; the results before it are [None, None] (3.14
// and main also accept [None] or [] on a slow machine, gh-110097), and the
// iteration is over. The third call blocks on a gate instead of sleeping,
// with a 1 s deadline.
TEST_P(CpythonExecutorTest, MapTimeoutRaisesTimeoutErrorAndEndsTheIteration) {
  const absl::Time start = absl::Now();
  auto results = executor().map(
      WaitIfGiven, std::vector<std::string>{"", "", dir_.Path("gate")},
      {.timeout = absl::Seconds(1)});
  std::vector<int> got;
  bool timed_out = false;
  auto it = results.begin();
  try {
    for (; it != results.end(); ++it) got.push_back(*it);
  } catch (const cf::TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out) << "expected TimeoutError";
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_LE(got.size(), 2u);
  for (int r : got) EXPECT_EQ(r, 0);
  // main: the next next() calls raise StopIteration.
  ++it;
  EXPECT_TRUE(it == results.end());
  dir_.Open("gate");
}

// CPython test_map_timeout_from_callable (main): a TimeoutError raised by the
// function is that position's exception, not map's deadline: iteration goes
// on. With no timeout and with SHORT_TIMEOUT.
TEST_P(CpythonExecutorTest, TimeoutErrorFromTheFunctionIsNotTheMapTimeout) {
  for (absl::Duration timeout : {absl::InfiniteDuration(), kShortTimeout}) {
    SCOPED_TRACE(absl::FormatDuration(timeout));
    auto results = executor().map(RaiseTimeoutFor1, std::views::iota(0, 4),
                                  {.timeout = timeout});
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    ++it;
    try {
      (void)*it;
      ADD_FAILURE() << "expected cf::TimeoutError";
    } catch (const cf::TimeoutError& e) {
      EXPECT_THAT(e.what(), HasSubstr("raised by the function"));
    }
    ++it;
    EXPECT_EQ(*it, 2);
    ++it;
    EXPECT_EQ(*it, 3);
    ++it;
    EXPECT_TRUE(it == results.end());
  }
}

// CPython test_map_close (main): closing the iterator after the first result
// ends it and cancels the rest. C++ has no close(): destroying the result is
// the generator's close. Input 1 blocks (it is running and cannot be
// cancelled); input 2 may enter the call queue once 0 is done, as in Python;
// inputs 3-5 are cancelled and never run.
TEST_P(CpythonExecutorTest, DestroyingTheMapResultCancelsTheCallsNotYetYielded) {
  cf::ProcessPoolExecutor pool(Options(1));
  ReleaseOnExit release(dir_);
  {
    auto results = pool.map(RunAndRecord, std::vector<std::string>(6, dir_.path()),
                            std::views::iota(0, 6));
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
  }
  dir_.Open("gate");
  pool.shutdown();
  EXPECT_TRUE(cf_process_test::FileExists(dir_.Path("ran-1")));
  for (int i = 3; i < 6; ++i) {
    EXPECT_FALSE(cf_process_test::FileExists(dir_.Path("ran-" + std::to_string(i))))
        << "input " << i << " ran after the map result was destroyed";
  }
}

// CPython test_map_buffersize_value_validation (3.14): buffersize 0 or -1 is
// a ValueError at the call to map(). (test_map_buffersize_type_validation is
// the type std::optional<int>, checked at compile time.)
static_assert(std::is_same_v<decltype(cf::MapOptions::buffersize), std::optional<int>>);

TEST_P(CpythonExecutorTest, MapBuffersizeMustBePositive) {
  for (int buffersize : {0, -1}) {
    try {
      executor().map(ToString, std::views::iota(0, 4), {.buffersize = buffersize});
      ADD_FAILURE() << "expected std::invalid_argument for " << buffersize;
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(), "buffersize must be None or > 0");
    }
  }
}

// CPython test_map_buffersize (3.14).
TEST_P(CpythonExecutorTest, MapWithBuffersizeYieldsEveryResultInOrder) {
  for (int buffersize : {1, 2, 4, 8}) {
    EXPECT_EQ(Collect(executor().map(ToString, std::views::iota(0, 4),
                                     {.buffersize = buffersize})),
              (std::vector<std::string>{"0", "1", "2", "3"}))
        << buffersize;
  }
}

// CPython test_map_buffersize_on_multiple_iterables (3.14).
TEST_P(CpythonExecutorTest, MapWithBuffersizeOverSeveralRanges) {
  for (int buffersize : {1, 2, 4, 8}) {
    auto r = std::views::iota(0, 4);
    EXPECT_EQ(Collect(executor().map(Add, r, r, {.buffersize = buffersize})),
              (std::vector<int>{0, 2, 4, 6}))
        << buffersize;
  }
}

// CPython test_map_buffersize_on_infinite_iterable (3.14): must not hang.
TEST_P(CpythonExecutorTest, MapWithBuffersizeOverAnInfiniteRange) {
  auto results = executor().map(ToString, std::views::iota(0), {.buffersize = 2});
  auto it = results.begin();
  EXPECT_EQ(*it, "0");
  ++it;
  EXPECT_EQ(*it, "1");
  ++it;
  EXPECT_EQ(*it, "2");
}

// CPython test_map_buffersize_on_multiple_infinite_iterables (3.14).
TEST_P(CpythonExecutorTest, MapWithBuffersizeOverSeveralInfiniteRanges) {
  auto results = executor().map(Add, std::views::iota(0), std::views::iota(0),
                                {.buffersize = 2});
  auto it = results.begin();
  EXPECT_EQ(*it, 0);
  ++it;
  EXPECT_EQ(*it, 2);
  ++it;
  EXPECT_EQ(*it, 4);
}

// CPython test_map_buffersize_on_empty_iterable (3.14).
TEST_P(CpythonExecutorTest, MapWithBuffersizeOverAnEmptyRange) {
  auto results = executor().map(ToString, std::vector<int>{}, {.buffersize = 2});
  EXPECT_TRUE(results.begin() == results.end());
}

// CPython test_map_buffersize_without_iterable (3.14): map(str, buffersize=2)
// calls nothing (str() takes no argument; here a nullary function).
TEST_P(CpythonExecutorTest, MapWithBuffersizeAndNoRangeIsEmpty) {
  auto results =
      executor().map([] { return std::string("called"); }, cf::MapOptions{.buffersize = 2});
  EXPECT_TRUE(results.begin() == results.end());
}

// CPython test_map_buffersize_when_buffer_is_full (3.14): a result never
// iterated has pulled only `buffersize` inputs, even after shutdown(wait).
TEST_P(CpythonExecutorTest, MapWithAFullBufferPullsOnlyBuffersizeInputs) {
  int consumed = 0;
  auto ints = std::views::iota(0, 4) | std::views::transform([&consumed](int i) {
                ++consumed;
                return i;
              });
  auto results = executor().map(ToString, ints, {.buffersize = 2});
  executor().shutdown(/*wait=*/true);
  EXPECT_EQ(consumed, 2);  // Python: next(ints) == 2
}

// CPython test_shutdown_race_issue12456: map() with one input more than
// workers, then shutdown(): no hang, and every call ran (map is eager).
TEST_P(CpythonExecutorTest, ShutdownRightAfterMapDoesNotHang) {
  auto results = executor().map(ToString, std::vector<int>(kWorkerCount + 1, 2));
  RunWithin(kShortTimeout, "shutdown() after map()", [&] { executor().shutdown(); });
  EXPECT_EQ(Collect(std::move(results)),
            std::vector<std::string>(kWorkerCount + 1, "2"));
}

// CPython test_no_stale_references: the executor keeps no reference to a
// call's function or arguments once it is done. Python discards the future;
// here it is even kept, and the argument is still freed.
TEST_P(CpythonExecutorTest, CompletedCallKeepsNoReferenceToItsArguments) {
  auto object = std::make_shared<int>(7);
  std::weak_ptr<int> ref = object;
  cf::Future<int> future = executor().submit(Deref, std::move(object));
  EXPECT_EQ(future.result(kShortTimeout), 7);
  EXPECT_TRUE(PollUntil([&] { return ref.expired(); }))
      << "Stale reference not collected within timeout.";
}

// CPython test_max_workers_negative.
TEST_P(CpythonExecutorTest, MaxWorkersMustBePositive) {
  for (int number : {0, -1}) {
    try {
      cf::ProcessPoolExecutor pool(Options(number));
      ADD_FAILURE() << "expected std::invalid_argument for " << number;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("max_workers must be greater than 0"));
    }
  }
}

// CPython test_free_reference: map's result keeps no reference to a result
// it has yielded.
TEST_P(CpythonExecutorTest, MapKeepsNoReferenceToYieldedResults) {
  int n = 0;
  for (std::shared_ptr<std::string> obj :
       executor().map(MakeDummyObject, std::views::iota(0, 10))) {
    ASSERT_NE(obj, nullptr);
    std::weak_ptr<std::string> wr = obj;
    obj.reset();
    EXPECT_TRUE(wr.expired()) << "result " << n << " is still referenced";
    ++n;
  }
  EXPECT_EQ(n, 10);
}

// CPython test_swallows_falsey_exceptions (3.14, gh-132063): exceptions that
// say nothing (an empty what(); `throw 0`) are still raised by result().
TEST_P(CpythonExecutorTest, ExceptionsThatSayNothingStillPropagate) {
  try {
    executor().submit(RaiseEmptyRuntimeError).result(kShortTimeout);
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "");
  }
  try {
    executor().submit(RaiseZero).result(kShortTimeout);
    ADD_FAILURE() << "expected cf::RemoteError";
  } catch (const cf::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "int");
  }
}

// ============================================================================
// test_process_pool.py: ProcessPoolExecutorTest
// ============================================================================

// CPython test_killed_child: a worker terminated (SIGTERM) while a call runs
// breaks the pool: result() and the next submit raise BrokenProcessPool.
TEST_P(CpythonProcessPoolTest, TerminatedWorkerBreaksThePool) {
  cf::ProcessPoolExecutor pool(Options(1));
  ReleaseOnExit release(dir_);
  cf::Future<int> future = pool.submit(StartThenWait, dir_.path(), 0, std::string("gate"));
  const pid_t pid = dir_.WaitStarted(0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  EXPECT_THROW(future.result(kShortTimeout), cf::BrokenProcessPool);
  EXPECT_THROW(pool.submit(PowMod, 2, 8), cf::BrokenProcessPool);
}

// CPython test_broken_process_pool_traceback (main): when a worker dies,
// every future gets its own BrokenProcessPool (not one shared exception
// object).
TEST_P(CpythonProcessPoolTest, EveryFutureOfABrokenPoolGetsItsOwnException) {
  cf::ProcessPoolExecutor pool(Options(3));
  ReleaseOnExit release(dir_);
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 3; ++i) {
    futures.push_back(pool.submit(StartThenWait, dir_.path(), i, std::string("gate")));
  }
  const pid_t pid = dir_.WaitStarted(0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  std::vector<std::exception_ptr> errors;
  for (auto& f : futures) {
    EXPECT_THROW(f.result(kShortTimeout), cf::BrokenProcessPool);
    errors.push_back(f.exception());
  }
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0], errors[1]);
  EXPECT_NE(errors[0], errors[2]);
  EXPECT_NE(errors[1], errors[2]);
}

// CPython test_map_chunksize.
TEST_P(CpythonProcessPoolTest, ChunkedMapEqualsTheSerialMapAndRejectsBadChunksize) {
  std::vector<long long> ref;
  for (int i = 0; i < 40; ++i) ref.push_back(PowMod(i, i));
  auto r = std::views::iota(0, 40);
  for (int chunksize : {6, 50, 40}) {
    EXPECT_EQ(Collect(executor().map(PowMod, r, r, {.chunksize = chunksize})), ref)
        << chunksize;
  }
  EXPECT_THROW(executor().map(PowMod, r, r, {.chunksize = -1}), std::invalid_argument);
}

// CPython test_traceback: the exception comes back as its own type with its
// message, and its cause carries the worker's traceback naming where it was
// raised (cf: a nested cf::RemoteTraceback, which cause-chain printers show).
TEST_P(CpythonProcessPoolTest, RemoteExceptionKeepsTypeMessageAndWorkerTraceback) {
  cf::Future<int> future = executor().submit(RaiseRuntimeError123);
  try {
    future.result(kShortTimeout);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(dynamic_cast<const cf::RemoteError*>(&e), nullptr)
        << "rebuilt as cf::RemoteError, not as std::runtime_error";
    EXPECT_STREQ(e.what(), "123");
    std::optional<cf::RemoteTraceback> cause = cf::RemoteTracebackOf(e);
    ASSERT_TRUE(cause.has_value());
    EXPECT_EQ(cause->type_name(), "std::runtime_error");
    EXPECT_NE(cause->pid(), getpid());
    EXPECT_THAT(cause->traceback(), HasSubstr("RaiseRuntimeError123"));
    // Python's excepthook output: the nested cause, as printed.
    try {
      std::rethrow_if_nested(e);
      ADD_FAILURE() << "no nested cause";
    } catch (const cf::RemoteTraceback& nested) {
      EXPECT_THAT(nested.what(), HasSubstr("RaiseRuntimeError123"));
    }
  }
}

// CPython test_traceback_when_child_process_terminates_abruptly (main,
// gh-139462): the BrokenProcessPool says how the worker ended.
TEST_P(CpythonProcessPoolTest, BrokenProcessPoolNamesTheWorkersExitCode) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Future<int> future = pool.submit(ExitWith, 99);
  try {
    future.result(kShortTimeout);
    FAIL() << "expected cf::BrokenProcessPool";
  } catch (const cf::BrokenProcessPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("terminated abruptly"));
    EXPECT_THAT(e.what(), HasSubstr("exited with code 99"));
  }
}

// CPython test_ressources_gced_in_workers: a call's arguments are destroyed
// in the worker once the call is done (Python: within 1 s).
TEST_P(CpythonProcessPoolTest, TaskArgumentsAreDestroyedInTheWorker) {
  const std::string marker = dir_.Path("destroyed");
  cf::Future<int> future = executor().submit(WasLoaded, DestroyedMarker{marker});
  EXPECT_EQ(future.result(kShortTimeout), 1);
  EXPECT_TRUE(PollUntil([&] { return cf_process_test::FileExists(marker); },
                        absl::Seconds(1)));
}

// CPython test_saturation: 15 x max_workers blocked calls start exactly
// max_workers processes.
TEST_P(CpythonProcessPoolTest, SaturatedPoolStartsExactlyMaxWorkersProcesses) {
  const int job_count = 15 * kWorkerCount;
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < job_count; ++i) {
    futures.push_back(
        executor().submit(StartThenWait, dir_.path(), i, std::string("gate")));
  }
  EXPECT_TRUE(PollUntil([&] { return dir_.CountStarted() == kWorkerCount; }));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(executor().num_workers(), kWorkerCount);
  EXPECT_EQ(dir_.CountStarted(), kWorkerCount);
  dir_.Open("gate");
  for (int i = 0; i < job_count; ++i) EXPECT_EQ(futures[i].result(kShortTimeout), i);
  EXPECT_EQ(executor().num_workers(), kWorkerCount);
}

// CPython test_idle_process_reuse_one. Python skips it with fork, which
// starts every worker on the first submit; so does cf.
TEST_P(CpythonProcessPoolTest, IdleWorkerIsReusedForSequentialCalls) {
  if (GetParam() == cf::StartMethod::kFork) {
    GTEST_SKIP() << "Incompatible with the fork start method: it starts every "
                    "worker on the first submit (CPython 3.11+, gh-90622)";
  }
  ASSERT_GE(kWorkerCount, 4);
  EXPECT_EQ(executor().submit(Mul, 21, 2).result(kShortTimeout), 42);
  EXPECT_EQ(executor().submit(Mul, 6, 7).result(kShortTimeout), 42);
  EXPECT_EQ(executor().submit(Mul, 3, 14).result(kShortTimeout), 42);
  EXPECT_EQ(executor().num_workers(), 1);
}

// CPython test_idle_process_reuse_multiple (skipped for fork, as above).
TEST_P(CpythonProcessPoolTest, IdleWorkersAreReusedBeforeNewOnesStart) {
  if (GetParam() == cf::StartMethod::kFork) {
    GTEST_SKIP() << "Incompatible with the fork start method: it starts every "
                    "worker on the first submit (CPython 3.11+, gh-90622)";
  }
  ASSERT_LE(kWorkerCount, 5);
  cf::ProcessPoolExecutor& pool = executor();
  EXPECT_EQ(pool.submit(Mul, 12, 7).result(kShortTimeout), 84);
  pool.submit(Mul, 33, 25);
  EXPECT_EQ(pool.submit(Mul, 25, 26).result(kShortTimeout), 650);
  pool.submit(Mul, 18, 29);
  EXPECT_EQ(pool.submit(Mul, 1, 2).result(kShortTimeout), 2);
  pool.submit(Mul, 0, 9);
  EXPECT_LE(pool.num_workers(), 3);
  pool.shutdown();
}

// CPython test_max_tasks_per_child: with fork it is a ValueError; otherwise a
// worker serves 3 calls, then a new one takes its place (and the old one is
// reaped).
TEST_P(CpythonProcessPoolTest, MaxTasksPerChildReplacesTheWorker) {
  if (GetParam() == cf::StartMethod::kFork) {
    try {
      cf::ProcessPoolExecutor pool(
          {.max_workers = 1, .start_method = GetParam(), .max_tasks_per_child = 3});
      FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("max_tasks_per_child is incompatible with "
                                      "the 'fork' start method"));
    }
    return;
  }
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = GetParam(), .max_tasks_per_child = 3});
  const int original_pid = pool.submit(Pid).result(kShortTimeout);
  EXPECT_EQ(pool.submit(Pid).result(kShortTimeout), original_pid);
  EXPECT_EQ(pool.num_workers(), 1);
  EXPECT_EQ(pool.submit(Pid).result(kShortTimeout), original_pid);
  const int new_pid = pool.submit(Pid).result(kShortTimeout);
  EXPECT_NE(new_pid, original_pid);
  EXPECT_EQ(pool.num_workers(), 1);
  EXPECT_TRUE(PollUntil([&] { return !IsAlive(original_pid); }))
      << "the worker that reached its limit was not reaped";
  pool.shutdown();
}

// CPython test_max_tasks_per_child_defaults_to_spawn_context: no start
// method with max_tasks_per_child means spawn; an explicit one (other than
// fork) is kept.
TEST_P(CpythonProcessPoolTest, MaxTasksPerChildDefaultsToSpawn) {
  cf::ProcessPoolExecutor defaulted({.max_workers = 1, .max_tasks_per_child = 3});
  EXPECT_EQ(defaulted.start_method(), cf::StartMethod::kSpawn);
  if (GetParam() != cf::StartMethod::kFork) {
    cf::ProcessPoolExecutor chosen(
        {.max_workers = 1, .start_method = GetParam(), .max_tasks_per_child = 3});
    EXPECT_EQ(chosen.start_method(), GetParam());
  }
}

// CPython test_max_tasks_per_child_pending_tasks_gh115634 (main): a backlog
// queued while workers reach their limit still runs (no stale idle count
// keeping the replacement from starting).
TEST_P(CpythonProcessPoolTest, MaxTasksPerChildWithABacklogDoesNotDeadlock) {
  SKIP_FOR_FORK();
  struct Case {
    int max_workers, max_tasks, num_tasks;
  };
  for (Case c : {Case{1, 2, 6}, Case{2, 2, 8}}) {
    SCOPED_TRACE(testing::Message() << "max_workers=" << c.max_workers
                                    << " max_tasks=" << c.max_tasks);
    cf::ProcessPoolExecutor pool({.max_workers = c.max_workers,
                                  .start_method = GetParam(),
                                  .max_tasks_per_child = c.max_tasks});
    std::vector<cf::Future<int>> futures;
    for (int i = 0; i < c.num_tasks; ++i) futures.push_back(pool.submit(Mul, i, 2));
    for (int i = 0; i < c.num_tasks; ++i) {
      EXPECT_EQ(futures[i].result(kShortTimeout), i * 2);
    }
    pool.shutdown(/*wait=*/true, /*cancel_futures=*/true);
  }
}

// CPython test_shutdown_no_wait_max_tasks_gh119592 (main), without its
// drop_reference half (a C++ pool is never collected while referenced; its
// destructor is shutdown(wait=true)): after shutdown(wait=false), a worker
// exiting at its limit is still replaced while work remains queued.
TEST_P(CpythonProcessPoolTest, ShutdownNoWaitWithMaxTasksPerChildStillRunsQueuedCalls) {
  SKIP_FOR_FORK();
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = GetParam(), .max_tasks_per_child = 1});
  ReleaseOnExit release(dir_);
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 3; ++i) {
    futures.push_back(pool.submit(StartThenWait, dir_.path(), i, std::string("gate")));
  }
  ASSERT_GT(dir_.WaitStarted(0), 0);
  pool.shutdown(/*wait=*/false);
  dir_.Open("gate");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(futures[i].result(kShortTimeout), i);
}

// CPython test_force_shutdown_during_max_tasks_worker_exit (main): a worker
// exiting at its max_tasks_per_child limit during terminate_workers() is not
// replaced (the replacement would escape the kill); the queued calls fail
// (cf: cancelled, or BrokenProcessPool if already RUNNING) instead of running.
// Python forces the race with a private flag; here the gate opens right
// before terminate_workers(), so the first call either completes or is
// killed.
TEST_P(CpythonProcessPoolTest, ForceShutdownAsAWorkerReachesItsLimitStartsNoReplacement) {
  SKIP_FOR_FORK();
  const std::vector<pid_t> children_before = cf_process_test::ChildPids();
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = GetParam(), .max_tasks_per_child = 1});
  ReleaseOnExit release(dir_);
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 3; ++i) {
    futures.push_back(pool.submit(StartThenWait, dir_.path(), i, std::string("gate")));
  }
  ASSERT_GT(dir_.WaitStarted(0), 0);
  dir_.Open("gate");
  pool.terminate_workers();
  try {
    EXPECT_EQ(futures[0].result(kShortTimeout), 0);
  } catch (const cf::BrokenProcessPool&) {
    // Killed before it could finish: also fine.
  }
  for (int i = 1; i < 3; ++i) {
    EXPECT_TRUE(PollUntil([&] { return futures[i].done(); })) << i;
    if (!futures[i].cancelled()) {
      EXPECT_THROW(futures[i].result(), cf::BrokenProcessPool) << i;
    }
    EXPECT_FALSE(dir_.Started(i)) << "queued call " << i << " ran";
  }
  EXPECT_TRUE(PollUntil([&] { return pool.num_workers() == 0; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(pool.num_workers(), 0) << "a replacement worker was started";
  EXPECT_EQ(cf_process_test::ChildPids(), children_before);
}

// CPython test_max_tasks_early_shutdown: shutdown() right after submitting
// runs every call, through worker replacements.
TEST_P(CpythonProcessPoolTest, MaxTasksPerChildEarlyShutdownRunsEveryCall) {
  SKIP_FOR_FORK();
  cf::ProcessPoolExecutor pool(
      {.max_workers = 3, .start_method = GetParam(), .max_tasks_per_child = 1});
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(pool.submit(Mul, i, i));
  pool.shutdown();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(futures[i].result(), i * i);
}

// CPython test_force_shutdown_workers[terminate_workers, kill_workers]
// (3.14): the running call's worker gets the signal (the pool names it) and
// dies; the call never finishes.
TEST_P(CpythonProcessPoolTest, ForceShutdownSignalsTheRunningWorker) {
  for (bool use_kill : {false, true}) {
    SCOPED_TRACE(use_kill ? "kill_workers" : "terminate_workers");
    TempDir dir;
    cf::ProcessPoolExecutor pool(Options(1));
    ReleaseOnExit release(dir);
    cf::Future<int> future =
        pool.submit(StartThenWait, dir.path(), 0, std::string("gate"));
    const pid_t pid = dir.WaitStarted(0);
    ASSERT_GT(pid, 0);
    if (use_kill) {
      pool.kill_workers();
    } else {
      pool.terminate_workers();
    }
    try {
      future.result(kShortTimeout);
      ADD_FAILURE() << "expected cf::BrokenProcessPool";
    } catch (const cf::BrokenProcessPool& e) {
      EXPECT_THAT(e.what(), HasSubstr(use_kill ? "(SIGKILL)" : "(SIGTERM)"));
    }
    EXPECT_TRUE(PollUntil([&] { return !IsAlive(pid); }));
    EXPECT_FALSE(dir.Finished(0));
  }
}

// CPython test_force_shutdown_workers_dead_workers (3.14): on a pool broken
// by a worker's exit, terminate/kill_workers do not throw.
TEST_P(CpythonProcessPoolTest, ForceShutdownOfABrokenPoolDoesNotThrow) {
  for (bool use_kill : {false, true}) {
    SCOPED_TRACE(use_kill ? "kill_workers" : "terminate_workers");
    cf::ProcessPoolExecutor pool(Options(1));
    cf::Future<int> future = pool.submit(ExitWith, 1);
    EXPECT_THROW(future.result(kShortTimeout), cf::BrokenProcessPool);
    EXPECT_NO_THROW(use_kill ? pool.kill_workers() : pool.terminate_workers());
  }
}

// CPython test_force_shutdown_workers_not_started_yet (3.14): with no worker
// started, terminate/kill_workers signal nothing and start nothing.
TEST_P(CpythonProcessPoolTest, ForceShutdownBeforeAnyWorkerStartedIsANoOp) {
  for (bool use_kill : {false, true}) {
    SCOPED_TRACE(use_kill ? "kill_workers" : "terminate_workers");
    const std::vector<pid_t> children_before = cf_process_test::ChildPids();
    cf::ProcessPoolExecutor pool(Options(1));
    EXPECT_NO_THROW(use_kill ? pool.kill_workers() : pool.terminate_workers());
    EXPECT_EQ(pool.num_workers(), 0);
    EXPECT_EQ(cf_process_test::ChildPids(), children_before);
    EXPECT_THROW(pool.submit(Mul, 1, 2), std::runtime_error);
  }
}

// CPython test_force_shutdown_workers_stops_pool (3.14): afterwards submit
// raises RuntimeError (shut down, not broken) and the worker dies.
TEST_P(CpythonProcessPoolTest, ForceShutdownStopsThePool) {
  for (bool use_kill : {false, true}) {
    SCOPED_TRACE(use_kill ? "kill_workers" : "terminate_workers");
    cf::ProcessPoolExecutor pool(Options(1));
    const pid_t pid = pool.submit(Pid).result(kShortTimeout);
    if (use_kill) {
      pool.kill_workers();
    } else {
      pool.terminate_workers();
    }
    try {
      pool.submit(Mul, 1, 2);
      ADD_FAILURE() << "expected std::runtime_error";
    } catch (const cf::BrokenExecutor&) {
      ADD_FAILURE() << "shut down, not broken";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
    }
    EXPECT_TRUE(PollUntil([&] { return !IsAlive(pid); }));
  }
}

// Not in CPython (pebble's per-task timeout): a call past its own timeout
// fails with TimeoutError, its worker is killed and replaced, and the call
// running beside it and later calls are unaffected.
TEST_P(CpythonProcessPoolTest, PerCallTimeoutFailsOnlyThatCall) {
  cf::ProcessPoolExecutor pool(Options(2));
  ReleaseOnExit release(dir_);
  cf::Future<int> beside =
      pool.submit(StartThenWait, dir_.path(), 0, std::string("gate"));
  ASSERT_GT(dir_.WaitStarted(0), 0);
  cf::Future<int> hung = pool.submit({.timeout = absl::Milliseconds(300)},
                                     WaitForFile, dir_.Path("never"));
  EXPECT_THROW(hung.result(kShortTimeout), cf::TimeoutError);
  EXPECT_FALSE(beside.done());
  dir_.Open("gate");
  EXPECT_EQ(beside.result(kShortTimeout), 0);
  EXPECT_EQ(pool.submit(Mul, 6, 7).result(kShortTimeout), 42);
}

CF_INSTANTIATE_FOR_START_METHODS(CpythonExecutorTest);
CF_INSTANTIATE_FOR_START_METHODS(CpythonProcessPoolTest);

}  // namespace
