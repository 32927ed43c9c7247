// Carries a task's exception from a worker process to the parent: captured in
// the worker's catch block, sent as a cereal-serializable RemoteException,
// rebuilt in the parent (see executors/remote_error.h for what users get).
//
// The one thing to know: the stack of the throw site is recorded only for
// exceptions thrown by a thread inside a ScopedThrowCapture, by this library's
// replacement of __cxa_throw, which is in effect only when it is linked into
// the binary (the target is alwayslink) and found before libstdc++'s. When it
// is not recorded (thrown outside the scope, or transported with
// std::rethrow_exception), the traceback is the catch site's and says so.
//
//   // In the worker:
//   RemoteException failure;
//   {
//     cf::internal::ScopedThrowCapture capture;
//     try {
//       task();
//     } catch (...) {
//       failure = cf::internal::CaptureCurrentException();
//     }
//   }
//   archive(failure);  // cereal, to the parent
//
//   // In the parent:
//   archive(failure);
//   state->SetException(cf::internal::RebuildException(failure));
#ifndef CF_EXECUTORS_TRANSPORT_REMOTE_EXCEPTION_H_
#define CF_EXECUTORS_TRANSPORT_REMOTE_EXCEPTION_H_

#include <cstdint>
#include <exception>
#include <string>

#include "cereal/types/string.hpp"

namespace cf::internal {

// An exception as it crosses the process boundary.
struct RemoteException {
  // The fields of cf::RemoteTraceback.
  std::string type_name;
  std::string message;
  std::int64_t pid = 0;
  std::string traceback;
  // Which standard or cf exception type to rebuild, matched on the exact
  // dynamic type in the worker; 0 for "none, make it a cf::RemoteError". An
  // index into a table in remote_exception.cc: both sides run the same binary.
  std::int32_t kind = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(type_name, message, pid, traceback, kind);
  }
};

// Records, for the current thread and while it lives, the stack of every
// exception thrown, so that CaptureCurrentException reports where the last
// one was thrown. Wrap the task, not more: each throw in the scope costs a
// stack walk (a few microseconds); outside any scope a throw pays one
// thread-local flag check. Nests.
class ScopedThrowCapture {
 public:
  ScopedThrowCapture();
  ScopedThrowCapture(const ScopedThrowCapture&) = delete;
  ScopedThrowCapture& operator=(const ScopedThrowCapture&) = delete;
  ~ScopedThrowCapture();

 private:
  bool was_capturing_;
};

// Describes the exception being handled; call only inside a catch block. The
// traceback is symbolized here, not at throw time, so exceptions that are
// thrown and caught within the task cost no symbolization.
RemoteException CaptureCurrentException();

// The exception to rethrow in the parent: `e`'s exact standard or cf type with
// its message, else a cf::RemoteError, with a cf::RemoteTraceback nested in it
// either way.
std::exception_ptr RebuildException(const RemoteException& e);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_REMOTE_EXCEPTION_H_
