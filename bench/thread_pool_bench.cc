// Thread-pool overhead: cf::ThreadPoolExecutor against std::async, Boost.Asio's
// thread_pool, oneTBB's task_arena and a bare two-thread condvar ping-pong, in
// one binary, so that ratios come from one run on one machine.
//
// Every pool gets the same number of worker threads (--workers, default 2)
// and hands results back through a future, as cf does. Throughput submits a
// batch of no-op tasks and then waits for each; round trip submits one task
// and waits for it. Run it optimized:
//   ./bazelw run -c opt //bench:thread_pool_bench
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_arena.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/cf_workloads.h"
#include "cf.h"

namespace {

constexpr int kWorkers = 2;
using cf_bench::kBatch;
using cf_bench::Noop;

// --- Throughput: submit a batch, then wait for every result. ---------------

void BM_Throughput_Cf(benchmark::State& state) {
  cf::ThreadPoolExecutor pool(kWorkers);
  cf_bench::SubmitBatchThenWait(state, pool);
}
BENCHMARK(BM_Throughput_Cf)->UseRealTime();

void BM_Throughput_CfMap(benchmark::State& state) {
  cf::ThreadPoolExecutor pool(kWorkers);
  cf_bench::MapBatch(state, pool);
}
BENCHMARK(BM_Throughput_CfMap)->UseRealTime();

void BM_Throughput_StdAsync(benchmark::State& state) {
  // std::async starts a thread per task; a smaller batch keeps it bounded.
  constexpr int kAsyncBatch = 1000;
  std::vector<std::future<int>> futures;
  futures.reserve(kAsyncBatch);
  for (auto _ : state) {
    futures.clear();
    for (int i = 0; i < kAsyncBatch; ++i) {
      futures.push_back(std::async(std::launch::async, Noop, i));
    }
    std::int64_t sum = 0;
    for (auto& f : futures) sum += f.get();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kAsyncBatch);
}
BENCHMARK(BM_Throughput_StdAsync)->UseRealTime();

template <class Post>
void PackagedTaskThroughput(benchmark::State& state, Post post) {
  std::vector<std::future<int>> futures;
  futures.reserve(kBatch);
  for (auto _ : state) {
    futures.clear();
    for (int i = 0; i < kBatch; ++i) {
      auto task =
          std::make_shared<std::packaged_task<int()>>([i] { return Noop(i); });
      futures.push_back(task->get_future());
      post([task] { (*task)(); });
    }
    std::int64_t sum = 0;
    for (auto& f : futures) sum += f.get();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_Throughput_AsioThreadPool(benchmark::State& state) {
  boost::asio::thread_pool pool(kWorkers);
  PackagedTaskThroughput(state, [&](auto fn) { boost::asio::post(pool, fn); });
  pool.join();
}
BENCHMARK(BM_Throughput_AsioThreadPool)->UseRealTime();

void BM_Throughput_TbbTaskArena(benchmark::State& state) {
  tbb::task_arena arena(kWorkers, /*reserved_for_masters=*/0);
  PackagedTaskThroughput(state, [&](auto fn) { arena.enqueue(fn); });
}
BENCHMARK(BM_Throughput_TbbTaskArena)->UseRealTime();

// --- Round trip: one task submitted and awaited at a time. ------------------

void BM_RoundTrip_Cf(benchmark::State& state) {
  cf::ThreadPoolExecutor pool(kWorkers);
  cf_bench::RoundTrip(state, pool);
}
BENCHMARK(BM_RoundTrip_Cf)->UseRealTime();

void BM_RoundTrip_StdAsync(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::async(std::launch::async, Noop, ++i).get());
  }
}
BENCHMARK(BM_RoundTrip_StdAsync)->UseRealTime();

template <class Post>
void PackagedTaskRoundTrip(benchmark::State& state, Post post) {
  int i = 0;
  for (auto _ : state) {
    ++i;
    auto task =
        std::make_shared<std::packaged_task<int()>>([i] { return Noop(i); });
    std::future<int> f = task->get_future();
    post([task] { (*task)(); });
    benchmark::DoNotOptimize(f.get());
  }
}

void BM_RoundTrip_AsioThreadPool(benchmark::State& state) {
  boost::asio::thread_pool pool(kWorkers);
  PackagedTaskRoundTrip(state, [&](auto fn) { boost::asio::post(pool, fn); });
  pool.join();
}
BENCHMARK(BM_RoundTrip_AsioThreadPool)->UseRealTime();

void BM_RoundTrip_TbbTaskArena(benchmark::State& state) {
  tbb::task_arena arena(kWorkers, /*reserved_for_masters=*/0);
  PackagedTaskRoundTrip(state, [&](auto fn) { arena.enqueue(fn); });
}
BENCHMARK(BM_RoundTrip_TbbTaskArena)->UseRealTime();

// The floor: one thread wakes another through a mutex and condvar and is
// woken back. No allocation, no queue, no future.
void BM_RoundTrip_BareCondvarPingPong(benchmark::State& state) {
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t sent = 0, answered = 0;
  bool stop = false;
  std::thread peer([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stop || sent != answered; });
      if (stop) return;
      answered = sent;
      cv.notify_all();
    }
  });
  for (auto _ : state) {
    std::unique_lock<std::mutex> lock(mu);
    ++sent;
    cv.notify_all();
    cv.wait(lock, [&] { return answered == sent; });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_all();
  peer.join();
}
BENCHMARK(BM_RoundTrip_BareCondvarPingPong)->UseRealTime();

// --- Idle cost: CPU time the process burns while a pool has no work. --------

double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

void BM_IdleCpu_Cf(benchmark::State& state) {
  cf::ThreadPoolExecutor pool(kWorkers);
  for (int i = 0; i < kWorkers; ++i) pool.submit(Noop, i).result();
  double cpu = 0, wall = 0;
  for (auto _ : state) {
    const double cpu0 = ProcessCpuSeconds();
    const absl::Time t0 = absl::Now();
    absl::SleepFor(absl::Milliseconds(200));
    cpu += ProcessCpuSeconds() - cpu0;
    wall += absl::ToDoubleSeconds(absl::Now() - t0);
  }
  // Fraction of one core used while idle: 0 means idle workers sleep.
  state.counters["idle_cpu_fraction"] = cpu / wall;
}
BENCHMARK(BM_IdleCpu_Cf)->Iterations(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
