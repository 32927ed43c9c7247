// Starting a process pool's workers by start method, and learning how each
// one ended.
//
// The one thing to know: one thread at a time uses a launcher (the pool's
// manager, or the main thread before the manager exists), and a thread that
// forks a worker must outlive it: a worker's parent-death signal fires when
// the thread that forked it ends. A kForkServer worker's exit status comes
// from the server the launcher owns.
//
//   internal::WorkerLauncher launcher(StartMethod::kFork, key, hello);
//   internal::LaunchedWorker w = launcher.Launch();   // pid, socket, pidfd
//   ...
//   int status = launcher.Reap(w.pid, w.pidfd);       // DescribeStatus(...)
#ifndef CF_EXECUTORS_INTERNAL_WORKER_LAUNCHER_H_
#define CF_EXECUTORS_INTERNAL_WORKER_LAUNCHER_H_

#include <sys/types.h>

#include <memory>
#include <vector>

#include "executors/process_pool_executor.h"
#include "executors/transport/fork_server.h"
#include "executors/transport/frame.h"
#include "executors/transport/reexec.h"

namespace cf::internal {

// A started worker: the parent's end of its socket (non-blocking, owned by
// the caller), and a pidfd that becomes readable when it exits (-1 where the
// kernel has none).
struct LaunchedWorker {
  pid_t pid = -1;
  int fd = -1;
  int pidfd = -1;
  // kSpawn: the worker answers the hello with its build fingerprint before
  // anything else; false until that answer is read.
  bool greeted = true;
};

class WorkerLauncher {
 public:
  // `hello` configures every worker: what a re-executed one gets in its
  // hello, and what a forked one is given directly.
  WorkerLauncher(StartMethod method, const FrameKey& key, Hello hello);
  ~WorkerLauncher();
  WorkerLauncher(const WorkerLauncher&) = delete;
  WorkerLauncher& operator=(const WorkerLauncher&) = delete;

  // Starts one worker. Throws std::runtime_error naming what failed.
  // `other_threads`: how many other threads may run at a kFork fork without
  // a warning (the pool's owner, when its manager forks).
  LaunchedWorker Launch(int other_threads = 1);
  // kFork only: starts `n` workers, or as many as could be (throws only if
  // none could), forked back to back before anything else is done for them:
  // each fork write-protects every page of this process again, so what the
  // parent wrote between two forks (a pidfd, a channel's bookkeeping) it
  // pays for again in copy-on-write faults after the next, and the check
  // for other threads runs once.
  std::vector<LaunchedWorker> ForkAll(int n, int other_threads = 1);

  // The wait status of worker `pid`, which has exited or is exiting; one
  // that lingers past a second is killed. Closes `pidfd`.
  int Reap(pid_t pid, int pidfd);

  // kForkServer: the server's socket, readable when it reported an exit
  // (then call DrainReports); -1 otherwise.
  int report_fd() const;
  void DrainReports();

  // "Fork", "Spawn" or "ForkServer", as Python prefixes its process names.
  const char* method_name() const;

 private:
  // The child never returns: it runs the worker loop on `child_end`.
  pid_t Fork(int child_end);
  // The parent's side of a started worker: its end of the socket
  // (non-blocking), a pidfd, and the hello a re-executed worker needs.
  void Connect(const int fds[2], LaunchedWorker& worker);

  const StartMethod method_;
  const FrameKey key_;
  const Hello hello_;
  std::unique_ptr<ForkServer> fork_server_;  // kForkServer, once started
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_WORKER_LAUNCHER_H_
