// Shared fixtures for the ports of CPython's test_concurrent_futures
// (Lib/test/test_concurrent_futures/util.py).
//
// CPython builds its PENDING_FUTURE, RUNNING_FUTURE, ... by poking private
// state (`create_future(state, exception, result)`). cf reaches every state
// through the public API instead:
//
//   PENDING                 cf::Future<T>()
//   RUNNING                 set_running_or_notify_cancel()
//   CANCELLED               cancel()
//   CANCELLED_AND_NOTIFIED  cancel(), then set_running_or_notify_cancel()
//   FINISHED (exception)    set_exception(OSError())
//   FINISHED (result)       set_result(42)
//
// CPython's fixtures are module-level singletons; these functions build a
// fresh future per call, so tests cannot leak state into each other.
#ifndef CF_TESTS_FUTURES_FUTURE_FIXTURES_H_
#define CF_TESTS_FUTURES_FUTURE_FIXTURES_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "cf.h"

namespace cf_test {

// Python's OSError(): the exception of EXCEPTION_FUTURE.
inline std::system_error OSError() {
  return std::system_error(std::make_error_code(std::errc::io_error),
                           "OSError");
}

template <class T = int>
cf::Future<T> PendingFuture() {
  return cf::Future<T>();
}

template <class T = int>
cf::Future<T> RunningFuture() {
  cf::Future<T> f;
  if (!f.set_running_or_notify_cancel()) {
    throw std::logic_error("RunningFuture: a new future was cancelled");
  }
  return f;
}

template <class T = int>
cf::Future<T> CancelledFuture() {
  cf::Future<T> f;
  if (!f.cancel()) throw std::logic_error("CancelledFuture: cancel failed");
  return f;
}

template <class T = int>
cf::Future<T> CancelledAndNotifiedFuture() {
  cf::Future<T> f = CancelledFuture<T>();
  if (f.set_running_or_notify_cancel()) {
    throw std::logic_error("CancelledAndNotifiedFuture: not cancelled");
  }
  return f;
}

template <class T = int>
cf::Future<T> ExceptionFuture() {
  cf::Future<T> f;
  f.set_exception(OSError());
  return f;
}

template <class T = int>
cf::Future<T> SuccessfulFuture(T value = T(42)) {
  cf::Future<T> f;
  f.set_result(std::move(value));
  return f;
}

// The exact state, as CPython's tests read `future._state`. cf keeps it in
// the internal shared state; this is the only place the tests look there.
template <class T>
cf::internal::FutureStatus StateOf(const cf::Future<T>& f) {
  return f.state()->status();
}

// CPython's test helpers `mul` and `divmod(x, 0)`.
inline int Mul(int x, int y) { return x * y; }

// Python's ZeroDivisionError.
class ZeroDivisionError : public std::domain_error {
 public:
  ZeroDivisionError() : std::domain_error("integer division or modulo by zero") {}
};

inline int Divmod(int x, int y) {
  if (y == 0) throw ZeroDivisionError();
  return x / y;
}

// Python's threading.Event, on std primitives (visible to TSan). set() may be
// called any number of times.
class Event {
 public:
  void set() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      set_ = true;
    }
    cv_.notify_all();
  }
  bool is_set() const {
    std::lock_guard<std::mutex> lock(mu_);
    return set_;
  }
  // Returns true (Python's event.wait() returns True once set).
  bool wait() const {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return set_; });
    return true;
  }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return set_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool set_ = false;
};

// CPython's ExecutorMixin uses max_workers=worker_count=5.
inline constexpr int kWorkerCount = 5;

// CPython's support.SHORT_TIMEOUT: a bound that only a hang reaches.
inline const absl::Duration kShortTimeout = absl::Seconds(30);

}  // namespace cf_test

#endif  // CF_TESTS_FUTURES_FUTURE_FIXTURES_H_
