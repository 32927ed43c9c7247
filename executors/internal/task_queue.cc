#include "executors/internal/task_queue.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "executors/internal/call_batch.h"
#include "executors/internal/pool_chunk.h"
#include "executors/internal/pool_support.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

TaskQueue::TaskQueue(int max_in_flight, bool coalesce, Submit submit, Now now)
    : max_in_flight_(max_in_flight),
      coalesce_(coalesce),
      submit_(std::move(submit)),
      now_(now) {}

void TaskQueue::Push(std::shared_ptr<WorkItem> task, bool single_call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued_.push_back({std::move(task), single_call});
  }
  Pump();
}

void TaskQueue::PushMany(std::vector<std::shared_ptr<WorkItem>> tasks,
                         bool single_calls) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& task : tasks) queued_.push_back({std::move(task), single_calls});
  }
  Pump();
}

void TaskQueue::CancelQueued() {
  std::deque<Queued> cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled.swap(queued_);
    if (in_flight_ == 0) idle_.notify_all();
  }
  for (Queued& q : cancelled) internal::CancelQueued(*q.task);
}

void TaskQueue::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] {
    return queued_.empty() && in_flight_ == 0 && !pumping_;
  });
}

int TaskQueue::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int TaskQueue::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queued_.size());
}

int TaskQueue::BatchLimitLocked() const {
  if (!coalesce_ || call_us_ < 0) return 1;
  const double limit = static_cast<double>(kBatchBudget.count()) /
                       std::max(call_us_, 0.05);
  return static_cast<int>(std::clamp(limit, 1.0, double{kMaxBatch}));
}

void TaskQueue::Pump() {
  std::unique_lock<std::mutex> lock(mu_);
  if (pumping_) return;  // that thread sends what we queued
  pumping_ = true;
  while (!queued_.empty() && in_flight_ < max_in_flight_) {
    std::vector<std::shared_ptr<WorkItem>> tasks;
    const bool single = queued_.front().single_call;
    tasks.push_back(std::move(queued_.front().task));
    queued_.pop_front();
    if (single) {
      const int limit = BatchLimitLocked();
      while (static_cast<int>(tasks.size()) < limit && !queued_.empty() &&
             queued_.front().single_call) {
        tasks.push_back(std::move(queued_.front().task));
        queued_.pop_front();
      }
    }
    ++in_flight_;
    lock.unlock();
    Send(std::move(tasks));
    lock.lock();
  }
  pumping_ = false;
  if (queued_.empty() && in_flight_ == 0) idle_.notify_all();
}

// Neighbours of the same function become one TaskGroup (one chunk frame);
// what is left of several kinds travels as one CallBatch.
std::shared_ptr<WorkItem> TaskQueue::Coalesce(
    std::vector<std::shared_ptr<WorkItem>> tasks) {
  if (tasks.size() == 1) return std::move(tasks.front());
  std::vector<std::shared_ptr<WorkItem>> parts;
  std::size_t begin = 0;
  while (begin < tasks.size()) {
    auto* first = dynamic_cast<Groupable*>(tasks[begin].get());
    std::size_t end = begin + 1;
    if (first != nullptr) {
      const GroupKey key = first->group_key();
      while (end < tasks.size()) {
        auto* next = dynamic_cast<Groupable*>(tasks[end].get());
        if (next == nullptr || !(next->group_key() == key)) break;
        ++end;
      }
    }
    if (end - begin == 1) {
      parts.push_back(std::move(tasks[begin]));
    } else {
      std::vector<std::shared_ptr<WorkItem>> members(
          std::make_move_iterator(tasks.begin() + begin),
          std::make_move_iterator(tasks.begin() + end));
      try {
        parts.push_back(first->MakeGroup(std::move(members)));
      } catch (...) {  // cannot happen for the pool's own tasks
        for (auto& m : members) {
          if (m != nullptr) FailCall(*m, std::current_exception());
        }
      }
    }
    begin = end;
  }
  if (parts.size() == 1) return std::move(parts.front());
  return std::make_shared<CallBatch>(std::move(parts));
}

void TaskQueue::Send(std::vector<std::shared_ptr<WorkItem>> tasks) {
  const int calls = static_cast<int>(tasks.size());
  std::shared_ptr<WorkItem> task = Coalesce(std::move(tasks));
  const auto sent = now_();
  task->future().AddDoneCallback(
      [this, sent, calls](FutureStateBase&) { OnDone(sent, calls); });
  try {
    submit_(task);
  } catch (...) {
    FailCall(*task, std::current_exception());
  }
}

void TaskQueue::OnDone(std::chrono::steady_clock::time_point sent, int calls) {
  const double elapsed_us =
      std::chrono::duration<double, std::micro>(
          now_() - sent)
          .count();
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    const double per_call = elapsed_us / calls;
    call_us_ = call_us_ < 0 ? per_call : 0.75 * call_us_ + 0.25 * per_call;
  }
  Pump();
}

}  // namespace cf::internal
