// cf::ThreadPoolExecutor: runs calls on a pool of threads, as Python's
// concurrent.futures.ThreadPoolExecutor.
//
// Threads start on demand, one per submit while none is idle, up to
// max_workers, and idle ones are reused. Beyond Python: a call that waits on
// another future (result(), exception(), wait(), as_completed()) from a worker
// thread runs queued calls of the pool meanwhile, so tasks that wait on tasks
// of the same pool cannot deadlock it when every worker is busy.
//
//   cf::ThreadPoolExecutor pool({.max_workers = 4,
//                                .thread_name_prefix = "fetch"});
//   cf::Future<std::string> page = pool.submit(Fetch, url);
//   ...
//   // leaving the scope waits for the pool's work, like Python's `with`
#ifndef CF_EXECUTORS_THREAD_POOL_EXECUTOR_H_
#define CF_EXECUTORS_THREAD_POOL_EXECUTOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "executors/executor.h"

namespace cf {

struct ThreadPoolOptions {
  // Default: min(32, CPUs usable by this process + 4). Must be > 0.
  std::optional<int> max_workers = {};
  // Threads are named "<prefix>_<n>"; default "ThreadPoolExecutor-<k>_<n>".
  // The OS sees the first 15 characters (pthread_setname_np's limit).
  std::string thread_name_prefix = {};
  // Runs once in each new worker thread before it takes work (Python's
  // initializer with its initargs: bind them into the callable). If it
  // throws, the pool is broken: pending and new work get
  // cf::BrokenThreadPool.
  std::function<void()> initializer = {};
};

class ThreadPoolExecutor final : public Executor {
 public:
  // Throws std::invalid_argument("max_workers must be greater than 0").
  explicit ThreadPoolExecutor(int max_workers);
  explicit ThreadPoolExecutor(ThreadPoolOptions options = {});
  // shutdown(wait=true).
  ~ThreadPoolExecutor() override;

  void shutdown(bool wait = true, bool cancel_futures = false) override;

  int max_workers() const;
  // Worker threads started so far (Python's len(executor._threads)).
  int num_threads() const;

  // The cf name of the calling thread ("<prefix>_<n>" for a worker of any
  // ThreadPoolExecutor), or "" for other threads.
  static std::string current_thread_name();

 protected:
  void Submit(std::shared_ptr<internal::WorkItem> call) override;
  // map() without a buffersize queues one batch its threads share, each
  // taking one call at a time (map_batch.h), instead of a call per input.
  bool BatchesMap() const override { return true; }

 private:
  class Pool;
  std::shared_ptr<Pool> pool_;
};

}  // namespace cf

#endif  // CF_EXECUTORS_THREAD_POOL_EXECUTOR_H_
