// The no-op workloads both pool benchmarks run on cf's executors, written
// once against cf::Executor& so threads and processes do the same work.
#ifndef CF_BENCH_CF_WORKLOADS_H_
#define CF_BENCH_CF_WORKLOADS_H_

#include <benchmark/benchmark.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "cf.h"

namespace cf_bench {

inline constexpr int kBatch = 10000;

inline int Noop(int x) { return x; }

// Submits a batch of no-op tasks, then waits for every result.
inline void SubmitBatchThenWait(benchmark::State& state,
                                cf::Executor& executor) {
  std::vector<cf::Future<int>> futures;
  futures.reserve(kBatch);
  for (auto _ : state) {
    futures.clear();
    for (int i = 0; i < kBatch; ++i)
      futures.push_back(executor.submit(Noop, i));
    std::int64_t sum = 0;
    for (auto& f : futures) sum += f.result();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// Maps the no-op over a batch of inputs.
inline void MapBatch(benchmark::State& state, cf::Executor& executor,
                     int chunksize = 1) {
  std::vector<int> inputs(kBatch);
  std::iota(inputs.begin(), inputs.end(), 0);
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (int r : executor.map(Noop, inputs, {.chunksize = chunksize})) sum += r;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// One task submitted and awaited at a time.
inline void RoundTrip(benchmark::State& state, cf::Executor& executor) {
  executor.submit(Noop, 0).result();  // a worker is up
  int i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(executor.submit(Noop, ++i).result());
}

}  // namespace cf_bench

#endif  // CF_BENCH_CF_WORKLOADS_H_
