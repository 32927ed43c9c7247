#include "executors/process_pool_executor.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "executors/internal/pool_manager.h"
#include "executors/internal/pool_state.h"
#include "executors/internal/pool_support.h"
#include "executors/internal/worker_registry.h"
#include "executors/transport/frame.h"
#include "executors/transport/reexec.h"
#include "futures/internal/future_state.h"

namespace cf {
namespace {

using internal::CancelQueued;
using internal::FrameKind;
using internal::RemoteTask;
using internal::WorkItem;

// Waiters spin longer than usual for calls whose recent peers were answered
// within this long (see Submit).
constexpr std::chrono::microseconds kSpinForAnswersUnder{150};

}  // namespace

// The public calls, on the pieces Python's process.py has too: the shared
// state with its call queue (internal/pool_state.h), the worker registry
// (internal/worker_registry.h) and the manager thread
// (internal/pool_manager.h).
class ProcessPoolExecutor::Pool {
 public:
  Pool(int max_workers, ProcessPoolOptions options)
      : max_workers_(max_workers),
        options_(std::move(options)),
        key_(internal::FrameKey::Random()),
        state_(max_workers),
        registry_(max_workers, options_, key_, state_.mu),
        manager_(state_, registry_, options_) {}

  ~Pool() { Shutdown(/*wait=*/true, /*cancel_futures=*/false); }

  int max_workers() const { return max_workers_; }
  StartMethod start_method() const { return *options_.start_method; }
  absl::Duration task_timeout() const { return options_.task_timeout; }

  int num_workers() const {
    std::lock_guard<std::mutex> lock(state_.mu);
    return registry_.LiveLocked();
  }

  void Submit(std::shared_ptr<WorkItem> call, absl::Duration timeout) {
    {
      std::lock_guard<std::mutex> lock(state_.mu);
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
    const std::int64_t recent =
        state_.recent_answer_us.load(std::memory_order_relaxed);
    if (recent > 0 && recent < kSpinForAnswersUnder.count()) {
      call->future().SetSpinHint(std::chrono::microseconds(2 * recent + 20));
    }
    task.call = std::move(call);
    task.timeout = timeout;
    bool wake = false;
    std::deque<RemoteTask> dropped;  // cancelled meanwhile; destroyed unlocked
    {
      std::lock_guard<std::mutex> lock(state_.mu);
      ThrowIfClosedLocked();
      // Before the call is queued: if no thread can be started, the call
      // must not be left pending forever (Python: BrokenProcessPool). A
      // kFork pool starts every worker now, before the program grows more
      // threads (Python since 3.11, gh-90622): forking later is what makes
      // fork unsafe.
      StartLocked(/*all_workers=*/*options_.start_method ==
                      StartMethod::kFork &&
                  state_.submits == 0);
      state_.queue.Push(std::move(task));
      registry_.AdjustCountLocked();
      ++state_.submits;
      // A manager that is awake sees the call on its next turn. One that
      // sleeps in poll touches no worker: if one is idle, the call goes to it
      // from here, and the manager wakes only for the answer (a wake-up saved
      // costs as much as a tiny call's whole round trip).
      if (state_.manager_asleep && (registry_.SpawnsRequestedLocked() ||
                                    !manager_.SendDirectLocked(dropped))) {
        wake = true;
        state_.manager_asleep = false;
      }
    }
    if (wake) manager_.Wake();
  }

  void Shutdown(bool wait, bool cancel_futures) {
    std::deque<RemoteTask> cancelled;
    {
      std::lock_guard<std::mutex> lock(state_.mu);
      state_.shutdown = true;
      // Those already RUNNING still go to a worker, as in Python.
      if (cancel_futures) cancelled = state_.queue.TakeNotRunning();
    }
    for (RemoteTask& task : cancelled) CancelQueued(*task.call);
    manager_.Wake();
    if (wait) manager_.Join();
  }

  // multiprocessing.Pool's eager start, and its workers' names.
  void StartAllWorkers(std::string kind) {
    {
      std::lock_guard<std::mutex> lock(state_.mu);
      ThrowIfClosedLocked();
      registry_.SetKindLocked(std::move(kind));
      StartLocked(/*all_workers=*/true);
      state_.manager_asleep = false;
    }
    manager_.Wake();
  }

  void SignalWorkers(int sig) {
    Shutdown(/*wait=*/false, /*cancel_futures=*/true);
    std::lock_guard<std::mutex> lock(state_.mu);
    // The deaths this causes end the pool, even with kReplace: the calls
    // behind the killed ones fail rather than start new workers.
    state_.terminating = true;
    // A worker asked for but not started yet would take the calls already
    // RUNNING and run them to the end: none is started.
    registry_.CancelRequestsLocked();
    registry_.SignalAllLocked(sig);
  }

 private:
  // Starts the manager thread unless it runs, after asking for every worker
  // if `all_workers`. A kFork pool's workers are then forked here first when
  // this is the main thread, so that no thread of the pool runs during the
  // forks (WorkerRegistry::SpawnAllBeforeManagerLocked); any other thread
  // may end before the pool does, and its workers would die with it.
  void StartLocked(bool all_workers) {
    if (all_workers) registry_.RequestAllLocked();
    if (manager_.StartedLocked()) return;
    const bool fork_here = all_workers &&
                           *options_.start_method == StartMethod::kFork &&
                           gettid() == getpid();
    if (fork_here) registry_.SpawnAllBeforeManagerLocked();
    try {
      manager_.StartLocked();
    } catch (...) {
      if (fork_here) registry_.KillAllBeforeManagerLocked();
      throw;
    }
  }

  // Python checks "broken" before "shut down".
  void ThrowIfClosedLocked() const {
    if (!state_.broken.empty()) throw BrokenProcessPool(state_.broken);
    if (state_.shutdown) {
      throw std::runtime_error("cannot schedule new futures after shutdown");
    }
  }

  const int max_workers_;
  const ProcessPoolOptions options_;
  const internal::FrameKey key_;
  std::atomic<std::uint64_t> next_id_{1};  // 0 is the initializer's
  internal::PoolState state_;
  internal::WorkerRegistry registry_;
  internal::PoolManager manager_;  // last: its thread uses the others
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
