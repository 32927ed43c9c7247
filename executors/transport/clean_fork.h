// Forking a worker so that it holds only its own channel: every descriptor
// any cf pool in this process owns (sockets to other workers, wake-up
// eventfds, pidfds, fork-server sockets) is registered here, and a child
// forked with ForkWorkerProcess closes all of them but its own.
//
// The one thing to know: channels are made and children forked under one
// process-wide lock, so a pool starting workers in one thread never leaks a
// half-made channel into a child that another pool forks at the same moment
// (that leak kept a worker's socket open and hung the other pool's shutdown).
//
//   int fds[2];
//   internal::MakeChannel(fds);                // both ends registered
//   pid_t pid = internal::ForkWorkerProcess(fds[1]);
//   if (pid == 0) RunWorker(...);              // child: only fds[1] is ours
//   internal::CloseOwnedFd(fds[1]);
#ifndef CF_EXECUTORS_TRANSPORT_CLEAN_FORK_H_
#define CF_EXECUTORS_TRANSPORT_CLEAN_FORK_H_

#include <sys/types.h>

#include <string_view>

namespace cf::internal {

// Records `fd` as cf's (closed in every worker forked from now on).
void RegisterOwnedFd(int fd);
// Forgets and closes `fd`; a negative fd is ignored.
void CloseOwnedFd(int fd);

// A close-on-exec AF_UNIX stream socketpair, both ends registered. Throws
// std::runtime_error naming errno.
void MakeChannel(int fds[2]);

// Flushes stdout and stderr (C and C++ streams), as Python does before it
// forks, then forks. In the child (returns 0): every registered descriptor
// except `keep_fd` is closed and the stdio buffers copied from the parent
// are discarded, so a worker never prints the parent's output again. Throws
// std::runtime_error if fork fails.
pid_t ForkWorkerProcess(int keep_fd);

// exit() in a child running cf's code (a worker's task, a cf::Process
// target) must end the child, before the exit handlers and static
// destructors it copied from its parent run (a static pool's destructor
// would wait for this very child). The handlers that do it are registered
// once per process, in the parent, before its first fork (ForkWorkerProcess
// calls ArmChildExitHooks): a child must not call on_exit() itself, since
// glibc guards its list of exit handlers with a lock that fork does not
// reset, and a child forked while another thread held it (registering a
// function-local static's destructor, say) would wait for it forever.
//
// In the child: `hook` runs when it calls exit() (with its status) or
// quick_exit() (`quick`), before the hooks pushed earlier. At most four.
void PushChildExitHook(void (*hook)(int status, bool quick));
// Registers the handlers that run the hooks; once per process, later calls
// do nothing. In the parent they run no hook.
void ArmChildExitHooks();

// Forking copies one thread of a process whose other threads may hold locks
// (in malloc, in any library) that then stay locked forever in the child;
// Python warns too (DeprecationWarning, 3.12). Called in the parent right
// after a fork: prints one warning on stderr, once per process, if this
// process runs more threads than the calling one, `expected_others` of cf's
// own and a sanitizer's background thread. A thread seen may be on its way
// out (just joined, not yet reaped): it gets up to 10 ms to go.
// `who` starts the line ("cf::Process"), `what` names the children
// ("worker processes").
void WarnIfForkingWithThreads(std::string_view who, std::string_view what,
                              int expected_others);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_CLEAN_FORK_H_
