#include "executors/transport/fork_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "executors/transport/build_fingerprint.h"
#include "executors/transport/clean_fork.h"

namespace cf::internal {
namespace {

// What the server tells the parent, in fixed-size records (the socket also
// carries descriptors the other way, so it is not a frame stream).
struct Report {
  enum Kind : std::int32_t { kForked = 1, kExited = 2, kForkFailed = 3 };
  std::int32_t kind = 0;
  std::int32_t pid = 0;
  std::int32_t value = 0;  // wait status, or errno
  std::int32_t reserved = 0;
};

// A one-byte message with room for one descriptor: how a worker's socket
// travels to the server.
struct FdMessage {
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;

  char byte = 'F';
  iovec iov{.iov_base = &byte, .iov_len = 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
};

int PollMs(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  return static_cast<int>(absl::ToInt64Milliseconds(timeout)) + 1;
}

bool SendReport(int fd, const Report& report) {
  const char* p = reinterpret_cast<const char*>(&report);
  std::size_t left = sizeof(report);
  while (left > 0) {
    const ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      left -= static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

ForkServer::ForkServer(const FrameKey& key, const Hello& hello) {
  int fds[2];
  MakeChannel(fds);
  try {
    pid_ = Reexec(kForkServerFlag, fds[1]);
  } catch (...) {
    CloseOwnedFd(fds[0]);
    CloseOwnedFd(fds[1]);
    throw;
  }
  CloseOwnedFd(fds[1]);
  fd_ = fds[0];
  try {
    SendHello(fd_, key, hello);
    FrameDecoder decoder(key, 1 << 20);
    absl::StatusOr<std::optional<Frame>> frame = ReadFrame(fd_, decoder);
    if (!frame.ok() || !frame->has_value() ||
        (*frame)->kind != FrameKind::kHello) {
      throw std::runtime_error(absl::StrCat(
          "ProcessPoolExecutor: the fork server (pid ", pid_,
          ") did not answer: ",
          frame.ok() ? "it exited" : frame.status().message()));
    }
    const std::string theirs = DecodeFingerprint((*frame)->payload);
    if (theirs != hello.fingerprint) {
      throw std::runtime_error(BuildMismatchMessage(
          absl::StrCat("the fork server (pid ", pid_, ")"), hello.fingerprint,
          theirs));
    }
  } catch (...) {
    CloseOwnedFd(fd_);
    fd_ = -1;
    kill(pid_, SIGKILL);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    throw;
  }
}

ForkServer::~ForkServer() {
  if (fd_ < 0) return;
  CloseOwnedFd(fd_);
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) return;
    usleep(1000);
  }
  kill(pid_, SIGKILL);
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

pid_t ForkServer::Fork(int worker_fd) {
  FdMessage message;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&message.msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &worker_fd, sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(fd_, &message.msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != 1) {
    throw std::runtime_error(absl::StrCat(
        "ProcessPoolExecutor: the fork server (pid ", pid_, ") is gone"));
  }
  forked_.reset();
  fork_errno_.reset();
  while (!forked_.has_value() && !fork_errno_.has_value()) {
    if (!ReadReport(absl::Seconds(60))) {
      throw std::runtime_error(
          absl::StrCat("ProcessPoolExecutor: the fork server (pid ", pid_,
                       ") did not fork a worker"));
    }
  }
  if (fork_errno_.has_value()) {
    throw std::runtime_error(
        absl::StrCat("ProcessPoolExecutor: the fork server's fork failed: ",
                     strerror(*fork_errno_)));
  }
  return *forked_;
}

std::optional<int> ForkServer::WaitExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    auto it = exited_.find(pid);
    if (it != exited_.end()) {
      const int status = it->second;
      exited_.erase(it);
      return status;
    }
    const absl::Duration left = deadline - absl::Now();
    if (gone_ || left <= absl::ZeroDuration() || !ReadReport(left)) {
      return std::nullopt;
    }
  }
}

void ForkServer::Drain() {
  while (!gone_ && ReadReport(absl::ZeroDuration())) {
  }
}

bool ForkServer::ReadReport(absl::Duration timeout) {
  if (gone_) return false;
  pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
  int r;
  do {
    r = poll(&p, 1, timeout == absl::ZeroDuration() ? 0 : PollMs(timeout));
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return false;
  Report report;
  char* dst = reinterpret_cast<char*>(&report);
  std::size_t got = 0;
  while (got < sizeof(report)) {
    const ssize_t n = recv(fd_, dst + got, sizeof(report) - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      gone_ = true;
      return false;
    }
  }
  switch (report.kind) {
    case Report::kForked:
      forked_ = report.pid;
      break;
    case Report::kExited:
      exited_[report.pid] = report.value;
      break;
    case Report::kForkFailed:
      fork_errno_ = report.value;
      break;
    default:
      gone_ = true;  // not a server we understand
      return false;
  }
  return true;
}

void RunForkServer(const WorkerConfig& config) {
  const int fd = config.fd;
  // Children are reaped as they end, through a signalfd in the same poll as
  // the parent's requests.
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old_mask);
  const int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) _exit(kWorkerExitBadStream);
  const pid_t server = getpid();
  while (true) {
    pollfd polls[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                       {.fd = sig_fd, .events = POLLIN, .revents = 0}};
    if (poll(polls, 2, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(kWorkerExitBadStream);
    }
    if (polls[1].revents != 0) {
      signalfd_siginfo info;
      while (read(sig_fd, &info, sizeof(info)) > 0) {
      }
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (!SendReport(fd, {Report::kExited, pid, status, 0})) {
          _exit(kWorkerExitOk);
        }
      }
    }
    if (polls[0].revents == 0) continue;
    FdMessage message;
    const ssize_t n = recvmsg(fd, &message.msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    // The parent closed its end (the pool is done) or went away: the
    // workers, told to stop or dying with us, need nothing more.
    if (n <= 0) _exit(kWorkerExitOk);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&message.msg);
    if (message.byte != 'F' || cmsg == nullptr ||
        cmsg->cmsg_type != SCM_RIGHTS) {
      _exit(kWorkerExitBadStream);
    }
    int worker_fd;
    std::memcpy(&worker_fd, CMSG_DATA(cmsg), sizeof(int));
    const pid_t pid = fork();
    if (pid == 0) {
      close(fd);
      close(sig_fd);
      sigprocmask(SIG_SETMASK, &old_mask, nullptr);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != server) _exit(kWorkerExitOk);
      WorkerConfig worker = config;
      worker.fd = worker_fd;
      RunWorker(worker);
    }
    const int err = errno;
    close(worker_fd);
    const Report report = pid > 0 ? Report{Report::kForked, pid, 0, 0}
                                  : Report{Report::kForkFailed, 0, err, 0};
    if (!SendReport(fd, report)) _exit(kWorkerExitOk);
  }
}

}  // namespace cf::internal
