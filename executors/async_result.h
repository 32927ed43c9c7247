// cf::AsyncResult<T>: Python's multiprocessing.pool.AsyncResult, what
// cf::Pool's apply_async, map_async and starmap_async return.
//
// The one thing to know: with a callback, the result is ready only after
// the callback has run (Python's order), so get() never returns before it.
// Callbacks run on the pool's callback thread, never on the caller's; a
// callback that throws is reported on stderr and the pool goes on.
//
//   cf::AsyncResult<int> r = pool.apply_async(
//       {.callback = [](const int& v) { log(v); },
//        .error_callback = [](std::exception_ptr e) { ... }},
//       square, 7);
//   r.wait(absl::Seconds(1));            // true once ready
//   int v = r.get(absl::Seconds(5));     // or cf::TimeoutError; rethrows
//   bool ok = r.successful();            // throws while not ready
#ifndef CF_EXECUTORS_ASYNC_RESULT_H_
#define CF_EXECUTORS_ASYNC_RESULT_H_

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "executors/internal/result_handler.h"
#include "futures/errors.h"
#include "futures/future.h"
#include "futures/internal/deadline.h"

namespace cf {

namespace internal {

template <class T>
struct ValueCallbackFor {
  using type = absl::AnyInvocable<void(const T&)>;
};
template <>
struct ValueCallbackFor<void> {
  using type = absl::AnyInvocable<void()>;
};

}  // namespace internal

// Python's callback= and error_callback=, for designated initializers:
//   pool.apply_async({.callback = [](const int& v) { ... }}, fn, x);
template <class T>
struct AsyncOptions {
  // Called with the value on success (no argument for void functions).
  typename internal::ValueCallbackFor<T>::type callback = nullptr;
  // Called with the exception on failure (also cf::CancelledError or
  // cf::BrokenProcessPool after terminate(), where Python never calls it).
  absl::AnyInvocable<void(std::exception_ptr)> error_callback = nullptr;
};

template <class T>
class AsyncResult {
 public:
  explicit AsyncResult(Future<T> future) : future_(std::move(future)) {}

  // Waits up to `timeout` and returns the value (it stays here: move from it
  // if you like). Rethrows the task's exception; throws cf::TimeoutError
  // (Python's multiprocessing.TimeoutError) when not ready in time, and
  // cf::CancelledError for work that terminate() dropped before it ran.
  std::add_lvalue_reference_t<T> get(
      absl::Duration timeout = absl::InfiniteDuration()) const {
    return future_.result(timeout);
  }

  // Waits up to `timeout` until ready; returns ready() (Python: None).
  bool wait(absl::Duration timeout = absl::InfiniteDuration()) const {
    return future_.state()->Wait(internal::Deadline::After(timeout));
  }

  bool ready() const { return future_.done(); }

  // Whether the call returned without an exception. Throws
  // std::invalid_argument("<cf::AsyncResult object at 0x...> not ready")
  // while not ready, as Python raises ValueError.
  bool successful() const {
    if (!ready()) {
      throw std::invalid_argument(absl::StrCat(
          "<cf::AsyncResult object at 0x",
          absl::Hex(reinterpret_cast<std::uintptr_t>(future_.state().get())),
          "> not ready"));
    }
    return !future_.cancelled() && !future_.state()->raised();
  }

  // The future behind it, for cf::wait and cf::as_completed.
  const Future<T>& future() const { return future_; }

 private:
  Future<T> future_;
};

namespace internal {

// Runs the callbacks of a done `task` on this thread, then completes
// `result` with the task's outcome.
template <class T>
void RunCallbacks(const Future<T>& task, const Future<T>& result,
                  AsyncOptions<T>& options) {
  std::exception_ptr error;
  if (task.cancelled()) {
    error = std::make_exception_ptr(CancelledError());
  } else {
    error = task.exception();
  }
  if (error) {
    if (options.error_callback) {
      try {
        options.error_callback(error);
      } catch (...) {
        ResultHandler::ReportCallbackError("an error_callback",
                                           std::current_exception());
      }
    }
    if (task.cancelled()) {
      result.cancel();
      result.set_running_or_notify_cancel();
    } else {
      result.set_exception(error);
    }
    return;
  }
  if (options.callback) {
    try {
      if constexpr (std::is_void_v<T>) {
        options.callback();
      } else {
        options.callback(task.result());
      }
    } catch (...) {
      ResultHandler::ReportCallbackError("a callback", std::current_exception());
    }
  }
  if constexpr (std::is_void_v<T>) {
    result.set_result();
  } else {
    result.set_result(std::move(task.result()));
  }
}

// An AsyncResult for `task`: the task's own future when there are no
// callbacks; else a future that `handler` completes after the callbacks.
template <class T>
AsyncResult<T> WithCallbacks(Future<T> task, AsyncOptions<T> options,
                             ResultHandler& handler) {
  if (!options.callback && !options.error_callback) {
    return AsyncResult<T>(std::move(task));
  }
  Future<T> result;
  task.add_done_callback(
      [result, &handler, options = std::move(options)](
          const Future<T>& done) mutable {
        handler.Post([done, result, options = std::move(options)]() mutable {
          RunCallbacks(done, result, options);
        });
      });
  return AsyncResult<T>(std::move(result));
}

}  // namespace internal

}  // namespace cf

#endif  // CF_EXECUTORS_ASYNC_RESULT_H_
