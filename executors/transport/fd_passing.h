// Handing descriptors to another process over a Unix socket (SCM_RIGHTS), and
// the per-thread tables through which cf's shared objects (cf::Value,
// cf::Queue, cf::Connection, ...) name the descriptors they need while a call
// is encoded for a cf::Process child and decoded there.
//
// The one thing to know: a handle being serialized inside an FdSendScope
// writes an index into that scope's list instead of a descriptor number; the
// list travels beside the call (SendFds), and the child decodes the call
// inside an FdReceiveScope holding the received descriptors in the same
// order, so index i is the same open file on both sides.
//
//   // Parent:
//   FdSendScope scope;
//   EncodeCall<void>(fn, args, &payload);     // handles call scope.Add(fd)
//   SendFds(socket, scope.fds());
//   // Child:
//   FdReceiveScope scope(RecvFds(socket, count));
//   RunEncodedCall(payload, &ignored);       // handles call scope.Take(i)
#ifndef CF_EXECUTORS_TRANSPORT_FD_PASSING_H_
#define CF_EXECUTORS_TRANSPORT_FD_PASSING_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cf::internal {

// Sends `fds` (in batches the kernel accepts) over the connected Unix stream
// socket `socket`. Throws std::runtime_error naming errno.
void SendFds(int socket, const std::vector<int>& fds);

// Receives `count` descriptors sent by SendFds, close-on-exec and registered
// as cf's (clean_fork.h). Throws std::runtime_error if the peer sends fewer.
std::vector<int> RecvFds(int socket, std::size_t count);

// Collects the descriptors handles serialize on this thread while it lives.
// Not owning: the handles keep them open until they are sent.
class FdSendScope {
 public:
  FdSendScope();
  ~FdSendScope();
  FdSendScope(const FdSendScope&) = delete;
  FdSendScope& operator=(const FdSendScope&) = delete;

  // The index `fd` has in the list (the same one if added before).
  std::uint32_t Add(int fd);
  const std::vector<int>& fds() const { return fds_; }

  // The innermost scope on this thread, or nullptr.
  static FdSendScope* Current();

 private:
  std::vector<int> fds_;
  FdSendScope* outer_;
};

// Owns the descriptors a child received while it decodes its call; closes
// those nobody took when it ends.
class FdReceiveScope {
 public:
  explicit FdReceiveScope(std::vector<int> fds);
  ~FdReceiveScope();
  FdReceiveScope(const FdReceiveScope&) = delete;
  FdReceiveScope& operator=(const FdReceiveScope&) = delete;

  // Entry `index` for the caller to own (registered as cf's, close-on-exec):
  // the received descriptor itself the first time, a duplicate after (while
  // the first taker still holds it: during one decode). Throws
  // std::out_of_range for an index the sender never wrote.
  int Take(std::uint32_t index);

  static FdReceiveScope* Current();

 private:
  std::vector<int> fds_;
  std::vector<bool> taken_;
  FdReceiveScope* outer_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_FD_PASSING_H_
