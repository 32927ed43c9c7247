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
// The elements' states lie in one array per chunk (ChunkElements), and they
// are futures only map's result sees: they have no shared_from_this(), so
// they must never reach add_done_callback.
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

// The states of a chunk's elements, in one allocation: one per element,
// and one more each for the callback that watched its cancellation, had
// malloc and free take 40% of a process pool's map of no-op calls (`perf`).
// Each element's Future shares ownership of the whole array.
template <class R>
class ChunkElements {
 public:
  explicit ChunkElements(std::size_t n) : size_(n), states_(new Element[n]) {
    for (std::size_t i = 0; i < n; ++i) states_[i].owner_ = this;
  }
  ChunkElements(const ChunkElements&) = delete;
  ChunkElements& operator=(const ChunkElements&) = delete;

  // Once every element is cancelled, so is `chunk`. Set before any element
  // is handed out.
  void CancelWithAll(std::weak_ptr<FutureStateBase> chunk) {
    chunk_ = std::move(chunk);
  }

  std::size_t size() const { return size_; }
  FutureState<R>& operator[](std::size_t i) { return states_[i]; }

  // Element `i`'s future; it keeps `self` (this array) alive.
  static Future<R> Share(const std::shared_ptr<ChunkElements>& self,
                         std::size_t i) {
    return Future<R>(std::shared_ptr<FutureState<R>>(self, &self->states_[i]));
  }

 private:
  class Element final : public FutureState<R> {
    void OnCancelled() override { owner_->ElementCancelled(); }
    ChunkElements* owner_ = nullptr;
    friend class ChunkElements;
  };

  void ElementCancelled() {
    if (cancelled_.fetch_add(1) + 1 != size_) return;
    if (std::shared_ptr<FutureStateBase> chunk = chunk_.lock()) {
      chunk->Cancel();
    }
  }

  const std::size_t size_;
  const std::unique_ptr<Element[]> states_;
  std::weak_ptr<FutureStateBase> chunk_;
  std::atomic<std::size_t> cancelled_{0};
};

template <class R, class F, class... Args>
class ChunkCallState final : public FutureState<void>, public WorkItem {
  struct Token {};  // only Create constructs: the elements need a weak_ptr

 public:
  static std::shared_ptr<ChunkCallState> Create(
      F fn, std::vector<std::tuple<Args...>> items) {
    auto chunk = std::make_shared<ChunkCallState>(Token{}, std::move(fn),
                                                  std::move(items));
    chunk->elements_->CancelWithAll(chunk->weak_from_this());
    return chunk;
  }

  ChunkCallState(Token, F fn, std::vector<std::tuple<Args...>> items)
      : fn_(std::move(fn)),
        items_(std::move(items)),
        elements_(std::make_shared<ChunkElements<R>>(items_.size())) {
    AddDoneCallback([](FutureStateBase& self) {
      static_cast<ChunkCallState&>(self).PassOnFailure();
    });
  }

  // The futures of the elements, in input order.
  std::vector<Future<R>> elements() const {
    std::vector<Future<R>> futures;
    futures.reserve(elements_->size());
    for (std::size_t i = 0; i < elements_->size(); ++i) {
      futures.push_back(ChunkElements<R>::Share(elements_, i));
    }
    return futures;
  }

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
          element(i).SetResult(std::apply(fn_, std::move(items_[i])));
        });
      } catch (...) {
        Settle(i,
               [&] { element(i).SetException(std::current_exception()); });
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
      if (n != elements_->size()) {
        throw RemoteCallError(
            "a chunk's answer has the wrong number of results");
      }
      for (std::size_t i = 0; i < elements_->size(); ++i) {
        bool ok = false;
        archive(ok);
        if (ok) {
          R value;
          archive(value);
          Settle(i, [&] { element(i).SetResult(std::move(value)); });
        } else {
          RemoteException failure;
          archive(failure);
          Settle(i, [&] {
            element(i).SetException(RebuildException(failure));
          });
        }
      }
    }
    this->SetResult();
  }

 private:
  using Remote = RemoteCallTraits<R, F, Args...>;

  FutureState<R>& element(std::size_t i) { return (*elements_)[i]; }

  // Sets element `i`, unless it was cancelled meanwhile (map's result was
  // dropped): its outcome then has no one to go to.
  template <class Set>
  void Settle(std::size_t i, Set set) {
    if (element(i).done()) return;
    try {
      set();
    } catch (const InvalidStateError&) {
    }
  }

  // The chunk failed or was cancelled as a whole: so do its pending elements.
  void PassOnFailure() {
    if (status() == FutureStatus::kFinished && !raised()) return;
    const std::exception_ptr error =
        raised() ? WaitForException(Deadline::Never()) : nullptr;
    for (std::size_t i = 0; i < elements_->size(); ++i) {
      FutureState<R>& e = element(i);
      if (e.done()) continue;
      if (error) {
        Settle(i, [&] { e.SetException(error); });
      } else if (e.Cancel()) {
        e.SetRunningOrNotifyCancel();  // so wait() sees it done
      }
    }
  }

  F fn_;
  std::vector<std::tuple<Args...>> items_;
  // Shared with the elements' futures, which outlive the chunk; they know
  // the chunk only weakly, so it does not keep itself alive.
  const std::shared_ptr<ChunkElements<R>> elements_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_CHUNK_CALL_H_
