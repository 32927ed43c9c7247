// The root's end of an MPI pool's connection: starting or adopting the
// workers, the hellos that check every worker runs this build, sending and
// receiving without ever blocking, heartbeats, and noticing a worker that
// is gone. It calls MPI; it knows nothing of futures (mpi_client.h does).
//
// The one thing to know: every call here returns promptly, whatever the
// workers do. Sends are non-blocking (their buffers are kept until MPI is
// done with them), and a worker that died, or fell silent for the
// heartbeat timeout, is reported by Tend() as the reason the pool is
// broken, instead of being waited for.
//
//   RootSession session;
//   session.Open(config);                  // throws with the reason
//   session.Send(0, kMPITagTasks, batch);  // records of WithId(id) + call
//   while (auto m = session.Receive()) ...
//   if (std::string why = session.Tend(absl::Now()); !why.empty()) ...
//   session.Close(/*clean=*/true);
#ifndef CF_EXECUTORS_MPI_MPI_SESSION_H_
#define CF_EXECUTORS_MPI_MPI_SESSION_H_

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "executors/mpi/mpi_protocol.h"

namespace cf::internal {

struct MPISessionConfig {
  enum class Kind {
    kSpawn,   // MPIPoolExecutor: MPI_Comm_spawn of the program
    kComm,    // MPICommExecutor: the other ranks of a communicator
    kLaunch,  // rank 0 of `mpirun -n N`: ranks 1..N-1
    kLocal,   // MPICommExecutor on a communicator of one: a thread here
  };
  Kind kind = Kind::kSpawn;
  const char* executor = "MPIPoolExecutor";  // for messages
  // kSpawn: what to start, how many, and MPI_Comm_spawn's info keys.
  int max_workers = 1;
  std::string program = {};
  std::vector<std::string> args = {};
  std::vector<std::pair<std::string, std::string>> info = {};
  // kComm, kLaunch: the intercommunicator to the workers (not owned).
  MPI_Comm inter = MPI_COMM_NULL;
  std::string initializer = {};  // an encoded call, or empty
  absl::Duration heartbeat_timeout = absl::Seconds(10);
};

class RootSession {
 public:
  RootSession() = default;
  RootSession(const RootSession&) = delete;
  RootSession& operator=(const RootSession&) = delete;
  ~RootSession();

  // Starts (kSpawn) or adopts the workers and exchanges hellos with every
  // one. Throws std::runtime_error with the reason the pool cannot work (a
  // spawn that failed, a worker of another build, one that never answered).
  void Open(const MPISessionConfig& config);
  bool open() const { return inter_ != MPI_COMM_NULL; }
  int size() const { return static_cast<int>(workers_.size()); }
  // "rank 1 (pid 4242 on host node7)".
  std::string Describe(int worker) const;

  // Sends without waiting; `bytes` are kept until MPI is done with them.
  void Send(int worker, int tag, std::string bytes);
  // The next message from a worker, if one has arrived.
  std::optional<MPIMessage> Receive();
  // Sends due heartbeats, frees finished sends and checks every worker;
  // returns why the pool is broken ("" while it is not). Cheap to call
  // often: the checks run every 10 ms.
  std::string Tend(absl::Time now);

  // Ends the session: every worker is told, and each one still there says
  // goodbye (what it had in flight drained first). `clean`: the pool is not
  // broken, so its workers get as long as they need; a broken pool's get a
  // couple of seconds.
  void Close(bool clean);

 private:
  struct Worker {
    WorkerHello hello;
    PeerWatch watch;
    bool bye = false;
  };
  void Spawn(const MPISessionConfig& config);
  void Greet(const MPISessionConfig& config);
  std::string CheckWorkers(absl::Time now);

  MPISessionConfig::Kind kind_ = MPISessionConfig::Kind::kSpawn;
  const char* executor_ = "";
  MPI_Comm inter_ = MPI_COMM_NULL;
  MPI_Comm self_ = MPI_COMM_NULL;  // kSpawn: our own MPI_COMM_SELF
  std::vector<Worker> workers_;
  absl::Duration heartbeat_interval_ = absl::ZeroDuration();
  absl::Time next_heartbeat_;
  absl::Time next_check_;
  // Sends in progress, and the bytes each reads (on the heap: a moved
  // std::string may move its bytes, and MPI holds their address).
  std::vector<MPI_Request> requests_;
  std::vector<std::unique_ptr<std::string>> buffers_;
  // Messages that arrived while the hellos were being collected.
  std::deque<MPIMessage> early_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_SESSION_H_
