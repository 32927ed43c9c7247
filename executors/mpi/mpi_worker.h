// The worker side of an MPI pool: the loop a rank runs while it serves a
// root, whether MPIPoolExecutor spawned it, `mpirun` started it next to
// rank 0 (launcher mode), or it is a non-root rank of an MPICommExecutor.
//
// The one thing to know: a worker never runs a task before it has compared
// build fingerprints with the root, and it keeps watching the root (its
// pidfd on the same host, its heartbeats elsewhere), so a worker whose root
// died ends instead of waiting forever.
//
//   MPI_Comm inter = SplitAtRoot(comm, root);   // this rank is not the root
//   SessionOutcome outcome = ServeSession(inter, {.rank = rank_in_comm});
#ifndef CF_EXECUTORS_MPI_MPI_WORKER_H_
#define CF_EXECUTORS_MPI_MPI_WORKER_H_

#include <mpi.h>

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "executors/mpi/mpi_protocol.h"

namespace cf::internal {

struct ServeOptions {
  int rank = 0;  // named in WorkerHello and in the tracebacks of tasks
  // How long to wait for the root's hello; infinite between the sessions
  // of a launch, where `root` (if set) tells whether rank 0 still exists.
  absl::Duration hello_timeout = absl::Seconds(60);
  const PeerWatch* root = nullptr;
};

enum class SessionEnd {
  kEnded,     // the root ended the session
  kExit,      // the root told a launch worker to exit
  kRootLost,  // the root died or stopped answering
};

struct SessionOutcome {
  SessionEnd end = SessionEnd::kEnded;
  // kRootLost: what happened; kExit: "broken" when a rank of the launch
  // died, so that no one finalizes (SkipMPIFinalizeAtExit).
  std::string why = {};
};

// Serves one session of the root (rank 0 of the remote group of `inter`),
// from its hello to its end. A worker whose build differs from the root's,
// or whose initializer threw, says so and runs no task, but stays in the
// session until the root ends it.
SessionOutcome ServeSession(MPI_Comm inter, const ServeOptions& options);

// Flushes this worker's output; if `why` is not empty, prints "cf MPI worker
// <who>: <why>" and exits with code 1 at once (MPI_Finalize could wait on a
// root that is gone; the launcher reports a worker that ends without it,
// which is what happened).
void EndWorkerOutput(std::string_view who, const std::string& why);

// In a process an MPIPoolExecutor spawned (argv[1] == kMPIWorkerFlag):
// serves its parent, finalizes MPI and exits.
[[noreturn]] void ServeSpawnedWorker();

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_WORKER_H_
