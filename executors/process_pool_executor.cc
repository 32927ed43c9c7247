#include "executors/process_pool_executor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
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
#include "executors/transport/fork_server.h"
#include "executors/transport/frame.h"
#include "executors/internal/pool_support.h"
#include "executors/transport/process_identity.h"
#include "executors/transport/process_worker.h"
#include "executors/transport/reexec.h"
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
using internal::WorkItem;

// A task frame may carry this much; large enough for the 256 MiB arguments
// the tests send, small enough that a corrupt length cannot exhaust memory.
constexpr std::uint64_t kMaxPayload = std::uint64_t{1} << 32;

// Pipelining (Pool::Window): answers coming faster than this make a streak,
// and a worker in a streak gets up to this many calls at once.
constexpr absl::Duration kFastTask = absl::Microseconds(500);
constexpr std::int64_t kMaxPipeline = 32;

// Waiters spin longer than usual for calls whose recent peers were answered
// within this long (see Submit).
constexpr std::chrono::microseconds kSpinForAnswersUnder{150};

constexpr char kBrokenFutureMessage[] =
    "A process in the process pool was terminated abruptly while the future "
    "was running or pending.";
constexpr char kBrokenPoolMessage[] =
    "A child process terminated abruptly, the process pool is not usable "
    "anymore";

#if defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerThreads = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kSanitizerThreads = true;
#else
constexpr bool kSanitizerThreads = false;
#endif
#else
constexpr bool kSanitizerThreads = false;
#endif

// Threads in this process other than the calling one.
int OtherThreads() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir)) n += entry->d_name[0] != '.';
    closedir(dir);
  }
  return n - 1;
}

// Forking copies one thread of a process whose other threads may hold locks
// (in malloc, in any library) that then stay locked forever in the child.
// Python warns too (DeprecationWarning, 3.12); once per process.
void WarnIfForkingWithThreads() {
  static std::atomic<bool> warned{false};
  // The calling manager thread and the thread that owns the pool are
  // expected; any other one is the user's, except ThreadSanitizer's own
  // background thread, which holds none of the program's locks.
  const int others = OtherThreads() - 1 - (kSanitizerThreads ? 1 : 0);
  if (others <= 0 || warned.exchange(true)) return;
  const std::string message = absl::StrCat(
      "cf::ProcessPoolExecutor: warning: forking worker processes from a "
      "process with ", others, " other thread", others == 1 ? "" : "s",
      "; a lock one of them holds stays locked forever in the workers. Use "
      ".start_method = cf::StartMethod::kForkServer (and call "
      "cf::Init(argc, argv) first thing in main) to start workers from a "
      "clean process.\n");
  [[maybe_unused]] ssize_t n =
      write(STDERR_FILENO, message.data(), message.size());
}

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
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (wake_fd_ < 0) {
      throw std::runtime_error(absl::StrCat(
          "ProcessPoolExecutor: eventfd failed: ", strerror(errno)));
    }
    internal::RegisterOwnedFd(wake_fd_);
  }

  ~Pool() {
    Shutdown(/*wait=*/true, /*cancel_futures=*/false);
    internal::CloseOwnedFd(wake_fd_);
  }

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
    Task task;
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
    std::deque<Task> dropped;  // cancelled meanwhile; destroyed unlocked
    {
      std::lock_guard<std::mutex> lock(mu_);
      ThrowIfClosedLocked();
      // Before the call is queued: if no thread can be started, the call
      // must not be left pending forever (Python: BrokenProcessPool).
      StartManagerLocked();
      // Python marks a future RUNNING when it enters the call queue, which
      // holds max_workers + 1 calls; from then on it cannot be cancelled.
      if (marked_running_ < max_workers_ + 1) {
        task.call->future().SetRunningOrNotifyCancel();  // new: cannot fail
        task.running = true;
        ++marked_running_;
      }
      pending_.push_back(std::move(task));
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
    std::deque<Task> cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
      if (cancel_futures) {
        std::deque<Task> keep;  // already RUNNING: they go to a worker
        for (Task& task : pending_) {
          (task.running ? keep : cancelled).push_back(std::move(task));
        }
        pending_.swap(keep);
      }
    }
    for (Task& task : cancelled) CancelQueued(*task.call);
    Wake();
    if (wait) {
      std::lock_guard<std::mutex> join_lock(join_mu_);
      if (manager_.joinable()) manager_.join();
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
    for (pid_t pid : pids_) {
      kill(pid, sig);
      // A stopped worker (SIGSTOP) only acts on SIGTERM once continued.
      if (sig != SIGKILL) kill(pid, SIGCONT);
    }
  }

 private:
  struct Task {
    std::uint64_t id = 0;
    std::shared_ptr<WorkItem> call;
    // Kept until the call is answered: a call handed back after its worker
    // died goes to another worker as it is.
    std::shared_ptr<const std::string> frame;
    bool running = false;  // its future is RUNNING (counted in marked_running_)
    absl::Duration timeout = absl::InfiniteDuration();  // from when it starts
  };

  struct Worker {
    Worker(pid_t pid, int fd, int pidfd, const internal::FrameKey& key)
        : pid(pid), fd(fd), pidfd(pidfd), decoder(key, kMaxPayload) {}
    pid_t pid = -1;
    int fd;
    int pidfd;  // readable once the process has exited; -1 if unsupported
    internal::FrameDecoder decoder;
    std::deque<std::shared_ptr<const std::string>> out;  // not yet written
    std::size_t out_sent = 0;  // of out.front()
    std::deque<Task> in_flight;  // sent, in the order the worker runs them
    Deadline head_deadline = Deadline::Never();
    bool stopping = false;   // told to shut down: its exit is expected
    std::string init_error;  // the initializer's exception, if it failed
    bool greeted = true;     // a re-executed worker answers our hello first
    std::string mismatch;    // why its build is not ours, if it is not
    std::int64_t tasks_done = 0;
    // Pipelining (see Window): answers in a row that each came within
    // kFastTask of the previous one, and when the last one came.
    int fast_streak = 0;
    absl::Time head_since;
  };

  // Calls sent to a worker before it answers the first. One, as Python,
  // unless the worker is in a streak of fast answers: then it gets up to
  // kMaxPipeline, so that it never waits for us between tiny calls. A worker
  // that goes idle starts again from one, so calls that may block are not
  // queued behind each other, and stay cancellable, as in Python.
  int Window(const Worker& w) const {
    std::int64_t window =
        std::min<std::int64_t>(kMaxPipeline, 1 + w.fast_streak);
    if (options_.max_tasks_per_child.has_value()) {
      // It exits after its last call: never send it more.
      window = std::min<std::int64_t>(
          window, *options_.max_tasks_per_child - w.tasks_done);
    }
    return static_cast<int>(window);
  }

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

  void Wake() {
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
  bool SpawnRequestedLocked() {
    while (to_spawn_ > 0) {
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
  // outlives every worker. mu_ is held, so the list of descriptors a forked
  // child must close is complete.
  void SpawnLocked() {
    int fds[2];
    internal::MakeChannel(fds);
    pid_t pid = -1;
    bool greeted = true;
    try {
      switch (*options_.start_method) {
        case StartMethod::kFork:
          pid = ForkWorker(fds[1]);
          break;
        case StartMethod::kSpawn:
          pid = internal::Reexec(internal::kWorkerFlag, fds[1]);
          greeted = false;
          break;
        case StartMethod::kForkServer:
          if (fork_server_ == nullptr) {
            fork_server_ = std::make_unique<internal::ForkServer>(key_, Hello());
          }
          pid = fork_server_->Fork(fds[1]);
          break;
      }
    } catch (...) {
      internal::CloseOwnedFd(fds[0]);
      internal::CloseOwnedFd(fds[1]);
      throw;
    }
    internal::CloseOwnedFd(fds[1]);
    // Before the hello: a worker that dies at once must still be seen dying.
    const int pidfd = internal::OpenPidfd(pid);
    auto worker = std::make_unique<Worker>(pid, fds[0], pidfd, key_);
    if (!greeted) {
      // The socket is empty and ours alone: this cannot block for long.
      try {
        internal::SendHello(fds[0], key_, Hello());
      } catch (...) {
        internal::CloseOwnedFd(fds[0]);
        kill(pid, SIGKILL);
        ReapWorker(*worker);
        throw;
      }
    }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    pids_.push_back(pid);
    worker->greeted = greeted;
    // Its name for cf::current_process(), before its first task.
    internal::ProcessIdentity identity{
        .name = internal::ChildName(MethodName(), worker_kind_.c_str(),
                                    internal::NextProcessNumber()),
        .parent_pid = getpid()};
    std::string frame;
    internal::AppendFrame(key_, FrameKind::kIdentity, 0,
                          internal::EncodeValue(identity), &frame);
    worker->out.push_back(std::make_shared<const std::string>(std::move(frame)));
    workers_.push_back(std::move(worker));
  }

  const char* MethodName() const {
    switch (*options_.start_method) {
      case StartMethod::kFork:
        return "Fork";
      case StartMethod::kSpawn:
        return "Spawn";
      case StartMethod::kForkServer:
        return "ForkServer";
    }
    return "";
  }

  internal::Hello Hello() const {
    return {.fingerprint = internal::ProcessFingerprint(),
            .max_payload = kMaxPayload,
            .initializer = options_.initializer.encoded(),
            .max_tasks = options_.max_tasks_per_child.value_or(0)};
  }

  pid_t ForkWorker(int child_end) {
    WarnIfForkingWithThreads();
    internal::WorkerConfig config{
        .fd = child_end,
        .key = key_,
        .max_payload = kMaxPayload,
        .initializer = options_.initializer.encoded()};
    const pid_t parent = getpid();
    const pid_t pid = internal::ForkWorkerProcess(child_end);
    if (pid == 0) {
      // A worker whose parent dies (even by SIGKILL) goes too, even in the
      // middle of a task.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(internal::kWorkerExitOk);
      // Ctrl-C goes to the whole process group: the parent handles it, the
      // workers must not die noisily mid-task.
      signal(SIGINT, SIG_IGN);
      internal::RunWorker(config);
    }
    return pid;
  }

  // How a worker that has exited, or is exiting, ended; one that lingers
  // past a second is killed. Closes its pidfd.
  int ReapWorker(Worker& w) {
    const int pidfd = std::exchange(w.pidfd, -1);
    if (fork_server_ == nullptr) {
      return internal::ReapChild(w.pid, pidfd, absl::Seconds(1));
    }
    // The server's child: it reaps and reports. The kernel's record is the
    // fallback if the server is gone.
    std::optional<int> status = fork_server_->WaitExit(w.pid, absl::Seconds(1));
    if (!status.has_value()) {
      kill(w.pid, SIGKILL);
      status = fork_server_->WaitExit(w.pid, absl::Seconds(10));
    }
    if (!status.has_value() && pidfd >= 0 &&
        internal::WaitExited(pidfd, absl::Seconds(1))) {
      const int recorded = internal::StatusFromPidfd(pidfd);
      if (recorded != internal::kStatusNotCollected) status = recorded;
    }
    internal::CloseOwnedFd(pidfd);
    return status.value_or(internal::kStatusLostWithServer);
  }

  void ManagerMain() {
    std::vector<pollfd> polls;
    std::uint64_t submits_seen = 0;
    while (true) {
      graveyard_.clear();
      std::deque<Task> dropped;  // cancelled while pending
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!broken_.empty()) break;
        // Twice: dispatching may ask for a worker to replace a dead one.
        bool cannot_start = false;
        for (int round = 0; round < 2; ++round) {
          if (!SpawnRequestedLocked() && workers_.empty()) {
            cannot_start = true;
            break;
          }
          DispatchLocked(dropped);
          if (to_spawn_ == 0) break;
        }
        if (cannot_start) {
          lock.unlock();
          Break({}, absl::StrCat("no worker process could be started: ",
                                 spawn_error_));
          break;
        }
        if (shutdown_ && pending_.empty()) {
          bool idle = true;
          for (auto& w : workers_) idle = idle && w->in_flight.empty();
          if (idle) {
            for (auto& w : workers_) StopWorker(*w);
          }
          if (workers_.empty()) break;
        }
        submits_seen = submits_;
      }
      dropped.clear();
      for (auto& w : workers_) Flush(*w);

      polls.clear();
      polls.push_back({.fd = wake_fd_, .events = POLLIN, .revents = 0});
      polls.push_back({.fd = fork_server_ ? fork_server_->fd() : -1,
                       .events = POLLIN,
                       .revents = 0});
      Deadline nearest = Deadline::Never();
      for (auto& w : workers_) {
        short events = POLLIN;
        if (!w->out.empty()) events |= POLLOUT;
        polls.push_back({.fd = w->fd, .events = events, .revents = 0});
        // Its exit, even while a process it started holds the socket open.
        polls.push_back({.fd = w->pidfd, .events = POLLIN, .revents = 0});
        if (!w->in_flight.empty() && !w->head_deadline.infinite() &&
            (nearest.infinite() || w->head_deadline.at() < nearest.at())) {
          nearest = w->head_deadline;
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
      if (polls[1].revents != 0) fork_server_->Drain();
      // polls[2i + 2] and [2i + 3] belong to workers_[i]; handlers may
      // remove workers, so collect the ready ones first.
      std::vector<std::pair<Worker*, bool>> ready;  // and whether it exited
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
        if (!ReadFrom(*w) || exited) OnWorkerExit(w);
        if (BrokenNow()) break;
      }
      CheckDeadlines();
    }
    // Here the pool is broken, or shut down with every worker gone.
    fork_server_.reset();
  }

  bool BrokenNow() {
    std::lock_guard<std::mutex> lock(mu_);
    return !broken_.empty();
  }

  bool Contains(Worker* w) const {
    for (auto& p : workers_) {
      if (p.get() == w) return true;
    }
    return false;
  }

  // Hands pending tasks to workers with nothing in flight.
  void DispatchLocked(std::deque<Task>& dropped) {
    // Round by round, so that calls spread over the workers.
    for (int round = 1; round <= kMaxPipeline && !pending_.empty(); ++round) {
      for (auto& w : workers_) {
        if (pending_.empty()) break;
        const int in_flight = static_cast<int>(w->in_flight.size());
        if (w->stopping || in_flight >= round || in_flight >= Window(*w)) {
          continue;
        }
        SendNextLocked(*w, dropped);
      }
    }
    // Work is waiting, no worker is free and one has died or been killed:
    // start a new one (submit only grows the pool when work arrives).
    if (!pending_.empty() &&
        static_cast<int>(pids_.size()) + to_spawn_ < max_workers_) {
      bool any_free = false;
      for (auto& w : workers_) any_free |= !w->stopping && w->in_flight.empty();
      if (!any_free && to_spawn_ == 0) ++to_spawn_;
    }
  }

  // Sends the first pending call not cancelled meanwhile to `w`.
  void SendNextLocked(Worker& w, std::deque<Task>& dropped) {
    while (!pending_.empty()) {
      Task task = std::move(pending_.front());
      pending_.pop_front();
      if (!task.running) {
        if (!task.call->future().SetRunningOrNotifyCancel()) {
          dropped.push_back(std::move(task));  // cancelled
          continue;
        }
        task.running = true;
        ++marked_running_;
      }
      w.out.push_back(task.frame);
      if (w.in_flight.empty()) {
        w.head_deadline = Deadline::After(task.timeout);
        w.head_since = absl::Now();
      }
      w.in_flight.push_back(std::move(task));
      return;
    }
  }

  // Sends the next call to an idle worker, from a submitting thread while
  // the manager sleeps; false if the manager must act (no idle worker, a
  // deadline to watch, bytes the socket did not take).
  bool SendDirectLocked(std::deque<Task>& dropped) {
    for (auto& w : workers_) {
      if (w->stopping || !w->in_flight.empty() || !w->out.empty() ||
          Window(*w) < 1) {
        continue;
      }
      SendNextLocked(*w, dropped);
      if (w->in_flight.empty()) return pending_.empty();  // all cancelled
      if (!w->head_deadline.infinite()) return false;
      Flush(*w);
      return w->out.empty();
    }
    return false;
  }

  void StopWorker(Worker& w) {
    if (w.stopping) return;
    w.stopping = true;
    std::string frame;
    internal::AppendFrame(key_, FrameKind::kShutdown, 0, {}, &frame);
    w.out.push_back(std::make_shared<const std::string>(std::move(frame)));
  }

  // Writes queued frames, as many per system call as the socket takes.
  void Flush(Worker& w) {
    constexpr std::size_t kMaxIov = 64;
    iovec iov[kMaxIov];
    while (!w.out.empty()) {
      std::size_t count = 0;
      for (const auto& frame : w.out) {
        if (count == kMaxIov) break;
        const std::size_t skip = count == 0 ? w.out_sent : 0;
        iov[count++] = {.iov_base = const_cast<char*>(frame->data()) + skip,
                        .iov_len = frame->size() - skip};
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = count;
      ssize_t n = sendmsg(w.fd, &msg, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // full (poll for POLLOUT) or broken (it died)
      std::size_t sent = static_cast<std::size_t>(n);
      while (sent > 0) {
        const std::size_t left = w.out.front()->size() - w.out_sent;
        if (sent < left) {
          w.out_sent += sent;
          break;
        }
        sent -= left;
        w.out.pop_front();
        w.out_sent = 0;
      }
    }
  }

  // Reads what the worker sent; false once it has closed its socket.
  bool ReadFrom(Worker& w) {
    while (true) {
      absl::Span<char> space = w.decoder.WritableSpace(64 * 1024);
      ssize_t n = read(w.fd, space.data(), space.size());
      if (n > 0) {
        w.decoder.Commit(static_cast<std::size_t>(n));
        if (!HandleFrames(w)) return false;
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return false;
    }
  }

  // Completes the futures the worker's frames answer; false on a corrupt
  // stream (the worker is then killed and handled as dead).
  bool HandleFrames(Worker& w) {
    while (true) {
      absl::StatusOr<std::optional<Frame>> frame = w.decoder.Next();
      if (!frame.ok()) {
        corrupt_ = absl::StrCat("sent a corrupt frame (",
                                frame.status().message(), ")");
        kill(w.pid, SIGKILL);
        return false;
      }
      if (!frame->has_value()) return true;
      Frame& f = **frame;
      if (!w.greeted) {
        if (f.kind != FrameKind::kHello) {
          corrupt_ = "did not answer the hello";
          kill(w.pid, SIGKILL);
          return false;
        }
        w.greeted = true;
        const std::string theirs = internal::DecodeFingerprint(f.payload);
        if (theirs != internal::ProcessFingerprint()) {
          // It exits on its own, and never runs a task.
          w.mismatch = internal::BuildMismatchMessage(
              absl::StrCat("worker ", w.pid), internal::ProcessFingerprint(),
              theirs);
        }
        continue;
      }
      if (f.kind == FrameKind::kError && f.id == 0) {
        w.init_error = DescribeRemote(f.payload);
        continue;
      }
      if ((f.kind != FrameKind::kResult && f.kind != FrameKind::kError) ||
          w.in_flight.empty() || w.in_flight.front().id != f.id) {
        corrupt_ = "answered a task it was not running";
        kill(w.pid, SIGKILL);
        return false;
      }
      Task task = std::move(w.in_flight.front());
      w.in_flight.pop_front();
      // Python's max_tasks_per_child: the worker exits after this answer.
      const bool retiring = options_.max_tasks_per_child.has_value() &&
                            ++w.tasks_done >= *options_.max_tasks_per_child;
      if (retiring) w.stopping = true;
      const absl::Time now = absl::Now();
      recent_answer_us_.store(absl::ToInt64Microseconds(now - w.head_since),
                              std::memory_order_relaxed);
      w.fast_streak = now - w.head_since < kFastTask ? w.fast_streak + 1 : 0;
      w.head_since = now;
      if (!w.in_flight.empty()) {
        w.head_deadline = Deadline::After(w.in_flight.front().timeout);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        --marked_running_;
        // An idle worker with nothing queued says so; else the next turn
        // feeds it.
        if (w.in_flight.empty() && pending_.empty()) {
          w.fast_streak = 0;  // idle: the next call may be a long one
          if (!retiring) ++idle_workers_;
        }
      }
      Complete(*task.call, f);
    }
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
  void OnWorkerExit(Worker* w) {
    internal::CloseOwnedFd(w->fd);
    const int status = ReapWorker(*w);
    std::string cause =
        absl::StrCat("worker ", w->pid, " ", DescribeStatus(status));
    if (!w->mismatch.empty()) {
      cause = w->mismatch;
    } else if (!w->init_error.empty()) {
      cause = absl::StrCat("the initializer of worker ", w->pid,
                           " failed: ", w->init_error);
    } else if (!corrupt_.empty()) {
      cause = absl::StrCat("worker ", w->pid, " ", corrupt_);
    }
    corrupt_.clear();
    const bool expected = w->stopping && w->in_flight.empty();
    std::deque<Task> in_flight = std::move(w->in_flight);
    RemoveWorker(w);
    if (expected) return;
    if (options_.on_worker_death == WorkerDeath::kReplace &&
        w->init_error.empty() && w->mismatch.empty()) {
      ReplaceAfterDeath(std::move(in_flight), cause);
    } else {
      Break(std::move(in_flight), cause);
    }
  }

  void RemoveWorker(Worker* w) {
    std::lock_guard<std::mutex> lock(mu_);
    pids_.erase(std::find(pids_.begin(), pids_.end(), w->pid));
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
  void ReplaceAfterDeath(std::deque<Task> in_flight, const std::string& cause) {
    if (!in_flight.empty()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        --marked_running_;
      }
      internal::FailCall(
          *in_flight.front().call,
          MakeError<BrokenProcessPool>(absl::StrCat(
              "The worker process running this task terminated abruptly: ",
              cause)));
      in_flight.pop_front();
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = in_flight.rbegin(); it != in_flight.rend(); ++it) {
      pending_.push_front(std::move(*it));
    }
  }

  // Python's terminate_broken: every pending and running future fails, every
  // worker is killed, and the pool refuses new work.
  void Break(std::deque<Task> in_flight, const std::string& cause) {
    std::deque<Task> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // After shutdown (terminate_workers, kill_workers) submit keeps saying
      // "shut down", as Python's does.
      if (!shutdown_)
        broken_ = absl::StrCat(kBrokenPoolMessage, " (", cause, ")");
      pending.swap(pending_);
      for (auto& w : workers_) {
        for (Task& t : w->in_flight) in_flight.push_back(std::move(t));
        w->in_flight.clear();
      }
    }
    const std::string message =
        absl::StrCat(kBrokenFutureMessage, " (", cause, ")");
    for (Task& t : in_flight)
      internal::FailCall(*t.call, MakeError<BrokenProcessPool>(message));
    for (Task& t : pending)
      internal::FailCall(*t.call, MakeError<BrokenProcessPool>(message));
    while (!workers_.empty()) {
      Worker* w = workers_.back().get();
      kill(w->pid, SIGKILL);
      internal::CloseOwnedFd(w->fd);
      ReapWorker(*w);
      RemoveWorker(w);
    }
  }

  // Kills the worker of a task past its deadline; the task fails with
  // TimeoutError and the pool goes on.
  void CheckDeadlines() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      Worker* w = workers_[i].get();
      if (w->in_flight.empty() || !w->head_deadline.expired()) continue;
      kill(w->pid, SIGKILL);
      internal::CloseOwnedFd(w->fd);
      const int status = ReapWorker(*w);
      std::deque<Task> in_flight = std::move(w->in_flight);
      const pid_t pid = w->pid;
      RemoveWorker(w);
      --i;
      {
        std::lock_guard<std::mutex> lock(mu_);
        --marked_running_;
      }
      internal::FailCall(
          *in_flight.front().call,
          MakeError<TimeoutError>(absl::StrCat(
              "the task ran longer than its timeout of ",
              absl::FormatDuration(in_flight.front().timeout), "; worker ", pid,
              " was killed (", DescribeStatus(status), ") and replaced")));
      in_flight.pop_front();
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = in_flight.rbegin(); it != in_flight.rend(); ++it) {
        pending_.push_front(std::move(*it));
      }
    }
  }

  const int max_workers_;
  const ProcessPoolOptions options_;
  const internal::FrameKey key_;
  const int wake_fd_;
  std::atomic<std::uint64_t> next_id_{1};  // 0 is the initializer's
  // How long the last answer took from its call's start (or from the
  // previous answer): the manager's, read by Submit for a spin hint.
  std::atomic<std::int64_t> recent_answer_us_{0};

  mutable std::mutex mu_;
  std::deque<Task> pending_;
  bool shutdown_ = false;
  std::string broken_;           // what submit throws once the pool is broken
  std::vector<pid_t> pids_;      // live workers
  int idle_workers_ = 0;         // Python's _idle_worker_semaphore
  int marked_running_ = 0;       // RUNNING futures not yet answered
  int to_spawn_ = 0;             // workers submit asked the manager for
  // The manager is in poll and touches no worker: Submit may send to an
  // idle one itself, or must wake it.
  bool manager_asleep_ = false;
  std::uint64_t submits_ = 0;  // calls queued so far
  std::string spawn_error_;
  std::string worker_kind_ = "Process";  // "ForkProcess-1", as Python's
  std::thread manager_;
  std::mutex join_mu_;

  // The manager thread's alone.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Worker>> graveyard_;  // removed this turn
  std::unique_ptr<internal::ForkServer> fork_server_;  // kForkServer only
  std::string corrupt_;  // why the worker being read was killed, if it was
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
