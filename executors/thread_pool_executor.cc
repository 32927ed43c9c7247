#include "executors/thread_pool_executor.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executors/internal/pool_support.h"
#include "executors/internal/submit_inbox.h"
#include "futures/errors.h"
#include "futures/internal/blocking_hook.h"
#include "futures/internal/future_state.h"
#include "futures/internal/spin.h"

namespace cf {
namespace {

using internal::CancelQueued;
using internal::WorkItem;

std::atomic<int> pool_counter{0};
thread_local std::string current_name;

// A child forked from a worker is not a worker (blocking_hook.cc likewise).
const bool forget_name_in_child = [] {
  pthread_atfork(nullptr, nullptr, [] { current_name.clear(); });
  return true;
}();

// Fields that different threads write apart (alignas): a typical line.
constexpr std::size_t kCacheLine = 64;

constexpr char kBrokenMessage[] =
    "A thread initializer failed, the thread pool is not usable anymore";

}  // namespace

// Shared by the executor and its threads, so that a pool shut down or
// destroyed from one of its own workers outlives that worker.
class ThreadPoolExecutor::Pool final
    : public internal::BlockingHook,
      public std::enable_shared_from_this<ThreadPoolExecutor::Pool> {
 public:
  Pool(int max_workers, std::string prefix, std::function<void()> initializer)
      : max_workers_(max_workers),
        prefix_(std::move(prefix)),
        initializer_(std::move(initializer)) {}

  int max_workers() const { return max_workers_; }

  int num_threads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(threads_.size());
  }

  void Submit(std::shared_ptr<WorkItem> call) {
    // A batch is one item that up to Width() threads take calls from; to
    // start threads and wake sleepers it counts as that many calls.
    const std::size_t width =
        std::min<std::size_t>(call->Width(), static_cast<std::size_t>(max_workers_));
    if (width == 1 &&
        started_.load(std::memory_order_acquire) == max_workers_) {
      // Every thread runs: no mutex unless someone sleeps (see inbox_). No
      // idle token is taken: with every thread started, none would decide
      // anything (AdjustThreadCountLocked), and the workers write the count.
      if (inbox_.TryPush(call)) {
        // After the push: a worker about to sleep counts itself first and
        // then looks at the inbox again (WorkerMain), so one of us sees
        // the other. Taking the mutex waits until it really waits.
        const bool wake_sleeper = sleeping_.load(std::memory_order_seq_cst) > 0;
        const bool wake_blocked = blocked_.load(std::memory_order_seq_cst) > 0;
        if (wake_sleeper || wake_blocked) {
          bool notify = false;
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (wake_blocked) ++wake_generation_;
            notify = wake_sleeper && ClaimSleeperLocked();
          }
          if (notify) work_cv_.notify_one();
          if (wake_blocked) help_cv_.notify_all();
        }
        return;
      }
      // Shut down or broken: the locked path says which.
    }
    bool wake_sleeper = false;
    bool wake_blocked = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (broken_) throw BrokenThreadPool(kBrokenMessage);
      if (shutdown_) {
        throw std::runtime_error("cannot schedule new futures after shutdown");
      }
      DrainInboxLocked();  // calls pushed before this one go first
      queue_.push_back(std::move(call));
      queued_.store(queue_.size(), std::memory_order_relaxed);
      // A batch wakes every sleeper, a call one.
      while (ClaimSleeperLocked()) {
        wake_sleeper = true;
        if (width == 1) break;
      }
      if (blocked_.load(std::memory_order_relaxed) > 0) {
        ++wake_generation_;  // a blocked worker may be waiting for this call
        wake_blocked = true;
      }
      for (std::size_t i = 0; i < width; ++i) AdjustThreadCountLocked();
    }
    // Notified after unlocking: a thread woken while the lock is held only
    // blocks on it again, a second wake-up for each call. The pool outlives
    // this (the executor holds it), so the condition variables do too.
    if (wake_sleeper) {
      if (width > 1) {
        work_cv_.notify_all();
      } else {
        work_cv_.notify_one();
      }
    }
    if (wake_blocked) help_cv_.notify_all();
  }

  // `from_destructor`: the executor is going away, so a worker that shuts
  // its own pool down is detached rather than left for a later join.
  void Shutdown(bool wait, bool cancel_futures, bool from_destructor = false) {
    std::deque<std::shared_ptr<WorkItem>> cancelled;
    inbox_.Close();  // later submits take the locked path and throw
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
      DrainInboxLocked();
      if (cancel_futures) {
        cancelled.swap(queue_);
        queued_.store(0, std::memory_order_relaxed);
      }
    }
    work_cv_.notify_all();
    for (auto& call : cancelled) CancelQueued(*call);
    if (wait) JoinThreads(from_destructor);
  }

  void BlockUntil(absl::FunctionRef<bool()> done,
                  absl::FunctionRef<bool(const internal::FutureStateBase&)>
                      awaited) override {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      const std::uint64_t generation = wake_generation_;
      lock.unlock();
      if (done()) return;
      lock.lock();
      DrainInboxLocked();
      // Run an awaited call ourselves if it is still queued: no other worker
      // may ever get to it.
      auto it = std::find_if(queue_.begin(), queue_.end(),
                             [&](const std::shared_ptr<WorkItem>& call) {
                               return call->Holds(awaited);
                             });
      if (it != queue_.end()) {
        std::shared_ptr<WorkItem> call = *it;
        const bool shared = call->Shared();
        if (!shared) {
          queue_.erase(it);
          queued_.store(queue_.size(), std::memory_order_relaxed);
        }
        lock.unlock();
        if (shared) {
          // A batch holding the awaited call: take its calls in turn until
          // ours is done (by us or by whichever thread claimed it).
          call->RunUntil(done);
          lock.lock();
          RetireLocked(call);
          lock.unlock();
        } else {
          RunCall(call, /*nested=*/true);
        }
        call.reset();
        lock.lock();
        continue;
      }
      // Counted before the inbox is looked at again, as in WorkerMain.
      blocked_.fetch_add(1, std::memory_order_seq_cst);
      if (inbox_.empty()) {
        help_cv_.wait(lock, [&] { return wake_generation_ != generation; });
      }
      blocked_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void Wake() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++wake_generation_;
    }
    help_cv_.notify_all();
  }

 private:
  // Python's _adjust_thread_count: an idle worker, if one has said so, takes
  // the new call; otherwise start a thread, up to max_workers.
  void AdjustThreadCountLocked() {
    if (TakeIdleToken()) return;
    if (static_cast<int>(threads_.size()) >= max_workers_) return;
    const int index = static_cast<int>(threads_.size());
    try {
      threads_.emplace_back(
          [self = shared_from_this(), index] { self->WorkerMain(index); });
      started_.store(index + 1, std::memory_order_release);
    } catch (const std::system_error& e) {
      if (!threads_.empty()) return;  // the running workers will get to it
      queue_.pop_back();
      queued_.store(queue_.size(), std::memory_order_relaxed);
      throw std::runtime_error(
          absl::StrCat("cannot start a worker thread: ", e.what()));
    }
  }

  bool TakeIdleToken() {
    int tokens = idle_tokens_.load(std::memory_order_relaxed);
    while (tokens > 0) {
      if (idle_tokens_.compare_exchange_weak(tokens, tokens - 1,
                                             std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  // Sleepers are counted in sleeping_ until a submitter claims one for its
  // wake-up (moving it to signals_), so that the calls submitted while the
  // woken thread gets going do not each take the mutex and notify again.
  // Whoever leaves the sleep takes a claim if there is one, else its own
  // count: claims are interchangeable, and sleeping_ + signals_ is always
  // the number of threads in the sleep.
  bool ClaimSleeperLocked() {
    if (sleeping_.load(std::memory_order_relaxed) == 0) return false;
    sleeping_.fetch_sub(1, std::memory_order_relaxed);
    ++signals_;
    return true;
  }
  void LeaveSleepLocked() {
    if (signals_ > 0) {
      --signals_;
    } else {
      sleeping_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void DrainInboxLocked() {
    inbox_.DrainTo(queue_);
    queued_.store(queue_.size(), std::memory_order_relaxed);
  }

  // The next call to run, or null: a batch stays queued, for the other
  // threads, until all its calls are taken.
  std::shared_ptr<WorkItem> PopLocked() {
    DrainInboxLocked();
    while (!queue_.empty()) {
      WorkItem& front = *queue_.front();
      if (front.Shared() && !front.Exhausted()) return queue_.front();
      std::shared_ptr<WorkItem> call = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_relaxed);
      if (!call->Shared()) return call;
    }
    return nullptr;
  }

  // A batch this thread ran out of calls to take leaves the queue.
  void RetireLocked(const std::shared_ptr<WorkItem>& batch) {
    auto it = std::find(queue_.begin(), queue_.end(), batch);
    if (it != queue_.end() && batch->Exhausted()) {
      queue_.erase(it);
      queued_.store(queue_.size(), std::memory_order_relaxed);
    }
  }

  // `nested`: run by a worker blocked inside another call, which stays busy.
  void RunCall(const std::shared_ptr<WorkItem>& call, bool nested) {
    try {
      call->Run([this, nested, &call] {
        // Say "idle" before the result wakes anyone, so that a caller who
        // submits again right after result() reuses this thread (Python
        // releases its idle semaphore when it finds the queue empty). A
        // batch says it when this thread is out of its calls, which is
        // when the batch can leave the queue.
        if (nested) return;
        if (call->Shared()) {
          std::lock_guard<std::mutex> lock(mu_);
          RetireLocked(call);
          if (!queue_.empty()) return;
        } else if (queued_.load(std::memory_order_relaxed) != 0 ||
                   inbox_.maybe_nonempty()) {  // a hint, as queued_ is
          return;
        }
        // Capped: once every thread runs, submits stop taking tokens.
        if (idle_tokens_.load(std::memory_order_relaxed) < max_workers_) {
          idle_tokens_.fetch_add(1, std::memory_order_relaxed);
        }
      });
    } catch (...) {
      // Only reachable when someone set the executor's future by hand;
      // the worker must survive it.
    }
  }

  void WorkerMain(int index) {
    current_name = absl::StrCat(prefix_, "_", index);
    pthread_setname_np(pthread_self(), current_name.substr(0, 15).c_str());
    internal::BlockingHook::SetCurrent(this);
    if (initializer_) {
      try {
        initializer_();
      } catch (...) {
        std::string message = absl::StrCat(
            "Exception in initializer:\n",
            internal::DescribeException(std::current_exception()), "\n");
        std::fputs(message.c_str(), stderr);
        Break();
        internal::BlockingHook::SetCurrent(nullptr);
        return;
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (std::shared_ptr<WorkItem> call = PopLocked()) {
        lock.unlock();
        RunCall(call, /*nested=*/false);
        call.reset();  // drop the call before sleeping
                       // (test_no_stale_references)
        lock.lock();
        continue;
      }
      if (shutdown_ || broken_) break;
      // One idle worker at a time watches the queue for a moment before
      // sleeping, so that a call submitted right away needs no wake-up.
      if (spinning_ == 0) {
        ++spinning_;
        lock.unlock();
        internal::SpinUntil(
            [this] {
              // Paced: each look pulls the line a submitter is writing.
              for (int i = 0; i < 16; ++i) internal::CpuRelax();
              return queued_.load(std::memory_order_relaxed) > 0 ||
                     inbox_.maybe_nonempty();
            },
            std::chrono::microseconds(50));
        lock.lock();
        --spinning_;
        if (!queue_.empty() || !inbox_.empty()) continue;
        if (shutdown_ || broken_) break;
      }
      // Counted before the inbox is looked at again: a submit that pushed
      // after this look reads the count and wakes us (Submit).
      sleeping_.fetch_add(1, std::memory_order_seq_cst);
      if (inbox_.empty()) work_cv_.wait(lock);
      LeaveSleepLocked();
    }
    lock.unlock();
    internal::BlockingHook::SetCurrent(nullptr);
  }

  // Python's _initializer_failed: fail every queued call, refuse new ones.
  void Break() {
    std::deque<std::shared_ptr<WorkItem>> pending;
    inbox_.Close();  // later submits take the locked path and throw
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = true;
      DrainInboxLocked();
      pending.swap(queue_);
      queued_.store(0, std::memory_order_relaxed);
    }
    work_cv_.notify_all();
    for (auto& call : pending) {
      internal::FailCall(
          *call, std::make_exception_ptr(BrokenThreadPool(kBrokenMessage)));
    }
  }

  void JoinThreads(bool detach_self) {
    std::lock_guard<std::mutex> join_lock(join_mu_);
    // No thread is added once shutdown_ is set, so the list is stable here.
    for (std::thread& t : threads_) {
      if (!t.joinable()) continue;
      if (t.get_id() == std::this_thread::get_id()) {
        // A worker cannot join itself; it holds the pool alive and exits
        // once its call returns.
        if (detach_self) t.detach();
        continue;
      }
      t.join();
    }
  }

  const int max_workers_;
  const std::string prefix_;
  const std::function<void()> initializer_;

  // Read by every submit and written rarely: a line of their own, apart
  // from what workers write for every call. Sharing one, a submit missed
  // in the cache on each of these loads (perf: most of Submit's samples).
  alignas(kCacheLine) std::atomic<int> started_{0};  // threads_.size()
  std::atomic<int> sleeping_{0};  // threads waiting on work_cv_, unclaimed
  std::atomic<int> blocked_{0};   // threads waiting on help_cv_
  // Submits once every thread runs (and nothing is a batch): pushed here
  // without mu_, moved into queue_ by whoever next holds mu_; closed by
  // shutdown and by a broken initializer.
  alignas(kCacheLine) internal::SubmitInbox inbox_;

  // The workers' side.
  alignas(kCacheLine) mutable std::mutex mu_;
  std::condition_variable work_cv_;  // idle workers wait here for calls
  std::condition_variable help_cv_;  // workers blocked in BlockUntil wait here
  std::deque<std::shared_ptr<WorkItem>> queue_;
  std::vector<std::thread> threads_;
  int signals_ = 0;   // wake-ups claimed, not yet taken (ClaimSleeperLocked)
  int spinning_ = 0;  // idle threads watching queued_ before they sleep
  bool shutdown_ = false;
  bool broken_ = false;
  std::uint64_t wake_generation_ = 0;  // bumped by Wake() and by submit
  std::atomic<std::size_t> queued_{0};  // queue_.size(), readable unlocked
  std::atomic<int> idle_tokens_{0};     // Python's _idle_semaphore
  std::mutex join_mu_;
};

ThreadPoolExecutor::ThreadPoolExecutor(int max_workers)
    : ThreadPoolExecutor(ThreadPoolOptions{.max_workers = max_workers}) {}

ThreadPoolExecutor::ThreadPoolExecutor(ThreadPoolOptions options) {
  const int max_workers = internal::CheckedMaxWorkers(
      options.max_workers, std::min(32, internal::UsableCpus() + 4));
  std::string prefix =
      options.thread_name_prefix.empty()
          ? absl::StrCat("ThreadPoolExecutor-", pool_counter.fetch_add(1))
          : std::move(options.thread_name_prefix);
  pool_ = std::make_shared<Pool>(max_workers, std::move(prefix),
                                 std::move(options.initializer));
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  pool_->Shutdown(/*wait=*/true, /*cancel_futures=*/false,
                  /*from_destructor=*/true);
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  pool_->Shutdown(wait, cancel_futures);
}

int ThreadPoolExecutor::max_workers() const { return pool_->max_workers(); }
int ThreadPoolExecutor::num_threads() const { return pool_->num_threads(); }

std::string ThreadPoolExecutor::current_thread_name() { return current_name; }

void ThreadPoolExecutor::Submit(std::shared_ptr<internal::WorkItem> call) {
  pool_->Submit(std::move(call));
}

}  // namespace cf
