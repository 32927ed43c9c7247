// One apply_async call: a future (FutureState<R>) and a task in one object,
// like CallState, that cf::Pool's queue can also send together with queued
// calls of the same function as one chunk frame (Groupable): one stream for
// all their arguments and one for all their results, instead of one each.
//
// The one thing to know: alone or grouped, it travels as a chunk of one
// element (PoolChunkEntry), so a worker runs it like a map element; its
// exception comes back the same way.
//
//   auto call = std::make_shared<PoolCall<int, int (*)(int), int>>(square, 7);
//   Future<int> future(call);
//   queue.Push(call, /*single_call=*/true);
#ifndef CF_EXECUTORS_INTERNAL_POOL_CALL_H_
#define CF_EXECUTORS_INTERNAL_POOL_CALL_H_

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "executors/internal/pool_chunk.h"
#include "executors/internal/work_item.h"
#include "futures/errors.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

template <class R, class F, class... Args>
class PoolCall final : public FutureState<R>, public WorkItem, public Groupable {
 public:
  using E = ElementOf<R>;
  using Item = std::tuple<Args...>;
  using Remote = RemoteCallTraits<E, F, Args...>;

  template <class FF, class... AA>
  explicit PoolCall(FF&& fn, AA&&... args)
      : fn_(std::forward<FF>(fn)), args_(std::in_place, std::forward<AA>(args)...) {}

  // In this process: CallState's Run.
  void Run(absl::FunctionRef<void()> computed) override {
    if (!this->SetRunningOrNotifyCancel()) {
      Drop();
      computed();
      return;
    }
    std::optional<E> value;
    std::exception_ptr error;
    try {
      value.emplace(CallWithExtras<E>(fn_, std::move(*args_), std::tuple<>()));
    } catch (...) {
      error = std::current_exception();
    }
    Drop();
    computed();
    if (error) {
      this->SetException(std::move(error));
    } else {
      Deliver(0, std::move(*value));
    }
  }

  FutureStateBase& future() override { return *this; }
  void Drop() override { args_.reset(); }

  void EncodeRemote(std::string* out) override {
    if constexpr (!Remote::kRemotable) {
      ThrowNotRemotableCall<R, F, Args...>();
    } else {
      EncodeChunkFrame<E, F, Item, std::tuple<>>(
          fn_, std::tuple<>(), 1, [&](std::size_t) -> const Item& { return *args_; },
          out);
      Drop();
    }
  }

  void SetRemoteResult(std::string_view bytes) override {
    if constexpr (Remote::kRemotable) {
      DecodeChunkAnswer<E>(
          bytes, 1, [&](std::size_t, E&& value) { Deliver(0, std::move(value)); },
          [&](std::size_t, std::exception_ptr e) { DeliverError(0, std::move(e)); });
    }
  }

  GroupKey group_key() const override {
    return {&kTypeTag<PoolCall>, FunctionKey(fn_), nullptr};
  }
  std::shared_ptr<WorkItem> MakeGroup(
      std::vector<std::shared_ptr<WorkItem>> members) override {
    if constexpr (!Remote::kRemotable) {
      ThrowNotRemotableCall<R, F, Args...>();
    } else {
      std::vector<std::shared_ptr<PoolCall>> calls;
      calls.reserve(members.size());
      for (auto& m : members) calls.push_back(std::static_pointer_cast<PoolCall>(m));
      static const auto kNoExtras = std::make_shared<const std::tuple<>>();
      return std::make_shared<TaskGroup<E, F, Item, std::tuple<>, PoolCall>>(
          fn_, kNoExtras, std::move(calls));
    }
  }

  // For TaskGroup: a chunk of one.
  std::size_t size() const { return 1; }
  const Item& item(std::size_t) const { return *args_; }
  void Deliver(std::size_t, E value) {
    if constexpr (std::is_void_v<R>) {
      this->SetResult();
    } else {
      this->SetResult(std::move(value));
    }
  }
  void DeliverError(std::size_t, std::exception_ptr e) {
    this->SetException(std::move(e));
  }
  void Finish() {}

 private:
  F fn_;
  std::optional<Item> args_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_POOL_CALL_H_
