// A submitted call: its future's state and the function with its arguments,
// in one allocation.
//
// The executor sees only WorkItem; the future handed to the user points into
// the same object. Running a call destroys the function and its arguments
// before the result is published, so the executor keeps nothing of a call
// once its future is done (Python's test_no_stale_references).
#ifndef CF_EXECUTORS_INTERNAL_WORK_ITEM_H_
#define CF_EXECUTORS_INTERNAL_WORK_ITEM_H_

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/functional/function_ref.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/serializable.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

class SubmitInbox;

// Why a call `fn(args...)` returning R cannot run in a worker process, naming
// the type at fault; "" when it can. Instantiates no cereal code.
template <class R, class F, class... Args>
std::string WhyNotRemotable() {
  using Remote = RemoteCallTraits<R, F, Args...>;
  if constexpr (!Remote::kCallable) {
    return "the function, of type `" + TypeNameOf<F>() + "`: " +
           Remote::WhyNot();
  } else if constexpr (!Remote::kArgumentsSerializable) {
    std::string why;  // about the first argument at fault
    int position = 0;
    (
        [&] {
          ++position;
          if (why.empty() && !kIsSerializable<Args>) {
            why = "argument " + std::to_string(position) + ", of type `" +
                  TypeNameOf<Args>() + "`, cannot be serialized: " +
                  WhyNotSerializable<Args>();
          }
        }(),
        ...);
    return why;
  } else if constexpr (!Remote::kResultSerializable) {
    return "the result type `" + TypeNameOf<R>() +
           "` cannot be serialized: " + WhyNotSerializable<R>();
  } else {
    return "";
  }
}

// Throws NotRemotable (a std::invalid_argument) with WhyNotRemotable().
template <class R, class F, class... Args>
[[noreturn]] void ThrowNotRemotableCall() {
  throw NotRemotable("cannot run this call in a worker process: " +
                     WhyNotRemotable<R, F, Args...>());
}

class WorkItem {
 public:
  virtual ~WorkItem() = default;

  // Runs the call in this thread unless its future was cancelled. `computed`
  // runs after the call returned (or was skipped) and before anyone waiting on
  // the future is woken, so an executor can count this worker idle first.
  virtual void Run(absl::FunctionRef<void()> computed) = 0;
  // The future, for cancelling it or failing it when the executor breaks.
  virtual FutureStateBase& future() = 0;
  // Destroys the function and arguments of a call that will never run
  // (cancelled, or failed by a broken executor).
  virtual void Drop() = 0;

  // For executors that run calls in other processes (remote_call.h):
  // serializes the call into `*out` and releases the function and arguments.
  // Throws std::invalid_argument, naming why, when the call cannot cross a
  // process boundary; anything else thrown is a serialization failure.
  virtual void EncodeRemote(std::string* out) = 0;
  // Completes the future from the result bytes a worker sent back; throws if
  // they do not deserialize.
  virtual void SetRemoteResult(std::string_view bytes) = 0;

  // For items that several threads run at once (a thread pool's map batch,
  // map_batch.h): each Run() takes elements until none is left, and the item
  // stays queued until Exhausted(). Width() is how many threads it can use.
  virtual bool Shared() const { return false; }
  virtual bool Exhausted() const { return true; }
  virtual std::size_t Width() const { return 1; }
  // Whether this item would settle a future that `awaited` accepts and has
  // not started it yet (a blocked worker may then run it itself).
  virtual bool Holds(
      absl::FunctionRef<bool(const FutureStateBase&)> awaited) {
    return awaited(future());
  }
  // A shared item run by a worker blocked on one of its futures: takes
  // elements only until `done()`.
  virtual void RunUntil(absl::FunctionRef<bool()> done) {
    (void)done;
    Run([] {});
  }

 private:
  friend class SubmitInbox;
  // While in a thread pool's SubmitInbox: the item pushed before it, and the
  // inbox's reference to it.
  WorkItem* inbox_next_ = nullptr;
  std::shared_ptr<WorkItem> inbox_self_;
};

template <class R, class F, class... Args>
class CallState final : public FutureState<R>, public WorkItem {
 public:
  template <class FF, class... AA>
  explicit CallState(FF&& fn, AA&&... args)
      : call_(std::in_place, std::forward<FF>(fn),
              std::tuple<Args...>(std::forward<AA>(args)...)) {}

  void Run(absl::FunctionRef<void()> computed) override {
    if (!this->SetRunningOrNotifyCancel()) {
      call_.reset();
      computed();
      return;
    }
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
      try {
        std::apply(std::move(call_->first), std::move(call_->second));
      } catch (...) {
        error = std::current_exception();
      }
      call_.reset();
      computed();
      if (error) {
        this->SetException(std::move(error));
      } else {
        this->SetResult();
      }
    } else {
      std::optional<R> value;
      try {
        value.emplace(
            std::apply(std::move(call_->first), std::move(call_->second)));
      } catch (...) {
        error = std::current_exception();
      }
      call_.reset();
      computed();
      if (error) {
        this->SetException(std::move(error));
      } else {
        this->SetResult(std::move(*value));
      }
    }
  }

  FutureStateBase& future() override { return *this; }
  void Drop() override { call_.reset(); }

  void EncodeRemote(std::string* out) override {
    // Only a remotable call instantiates cereal code: any other argument or
    // result type must compile for the thread pool.
    if constexpr (!Remote::kRemotable) {
      ThrowNotRemotableCall<R, F, Args...>();
    } else {
      EncodeCall<R>(call_->first, call_->second, out);
      call_.reset();
    }
  }

  void SetRemoteResult(std::string_view bytes) override {
    if constexpr (std::is_void_v<R>) {
      this->SetResult();
    } else if constexpr (Remote::kRemotable) {
      this->SetResult(DecodeResult<R>(bytes));
    } else {
      throw std::logic_error("a call that cannot be encoded got a result");
    }
  }

 private:
  using Remote = RemoteCallTraits<R, F, Args...>;

  std::optional<std::pair<F, std::tuple<Args...>>> call_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_WORK_ITEM_H_
