// What a worker's end does to its calls and to the pool: a worker that
// died, one killed past its task's deadline, and the pool breaking (Python's
// terminate_broken).
//
// The one thing to know: a dead worker's calls are never lost. The one it
// was running fails (cf::BrokenProcessPool, or cf::TimeoutError past its
// deadline); the ones queued behind it go back to the front of the call
// queue for another worker, unless the death breaks the pool (kBreakPool, a
// failed initializer, a build mismatch, or terminate_workers() /
// kill_workers()), which fails every pending and running call. Only the
// manager thread uses it.
//
//   internal::WorkerDeaths deaths(state, registry, options.on_worker_death);
//   if (!worker_still_open) deaths.OnExit(w);   // replace, or break
//   deaths.CheckDeadlines();                    // kill the late ones
#ifndef CF_EXECUTORS_INTERNAL_WORKER_DEATHS_H_
#define CF_EXECUTORS_INTERNAL_WORKER_DEATHS_H_

#include <deque>
#include <exception>
#include <string>

#include "executors/internal/pool_state.h"
#include "executors/internal/worker_channel.h"
#include "executors/internal/worker_registry.h"
#include "executors/process_pool_executor.h"

namespace cf::internal {

class WorkerDeaths {
 public:
  // `state` and `registry` must outlive it.
  WorkerDeaths(PoolState& state, WorkerRegistry& registry, WorkerDeath policy)
      : state_(state), registry_(registry), policy_(policy) {}
  WorkerDeaths(const WorkerDeaths&) = delete;
  WorkerDeaths& operator=(const WorkerDeaths&) = delete;

  // `w` closed its socket: it exited, was killed, or crashed. Reaps and
  // removes it; unless it was told to stop and had nothing left to run,
  // replaces it (kReplace) or breaks the pool.
  void OnExit(WorkerChannel* w);

  // Kills the worker of every task past its deadline; the task fails with
  // cf::TimeoutError and the pool goes on.
  void CheckDeadlines();

  // Every pending and running call fails, naming `cause`; every worker is
  // killed; submit throws cf::BrokenProcessPool from now on. `in_flight`:
  // calls already taken from a removed worker.
  void Break(std::deque<RemoteTask> in_flight, const std::string& cause);

 private:
  // The head of `in_flight` (the call its worker was running) fails with
  // `error`; the calls behind it go back to the front of the queue.
  void FailHeadAndRequeue(std::deque<RemoteTask> in_flight,
                          std::exception_ptr error);
  bool Terminating() const;

  PoolState& state_;
  WorkerRegistry& registry_;
  const WorkerDeath policy_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_WORKER_DEATHS_H_
