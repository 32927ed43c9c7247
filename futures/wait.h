// cf::wait: block until some or all of a group of futures are done, as
// Python's concurrent.futures.wait.
//
// It never throws on timeout: it returns what is done by then. "Done" means
// finished or cancelled-and-notified: a future whose cancel() the executor has
// not yet acknowledged counts as not done (Python's rule). Duplicates count
// once.
//
//   auto [done, not_done] = cf::wait(futures, absl::Seconds(5),
//                                    cf::ReturnWhen::kFirstCompleted);
//   for (const cf::Future<int>& f : done) use(f.result());
#ifndef CF_FUTURES_WAIT_H_
#define CF_FUTURES_WAIT_H_

#include <initializer_list>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "futures/future.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"

namespace cf {

// Python's FIRST_COMPLETED, FIRST_EXCEPTION and ALL_COMPLETED.
enum class ReturnWhen {
  kFirstCompleted,
  kFirstException,  // like kAllCompleted when no future raises
  kAllCompleted,
};

template <class T>
using FutureSet = absl::flat_hash_set<Future<T>>;

// Python's DoneAndNotDoneFutures(done, not_done).
template <class T>
struct DoneAndNotDoneFutures {
  FutureSet<T> done;
  FutureSet<T> not_done;
};

namespace internal {
// Waits on distinct futures; returns which are done (terminal) at the end.
// Throws std::invalid_argument for an unknown `return_when`.
std::vector<bool> WaitForFutures(const std::vector<FutureStateBase*>& futures,
                                 const Deadline& deadline,
                                 ReturnWhen return_when);
}  // namespace internal

// Waits for the futures in `futures` (any range of cf::Future<T>).
template <class Range>
auto wait(const Range& futures, absl::Duration timeout = absl::InfiniteDuration(),
          ReturnWhen return_when = ReturnWhen::kAllCompleted) {
  using F = std::decay_t<decltype(*std::begin(futures))>;
  using T = typename F::value_type;
  internal::Deadline deadline = internal::Deadline::After(timeout);
  std::vector<Future<T>> unique;
  FutureSet<T> seen;
  for (const Future<T>& f : futures) {
    if (seen.insert(f).second) unique.push_back(f);
  }
  std::vector<internal::FutureStateBase*> states;
  states.reserve(unique.size());
  for (const Future<T>& f : unique) states.push_back(f.state().get());
  std::vector<bool> done = internal::WaitForFutures(states, deadline, return_when);
  DoneAndNotDoneFutures<T> result;
  for (std::size_t i = 0; i < unique.size(); ++i) {
    (done[i] ? result.done : result.not_done).insert(std::move(unique[i]));
  }
  return result;
}

template <class Range>
auto wait(const Range& futures, ReturnWhen return_when) {
  return cf::wait(futures, absl::InfiniteDuration(), return_when);
}

template <class T>
DoneAndNotDoneFutures<T> wait(
    std::initializer_list<Future<T>> futures,
    absl::Duration timeout = absl::InfiniteDuration(),
    ReturnWhen return_when = ReturnWhen::kAllCompleted) {
  return cf::wait(std::vector<Future<T>>(futures), timeout, return_when);
}

template <class T>
DoneAndNotDoneFutures<T> wait(std::initializer_list<Future<T>> futures,
                              ReturnWhen return_when) {
  return cf::wait(std::vector<Future<T>>(futures), absl::InfiniteDuration(),
                  return_when);
}

}  // namespace cf

#endif  // CF_FUTURES_WAIT_H_
