// cf::Pool's task queue (Python's Pool._taskqueue): what the pool has
// accepted and not yet handed to its ProcessPoolExecutor.
//
// The one thing to know: at most `max_in_flight` tasks (one per worker) are
// in the executor at a time; the rest wait here, where terminate() can still
// cancel them, and where consecutive single calls may leave together when
// recent calls took well under a millisecond each: neighbours calling the
// same function as one chunk frame (a TaskGroup), a mix as one CallBatch. A
// batch lasts about kBatchBudget, so the calls queued behind a slow one are
// not batched behind it. A call that arrives while a worker is free leaves at
// once, alone.
//
//   TaskQueue queue(processes, /*coalesce=*/true,
//                   [&](std::shared_ptr<WorkItem> t) { executor.Submit(t); });
//   queue.Push(call, /*single_call=*/true);
//   queue.WaitIdle();      // join: everything sent and answered
#ifndef CF_EXECUTORS_INTERNAL_TASK_QUEUE_H_
#define CF_EXECUTORS_INTERNAL_TASK_QUEUE_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "executors/internal/work_item.h"

namespace cf::internal {

class TaskQueue {
 public:
  using Submit = absl::AnyInvocable<void(std::shared_ptr<WorkItem>)>;
  // Times a task from sent to answered; tests pass a clock they move.
  using Now = std::chrono::steady_clock::time_point (*)();

  // How long a batch of fast calls may take, by the recent per-call time.
  static constexpr std::chrono::microseconds kBatchBudget{1000};
  static constexpr int kMaxBatch = 1024;

  // `submit` hands a task to the executor; what it throws fails that task.
  TaskQueue(int max_in_flight, bool coalesce, Submit submit,
            Now now = &std::chrono::steady_clock::now);
  TaskQueue(const TaskQueue&) = delete;
  TaskQueue& operator=(const TaskQueue&) = delete;

  // Queues a task and sends what may be sent now. `single_call`: a call that
  // may share a batch with its neighbours (chunks never do). Never throws
  // for the task's sake: a task that cannot be sent fails its future.
  void Push(std::shared_ptr<WorkItem> task, bool single_call);
  void PushMany(std::vector<std::shared_ptr<WorkItem>> tasks, bool single_calls);

  // Cancels every task not yet sent (terminate()).
  void CancelQueued();

  // Returns once nothing is queued and every task sent has its outcome.
  void WaitIdle();

  // Tasks sent and not yet answered, and tasks queued; for tests.
  int in_flight() const;
  int queued() const;

 private:
  struct Queued {
    std::shared_ptr<WorkItem> task;
    bool single_call;
  };

  // Sends queued tasks while fewer than max_in_flight are out. One thread
  // pumps at a time; others leave the work to it.
  void Pump();
  static std::shared_ptr<WorkItem> Coalesce(
      std::vector<std::shared_ptr<WorkItem>> tasks);
  void Send(std::vector<std::shared_ptr<WorkItem>> tasks);
  void OnDone(std::chrono::steady_clock::time_point sent, int calls);
  int BatchLimitLocked() const;

  const int max_in_flight_;
  const bool coalesce_;
  Submit submit_;
  const Now now_;

  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::deque<Queued> queued_;
  int in_flight_ = 0;
  bool pumping_ = false;
  // Recent time per call, sent to answered, in microseconds; < 0: none yet.
  double call_us_ = -1;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_TASK_QUEUE_H_
