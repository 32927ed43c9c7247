// A process pool's manager thread (Python's _ExecutorManagerThread): it
// starts the workers asked for, hands queued calls to them, sleeps in poll
// on their sockets, completes the futures their answers name, and passes
// their deaths and late tasks to WorkerDeaths.
//
// The one thing to know: the manager sleeps in poll without the pool's
// mutex and touches no worker meanwhile (PoolState::manager_asleep); a
// submitting thread then either sends a new call to an idle worker itself
// (SendDirectLocked), which saves a wake-up as costly as a tiny call's round
// trip, or wakes it (Wake).
//
//   internal::PoolManager manager(state, registry, options);
//   { lock; manager.StartLocked(); state.queue.Push(task);
//     wake = state.manager_asleep && !manager.SendDirectLocked(dropped); }
//   if (wake) manager.Wake();
//   ...
//   manager.Join();   // after shutdown: returns once every worker is gone
#ifndef CF_EXECUTORS_INTERNAL_POOL_MANAGER_H_
#define CF_EXECUTORS_INTERNAL_POOL_MANAGER_H_

#include <poll.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "executors/internal/pool_state.h"
#include "executors/internal/worker_channel.h"
#include "executors/internal/worker_deaths.h"
#include "executors/internal/worker_registry.h"
#include "executors/process_pool_executor.h"
#include "executors/transport/frame.h"

namespace cf::internal {

class PoolManager {
 public:
  // `state`, `registry` and `options` must outlive it. Throws
  // std::runtime_error if its wake-up descriptor cannot be made.
  PoolManager(PoolState& state, WorkerRegistry& registry,
              const ProcessPoolOptions& options);
  PoolManager(const PoolManager&) = delete;
  PoolManager& operator=(const PoolManager&) = delete;

  // Starts the thread unless it runs; with the pool's mutex held, and never
  // after shutdown (Join() relies on it). Throws cf::BrokenProcessPool if no
  // thread can be started: a call must not be left pending forever.
  void StartLocked();
  // With the pool's mutex held: StartLocked() started the thread.
  bool StartedLocked() const { return thread_.joinable(); }

  // Wakes the thread from poll. Once it has been joined there is no one to
  // wake, and this does nothing.
  void Wake();

  // After shutdown: waits for the thread to end (every worker gone, or the
  // pool broken) and closes the wake-up descriptor, since
  // shutdown(wait=true) leaves no descriptor open.
  void Join();

  // From a submitting thread, with the mutex held, while the manager sleeps
  // (state.manager_asleep): sends the next call to an idle worker. False if
  // the manager must act (no idle worker, a deadline to watch, bytes the
  // socket did not take). Calls found cancelled go to `dropped`, to be
  // destroyed outside the lock.
  bool SendDirectLocked(std::deque<RemoteTask>& dropped);

 private:
  void Main();
  // One turn under the mutex: starts a worker asked for, hands out calls,
  // and tells idle workers to stop once the pool is shut down. False once
  // the manager's work is over.
  bool Dispatch(std::uint64_t* submits_seen);
  void DispatchLocked(std::deque<RemoteTask>& dropped);
  void SendNextLocked(WorkerChannel& w, std::deque<RemoteTask>& dropped);
  // `w` runs nothing and may be sent a call (not told to stop, and
  // max_tasks_per_child leaves it room).
  bool Free(const WorkerChannel& w) const;
  // What to poll, into `polls`; returns poll's timeout (the nearest
  // deadline).
  int Watch(std::vector<pollfd>& polls) const;
  void OnReady(const std::vector<pollfd>& polls);
  bool Read(WorkerChannel& w);
  bool HandleFrame(WorkerChannel& w, Frame& f);
  bool SpawnsLeft() const;
  bool BrokenNow() const;

  PoolState& state_;
  WorkerRegistry& registry_;
  const ProcessPoolOptions& options_;
  WorkerDeaths deaths_;

  std::mutex wake_mu_;  // guards closing wake_fd_ against Wake()
  int wake_fd_;
  std::thread thread_;  // started under state_.mu, joined under join_mu_
  std::mutex join_mu_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_POOL_MANAGER_H_
