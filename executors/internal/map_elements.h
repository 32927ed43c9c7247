// A run of map() elements that map's result reads by position, with no
// Future per element: a process pool's chunk (chunk_call.h), a thread pool's
// batch (map_batch.h).
//
// The one thing to know: each element is still a call of its own, as
// Python's map makes them (its own value or exception at its position,
// cancellable alone), but a run answers for all of its elements, so a map
// of 100,000 calls holds a hundred runs, not 100,000 futures.
//
//   std::shared_ptr<MapElements<int>> run = chunk;     // size() elements
//   if (run->Await(0, deadline)) use(run->Take(0));    // or throws
//   run->Cancel(1);                                    // as Future::cancel
#ifndef CF_EXECUTORS_INTERNAL_MAP_ELEMENTS_H_
#define CF_EXECUTORS_INTERNAL_MAP_ELEMENTS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "futures/future.h"
#include "futures/internal/deadline.h"

namespace cf::internal {

template <class R>
class MapElements {
 public:
  virtual ~MapElements() = default;

  virtual std::size_t size() const = 0;
  // Waits until element `i` is settled or the deadline passes; returns
  // whether it is.
  virtual bool Await(std::size_t i, const Deadline& deadline) = 0;
  // Element `i`'s value, handed over (once), after Await returned true;
  // throws its exception, or CancelledError.
  virtual R Take(std::size_t i) = 0;
  // Python's Future.cancel(): only an element not started yet is cancelled.
  virtual void Cancel(std::size_t i) = 0;
};

// What map's result holds for the positions it has not yielded: one call's
// future, or elements [next, end) of a run.
template <class R>
struct MapEntry {
  std::optional<Future<R>> call;  // (a default Future would be a new one)
  std::shared_ptr<MapElements<R>> run;
  std::size_t next = 0;
  std::size_t end = 0;

  static MapEntry Call(Future<R> f) {
    return MapEntry{std::move(f), nullptr, 0, 1};
  }
  static MapEntry Run(std::shared_ptr<MapElements<R>> run) {
    const std::size_t n = run->size();
    return MapEntry{std::nullopt, std::move(run), 0, n};
  }
};

// The outcome of one map element, settled by whoever gets there first: the
// chunk's answer or the thread that runs it, or the reader cancelling it.
// 24 bytes for an int, against the 112 of a FutureState, so a first map
// faults in a fifth of the pages.
template <class R>
class ElementSlot {
 public:
  bool settled() const {
    const std::uint8_t s = state_.load(std::memory_order_acquire);
    return s == kFinished || s == kCancelled;
  }
  bool finished() const {
    return state_.load(std::memory_order_acquire) == kFinished;
  }
  bool cancelled() const {
    return state_.load(std::memory_order_acquire) == kCancelled;
  }

  // PENDING -> CANCELLED; false once started or settled.
  bool TryCancel() {
    std::uint8_t expected = kPending;
    return state_.compare_exchange_strong(expected, kCancelled,
                                          std::memory_order_acq_rel);
  }
  // PENDING -> STARTED (a thread pool's element is running; it can no
  // longer be cancelled); false when it was cancelled.
  bool TryStart() {
    std::uint8_t expected = kPending;
    return state_.compare_exchange_strong(expected, kStarted,
                                          std::memory_order_acquire);
  }
  // STARTED -> FINISHED, by the thread that started it.
  void Finish(std::optional<R> value, std::exception_ptr error) {
    value_ = std::move(value);
    error_ = std::move(error);
    state_.store(kFinished, std::memory_order_release);
  }
  // After finished(): the value, or rethrows the exception.
  R Take() {
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }

 private:
  enum : std::uint8_t { kPending, kStarted, kFinished, kCancelled };
  std::atomic<std::uint8_t> state_{kPending};
  std::optional<R> value_;
  std::exception_ptr error_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_MAP_ELEMENTS_H_
