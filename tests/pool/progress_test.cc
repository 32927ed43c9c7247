// cf::ProgressBar and cf::progress(): tqdm's line, character for character
// (expected strings from tqdm 4's format_meter), redraws in place at most
// ~10 times a second on a terminal, plain lines elsewhere, nothing when
// disabled; and the adaptor over Executor::map, as_completed and imap.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"

namespace {

using cf::ProgressBar;

// What a bar wrote to a temporary file.
class Output {
 public:
  Output() : file_(std::tmpfile()) {}
  ~Output() { std::fclose(file_); }
  int fd() const { return fileno(file_); }
  std::string Text() const {
    std::string text;
    char buffer[4096];
    std::rewind(file_);
    while (std::size_t n = std::fread(buffer, 1, sizeof(buffer), file_)) {
      text.append(buffer, n);
    }
    return text;
  }

 private:
  FILE* file_;
};

int Count(const std::string& text, char c) {
  int n = 0;
  for (char x : text) n += x == c;
  return n;
}

TEST(ProgressFormatTest, MatchesTqdmsFormatMeter) {
  // tqdm.format_meter(45, 100, 1.12, ncols=60) and friends.
  EXPECT_EQ(ProgressBar::FormatMeter(45, 100, 1.12, "", "it", true, 60),
            " 45%|█████████▉            | 45/100 [00:01<00:01, 40.18it/s]");
  EXPECT_EQ(ProgressBar::FormatMeter(45, 100, 1.12, "primes", "it", true, 60),
            "primes:  45%|██████▎       | 45/100 [00:01<00:01, 40.18it/s]");
  EXPECT_EQ(ProgressBar::FormatMeter(0, 100, 0, "", "it", true, 60),
            "  0%|                               | 0/100 [00:00<?, ?it/s]");
  EXPECT_EQ(ProgressBar::FormatMeter(45, std::nullopt, 1.12, "", "it", true, 60),
            "45it [00:01, 40.18it/s]");
  EXPECT_EQ(ProgressBar::FormatMeter(100, 100, 65.0, "", "it", true, 60),
            "100%|█████████████████████| 100/100 [01:05<00:00,  1.54it/s]");
  EXPECT_EQ(ProgressBar::FormatMeter(1, 100, 4000.0, "", "it", true, 60),
            "  1%|▏              | 1/100 [1:06:40<110:00:00, 4000.00s/it]");
  EXPECT_EQ(ProgressBar::FormatMeter(3, 7, 2.5, "", "it", true, 70),
            " 43%|███████████████                    | 3/7 [00:02<00:03,  1.20it/s]");
  // Without a terminal: the same text, no bar.
  EXPECT_EQ(ProgressBar::FormatMeter(45, 100, 1.12, "primes", "it", false, 60),
            "primes:  45% 45/100 [00:01<00:01, 40.18it/s]");
}

TEST(ProgressBarTest, OnATerminalRedrawsInPlaceAtMostTenTimesASecond) {
  Output out;
  {
    ProgressBar bar({.total = 1'000'000, .fd = out.fd(), .dynamic = true,
                     .ncols = 60});
    const absl::Time start = absl::Now();
    for (int i = 0; i < 1'000'000; ++i) bar.update();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const std::string text = out.Text();
    // The first draw, one per 100 ms at most, and the one at 100%.
    EXPECT_LE(Count(text, '\r'), 2 + static_cast<int>(seconds * 10) + 1) << text;
    EXPECT_EQ(Count(text, '\n'), 0);
  }
  const std::string text = out.Text();
  EXPECT_EQ(text.substr(0, 5), "\r  0%");
  EXPECT_EQ(text.back(), '\n');  // close() ends the line
  EXPECT_NE(text.find("100%|"), std::string::npos);
  EXPECT_NE(text.find("| 1000000/1000000 ["), std::string::npos);
}

TEST(ProgressBarTest, OffATerminalWritesPlainLinesAtTheStartPeriodicallyAndAtTheEnd) {
  Output out;
  {
    ProgressBar bar({.desc = "work", .total = 4, .fd = out.fd(), .dynamic = false,
                     .line_interval = absl::Milliseconds(20)});
    bar.update();
    absl::SleepFor(absl::Milliseconds(30));
    bar.update();  // past the interval: a line
    bar.update(2);
  }
  const std::string text = out.Text();
  EXPECT_EQ(Count(text, '\r'), 0) << text;
  EXPECT_EQ(Count(text, '\n'), 3) << text;
  EXPECT_EQ(text.rfind("work:   0% 0/4 [00:00<?, ?it/s]\n", 0), 0u) << text;
  EXPECT_NE(text.find("work:  50% 2/4 ["), std::string::npos) << text;
  EXPECT_NE(text.find("work: 100% 4/4 ["), std::string::npos) << text;
}

TEST(ProgressBarTest, DisabledWritesNothing) {
  Output out;
  {
    ProgressBar bar({.total = 10, .fd = out.fd(), .disable = true});
    for (int i = 0; i < 10; ++i) bar.update();
    bar.close();
  }
  EXPECT_EQ(out.Text(), "");
}

int Twice(int x) { return 2 * x; }

TEST(ProgressRangeTest, CountsExecutorMapAsCompletedAndImap) {
  Output out;
  cf::ThreadPoolExecutor threads(2);
  std::vector<int> in = {1, 2, 3, 4, 5};
  int sum = 0;
  for (int r : cf::progress(threads.map(Twice, in),
                            {.desc = "map", .total = 5, .fd = out.fd(),
                             .dynamic = false})) {
    sum += r;
  }
  EXPECT_EQ(sum, 30);
  std::vector<cf::Future<int>> futures;
  for (int x : in) futures.push_back(threads.submit(Twice, x));
  int done = 0;
  for (cf::Future<int> f : cf::progress(cf::as_completed(futures),
                                        {.desc = "futures", .total = 5,
                                         .fd = out.fd(), .dynamic = false})) {
    done += f.done();
  }
  EXPECT_EQ(done, 5);
  cf::Pool pool(2);
  for (int r : cf::progress(pool.imap(Twice, in),
                            {.desc = "imap", .total = 5, .fd = out.fd(),
                             .dynamic = false})) {
    EXPECT_GT(r, 0);
  }
  // A sized range gives its own total.
  for (int x : cf::progress(in, {.desc = "vector", .fd = out.fd(), .dynamic = false})) {
    EXPECT_GT(x, 0);
  }
  const std::string text = out.Text();
  for (const char* line : {"map: 100% 5/5 [", "futures: 100% 5/5 [",
                           "imap: 100% 5/5 [", "vector: 100% 5/5 ["}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

TEST(ProgressRangeTest, PoolMapsTakeItAsAnOption) {
  Output out;
  cf::Pool pool(2);
  std::vector<int> in(100, 1);
  std::vector<int> r = pool.map(Twice, in,
                                {.chunksize = 10,
                                 .progress = cf::ProgressOptions{
                                     .desc = "pool", .fd = out.fd(), .dynamic = false}});
  EXPECT_EQ(r, std::vector<int>(100, 2));
  int n = 0;
  for (int x : pool.imap_unordered(Twice, in,
                                   {.progress = cf::ProgressOptions{
                                        .desc = "unordered", .fd = out.fd(),
                                        .dynamic = false}})) {
    n += x;
  }
  EXPECT_EQ(n, 200);
  const std::string text = out.Text();
  EXPECT_NE(text.find("pool: 100% 100/100 ["), std::string::npos) << text;
  EXPECT_NE(text.find("unordered: 100% 100/100 ["), std::string::npos) << text;
}

}  // namespace
