// Dropping a chunked map's result cancels the chunks not yet running, as
// Python's map generator cancels its pending futures when it is closed: the
// inputs of cancelled chunks never run. Each call appends its input to a file,
// so the test counts how many ran.
//
// Python 3.11, ProcessPoolExecutor(1), map over 20 inputs with chunksize=2,
// one next() and the generator dropped: 8 of 20 ran (2 to 12 over runs and
// start methods), the chunks already handed to the call queue. cf marks
// max_workers + 1 tasks RUNNING on submit, as Python does: with one worker
// and calls of 20 ms, the first two chunks run, and the next one at most.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace {

// Appends "x\n" to `path` (one write, O_APPEND: whole lines), then takes a
// while, so that the parent drops the map long before the worker is idle.
int Record(std::string path, int x) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  const std::string line = std::to_string(x) + "\n";
  const ssize_t written = write(fd, line.data(), line.size());
  close(fd);
  if (written != static_cast<ssize_t>(line.size())) {
    throw std::runtime_error("short write to " + path);
  }
  absl::SleepFor(absl::Milliseconds(20));
  return x;
}

int CountLines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

class MapChunkCancelTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessPoolOptions Options(int max_workers) const {
    return {.max_workers = max_workers, .start_method = GetParam()};
  }

  // Runs map(Record, 0..19) with `chunksize` on one worker, reads `read`
  // results, drops the rest, and returns how many inputs ran.
  int RanAfterDropping(int chunksize, int read) {
    cf_process_test::ScopedTempDir dir;
    const std::string path = dir.Path("ran");
    std::vector<int> inputs(20);
    std::iota(inputs.begin(), inputs.end(), 0);
    std::vector<std::string> paths(inputs.size(), path);
    {
      cf::ProcessPoolExecutor pool(Options(1));
      {
        auto results = pool.map(Record, paths, inputs,
                                {.chunksize = chunksize});
        auto it = results.begin();
        for (int i = 0; i < read; ++i, ++it) {
          EXPECT_EQ(*it, i);
        }
      }  // dropped: the chunks not yet running are cancelled
      pool.shutdown(/*wait=*/true);
    }
    return CountLines(path);
  }
};

TEST_P(MapChunkCancelTest, DroppingAChunkedMapCancelsItsPendingChunks) {
  const int ran = RanAfterDropping(/*chunksize=*/2, /*read=*/1);
  EXPECT_GE(ran, 2);  // the first chunk, whose result was read
  EXPECT_LE(ran, 6);  // three chunks of two; all 20 before the fix
}

TEST_P(MapChunkCancelTest, DroppingAfterSomeResultsCancelsTheRest) {
  const int ran = RanAfterDropping(/*chunksize=*/3, /*read=*/4);
  EXPECT_GE(ran, 6);   // the two chunks that held the four results
  EXPECT_LE(ran, 12);  // and two more at most, of seven
}

TEST_P(MapChunkCancelTest, ChunksNeverIteratedAllRun) {
  // Python: a map result never iterated cancels nothing (its generator body
  // never ran), chunked or not.
  cf_process_test::ScopedTempDir dir;
  const std::string path = dir.Path("ran");
  std::vector<int> inputs(6);
  std::iota(inputs.begin(), inputs.end(), 0);
  std::vector<std::string> paths(inputs.size(), path);
  {
    cf::ProcessPoolExecutor pool(Options(1));
    pool.map(Record, paths, inputs, {.chunksize = 2});
  }
  EXPECT_EQ(CountLines(path), 6);
}

INSTANTIATE_TEST_SUITE_P(
    StartMethods, MapChunkCancelTest,
    testing::ValuesIn(cf_process_test::StartMethods()),
    [](const testing::TestParamInfo<cf::StartMethod>& info) {
      return cf_process_test::StartMethodName(info.param);
    });

}  // namespace
