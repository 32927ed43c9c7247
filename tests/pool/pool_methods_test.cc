// cf::Pool's eight methods, per start method, with Python's values, orders
// and messages (each checked against python3's multiprocessing.Pool).
#include <array>
#include <optional>
#include <ranges>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/pool/pool_test_util.h"

namespace {

using cf_pool_test::Add;
using cf_pool_test::ExpectThrowWithMessage;
using cf_pool_test::Name;
using cf_pool_test::Nothing;
using cf_pool_test::Pid;
using cf_pool_test::Square;
using cf_pool_test::ThrowAt3;
using cf_pool_test::WaitGate;
using cf_process_test::ReleaseOnExit;
using cf_process_test::TempDir;

int Power(int base, int exponent) {
  int r = 1;
  for (int i = 0; i < exponent; ++i) r *= base;
  return r;
}

std::vector<int> Range(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

class PoolMethodsTest : public cf_pool_test::PoolTestBase {};

TEST_P(PoolMethodsTest, ApplyReturnsTheValueAndRethrowsTheTasksException) {
  cf::Pool pool(Options());
  EXPECT_EQ(pool.apply(Square, 7), 49);
  pool.apply(Nothing, 1);  // void: returns nothing, like Python's None
  ExpectThrowWithMessage<std::invalid_argument>([&] { pool.apply(ThrowAt3, 3); },
                                                "bad 3");
}

TEST_P(PoolMethodsTest, ApplyAsyncGetWaitReadySuccessfulFollowPython) {
  TempDir dir;
  cf::Pool pool(Options());
  ReleaseOnExit release(dir);
  cf::AsyncResult<int> r = pool.apply_async(WaitGate, dir.Path("gate"), 5);
  EXPECT_FALSE(r.ready());
  EXPECT_THROW(r.get(absl::Milliseconds(10)), cf::TimeoutError);
  EXPECT_FALSE(r.wait(absl::Milliseconds(10)));
  try {
    r.successful();
    ADD_FAILURE() << "successful() before ready";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(testing::internal::RE::FullMatch(
        e.what(), "<cf::AsyncResult object at 0x[0-9a-f]+> not ready"))
        << e.what();
  }
  dir.Open("gate");
  EXPECT_TRUE(r.wait());
  EXPECT_TRUE(r.ready());
  EXPECT_EQ(r.get(), 5);
  EXPECT_TRUE(r.successful());

  cf::AsyncResult<int> bad = pool.apply_async(ThrowAt3, 3);
  EXPECT_THROW(bad.get(), std::invalid_argument);
  EXPECT_FALSE(bad.successful());
  cf::AsyncResult<void> none = pool.apply_async(Nothing, 0);
  none.get();
  EXPECT_TRUE(none.successful());
}

TEST_P(PoolMethodsTest, MapKeepsInputOrderAndChunksByPythonsDefault) {
  cf::Pool pool(Options(2));
  const std::vector<int> in = Range(100);
  std::vector<int> squares = pool.map(Square, in);
  ASSERT_EQ(squares.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(squares[i], i * i);
  // Python's chunksize: ceil(100 / (4 * 2)) = 13; a chunk runs in one worker.
  std::vector<int> pids = pool.map(Pid, in);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(pids[i], pids[i / 13 * 13]) << i;
  // An explicit chunksize of 1 sends each input alone; any range works.
  EXPECT_EQ(pool.map(Square, std::views::iota(0, 5), {.chunksize = 1}),
            (std::vector<int>{0, 1, 4, 9, 16}));
  // A void function maps to Python's None.
  EXPECT_EQ(pool.map(Nothing, std::vector<int>{2, 3, 4}),
            std::vector<std::monostate>(3));
  EXPECT_TRUE(pool.map(Square, std::vector<int>{}).empty());
}

TEST_P(PoolMethodsTest, ChunksizeBelowOneIsRejectedWithPythonsMessage) {
  cf::Pool pool(Options(1));
  const std::vector<int> in = {1};
  ExpectThrowWithMessage<std::invalid_argument>(
      [&] { pool.imap(Square, in, {.chunksize = 0}); },
      "Chunksize must be 1+, not 0");
  ExpectThrowWithMessage<std::invalid_argument>(
      [&] { pool.map(Square, in, {.chunksize = -2}); },
      "Chunksize must be 1+, not -2");
}

int WaitGateThenThrowAt3(std::string gate, int x) {
  return ThrowAt3(WaitGate(std::move(gate), x));
}

TEST_P(PoolMethodsTest, MapRaisesTheFirstExceptionOnceEveryTaskIsDone) {
  TempDir dir;
  cf::Pool pool(Options(2));
  ReleaseOnExit release(dir);
  // Two chunks: {0, 1, 2, 3} fails at 3 at once; {4, 5} waits on a gate.
  const std::string gate = dir.Path("gate");
  auto bad = pool.starmap_async(
      WaitGateThenThrowAt3,
      std::vector<std::tuple<std::string, int>>{
          {"", 0}, {"", 1}, {"", 2}, {"", 3}, {gate, 4}, {gate, 5}},
      {.chunksize = 4});
  // Python's MapResult: ready only once every chunk is done.
  EXPECT_FALSE(bad.wait(absl::Milliseconds(50)));
  EXPECT_FALSE(bad.ready());
  dir.Open("gate");
  ExpectThrowWithMessage<std::invalid_argument>([&] { bad.get(); }, "bad 3");
  EXPECT_FALSE(bad.successful());
  ExpectThrowWithMessage<std::invalid_argument>(
      [&] { pool.map(ThrowAt3, Range(6)); }, "bad 3");
  auto good = pool.map_async(Square, Range(6), {.chunksize = 2});
  EXPECT_EQ(good.get(), (std::vector<int>{0, 1, 4, 9, 16, 25}));
  EXPECT_TRUE(good.successful());
}

TEST_P(PoolMethodsTest, StarmapUnpacksTuplesPairsAndArrays) {
  cf::Pool pool(Options());
  // Python: starmap(pow, [(2, 3), (3, 2)]) == [8, 9].
  EXPECT_EQ(pool.starmap(Power, std::vector<std::pair<int, int>>{{2, 3}, {3, 2}}),
            (std::vector<int>{8, 9}));
  EXPECT_EQ(pool.starmap(Add, std::vector<std::tuple<int, int>>{{1, 2}}),
            (std::vector<int>{3}));
  EXPECT_EQ(pool.starmap(Add, std::vector<std::array<int, 2>>{{4, 5}}),
            (std::vector<int>{9}));
  auto r = pool.starmap_async(Power, std::vector<std::pair<int, int>>{{2, 10}});
  EXPECT_EQ(r.get(), (std::vector<int>{1024}));
}

TEST_P(PoolMethodsTest, ImapYieldsInOrderAndRaisesAtTheFailingPosition) {
  cf::Pool pool(Options());
  // Python: [0, 1, 2, 'E:bad 3', 4, 5], with next() going on past the error.
  for (int chunksize : {1, 4}) {
    auto it = pool.imap(ThrowAt3, Range(6), {.chunksize = chunksize});
    std::vector<std::string> got;
    while (true) {
      try {
        std::optional<int> v = it.next();
        if (!v) break;
        got.push_back(std::to_string(*v));
      } catch (const std::invalid_argument& e) {
        got.push_back(std::string("E:") + e.what());
      }
    }
    EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2", "E:bad 3", "4", "5"}))
        << "chunksize " << chunksize;
  }
  // range-for: the exception surfaces at the dereference.
  std::vector<int> squares;
  for (int v : pool.imap(Square, Range(20), {.chunksize = 3})) squares.push_back(v);
  ASSERT_EQ(squares.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(squares[i], i * i);
  EXPECT_TRUE(pool.imap(Square, std::vector<int>{}).next() == std::nullopt);
}

TEST_P(PoolMethodsTest, ImapUnorderedYieldsInCompletionOrder) {
  TempDir dir;
  cf::Pool pool(Options(2));
  ReleaseOnExit release(dir);
  std::vector<std::tuple<std::string, int>> inputs = {
      {dir.Path("gate"), 0}, {"", 1}, {"", 2}, {"", 3}};
  // Input 0 blocks one worker; the other finishes 1, 2, 3 first.
  auto it = pool.imap_unordered(
      [](std::tuple<std::string, int> t) {
        return WaitGate(std::get<0>(t), std::get<1>(t));
      },
      inputs);
  std::multiset<int> first;
  for (int i = 0; i < 3; ++i) first.insert(*it.next(absl::Seconds(30)));
  EXPECT_EQ(first, (std::multiset<int>{1, 2, 3}));
  EXPECT_THROW(it.next(absl::Milliseconds(20)), cf::TimeoutError);
  dir.Open("gate");
  EXPECT_EQ(it.next(), 0);
  EXPECT_EQ(it.next(), std::nullopt);
}

TEST_P(PoolMethodsTest, ImapNextTimesOutWithoutConsuming) {
  TempDir dir;
  cf::Pool pool(Options(1));
  ReleaseOnExit release(dir);
  auto it = pool.imap(
      [](std::string gate) { return WaitGate(gate, 7); },
      std::vector<std::string>{dir.Path("gate"), ""});
  // Python: it.next(timeout) raises multiprocessing.TimeoutError.
  EXPECT_THROW(it.next(absl::Milliseconds(20)), cf::TimeoutError);
  dir.Open("gate");
  EXPECT_EQ(it.next(absl::Seconds(30)), 7);
  EXPECT_EQ(it.next(), 7);
  EXPECT_EQ(it.next(), std::nullopt);
}

TEST_P(PoolMethodsTest, ImapReadsAnEndlessInputOnlyAsFarAsItIsConsumed) {
  cf::Pool pool(Options(2));
  int read = 0;
  auto endless = std::views::iota(0) | std::views::transform([&read](int i) {
                   ++read;
                   return i;
                 });
  int n = 0;
  for (int v : pool.imap_unordered(Square, endless, {.buffersize = 8})) {
    EXPECT_GE(v, 0);
    if (++n == 100) break;
  }
  EXPECT_LE(read, 100 + 8);  // Python's imap would read forever
}

TEST_P(PoolMethodsTest, ImapDeliversAnExceptionFromTheInputAsAResult) {
  cf::Pool pool(Options(1));
  auto failing = std::views::iota(0, 10) | std::views::transform([](int i) {
                   if (i == 3) throw std::runtime_error("input broke");
                   return i;
                 });
  auto it = pool.imap(Square, failing);
  EXPECT_EQ(it.next(), 0);
  EXPECT_EQ(it.next(), 1);
  EXPECT_EQ(it.next(), 4);
  ExpectThrowWithMessage<std::runtime_error>([&] { it.next(); }, "input broke");
  EXPECT_EQ(it.next(), std::nullopt);
}

TEST_P(PoolMethodsTest, WorkersStartEagerlyWithPythonsNames) {
  cf::Pool pool(Options(2));
  if (GetParam() != cf::StartMethod::kForkServer) {  // those are the server's
    EXPECT_TRUE(cf_process_test::PollUntil(
        [] { return cf_process_test::ChildPids().size() == 2; }))
        << "before any task";
  }
  // Python: ForkPoolWorker-N, SpawnPoolWorker-N, ForkServerPoolWorker-N.
  const std::string prefix =
      cf_process_test::StartMethodName(GetParam()) + "PoolWorker-";
  std::set<std::string> names;
  for (const std::string& name : pool.map(Name, Range(40), {.chunksize = 1})) {
    EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
    names.insert(name);
  }
  EXPECT_LE(names.size(), 2u);
  EXPECT_EQ(cf::current_process().name(), "MainProcess");
  EXPECT_EQ(pool.processes(), 2);
  EXPECT_EQ(pool.start_method(), GetParam());
}

int ReadConfig(int) {
  const char* value = std::getenv("CF_POOL_TEST_INIT");
  return value == nullptr ? -1 : std::atoi(value);
}
void SetConfig(int value) {
  setenv("CF_POOL_TEST_INIT", std::to_string(value).c_str(), 1);
}

TEST_P(PoolMethodsTest, InitializerRunsInEveryWorkerFirst) {
  cf::Pool pool({.processes = 2,
                 .initializer = {SetConfig, 42},
                 .start_method = GetParam()});
  for (int v : pool.map(ReadConfig, Range(8), {.chunksize = 1})) EXPECT_EQ(v, 42);
}

TEST_P(PoolMethodsTest, MaxtasksperchildReplacesAWorkerAfterItsTasks) {
  if (GetParam() == cf::StartMethod::kFork) {
    // cf never forks a replacement from a parent with threads.
    EXPECT_THROW(cf::Pool({.processes = 1, .maxtasksperchild = 2,
                           .start_method = GetParam()}),
                 std::invalid_argument);
    return;
  }
  cf::Pool pool({.processes = 1, .maxtasksperchild = 2, .start_method = GetParam()});
  std::vector<int> pids;
  for (int i = 0; i < 6; ++i) pids.push_back(pool.apply(Pid, i));
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_NE(pids[1], pids[2]);
  EXPECT_EQ(pids[2], pids[3]);
  EXPECT_NE(pids[3], pids[4]);
  // A map chunk counts as one task, as in Python.
  std::vector<int> chunked = pool.map(Pid, Range(4), {.chunksize = 4});
  EXPECT_EQ(std::set<int>(chunked.begin(), chunked.end()).size(), 1u);
}

TEST(PoolOptionsTest, BadValuesGetPythonsMessages) {
  ExpectThrowWithMessage<std::invalid_argument>(
      [] { cf::Pool pool(0); }, "Number of processes must be at least 1");
  ExpectThrowWithMessage<std::invalid_argument>(
      [] { cf::Pool pool({.processes = -1}); },
      "Number of processes must be at least 1");
  ExpectThrowWithMessage<std::invalid_argument>(
      [] { cf::Pool pool({.processes = 1, .maxtasksperchild = 0}); },
      "maxtasksperchild must be a positive int or None");
}

TEST(PoolOptionsTest, DefaultsToTheUsableCpusAndFork) {
  cf::Pool pool;
  EXPECT_EQ(pool.processes(), cf::internal::UsableCpus());
  EXPECT_EQ(pool.start_method(), cf::StartMethod::kFork);
  cf::Pool spawning({.processes = 1, .maxtasksperchild = 1});
  EXPECT_EQ(spawning.start_method(), cf::StartMethod::kSpawn);
}

CF_INSTANTIATE_FOR_START_METHODS(PoolMethodsTest);

}  // namespace
