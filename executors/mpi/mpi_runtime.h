// The MPI library as cf's MPI executors use it: initialized once per process
// (by cf, unless the program did it first) and finalized at exit by whoever
// initialized it, plus what a rank tells its peers about itself.
//
// The one thing to know: cf asks for MPI_THREAD_MULTIPLE, because a pool's
// threads (its manager, or a thread waiting on one of its futures, one at a
// time) and a worker's heartbeat thread call MPI next to the program's own
// threads. An MPI that the program initialized with less than
// MPI_THREAD_SERIALIZED is refused with an error saying so; with exactly
// SERIALIZED, the program must not call MPI while an MPI executor runs.
//
//   cf::internal::EnsureMPI();  // before any MPI call of cf's
//   if (cf::internal::SameKernel(peer_host, cf::internal::ThisHost())) ...
#ifndef CF_EXECUTORS_MPI_MPI_RUNTIME_H_
#define CF_EXECUTORS_MPI_MPI_RUNTIME_H_

#include <mpi.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace cf::internal {

// argv[1] of a process that an MPIPoolExecutor spawned.
inline constexpr char kMPIWorkerFlag[] = "--cf-mpi-worker";

// An MPI call failed; what() names the call and MPI's own error text.
class MPIError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Initializes MPI unless it is; returns the thread level it provides.
// Throws MPIError if MPI was already finalized or provides less than
// MPI_THREAD_SERIALIZED.
int EnsureMPI();

// Makes the MPI_Finalize that EnsureMPI registered for exit a no-op: Open
// MPI 4.1's MPI_Finalize waits for every rank of the job, and never returns
// when one of them died (even under --enable-recovery).
void SkipMPIFinalizeAtExit();

// MPI's text for an error code: "MPI_ERR_TRUNCATE: message truncated".
std::string MPIErrorText(int code);
// Throws MPIError("<what>: <MPIErrorText(code)>") unless code is MPI_SUCCESS.
void CheckMPI(int code, const char* what);

// Where a process runs. Two processes with the same boot id and pid
// namespace see each other's pids, so each can watch the other's end
// through a pidfd instead of waiting for heartbeats to stop.
struct HostIdentity {
  std::string name;  // gethostname()
  std::string boot_id;
  std::uint64_t pid_namespace = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(name, boot_id, pid_namespace);
  }
};

const HostIdentity& ThisHost();
bool SameKernel(const HostIdentity& a, const HostIdentity& b);

// Splits the intracommunicator `comm` into the root alone and everyone else,
// joined by an intercommunicator (mpi4py's comm_split); collective over
// `comm`. Works on a duplicate, so no message of the program's can meet the
// split's. The result has MPI_ERRORS_RETURN; MPI_Comm_free it.
MPI_Comm SplitAtRoot(MPI_Comm comm, int root);

// The number of workers mpi4py would start: $CF_MPI_MAX_WORKERS, else
// MPI_UNIVERSE_SIZE minus this job's size when MPI knows it, else 1.
int DefaultMPIWorkers();

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_RUNTIME_H_
