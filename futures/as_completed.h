// cf::as_completed: iterate over futures as they complete, as Python's
// concurrent.futures.as_completed.
//
// Futures already done when iteration starts come first (in input order),
// then the others in completion order; each distinct future once. The timeout
// counts from the start of iteration (Python: the first next()); when it
// passes with futures still pending, advancing the iterator throws
// cf::TimeoutError("N (of M) futures unfinished"). The range keeps no
// reference to a future once it has handed it out.
//
//   for (cf::Future<int> f : cf::as_completed(futures, absl::Seconds(60))) {
//     try {
//       use(f.result());
//     } catch (const std::exception& e) { ... }
//   }
#ifndef CF_FUTURES_AS_COMPLETED_H_
#define CF_FUTURES_AS_COMPLETED_H_

#include <cstddef>
#include <deque>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "futures/future.h"
#include "futures/internal/blocking_hook.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"

namespace cf {
namespace internal {

// The type-independent part: registration, completion queue, deadline.
class AsCompletedCore final : public Waiter {
 public:
  AsCompletedCore(std::vector<std::shared_ptr<FutureStateBase>> futures,
                  absl::Duration timeout);
  ~AsCompletedCore();
  AsCompletedCore(const AsCompletedCore&) = delete;
  AsCompletedCore& operator=(const AsCompletedCore&) = delete;

  // The next completed future, or null when all were handed out. Starts the
  // clock on the first call. Throws TimeoutError.
  std::shared_ptr<FutureStateBase> Next();

  void OnStatus(FutureStateBase& future, FutureStatus status) override;

 private:
  const absl::Duration timeout_;
  std::size_t total_ = 0;
  bool started_ = false;
  Deadline deadline_ = Deadline::Never();
  // Futures still to complete, by identity; they carry our registration.
  absl::flat_hash_map<FutureStateBase*, std::shared_ptr<FutureStateBase>>
      pending_;
  // Completed and not yet handed out, in order.
  std::deque<std::shared_ptr<FutureStateBase>> ready_;
  std::mutex mu_;  // guards the members below
  std::condition_variable cv_;
  std::vector<FutureStateBase*> completed_;  // filled by OnStatus
  BlockingHook* blocked_hook_ = nullptr;     // the consumer's, while it blocks
};

}  // namespace internal

template <class T>
class AsCompleted {
 public:
  class iterator {
   public:
    using value_type = Future<T>;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;
    using reference = Future<T>;
    using pointer = void;

    iterator() = default;
    // Hands out the current future; the range then keeps only a weak
    // reference to it.
    Future<T> operator*() const { return owner_->Current(); }
    iterator& operator++() {
      owner_->Advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) {
      return a.AtEnd() == b.AtEnd();
    }

   private:
    friend class AsCompleted;
    explicit iterator(AsCompleted* owner) : owner_(owner) {}
    bool AtEnd() const { return owner_ == nullptr || owner_->at_end_; }
    AsCompleted* owner_ = nullptr;
  };

  AsCompleted(std::vector<std::shared_ptr<internal::FutureStateBase>> futures,
              absl::Duration timeout)
      : core_(std::make_unique<internal::AsCompletedCore>(std::move(futures),
                                                          timeout)) {}

  // Starts iteration: may block, and throw cf::TimeoutError.
  iterator begin() {
    if (!started_) {
      started_ = true;
      Advance();
    }
    return iterator(this);
  }
  iterator end() { return iterator(); }

 private:
  Future<T> Current() {
    std::shared_ptr<internal::FutureState<T>> state =
        current_ ? std::move(current_) : handed_out_.lock();
    handed_out_ = state;
    return Future<T>(std::move(state));
  }
  void Advance() {
    current_.reset();
    handed_out_.reset();
    at_end_ = true;  // stays so if Next() throws: like Python's generator
    std::shared_ptr<internal::FutureStateBase> next = core_->Next();
    at_end_ = next == nullptr;
    current_ = std::static_pointer_cast<internal::FutureState<T>>(std::move(next));
  }

  std::unique_ptr<internal::AsCompletedCore> core_;
  bool started_ = false;
  bool at_end_ = false;
  std::shared_ptr<internal::FutureState<T>> current_;
  std::weak_ptr<internal::FutureState<T>> handed_out_;
};

// Iterates over `futures` (any range of cf::Future<T>) as they complete.
template <class Range>
auto as_completed(const Range& futures,
                  absl::Duration timeout = absl::InfiniteDuration()) {
  using F = std::decay_t<decltype(*std::begin(futures))>;
  using T = typename F::value_type;
  std::vector<std::shared_ptr<internal::FutureStateBase>> states;
  for (const Future<T>& f : futures) states.push_back(f.state());
  return AsCompleted<T>(std::move(states), timeout);
}

template <class T>
AsCompleted<T> as_completed(std::initializer_list<Future<T>> futures,
                            absl::Duration timeout = absl::InfiniteDuration()) {
  return cf::as_completed(std::vector<Future<T>>(futures), timeout);
}

}  // namespace cf

#endif  // CF_FUTURES_AS_COMPLETED_H_
