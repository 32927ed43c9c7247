// The kForkServer start method: one re-executed, single-threaded copy of this
// program forks the workers of every kForkServer pool of the process, so
// workers never inherit the locks and threads of a busy parent, each starts
// in about the time of a fork, and only the first pool pays for starting
// the server (as Python's forkserver, which is also shared).
//
// The one thing to know: the workers are the server's children, not ours, so
// only the server can reap them; it reports each one's wait status to the
// pool that asked for it, and a pool learns how a worker ended from WaitExit,
// never from waitpid. The server lives until this process exits (it sees its
// socket close, and its workers die with it).
//
//   internal::ForkServer server(worker_config);   // this pool's connection
//   pid_t pid = server.Fork(worker_fd);
//   std::optional<int> status = server.WaitExit(pid, absl::Seconds(1));
#ifndef CF_EXECUTORS_TRANSPORT_FORK_SERVER_H_
#define CF_EXECUTORS_TRANSPORT_FORK_SERVER_H_

#include <sys/types.h>

#include <map>
#include <optional>

#include "absl/time/time.h"
#include "executors/transport/frame.h"
#include "executors/transport/process_worker.h"
#include "executors/transport/reexec.h"

namespace cf::internal {

// One pool's connection to the process's fork server. Not thread-safe: the
// pool's manager thread alone uses it.
class ForkServer {
 public:
  // Connects, starting the server if none runs. `config` (without its fd)
  // is what every worker forked for this connection runs with. Throws
  // std::runtime_error if the server cannot start or runs another build
  // (the message says which).
  explicit ForkServer(const WorkerConfig& config);
  // Closes the connection; the server stays up for later pools.
  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // Has the server fork a worker serving `worker_fd` (which stays ours to
  // close). Returns its pid; throws std::runtime_error on failure.
  pid_t Fork(int worker_fd);

  // The wait status of worker `pid`, once the server has reaped it; waits
  // up to `timeout`. std::nullopt if it does not come (or the server died).
  std::optional<int> WaitExit(pid_t pid, absl::Duration timeout);

  // Readable when the server has reported something; then call Drain().
  int fd() const { return fd_; }
  void Drain();

  pid_t pid() const { return pid_; }

 private:
  // Reads one report, waiting up to `timeout`; false on timeout or EOF.
  bool ReadReport(absl::Duration timeout);

  std::string request_;  // the config part of every fork request
  pid_t pid_ = -1;       // the server's
  int fd_ = -1;
  bool gone_ = false;             // the server closed our connection
  std::map<pid_t, int> exited_;   // reaped by the server, not yet asked for
  std::optional<pid_t> forked_;   // the answer to the pending Fork
  std::optional<int> fork_errno_;
};

// The server's pid, or -1 while none runs: it is this process's child for
// as long as the process lives, so tests counting children leave it out.
pid_t ForkServerPid();

// Ends the server (the next kForkServer pool starts a fresh one), after its
// pools are gone. For tests.
void StopForkServer();

// The server's side: reads connections from `control_fd` and, on each,
// fork requests; forks a worker for each and reports its pid, then its wait
// status once it ends. Exits when `control_fd` closes (this process ended).
[[noreturn]] void RunForkServer(int control_fd);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_FORK_SERVER_H_
