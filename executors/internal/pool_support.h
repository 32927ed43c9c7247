// What every pool implementation needs the same way: Python's defaults and
// checks for max_workers, and how a call is cancelled or failed by the pool.
#ifndef CF_EXECUTORS_INTERNAL_POOL_SUPPORT_H_
#define CF_EXECUTORS_INTERNAL_POOL_SUPPORT_H_

#include <exception>
#include <optional>

#include "executors/internal/work_item.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

// CPUs this process may run on (Python's os.process_cpu_count()).
int UsableCpus();

// `max_workers`, or `default_workers` when unset (Python's None); throws
// std::invalid_argument("max_workers must be greater than 0") when <= 0.
int CheckedMaxWorkers(std::optional<int> max_workers, int default_workers);

// Cancels a queued call and acknowledges the cancellation, so that wait()
// and as_completed() see it done (Python's shutdown(cancel_futures=True)
// leaves it unacknowledged), and drops its function and arguments.
void CancelQueued(WorkItem& call);

// Fails a call with `error` (and drops its function and arguments); one
// cancelled meanwhile stays cancelled.
void FailCall(WorkItem& call, std::exception_ptr error);

// Calls sent together as one task whose future `whole` is done: when it
// failed or was cancelled as a whole (its worker died), every member without
// an outcome fails the same way or is cancelled. Members are pointers to
// WorkItems.
template <class Members>
void PassOnGroupFailure(FutureStateBase& whole, Members& members) {
  if (whole.status() == FutureStatus::kFinished && !whole.raised()) return;
  const std::exception_ptr error =
      whole.raised() ? whole.WaitForException(Deadline::Never()) : nullptr;
  for (auto& member : members) {
    if (member->future().done()) continue;
    if (error) {
      FailCall(*member, error);
    } else {
      CancelQueued(*member);
    }
  }
}

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_POOL_SUPPORT_H_
