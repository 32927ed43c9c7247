// Worker processes started from a clean copy of the program: the fork-server
// start method, for programs that already run threads when they make a pool
// (forking those copies their locks in whatever state they are). cf::Init on
// main's first line is what lets a worker be this very program, re-executed.
#include <unistd.h>

#include <iostream>
#include <numeric>
#include <vector>

#include "bench/count_prime.h"
#include "cf.h"

int main(int argc, char** argv) {
  cf::Init(argc, argv);  // in a worker, this serves the pool and never returns

  cf::ThreadPoolExecutor threads(2);  // threads already running: fork is unsafe
  cf::Future<int> on_a_thread = threads.submit(cf_bench::count_prime, cf_bench::kSeedFirst);

  cf::ProcessPoolExecutor pool({.max_workers = 2,
                                .start_method = cf::StartMethod::kForkServer,
                                .max_tasks_per_child = 50});
  std::vector<int> ns(100);
  std::iota(ns.begin(), ns.end(), cf_bench::kSeedFirst);
  long long sum = 0;
  for (int primes : pool.map(cf_bench::count_prime, ns, {.chunksize = 10})) {
    sum += primes;
  }
  std::cout << "sum of count_prime over the seed's inputs: " << sum
            << "; count_prime(9900) on a thread: " << on_a_thread.result()
            << std::endl;
  return sum == 881411 ? 0 : 1;
}
