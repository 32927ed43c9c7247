// cf::ProcessPoolExecutor: runs calls in worker processes, as Python's
// concurrent.futures.ProcessPoolExecutor: crash isolation, no shared heap,
// and the same submit / map / shutdown as every cf::Executor.
//
// What crosses the process boundary: a free function or a captureless
// lambda (no registration, no macro), and arguments and results that cereal
// can serialize (scalars, std::string, standard containers, tuples, pairs,
// optionals, and types with a cereal serialize()). A capturing lambda is a
// compile error here, and std::invalid_argument through cf::Executor&.
//
//   int count_prime(int n);
//
//   cf::ProcessPoolExecutor pool(4);
//   cf::Future<int> f = pool.submit(count_prime, 9973);
//   for (int r : pool.map(count_prime, values)) ...
//
// A task that throws fails its future with the same standard exception type
// (or cf::RemoteError), with a cf::RemoteTraceback nested in it naming the
// worker's pid and where it threw (executors/remote_error.h). A worker that
// dies breaks the pool, as in Python: every pending and running future, and
// every later submit, get cf::BrokenProcessPool naming the worker's pid and
// how it ended; with .on_worker_death = cf::WorkerDeath::kReplace only the
// task that was running on it fails, and the pool goes on.
//
// Workers are forked from this process by default (StartMethod::kFork), all
// of them on the first submit, as Python 3.11+ does: by the submitting
// thread itself when it is the main thread, before the pool has a thread of
// its own (a worker dies with the thread that forked it, so another thread
// leaves the forks to the pool's manager). kSpawn and kForkServer
// start them from a fresh run of this program, which is safe when the
// program already has threads; they need cf::Init(argc, argv) on main's
// first line (executors/init.h).
//
// The destructor is shutdown(wait=true): it waits for running tasks, as
// Python's `with` block does, so a worker that never finishes (a stopped
// one, a deadlocked task) makes it wait. Bound such tasks with
// .task_timeout, or call kill_workers() first.
#ifndef CF_EXECUTORS_PROCESS_POOL_EXECUTOR_H_
#define CF_EXECUTORS_PROCESS_POOL_EXECUTOR_H_

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "executors/executor.h"
#include "executors/transport/remote_call.h"
#include "futures/errors.h"

namespace cf {

class Pool;  // multiprocessing.Pool (executors/pool.h)

// A worker process died while the pool was in use (Python's
// concurrent.futures.process.BrokenProcessPool).
class BrokenProcessPool : public BrokenExecutor {
 public:
  using BrokenExecutor::BrokenExecutor;
};

// How worker processes are started.
// kSpawn and kForkServer re-execute this program, so main() must call
// cf::Init(argc, argv) first (executors/init.h).
enum class StartMethod {
  kFork,        // a copy of the parent: needs nothing from the user
  kSpawn,       // each worker a fresh run of this program
  kForkServer,  // a fresh run of this program forks the workers
};

// What a worker's death does to the pool.
enum class WorkerDeath {
  kBreakPool,  // Python's behaviour: the pool is unusable from then on
  kReplace,    // only the task that was running on it fails; a new worker
               // takes its place
};

// A function plus arguments, run once in each worker process before it takes
// tasks (Python's initializer and initargs):
//   .initializer = {set_up, std::string("config.json")}
class ProcessInitializer {
 public:
  ProcessInitializer() = default;
  template <class F, class... Args>
  ProcessInitializer(F fn, Args... args) {
    using Remote = internal::RemoteCallTraits<void, F, Args...>;
    static_assert(Remote::kRemotable,
                  "cf::ProcessInitializer: a capturing lambda cannot run in a "
                  "worker process; use a free function or captureless lambda "
                  "and pass the state as arguments");
    static_assert(std::is_void_v<std::invoke_result_t<F, Args...>>,
                  "cf::ProcessInitializer: the initializer must return void");
    internal::EncodeCall<void>(fn, std::tuple<Args...>(std::move(args)...),
                               &call_);
  }
  bool empty() const { return call_.empty(); }
  // The encoded call (internal/remote_call.h).
  const std::string& encoded() const { return call_; }

 private:
  std::string call_;
};

struct ProcessPoolOptions {
  // Default: the CPUs usable by this process. Must be > 0.
  std::optional<int> max_workers = {};
  // Default: kFork, or kSpawn when max_tasks_per_child is set (as Python).
  std::optional<StartMethod> start_method = {};
  ProcessInitializer initializer = {};
  // A worker exits after this many tasks and a fresh one takes its place
  // (Python's max_tasks_per_child). Must be >= 1; not with kFork.
  std::optional<int> max_tasks_per_child = {};
  WorkerDeath on_worker_death = WorkerDeath::kBreakPool;
  // Bounds every task's run time (pebble-style): past it, the worker running
  // the task is killed and replaced, and the task's future fails with
  // cf::TimeoutError; the pool goes on. Infinite: no bound.
  absl::Duration task_timeout = absl::InfiniteDuration();
};

// Per-call options for ProcessPoolExecutor::submit:
//   pool.submit({.timeout = absl::Seconds(5)}, fn, args...);
struct TaskOptions {
  // Like ProcessPoolOptions::task_timeout, for this call; overrides it.
  absl::Duration timeout = absl::InfiniteDuration();
};

class ProcessPoolExecutor final : public Executor {
 public:
  // Throws std::invalid_argument("max_workers must be greater than 0").
  explicit ProcessPoolExecutor(int max_workers);
  explicit ProcessPoolExecutor(ProcessPoolOptions options = {});
  // shutdown(wait=true): every worker is reaped, every descriptor closed.
  ~ProcessPoolExecutor() override;

  // Like Executor::submit, with the process boundary checked at compile time.
  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  Future<internal::CallResult<F, Args...>> submit(F&& fn, Args&&... args) {
    CheckRemotable<F, Args...>();
    return Executor::submit(std::forward<F>(fn), std::forward<Args>(args)...);
  }
  // With per-call options:
  //   pool.submit({.timeout = absl::Seconds(5)}, fn, args...);
  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  Future<internal::CallResult<F, Args...>> submit(TaskOptions options, F&& fn,
                                                  Args&&... args) {
    CheckRemotable<F, Args...>();
    using R = internal::CallResult<F, Args...>;
    auto call = std::make_shared<
        internal::CallState<R, std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(fn), std::forward<Args>(args)...);
    Future<R> future(call);
    SubmitWithOptions(std::move(call), options);
    return future;
  }
  using Executor::map;

  void shutdown(bool wait = true, bool cancel_futures = false) override;

  // Python 3.14: shutdown(wait=false, cancel_futures=true), then SIGTERM
  // (terminate_workers) or SIGKILL (kill_workers) to every live worker. Their
  // running tasks fail with cf::BrokenProcessPool.
  void terminate_workers();
  void kill_workers();

  int max_workers() const;
  // The start method in use (kSpawn if none was given with
  // max_tasks_per_child, as in Python).
  StartMethod start_method() const;
  // Worker processes alive now (Python's len(executor._processes)).
  int num_workers() const;

 protected:
  void Submit(std::shared_ptr<internal::WorkItem> call) override;
  bool ChunksMap() const override { return true; }

 private:
  template <class F, class... Args>
  static constexpr void CheckRemotable() {
    using Remote = internal::RemoteCallTraits<internal::CallResult<F, Args...>,
                                              std::decay_t<F>,
                                              std::decay_t<Args>...>;
    static_assert(Remote::kCallable,
                  "cf::ProcessPoolExecutor::submit: a capturing lambda or "
                  "stateful function object cannot run in another process; "
                  "pass a free function or a captureless lambda, and pass the "
                  "state as arguments instead");
    static_assert(Remote::kArgumentsSerializable,
                  "cf::ProcessPoolExecutor::submit: an argument type cannot be "
                  "serialized; give it a cereal serialize() (and a default "
                  "constructor) or pass standard types");
    static_assert(Remote::kResultSerializable,
                  "cf::ProcessPoolExecutor::submit: the result type cannot be "
                  "serialized; give it a cereal serialize() (and a default "
                  "constructor) or return standard types");
  }
  void SubmitWithOptions(std::shared_ptr<internal::WorkItem> call,
                         const TaskOptions& options);

  // For cf::Pool (multiprocessing.Pool): starts every worker now, naming
  // them "<Method><kind>-N" ("ForkPoolWorker-3") instead of Python's
  // executor names ("ForkProcess-3").
  friend class cf::Pool;
  void StartAllWorkers(std::string kind);

  class Pool;
  std::unique_ptr<Pool> pool_;
};

}  // namespace cf

#endif  // CF_EXECUTORS_PROCESS_POOL_EXECUTOR_H_
