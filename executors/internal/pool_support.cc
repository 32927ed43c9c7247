#include "executors/internal/pool_support.h"

#include <sched.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "futures/errors.h"

namespace cf::internal {

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

int CheckedMaxWorkers(std::optional<int> max_workers, int default_workers) {
  if (!max_workers.has_value()) return default_workers;
  if (*max_workers <= 0) {
    throw std::invalid_argument("max_workers must be greater than 0");
  }
  return *max_workers;
}

void CancelQueued(WorkItem& call) {
  FutureStateBase& f = call.future();
  if (f.Cancel() && f.status() == FutureStatus::kCancelled) {
    f.SetRunningOrNotifyCancel();
  }
  call.Drop();
}

void FailCall(WorkItem& call, std::exception_ptr error) {
  call.Drop();
  try {
    call.future().SetException(std::move(error));
  } catch (const InvalidStateError&) {
    CancelQueued(call);  // it had been cancelled
  }
}

}  // namespace cf::internal
