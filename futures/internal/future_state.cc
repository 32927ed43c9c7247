#include "futures/internal/future_state.h"

#include <cxxabi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "futures/errors.h"
#include "futures/internal/blocking_hook.h"
#include "futures/internal/spin.h"

namespace cf::internal {

const char* StatusName(FutureStatus status) {
  switch (status) {
    case FutureStatus::kPending:
      return "PENDING";
    case FutureStatus::kRunning:
      return "RUNNING";
    case FutureStatus::kCancelled:
      return "CANCELLED";
    case FutureStatus::kCancelledAndNotified:
      return "CANCELLED_AND_NOTIFIED";
    case FutureStatus::kFinished:
      return "FINISHED";
  }
  return "UNKNOWN";
}

std::string TypeName(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : type.name();
  std::free(demangled);
  // The one spelling users never write.
  return absl::StrReplaceAll(
      name, {{"std::__cxx11::basic_string<char, std::char_traits<char>, "
              "std::allocator<char> >",
              "std::string"}});
}

std::string DescribeException(const std::exception_ptr& e) {
  std::string what;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  return absl::StrCat(ExceptionTypeName(e), ": ", what);
}

std::string ExceptionTypeName(const std::exception_ptr& e) {
  if (!e) return "nothing";
  try {
    std::rethrow_exception(e);
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return type ? TypeName(*type) : "unknown exception";
  }
}

namespace {

// Wakes a blocking hook when the awaited future changes state.
class HookWaker final : public Waiter {
 public:
  explicit HookWaker(BlockingHook* hook) : hook_(hook) {}
  void OnStatus(FutureStateBase&, FutureStatus) override { hook_->Wake(); }

 private:
  BlockingHook* hook_;
};

}  // namespace

bool FutureStateBase::Cancel() {
  std::vector<Callback> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FutureStatus s = status_.load(std::memory_order_relaxed);
    if (s == FutureStatus::kRunning || s == FutureStatus::kFinished) {
      return false;
    }
    if (s != FutureStatus::kPending) return true;  // already cancelled
    status_.store(FutureStatus::kCancelled, std::memory_order_release);
    NotifyLocked(FutureStatus::kCancelled);
    if (watchers_ != nullptr) callbacks.swap(watchers_->callbacks);
  }
  OnCancelled();
  InvokeCallbacks(callbacks);
  return true;
}

bool FutureStateBase::SetRunningOrNotifyCancel() {
  std::lock_guard<std::mutex> lock(mu_);
  FutureStatus s = status_.load(std::memory_order_relaxed);
  if (s == FutureStatus::kCancelled) {
    status_.store(FutureStatus::kCancelledAndNotified,
                  std::memory_order_release);
    NotifyLocked(FutureStatus::kCancelledAndNotified);
    return false;
  }
  if (s == FutureStatus::kPending) {
    status_.store(FutureStatus::kRunning, std::memory_order_release);
    return true;
  }
  throw std::runtime_error(
      absl::StrCat("Future in unexpected state: ", StatusName(s),
                   " (set_running_or_notify_cancel may be called only once, "
                   "before the result is set)"));
}

void FutureStateBase::SetException(std::exception_ptr e) {
  if (!e) {
    throw std::invalid_argument(
        "set_exception needs an exception: got a null std::exception_ptr");
  }
  Finish([&] { exception_ = std::move(e); });
}

void FutureStateBase::Finish(absl::FunctionRef<void()> store) {
  std::vector<Callback> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FutureStatus s = status_.load(std::memory_order_relaxed);
    if (IsDone(s)) {
      throw InvalidStateError(absl::StrCat(StatusName(s), ": ", ReprLocked()));
    }
    store();
    status_.store(FutureStatus::kFinished, std::memory_order_release);
    NotifyLocked(FutureStatus::kFinished);
    if (watchers_ != nullptr) callbacks.swap(watchers_->callbacks);
  }
  InvokeCallbacks(callbacks);
}

FutureStateBase::Watchers& FutureStateBase::WatchersLocked() {
  if (watchers_ == nullptr) watchers_ = std::make_unique<Watchers>();
  return *watchers_;
}

void FutureStateBase::NotifyLocked(FutureStatus status) {
  if (watchers_ == nullptr) return;  // no one sleeps on it or watches it
  for (Waiter* waiter : watchers_->waiters) waiter->OnStatus(*this, status);
  // Terminal states see no further transitions, so no one needs the waiters.
  if (IsTerminal(status)) watchers_->waiters.clear();
  watchers_->cv.notify_all();
}

bool FutureStateBase::Wait(const Deadline& deadline) {
  if (done()) return true;
  BlockingHook* hook = BlockingHook::Current();
  if (hook != nullptr && deadline.infinite()) {
    HookWaker waker(hook);
    FutureStatus seen = AddWaiter(&waker);
    if (!IsDone(seen)) {
      hook->BlockUntil([this] { return done(); },
                       [this](const FutureStateBase& f) { return &f == this; });
    }
    if (!IsTerminal(seen)) RemoveWaiter(&waker);
    return true;
  }
  if (!deadline.expired()) {
    const std::chrono::microseconds budget(
        spin_us_.load(std::memory_order_relaxed));
    if (poller_ != nullptr ? poller_->PollUntil(*this, budget)
                           : SpinUntil([this] { return done(); }, budget)) {
      return true;
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (IsDone(status_.load(std::memory_order_relaxed))) return true;
  return deadline.WaitOn(WatchersLocked().cv, lock, [this] {
    return IsDone(status_.load(std::memory_order_relaxed));
  });
}

void FutureStateBase::WaitForValue(const Deadline& deadline) {
  if (!Wait(deadline)) throw TimeoutError();
  if (status() != FutureStatus::kFinished) throw CancelledError();
  if (exception_) std::rethrow_exception(exception_);
}

std::exception_ptr FutureStateBase::WaitForException(const Deadline& deadline) {
  if (!Wait(deadline)) throw TimeoutError();
  if (status() != FutureStatus::kFinished) throw CancelledError();
  return exception_;
}

void FutureStateBase::AddDoneCallback(Callback callback) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!IsDone(status_.load(std::memory_order_relaxed))) {
      WatchersLocked().callbacks.push_back(std::move(callback));
      return;
    }
  }
  InvokeCallback(callback);
}

void FutureStateBase::InvokeCallbacks(std::vector<Callback>& callbacks) {
  for (Callback& callback : callbacks) InvokeCallback(callback);
}

void FutureStateBase::InvokeCallback(Callback& callback) {
  try {
    callback(*this);
  } catch (...) {
    // Python logs and goes on with the next callback; so do we.
    std::exception_ptr e = std::current_exception();
    std::string message =
        absl::StrCat("exception calling callback for ", Repr(), "\n",
                     DescribeException(e), "\n");
    std::fputs(message.c_str(), stderr);
  }
}

FutureStatus FutureStateBase::AddWaiter(Waiter* waiter) {
  std::lock_guard<std::mutex> lock(mu_);
  FutureStatus s = status_.load(std::memory_order_relaxed);
  if (!IsTerminal(s)) WatchersLocked().waiters.push_back(waiter);
  return s;
}

void FutureStateBase::RemoveWaiter(Waiter* waiter) {
  std::lock_guard<std::mutex> lock(mu_);
  if (watchers_ == nullptr) return;
  std::vector<Waiter*>& waiters = watchers_->waiters;
  for (auto it = waiters.begin(); it != waiters.end(); ++it) {
    if (*it == waiter) {
      waiters.erase(it);
      return;
    }
  }
}

std::string FutureStateBase::Repr() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ReprLocked();
}

std::string FutureStateBase::ReprLocked() const {
  std::string head = absl::StrCat(
      "<Future at 0x", absl::Hex(reinterpret_cast<std::uintptr_t>(this)),
      " state=");
  switch (status_.load(std::memory_order_relaxed)) {
    case FutureStatus::kPending:
      return absl::StrCat(head, "pending>");
    case FutureStatus::kRunning:
      return absl::StrCat(head, "running>");
    case FutureStatus::kCancelled:
    case FutureStatus::kCancelledAndNotified:
      return absl::StrCat(head, "cancelled>");
    case FutureStatus::kFinished:
      break;
  }
  if (exception_) {
    return absl::StrCat(head, "finished raised ", ExceptionTypeName(exception_),
                        ">");
  }
  return absl::StrCat(head, "finished returned ", ResultTypeName(), ">");
}

}  // namespace cf::internal
