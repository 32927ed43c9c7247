// Watching a worker process end and saying how it ended, even when the
// program ignores SIGCHLD or reaps children itself, and even when a
// grandchild keeps the worker's socket open.
//
// The one thing to know: a worker's end is seen through its pidfd (readable
// once the process has exited), not through EOF on its socket, which any
// process that inherited the socket can hold open. Its wait status comes
// from waitpid, or, when someone else collected it first, from the kernel's
// record behind the pidfd (Linux 6.15+); otherwise it is reported unknown,
// never guessed.
//
//   int pidfd = internal::OpenPidfd(pid);      // poll it for POLLIN
//   int status = internal::ReapChild(pid, pidfd, absl::Seconds(1));
//   std::string how = internal::DescribeStatus(status);  // "was killed by..."
#ifndef CF_EXECUTORS_TRANSPORT_CHILD_EXIT_H_
#define CF_EXECUTORS_TRANSPORT_CHILD_EXIT_H_

#include <sys/types.h>

#include <string>

#include "absl/time/time.h"

namespace cf::internal {

// Wait statuses nobody could collect.
inline constexpr int kStatusLostWithServer = -1;  // the fork server is gone
inline constexpr int kStatusNotCollected = -2;    // reaped by someone else

// A close-on-exec pidfd for `pid`, registered as cf's (clean_fork.h); -1
// where the kernel has none.
int OpenPidfd(pid_t pid);

// Whether the process behind `pidfd` has exited, waiting up to `timeout`.
bool WaitExited(int pidfd, absl::Duration timeout);

// The wait status of our child `pid`, which has ended or is ending: waits up
// to `linger` for it, then kills it with SIGKILL. Closes `pidfd`.
int ReapChild(pid_t pid, int pidfd, absl::Duration linger);

// The wait status the kernel kept for the process behind `pidfd`, or
// kStatusNotCollected where it keeps none.
int StatusFromPidfd(int pidfd);

// "exited with code 99", "was killed by signal 9 (SIGKILL)".
std::string DescribeStatus(int status);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_CHILD_EXIT_H_
