// cf::parallel_map and cf::parallel_starmap: parmap's one-liners, with its
// options (processes, chunksize, a pool or executor to reuse, serial mode,
// a progress bar), extras sent once per chunk, and map's exception rule.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cf.h"
#include "gtest/gtest.h"
#include "tests/pool/pool_test_util.h"

namespace {

using cf_pool_test::Pid;
using cf_pool_test::ThrowAt3;

// An extra argument whose serializations in this process are counted.
std::atomic<int> serialized{0};
struct Counted {
  int value = 0;
  template <class Archive>
  void save(Archive& archive) const {
    if (getpid() == parent) ++serialized;
    archive(value);
  }
  template <class Archive>
  void load(Archive& archive) {
    archive(value);
  }
  static inline pid_t parent = getpid();
};

int AffineCounted(int x, const Counted& a, const int& b) { return a.value * x + b; }
int Affine(int x, int a, int b) { return a * x + b; }
int AddThree(int x, int y, int z) { return x + y + z; }
std::string Label(int x, const std::string& prefix) {
  return prefix + std::to_string(x);
}

std::vector<int> Range(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

class ParallelMapTest : public cf_pool_test::PoolTestBase {
 protected:
  cf::ParallelMapOptions MapOptions() const {
    return {.processes = 2, .start_method = GetParam()};
  }
};

TEST_P(ParallelMapTest, EqualsTheListComprehension) {
  // parmap.map(f, xs, a, b) == [f(x, a, b) for x in xs]
  EXPECT_EQ(cf::parallel_map(MapOptions(), Affine, Range(10), 3, 1),
            (std::vector<int>{1, 4, 7, 10, 13, 16, 19, 22, 25, 28}));
  EXPECT_EQ(cf::parallel_map(MapOptions(), Label, std::vector<int>{1, 2},
                             std::string("n")),
            (std::vector<std::string>{"n1", "n2"}));
  // parmap.starmap(f, pairs, c) == [f(*p, c) for p in pairs]
  EXPECT_EQ(cf::parallel_starmap(MapOptions(), AddThree,
                                 std::vector<std::pair<int, int>>{{1, 2}, {3, 4}},
                                 100),
            (std::vector<int>{103, 107}));
  EXPECT_TRUE(cf::parallel_map(MapOptions(), Affine, std::vector<int>{}, 1, 2).empty());
}

TEST_P(ParallelMapTest, SendsTheExtrasOncePerChunkNotOncePerElement) {
  serialized = 0;
  const std::vector<int> in = Range(100);
  std::vector<int> out = cf::parallel_map(
      [&] {
        cf::ParallelMapOptions o = MapOptions();
        o.chunksize = 10;
        return o;
      }(),
      AffineCounted, in, Counted{2}, 5);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i], 2 * i + 5);
  EXPECT_EQ(serialized.load(), 10);  // 10 chunks, not 100 elements
}

TEST_P(ParallelMapTest, RethrowsTheFirstExceptionAsPoolMapDoes) {
  EXPECT_THROW(cf::parallel_map(MapOptions(), ThrowAt3, Range(6)),
               std::invalid_argument);
}

TEST_P(ParallelMapTest, ReusesAGivenPoolAndLeavesItOpen) {
  cf::Pool pool(Options(2));
  std::set<int> workers;
  for (int pid : pool.map(Pid, Range(20), {.chunksize = 1})) workers.insert(pid);
  cf::ParallelMapOptions options{.chunksize = 1, .pool = &pool};
  for (int pid : cf::parallel_map(options, Pid, Range(20))) {
    EXPECT_TRUE(workers.contains(pid)) << pid;
  }
  EXPECT_EQ(pool.apply(cf_pool_test::Square, 5), 25);  // still running
}

TEST_P(ParallelMapTest, RunsOnAGivenProcessPoolExecutor) {
  cf::ProcessPoolExecutor executor({.max_workers = 2, .start_method = GetParam()});
  std::vector<int> out = cf::parallel_map({.executor = &executor}, Affine, Range(9), 2, 0);
  EXPECT_EQ(out, (std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14, 16}));
  for (int pid : cf::parallel_map({.executor = &executor}, Pid, Range(4))) {
    EXPECT_NE(pid, getpid());
  }
}

TEST(ParallelMapLocalTest, ThreadsAndSerialModeRunAnyCallableHere) {
  const int k = 7;  // a capturing lambda: no process boundary to cross
  cf::ThreadPoolExecutor threads(2);
  EXPECT_EQ(cf::parallel_map({.executor = &threads},
                             [k](int x, int y) { return x * k + y; }, Range(5), 1),
            (std::vector<int>{1, 8, 15, 22, 29}));
  // parmap's pm_parallel=False: a plain loop in this process.
  EXPECT_EQ(cf::parallel_map({.parallel = false}, Pid, Range(3)),
            std::vector<int>(3, getpid()));
  EXPECT_EQ(cf::parallel_starmap({.parallel = false},
                                 [k](int a, int b) { return a + b + k; },
                                 std::vector<std::tuple<int, int>>{{1, 1}}),
            (std::vector<int>{9}));
  EXPECT_THROW(cf::parallel_map({.parallel = false}, ThrowAt3, Range(5)),
               std::invalid_argument);
}

TEST(ParallelMapLocalTest, ACallThatCannotCrossToAWorkerSaysWhatToDo) {
  const int k = 7;
  try {
    cf::parallel_map([k](int x) { return x + k; }, Range(3));
    ADD_FAILURE() << "a capturing lambda went to a worker process";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(".executor"), std::string::npos)
        << e.what();
  }
}

TEST(ParallelMapLocalTest, DefaultsToAPoolOfItsOwnThatItClosesAndJoins) {
  std::set<int> pids;
  for (int pid : cf::parallel_map(Pid, Range(50))) pids.insert(pid);
  EXPECT_FALSE(pids.contains(getpid()));
  EXPECT_LE(static_cast<int>(pids.size()), cf::internal::UsableCpus());
  EXPECT_TRUE(cf_process_test::ChildPids().empty());  // joined
}

TEST(ParallelMapLocalTest, DrawsAProgressBarWhenAsked) {
  FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  std::vector<int> r = cf::parallel_map(
      {.processes = 2,
       .chunksize = 5,
       .progress = cf::ProgressOptions{.desc = "affine",
                                       .fd = fileno(out),
                                       .dynamic = false}},
      Affine, Range(20), 1, 0);
  EXPECT_EQ(r.size(), 20u);
  std::rewind(out);
  char buffer[4096] = {};
  const std::size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, out);
  std::fclose(out);
  const std::string text(buffer, n);
  EXPECT_NE(text.find("affine:   0% 0/20 [00:00<?, ?it/s]\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("affine: 100% 20/20 ["), std::string::npos) << text;
}

CF_INSTANTIATE_FOR_START_METHODS(ParallelMapTest);

}  // namespace
