// A chunk of map() calls sent to a worker process as one task.
//
// Each element keeps its own future, which is what map's result iterates, so
// a chunk changes the cost of map, not what it yields: an element's exception
// surfaces at its position and its neighbours' results are kept (CPython
// main). The chunk's own future is internal; when the pool fails or cancels
// it, every element still pending fails or is cancelled with it. The other
// way round, the chunk is cancelled once every one of its elements is (map's
// result was dropped, as Python cancels its pending chunks); an element
// cancelled alone stays cancelled even if its chunk runs.
//
//   auto chunk = ChunkCallState<R, F, Args...>::Create(fn, std::move(items));
//   std::vector<Future<R>> futures = chunk->elements();
//   executor.Submit(std::move(chunk));
#ifndef CF_EXECUTORS_INTERNAL_CHUNK_CALL_H_
#define CF_EXECUTORS_INTERNAL_CHUNK_CALL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "executors/transport/byte_stream.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"
#include "executors/internal/work_item.h"
#include "futures/errors.h"
#include "futures/future.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

template <class R, class F, class... Args>
class ChunkCallState final : public FutureState<void>, public WorkItem {
  struct Token {};  // only Create constructs: the elements need a weak_ptr

 public:
  static std::shared_ptr<ChunkCallState> Create(
      F fn, std::vector<std::tuple<Args...>> items) {
    auto chunk = std::make_shared<ChunkCallState>(Token{}, std::move(fn),
                                                  std::move(items));
    chunk->WatchElements();
    return chunk;
  }

  ChunkCallState(Token, F fn, std::vector<std::tuple<Args...>> items)
      : fn_(std::move(fn)), items_(std::move(items)), elements_(items_.size()) {
    AddDoneCallback([](FutureStateBase& self) {
      static_cast<ChunkCallState&>(self).PassOnFailure();
    });
  }

  // The futures of the elements, in input order.
  const std::vector<Future<R>>& elements() const { return elements_; }

  // In this process: each element in turn.
  void Run(absl::FunctionRef<void()> computed) override {
    if (!this->SetRunningOrNotifyCancel()) {
      Drop();
      computed();
      return;
    }
    for (std::size_t i = 0; i < items_.size(); ++i) {
      try {
        Settle(i, [&] {
          elements_[i].set_result(std::apply(fn_, std::move(items_[i])));
        });
      } catch (...) {
        Settle(i,
               [&] { elements_[i].set_exception(std::current_exception()); });
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
  }

  void EncodeRemote(std::string* out) override {
    if constexpr (!Remote::kRemotable) {
      ThrowNotRemotableCall<R, F, Args...>();
    } else {
      EncodeChunk<R>(fn_, items_, out);
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
      if (n != elements_.size()) {
        throw RemoteCallError(
            "a chunk's answer has the wrong number of results");
      }
      for (std::size_t i = 0; i < elements_.size(); ++i) {
        bool ok = false;
        archive(ok);
        if (ok) {
          R value;
          archive(value);
          Settle(i, [&] { elements_[i].set_result(std::move(value)); });
        } else {
          RemoteException failure;
          archive(failure);
          Settle(i, [&] {
            elements_[i].set_exception(RebuildException(failure));
          });
        }
      }
    }
    this->SetResult();
  }

 private:
  using Remote = RemoteCallTraits<R, F, Args...>;

  // Sets element `i`, unless it was cancelled meanwhile (map's result was
  // dropped): its outcome then has no one to go to.
  template <class Set>
  void Settle(std::size_t i, Set set) {
    if (elements_[i].done()) return;
    try {
      set();
    } catch (const InvalidStateError&) {
    }
  }

  // Cancels the chunk once all its elements are cancelled: nobody wants any
  // of its results. (A chunk already RUNNING stays so; its elements keep
  // their cancellation, see Settle.)
  void WatchElements() {
    std::weak_ptr<FutureStateBase> weak = weak_from_this();
    for (Future<R>& element : elements_) {
      element.state()->AddDoneCallback([weak](FutureStateBase& done) {
        if (done.status() == FutureStatus::kFinished) return;
        std::shared_ptr<FutureStateBase> chunk = weak.lock();
        if (chunk == nullptr) return;
        auto& self = static_cast<ChunkCallState&>(*chunk);
        if (self.cancelled_elements_.fetch_add(1) + 1 ==
            self.elements_.size()) {
          self.Cancel();
        }
      });
    }
  }

  // The chunk failed or was cancelled as a whole: so do its pending elements.
  void PassOnFailure() {
    if (status() == FutureStatus::kFinished && !raised()) return;
    const std::exception_ptr error =
        raised() ? WaitForException(Deadline::Never()) : nullptr;
    for (Future<R>& element : elements_) {
      if (element.done()) continue;
      if (error) {
        Settle(&element - elements_.data(),
               [&] { element.set_exception(error); });
      } else if (element.cancel()) {
        element.set_running_or_notify_cancel();  // so wait() sees it done
      }
    }
  }

  F fn_;
  std::vector<std::tuple<Args...>> items_;
  std::vector<Future<R>> elements_;
  std::atomic<std::size_t> cancelled_elements_{0};
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_CHUNK_CALL_H_
