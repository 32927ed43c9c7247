// What a process pool's pieces share: its call queue, whether it is shut
// down or broken, and the one mutex guarding them. The façade
// (ProcessPoolExecutor), the worker registry and the manager each hold a
// reference to the same PoolState.
//
// The one thing to know: `mu` is the pool's only lock, and it is never held
// while another lock of the pool is taken (the manager's wake-up lock and
// join lock are taken without it), so the pieces cannot deadlock each other.
// The WorkerRegistry's counts are guarded by the same `mu`.
//
//   internal::PoolState state(max_workers);
//   {
//     std::lock_guard<std::mutex> lock(state.mu);
//     if (!state.broken.empty()) throw BrokenProcessPool(state.broken);
//     state.queue.Push(std::move(task));
//   }
#ifndef CF_EXECUTORS_INTERNAL_POOL_STATE_H_
#define CF_EXECUTORS_INTERNAL_POOL_STATE_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "executors/internal/call_queue.h"

namespace cf::internal {

struct PoolState {
  // Python's call queue holds max_workers + 1 calls (call_queue.h).
  explicit PoolState(int max_workers) : queue(max_workers + 1) {}
  PoolState(const PoolState&) = delete;
  PoolState& operator=(const PoolState&) = delete;

  mutable std::mutex mu;

  // Guarded by mu.
  CallQueue queue;
  bool shutdown = false;
  std::string broken;        // what submit throws once the pool is broken
  bool terminating = false;  // terminate_workers() or kill_workers() called
  // The manager is in poll and touches no worker: a submitter may send to an
  // idle one itself, or must wake it.
  bool manager_asleep = false;
  std::uint64_t submits = 0;  // calls queued so far

  // How long the last answer took from its call's start (or from the
  // previous answer): the manager's, read by submit for a spin hint.
  std::atomic<std::int64_t> recent_answer_us{0};
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_POOL_STATE_H_
