#include "executors/transport/child_exit.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/process_worker.h"

namespace cf::internal {
namespace {

// PIDFD_GET_INFO (Linux 6.13; the exit status since 6.15). Debian 12's
// headers predate it.
struct PidfdInfo {
  std::uint64_t mask;
  std::uint64_t cgroupid;
  std::uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid,
      fsgid;
  std::int32_t exit_code;
  std::uint32_t coredump_mask;
  std::uint32_t spare;
};
constexpr std::uint64_t kPidfdInfoExit = 1u << 3;
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);

int PollMs(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  if (timeout <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(timeout)) + 1;
}

// Our own exit codes (process_worker.h), in words.
const char* WorkerExitReason(int code) {
  switch (code) {
    case kWorkerExitInitializerFailed:
      return " (its initializer failed)";
    case kWorkerExitBadStream:
      return " (it received a corrupt stream from this process)";
    case kWorkerExitBuildMismatch:
      return " (it runs a different build)";
    case kWorkerExitRefusedCall:
      return " (it refused a call naming no entry point of this program)";
    default:
      return "";
  }
}

}  // namespace

int OpenPidfd(pid_t pid) {
  // Debian 12's <sys/pidfd.h> lacks extern "C": call the kernel directly.
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  RegisterOwnedFd(fd);
  return fd;
}

bool WaitExited(int pidfd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    pollfd p{.fd = pidfd, .events = POLLIN, .revents = 0};
    const int r = poll(&p, 1, PollMs(deadline - absl::Now()));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // a bad pidfd: nothing to wait for
  }
}

int ReapChild(pid_t pid, int pidfd, absl::Duration linger) {
  int status = 0;
  if (pidfd >= 0) {
    if (!WaitExited(pidfd, linger)) {
      kill(pid, SIGKILL);
      WaitExited(pidfd, absl::InfiniteDuration());
    }
    pid_t r;
    do {
      r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r != pid) status = StatusFromPidfd(pidfd);
    CloseOwnedFd(pidfd);
    return status;
  }
  // No pidfd (an old kernel): poll waitpid, then kill.
  for (int i = 0; i < absl::ToInt64Milliseconds(linger); ++i) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return kStatusNotCollected;
    usleep(1000);
  }
  kill(pid, SIGKILL);
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  return r == pid ? status : kStatusNotCollected;
}

int StatusFromPidfd(int pidfd) {
  if (pidfd < 0) return kStatusNotCollected;
  PidfdInfo info{};
  info.mask = kPidfdInfoExit;
  if (ioctl(pidfd, kPidfdGetInfo, &info) != 0 ||
      (info.mask & kPidfdInfoExit) == 0) {
    return kStatusNotCollected;
  }
  return info.exit_code;
}

std::string DescribeStatus(int status) {
  if (status == kStatusLostWithServer) {
    return "ended (its exit status was lost with the fork server)";
  }
  if (status == kStatusNotCollected) {
    return "ended, with an exit status this process could not collect (it "
           "ignores SIGCHLD or reaps its children itself, and the kernel "
           "kept no record)";
  }
  if (WIFEXITED(status)) {
    return absl::StrCat("exited with code ", WEXITSTATUS(status),
                        WorkerExitReason(WEXITSTATUS(status)));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return absl::StrCat("was killed by signal ", sig, " (SIG",
                        abbrev != nullptr ? abbrev : "?", ")");
  }
  return absl::StrCat("ended with wait status ", status);
}

}  // namespace cf::internal
