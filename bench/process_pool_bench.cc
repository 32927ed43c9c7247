// Process-pool overhead: cf::ProcessPoolExecutor against a bare socketpair
// ping-pong between two processes, in one binary, so that ratios come from
// one run on one machine. Python's ProcessPoolExecutor is measured by
// bench/python_executors.py on the same machine.
//   ./bazelw run -c opt //bench:process_pool_bench
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/cf_workloads.h"
#include "cf.h"

namespace {

constexpr int kWorkers = 2;

// The floor: one byte-sized message each way between two processes.
void BM_RoundTrip_BareSocketpairPingPong(benchmark::State& state) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    char buf[64];
    while (read(fds[1], buf, sizeof(buf)) > 0) {
      if (write(fds[1], buf, 8) != 8) break;
    }
    _exit(0);
  }
  close(fds[1]);
  char buf[64] = {};
  for (auto _ : state) {
    if (write(fds[0], buf, 8) != 8 || read(fds[0], buf, sizeof(buf)) <= 0) {
      state.SkipWithError("ping-pong failed");
      break;
    }
  }
  close(fds[0]);
  waitpid(child, nullptr, 0);
}
BENCHMARK(BM_RoundTrip_BareSocketpairPingPong)->UseRealTime();

void BM_RoundTrip_CfProcessPool(benchmark::State& state) {
  cf::ProcessPoolExecutor pool(1);
  cf_bench::RoundTrip(state, pool);
}
BENCHMARK(BM_RoundTrip_CfProcessPool)->UseRealTime();

void BM_Throughput_CfProcessPoolSubmit(benchmark::State& state) {
  cf::ProcessPoolExecutor pool(kWorkers);
  cf_bench::SubmitBatchThenWait(state, pool);
}
BENCHMARK(BM_Throughput_CfProcessPoolSubmit)->UseRealTime();

// Argument: the chunksize.
void BM_Throughput_CfProcessPoolMap(benchmark::State& state) {
  cf::ProcessPoolExecutor pool(kWorkers);
  cf_bench::MapBatch(state, pool, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_Throughput_CfProcessPoolMap)->Arg(1)->Arg(1000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
