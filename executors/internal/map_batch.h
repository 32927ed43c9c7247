// A thread pool's map() as one queued item: the calls of the map, which the
// pool's threads take one at a time, each claiming the next element, until
// none is left.
//
// The one thing to know: every element is still a call of its own, as
// Python's map makes them: its own outcome (pending until a thread starts
// it, then running, then its value or exception), cancellable alone (map's
// result cancels what it has not yielded) and with the pool
// (shutdown(cancel_futures=True) cancels the elements not yet started; a
// broken pool fails them). What is saved is the queue traffic, the memory
// and the wake-ups per element: one item in the queue for the whole map,
// a 24-byte slot per element rather than a future (map_elements.h), and
// the reader of the results is woken once the awaited element is done, or,
// when elements take microseconds, every kPoll (250 µs) while they stream in.
//
//   auto batch = MapBatch<R, F, Args...>::Create(fn, std::move(items));
//   // items: std::vector<std::optional<std::tuple<Args...>>>, all engaged
//   std::shared_ptr<MapElements<R>> elements = batch->elements();
//   executor.Submit(batch);                  // once; up to Width() threads
//   if (elements->Await(0, deadline)) use(elements->Take(0));
#ifndef CF_EXECUTORS_INTERNAL_MAP_BATCH_H_
#define CF_EXECUTORS_INTERNAL_MAP_BATCH_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "executors/internal/map_elements.h"
#include "executors/internal/work_item.h"
#include "futures/errors.h"
#include "futures/future.h"
#include "futures/internal/blocking_hook.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

// How the reader of a batch's results waits for one of them. Elements of a
// few microseconds finish faster than a thread can be woken, so waking the
// reader for each would cost more than the elements: it looks again after
// kPoll. Once it has waited kPatience for an element (a slow one), the
// thread that settles it wakes the reader, which sleeps until then; and
// when the whole batch is settled. After a slow element the reader expects
// the next one to be slow as well and sleeps at once (one wake-up per
// element of the seed's map, not two), until an element comes quickly.
class BatchProgress {
 public:
  static constexpr std::chrono::microseconds kPatience{200};
  static constexpr std::chrono::microseconds kPoll{250};

  explicit BatchProgress(std::size_t size) : unsettled_(size) {}

  // Waits until `done()` (element `element` is settled) or the deadline
  // passes; returns done(). A worker of the pool waiting without a deadline
  // waits through its BlockingHook, which runs elements of `batch` (the
  // batch's own future) meanwhile rather than wait for a thread that may
  // never come.
  bool Await(const void* element, absl::FunctionRef<bool()> done,
             const FutureStateBase* batch, const Deadline& deadline);
  // Called once per element, after its outcome is set (or it is cancelled):
  // wakes a reader that waited long for it.
  void Settled(const void* element);
  // Counts `n` elements settled (a thread counts a whole claim at once: the
  // counter is shared by every thread of the pool), after their Settled;
  // wakes the workers waiting for one.
  void Count(std::size_t n);

 private:
  bool AwaitThroughHook(BlockingHook* hook, absl::FunctionRef<bool()> done,
                        const FutureStateBase* batch);

  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<std::size_t> unsettled_;
  bool finished_ = false;      // guarded by mu_
  bool expect_slow_ = false;   // guarded by mu_: the last wait was long
  std::atomic<const void*> awaited_{nullptr};
  std::atomic<std::chrono::steady_clock::rep> awaited_since_{0};
  // Workers waiting through their hooks (guarded by mu_; hooked_ counts
  // them for Count, which looks without the lock).
  std::vector<BlockingHook*> hooks_;
  std::atomic<int> hooked_{0};
};

template <class R, class F, class... Args>
class MapBatch final : public FutureState<void>, public WorkItem {
  struct Token {};

 public:
  using Item = std::optional<std::tuple<Args...>>;

  // `items`: one engaged optional per call (each is reset once its call ran).
  // `progress`: shared by the batches of one map (MapSubmitter queues a long
  // map as a few batches of growing size, so that the threads start on the
  // first while the next are built); null for a batch of its own.
  static std::shared_ptr<MapBatch> Create(
      F fn, std::vector<Item> items,
      std::shared_ptr<BatchProgress> progress = nullptr) {
    if (progress == nullptr) {
      progress = std::make_shared<BatchProgress>(items.size());
    }
    auto batch = std::make_shared<MapBatch>(
        Token{}, std::move(fn), std::move(items), std::move(progress));
    // The batch's own future is only ever cancelled or failed, by the pool
    // (shutdown with cancel_futures, a broken pool): so are then the
    // elements not claimed yet.
    batch->AddDoneCallback([](FutureStateBase& self) {
      static_cast<MapBatch&>(self).PassOn();
    });
    return batch;
  }

  MapBatch(Token, F fn, std::vector<Item> items,
           std::shared_ptr<BatchProgress> progress)
      : fn_(std::move(fn)),
        items_(std::move(items)),
        size_(items_.size()),
        slots_(new ElementSlot<R>[size_]),
        progress_(std::move(progress)) {}

  // The elements, for map's result: their outcomes lie in one array of
  // slots (one allocation for the whole batch, 24 bytes an element for an
  // int). Map's result holds them, not the batch, so the function and
  // arguments go once the threads are done with the batch.
  std::shared_ptr<MapElements<R>> elements() const {
    return std::make_shared<Elements>(slots_, size_, progress_, this);
  }
  const std::shared_ptr<BatchProgress>& progress() const { return progress_; }

  // `computed` runs once, when this thread finds nothing left to claim:
  // before it publishes its last result, so that a reader woken by that
  // result finds the thread already counted idle.
  void Run(absl::FunctionRef<void()> computed) override {
    bool counted = false;
    auto out_of_work = [&] {
      if (!std::exchange(counted, true)) computed();
    };
    while (RunSome(Share(), out_of_work)) {
    }
    out_of_work();
  }
  void RunUntil(absl::FunctionRef<bool()> done) override {
    while (!done() && RunSome(1, [] {})) {
    }
  }

  bool Shared() const override { return true; }
  bool Exhausted() const override {
    return next_.load(std::memory_order_relaxed) >= size_;
  }
  std::size_t Width() const override { return size_; }
  // A worker waiting for one of the elements awaits the batch itself
  // (BatchProgress::Await): it runs unclaimed elements until its own is
  // settled.
  bool Holds(
      absl::FunctionRef<bool(const FutureStateBase&)> awaited) override {
    return !Exhausted() && awaited(*this);
  }

  FutureStateBase& future() override { return *this; }
  void Drop() override {}  // each element's arguments go when it is settled

  void EncodeRemote(std::string*) override {
    throw std::logic_error("cf: a thread pool's map batch stays in its process");
  }
  void SetRemoteResult(std::string_view) override {
    throw std::logic_error("cf: a thread pool's map batch stays in its process");
  }

 private:
  // How many elements a thread claims at once: one while few are left, so
  // the threads finish together; up to kMaxShare of a long map, so that
  // they do not contend for the claim counter on every element. A claimed
  // element is still PENDING until it starts, and cancellable (PassOn).
  static constexpr std::size_t kMaxShare = 16;
  std::size_t Share() const {
    const std::size_t next = next_.load(std::memory_order_relaxed);
    const std::size_t left = next < size_ ? size_ - next : 0;
    return std::clamp<std::size_t>(left / 64, 1, kMaxShare);
  }

  // Claims up to `share` elements and runs them; false when none was left.
  bool RunSome(std::size_t share, absl::FunctionRef<void()> before_last_result) {
    const std::size_t first = next_.fetch_add(share, std::memory_order_relaxed);
    if (first >= size_) return false;
    const std::size_t end = std::min(first + share, size_);
    for (std::size_t i = first; i < end; ++i) {
      RunElement(i, /*last_claimed=*/i + 1 == end, before_last_result);
    }
    progress_->Count(end - first);
    return true;
  }

  // Only after the last element of a claim does the thread look at the
  // shared claim counter (the other threads write it).
  void RunElement(std::size_t i, bool last_claimed,
                  absl::FunctionRef<void()> before_last_result) {
    ElementSlot<R>& element = slots_[i];
    if (element.TryStart()) {
      std::exception_ptr error;
      std::optional<R> value;
      try {
        // Each call gets its own copy of the function, as submit() gives
        // it: a stateful (mutable) function object is never shared by two
        // threads, and each call sees it as the map found it.
        F fn = fn_;
        value.emplace(std::apply(std::move(fn), std::move(*items_[i])));
      } catch (...) {
        error = std::current_exception();
      }
      items_[i].reset();  // before the result is seen (no stale references)
      if (last_claimed && Exhausted()) before_last_result();
      element.Finish(std::move(value), std::move(error));
    } else {
      items_[i].reset();
    }
    progress_->Settled(&element);
  }

  // The batch was cancelled or failed: so is every element not yet claimed.
  void PassOn() {
    const std::exception_ptr error =
        raised() ? WaitForException(Deadline::Never()) : nullptr;
    const std::size_t claimed = std::min(next_.exchange(size_), size_);
    // Claimed but not started (cancelling only: a thread that claimed
    // them is alive and skips them). A broken pool's threads run theirs.
    if (!error) {
      for (std::size_t i = 0; i < claimed; ++i) slots_[i].TryCancel();
    }
    for (std::size_t i = claimed; i < size_; ++i) {
      items_[i].reset();
      ElementSlot<R>& element = slots_[i];
      if (error) {
        if (element.TryStart()) element.Finish(std::nullopt, error);
      } else {
        element.TryCancel();  // unless cancelled alone meanwhile
      }
      progress_->Settled(&element);
    }
    if (claimed < size_) progress_->Count(size_ - claimed);
  }

  class Elements final : public MapElements<R> {
   public:
    // `batch` is only compared with, never used: the batch may be gone.
    Elements(std::shared_ptr<ElementSlot<R>[]> slots, std::size_t size,
             std::shared_ptr<BatchProgress> progress,
             const FutureStateBase* batch)
        : slots_(std::move(slots)),
          size_(size),
          progress_(std::move(progress)),
          batch_(batch) {}
    std::size_t size() const override { return size_; }
    bool Await(std::size_t i, const Deadline& deadline) override {
      ElementSlot<R>& slot = slots_[i];
      return progress_->Await(
          &slot, [&slot] { return slot.settled(); }, batch_, deadline);
    }
    R Take(std::size_t i) override {
      if (slots_[i].finished()) return slots_[i].Take();
      throw CancelledError();
    }
    void Cancel(std::size_t i) override { slots_[i].TryCancel(); }

   private:
    const std::shared_ptr<ElementSlot<R>[]> slots_;
    const std::size_t size_;
    const std::shared_ptr<BatchProgress> progress_;
    const FutureStateBase* const batch_;
  };

  F fn_;
  std::vector<Item> items_;
  const std::size_t size_;
  const std::shared_ptr<ElementSlot<R>[]> slots_;
  const std::shared_ptr<BatchProgress> progress_;
  // Written by every claim: on a line apart from the fields every element
  // reads (fn_, items_, slots_, progress_), which would otherwise be pulled
  // from under the other threads at each claim.
  alignas(64) std::atomic<std::size_t> next_{0};  // the next element to claim
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_MAP_BATCH_H_
