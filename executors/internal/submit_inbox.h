// The calls submitted to a thread pool and not yet moved into its queue: a
// lock-free list that submitting threads push onto without the pool's mutex,
// and that a thread holding the mutex empties in one exchange.
//
// The one thing to know: it exists for cache lines, not for locks. With one
// mutex for submitters and workers, a burst of submits handed the mutex's
// line (and the queue's) between CPUs for every call: a fresh pool's 10,000
// submits took 5 ms with its 2 workers taking calls, against 1 ms with the
// workers busy elsewhere. Here a submit is a compare-and-swap and a count
// up and down, on one line that submitters write and a worker reads once
// per look, and a worker takes every call pushed since its last look at
// once, oldest first.
// Push and empty() are sequentially consistent, so that a pusher that then
// reads "nobody sleeps" and a sleeper that then reads "empty" cannot both
// be right (see ThreadPoolExecutor's Submit and WorkerMain).
//
// Close() makes later pushes fail and waits for those under way, so that a
// pool shutting down drains everything accepted.
//
//   internal::SubmitInbox inbox;
//   if (!inbox.TryPush(call)) { /* closed: take the locked path */ }
//   inbox.DrainTo(queue);                    // under the pool's mutex
//   inbox.Close();                           // shutdown: then drain again
#ifndef CF_EXECUTORS_INTERNAL_SUBMIT_INBOX_H_
#define CF_EXECUTORS_INTERNAL_SUBMIT_INBOX_H_

#include <sched.h>

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "executors/internal/work_item.h"

namespace cf::internal {

class SubmitInbox {
 public:
  SubmitInbox() = default;
  SubmitInbox(const SubmitInbox&) = delete;
  SubmitInbox& operator=(const SubmitInbox&) = delete;
  ~SubmitInbox() {
    struct Discard {
      void push_back(std::shared_ptr<WorkItem>) {}
    } discard;
    DrainTo(discard);
  }

  // Pushes `call` and returns true, unless Close() came first: then returns
  // false and leaves `call` alone.
  bool TryPush(std::shared_ptr<WorkItem>& call) {
    pushing_.fetch_add(1, std::memory_order_seq_cst);
    if (closed_.load(std::memory_order_seq_cst)) {
      pushing_.fetch_sub(1, std::memory_order_seq_cst);
      return false;
    }
    Push(std::move(call));
    pushing_.fetch_sub(1, std::memory_order_seq_cst);
    return true;
  }

  // Refuses pushes from now on, and returns once those under way are in,
  // so that the next DrainTo() leaves nothing behind for good.
  void Close() {
    closed_.store(true, std::memory_order_seq_cst);
    while (pushing_.load(std::memory_order_seq_cst) != 0) sched_yield();
  }

  // A relaxed look, for spinning: no ordering with anything else.
  bool maybe_nonempty() const {
    return head_.load(std::memory_order_relaxed) != nullptr;
  }

  bool empty() const {
    return head_.load(std::memory_order_seq_cst) == nullptr;
  }

  // Appends every call pushed so far to `out` (anything with push_back of a
  // std::shared_ptr<WorkItem>), in the order they were pushed. One thread
  // at a time (the pool's mutex held). Each item is touched once: a list
  // of 10,000 cold items walked twice (reversed, then emptied) cost a
  // millisecond more than once.
  template <class Out>
  void DrainTo(Out& out) {
    if (head_.load(std::memory_order_relaxed) == nullptr) return;
    WorkItem* item = head_.exchange(nullptr, std::memory_order_seq_cst);
    while (item != nullptr) {  // newest first
      WorkItem* next = item->inbox_next_;
      item->inbox_next_ = nullptr;
      newest_first_.push_back(std::move(item->inbox_self_));
      item = next;
    }
    for (auto it = newest_first_.rbegin(); it != newest_first_.rend(); ++it) {
      out.push_back(std::move(*it));
    }
    newest_first_.clear();
  }

 private:
  void Push(std::shared_ptr<WorkItem> call) {
    WorkItem* item = call.get();
    item->inbox_self_ = std::move(call);
    WorkItem* head = head_.load(std::memory_order_relaxed);
    do {
      item->inbox_next_ = head;
    } while (!head_.compare_exchange_weak(head, item,
                                          std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  }

  // Written by every push, read by every push (one line, the pushers').
  std::atomic<WorkItem*> head_{nullptr};
  std::atomic<int> pushing_{0};  // TryPush calls between check and push
  std::atomic<bool> closed_{false};
  std::vector<std::shared_ptr<WorkItem>> newest_first_;  // DrainTo's, reused
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_SUBMIT_INBOX_H_
