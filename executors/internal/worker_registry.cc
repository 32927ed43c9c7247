#include "executors/internal/worker_registry.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/process_identity.h"
#include "executors/transport/reexec.h"
#include "executors/transport/remote_call.h"

namespace cf::internal {
namespace {

// A task frame may carry this much; large enough for the 256 MiB arguments
// the tests send, small enough that a corrupt length cannot exhaust memory.
constexpr std::uint64_t kMaxPayload = std::uint64_t{1} << 32;

// After a worker could not be started while others run: when to try again,
// unless a worker's end makes room first.
constexpr absl::Duration kSpawnRetryDelay = absl::Seconds(1);

std::shared_ptr<const std::string> MakeFrame(const FrameKey& key,
                                             FrameKind kind,
                                             std::string_view payload) {
  std::string frame;
  AppendFrame(key, kind, 0, payload, &frame);
  return std::make_shared<const std::string>(std::move(frame));
}

}  // namespace

WorkerRegistry::WorkerRegistry(int max_workers,
                               const ProcessPoolOptions& options,
                               const FrameKey& key, std::mutex& mu)
    : max_workers_(max_workers), options_(options), key_(key), mu_(mu) {}

WorkerRegistry::~WorkerRegistry() = default;

void WorkerRegistry::RequestAllLocked() {
  to_spawn_ = max_workers_ - static_cast<int>(pids_.size());
}

void WorkerRegistry::AdjustCountLocked() {
  if (idle_workers_ > 0) {
    --idle_workers_;
    return;
  }
  if (static_cast<int>(pids_.size()) + to_spawn_ < max_workers_ &&
      absl::Now() >= retry_spawn_after_) {
    ++to_spawn_;
  }
}

void WorkerRegistry::RequestReplacementLocked() {
  if (static_cast<int>(pids_.size()) + to_spawn_ >= max_workers_ ||
      to_spawn_ > 0 || absl::Now() < retry_spawn_after_) {
    return;
  }
  for (const auto& w : workers_) {
    if (!w->stopping && w->in_flight().empty()) return;  // one is free
  }
  ++to_spawn_;
}

void WorkerRegistry::SignalAllLocked(int sig) {
  for (pid_t pid : pids_) {
    kill(pid, sig);
    if (sig != SIGKILL) kill(pid, SIGCONT);
  }
}

// One per turn: the calls waiting go to it before the next one is forked, so
// the first answer does not wait for every worker to start.
bool WorkerRegistry::SpawnRequestedLocked(int other_threads) {
  if (to_spawn_ > 0) {
    --to_spawn_;
    try {
      Spawn(other_threads);
    } catch (const std::exception& e) {
      to_spawn_ = 0;
      if (!pids_.empty()) {
        // The running workers go on. What failed (out of descriptors or
        // processes) rarely clears at once: asking again every turn would
        // keep the manager from ever reading their answers.
        retry_spawn_after_ = absl::Now() + kSpawnRetryDelay;
        return true;
      }
      spawn_error_ = e.what();
      return false;
    }
  }
  return true;
}

void WorkerRegistry::SpawnAllBeforeManagerLocked() {
  if (to_spawn_ <= 0) return;
  const int requested = to_spawn_;
  std::vector<LaunchedWorker> started;
  try {
    started = Launcher().ForkAll(to_spawn_, /*other_threads=*/0);
  } catch (const std::exception& e) {
    spawn_error_ = e.what();
    to_spawn_ = 1;  // none started: the manager tries once more, reports
    return;
  }
  to_spawn_ = 0;
  if (static_cast<int>(started.size()) < requested) {
    retry_spawn_after_ = absl::Now() + kSpawnRetryDelay;  // as Spawn's
  }
  for (LaunchedWorker& w : started) Adopt(w);
}

void WorkerRegistry::KillAllBeforeManagerLocked() {
  for (const auto& w : workers_) {
    kill(w->pid(), SIGKILL);
    CloseOwnedFd(w->fd());
    launcher_->Reap(w->pid(), w->TakePidfd());
  }
  workers_.clear();
  pids_.clear();
  to_spawn_ = 0;
}

WorkerLauncher& WorkerRegistry::Launcher() {
  if (launcher_ == nullptr) {
    launcher_ = std::make_unique<WorkerLauncher>(
        *options_.start_method, key_,
        Hello{.fingerprint = ProcessFingerprint(),
              .max_payload = kMaxPayload,
              .initializer = options_.initializer.encoded(),
              .max_tasks = options_.max_tasks_per_child.value_or(0)});
  }
  return *launcher_;
}

void WorkerRegistry::Spawn(int other_threads) {
  Adopt(Launcher().Launch(other_threads));
}

void WorkerRegistry::Adopt(const LaunchedWorker& launched) {
  auto worker = std::make_unique<WorkerChannel>(launched, key_, kMaxPayload);
  pids_.push_back(worker->pid());
  // Its name for cf::current_process(), before its first task.
  const ProcessIdentity identity{
      .name = ChildName(launcher_->method_name(), worker_kind_.c_str(),
                        NextProcessNumber()),
      .parent_pid = getpid()};
  worker->SendFrame(
      MakeFrame(key_, FrameKind::kIdentity, EncodeValue(identity)));
  workers_.push_back(std::move(worker));
}

bool WorkerRegistry::Contains(const WorkerChannel* w) const {
  for (const auto& p : workers_) {
    if (p.get() == w) return true;
  }
  return false;
}

void WorkerRegistry::Stop(WorkerChannel& w) {
  if (w.stopping) return;
  w.stopping = true;
  w.SendFrame(MakeFrame(key_, FrameKind::kShutdown, {}));
}

int WorkerRegistry::Remove(WorkerChannel* w) {
  CloseOwnedFd(w->fd());
  const int status = launcher_->Reap(w->pid(), w->TakePidfd());
  std::lock_guard<std::mutex> lock(mu_);
  pids_.erase(std::find(pids_.begin(), pids_.end(), w->pid()));
  retry_spawn_after_ = absl::InfinitePast();  // its end made room
  for (auto it = workers_.begin(); it != workers_.end(); ++it) {
    if (it->get() == w) {
      graveyard_.push_back(std::move(*it));
      workers_.erase(it);
      break;
    }
  }
  return status;
}

int WorkerRegistry::Kill(WorkerChannel* w) {
  kill(w->pid(), SIGKILL);
  return Remove(w);
}

int WorkerRegistry::report_fd() const {
  return launcher_ != nullptr ? launcher_->report_fd() : -1;
}

void WorkerRegistry::DrainReports() { launcher_->DrainReports(); }

}  // namespace cf::internal
