// The shared state behind cf::Future<T>: Python's Future state machine.
//
//   PENDING -> RUNNING -> FINISHED
//   PENDING -> CANCELLED -> CANCELLED_AND_NOTIFIED
//
// Every transition happens under `mu_`; the status is also published in an
// atomic so that done(), and result() on a finished future, cost no lock. The
// value and exception are written once, before FINISHED is published, and are
// immutable afterwards.
#ifndef CF_FUTURES_INTERNAL_FUTURE_STATE_H_
#define CF_FUTURES_INTERNAL_FUTURE_STATE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "futures/internal/deadline.h"
#include "futures/internal/poller.h"

namespace cf::internal {

enum class FutureStatus : std::uint8_t {
  kPending,
  kRunning,
  kCancelled,
  kCancelledAndNotified,
  kFinished,
};

// "PENDING", "RUNNING", ... as Python spells the states.
const char* StatusName(FutureStatus status);

// Done in the sense of wait() and as_completed(): a cancellation counts only
// once the executor has acknowledged it (CANCELLED_AND_NOTIFIED).
inline bool IsTerminal(FutureStatus s) {
  return s == FutureStatus::kFinished ||
         s == FutureStatus::kCancelledAndNotified;
}
// Done in the sense of Future::done(): finished or cancelled.
inline bool IsDone(FutureStatus s) {
  return s >= FutureStatus::kCancelled;
}

// The demangled type name of a C++ type, or of the exception held by `e`.
std::string TypeName(const std::type_info& type);
std::string ExceptionTypeName(const std::exception_ptr& e);
// "std::runtime_error: boom", as Python prints an exception's last line.
std::string DescribeException(const std::exception_ptr& e);

class FutureStateBase;

// Observes a future's way to done; used by wait(), as_completed() and blocking
// hooks. OnStatus is called with the future's lock held, once per transition
// to CANCELLED, CANCELLED_AND_NOTIFIED or FINISHED: it must be quick, must not
// touch the future, and must only take locks that are never held while a
// future's lock is taken.
class Waiter {
 public:
  virtual void OnStatus(FutureStateBase& future, FutureStatus status) = 0;

 protected:
  ~Waiter() = default;
};

class FutureStateBase : public std::enable_shared_from_this<FutureStateBase> {
 public:
  using Callback = absl::AnyInvocable<void(FutureStateBase&)>;

  FutureStateBase() = default;
  FutureStateBase(const FutureStateBase&) = delete;
  FutureStateBase& operator=(const FutureStateBase&) = delete;
  virtual ~FutureStateBase() = default;

  FutureStatus status() const { return status_.load(std::memory_order_acquire); }
  bool done() const { return IsDone(status()); }
  // Finished with an exception. Safe without the lock: the exception is
  // stored before FINISHED is published.
  bool raised() const {
    return status() == FutureStatus::kFinished && exception_ != nullptr;
  }

  bool Cancel();
  bool SetRunningOrNotifyCancel();
  // Throws InvalidStateError if the future is already done.
  void SetException(std::exception_ptr e);

  // Blocks until done() or the deadline; returns done(). Runs the current
  // thread's BlockingHook, if any, instead of sleeping.
  bool Wait(const Deadline& deadline);

  // Waits like Python's result(): throws TimeoutError or CancelledError, or
  // rethrows the stored exception. Returns normally only when a value is there.
  void WaitForValue(const Deadline& deadline);
  // Waits like Python's exception(): null when the call returned normally.
  std::exception_ptr WaitForException(const Deadline& deadline);

  // Runs `callback` when the future is done; at once, in this thread, if it
  // already is.
  void AddDoneCallback(Callback callback);

  // Registers `waiter` unless the future is already terminal; returns the
  // status seen under the lock (terminal means "not registered").
  FutureStatus AddWaiter(Waiter* waiter);
  void RemoveWaiter(Waiter* waiter);

  // Python's repr: "<Future at 0x... state=finished returned int>".
  std::string Repr() const;

  // How long Wait spins before it sleeps. An executor that expects the
  // outcome within about that long (a worker process's answer to a tiny
  // call) raises it, since waking a sleeping thread costs tens of
  // microseconds on a VM; the default suits the rest.
  static constexpr std::chrono::microseconds kDefaultSpin{20};
  void SetSpinHint(std::chrono::microseconds spin) {
    spin_us_.store(static_cast<std::uint32_t>(spin.count()),
                   std::memory_order_relaxed);
  }
  // Who Wait's spin polls instead of only looking (poller.h). Set once,
  // before the future is handed to another thread.
  void SetPoller(std::shared_ptr<Poller> poller) {
    poller_ = std::move(poller);
  }

 protected:
  // Moves to FINISHED after `store` has saved the outcome, all under the
  // lock; throws InvalidStateError (without calling `store`) when done.
  void Finish(absl::FunctionRef<void()> store);
  // The name of T, for Repr.
  virtual std::string ResultTypeName() const = 0;
  // Called once, after Cancel() moved the future to CANCELLED, with the lock
  // released and before the done-callbacks: a hook for states that many
  // futures share one owner of (a chunk's elements), where a callback each
  // would cost an allocation per future.
  virtual void OnCancelled() {}

 private:
  std::string ReprLocked() const;
  void NotifyLocked(FutureStatus status);
  // Runs the callbacks taken out at the transition to done, in order, with
  // the lock released (no callback is added once a future is done).
  void InvokeCallbacks(std::vector<Callback>& callbacks);
  void InvokeCallback(Callback& callback);

  // What only some futures need: a thread to sleep on it, callbacks,
  // waiters. Made by the first that does, under the lock, and kept until the
  // future goes: a map's element futures need none of it, and 100,000 of
  // them then take about half the memory (fewer pages to fault in).
  struct Watchers {
    std::condition_variable cv;
    std::vector<Callback> callbacks;
    std::vector<Waiter*> waiters;
  };
  Watchers& WatchersLocked();

  mutable std::mutex mu_;
  std::atomic<FutureStatus> status_{FutureStatus::kPending};
  std::atomic<std::uint32_t> spin_us_{
      static_cast<std::uint32_t>(kDefaultSpin.count())};
  std::shared_ptr<Poller> poller_;
  std::exception_ptr exception_;
  std::unique_ptr<Watchers> watchers_;  // guarded by mu_
};

template <class T>
class FutureState : public FutureStateBase {
  static_assert(!std::is_reference_v<T>,
                "cf::Future<T&> is not supported: return a value, a pointer "
                "or a std::reference_wrapper");

 public:
  template <class U>
  void SetResult(U&& value) {
    Finish([&] { value_.emplace(std::forward<U>(value)); });
  }
  // Only valid once the future finished without an exception.
  T& value() { return *value_; }

 private:
  std::string ResultTypeName() const override { return TypeName(typeid(T)); }

  std::optional<T> value_;
};

template <>
class FutureState<void> : public FutureStateBase {
 public:
  void SetResult() {
    Finish([] {});
  }
  void value() {}

 private:
  std::string ResultTypeName() const override { return "void"; }
};

}  // namespace cf::internal

#endif  // CF_FUTURES_INTERNAL_FUTURE_STATE_H_
