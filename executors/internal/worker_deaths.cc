#include "executors/internal/worker_deaths.h"

#include <cstddef>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "executors/internal/pool_support.h"
#include "executors/transport/child_exit.h"
#include "futures/errors.h"

namespace cf::internal {
namespace {

constexpr char kBrokenFutureMessage[] =
    "A process in the process pool was terminated abruptly while the future "
    "was running or pending.";
constexpr char kBrokenPoolMessage[] =
    "A child process terminated abruptly, the process pool is not usable "
    "anymore";

template <class E>
std::exception_ptr MakeError(std::string message) {
  return std::make_exception_ptr(E(std::move(message)));
}

}  // namespace

void WorkerDeaths::OnExit(WorkerChannel* w) {
  const int status = registry_.Remove(w);
  std::string cause =
      absl::StrCat("worker ", w->pid(), " ", DescribeStatus(status));
  if (!w->mismatch.empty()) {
    cause = w->mismatch;
  } else if (!w->init_error.empty()) {
    cause = absl::StrCat("the initializer of worker ", w->pid(),
                         " failed: ", w->init_error);
  } else if (!w->corrupt().empty()) {
    cause = absl::StrCat("worker ", w->pid(), " ", w->corrupt());
  }
  const bool expected = w->stopping && w->in_flight().empty();
  std::deque<RemoteTask> in_flight = std::move(w->in_flight());
  if (expected) return;
  // A worker that cannot start its calls (its initializer failed, it is
  // another build) would fail every replacement the same way.
  if (policy_ == WorkerDeath::kReplace && !Terminating() &&
      w->init_error.empty() && w->mismatch.empty()) {
    FailHeadAndRequeue(
        std::move(in_flight),
        MakeError<BrokenProcessPool>(absl::StrCat(
            "The worker process running this task terminated abruptly: ",
            cause)));
  } else {
    Break(std::move(in_flight), cause);
  }
}

void WorkerDeaths::CheckDeadlines() {
  const auto& workers = registry_.workers();
  for (std::size_t i = 0; i < workers.size(); ++i) {
    WorkerChannel* w = workers[i].get();
    if (w->in_flight().empty() || !w->head_deadline().expired()) continue;
    const int status = registry_.Kill(w);
    --i;  // removed
    std::deque<RemoteTask> in_flight = std::move(w->in_flight());
    std::exception_ptr error = MakeError<TimeoutError>(absl::StrCat(
        "the task ran longer than its timeout of ",
        absl::FormatDuration(in_flight.front().timeout), "; worker ", w->pid(),
        " was killed (", DescribeStatus(status), ") and replaced"));
    FailHeadAndRequeue(std::move(in_flight), std::move(error));
  }
}

void WorkerDeaths::Break(std::deque<RemoteTask> in_flight,
                         const std::string& cause) {
  std::deque<RemoteTask> pending;
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    // After shutdown (terminate_workers, kill_workers) submit keeps saying
    // "shut down", as Python's does.
    if (!state_.shutdown) {
      state_.broken = absl::StrCat(kBrokenPoolMessage, " (", cause, ")");
    }
    pending = state_.queue.TakeAll();
    for (const auto& w : registry_.workers()) {
      for (RemoteTask& t : w->in_flight()) in_flight.push_back(std::move(t));
      w->in_flight().clear();
    }
  }
  const std::string message =
      absl::StrCat(kBrokenFutureMessage, " (", cause, ")");
  for (RemoteTask& t : in_flight) {
    FailCall(*t.call, MakeError<BrokenProcessPool>(message));
  }
  for (RemoteTask& t : pending) {
    FailCall(*t.call, MakeError<BrokenProcessPool>(message));
  }
  while (!registry_.workers().empty()) {
    registry_.Kill(registry_.workers().back().get());
  }
}

void WorkerDeaths::FailHeadAndRequeue(std::deque<RemoteTask> in_flight,
                                      std::exception_ptr error) {
  if (!in_flight.empty()) {
    {
      std::lock_guard<std::mutex> lock(state_.mu);
      state_.queue.Answered();
    }
    FailCall(*in_flight.front().call, std::move(error));
    in_flight.pop_front();
  }
  std::lock_guard<std::mutex> lock(state_.mu);
  state_.queue.ReturnToFront(std::move(in_flight));
}

bool WorkerDeaths::Terminating() const {
  std::lock_guard<std::mutex> lock(state_.mu);
  return state_.terminating;
}

}  // namespace cf::internal
