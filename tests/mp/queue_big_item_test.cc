// A 256 MiB item through a cf::Queue, put by a child that exits before anyone
// reads it; the queue goes on after it. Its own target:
// under ThreadSanitizer every copy of 256 MiB is checked byte by byte, which
// takes half a minute and tells nothing about races (tagged no_tsan).
#include <cstring>
#include <string>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"

namespace {

// Cheap to make for 256 MiB: a fill byte and each page's number.
std::string BigItem(std::size_t size) {
  std::string s(size, 'q');
  for (std::size_t page = 0; page * 4096 + 8 <= size; ++page) {
    std::memcpy(s.data() + page * 4096, &page, sizeof(page));
  }
  return s;
}

void PutBig(cf::Queue<std::string> q, std::size_t size) { q.put(BigItem(size)); }

// Once, re-executed (the other start methods pass the queue the same way).
TEST(BigQueueItemTest, A256MiBItem) {
  constexpr std::size_t kSize = std::size_t{256} << 20;
  cf::Queue<std::string> q;
  cf::Process p({.start_method = cf::StartMethod::kSpawn}, PutBig, q, kSize);
  p.start();
  p.join();  // the child exits before anyone reads its item
  EXPECT_EQ(p.exitcode(), 0);
  const std::string got = q.get(absl::Seconds(60));
  ASSERT_EQ(got.size(), kSize);
  EXPECT_TRUE(got == BigItem(kSize));
  q.put("small");  // and the queue goes on
  EXPECT_EQ(q.get(), "small");
}

}  // namespace
