// How cf::Process starts a child under each start method and hands it what it
// needs, on the process transport (executors/transport/): the child is a
// worker loop (RunWorker) whose one task is ProcessMain (executors/process.cc)
// with a ProcessStart argument; ProcessMain then takes the channel over,
// asks for the descriptors its arguments name (SCM_RIGHTS), closes the
// channel and runs the target.
//
// The one thing to know: LaunchProcess returns only once the child holds its
// descriptors, so the caller may close its own copies (a Pipe end) at once.
// Children are started from the main thread, or from a launcher thread that
// lives as long as the process when start() is called from any other: a
// parent-death signal fires when the *thread* that started a child ends.
//
//   LaunchedChild child = LaunchProcess(StartMethod::kSpawn, payload, fds, daemon);
//   ... WaitExited(child.pidfd, timeout) ...
//   int status = CollectStatus(child);
#ifndef CF_EXECUTORS_INTERNAL_PROCESS_LAUNCH_H_
#define CF_EXECUTORS_INTERNAL_PROCESS_LAUNCH_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "executors/process_pool_executor.h"  // cf::StartMethod
#include "executors/transport/process_identity.h"

namespace cf::internal {

// The argument of a child's entry call.
struct ProcessStart {
  ProcessIdentity identity;
  std::vector<int> numbers;  // Python's _identity: (1,), (1, 2) for a grandchild
  std::string parent_name;
  std::uint32_t fd_count = 0;
  std::string call;  // the target: EncodeCall<void>(target, args)
  bool via_server = false;  // kForkServer: the parent is the server

  template <class Archive>
  void serialize(Archive& archive) {
    archive(identity, numbers, parent_name, fd_count, call, via_server);
  }
};

class ForkServer;

struct LaunchedChild {
  pid_t pid = -1;
  int pidfd = -1;  // registered as cf's (clean_fork.h)
  // kForkServer: the server that forked it, which alone can reap it.
  std::shared_ptr<ForkServer> server;
};

// Starts a child that runs `entry_call` (an encoded call of ProcessMain) and
// hands it `fds`. Throws std::runtime_error if it cannot be started, runs
// another build, or fails before it takes the call.
LaunchedChild LaunchProcess(StartMethod method, const std::string& entry_call,
                            const std::vector<int>& fds);

// The wait status of a child whose pidfd reports it ended (child_exit.h's
// conventions for statuses nobody could collect). Closes the pidfd.
int CollectStatus(LaunchedChild& child);

// In ProcessMain: takes the worker channel over, reports ready, receives
// `fd_count` descriptors and closes the channel.
std::vector<int> AcceptStart(std::uint32_t fd_count);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_PROCESS_LAUNCH_H_
