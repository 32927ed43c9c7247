// cf::MapResult<R>: the lazily iterated results of Executor::map, in input
// order.
//
// Iterating waits for each result in turn and hands it over: the range keeps
// no copy of a result it has yielded. A call's exception is rethrown
// when its position is dereferenced, and iteration may go on past it (CPython
// main's behaviour, gh-108518). When map's deadline passes, dereferencing
// throws cf::TimeoutError and iteration ends: the awaited and the remaining
// calls are cancelled. Destroying the range once iteration has started
// cancels every call not yet yielded.
//
//   auto results = pool.map(square, inputs, {.timeout = absl::Seconds(5)});
//   for (int r : results) ...               // range-for, or
//   auto it = results.begin();              // step by step, Python's next():
//   try { use(*it); } catch (...) {}        //   an exception at one position
//   ++it;                                   //   does not end the iteration
#ifndef CF_EXECUTORS_MAP_RESULT_H_
#define CF_EXECUTORS_MAP_RESULT_H_

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "executors/internal/map_elements.h"
#include "executors/internal/result_iterator.h"
#include "futures/errors.h"
#include "futures/future.h"
#include "futures/internal/deadline.h"

namespace cf {

// Options of Executor::map, for designated initializers:
//   pool.map(fn, inputs, {.timeout = absl::Seconds(1), .buffersize = 8})
struct MapOptions {
  // Deadline for the whole iteration, counted from the call to map().
  absl::Duration timeout = absl::InfiniteDuration();
  // Inputs sent to a worker process at once; only process pools use it, as
  // in Python.
  int chunksize = 1;
  // Unset (Python's None): every input is submitted at the call. Set: only
  // that many calls are submitted ahead of the consumer, so infinite input
  // ranges work (Python 3.14). Must be > 0.
  std::optional<int> buffersize = {};
};

template <class R>
class MapResult {
  static_assert(!std::is_void_v<R>,
                "Executor::map needs a function that returns a value; use "
                "submit() for functions returning void");

 public:
  using Entry = internal::MapEntry<R>;
  // Submits the next task (a call, or a chunk of calls) and returns what
  // yields its results; nothing when the inputs are exhausted (or the
  // executor is gone).
  using Submitter = absl::AnyInvocable<std::optional<Entry>()>;

  using iterator = internal::ResultIterator<MapResult, R>;

  // For executors: `submitted` are the calls made at the call to map();
  // `more` (may be null) submits further ones as iteration proceeds.
  MapResult(std::deque<Entry> submitted, Submitter more,
            internal::Deadline deadline)
      : entries_(std::move(submitted)),
        more_(std::move(more)),
        deadline_(deadline) {}
  MapResult(MapResult&& other) noexcept
      : entries_(std::exchange(other.entries_, {})),
        more_(std::move(other.more_)),
        deadline_(other.deadline_),
        position_(other.position_),
        started_(other.started_),
        error_(std::move(other.error_)) {}
  MapResult& operator=(MapResult&&) = delete;
  // Cancels the calls not yet yielded once iteration has started. A result
  // never iterated cancels nothing: Python's generator body (and its
  // `finally`) never ran, so `pool.map(f, xs);` runs every call.
  ~MapResult() {
    if (started_) CancelRemaining();
  }

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  friend iterator;
  bool AtEnd() const {
    return position_ == Position::kUnread && entries_.empty();
  }

  // The position being read: a call's future, or an element of a run.
  struct Element {
    std::optional<Future<R>> call;
    // The run's entry keeps it alive until its last element, which takes
    // the entry's ownership (`keep`): no reference count per element.
    internal::MapElements<R>* run = nullptr;
    std::shared_ptr<internal::MapElements<R>> keep;
    std::size_t index = 0;

    bool Await(const internal::Deadline& deadline) {
      return run ? run->Await(index, deadline)
                 : call->state()->Wait(deadline);
    }
    R Take() { return run ? run->Take(index) : std::move(call->result()); }
    void Cancel() {
      if (run) {
        run->Cancel(index);
      } else {
        call->cancel();
      }
    }
  };

  // Takes the next position off the queue, topping the buffer up first (the
  // order Python's generator does it in) when the position starts a task: a
  // chunk's positions are one task, as Python's chained chunk results are.
  Element Pop() {
    started_ = true;
    if (more_ && (entries_.empty() || entries_.front().next == 0)) {
      std::optional<Entry> more;
      try {
        more = more_();
      } catch (...) {
        // Submitting failed (say, after shutdown): like Python's generator,
        // the iteration ends here and cancels what it holds.
        CancelRemaining();
        position_ = Position::kRaised;
        error_ = std::current_exception();
        throw;
      }
      if (more.has_value()) {
        entries_.push_back(std::move(*more));
      } else {
        more_ = nullptr;
      }
    }
    Entry& front = entries_.front();
    Element e;
    const bool last = front.next + 1 == front.end;
    if (front.run) {
      e.run = front.run.get();
      e.index = front.next;
      if (last) e.keep = std::move(front.run);
    } else {
      e.call = std::move(front.call);
    }
    ++front.next;
    if (last) entries_.pop_front();
    return e;
  }

  R Current() {
    switch (position_) {
      case Position::kTaken:
        throw std::logic_error(
            "cf::MapResult: this position's result was already taken (each "
            "is yielded once, as by Python's next()); advance the iterator");
      case Position::kRaised:
        std::rethrow_exception(error_);
      case Position::kUnread:
        break;
    }
    Element e = Pop();
    position_ = Position::kRaised;
    if (!e.Await(deadline_)) {
      // Map's own deadline ends the iteration; Python cancels all the rest.
      e.Cancel();
      CancelRemaining();
      error_ = std::make_exception_ptr(TimeoutError());
      std::rethrow_exception(error_);
    }
    try {
      R value = e.Take();
      position_ = Position::kTaken;
      return value;
    } catch (...) {
      error_ = std::current_exception();
      throw;
    }
  }

  void Advance() {
    if (position_ == Position::kUnread && !entries_.empty()) {
      Pop();  // skipped: neither waited for nor cancelled
    }
    position_ = Position::kUnread;
    error_ = nullptr;
  }

  // Last submitted first, as Python's generator does (its list is reversed):
  // a dispatcher running meanwhile skips the cancelled calls and takes the
  // first live one, which must be the next in line, never one behind a
  // call this loop has yet to reach.
  void CancelRemaining() {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
      if (!it->run) {
        it->call->cancel();
        continue;
      }
      for (std::size_t i = it->end; i-- > it->next;) it->run->Cancel(i);
    }
    entries_.clear();
    more_ = nullptr;
  }

  std::deque<Entry> entries_;  // submitted, not yet yielded, in order
  Submitter more_;
  internal::Deadline deadline_;
  enum class Position { kUnread, kTaken, kRaised };
  Position position_ = Position::kUnread;  // of the current position
  bool started_ = false;                   // a position was read or skipped
  std::exception_ptr error_;               // when kRaised
};

}  // namespace cf

#endif  // CF_EXECUTORS_MAP_RESULT_H_
