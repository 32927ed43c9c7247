// The calls a process pool has accepted and not yet sent to a worker, and
// Python's rule for when such a call stops being cancellable.
//
// The one thing to know: Python marks a future RUNNING when it enters the
// call queue, which holds max_workers + 1 calls; from then on it cannot be
// cancelled. CallQueue counts the RUNNING calls not yet answered and marks
// the next ones as room appears. Not thread-safe: the pool's mutex guards it.
//
//   internal::CallQueue queue(max_workers + 1);
//   queue.Push(std::move(task));
//   std::deque<RemoteTask> cancelled;
//   if (auto next = queue.PopRunnable(cancelled)) worker.Send(*next);
//   queue.Answered();            // when its answer comes back
#ifndef CF_EXECUTORS_INTERNAL_CALL_QUEUE_H_
#define CF_EXECUTORS_INTERNAL_CALL_QUEUE_H_

#include <deque>
#include <optional>
#include <utility>

#include "executors/internal/worker_channel.h"

namespace cf::internal {

class CallQueue {
 public:
  explicit CallQueue(int running_limit) : running_limit_(running_limit) {}

  bool empty() const { return pending_.empty(); }

  // Queues a new call, marking it RUNNING if fewer than the limit are and
  // no earlier call still waits: calls become RUNNING in submission order,
  // as they enter Python's call queue, so one cancelled later never ran
  // while an earlier one had not started.
  void Push(RemoteTask task) {
    // The RUNNING calls lead the queue (ReturnToFront hands back only
    // RUNNING ones): none waits if the last is RUNNING.
    const bool none_waits = pending_.empty() || pending_.back().running;
    if (running_ < running_limit_ && none_waits) {
      task.call->future().SetRunningOrNotifyCancel();  // new: cannot fail
      task.running = true;
      ++running_;
    }
    pending_.push_back(std::move(task));
  }

  // The first call not cancelled meanwhile, now RUNNING; the cancelled ones
  // it passed go to `cancelled` (to be destroyed outside the lock).
  std::optional<RemoteTask> PopRunnable(std::deque<RemoteTask>& cancelled) {
    while (!pending_.empty()) {
      RemoteTask task = std::move(pending_.front());
      pending_.pop_front();
      if (!task.running) {
        if (!task.call->future().SetRunningOrNotifyCancel()) {
          cancelled.push_back(std::move(task));
          continue;
        }
        task.running = true;
        ++running_;
      }
      return task;
    }
    return std::nullopt;
  }

  // Calls handed back (their worker died): they go first, in their order.
  void ReturnToFront(std::deque<RemoteTask> tasks) {
    for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) {
      pending_.push_front(std::move(*it));
    }
  }

  // A RUNNING call was answered or failed.
  void Answered() { --running_; }

  // Every queued call (the pool broke).
  std::deque<RemoteTask> TakeAll() { return std::exchange(pending_, {}); }

  // The calls not yet RUNNING (shutdown(cancel_futures=true)).
  std::deque<RemoteTask> TakeNotRunning() {
    std::deque<RemoteTask> keep, taken;
    for (RemoteTask& task : pending_) {
      (task.running ? keep : taken).push_back(std::move(task));
    }
    pending_.swap(keep);
    return taken;
  }

 private:
  const int running_limit_;
  std::deque<RemoteTask> pending_;
  int running_ = 0;  // RUNNING calls not yet answered
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_CALL_QUEUE_H_
