// A process pool's live workers (Python's executor._processes): starting the
// ones asked for, counting the idle ones, telling them to stop, and removing,
// reaping and signalling them.
//
// The one thing to know: two kinds of members. The counts (pids, idle
// workers, workers asked for) are guarded by the pool's mutex: methods named
// ...Locked need it held. The WorkerChannels and the launcher belong to the
// manager thread, which alone reaps and removes workers, and starts them
// but for a kFork pool's first ones, which the main thread forks before the
// manager exists (SpawnAllBeforeManagerLocked). A worker's parent-death
// signal fires when the thread that forked it ends. A submitting thread may
// touch workers() only with the mutex held while the manager sleeps in poll
// (PoolState::manager_asleep).
//
//   internal::WorkerRegistry registry(max_workers, options, key, state.mu);
//   { lock; registry.AdjustCountLocked(); }       // submit: one more call
//   { lock; registry.SpawnRequestedLocked(); }    // manager: start them
//   for (auto& w : registry.workers()) w->Flush();
//   registry.Kill(w);                             // killed, reaped, removed
#ifndef CF_EXECUTORS_INTERNAL_WORKER_REGISTRY_H_
#define CF_EXECUTORS_INTERNAL_WORKER_REGISTRY_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "executors/internal/worker_channel.h"
#include "executors/internal/worker_launcher.h"
#include "executors/process_pool_executor.h"
#include "executors/transport/frame.h"

namespace cf::internal {

class WorkerRegistry {
 public:
  // `options` (start method, initializer, max_tasks_per_child) and `mu` must
  // outlive the registry.
  WorkerRegistry(int max_workers, const ProcessPoolOptions& options,
                 const FrameKey& key, std::mutex& mu);
  ~WorkerRegistry();
  WorkerRegistry(const WorkerRegistry&) = delete;
  WorkerRegistry& operator=(const WorkerRegistry&) = delete;

  // --- Guarded by the pool's mutex: the caller holds it. ---

  // Workers alive now (Python's len(executor._processes)).
  int LiveLocked() const { return static_cast<int>(pids_.size()); }
  // Names the workers started from now on "<Method><kind>-N".
  void SetKindLocked(std::string kind) { worker_kind_ = std::move(kind); }
  // Asks the manager for every worker not yet started.
  void RequestAllLocked();
  // Python's _adjust_process_count, for a call just queued: an idle worker
  // takes it; otherwise one more is asked for, up to max_workers.
  void AdjustCountLocked();
  // Work is waiting and no worker is free (one died or was killed): asks for
  // a new one, since submit only grows the pool when work arrives.
  void RequestReplacementLocked();
  bool SpawnsRequestedLocked() const { return to_spawn_ > 0; }
  // terminate_workers()/kill_workers(): no worker asked for is started.
  void CancelRequestsLocked() { to_spawn_ = 0; }
  // A worker went idle with nothing queued (Python's _idle_worker_semaphore).
  void AddIdleLocked() { ++idle_workers_; }
  // Sends `sig` to every live worker (and SIGCONT after it but for SIGKILL:
  // a stopped worker only acts on SIGTERM once continued).
  void SignalAllLocked(int sig);

  // The manager thread, with the mutex held: starts one of the workers
  // asked for. False if none can be started at all (spawn_error() says
  // why); the workers already running go on otherwise. `other_threads`:
  // see WorkerLauncher::Launch.
  bool SpawnRequestedLocked(int other_threads = 1);
  // kFork, in the main thread, before the manager thread exists: starts
  // every worker asked for (Python since 3.11, gh-90622), so that each fork
  // copies a process where no other thread of the pool runs or allocates.
  // If none starts, one request is left for the manager, whose turn then
  // reports why.
  void SpawnAllBeforeManagerLocked();
  // The manager thread could not be started after SpawnAllBeforeManager:
  // kills and reaps every worker, since no one else would.
  void KillAllBeforeManagerLocked();

  // Written only by the thread that starts workers; the manager thread may
  // read it unlocked.
  const std::string& spawn_error() const { return spawn_error_; }

  // --- The manager thread (see above for submitters). ---

  const std::vector<std::unique_ptr<WorkerChannel>>& workers() const {
    return workers_;
  }
  bool Contains(const WorkerChannel* w) const;
  // Tells `w` to exit once its calls are done.
  void Stop(WorkerChannel& w);
  // `w` closed its socket or was killed: closes our end, reaps it and
  // removes it (taking the mutex). Returns its wait status. `w` stays valid
  // until EndTurn(), so callers may still read what it knew.
  int Remove(WorkerChannel* w);
  // SIGKILL, then Remove().
  int Kill(WorkerChannel* w);
  // Frees the workers removed since the last turn.
  void EndTurn() { graveyard_.clear(); }

  // kForkServer: the server's socket, readable when it reported an exit
  // (then call DrainReports); -1 otherwise.
  int report_fd() const;
  void DrainReports();
  // Once every worker is gone: stops the fork server, if any, from the
  // manager thread that started it.
  void CloseLauncher() { launcher_.reset(); }

 private:
  WorkerLauncher& Launcher();  // made on first use
  void Spawn(int other_threads);
  // Takes a started worker in: its channel, and the name it goes by.
  void Adopt(const LaunchedWorker& launched);

  const int max_workers_;
  const ProcessPoolOptions& options_;
  const FrameKey key_;
  std::mutex& mu_;

  // Guarded by mu_.
  std::vector<pid_t> pids_;  // live workers
  int idle_workers_ = 0;     // Python's _idle_worker_semaphore
  int to_spawn_ = 0;         // workers asked of the manager
  std::string spawn_error_;
  // A start failed while others ran: no new one is asked for before this.
  absl::Time retry_spawn_after_ = absl::InfinitePast();
  std::string worker_kind_ = "Process";  // "ForkProcess-1", as Python's

  // The manager thread's.
  std::unique_ptr<WorkerLauncher> launcher_;  // once the first starts
  std::vector<std::unique_ptr<WorkerChannel>> workers_;
  std::vector<std::unique_ptr<WorkerChannel>> graveyard_;  // removed this turn
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_WORKER_REGISTRY_H_
