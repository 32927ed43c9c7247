#include "executors/internal/pool_manager.h"

#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "executors/internal/pool_support.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/reexec.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"
#include "futures/errors.h"
#include "futures/internal/deadline.h"

namespace cf::internal {
namespace {

void Complete(WorkItem& call, const Frame& f) {
  try {
    if (f.kind == FrameKind::kResult) {
      call.SetRemoteResult(f.payload);
    } else {
      call.future().SetException(
          RebuildException(DecodeResult<RemoteException>(f.payload)));
    }
  } catch (const InvalidStateError&) {
    // Set by hand meanwhile; the executor's outcome loses, as in Python.
  } catch (...) {
    FailCall(call, std::current_exception());  // the result did not deserialize
  }
}

std::string DescribeRemote(std::string_view bytes) {
  try {
    RemoteException e = DecodeResult<RemoteException>(bytes);
    return absl::StrCat(e.type_name, ": ", e.message);
  } catch (...) {
    return "an exception that could not be decoded";
  }
}

}  // namespace

PoolManager::PoolManager(PoolState& state, WorkerRegistry& registry,
                         const ProcessPoolOptions& options)
    : state_(state),
      registry_(registry),
      options_(options),
      deaths_(state, registry, options.on_worker_death),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (wake_fd_ < 0) {
    throw std::runtime_error(absl::StrCat(
        "ProcessPoolExecutor: eventfd failed: ", strerror(errno)));
  }
  RegisterOwnedFd(wake_fd_);
}

void PoolManager::StartLocked() {
  if (thread_.joinable()) return;
  try {
    thread_ = std::thread([this] { Main(); });
  } catch (const std::system_error& e) {
    throw BrokenProcessPool(absl::StrCat(
        "ProcessPoolExecutor: could not start its manager thread: ",
        e.what()));
  }
}

void PoolManager::Wake() {
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (wake_fd_ < 0) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void PoolManager::Join() {
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (thread_.joinable()) thread_.join();
  // No manager is left to wait on the eventfd, and none can start (every
  // caller of StartLocked() checks for shutdown first).
  std::lock_guard<std::mutex> lock(wake_mu_);
  CloseOwnedFd(wake_fd_);
  wake_fd_ = -1;
}

void PoolManager::Main() {
  std::vector<pollfd> polls;
  std::uint64_t submits_seen = 0;
  while (true) {
    registry_.EndTurn();
    if (!Dispatch(&submits_seen)) break;
    for (const auto& w : registry_.workers()) w->Flush();
    if (SpawnsLeft()) continue;  // start the next worker before sleeping

    const int timeout_ms = Watch(polls);
    {
      std::lock_guard<std::mutex> lock(state_.mu);
      if (state_.submits != submits_seen) continue;  // dispatch those first
      state_.manager_asleep = true;  // from now on Submit wakes us, or sends
    }
    const int n = poll(polls.data(), polls.size(), timeout_ms);
    {
      std::lock_guard<std::mutex> lock(state_.mu);
      state_.manager_asleep = false;
    }
    if (n < 0 && errno != EINTR) break;
    OnReady(polls);
    deaths_.CheckDeadlines();
  }
  // Here the pool is broken, or shut down with every worker gone.
  registry_.CloseLauncher();
}

bool PoolManager::Dispatch(std::uint64_t* submits_seen) {
  std::deque<RemoteTask> dropped;  // cancelled while pending; freed unlocked
  std::unique_lock<std::mutex> lock(state_.mu);
  if (!state_.broken.empty()) return false;
  // Dispatching may ask for a worker to replace a dead one: the next turn
  // starts it (see SpawnsLeft).
  if (!registry_.SpawnRequestedLocked() && registry_.workers().empty()) {
    lock.unlock();
    deaths_.Break({}, absl::StrCat("no worker process could be started: ",
                                   registry_.spawn_error()));
    return false;
  }
  if (state_.terminating && registry_.workers().empty() &&
      !state_.queue.empty()) {
    // Terminated before any worker started: the calls still queued (those
    // already RUNNING, which shutdown could not cancel) have no one to run
    // them.
    lock.unlock();
    deaths_.Break({}, "the pool was terminated before its worker processes "
                      "started");
    return false;
  }
  DispatchLocked(dropped);
  if (state_.shutdown && state_.queue.empty()) {
    bool idle = true;
    for (const auto& w : registry_.workers()) {
      idle = idle && w->in_flight().empty();
    }
    if (idle) {
      for (const auto& w : registry_.workers()) registry_.Stop(*w);
    }
    if (registry_.workers().empty()) return false;
  }
  *submits_seen = state_.submits;
  return true;
}

// Hands pending calls to workers with room in their window.
void PoolManager::DispatchLocked(std::deque<RemoteTask>& dropped) {
  // Round by round, so that calls spread over the workers.
  for (int round = 1; round <= kMaxPipeline && !state_.queue.empty();
       ++round) {
    for (const auto& w : registry_.workers()) {
      if (state_.queue.empty()) break;
      const int in_flight = static_cast<int>(w->in_flight().size());
      if (w->stopping || in_flight >= round ||
          in_flight >= w->Window(options_.max_tasks_per_child)) {
        continue;
      }
      SendNextLocked(*w, dropped);
    }
  }
  if (!state_.queue.empty()) registry_.RequestReplacementLocked();
}

// Sends the first pending call not cancelled meanwhile to `w`.
void PoolManager::SendNextLocked(WorkerChannel& w,
                                 std::deque<RemoteTask>& dropped) {
  if (std::optional<RemoteTask> task = state_.queue.PopRunnable(dropped)) {
    w.Send(std::move(*task));
  }
}

bool PoolManager::SendDirectLocked(std::deque<RemoteTask>& dropped) {
  for (const auto& w : registry_.workers()) {
    if (!Free(*w) || w->HasOutput()) continue;
    SendNextLocked(*w, dropped);
    if (w->in_flight().empty()) return state_.queue.empty();  // all cancelled
    if (!w->head_deadline().infinite()) return false;
    w->Flush();
    return !w->HasOutput();
  }
  return false;
}

bool PoolManager::Free(const WorkerChannel& w) const {
  return !w.stopping && w.in_flight().empty() &&
         w.Window(options_.max_tasks_per_child) > 0;
}

int PoolManager::Watch(std::vector<pollfd>& polls) const {
  polls.clear();
  polls.push_back({.fd = wake_fd_, .events = POLLIN, .revents = 0});
  polls.push_back(
      {.fd = registry_.report_fd(), .events = POLLIN, .revents = 0});
  Deadline nearest = Deadline::Never();
  for (const auto& w : registry_.workers()) {
    short events = POLLIN;
    if (w->HasOutput()) events |= POLLOUT;
    polls.push_back({.fd = w->fd(), .events = events, .revents = 0});
    // Its exit, even while a process it started holds the socket open.
    polls.push_back({.fd = w->pidfd(), .events = POLLIN, .revents = 0});
    const Deadline& head = w->head_deadline();
    if (!w->in_flight().empty() && !head.infinite() &&
        (nearest.infinite() || head.at() < nearest.at())) {
      nearest = head;
    }
  }
  if (nearest.infinite()) return -1;
  return static_cast<int>(absl::ToInt64Milliseconds(nearest.remaining()) + 1);
}

void PoolManager::OnReady(const std::vector<pollfd>& polls) {
  if (polls[0].revents & POLLIN) {
    std::uint64_t count;
    [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof(count));
  }
  if (polls[1].revents != 0) registry_.DrainReports();
  // polls[2i + 2] and [2i + 3] belong to workers()[i]; handlers may remove
  // workers, so collect the ready ones first.
  std::vector<std::pair<WorkerChannel*, bool>> ready;  // and whether it exited
  const auto& workers = registry_.workers();
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const pollfd& socket = polls[2 * i + 2];
    const pollfd& process = polls[2 * i + 3];
    if (socket.revents != 0 || process.revents != 0) {
      ready.emplace_back(workers[i].get(), process.revents != 0);
    }
  }
  for (auto [w, exited] : ready) {
    if (!registry_.Contains(w)) continue;
    // What it wrote before it exited is in the socket: read it first.
    if (!Read(*w) || exited) deaths_.OnExit(w);
    if (BrokenNow()) break;
  }
}

// Reads what the worker sent and completes the futures its frames answer;
// false once it closed its socket or sent something untrustworthy (it is
// then killed, and handled as dead).
bool PoolManager::Read(WorkerChannel& w) {
  const bool open = w.Read([&](Frame& f) { return HandleFrame(w, f); });
  if (!w.corrupt().empty()) kill(w.pid(), SIGKILL);
  return open;
}

bool PoolManager::HandleFrame(WorkerChannel& w, Frame& f) {
  if (!w.greeted) {
    if (f.kind != FrameKind::kHello) {
      w.MarkCorrupt("did not answer the hello");
      return false;
    }
    w.Greeted();
    const std::string theirs = DecodeFingerprint(f.payload);
    if (theirs != ProcessFingerprint()) {
      // It exits on its own, and never runs a task.
      w.mismatch = BuildMismatchMessage(absl::StrCat("worker ", w.pid()),
                                        ProcessFingerprint(), theirs);
    }
    return true;
  }
  if (f.kind == FrameKind::kError && f.id == 0) {
    w.init_error = DescribeRemote(f.payload);
    return true;
  }
  if ((f.kind != FrameKind::kResult && f.kind != FrameKind::kError) ||
      w.in_flight().empty() || w.in_flight().front().id != f.id) {
    w.MarkCorrupt("answered a task it was not running");
    return false;
  }
  absl::Duration took;
  RemoteTask task = w.PopAnswered(absl::Now(), &took);
  // Python's max_tasks_per_child: the worker exits after this answer.
  const bool retiring = options_.max_tasks_per_child.has_value() &&
                        ++w.tasks_done >= *options_.max_tasks_per_child;
  if (retiring) w.stopping = true;
  state_.recent_answer_us.store(absl::ToInt64Microseconds(took),
                                std::memory_order_relaxed);
  std::deque<RemoteTask> dropped;  // cancelled while pending; freed unlocked
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    state_.queue.Answered();
    // A worker left with nothing to run gets its next call now: completing
    // the answer's future runs its done callbacks in this thread, and one
    // that blocks must not keep the worker from a call Python would already
    // have in its call queue, where the worker takes it on its own.
    // (A broken pool has no queue left to send from.)
    if (Free(w)) SendNextLocked(w, dropped);
    // Idle with nothing queued: it says so.
    if (w.in_flight().empty() && state_.queue.empty()) {
      w.ResetStreak();  // idle: the next call may be a long one
      if (!retiring) registry_.AddIdleLocked();
    }
  }
  w.Flush();
  Complete(*task.call, f);
  return true;
}

bool PoolManager::SpawnsLeft() const {
  std::lock_guard<std::mutex> lock(state_.mu);
  return registry_.SpawnsRequestedLocked() && state_.broken.empty();
}

bool PoolManager::BrokenNow() const {
  std::lock_guard<std::mutex> lock(state_.mu);
  return !state_.broken.empty();
}

}  // namespace cf::internal
