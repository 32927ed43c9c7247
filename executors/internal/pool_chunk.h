// A chunk of calls to one function for cf::Pool's maps and cf::parallel_map:
// `fn(item..., extras...)` for each item, with the extra arguments sent once
// per chunk (parmap's rule), not once per element.
//
// The one thing to know: a chunk has one future (its FutureState<void>) and
// no future per element. Once that future is done, each element holds its
// value or its exception (ChunkResults), which is all map_async and imap read;
// a 100,000-element map allocates a few chunks, not 100,000 futures. When the
// chunk fails as a whole (its worker died, it was cancelled), every element
// reports that failure.
//
//   auto chunk = std::make_shared<PoolChunk<int, F, std::tuple<int>,
//                                           std::tuple<>>>(fn, items, extras);
//   submit(chunk);                       // any WorkItem consumer
//   chunk->Wait(Deadline::Never());
//   if (!chunk->error(0)) use(chunk->take(0));
#ifndef CF_EXECUTORS_INTERNAL_POOL_CHUNK_H_
#define CF_EXECUTORS_INTERNAL_POOL_CHUNK_H_

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "executors/internal/pool_support.h"
#include "executors/internal/work_item.h"
#include "executors/transport/byte_stream.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"
#include "futures/errors.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

// What a map yields for a function returning R: R itself, or std::monostate
// (Python's None) for a function returning void.
template <class R>
using ElementOf = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

// What `fn(args..., extras...)` returns, as a value.
template <class F, class Item, class Extras>
struct ChunkCallResult;
template <class F, class... Args, class... Extras>
struct ChunkCallResult<F, std::tuple<Args...>, std::tuple<Extras...>> {
  using type = std::remove_cvref_t<
      std::invoke_result_t<F&, Args&&..., const Extras&...>>;
};

// Calls `fn(item..., extras...)`: the item's arguments as rvalues, the
// extras as const lvalues (they serve every element of the chunk).
template <class E, class F, class... Args, class... Extras>
E CallWithExtras(F& fn, std::tuple<Args...>&& item,
                 const std::tuple<Extras...>& extras) {
  return std::apply(
      [&](auto&&... a) -> E {
        return std::apply(
            [&](const auto&... e) -> E {
              if constexpr (std::is_same_v<
                                std::invoke_result_t<F&, Args&&...,
                                                     const Extras&...>,
                                void>) {
                std::invoke(fn, std::forward<decltype(a)>(a)..., e...);
                return E{};
              } else {
                return std::invoke(fn, std::forward<decltype(a)>(a)..., e...);
              }
            },
            extras);
      },
      std::move(item));
}

// Bulk encodings, for the common map of numbers to numbers: a chunk whose
// items are one arithmetic value each sends them as one block of bytes, and
// a chunk of arithmetic (or void) results that all succeeded comes back as
// one block, instead of element by element through cereal.
template <class Item>
inline constexpr bool kBulkItems = false;
template <class A>
inline constexpr bool kBulkItems<std::tuple<A>> =
    std::is_arithmetic_v<A> || std::is_enum_v<A>;
template <class E>
inline constexpr bool kBulkResults =
    std::is_arithmetic_v<E> || std::is_enum_v<E> ||
    std::is_same_v<E, std::monostate>;

// How a chunk's answer is laid out after its element count.
enum class ChunkAnswer : std::uint8_t {
  kEach = 0,     // per element: ok flag, then value or RemoteException
  kAllOk = 1,    // every element succeeded: the values as one block
};

// The outcomes of a chunk, readable once its future is done.
template <class E>
class ChunkResults : public FutureState<void> {
  // A value per element; std::optional only for types without a default
  // constructor (thread executors take any type).
  using Slot =
      std::conditional_t<std::is_default_constructible_v<E>, E, std::optional<E>>;

 public:
  explicit ChunkResults(std::size_t n) : values_(n) {}

  std::size_t size() const { return values_.size(); }

  // Once done(): null if element `i` returned a value, else its exception
  // (the chunk's own when the chunk failed as a whole; CancelledError when
  // it was cancelled).
  std::exception_ptr error(std::size_t i) {
    if (std::exception_ptr whole = WholeError()) return whole;
    return errors_.empty() ? nullptr : errors_[i];
  }

  // Once done(): the first element's exception, or null if all returned.
  std::exception_ptr first_error() {
    if (std::exception_ptr whole = WholeError()) return whole;
    for (const std::exception_ptr& e : errors_) {
      if (e) return e;
    }
    return nullptr;
  }

  // Once done() and error(i) is null: hands element `i`'s value over.
  E take(std::size_t i) {
    if constexpr (std::is_same_v<Slot, E>) {
      return std::move(values_[i]);
    } else {
      return std::move(*values_[i]);
    }
  }

  // Once done() and first_error() is null: hands every value over.
  void TakeAll(std::vector<E>& out) {
    if constexpr (std::is_same_v<Slot, E>) {
      out.insert(out.end(), std::make_move_iterator(values_.begin()),
                 std::make_move_iterator(values_.end()));
    } else {
      for (Slot& v : values_) out.push_back(std::move(*v));
    }
  }

  // A chunk that failed before it could be sent (reading the input threw).
  static std::shared_ptr<ChunkResults> Failed(std::exception_ptr error) {
    auto chunk = std::make_shared<ChunkResults>(1);
    chunk->SetException(std::move(error));
    return chunk;
  }

 protected:
  void SetValue(std::size_t i, E value) { values_[i] = std::move(value); }
  void SetError(std::size_t i, std::exception_ptr error) {
    if (errors_.empty()) errors_.resize(values_.size());
    errors_[i] = std::move(error);
  }
 private:
  std::exception_ptr WholeError() {
    const FutureStatus s = status();
    if (s == FutureStatus::kCancelled ||
        s == FutureStatus::kCancelledAndNotified) {
      return std::make_exception_ptr(CancelledError());
    }
    if (raised()) return WaitForException(Deadline::Never());
    return nullptr;
  }

  // Written before the chunk's future finishes (which publishes them).
  std::vector<Slot> values_;
  std::vector<std::exception_ptr> errors_;  // empty: no element failed
};

// In a worker: reads the extras once, then runs each element and writes its
// outcome (ok flag, then value or RemoteException), as RemoteChunkEntryFor
// does for Executor::map's chunks.
template <class E, class F, class Item, class Extras>
struct PoolChunkEntry;
template <class E, class F, class... Args, class... Extras>
struct PoolChunkEntry<E, F, std::tuple<Args...>, std::tuple<Extras...>> {
  using Item = std::tuple<Args...>;

  static void Run(std::uintptr_t fn, InputArchive& in, std::string* out) {
    std::tuple<Extras...> extras;
    std::apply([&](auto&... e) { (in(e), ...); }, extras);
    std::uint64_t n = 0;
    in(n);
    StringSink sink(out);
    std::ostream stream(&sink);
    OutputArchive archive(stream);
    archive(n);
    F function = FunctionAt<F>(fn);
    // The next element's arguments, read from the stream or the block.
    std::vector<Item> block;
    if constexpr (kBulkItems<Item>) {
      using A = std::tuple_element_t<0, Item>;
      std::vector<A> values(n);
      in(cereal::binary_data(values.data(), n * sizeof(A)));
      block.reserve(n);
      for (A& a : values) block.emplace_back(a);
    }
    auto next_args = [&](std::uint64_t i) {
      if constexpr (kBulkItems<Item>) {
        return std::move(block[i]);
      } else {
        Item args;
        std::apply([&](auto&... a) { (in(a), ...); }, args);
        return args;
      }
    };
    if constexpr (kBulkResults<E>) {
      // Held back until every element is known to have succeeded.
      std::vector<E> values;
      values.reserve(n);
      std::uint64_t i = 0;
      std::optional<RemoteException> failure;
      ScopedThrowCapture capture;  // one per chunk: it costs per scope
      for (; i < n && !failure; ++i) {
        try {
          values.push_back(CallWithExtras<E>(function, next_args(i), extras));
        } catch (...) {
          failure = CaptureCurrentException();
        }
      }
      if (!failure) {
        archive(static_cast<std::uint8_t>(ChunkAnswer::kAllOk));
        if constexpr (!std::is_same_v<E, std::monostate>) {
          archive(cereal::binary_data(values.data(), n * sizeof(E)));
        }
        return;
      }
      archive(static_cast<std::uint8_t>(ChunkAnswer::kEach));
      for (E& value : values) archive(true, value);
      archive(false, *failure);
      for (; i < n; ++i) WriteOne(function, next_args(i), extras, archive);
    } else {
      ScopedThrowCapture capture;  // one per chunk: it costs per scope
      archive(static_cast<std::uint8_t>(ChunkAnswer::kEach));
      for (std::uint64_t i = 0; i < n; ++i) {
        WriteOne(function, next_args(i), extras, archive);
      }
    }
  }

  // Runs one element and writes its outcome: ok flag, value or exception.
  // Called inside the chunk's ScopedThrowCapture.
  static void WriteOne(F& function, Item&& args,
                       const std::tuple<Extras...>& extras,
                       OutputArchive& archive) {
    WriteOutcome<E>(
        [&] { return CallWithExtras<E>(function, std::move(args), extras); },
        archive);
  }

  static inline const bool registered = RegisterEntry(&Run);
};

// Writes the frame PoolChunkEntry reads: the entry, the function, the extras
// once, then `n` items (`item_at(i)` is the i-th).
template <class E, class F, class Item, class Extras, class ItemAt>
void EncodeChunkFrame(const F& fn, const Extras& extras, std::size_t n,
                      ItemAt item_at, std::string* out) {
  const CodeAddress function = DescribeFunction(fn);
  StringSink sink(out);
  std::ostream stream(&sink);
  OutputArchive archive(stream);
  archive(EntryAddress<PoolChunkEntry<E, F, Item, Extras>>(), function);
  std::apply([&](const auto&... e) { (archive(e), ...); }, extras);
  archive(static_cast<std::uint64_t>(n));
  if constexpr (kBulkItems<Item>) {
    using A = std::tuple_element_t<0, Item>;
    std::vector<A> values;
    values.reserve(n);
    for (std::size_t i = 0; i < n; ++i) values.push_back(std::get<0>(item_at(i)));
    archive(cereal::binary_data(values.data(), n * sizeof(A)));
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      std::apply([&](const auto&... a) { (archive(a), ...); }, item_at(i));
    }
  }
}

// Reads what PoolChunkEntry answered for `n` items: on_value(i, E&&) or
// on_error(i, std::exception_ptr) for each, in order.
template <class E, class OnValue, class OnError>
void DecodeChunkAnswer(std::string_view bytes, std::size_t n, OnValue on_value,
                       OnError on_error) {
  ViewSource source(bytes);
  std::istream stream(&source);
  InputArchive archive(stream);
  std::uint64_t count = 0;
  archive(count);
  if (count != n) {
    throw RemoteCallError("a chunk's answer has the wrong number of results");
  }
  std::uint8_t layout = 0;
  archive(layout);
  if (layout == static_cast<std::uint8_t>(ChunkAnswer::kAllOk)) {
    if constexpr (kBulkResults<E>) {
      std::vector<E> values(n);
      if constexpr (!std::is_same_v<E, std::monostate>) {
        archive(cereal::binary_data(values.data(), n * sizeof(E)));
      }
      for (std::size_t i = 0; i < n; ++i) on_value(i, std::move(values[i]));
      return;
    } else {
      throw RemoteCallError("a chunk's answer has an unknown layout");
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    bool ok = false;
    archive(ok);
    if (ok) {
      E value;
      archive(value);
      on_value(i, std::move(value));
    } else {
      RemoteException failure;
      archive(failure);
      on_error(i, RebuildException(failure));
    }
  }
}

// Which queued tasks may travel as one frame: the same entry (function,
// argument and result types), the same function and the same extras.
struct GroupKey {
  const void* type = nullptr;
  std::uintptr_t fn = 0;  // the function pointer; 0 for a lambda's type
  const void* extras = nullptr;
  friend bool operator==(const GroupKey&, const GroupKey&) = default;
};

template <class T>
inline constexpr char kTypeTag = 0;  // &kTypeTag<T>: one address per type

template <class F>
std::uintptr_t FunctionKey(const F& fn) {
  if constexpr (kIsFunctionPointer<F>) {
    return reinterpret_cast<std::uintptr_t>(fn);
  } else {
    return 0;
  }
}

// A task the pool's queue may send together with its neighbours of the same
// key, as one chunk frame (internal/task_queue.h).
class Groupable {
 public:
  virtual GroupKey group_key() const = 0;
  // Called on the first of `members` (this one), all of the same key.
  virtual std::shared_ptr<WorkItem> MakeGroup(
      std::vector<std::shared_ptr<WorkItem>> members) = 0;

 protected:
  ~Groupable() = default;
};

// Member tasks sent as one frame: each keeps its own outcome; when the group
// fails as a whole (its worker died, it was cancelled), so does every member
// without an outcome. `Member` provides size(), item(i), Deliver(i, E),
// DeliverError(i, e) and Finish().
template <class E, class F, class Item, class Extras, class Member>
class TaskGroup final : public FutureState<void>, public WorkItem {
 public:
  TaskGroup(F fn, std::shared_ptr<const Extras> extras,
            std::vector<std::shared_ptr<Member>> members)
      : fn_(std::move(fn)), extras_(std::move(extras)), members_(std::move(members)) {
    for (std::size_t m = 0; m < members_.size(); ++m) {
      for (std::size_t i = 0; i < members_[m]->size(); ++i) where_.push_back({m, i});
    }
    AddDoneCallback([](FutureStateBase& self) {
      static_cast<TaskGroup&>(self).PassOnFailure();
    });
  }

  void Run(absl::FunctionRef<void()> computed) override {
    if (!SetRunningOrNotifyCancel()) {
      computed();
      return;
    }
    for (auto& member : members_) member->Run([] {});
    computed();
    SetResult();
  }
  FutureStateBase& future() override { return *this; }
  void Drop() override {
    for (auto& member : members_) member->Drop();
  }
  void EncodeRemote(std::string* out) override {
    EncodeChunkFrame<E, F, Item, Extras>(
        fn_, *extras_, where_.size(),
        [&](std::size_t k) -> const Item& {
          return members_[where_[k].first]->item(where_[k].second);
        },
        out);
    Drop();
  }
  void SetRemoteResult(std::string_view bytes) override {
    DecodeChunkAnswer<E>(
        bytes, where_.size(),
        [&](std::size_t k, E&& value) {
          try {
            members_[where_[k].first]->Deliver(where_[k].second, std::move(value));
          } catch (const InvalidStateError&) {  // cancelled meanwhile
          }
        },
        [&](std::size_t k, std::exception_ptr e) {
          try {
            members_[where_[k].first]->DeliverError(where_[k].second, std::move(e));
          } catch (const InvalidStateError&) {
          }
        });
    for (auto& member : members_) {
      try {
        member->Finish();
      } catch (const InvalidStateError&) {  // cancelled meanwhile
      }
    }
    SetResult();
  }

 private:
  void PassOnFailure() { PassOnGroupFailure(*this, members_); }

  F fn_;
  std::shared_ptr<const Extras> extras_;
  std::vector<std::shared_ptr<Member>> members_;
  std::vector<std::pair<std::size_t, std::size_t>> where_;  // member, index
};

template <class E, class F, class Item, class Extras>
class PoolChunk;

template <class E, class F, class... Args, class... Extras>
class PoolChunk<E, F, std::tuple<Args...>, std::tuple<Extras...>> final
    : public ChunkResults<E>,
      public WorkItem,
      public Groupable {
 public:
  using Item = std::tuple<Args...>;
  using SharedExtras = std::shared_ptr<const std::tuple<Extras...>>;
  using Remote = RemoteCallTraits<E, F, Args..., Extras...>;

  PoolChunk(F fn, std::vector<Item> items, SharedExtras extras)
      : ChunkResults<E>(items.size()),
        fn_(std::move(fn)),
        items_(std::move(items)),
        extras_(std::move(extras)) {}

  // In this process (a thread executor): each element in turn.
  void Run(absl::FunctionRef<void()> computed) override {
    if (!this->SetRunningOrNotifyCancel()) {
      Drop();
      computed();
      return;
    }
    for (std::size_t i = 0; i < items_.size(); ++i) {
      try {
        this->SetValue(i, CallWithExtras<E>(fn_, std::move(items_[i]), *extras_));
      } catch (...) {
        this->SetError(i, std::current_exception());
      }
    }
    Drop();
    computed();
    this->SetResult();
  }

  FutureStateBase& future() override { return *this; }

  void Drop() override {
    items_.clear();
    items_.shrink_to_fit();
    extras_.reset();
  }

  void EncodeRemote(std::string* out) override {
    if constexpr (!Remote::kRemotable) {
      ThrowNotRemotableCall<E, F, Args..., Extras...>();
    } else {
      EncodeChunkFrame<E, F, Item, std::tuple<Extras...>>(
          fn_, *extras_, items_.size(),
          [&](std::size_t i) -> const Item& { return items_[i]; }, out);
      Drop();
    }
  }

  void SetRemoteResult(std::string_view bytes) override {
    if constexpr (Remote::kRemotable) {
      DecodeChunkAnswer<E>(
          bytes, this->size(),
          [&](std::size_t i, E&& v) { this->SetValue(i, std::move(v)); },
          [&](std::size_t i, std::exception_ptr e) {
            this->SetError(i, std::move(e));
          });
    }
    this->SetResult();
  }

  GroupKey group_key() const override {
    return {&kTypeTag<PoolChunk>, FunctionKey(fn_), extras_.get()};
  }
  std::shared_ptr<WorkItem> MakeGroup(
      std::vector<std::shared_ptr<WorkItem>> members) override {
    if constexpr (!Remote::kRemotable) {
      ThrowNotRemotableCall<E, F, Args..., Extras...>();
    } else {
      std::vector<std::shared_ptr<PoolChunk>> chunks;
      for (auto& m : members) chunks.push_back(std::static_pointer_cast<PoolChunk>(m));
      return std::make_shared<
          TaskGroup<E, F, Item, std::tuple<Extras...>, PoolChunk>>(
          fn_, extras_, std::move(chunks));
    }
  }

  // For TaskGroup.
  const Item& item(std::size_t i) const { return items_[i]; }
  void Deliver(std::size_t i, E value) { this->SetValue(i, std::move(value)); }
  void DeliverError(std::size_t i, std::exception_ptr e) {
    this->SetError(i, std::move(e));
  }
  void Finish() { this->SetResult(); }

 private:
  F fn_;
  std::vector<Item> items_;
  SharedExtras extras_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_POOL_CHUNK_H_
