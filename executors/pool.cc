#include "executors/pool.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "executors/internal/call_batch.h"
#include "executors/internal/pool_support.h"
#include "executors/transport/code_address.h"

namespace cf {
namespace {

int CheckedProcesses(const PoolOptions& options) {
  const int processes = options.processes.value_or(internal::UsableCpus());
  if (processes < 1) {
    throw std::invalid_argument("Number of processes must be at least 1");
  }
  if (options.maxtasksperchild.has_value() && *options.maxtasksperchild < 1) {
    throw std::invalid_argument(
        "maxtasksperchild must be a positive int or None");
  }
  return processes;
}

}  // namespace

Pool::Pool(int processes) : Pool(PoolOptions{.processes = processes}) {}

Pool::Pool(PoolOptions options)
    : processes_(CheckedProcesses(options)),
      executor_(ExecutorOptions(options, processes_)),
      // One task per worker in the executor, the rest queued here, where
      // terminate() can cancel them; batches only without maxtasksperchild,
      // which counts tasks.
      queue_(processes_, /*coalesce=*/!options.maxtasksperchild.has_value(),
             [this](std::shared_ptr<internal::WorkItem> task) {
               executor_.Submit(std::move(task));
             }) {
  // The transport takes its snapshot of the loaded objects on first use,
  // under a lock. Take it here, before workers are forked: a kFork worker
  // forked while this thread took it in a first submit would inherit that
  // lock held, and wait for it forever.
  internal::DescribeAddress(
      reinterpret_cast<std::uintptr_t>(&internal::BatchEntry::Run));
  // Python's Pool starts its workers in __init__, named "ForkPoolWorker-N".
  executor_.StartAllWorkers("PoolWorker");
}

Pool::~Pool() {
  terminate();
  join();
}

ProcessPoolOptions Pool::ExecutorOptions(const PoolOptions& options,
                                         int processes) {
  return {.max_workers = processes,
          .start_method = options.start_method,
          .initializer = options.initializer,
          .max_tasks_per_child = options.maxtasksperchild,
          .on_worker_death = WorkerDeath::kReplace};
}

void Pool::close() {
  State running = State::kRun;
  state_.compare_exchange_strong(running, State::kClose);
}

void Pool::terminate() {
  state_.store(State::kTerminate);
  for (const auto& feed : LiveFeeds()) feed->Detach();
  queue_.CancelQueued();
  executor_.terminate_workers();
}

void Pool::join() {
  const State state = state_.load();
  if (state == State::kRun) {
    throw std::invalid_argument("Pool is still running");
  }
  if (state == State::kClose) {
    // Python had queued every input of an imap at the call; here they are
    // sent now, so that join() waits for all of them.
    for (const auto& feed : LiveFeeds()) feed->SendRest();
  }
  queue_.WaitIdle();
  executor_.shutdown(/*wait=*/true);
  handler_.Drain();
  if (state == State::kClose) {
    for (const auto& feed : LiveFeeds()) feed->Detach();
  }
}

void Pool::CheckRunning() const {
  if (state_.load(std::memory_order_acquire) != State::kRun) {
    throw std::invalid_argument("Pool not running");
  }
}

void Pool::Send(std::shared_ptr<internal::WorkItem> task, bool single_call) {
  queue_.Push(std::move(task), single_call);
}

void Pool::AddFeed(std::weak_ptr<internal::IMapFeed> feed) {
  std::lock_guard<std::mutex> lock(feeds_mu_);
  std::erase_if(feeds_, [](const auto& f) { return f.expired(); });
  feeds_.push_back(std::move(feed));
}

std::vector<std::shared_ptr<internal::IMapFeed>> Pool::LiveFeeds() {
  std::vector<std::shared_ptr<internal::IMapFeed>> live;
  std::lock_guard<std::mutex> lock(feeds_mu_);
  for (const auto& f : feeds_) {
    if (auto feed = f.lock()) live.push_back(std::move(feed));
  }
  return live;
}

int Pool::DefaultChunksize(std::size_t n) const {
  // Python's divmod(len, 4 * processes), rounded up.
  const std::size_t per = 4 * static_cast<std::size_t>(processes_);
  return static_cast<int>(std::max<std::size_t>(1, (n + per - 1) / per));
}

void Pool::CheckChunksize(int chunksize) {
  if (chunksize < 1) {
    throw std::invalid_argument(
        absl::StrCat("Chunksize must be 1+, not ", chunksize));
  }
}

std::shared_ptr<const std::tuple<>> Pool::NoExtras() {
  static const auto* const kNone =
      new std::shared_ptr<const std::tuple<>>(std::make_shared<std::tuple<>>());
  return *kNone;
}

}  // namespace cf
