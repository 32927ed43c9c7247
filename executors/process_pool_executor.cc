#include "executors/process_pool_executor.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executors/transport/byte_stream.h"
#include "executors/transport/child_exit.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/frame.h"
#include "executors/internal/call_queue.h"
#include "executors/internal/pool_support.h"
#include "executors/internal/worker_channel.h"
#include "executors/internal/worker_launcher.h"
#include "executors/transport/process_identity.h"
#include "executors/transport/process_worker.h"
#include "executors/transport/remote_exception.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"

namespace cf {
namespace {

using internal::CancelQueued;
using internal::DescribeStatus;
using internal::Deadline;
using internal::Frame;
using internal::FrameKind;
using internal::RemoteTask;
using internal::WorkerChannel;
using internal::WorkItem;

// A task frame may carry this much; large enough for the 256 MiB arguments
// the tests send, small enough that a corrupt length cannot exhaust memory.
constexpr std::uint64_t kMaxPayload = std::uint64_t{1} << 32;

// Waiters spin longer than usual for calls whose recent peers were answered
// within this long (see Submit).
constexpr std::chrono::microseconds kSpinForAnswersUnder{150};

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

class ProcessPoolExecutor::Pool {
 public:
  Pool(int max_workers, ProcessPoolOptions options)
      : max_workers_(max_workers),
        options_(std::move(options)),
        key_(internal::FrameKey::Random()),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        queue_(max_workers + 1) {
    if (wake_fd_ < 0) {
      throw std::runtime_error(absl::StrCat(
          "ProcessPoolExecutor: eventfd failed: ", strerror(errno)));
    }
    internal::RegisterOwnedFd(wake_fd_);
  }

  ~Pool() { Shutdown(/*wait=*/true, /*cancel_futures=*/false); }

  int max_workers() const { return max_workers_; }
  StartMethod start_method() const { return *options_.start_method; }
  absl::Duration task_timeout() const { return options_.task_timeout; }

  int num_workers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(pids_.size());
  }

  void Submit(std::shared_ptr<WorkItem> call, absl::Duration timeout) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ThrowIfClosedLocked();
    }
    RemoteTask task;
    task.id = next_id_.fetch_add(1, std::memory_order_relaxed);
    {
      std::string payload;
      try {
        call->EncodeRemote(&payload);
      } catch (const internal::NotRemotable&) {
        throw;
      } catch (...) {
        // Serialization failed here, in the parent: that future only.
        call->future().SetException(std::current_exception());
        return;
      }
      std::string frame;
      internal::AppendFrame(key_, FrameKind::kTask, task.id, payload, &frame);
      task.frame = std::make_shared<const std::string>(std::move(frame));
    }
    // Answers have been coming fast: whoever waits for this one spins
    // through about two of those before sleeping (FutureStateBase).
    const std::int64_t recent = recent_answer_us_.load(std::memory_order_relaxed);
    if (recent > 0 && recent < kSpinForAnswersUnder.count()) {
      call->future().SetSpinHint(std::chrono::microseconds(2 * recent + 20));
    }
    task.call = std::move(call);
    task.timeout = timeout;
    bool wake = false;
    std::deque<RemoteTask> dropped;  // cancelled meanwhile; destroyed unlocked
    {
      std::lock_guard<std::mutex> lock(mu_);
      ThrowIfClosedLocked();
      // Before the call is queued: if no thread can be started, the call
      // must not be left pending forever (Python: BrokenProcessPool).
      StartManagerLocked();
      queue_.Push(std::move(task));
      AdjustWorkerCountLocked();
      if (*options_.start_method == StartMethod::kFork && submits_ == 0) {
        // Every worker now, before the program grows more threads (Python
        // since 3.11, gh-90622): forking later is what makes fork unsafe.
        to_spawn_ = max_workers_ - static_cast<int>(pids_.size());
      }
      ++submits_;
      // A manager that is awake sees the call on its next turn. One that
      // sleeps in poll touches no worker: if one is idle, the call goes to it
      // from here, and the manager wakes only for the answer (a wake-up saved
      // costs as much as a tiny call's whole round trip).
      if (manager_asleep_ && (to_spawn_ > 0 || !SendDirectLocked(dropped))) {
        wake = true;
        manager_asleep_ = false;
      }
    }
    if (wake) Wake();
  }


  void Shutdown(bool wait, bool cancel_futures) {
    std::deque<RemoteTask> cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
      // Those already RUNNING still go to a worker, as in Python.
      if (cancel_futures) cancelled = queue_.TakeNotRunning();
    }
    for (RemoteTask& task : cancelled) CancelQueued(*task.call);
    Wake();
    if (wait) {
      std::lock_guard<std::mutex> join_lock(join_mu_);
      if (manager_.joinable()) manager_.join();
      // No manager is left to wait on the eventfd, and none can start
      // (every caller of StartManagerLocked() checks for shutdown first).
      std::lock_guard<std::mutex> lock(wake_mu_);
      internal::CloseOwnedFd(wake_fd_);
      wake_fd_ = -1;
    }
  }

  // multiprocessing.Pool's eager start, and its workers' names.
  void StartAllWorkers(std::string kind) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ThrowIfClosedLocked();
      worker_kind_ = std::move(kind);
      StartManagerLocked();
      to_spawn_ = max_workers_ - static_cast<int>(pids_.size());
      manager_asleep_ = false;
    }
    Wake();
  }

  void SignalWorkers(int sig) {
    Shutdown(/*wait=*/false, /*cancel_futures=*/true);
    std::lock_guard<std::mutex> lock(mu_);
    // The deaths this causes end the pool, even with kReplace: the calls
    // behind the killed ones fail rather than start new workers.
    terminating_ = true;
    for (pid_t pid : pids_) {
      kill(pid, sig);
      // A stopped worker (SIGSTOP) only acts on SIGTERM once continued.
      if (sig != SIGKILL) kill(pid, SIGCONT);
    }
  }

 private:
  void StartManagerLocked() {
    if (manager_.joinable()) return;
    try {
      manager_ = std::thread([this] { ManagerMain(); });
    } catch (const std::system_error& e) {
      throw BrokenProcessPool(absl::StrCat(
          "ProcessPoolExecutor: could not start its manager thread: ",
          e.what()));
    }
  }

  // Python checks "broken" before "shut down".
  void ThrowIfClosedLocked() const {
    if (!broken_.empty()) throw BrokenProcessPool(broken_);
    if (shutdown_) {
      throw std::runtime_error("cannot schedule new futures after shutdown");
    }
  }

  // Wakes the manager. Once it has been joined, the eventfd is closed
  // (shutdown(wait=true) leaves no descriptor open) and there is no one to
  // wake.
  void Wake() {
    std::lock_guard<std::mutex> lock(wake_mu_);
    if (wake_fd_ < 0) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }

  // Python's _adjust_process_count: an idle worker takes the new task;
  // otherwise one more is started (by the manager), up to max_workers.
  void AdjustWorkerCountLocked() {
    if (idle_workers_ > 0) {
      --idle_workers_;
      return;
    }
    if (static_cast<int>(pids_.size()) + to_spawn_ < max_workers_) ++to_spawn_;
  }

  // Starts the workers submit asked for; false (and the pool broken) if none
  // can be started at all.
  // One per turn: the calls waiting go to it before the next one is forked,
  // so the first answer does not wait for every worker to start.
  bool SpawnRequestedLocked() {
    if (to_spawn_ > 0) {
      --to_spawn_;
      try {
        SpawnLocked();
      } catch (const std::exception& e) {
        to_spawn_ = 0;
        if (!pids_.empty()) return true;  // the running workers go on
        spawn_error_ = e.what();
        return false;
      }
    }
    return true;
  }

  // Starts a worker. Only the manager thread does: a child's parent-death
  // signal fires when the thread that started it ends, and the manager
  // outlives every worker.
  void SpawnLocked() {
    if (launcher_ == nullptr) {
      launcher_ = std::make_unique<internal::WorkerLauncher>(
          *options_.start_method, key_,
          internal::Hello{
              .fingerprint = internal::ProcessFingerprint(),
              .max_payload = kMaxPayload,
              .initializer = options_.initializer.encoded(),
              .max_tasks = options_.max_tasks_per_child.value_or(0)});
    }
    auto worker = std::make_unique<WorkerChannel>(launcher_->Launch(), key_,
                                                  kMaxPayload);
    pids_.push_back(worker->pid());
    // Its name for cf::current_process(), before its first task.
    internal::ProcessIdentity identity{
        .name = internal::ChildName(launcher_->method_name(),
                                    worker_kind_.c_str(),
                                    internal::NextProcessNumber()),
        .parent_pid = getpid()};
    std::string frame;
    internal::AppendFrame(key_, FrameKind::kIdentity, 0,
                          internal::EncodeValue(identity), &frame);
    worker->SendFrame(std::make_shared<const std::string>(std::move(frame)));
    workers_.push_back(std::move(worker));
  }

  int ReapWorker(WorkerChannel& w) {
    return launcher_->Reap(w.pid(), w.TakePidfd());
  }

  void ManagerMain() {
    std::vector<pollfd> polls;
    std::uint64_t submits_seen = 0;
    while (true) {
      graveyard_.clear();
      std::deque<RemoteTask> dropped;  // cancelled while pending
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!broken_.empty()) break;
        // Dispatching may ask for a worker to replace a dead one: the next
        // turn starts it (see SpawnsLeft).
        const bool cannot_start = !SpawnRequestedLocked() && workers_.empty();
        if (!cannot_start) DispatchLocked(dropped);
        if (cannot_start) {
          lock.unlock();
          Break({}, absl::StrCat("no worker process could be started: ",
                                 spawn_error_));
          break;
        }
        if (shutdown_ && queue_.empty()) {
          bool idle = true;
          for (auto& w : workers_) idle = idle && w->in_flight().empty();
          if (idle) {
            for (auto& w : workers_) StopWorker(*w);
          }
          if (workers_.empty()) break;
        }
        submits_seen = submits_;
      }
      dropped.clear();
      for (auto& w : workers_) w->Flush();
      if (SpawnsLeft()) continue;  // start the next worker before sleeping

      polls.clear();
      polls.push_back({.fd = wake_fd_, .events = POLLIN, .revents = 0});
      polls.push_back({.fd = launcher_ ? launcher_->report_fd() : -1,
                       .events = POLLIN,
                       .revents = 0});
      Deadline nearest = Deadline::Never();
      for (auto& w : workers_) {
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
      int timeout_ms = -1;
      if (!nearest.infinite()) {
        timeout_ms = static_cast<int>(
            absl::ToInt64Milliseconds(nearest.remaining()) + 1);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (submits_ != submits_seen) continue;  // dispatch those first
        manager_asleep_ = true;  // from now on Submit wakes us, or sends
      }
      int n = poll(polls.data(), polls.size(), timeout_ms);
      {
        std::lock_guard<std::mutex> lock(mu_);
        manager_asleep_ = false;
      }
      if (n < 0 && errno != EINTR) break;
      if (polls[0].revents & POLLIN) {
        std::uint64_t count;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof(count));
      }
      if (polls[1].revents != 0) launcher_->DrainReports();
      // polls[2i + 2] and [2i + 3] belong to workers_[i]; handlers may
      // remove workers, so collect the ready ones first.
      std::vector<std::pair<WorkerChannel*, bool>> ready;  // and whether it exited
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        const pollfd& socket = polls[2 * i + 2];
        const pollfd& process = polls[2 * i + 3];
        if (socket.revents != 0 || process.revents != 0) {
          ready.emplace_back(workers_[i].get(), process.revents != 0);
        }
      }
      for (auto [w, exited] : ready) {
        if (!Contains(w)) continue;
        // What it wrote before it exited is in the socket: read it first.
        if (!Read(*w) || exited) OnWorkerExit(w);
        if (BrokenNow()) break;
      }
      CheckDeadlines();
    }
    // Here the pool is broken, or shut down with every worker gone.
    launcher_.reset();
  }

  bool Terminating() {
    std::lock_guard<std::mutex> lock(mu_);
    return terminating_;
  }

  bool SpawnsLeft() {
    std::lock_guard<std::mutex> lock(mu_);
    return to_spawn_ > 0 && broken_.empty();
  }

  bool BrokenNow() {
    std::lock_guard<std::mutex> lock(mu_);
    return !broken_.empty();
  }

  bool Contains(WorkerChannel* w) const {
    for (auto& p : workers_) {
      if (p.get() == w) return true;
    }
    return false;
  }

  // Hands pending tasks to workers with nothing in flight.
  void DispatchLocked(std::deque<RemoteTask>& dropped) {
    // Round by round, so that calls spread over the workers.
    for (int round = 1; round <= internal::kMaxPipeline && !queue_.empty();
         ++round) {
      for (auto& w : workers_) {
        if (queue_.empty()) break;
        const int in_flight = static_cast<int>(w->in_flight().size());
        if (w->stopping || in_flight >= round ||
            in_flight >= w->Window(options_.max_tasks_per_child)) {
          continue;
        }
        SendNextLocked(*w, dropped);
      }
    }
    // Work is waiting, no worker is free and one has died or been killed:
    // start a new one (submit only grows the pool when work arrives).
    if (!queue_.empty() &&
        static_cast<int>(pids_.size()) + to_spawn_ < max_workers_) {
      bool any_free = false;
      for (auto& w : workers_) {
        any_free |= !w->stopping && w->in_flight().empty();
      }
      if (!any_free && to_spawn_ == 0) ++to_spawn_;
    }
  }

  // Sends the first pending call not cancelled meanwhile to `w`.
  void SendNextLocked(WorkerChannel& w, std::deque<RemoteTask>& dropped) {
    if (std::optional<RemoteTask> task = queue_.PopRunnable(dropped)) {
      w.Send(std::move(*task));
    }
  }

  // Sends the next call to an idle worker, from a submitting thread while
  // the manager sleeps; false if the manager must act (no idle worker, a
  // deadline to watch, bytes the socket did not take).
  bool SendDirectLocked(std::deque<RemoteTask>& dropped) {
    for (auto& w : workers_) {
      if (w->stopping || !w->in_flight().empty() || w->HasOutput() ||
          w->Window(options_.max_tasks_per_child) < 1) {
        continue;
      }
      SendNextLocked(*w, dropped);
      if (w->in_flight().empty()) return queue_.empty();  // all cancelled
      if (!w->head_deadline().infinite()) return false;
      w->Flush();
      return !w->HasOutput();
    }
    return false;
  }

  void StopWorker(WorkerChannel& w) {
    if (w.stopping) return;
    w.stopping = true;
    std::string frame;
    internal::AppendFrame(key_, FrameKind::kShutdown, 0, {}, &frame);
    w.SendFrame(std::make_shared<const std::string>(std::move(frame)));
  }

  // Reads what the worker sent and completes the futures its frames
  // answer; false once it closed its socket or sent something untrustworthy
  // (it is then killed, and handled as dead).
  bool Read(WorkerChannel& w) {
    const bool open = w.Read([&](Frame& f) { return HandleFrame(w, f); });
    if (!w.corrupt().empty()) kill(w.pid(), SIGKILL);
    return open;
  }

  bool HandleFrame(WorkerChannel& w, Frame& f) {
    if (!w.greeted) {
      if (f.kind != FrameKind::kHello) {
        w.MarkCorrupt("did not answer the hello");
        return false;
      }
      w.Greeted();
      const std::string theirs = internal::DecodeFingerprint(f.payload);
      if (theirs != internal::ProcessFingerprint()) {
        // It exits on its own, and never runs a task.
        w.mismatch = internal::BuildMismatchMessage(
            absl::StrCat("worker ", w.pid()), internal::ProcessFingerprint(),
            theirs);
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
    recent_answer_us_.store(absl::ToInt64Microseconds(took),
                            std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.Answered();
      // An idle worker with nothing queued says so; else the next turn
      // feeds it.
      if (w.in_flight().empty() && queue_.empty()) {
        w.ResetStreak();  // idle: the next call may be a long one
        if (!retiring) ++idle_workers_;
      }
    }
    Complete(*task.call, f);
    return true;
  }

  void Complete(WorkItem& call, const Frame& f) {
    try {
      if (f.kind == FrameKind::kResult) {
        call.SetRemoteResult(f.payload);
      } else {
        call.future().SetException(
            internal::RebuildException(internal::DecodeResult<internal::RemoteException>(f.payload)));
      }
    } catch (const InvalidStateError&) {
      // Set by hand meanwhile; the executor's outcome loses, as in Python.
    } catch (...) {
      internal::FailCall(
          call, std::current_exception());  // the result did not deserialize
    }
  }

  static std::string DescribeRemote(std::string_view bytes) {
    try {
      internal::RemoteException e =
          internal::DecodeResult<internal::RemoteException>(bytes);
      return absl::StrCat(e.type_name, ": ", e.message);
    } catch (...) {
      return "an exception that could not be decoded";
    }
  }

  // The worker closed its socket: it exited, was killed, or crashed.
  void OnWorkerExit(WorkerChannel* w) {
    internal::CloseOwnedFd(w->fd());
    const int status = ReapWorker(*w);
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
    RemoveWorker(w);
    if (expected) return;
    if (options_.on_worker_death == WorkerDeath::kReplace && !Terminating() &&
        w->init_error.empty() && w->mismatch.empty()) {
      ReplaceAfterDeath(std::move(in_flight), cause);
    } else {
      Break(std::move(in_flight), cause);
    }
  }

  void RemoveWorker(WorkerChannel* w) {
    std::lock_guard<std::mutex> lock(mu_);
    pids_.erase(std::find(pids_.begin(), pids_.end(), w->pid()));
    // The worker object stays alive until this turn ends (callers use it).
    for (auto it = workers_.begin(); it != workers_.end(); ++it) {
      if (it->get() == w) {
        graveyard_.push_back(std::move(*it));
        workers_.erase(it);
        break;
      }
    }
  }

  // kReplace: the task that was running fails, the ones queued behind it go
  // back to the front of the queue, and the pool goes on.
  void ReplaceAfterDeath(std::deque<RemoteTask> in_flight, const std::string& cause) {
    if (!in_flight.empty()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.Answered();
      }
      internal::FailCall(
          *in_flight.front().call,
          MakeError<BrokenProcessPool>(absl::StrCat(
              "The worker process running this task terminated abruptly: ",
              cause)));
      in_flight.pop_front();
    }
    std::lock_guard<std::mutex> lock(mu_);
    queue_.ReturnToFront(std::move(in_flight));
  }

  // Python's terminate_broken: every pending and running future fails, every
  // worker is killed, and the pool refuses new work.
  void Break(std::deque<RemoteTask> in_flight, const std::string& cause) {
    std::deque<RemoteTask> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // After shutdown (terminate_workers, kill_workers) submit keeps saying
      // "shut down", as Python's does.
      if (!shutdown_)
        broken_ = absl::StrCat(kBrokenPoolMessage, " (", cause, ")");
      pending = queue_.TakeAll();
      for (auto& w : workers_) {
        for (RemoteTask& t : w->in_flight()) in_flight.push_back(std::move(t));
        w->in_flight().clear();
      }
    }
    const std::string message =
        absl::StrCat(kBrokenFutureMessage, " (", cause, ")");
    for (RemoteTask& t : in_flight)
      internal::FailCall(*t.call, MakeError<BrokenProcessPool>(message));
    for (RemoteTask& t : pending)
      internal::FailCall(*t.call, MakeError<BrokenProcessPool>(message));
    while (!workers_.empty()) {
      WorkerChannel* w = workers_.back().get();
      kill(w->pid(), SIGKILL);
      internal::CloseOwnedFd(w->fd());
      ReapWorker(*w);
      RemoveWorker(w);
    }
  }

  // Kills the worker of a task past its deadline; the task fails with
  // TimeoutError and the pool goes on.
  void CheckDeadlines() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      WorkerChannel* w = workers_[i].get();
      if (w->in_flight().empty() || !w->head_deadline().expired()) continue;
      kill(w->pid(), SIGKILL);
      internal::CloseOwnedFd(w->fd());
      const int status = ReapWorker(*w);
      std::deque<RemoteTask> in_flight = std::move(w->in_flight());
      const pid_t pid = w->pid();
      RemoveWorker(w);
      --i;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.Answered();
      }
      internal::FailCall(
          *in_flight.front().call,
          MakeError<TimeoutError>(absl::StrCat(
              "the task ran longer than its timeout of ",
              absl::FormatDuration(in_flight.front().timeout), "; worker ", pid,
              " was killed (", DescribeStatus(status), ") and replaced")));
      in_flight.pop_front();
      std::lock_guard<std::mutex> lock(mu_);
      queue_.ReturnToFront(std::move(in_flight));
    }
  }

  const int max_workers_;
  const ProcessPoolOptions options_;
  const internal::FrameKey key_;
  std::mutex wake_mu_;  // guards closing wake_fd_ against Wake()
  int wake_fd_;
  std::atomic<std::uint64_t> next_id_{1};  // 0 is the initializer's
  // How long the last answer took from its call's start (or from the
  // previous answer): the manager's, read by Submit for a spin hint.
  std::atomic<std::int64_t> recent_answer_us_{0};

  mutable std::mutex mu_;
  internal::CallQueue queue_;
  bool shutdown_ = false;
  std::string broken_;           // what submit throws once the pool is broken
  std::vector<pid_t> pids_;      // live workers
  int idle_workers_ = 0;         // Python's _idle_worker_semaphore
  int to_spawn_ = 0;             // workers submit asked the manager for
  // The manager is in poll and touches no worker: Submit may send to an
  // idle one itself, or must wake it.
  bool manager_asleep_ = false;
  std::uint64_t submits_ = 0;  // calls queued so far
  std::string spawn_error_;
  bool terminating_ = false;  // terminate_workers() or kill_workers() called
  std::string worker_kind_ = "Process";  // "ForkProcess-1", as Python's
  std::thread manager_;
  std::mutex join_mu_;

  // The manager thread's alone.
  std::vector<std::unique_ptr<WorkerChannel>> workers_;
  std::vector<std::unique_ptr<WorkerChannel>> graveyard_;  // removed this turn
  std::unique_ptr<internal::WorkerLauncher> launcher_;  // once the first starts
};

ProcessPoolExecutor::ProcessPoolExecutor(int max_workers)
    : ProcessPoolExecutor(ProcessPoolOptions{.max_workers = max_workers}) {}

ProcessPoolExecutor::ProcessPoolExecutor(ProcessPoolOptions options) {
  const int max_workers =
      internal::CheckedMaxWorkers(options.max_workers, internal::UsableCpus());
  if (options.max_tasks_per_child.has_value()) {
    if (*options.max_tasks_per_child <= 0) {
      throw std::invalid_argument("max_tasks_per_child must be >= 1");
    }
    if (options.start_method == StartMethod::kFork) {
      throw std::invalid_argument(
          "max_tasks_per_child is incompatible with the 'fork' start method; "
          "supply a different start_method (cf::StartMethod::kSpawn or "
          "cf::StartMethod::kForkServer).");
    }
  }
  if (!options.start_method.has_value()) {
    options.start_method = options.max_tasks_per_child.has_value()
                               ? StartMethod::kSpawn
                               : StartMethod::kFork;
  }
  if (*options.start_method != StartMethod::kFork &&
      !internal::ProcessInitialized()) {
    throw std::logic_error(absl::StrCat(
        "ProcessPoolExecutor: start method ",
        *options.start_method == StartMethod::kSpawn ? "kSpawn" : "kForkServer",
        " starts workers by running this program again, so main() must call "
        "cf::Init(argc, argv) before anything else (#include \"cf.h\"); add "
        "it as the first line of main(), or use cf::StartMethod::kFork"));
  }
  pool_ = std::make_unique<Pool>(max_workers, std::move(options));
}

ProcessPoolExecutor::~ProcessPoolExecutor() { shutdown(/*wait=*/true); }

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  pool_->Shutdown(wait, cancel_futures);
}

void ProcessPoolExecutor::StartAllWorkers(std::string kind) {
  pool_->StartAllWorkers(std::move(kind));
}

void ProcessPoolExecutor::terminate_workers() { pool_->SignalWorkers(SIGTERM); }
void ProcessPoolExecutor::kill_workers() { pool_->SignalWorkers(SIGKILL); }

int ProcessPoolExecutor::max_workers() const { return pool_->max_workers(); }
StartMethod ProcessPoolExecutor::start_method() const {
  return pool_->start_method();
}
int ProcessPoolExecutor::num_workers() const { return pool_->num_workers(); }

void ProcessPoolExecutor::Submit(std::shared_ptr<internal::WorkItem> call) {
  pool_->Submit(std::move(call), pool_->task_timeout());
}

void ProcessPoolExecutor::SubmitWithOptions(
    std::shared_ptr<internal::WorkItem> call, const TaskOptions& options) {
  pool_->Submit(std::move(call), options.timeout);
}

}  // namespace cf
