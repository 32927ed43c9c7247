// The kForkServer start method: one re-executed, single-threaded copy of this
// program forks every worker of a pool, so workers never inherit the locks
// and threads of a busy parent, and each starts in microseconds.
//
// The one thing to know: the workers are the server's children, not ours, so
// only the server can reap them; it reports each one's wait status, and the
// pool learns how a worker ended from WaitExit, never from waitpid.
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

// The parent's handle on a running fork server. Not thread-safe: the pool's
// manager thread alone uses it.
class ForkServer {
 public:
  // Starts the server and waits for its answer. Throws std::runtime_error if
  // it cannot start or runs another build (the message says which).
  ForkServer(const FrameKey& key, const Hello& hello);
  // Closes the server's socket (it exits) and reaps it.
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

  pid_t pid_ = -1;
  int fd_ = -1;
  bool gone_ = false;               // the server closed its end
  std::map<pid_t, int> exited_;     // reaped by the server, not yet asked for
  std::optional<pid_t> forked_;     // the answer to the pending Fork
  std::optional<int> fork_errno_;
};

// The server's side: forks a worker for each descriptor the parent sends and
// reports its pid, then its wait status once it ends. Exits when the parent
// closes the socket.
[[noreturn]] void RunForkServer(const WorkerConfig& config);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_FORK_SERVER_H_
