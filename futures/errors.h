// The exceptions of cf, mirroring Python's concurrent.futures hierarchy.
//
// Every cf error is catchable as std::exception. Python's `Error` family
// (CancelledError, TimeoutError, InvalidStateError) derives from cf::Error, a
// plain std::exception, so `catch (const std::runtime_error&)` does not catch a
// cancellation, as Python's `except RuntimeError` does not. The "executor is
// unusable" family derives, as in Python, from a runtime error: BrokenExecutor
// is a std::runtime_error.
//
//   try {
//     int v = future.result(absl::Seconds(1));
//   } catch (const cf::TimeoutError&) {
//     ...  // not finished within a second; the future is still running
//   } catch (const cf::CancelledError&) {
//     ...
//   }
#ifndef CF_FUTURES_ERRORS_H_
#define CF_FUTURES_ERRORS_H_

#include <stdexcept>
#include <string>
#include <utility>

namespace cf {

// Base of the errors raised by futures themselves (Python's
// concurrent.futures.Error).
class Error : public std::exception {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// The future was cancelled before it ran; raised by result() and exception().
class CancelledError : public Error {
 public:
  CancelledError() : Error("the future was cancelled") {}
  using Error::Error;
};

// A wait ran out of time: result(timeout), exception(timeout), as_completed
// and map's deadline. The awaited work is not affected by it.
class TimeoutError : public Error {
 public:
  TimeoutError() : Error("timed out waiting for the future") {}
  using Error::Error;
};

// set_result/set_exception on a future that is already done or cancelled.
class InvalidStateError : public Error {
 public:
  using Error::Error;
};

// The executor cannot run work anymore after a severe failure.
class BrokenExecutor : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A ThreadPoolExecutor whose worker initializer failed.
class BrokenThreadPool : public BrokenExecutor {
 public:
  using BrokenExecutor::BrokenExecutor;
};

}  // namespace cf

#endif  // CF_FUTURES_ERRORS_H_
