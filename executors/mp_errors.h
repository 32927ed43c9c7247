// The exceptions of cf's multiprocessing objects, named as Python's:
// queue.Full / queue.Empty (cf::Queue), EOFError, OSError and
// BrokenPipeError (cf::Connection), threading.BrokenBarrierError
// (cf::Barrier).
//
// The one thing to know: what() is Python's str() of the same exception, so
// Full, Empty, EOFError and BrokenBarrierError have an empty message, as in
// Python; catch them by type.
//
//   try {
//     int item = q.get(absl::Seconds(1));
//   } catch (const cf::Empty&) {
//     ...
//   }
#ifndef CF_EXECUTORS_MP_ERRORS_H_
#define CF_EXECUTORS_MP_ERRORS_H_

#include <stdexcept>
#include <string>

namespace cf {

// put_nowait, or put with a timeout, on a full bounded queue.
class Full : public std::runtime_error {
 public:
  Full() : std::runtime_error("") {}
};

// get_nowait, or get with a timeout, on an empty queue.
class Empty : public std::runtime_error {
 public:
  Empty() : std::runtime_error("") {}
};

// recv on a connection whose other end is closed, once nothing is left.
class EOFError : public std::runtime_error {
 public:
  EOFError() : std::runtime_error("") {}
};

// Python's OSError: "handle is closed", "connection is read-only", "got end
// of file during message", "bad message length", "[Errno N] ...".
class OSError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// send on a connection whose other end is closed: "[Errno 32] Broken pipe".
class BrokenPipeError : public OSError {
 public:
  using OSError::OSError;
};

// A cf::Barrier broken by abort(), reset(), a timeout or a failed action.
class BrokenBarrierError : public std::runtime_error {
 public:
  BrokenBarrierError() : std::runtime_error("") {}
};

}  // namespace cf

#endif  // CF_EXECUTORS_MP_ERRORS_H_
