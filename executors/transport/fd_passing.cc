#include "executors/transport/fd_passing.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "executors/transport/clean_fork.h"

namespace cf::internal {
namespace {

// SCM_MAX_FD is 253 on Linux.
constexpr std::size_t kBatch = 250;

thread_local FdSendScope* current_send = nullptr;
thread_local FdReceiveScope* current_receive = nullptr;

[[noreturn]] void Fail(const char* what, int err) {
  throw std::runtime_error(
      absl::StrCat("cf: ", what, " failed: ", strerror(err)));
}

}  // namespace

void SendFds(int socket, const std::vector<int>& fds) {
  for (std::size_t done = 0; done < fds.size();) {
    const std::uint32_t n =
        static_cast<std::uint32_t>(std::min(kBatch, fds.size() - done));
    iovec iov{.iov_base = const_cast<std::uint32_t*>(&n),
              .iov_len = sizeof(n)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kBatch)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n);
    std::memcpy(CMSG_DATA(cmsg), fds.data() + done, sizeof(int) * n);
    ssize_t sent;
    do {
      sent = sendmsg(socket, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent != static_cast<ssize_t>(sizeof(n))) {
      Fail("sending descriptors", sent < 0 ? errno : EPIPE);
    }
    done += n;
  }
}

std::vector<int> RecvFds(int socket, std::size_t count) {
  std::vector<int> fds;
  fds.reserve(count);
  while (fds.size() < count) {
    std::uint32_t n = 0;
    iovec iov{.iov_base = &n, .iov_len = sizeof(n)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kBatch)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t got;
    do {
      got = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    } while (got < 0 && errno == EINTR);
    if (got != static_cast<ssize_t>(sizeof(n))) {
      for (int fd : fds) CloseOwnedFd(fd);
      if (got < 0) Fail("receiving descriptors", errno);
      throw std::runtime_error(
          "cf: the parent closed the channel before sending the descriptors");
    }
    std::size_t received = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
         c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < k; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        RegisterOwnedFd(fd);
        fds.push_back(fd);
      }
      received += k;
    }
    if (received != n || (msg.msg_flags & MSG_CTRUNC) != 0) {
      for (int fd : fds) CloseOwnedFd(fd);
      throw std::runtime_error(absl::StrCat(
          "cf: expected ", n, " descriptors from the parent, got ", received,
          " (is the descriptor limit, ulimit -n, too low?)"));
    }
  }
  return fds;
}

FdSendScope::FdSendScope() : outer_(current_send) { current_send = this; }
FdSendScope::~FdSendScope() { current_send = outer_; }

std::uint32_t FdSendScope::Add(int fd) {
  auto it = std::find(fds_.begin(), fds_.end(), fd);
  if (it != fds_.end()) return static_cast<std::uint32_t>(it - fds_.begin());
  fds_.push_back(fd);
  return static_cast<std::uint32_t>(fds_.size() - 1);
}

FdSendScope* FdSendScope::Current() { return current_send; }

FdReceiveScope::FdReceiveScope(std::vector<int> fds)
    : fds_(std::move(fds)), taken_(fds_.size(), false), outer_(current_receive) {
  current_receive = this;
}

FdReceiveScope::~FdReceiveScope() {
  current_receive = outer_;
  for (std::size_t i = 0; i < fds_.size(); ++i) {
    if (!taken_[i]) CloseOwnedFd(fds_[i]);
  }
}

int FdReceiveScope::Take(std::uint32_t index) {
  if (index >= fds_.size()) {
    throw std::out_of_range(absl::StrCat(
        "cf: a handle names descriptor #", index, " of ", fds_.size(),
        " sent with the call"));
  }
  if (!taken_[index]) {
    taken_[index] = true;
    return fds_[index];  // registered by RecvFds
  }
  const int fd = fcntl(fds_[index], F_DUPFD_CLOEXEC, 0);
  if (fd < 0) Fail("dup", errno);
  RegisterOwnedFd(fd);
  return fd;
}

FdReceiveScope* FdReceiveScope::Current() { return current_receive; }

}  // namespace cf::internal
