// The process pool's queue marks calls RUNNING (no longer cancellable) in
// submission order, as calls enter Python's call queue: a call answered
// between two submits must not let a later call start before an earlier
// one, or cancelling the rest of a map from the last one back (as Python
// does) would still run a later call whose predecessor was cancelled.
#include "executors/internal/call_queue.h"

#include <deque>
#include <memory>
#include <optional>

#include "cf.h"
#include "gtest/gtest.h"

namespace {

using cf::internal::CallQueue;
using cf::internal::RemoteTask;

int Identity(int x) { return x; }

struct Call {
  RemoteTask task;
  cf::Future<int> future;
};

Call MakeCall(int x) {
  auto state = std::make_shared<
      cf::internal::CallState<int, int (*)(int), int>>(Identity, x);
  Call call{.task = {}, .future = cf::Future<int>(state)};
  call.task.call = std::move(state);
  return call;
}

TEST(CallQueueTest, ALaterCallNeverStartsBeforeAnEarlierOne) {
  CallQueue queue(/*running_limit=*/2);
  Call c0 = MakeCall(0), c1 = MakeCall(1), c2 = MakeCall(2), c3 = MakeCall(3);
  queue.Push(std::move(c0.task));
  queue.Push(std::move(c1.task));
  queue.Push(std::move(c2.task));  // two run: this one waits
  EXPECT_FALSE(c2.future.running());
  std::deque<RemoteTask> cancelled;
  ASSERT_TRUE(queue.PopRunnable(cancelled).has_value());  // c0 is sent...
  queue.Answered();                                       // ...and answered
  queue.Push(std::move(c3.task));
  EXPECT_FALSE(c3.future.running()) << "c3 started while c2 still waits";
  EXPECT_TRUE(c3.future.cancel());
  EXPECT_TRUE(c2.future.cancel());
  std::optional<RemoteTask> next = queue.PopRunnable(cancelled);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(&next->call->future(),
            static_cast<cf::internal::FutureStateBase*>(c1.future.state().get()));
  EXPECT_TRUE(c1.future.running());
  EXPECT_FALSE(queue.PopRunnable(cancelled).has_value());
  EXPECT_EQ(cancelled.size(), 2u);
}

}  // namespace
