// The untyped core of cf::Connection (executors/pipe.h): length-prefixed
// messages over one end of a socketpair (a duplex Pipe) or of a pipe (a
// one-way Pipe), with Python's errors.
//
// The one thing to know: a message is written with one write() and read
// through a buffer, so a small message costs one system call on each side,
// as on a bare socketpair; and a reader never takes a partial message for a
// whole one: end of stream inside a message is an error, not a short item.
//
//   internal::ConnectionCore c(fd, /*readable=*/true, /*writable=*/true);
//   c.SendMessage(bytes);
//   std::string got = c.RecvMessage(SIZE_MAX);    // cf::EOFError at the end
#ifndef CF_EXECUTORS_INTERNAL_CONNECTION_H_
#define CF_EXECUTORS_INTERNAL_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace cf::internal {

class ConnectionCore {
 public:
  // Takes `fd` (registered as cf's, clean_fork.h).
  ConnectionCore(int fd, bool readable, bool writable);
  ~ConnectionCore();
  ConnectionCore(const ConnectionCore&) = delete;
  ConnectionCore& operator=(const ConnectionCore&) = delete;

  // Sends `message`, which starts with kHeaderSize bytes of room for the
  // length (filled here): one write for header and payload.
  void SendFramed(std::string& message);
  void SendBytes(std::string_view payload);
  // The next message; cf::OSError("bad message length") (the message is
  // dropped) when it is longer than `maxlength`.
  std::string RecvBytes(std::size_t maxlength);
  bool Poll(absl::Duration timeout);
  void Close();

  bool closed() const { return fd_ < 0; }
  bool readable() const { return readable_; }
  bool writable() const { return writable_; }
  int fileno() const;
  // For serialization: the descriptor, checked open.
  int fd() const { return fileno(); }

  static constexpr std::size_t kHeaderSize = 8;

 private:
  void CheckReadable() const;
  void CheckWritable() const;
  // Reads at least `want` more bytes into the buffer; false at end of stream.
  bool Fill(std::size_t want);
  void WriteAll(const char* data, std::size_t size);

  int fd_;
  bool readable_;
  bool writable_;
  bool is_socket_ = false;
  int pid_;  // the process that owns fd_ (not a fork's copy)
  std::string buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_CONNECTION_H_
