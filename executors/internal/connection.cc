#include "executors/internal/connection.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/mp_errors.h"
#include "executors/transport/clean_fork.h"

namespace cf::internal {
namespace {

constexpr std::size_t kReadSize = 64 * 1024;

[[noreturn]] void ThrowErrno(int err) {
  const std::string text = absl::StrCat("[Errno ", err, "] ", strerror(err));
  if (err == EPIPE) throw BrokenPipeError(text);
  throw OSError(text);
}

}  // namespace

ConnectionCore::ConnectionCore(int fd, bool readable, bool writable)
    : fd_(fd), readable_(readable), writable_(writable), pid_(getpid()) {
  struct stat st;
  is_socket_ = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

ConnectionCore::~ConnectionCore() {
  if (pid_ == getpid()) Close();
}

void ConnectionCore::Close() {
  if (fd_ < 0) return;
  CloseOwnedFd(fd_);
  fd_ = -1;
}

int ConnectionCore::fileno() const {
  if (fd_ < 0) throw OSError("handle is closed");
  return fd_;
}

void ConnectionCore::CheckReadable() const {
  fileno();
  if (!readable_) throw OSError("connection is write-only");
}

void ConnectionCore::CheckWritable() const {
  fileno();
  if (!writable_) throw OSError("connection is read-only");
}

void ConnectionCore::WriteAll(const char* data, std::size_t size) {
  if (is_socket_) {
    while (size > 0) {
      const ssize_t n = send(fd_, data, size, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowErrno(errno);
      }
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return;
  }
  // A pipe: SIGPIPE blocked in this thread while writing, and a pending one
  // taken back, so a closed reader is an error, not the end of the program.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  int err = 0;
  while (size > 0) {
    const ssize_t n = write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  if (err == EPIPE) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err != 0) ThrowErrno(err);
}

void ConnectionCore::SendFramed(std::string& message) {
  CheckWritable();
  const std::uint64_t length = message.size() - kHeaderSize;
  std::memcpy(message.data(), &length, sizeof(length));
  WriteAll(message.data(), message.size());
}

void ConnectionCore::SendBytes(std::string_view payload) {
  CheckWritable();
  const std::uint64_t length = payload.size();
  if (payload.size() <= kReadSize) {
    char frame[kHeaderSize + kReadSize];
    std::memcpy(frame, &length, sizeof(length));
    std::memcpy(frame + kHeaderSize, payload.data(), payload.size());
    WriteAll(frame, kHeaderSize + payload.size());
    return;
  }
  char header[kHeaderSize];
  std::memcpy(header, &length, sizeof(length));
  WriteAll(header, sizeof(header));
  WriteAll(payload.data(), payload.size());
}

bool ConnectionCore::Fill(std::size_t want) {
  if (buf_.size() - end_ < std::max(want, kReadSize)) {
    // Move what is left to the front, and make room.
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buf_.size() - end_ < std::max(want, kReadSize)) {
      buf_.resize(end_ + std::max(want, kReadSize));
    }
  }
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n = read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(errno);
    }
    end_ += static_cast<std::size_t>(n);
    got += static_cast<std::size_t>(n);
  }
  return true;
}

std::string ConnectionCore::RecvBytes(std::size_t maxlength) {
  CheckReadable();
  if (end_ - begin_ < kHeaderSize &&
      !Fill(kHeaderSize - (end_ - begin_))) {
    if (end_ == begin_) throw EOFError();
    throw OSError("got end of file during message");
  }
  std::uint64_t length;
  std::memcpy(&length, buf_.data() + begin_, sizeof(length));
  begin_ += kHeaderSize;
  std::string message;
  const std::size_t buffered = std::min<std::size_t>(end_ - begin_, length);
  if (length > maxlength) {
    // Python leaves the stream mid-message; this drops the message instead,
    // so the connection stays usable.
    std::uint64_t left = length - buffered;
    begin_ += buffered;
    while (left > 0) {
      if (!Fill(1)) throw OSError("got end of file during message");
      const std::size_t take = std::min<std::uint64_t>(end_ - begin_, left);
      begin_ += take;
      left -= take;
    }
    throw OSError("bad message length");
  }
  message.resize(length);
  std::memcpy(message.data(), buf_.data() + begin_, buffered);
  begin_ += buffered;
  // The rest straight into the message.
  std::size_t have = buffered;
  while (have < length) {
    const ssize_t n = read(fd_, message.data() + have, length - have);
    if (n == 0) throw OSError("got end of file during message");
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(errno);
    }
    have += static_cast<std::size_t>(n);
  }
  if (begin_ == end_) begin_ = end_ = 0;
  if (buf_.size() > 4 * kReadSize && begin_ == end_) std::string().swap(buf_);
  return message;
}

bool ConnectionCore::Poll(absl::Duration timeout) {
  CheckReadable();
  if (end_ > begin_) return true;
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  while (true) {
    int ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      ms = left <= absl::ZeroDuration()
               ? 0
               : static_cast<int>(absl::ToInt64Milliseconds(
                     absl::Ceil(left, absl::Milliseconds(1))));
    }
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    const int r = poll(&p, 1, ms);
    if (r > 0) return true;  // data, or end of stream (recv then says which)
    if (r == 0) return false;
    if (errno != EINTR) ThrowErrno(errno);
  }
}

}  // namespace cf::internal
