// cf::Future<T>: the result of an asynchronous call, as Python's
// concurrent.futures.Future.
//
// A Future is a handle, like a Python reference: copies share one state, and
// two handles compare equal (and hash alike) when they share it. A
// default-constructed Future is a new PENDING future, as `Future()` is in
// Python; executors create futures for you, and the setters are for executor
// implementers and tests.
//
//   cf::Future<int> f = pool.submit(square, 7);
//   f.add_done_callback([](const cf::Future<int>& done) { ... });
//   int v = f.result();                        // waits; rethrows the task's
//                                              // exception
//   int w = f.result(absl::Milliseconds(10));  // or cf::TimeoutError
//
// States follow Python exactly: PENDING -> RUNNING -> FINISHED, and
// PENDING -> CANCELLED -> CANCELLED_AND_NOTIFIED. Timeouts are absl::Duration:
// absl::InfiniteDuration() is Python's `None` (the default), zero means "do
// not wait".
#ifndef CF_FUTURES_FUTURE_H_
#define CF_FUTURES_FUTURE_H_

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "futures/errors.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"

namespace cf {

template <class T>
class Future {
 public:
  using value_type = T;

  // A new PENDING future.
  Future() : state_(std::make_shared<internal::FutureState<T>>()) {}
  // Adopts an existing state; for executors.
  explicit Future(std::shared_ptr<internal::FutureState<T>> state)
      : state_(std::move(state)) {}

  // Cancels a PENDING future and returns true; a cancelled one stays so and
  // returns true; a RUNNING or FINISHED one is left alone and returns false.
  // Callbacks run in this thread.
  bool cancel() const { return state_->Cancel(); }
  bool cancelled() const {
    auto s = state_->status();
    return s == internal::FutureStatus::kCancelled ||
           s == internal::FutureStatus::kCancelledAndNotified;
  }
  bool running() const {
    return state_->status() == internal::FutureStatus::kRunning;
  }
  // Finished or cancelled.
  bool done() const { return state_->done(); }

  // Waits up to `timeout` and returns the value, which stays in the future
  // (call it again, or move from it: it is yours). Rethrows the call's
  // exception; throws cf::CancelledError if cancelled and cf::TimeoutError if
  // not done in time.
  std::add_lvalue_reference_t<T> result(
      absl::Duration timeout = absl::InfiniteDuration()) const {
    state_->WaitForValue(internal::Deadline::After(timeout));
    return state_->value();
  }

  // Waits like result() and returns the call's exception, or null if it
  // returned normally.
  std::exception_ptr exception(
      absl::Duration timeout = absl::InfiniteDuration()) const {
    return state_->WaitForException(internal::Deadline::After(timeout));
  }

  // Calls `fn(future)` when the future is done (finished or cancelled), in
  // the thread that completes it, in the order added. If it is done already,
  // calls it now, in this thread. An exception thrown by `fn` is reported on
  // stderr and does not stop the other callbacks.
  template <class Fn>
  void add_done_callback(Fn fn) const {
    static_assert(std::is_invocable_v<Fn&, const Future<T>&>,
                  "add_done_callback needs a callable taking the future: "
                  "[](const cf::Future<T>& f) { ... }");
    state_->AddDoneCallback(
        [fn = std::move(fn)](internal::FutureStateBase& base) mutable {
          const Future<T> self(std::static_pointer_cast<internal::FutureState<T>>(
              base.shared_from_this()));
          fn(self);
        });
  }

  // For executors and tests. Returns false (and notifies waiters) if the
  // future was cancelled, else marks it RUNNING and returns true. Throws
  // std::runtime_error in any other state.
  bool set_running_or_notify_cancel() const {
    return state_->SetRunningOrNotifyCancel();
  }
  // For executors and tests. Throw cf::InvalidStateError if already done.
  template <class U = T>
    requires(!std::is_void_v<U>)
  void set_result(U&& value) const {
    state_->SetResult(std::forward<U>(value));
  }
  void set_result() const
    requires std::is_void_v<T>
  {
    state_->SetResult();
  }
  void set_exception(std::exception_ptr e) const {
    state_->SetException(std::move(e));
  }
  // Convenience: f.set_exception(std::runtime_error("boom")).
  template <class E>
    requires std::is_base_of_v<std::exception, std::decay_t<E>>
  void set_exception(E&& e) const {
    state_->SetException(std::make_exception_ptr(std::forward<E>(e)));
  }

  friend bool operator==(const Future& a, const Future& b) {
    return a.state_ == b.state_;
  }
  template <class H>
  friend H AbslHashValue(H h, const Future& f) {
    return H::combine(std::move(h), f.state_.get());
  }
  friend std::ostream& operator<<(std::ostream& os, const Future& f) {
    return os << f.state_->Repr();
  }

  // The shared state; for cf's own algorithms.
  const std::shared_ptr<internal::FutureState<T>>& state() const {
    return state_;
  }

 private:
  std::shared_ptr<internal::FutureState<T>> state_;
};

// Python's repr(future): "<Future at 0x... state=finished returned int>".
template <class T>
std::string to_string(const Future<T>& future) {
  return future.state()->Repr();
}

}  // namespace cf

template <class T>
struct std::hash<cf::Future<T>> {
  std::size_t operator()(const cf::Future<T>& f) const noexcept {
    return std::hash<const void*>()(f.state().get());
  }
};

#endif  // CF_FUTURES_FUTURE_H_
