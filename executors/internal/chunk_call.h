// A chunk of map() calls sent to a worker process as one task.
//
// Each element keeps its own outcome, which map's result reads by position
// (MapElements), so a chunk changes the cost of map, not what it yields: an
// element's exception surfaces at its position and its neighbours' results
// are kept (CPython main). The chunk's own future is internal; when the
// pool fails or cancels it, every element it did not answer fails or is
// cancelled with it. The other way round, the chunk is cancelled once every
// one of its elements is (map's result was dropped, as Python cancels its
// pending chunks); an element cancelled alone stays cancelled even if its
// chunk runs.
//
// The one thing to know: the elements are not futures but slots in one
// array (map_elements.h), 24 bytes for an int where a future takes 112:
// a first map of 100,000 calls faults in far fewer fresh pages.
//
//   auto chunk = ChunkCallState<R, F, Args...>::Create(fn, std::move(items));
//   auto entry = MapEntry<R>::Run(chunk);   // what map's result holds
//   executor.Submit(std::move(chunk));
#ifndef CF_EXECUTORS_INTERNAL_CHUNK_CALL_H_
#define CF_EXECUTORS_INTERNAL_CHUNK_CALL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "executors/transport/byte_stream.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"
#include "executors/internal/map_elements.h"
#include "executors/internal/work_item.h"
#include "futures/errors.h"
#include "futures/future.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

template <class R, class F, class... Args>
class ChunkCallState final : public FutureState<void>,
                             public WorkItem,
                             public MapElements<R> {
 public:
  static std::shared_ptr<ChunkCallState> Create(
      F fn, std::vector<std::tuple<Args...>> items) {
    return std::make_shared<ChunkCallState>(std::move(fn), std::move(items));
  }

  ChunkCallState(F fn, std::vector<std::tuple<Args...>> items)
      : fn_(std::move(fn)),
        items_(std::move(items)),
        size_(items_.size()),
        slots_(new ElementSlot<R>[size_]) {}

  // MapElements: what map's result reads.
  std::size_t size() const override { return size_; }
  // The chunk answers for all its elements at once: an element is waited
  // for by waiting for its chunk (with the chunk's spin hint and poller).
  bool Await(std::size_t i, const Deadline& deadline) override {
    return slots_[i].settled() || this->Wait(deadline);
  }
  R Take(std::size_t i) override {
    ElementSlot<R>& slot = slots_[i];
    if (slot.finished()) return slot.Take();
    if (slot.cancelled()) throw CancelledError();
    // The chunk ended without an answer for it: it failed or was cancelled
    // as a whole (a broken pool, shutdown(cancel_futures=true)).
    if (this->raised()) {
      std::rethrow_exception(this->WaitForException(Deadline::Never()));
    }
    throw CancelledError();
  }
  // Once every element is cancelled (map's result was dropped), the chunk
  // is too, if it was not sent yet.
  void Cancel(std::size_t i) override {
    if (slots_[i].TryCancel() &&
        cancelled_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_) {
      FutureState<void>::Cancel();
    }
  }

  // In this process: each element in turn.
  void Run(absl::FunctionRef<void()> computed) override {
    if (!this->SetRunningOrNotifyCancel()) {
      Drop();
      computed();
      return;
    }
    for (std::size_t i = 0; i < size_; ++i) {
      if (slots_[i].settled()) continue;  // cancelled alone
      std::optional<R> value;
      std::exception_ptr error;
      try {
        value.emplace(std::apply(*fn_, std::move(items_[i])));
      } catch (...) {
        error = std::current_exception();
      }
      Settle(i, std::move(value), std::move(error));
    }
    Drop();
    computed();
    this->SetResult();
  }

  FutureStateBase& future() override { return *this; }

  // The function goes too: map's result keeps the chunk for its elements'
  // outcomes, and must not keep the caller's function object alive.
  void Drop() override {
    items_.clear();
    items_.shrink_to_fit();
    fn_.reset();
  }

  void EncodeRemote(std::string* out) override {
    if constexpr (!Remote::kRemotable) {
      ThrowNotRemotableCall<R, F, Args...>();
    } else {
      EncodeChunk<R>(*fn_, items_, out);
      Drop();
    }
  }

  void SetRemoteResult(std::string_view bytes) override {
    if constexpr (Remote::kRemotable) {
      ViewSource source(bytes);
      std::istream stream(&source);
      InputArchive archive(stream);
      std::uint64_t n = 0;
      archive(n);
      if (n != size_) {
        throw RemoteCallError(
            "a chunk's answer has the wrong number of results");
      }
      for (std::size_t i = 0; i < size_; ++i) {
        bool ok = false;
        archive(ok);
        if (ok) {
          R value;
          archive(value);
          Settle(i, std::move(value), nullptr);
        } else {
          RemoteException failure;
          archive(failure);
          Settle(i, std::nullopt, RebuildException(failure));
        }
      }
    }
    this->SetResult();
  }

 private:
  using Remote = RemoteCallTraits<R, F, Args...>;

  // Settles element `i`, unless it was cancelled meanwhile (map's result
  // was dropped): its outcome then has no one to go to.
  void Settle(std::size_t i, std::optional<R> value, std::exception_ptr error) {
    if (slots_[i].TryStart()) slots_[i].Finish(std::move(value), error);
  }

  std::optional<F> fn_;  // until sent or run (Drop)
  std::vector<std::tuple<Args...>> items_;
  const std::size_t size_;
  const std::unique_ptr<ElementSlot<R>[]> slots_;
  std::atomic<std::size_t> cancelled_{0};
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_CHUNK_CALL_H_
