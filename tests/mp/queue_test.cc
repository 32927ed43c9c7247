// cf::Queue, cf::JoinableQueue and cf::SimpleQueue: Python's calls and
// messages in one process; producers and consumers in other processes under
// every start method (seed 001's program, many-to-many, a bounded queue,
// process-pool tasks); and producers SIGKILLed in the middle of a put, after
// which the consumer gets only complete items and the queue still works. (A
// 256 MiB item: queue_big_item_test.cc.)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mp/mp_test_util.h"

namespace {

using ::cf_mp_test::MessageOf;
using ::cf_mp_test::WaitFor;
using ::testing::EndsWith;
using ::testing::StartsWith;

// Seed 001's worker: counts to base_num and puts the count.
void Worker(int id, int base_num, cf::Queue<int> q) {
  (void)id;
  int sub_total = 0;
  for (int i = 0; i < base_num; ++i) sub_total += 1;
  q.put(sub_total);
}

void Produce(cf::Queue<std::int64_t> q, int first, int n) {
  for (int i = first; i < first + n; ++i) q.put(i);
}

void Consume(cf::Queue<std::int64_t> q, cf::Value<std::int64_t> sum,
             cf::Value<int> count) {
  while (true) {
    const std::int64_t item = q.get();
    if (item < 0) return;
    std::lock_guard<cf::RLock> guard(sum.get_lock());
    sum.set_value(sum.value() + item);
    count.set_value(count.value() + 1);
  }
}

void PutMany(cf::Queue<int> q, int n) {
  for (int i = 0; i < n; ++i) q.put(i);
}

int PutSquare(cf::Queue<int> q, int x) {
  q.put(x * x);
  return x;
}

std::string Pattern(std::size_t size, std::uint64_t seed) {
  std::string s(size, '\0');
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(s.data() + i, &x, std::min<std::size_t>(8, size - i));
  }
  return s;
}



struct Item {
  std::int64_t seq = 0;
  std::string payload;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(seq, payload);
  }
};

// Gets items and records the last one taken, until killed mid-get.
void ConsumeUntilKilled(cf::Queue<std::int64_t> q, cf::Value<std::int64_t> last) {
  while (true) last.set_value(q.get());
}

// A producer and a consumer that run at once, each on its own side's lock,
// through a queue small enough that each also sleeps on the other.
void ProduceRange(cf::JoinableQueue<std::int64_t> q, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) q.put(i);
}

void ConsumeAndMarkDone(cf::JoinableQueue<std::int64_t> q, std::int64_t n,
                        cf::Value<std::int64_t> sum) {
  std::int64_t total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t item = q.get();
    if (item != i) _exit(3);  // one producer: its order is kept
    total += item;
    q.task_done();
  }
  sum.set_value(total);
}

// Puts items of 1 KiB to 4 MiB forever; the test kills it mid-put.
void ProduceUntilKilled(cf::Queue<Item> q, cf::Value<int> started) {
  std::mt19937 rng(7);
  for (std::int64_t seq = 0;; ++seq) {
    const std::size_t size = std::size_t{1024} << (rng() % 13);
    q.put(Item{seq, Pattern(size, static_cast<std::uint64_t>(seq))});
    started.set_value(1);
  }
}

TEST(QueueTest, PutGetAndPythonsMessages) {
  cf::Queue<std::string> q;
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  q.put("a");
  q.put_nowait("b");
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get_nowait(), "b");
  EXPECT_THROW(q.get_nowait(), cf::Empty);
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_THROW(q.get(absl::Milliseconds(30)), cf::Empty);
  EXPECT_GE(std::chrono::steady_clock::now() - begin,
            std::chrono::milliseconds(25));
  EXPECT_EQ(MessageOf([&] { q.get(absl::Milliseconds(-1)); }),
            "'timeout' must be a non-negative number");
  EXPECT_EQ(MessageOf([&] { q.get_nowait(); }), "");  // str(queue.Empty())
  EXPECT_THAT(MessageOf([&] { q.join_thread(); }), EndsWith(" not closed"));
  q.close();
  q.join_thread();
  q.cancel_join_thread();
  EXPECT_THAT(MessageOf([&] { q.put("c"); }), StartsWith("Queue <cf::Queue object at 0x"));
  EXPECT_THAT(MessageOf([&] { q.put("c"); }), EndsWith("> is closed"));
  EXPECT_THROW(q.get(), std::invalid_argument);
}

TEST(QueueTest, BoundedQueueRaisesFull) {
  cf::Queue<int> q(1);
  EXPECT_EQ(q.maxsize(), 1);
  q.put(1);
  EXPECT_TRUE(q.full());
  EXPECT_THROW(q.put_nowait(2), cf::Full);
  EXPECT_THROW(q.put(2, absl::Milliseconds(20)), cf::Full);
  std::thread getter([&] {
    usleep(50 * 1000);
    EXPECT_EQ(q.get(), 1);
  });
  q.put(2, absl::Seconds(10));  // waits for the getter
  getter.join();
  EXPECT_EQ(q.get(), 2);
}

TEST(QueueTest, CopiesAreTheSameQueueAndStructsCross) {
  cf::Queue<std::vector<std::string>> q;
  auto copy = q;
  copy.put({"x", "y"});
  EXPECT_EQ(q.get(), (std::vector<std::string>{"x", "y"}));
}

TEST(JoinableQueueTest, TaskDoneAndJoin) {
  cf::JoinableQueue<int> q;
  EXPECT_EQ(MessageOf([&] { q.task_done(); }),
            "task_done() called too many times");
  q.put(1);
  q.put(2);
  std::thread consumer([&] {
    for (int i = 0; i < 2; ++i) {
      q.get();
      usleep(20 * 1000);
      q.task_done();
    }
  });
  const auto begin = std::chrono::steady_clock::now();
  q.join();
  EXPECT_GE(std::chrono::steady_clock::now() - begin,
            std::chrono::milliseconds(35));
  consumer.join();
  q.join();  // nothing left: returns at once
}

TEST(SimpleQueueTest, PutGetEmpty) {
  cf::SimpleQueue<double> q;
  EXPECT_TRUE(q.empty());
  q.put(1.5);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.get(), 1.5);
  q.close();
  EXPECT_THROW(q.put(1), std::invalid_argument);
}

class CrossProcessQueueTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessOptions Options() { return {.start_method = GetParam()}; }
};

// Seed 001's program: the children put, the parent joins them first, then
// reads (Python's queue needs the items to fit the pipe for this order).
TEST_P(CrossProcessQueueTest, SeedProgramSumsTheChildrensCounts) {
  cf::Queue<int> q;
  std::vector<cf::Process> processes;
  for (int i = 0; i < 5; ++i) {
    processes.emplace_back(
        cf::ProcessOptions{.name = std::to_string(i), .start_method = GetParam()},
        Worker, i, 10000, q);
    processes.back().start();
  }
  for (cf::Process& p : processes) {
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  }
  int total = 0;
  while (!q.empty()) total += q.get();
  EXPECT_EQ(total, 50000);
}

TEST_P(CrossProcessQueueTest, ManyProducersAndConsumers) {
  cf::Queue<std::int64_t> q;
  cf::Value<std::int64_t> sum(0);
  cf::Value<int> count(0);
  constexpr int kPerProducer = 5000;
  std::vector<cf::Process> producers, consumers;
  for (int i = 0; i < 2; ++i) {
    producers.emplace_back(Options(), Produce, q, i * kPerProducer, kPerProducer);
    consumers.emplace_back(Options(), Consume, q, sum, count);
  }
  for (auto& p : producers) p.start();
  for (auto& c : consumers) c.start();
  for (auto& p : producers) p.join();
  for (std::size_t i = 0; i < consumers.size(); ++i) q.put(-1);
  for (auto& c : consumers) {
    c.join();
    EXPECT_EQ(c.exitcode(), 0);
  }
  const std::int64_t n = 2 * kPerProducer;
  EXPECT_EQ(count.value(), n);
  EXPECT_EQ(sum.value(), n * (n - 1) / 2);
}

TEST_P(CrossProcessQueueTest, ABoundedQueueHoldsBackItsProducer) {
  cf::Queue<int> q(2);
  cf::Process p(Options(), PutMany, q, 50);
  p.start();
  ASSERT_TRUE(WaitFor([&] { return q.full(); }));
  usleep(20 * 1000);
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_TRUE(p.is_alive());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(q.get(absl::Seconds(10)), i);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(CrossProcessQueueTest, PoolTasksPutOnTheQueue) {
  cf::Queue<int> q;
  cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = GetParam()});
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 10; ++i) futures.push_back(pool.submit(PutSquare, q, i));
  for (auto& f : futures) f.result();
  int total = 0;
  for (int i = 0; i < 10; ++i) total += q.get(absl::Seconds(10));
  EXPECT_EQ(total, 285);
  EXPECT_TRUE(q.empty());
}

TEST_P(CrossProcessQueueTest, AProducerKilledMidPutLeavesOnlyWholeItems) {
  cf::Queue<Item> q;
  for (int round = 0; round < 3; ++round) {
    cf::Value<int> started(0);
    cf::Process p(Options(), ProduceUntilKilled, q, started);
    p.start();
    ASSERT_TRUE(WaitFor([&] { return started.value() == 1; }));
    usleep(static_cast<useconds_t>(2000 + 7919 * round));
    p.kill();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGKILL);
    std::int64_t expected = 0;
    while (true) {
      Item item;
      try {
        item = q.get(absl::Milliseconds(100));
      } catch (const cf::Empty&) {
        break;
      }
      ASSERT_EQ(item.seq, expected) << "an item was lost or repeated";
      ASSERT_TRUE(item.payload ==
                  Pattern(item.payload.size(),
                          static_cast<std::uint64_t>(item.seq)))
          << "torn item " << item.seq;
      ++expected;
    }
    EXPECT_GT(expected, 0);
    q.put(Item{-1, "after"});
    EXPECT_EQ(q.get(absl::Seconds(5)).payload, "after");
    EXPECT_TRUE(q.empty());
  }
}

TEST_P(CrossProcessQueueTest, AConsumerKilledMidGetLosesAtMostTheItemItWasTaking) {
  constexpr std::int64_t kItems = 400000;
  for (int round = 0; round < 3; ++round) {
    cf::Queue<std::int64_t> q;
    for (std::int64_t i = 0; i < kItems; ++i) q.put(i);
    cf::Value<std::int64_t> last(-1, {.lock = false});
    cf::Process p(Options(), ConsumeUntilKilled, q, last);
    p.start();
    ASSERT_TRUE(WaitFor([&] { return last.value() >= 0; }));
    usleep(static_cast<useconds_t>(1000 + 3217 * round));
    p.kill();
    p.join();
    ASSERT_EQ(p.exitcode(), -SIGKILL);
    const std::int64_t seen = last.value();
    ASSERT_LT(seen, kItems - 1) << "the child finished before it was killed";
    // The first get takes the lock the child may have died holding.
    const std::int64_t first = q.get(absl::Seconds(5));
    EXPECT_GE(first, seen + 1);
    EXPECT_LE(first, seen + 2) << "more than the item being taken was lost";
    EXPECT_EQ(q.qsize(), static_cast<std::size_t>(kItems - 1 - first))
        << "the count was not repaired";
    for (std::int64_t expected = first + 1; expected < kItems; ++expected) {
      ASSERT_EQ(q.get(absl::Seconds(5)), expected);
    }
    EXPECT_TRUE(q.empty());
    q.put(7);  // and it goes on
    EXPECT_EQ(q.get(absl::Seconds(5)), 7);
  }
}

TEST_P(CrossProcessQueueTest, AProducerAndAConsumerRunAtOnceThroughASmallQueue) {
  constexpr std::int64_t kItems = 100000;
  cf::JoinableQueue<std::int64_t> q(16);
  cf::Value<std::int64_t> sum(0);
  cf::Process producer(Options(), ProduceRange, q, kItems);
  cf::Process consumer(Options(), ConsumeAndMarkDone, q, kItems, sum);
  consumer.start();
  producer.start();
  producer.join();
  q.join();  // every item put has had its task_done()
  consumer.join();
  EXPECT_EQ(producer.exitcode(), 0);
  EXPECT_EQ(consumer.exitcode(), 0);
  EXPECT_EQ(sum.value(), kItems * (kItems - 1) / 2);
  EXPECT_TRUE(q.empty());
  EXPECT_THROW(q.task_done(), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, CrossProcessQueueTest,
                         testing::ValuesIn(cf_mp_test::StartMethods()),
                         cf_mp_test::ParamName);

}  // namespace
