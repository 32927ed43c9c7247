#include "executors/internal/map_batch.h"

#include <algorithm>

#include "futures/internal/blocking_hook.h"

namespace cf::internal {

bool BatchProgress::Await(const void* element, absl::FunctionRef<bool()> done,
                          const FutureStateBase* batch,
                          const Deadline& deadline) {
  if (done()) return true;
  // A pool's own worker waits through its pool, which lets it run the
  // awaited element itself rather than wait for a thread that may never
  // come. As every wait in futures/, only without a deadline.
  if (BlockingHook* hook = BlockingHook::Current();
      hook != nullptr && deadline.infinite()) {
    return AwaitThroughHook(hook, done, batch);
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    // Looks every kPoll until the patience is over; from then on the thread
    // that settles the element wakes this one (Settled), so a slow element
    // costs the reader no wake-ups that would take a core from the workers.
    // After a slow element the reader expects another and has no patience:
    // a poll that finds nothing is a wake-up that preempts a worker.
    const auto patient_until = expect_slow_ ? now : now + kPatience;
    awaited_since_.store((patient_until - kPatience).time_since_epoch().count(),
                         std::memory_order_relaxed);
    awaited_.store(element, std::memory_order_seq_cst);
    while (!done() && !finished_ && !deadline.expired()) {
      const auto at = std::chrono::steady_clock::now();
      if (at <= patient_until) {
        auto until = std::max(at + kPoll, patient_until);
        if (!deadline.infinite()) until = std::min(until, deadline.at());
        cv_.wait_until(lock, until);
      } else if (deadline.infinite()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, deadline.at());
      }
    }
    awaited_.store(nullptr, std::memory_order_relaxed);
    // Slow: it outlasted the patience and the look after it (or, expected
    // slow, the patience alone). A fast element ends within the first look.
    expect_slow_ = std::chrono::steady_clock::now() - now >=
                   (expect_slow_ ? kPatience : kPatience + kPoll);
  }
  return done();
}

bool BatchProgress::AwaitThroughHook(BlockingHook* hook,
                                     absl::FunctionRef<bool()> done,
                                     const FutureStateBase* batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks_.push_back(hook);
    hooked_.fetch_add(1, std::memory_order_relaxed);
  }
  // Every settling is followed by a Count, whose read-modify-write of
  // unsettled_ this one is ordered with: if Count's comes first, this
  // thread sees the element settled; if this one does, Count sees the hook
  // (no fences, which ThreadSanitizer cannot check).
  unsettled_.fetch_add(0, std::memory_order_acq_rel);
  hook->BlockUntil(done, [batch](const FutureStateBase& f) {
    return &f == batch;
  });
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.erase(std::find(hooks_.begin(), hooks_.end(), hook));
  hooked_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void BatchProgress::Settled(const void* element) {
  if (awaited_.load(std::memory_order_seq_cst) == element) {
    const auto since = std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(
            awaited_since_.load(std::memory_order_relaxed)));
    if (std::chrono::steady_clock::now() - since >= kPatience) {
      // Notified after unlocking: a reader woken while the lock is held
      // would only block on it again, a second wake-up.
      { std::lock_guard<std::mutex> lock(mu_); }
      cv_.notify_all();
    }
  }
}

void BatchProgress::Count(std::size_t n) {
  const bool last = unsettled_.fetch_sub(n, std::memory_order_acq_rel) == n;
  // After the read-modify-write, once per claim (AwaitThroughHook says why).
  if (hooked_.load(std::memory_order_relaxed) > 0) {
    // A worker blocked on an element of this map: its hook re-checks.
    std::lock_guard<std::mutex> lock(mu_);
    for (BlockingHook* hook : hooks_) hook->Wake();
  }
  if (last) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
  }
}

}  // namespace cf::internal
