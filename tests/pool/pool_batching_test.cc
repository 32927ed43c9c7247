// cf::Pool's task queue: one task per worker in the executor, the rest
// queued, where terminate() can cancel them; queued calls of one function
// leave as one frame (a TaskGroup), a mix as one CallBatch; chunks never
// merge. Through real workers: every call keeps its own value or exception,
// and a worker killed mid-frame fails that frame's calls while the pool
// goes on.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "executors/internal/call_batch.h"
#include "executors/internal/pool_call.h"
#include "executors/internal/task_queue.h"
#include "tests/pool/pool_test_util.h"

namespace {

using cf::internal::CallBatch;
using cf::internal::PoolCall;
using cf::internal::TaskQueue;
using cf::internal::WorkItem;
using cf_pool_test::Square;
using cf_pool_test::ThrowAt3;

int Cube(int x) { return x * x * x; }

using SquareCall = PoolCall<int, int (*)(int), int>;

// The queue's clock: it moves only when a test says, so "the last call was
// fast" does not depend on how slow this machine (or a sanitizer) is.
std::chrono::steady_clock::time_point fake_now;
std::chrono::steady_clock::time_point FakeNow() { return fake_now; }

class TaskQueueTest : public testing::Test {
 protected:
  // The queue hands tasks here; the test runs them, in this process.
  TaskQueue queue_{2, /*coalesce=*/true,
                   [this](std::shared_ptr<WorkItem> task) { sent_.push_back(task); },
                   &FakeNow};
  std::vector<std::shared_ptr<WorkItem>> sent_;

  cf::Future<int> Call(int (*fn)(int), int x) {
    auto call = std::make_shared<SquareCall>(fn, x);
    cf::Future<int> future(call);
    queue_.Push(call, /*single_call=*/true);
    return future;
  }
};

TEST_F(TaskQueueTest, SendsOnePerWorkerAtOnceAndQueuesTheRest) {
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(Call(Square, i));
  ASSERT_EQ(sent_.size(), 2u);  // alone, as they came
  EXPECT_EQ(&sent_[0]->future(), futures[0].state().get());
  EXPECT_EQ(queue_.queued(), 3);
  fake_now += std::chrono::microseconds(10);
  sent_[0]->Run([] {});  // done, and fast: the three queued leave together
  EXPECT_EQ(futures[0].result(), 0);
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(queue_.queued(), 0);
  EXPECT_EQ(dynamic_cast<CallBatch*>(sent_[2].get()), nullptr);  // one function
  sent_[2]->Run([] {});
  sent_[1]->Run([] {});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(futures[i].result(), i * i);
  queue_.WaitIdle();
}

TEST_F(TaskQueueTest, CallsQueuedBehindASlowCallLeaveOneAtATime) {
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(Call(Square, i));
  fake_now += 2 * TaskQueue::kBatchBudget;  // one call took two budgets
  sent_[0]->Run([] {});
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(queue_.queued(), 1);
  EXPECT_EQ(&sent_[2]->future(), futures[2].state().get());  // alone
  sent_[1]->Run([] {});
  ASSERT_EQ(sent_.size(), 4u);
  sent_[2]->Run([] {});
  sent_[3]->Run([] {});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(futures[i].result(), i * i);
  queue_.WaitIdle();
}

TEST_F(TaskQueueTest, MixedFunctionsLeaveAsOneBatchOfGroups) {
  std::vector<cf::Future<int>> futures;
  futures.push_back(Call(Square, 1));
  futures.push_back(Call(Square, 2));
  // Queued: Square, Square, Cube, Cube, Square.
  for (auto [fn, x] : std::vector<std::pair<int (*)(int), int>>{
           {Square, 3}, {Square, 4}, {Cube, 5}, {Cube, 6}, {Square, 7}}) {
    futures.push_back(Call(fn, x));
  }
  fake_now += std::chrono::microseconds(10);
  sent_[0]->Run([] {});
  ASSERT_EQ(sent_.size(), 3u);
  auto* batch = dynamic_cast<CallBatch*>(sent_[2].get());
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->size(), 3u);  // {Square, Square}, {Cube, Cube}, {Square}
  sent_[2]->Run([] {});
  sent_[1]->Run([] {});
  const std::vector<int> expected = {1, 4, 9, 16, 125, 216, 49};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(futures[i].result(), expected[i]);
}

TEST_F(TaskQueueTest, ChunksNeverMergeAndCancelQueuedCancelsOnlyTheQueued) {
  std::vector<cf::Future<int>> futures;
  for (int i = 0; i < 2; ++i) futures.push_back(Call(Square, i));
  for (int i = 0; i < 3; ++i) {
    auto call = std::make_shared<SquareCall>(Square, 10 + i);
    futures.emplace_back(call);
    queue_.Push(call, /*single_call=*/false);  // as a map chunk is pushed
  }
  sent_[0]->Run([] {});
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(&sent_[2]->future(), futures[2].state().get());  // alone
  queue_.CancelQueued();
  EXPECT_TRUE(futures[3].cancelled());
  EXPECT_TRUE(futures[4].cancelled());
  EXPECT_FALSE(futures[1].done());  // sent: its worker decides
  sent_[1]->Run([] {});
  sent_[2]->Run([] {});
  queue_.WaitIdle();
  EXPECT_EQ(futures[2].result(), 100);
}

class PoolBatchingTest : public cf_pool_test::PoolTestBase {};

TEST_P(PoolBatchingTest, ManyTinyCallsKeepTheirOwnValuesAndExceptions) {
  cf::Pool pool(Options(2));
  std::vector<cf::AsyncResult<int>> results;
  for (int i = 0; i < 3000; ++i) {
    results.push_back(i % 2 ? pool.apply_async(Square, i % 7)
                            : pool.apply_async(ThrowAt3, i % 7));
  }
  for (int i = 0; i < 3000; ++i) {
    if (i % 2) {
      EXPECT_EQ(results[i].get(), (i % 7) * (i % 7));
    } else if (i % 7 == 3) {
      EXPECT_THROW(results[i].get(), std::invalid_argument) << i;
    } else {
      EXPECT_EQ(results[i].get(), i % 7);
    }
  }
  int sum = 0;
  for (int v : pool.imap_unordered(ThrowAt3, std::vector<int>(1000, 2))) sum += v;
  EXPECT_EQ(sum, 2000);
}

TEST_P(PoolBatchingTest, AWorkerKilledMidFrameFailsThatFrameAndThePoolGoesOn) {
  cf::Pool pool(Options(2));
  std::vector<cf::AsyncResult<int>> results;
  for (int i = 0; i < 2000; ++i) {
    results.push_back(i == 1500 ? pool.apply_async(cf_pool_test::KillSelf, i)
                                : pool.apply_async(Square, i % 100));
  }
  int broken = 0;
  for (int i = 0; i < 2000; ++i) {
    try {
      EXPECT_EQ(results[i].get(), (i % 100) * (i % 100));
    } catch (const cf::BrokenProcessPool&) {
      ++broken;
    }
  }
  EXPECT_GE(broken, 1);     // the killed call, and its frame's neighbours
  EXPECT_LT(broken, 2000);  // never the calls of other frames
  EXPECT_EQ(pool.apply(Square, 12), 144);
}

CF_INSTANTIATE_FOR_START_METHODS(PoolBatchingTest);

}  // namespace
