// cf::Pipe<T>() and cf::Connection<T>: Python's multiprocessing.Pipe, two
// connected ends that send and receive values of a cereal-serializable T (or
// raw bytes), between processes that got an end as a cf::Process argument.
//
// The one thing to know: recv() on an end whose peer is closed (in every
// process) throws cf::EOFError once every complete message has been read;
// it never hangs, and a peer killed mid-message is "got end of file during
// message", never a short message. As in Python, a process should close() the
// ends it passed to a child and does not use itself, or the other end never
// sees the end of the stream.
//
//   void worker(cf::Connection<int> conn) {
//     conn.send(10000);
//     conn.close();
//   }
//
//   auto [parent_conn, child_conn] = cf::Pipe<int>();
//   cf::Process p(worker, child_conn);
//   p.start();
//   int total = parent_conn.recv();
//
// Pipe(false) is one-way, as Python's duplex=False: the first end only
// receives, the second only sends. Errors are Python's (mp_errors.h):
// OSError("handle is closed" / "connection is read-only" / "connection is
// write-only" / "bad message length"), BrokenPipeError on a send to a closed
// peer. A connection is for one thread at a time, as in Python.
#ifndef CF_EXECUTORS_PIPE_H_
#define CF_EXECUTORS_PIPE_H_

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/time/time.h"
#include "executors/internal/connection.h"
#include "executors/internal/item_codec.h"
#include "executors/mp_errors.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/fd_passing.h"
#include "executors/transport/remote_call.h"

namespace cf {

template <class T>
class Connection {
 public:
  // A closed connection (what cereal reads into).
  Connection() = default;

  void send(const T& value) {
    if constexpr (internal::kRawItem<T>) {
      core().SendBytes(internal::EncodeItem(value));
    } else {
      thread_local std::string message;
      message.assign(internal::ConnectionCore::kHeaderSize, '\0');
      {
        internal::StringSink sink(&message);
        std::ostream stream(&sink);
        internal::OutputArchive archive(stream);
        archive(value);
      }
      core().SendFramed(message);
      if (message.capacity() > (std::size_t{1} << 20)) {
        std::string().swap(message);
      }
    }
  }
  T recv() { return internal::DecodeItem<T>(core().RecvBytes(kNoLimit)); }
  void send_bytes(std::string_view bytes) { core().SendBytes(bytes); }
  // OSError("bad message length") when the message is longer than
  // `maxlength` (the message is dropped; the connection stays usable).
  std::string recv_bytes(std::size_t maxlength = kNoLimit) {
    return core().RecvBytes(maxlength);
  }
  // Whether recv() would not block: data is there, or the end of the stream.
  // Python's default timeout is zero.
  bool poll(absl::Duration timeout = absl::ZeroDuration()) {
    return core().Poll(timeout);
  }
  // Closes this end in this process (for every copy of the handle).
  void close() {
    if (core_ != nullptr) core_->Close();
  }
  bool closed() const { return core_ == nullptr || core_->closed(); }
  bool readable() const { return core_ != nullptr && core_->readable(); }
  bool writable() const { return core_ != nullptr && core_->writable(); }
  int fileno() const { return core().fileno(); }

  // Only to a cf::Process child: the descriptor travels with SCM_RIGHTS.
  template <class Archive>
  void save(Archive& archive) const {
    internal::FdSendScope* scope = internal::FdSendScope::Current();
    if (scope == nullptr) {
      throw std::invalid_argument(
          "cf::Connection: a connection can be passed only to a cf::Process "
          "target (its descriptor goes with the child's start), not to a "
          "process-pool task; use a cf::Queue there");
    }
    archive(scope->Add(core().fd()), core().readable(), core().writable());
  }
  template <class Archive>
  void load(Archive& archive) {
    std::uint32_t index;
    bool readable, writable;
    archive(index, readable, writable);
    internal::FdReceiveScope* scope = internal::FdReceiveScope::Current();
    if (scope == nullptr) {
      throw std::runtime_error(
          "cf::Connection: read outside of a cf::Process child's start");
    }
    core_ = std::make_shared<internal::ConnectionCore>(scope->Take(index),
                                                       readable, writable);
  }

 private:
  template <class U>
  friend std::pair<Connection<U>, Connection<U>> Pipe(bool duplex);
  static constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

  Connection(int fd, bool readable, bool writable)
      : core_(std::make_shared<internal::ConnectionCore>(fd, readable,
                                                         writable)) {}
  internal::ConnectionCore& core() const {
    if (core_ == nullptr) throw OSError("handle is closed");
    return *core_;
  }

  std::shared_ptr<internal::ConnectionCore> core_;
};

// Python's Pipe(duplex=True): (conn1, conn2). With duplex = false, conn1 only
// receives and conn2 only sends.
template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(bool duplex = true) {
  int fds[2];
  if (duplex) {
    internal::MakeChannel(fds);  // registered: other forks close them
    return {Connection<T>(fds[0], true, true), Connection<T>(fds[1], true, true)};
  }
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "cf::Pipe: pipe2");
  }
  internal::RegisterOwnedFd(fds[0]);
  internal::RegisterOwnedFd(fds[1]);
  return {Connection<T>(fds[0], true, false), Connection<T>(fds[1], false, true)};
}

}  // namespace cf

#endif  // CF_EXECUTORS_PIPE_H_
