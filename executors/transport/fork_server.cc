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

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executors/transport/build_fingerprint.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/remote_call.h"

namespace cf::internal {
namespace {

// What the server tells a pool, in fixed-size records (the socket also
// carries descriptors the other way, so it is not a frame stream).
struct Report {
  enum Kind : std::int32_t { kForked = 1, kExited = 2, kForkFailed = 3 };
  std::int32_t kind = 0;
  std::int32_t pid = 0;
  std::int32_t value = 0;  // wait status, or errno
  std::int32_t reserved = 0;
};

// Requests: a tag byte carrying one descriptor. 'C' on the control socket
// hands over a new pool's connection; 'F' on a connection asks for a worker
// on the descriptor, followed by the worker's configuration (a 4-byte
// length, then an encoded WireConfig).
constexpr char kConnect = 'C';
constexpr char kFork = 'F';
constexpr std::uint32_t kMaxConfig = 64u << 20;

// WorkerConfig as it travels (the descriptor travels beside it).
struct WireConfig {
  std::string key;
  std::uint64_t max_payload = 0;
  std::string initializer;
  std::int64_t max_tasks = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(key, max_payload, initializer, max_tasks);
  }
};

// A message of `size` bytes at `data` with room for one descriptor.
struct FdMessage {
  FdMessage(char* data, std::size_t size) : iov{data, size} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;

  iovec iov;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
};

// Sends `bytes` with `fd` attached to its first byte.
bool SendWithFd(int socket, std::string_view bytes, int fd) {
  FdMessage m(const_cast<char*>(bytes.data()), bytes.size());
  msghdr& msg = m.msg;
  iovec& iov = m.iov;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = sendmsg(socket, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
    iov.iov_base = const_cast<char*>(bytes.data()) + sent;
    iov.iov_len = bytes.size() - sent;
    msg.msg_control = nullptr;  // the descriptor went with the first byte
    msg.msg_controllen = 0;
  }
  return true;
}

// Reads one tag byte and the descriptor attached to it (-1 if none).
// Returns the bytes read: 0 at end of stream, -1 on error.
ssize_t ReceiveWithFd(int socket, char* tag, int* fd) {
  FdMessage m(tag, 1);
  msghdr& msg = m.msg;
  ssize_t n;
  do {
    n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  *fd = -1;
  cmsghdr* cmsg = n > 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
  if (cmsg != nullptr && cmsg->cmsg_type == SCM_RIGHTS) {
    std::memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
  }
  return n;
}

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

// The one server of this process, started by the first pool that needs it.
struct Server {
  std::mutex mu;
  pid_t pid = -1;
  int control = -1;
};

Server& TheServer() {
  static Server* server = new Server();  // lives as long as the process
  return *server;
}

void WaitForServer(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return;
    usleep(1000);
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

void StopLocked(Server& s) {
  if (s.control < 0) return;
  CloseOwnedFd(s.control);  // it exits when it sees this
  s.control = -1;
  WaitForServer(s.pid);
  s.pid = -1;
}

// Starts the server unless it runs, and checks it runs our build.
void StartLocked(Server& s) {
  if (s.control >= 0) return;
  int fds[2];
  MakeChannel(fds);
  pid_t pid;
  try {
    pid = Reexec(kForkServerFlag, fds[1]);
  } catch (...) {
    CloseOwnedFd(fds[0]);
    CloseOwnedFd(fds[1]);
    throw;
  }
  CloseOwnedFd(fds[1]);
  try {
    const FrameKey key = FrameKey::Random();
    SendHello(fds[0], key, Hello{.fingerprint = ProcessFingerprint()});
    FrameDecoder decoder(key, 1 << 20);
    absl::StatusOr<std::optional<Frame>> frame = ReadFrame(fds[0], decoder);
    if (!frame.ok() || !frame->has_value() ||
        (*frame)->kind != FrameKind::kHello) {
      throw std::runtime_error(absl::StrCat(
          "ProcessPoolExecutor: the fork server (pid ", pid,
          ") did not answer: ",
          frame.ok() ? "it exited" : frame.status().message()));
    }
    const std::string theirs = DecodeFingerprint((*frame)->payload);
    if (theirs != ProcessFingerprint()) {
      throw std::runtime_error(BuildMismatchMessage(
          absl::StrCat("the fork server (pid ", pid, ")"),
          ProcessFingerprint(), theirs));
    }
  } catch (...) {
    CloseOwnedFd(fds[0]);
    kill(pid, SIGKILL);
    WaitForServer(pid);
    throw;
  }
  s.pid = pid;
  s.control = fds[0];
}

}  // namespace

ForkServer::ForkServer(const WorkerConfig& config) {
  const std::string wire = EncodeValue(WireConfig{
      .key = std::string(config.key.bytes()),
      .max_payload = config.max_payload,
      .initializer = config.initializer,
      .max_tasks = config.max_tasks});
  const std::uint32_t size = static_cast<std::uint32_t>(wire.size());
  request_.push_back(kFork);
  request_.append(reinterpret_cast<const char*>(&size), sizeof(size));
  request_.append(wire);
  Server& s = TheServer();
  std::lock_guard<std::mutex> lock(s.mu);
  // Twice: a server that died meanwhile is replaced once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    StartLocked(s);
    int fds[2];
    MakeChannel(fds);
    const bool sent = SendWithFd(s.control, std::string(1, kConnect), fds[1]);
    CloseOwnedFd(fds[1]);
    if (sent) {
      fd_ = fds[0];
      pid_ = s.pid;
      return;
    }
    CloseOwnedFd(fds[0]);
    StopLocked(s);
  }
  throw std::runtime_error(
      "ProcessPoolExecutor: the fork server exited and could not be "
      "restarted");
}

ForkServer::~ForkServer() { CloseOwnedFd(fd_); }

pid_t ForkServer::Fork(int worker_fd) {
  if (gone_ || !SendWithFd(fd_, request_, worker_fd)) {
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
  if (!ReadExactly(fd_, reinterpret_cast<char*>(&report), sizeof(report))) {
    gone_ = true;
    return false;
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

pid_t ForkServerPid() {
  Server& s = TheServer();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.pid;
}

void StopForkServer() {
  Server& s = TheServer();
  std::lock_guard<std::mutex> lock(s.mu);
  StopLocked(s);
}

void RunForkServer(int control) {
  // Children are reaped as they end, through a signalfd in the same poll as
  // the requests.
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old_mask);
  const int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) _exit(kWorkerExitBadStream);
  const pid_t server = getpid();
  std::vector<int> clients;      // one connection per pool
  std::map<pid_t, int> owner;    // worker -> the connection that asked
  std::vector<pollfd> polls;
  while (true) {
    polls.assign({{.fd = control, .events = POLLIN, .revents = 0},
                  {.fd = sig_fd, .events = POLLIN, .revents = 0}});
    for (int c : clients) polls.push_back({.fd = c, .events = POLLIN, .revents = 0});
    if (poll(polls.data(), polls.size(), -1) < 0) {
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
        auto it = owner.find(pid);
        if (it == owner.end()) continue;
        SendReport(it->second, {Report::kExited, pid, status, 0});
        owner.erase(it);
      }
    }
    if (polls[0].revents != 0) {
      char tag = 0;
      int fd = -1;
      // This process ended (or dropped us): workers still running die with
      // the server (their parent-death signal).
      if (ReceiveWithFd(control, &tag, &fd) <= 0) _exit(kWorkerExitOk);
      if (tag != kConnect || fd < 0) _exit(kWorkerExitBadStream);
      clients.push_back(fd);
    }
    for (std::size_t i = 2; i < polls.size(); ++i) {
      if (polls[i].revents == 0) continue;
      const int client = polls[i].fd;
      char tag = 0;
      int worker_fd = -1;
      std::uint32_t size = 0;
      std::string wire;
      const bool ok = ReceiveWithFd(client, &tag, &worker_fd) > 0 &&
                      tag == kFork && worker_fd >= 0 &&
                      ReadExactly(client, reinterpret_cast<char*>(&size),
                                  sizeof(size)) &&
                      size <= kMaxConfig &&
                      (wire.resize(size), ReadExactly(client, wire.data(), size));
      WireConfig config;
      std::optional<FrameKey> key;
      if (ok) {
        try {
          config = DecodeResult<WireConfig>(wire);
          key = FrameKey::FromBytes(config.key);
        } catch (const std::exception&) {
        }
      }
      if (!ok || !key.has_value()) {
        // The pool is done (or sent nonsense): forget the connection; its
        // workers are reaped without a report.
        if (worker_fd >= 0) close(worker_fd);
        close(client);
        clients.erase(std::find(clients.begin(), clients.end(), client));
        for (auto& [pid, fd] : owner) {
          if (fd == client) fd = -1;
        }
        continue;
      }
      const pid_t pid = fork();
      if (pid == 0) {
        close(control);
        close(sig_fd);
        for (int c : clients) close(c);
        sigprocmask(SIG_SETMASK, &old_mask, nullptr);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != server) _exit(kWorkerExitOk);
        RunWorker({.fd = worker_fd,
                   .key = *key,
                   .max_payload = config.max_payload,
                   .initializer = std::move(config.initializer),
                   .max_tasks = config.max_tasks});
      }
      const int err = errno;
      close(worker_fd);
      if (pid > 0) owner[pid] = client;
      SendReport(client, pid > 0 ? Report{Report::kForked, pid, 0, 0}
                                 : Report{Report::kForkFailed, 0, err, 0});
    }
  }
}

}  // namespace cf::internal
