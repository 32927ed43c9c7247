// The lock-free path of a thread pool's submit (executors/internal/
// submit_inbox.h): once every thread runs, a call is pushed onto the inbox
// without the pool's mutex, and moved into the queue by whoever next holds
// it. What must survive that: submission order, the wake-up of a sleeping
// worker, and every call pushed reaching exactly one runner.
#include "executors/internal/submit_inbox.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

namespace {

using cf::internal::SubmitInbox;
using cf::internal::WorkItem;
using cf_executor_test::kSanitized;

// A WorkItem that only carries who pushed it and its number.
class Tagged final : public WorkItem {
 public:
  Tagged(int producer, int index) : producer(producer), index(index) {}
  void Run(absl::FunctionRef<void()>) override {}
  cf::internal::FutureStateBase& future() override { std::abort(); }
  void Drop() override {}
  void EncodeRemote(std::string*) override {}
  void SetRemoteResult(std::string_view) override {}

  const int producer;
  const int index;
};

TEST(SubmitInboxTest, ConcurrentPushesAreDrainedOnceEachInTheOrderEachThreadPushed) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20000;
  SubmitInbox inbox;
  std::mutex mu;  // the pool's mutex: drains are one at a time
  std::deque<std::shared_ptr<WorkItem>> drained;
  std::atomic<int> producing{kProducers};
  std::latch go(kProducers + 2);

  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      go.arrive_and_wait();
      for (int i = 0; i < kPerProducer; ++i) {
        std::shared_ptr<WorkItem> item = std::make_shared<Tagged>(p, i);
        ASSERT_TRUE(inbox.TryPush(item));
      }
      producing.fetch_sub(1);
    });
  }
  // Two drainers, as two workers would.
  for (int d = 0; d < 2; ++d) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      while (true) {
        const bool last = producing.load() == 0;
        {
          std::lock_guard<std::mutex> lock(mu);
          inbox.DrainTo(drained);
        }
        if (last) break;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(inbox.empty());

  ASSERT_EQ(drained.size(), static_cast<std::size_t>(kProducers) * kPerProducer);
  std::vector<int> next(kProducers, 0);
  for (const auto& item : drained) {
    const auto& tagged = static_cast<const Tagged&>(*item);
    ASSERT_EQ(tagged.index, next[tagged.producer])
        << "producer " << tagged.producer << "'s items out of order";
    ++next[tagged.producer];
    // The inbox gave its reference up: the deque holds the only one.
    EXPECT_EQ(item.use_count(), 1);
  }
}

TEST(SubmitInboxTest, DestroyingAnInboxReleasesWhatItHolds) {
  std::shared_ptr<WorkItem> item = std::make_shared<Tagged>(0, 0);
  {
    SubmitInbox inbox;
    std::shared_ptr<WorkItem> pushed = item;
    ASSERT_TRUE(inbox.TryPush(pushed));
    EXPECT_EQ(pushed, nullptr);
    EXPECT_EQ(item.use_count(), 2);
    EXPECT_FALSE(inbox.empty());
  }
  EXPECT_EQ(item.use_count(), 1);
}

// What a shutdown relies on: once Close() returns, every push that
// succeeded is in (a drain then gets it), and every later one fails and
// leaves the call with its caller (to be refused with an exception).
TEST(SubmitInboxTest, AfterCloseNoPushSucceedsAndEveryEarlierOneIsDrained) {
  constexpr int kProducers = 4;
  for (int round = 0; round < 50; ++round) {
    SubmitInbox inbox;
    std::atomic<int> accepted{0}, refused{0};
    std::atomic<int> pushes{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0;; ++i) {
          std::shared_ptr<WorkItem> item = std::make_shared<Tagged>(p, i);
          pushes.fetch_add(1);
          if (!inbox.TryPush(item)) {
            ASSERT_NE(item, nullptr);  // still the caller's
            refused.fetch_add(1);
            return;
          }
          accepted.fetch_add(1);
        }
      });
    }
    while (pushes.load() < 100 * (round % 5 + 1)) std::this_thread::yield();
    inbox.Close();
    std::deque<std::shared_ptr<WorkItem>> drained;
    inbox.DrainTo(drained);
    for (auto& t : producers) t.join();
    EXPECT_EQ(refused.load(), kProducers);
    EXPECT_EQ(drained.size(), static_cast<std::size_t>(accepted.load()))
        << "round " << round;
    EXPECT_TRUE(inbox.empty());
  }
}

// One worker, held busy while calls, a map and more calls are submitted:
// they run in submission order, as from Python's FIFO work queue, although
// the calls went through the inbox and the map (a batch) through the queue.
TEST(ThreadPoolSubmitTest, CallsRunInSubmissionOrderAroundAMapWithOneWorker) {
  cf::ThreadPoolExecutor executor(1);
  std::mutex mu;
  std::vector<int> order;
  std::atomic<bool> release{false};
  auto record = [&](int v) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(v);
    return v;
  };
  cf::Future<int> gate = executor.submit([&] {
    while (!release.load()) std::this_thread::yield();
    return -1;
  });
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(executor.submit(record, i));
  std::vector<int> inputs;
  for (int i = 100; i < 150; ++i) inputs.push_back(i);
  auto mapped = executor.map(record, inputs);
  for (int i = 150; i < 250; ++i) fs.push_back(executor.submit(record, i));
  release.store(true);

  int expected = 100;
  for (int v : mapped) EXPECT_EQ(v, expected++);
  for (auto& f : fs) f.result();
  EXPECT_EQ(gate.result(), -1);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(order.size(), 250u);
  for (int i = 0; i < 250; ++i) ASSERT_EQ(order[i], i) << "position " << i;
}

// A worker idle for longer than it spins sleeps; each call submitted then
// must wake it (the submit counts sleepers after its push, the sleeper
// looks at the inbox after counting itself). A lost wake-up leaves the call
// queued forever, and result() times out.
TEST(ThreadPoolSubmitTest, ASleepingWorkerIsWokenForEveryCallAfterASleep) {
  constexpr int kRounds = kSanitized ? 60 : 300;
  for (int workers : {1, 2}) {
    SCOPED_TRACE(workers);
    cf::ThreadPoolExecutor executor(workers);
    // Start every thread: from then on submits take the inbox.
    for (int i = 0; i < workers; ++i) executor.submit([] { return 0; }).result();
    for (int round = 0; round < kRounds; ++round) {
      // Past the idle spin (50 µs): the workers sleep.
      std::this_thread::sleep_for(std::chrono::microseconds(100 + round % 7 * 50));
      cf::Future<int> f = executor.submit([round] { return round; });
      ASSERT_EQ(f.result(absl::Seconds(10)), round) << "round " << round;
    }
  }
}

// The same from several threads at once, each call after a sleep.
TEST(ThreadPoolSubmitTest, SleepingWorkersAreWokenForCallsFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kRounds = kSanitized ? 25 : 100;
  cf::ThreadPoolExecutor executor(2);
  for (int i = 0; i < 2; ++i) executor.submit([] { return 0; }).result();
  std::atomic<int> timeouts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        std::this_thread::sleep_for(std::chrono::microseconds(80 + (round + t) % 5 * 40));
        cf::Future<int> f = executor.submit([round] { return round; });
        try {
          if (f.result(absl::Seconds(10)) != round) timeouts.fetch_add(1000);
        } catch (const cf::TimeoutError&) {
          timeouts.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(timeouts.load(), 0);
}

}  // namespace
