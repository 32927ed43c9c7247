// Seed 002 ("Multiprocessing & Parmap"): the main process's name and pid,
// then what the post recommends over hand-written Pool code, the parmap
// package's one-liners: parmap.map(f, xs, *args) and parmap.starmap(f,
// pairs, *args), each one line that makes a pool, maps, and closes it, here
// cf::parallel_map and cf::parallel_starmap, with parmap's options.
#include <unistd.h>

#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "bench/count_prime.h"
#include "cf.h"

// parmap's README example: f(x, a, b) over xs, with a and b fixed.
int f(int x, int a, int b) { return a * x + b; }
// starmap: g(x, y, c) over (x, y) pairs, with c fixed.
std::string g(int x, int y, const std::string& c) {
  return std::to_string(x) + c + std::to_string(y);
}

template <class T>
void Print(const std::vector<T>& values) {
  std::cout << "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::cout << (i ? ", " : "") << values[i];
  }
  std::cout << "]" << std::endl;
}

int main(int argc, char** argv) {
  cf::Init(argc, argv);

  // proc = mp.current_process(); print(proc.name); print(proc.pid)
  cf::CurrentProcess proc = cf::current_process();
  std::cout << proc.name() << std::endl;
  std::cout << proc.pid() << std::endl;

  const std::vector<int> xs = {1, 2, 3, 4, 5};
  // y = parmap.map(f, xs, 2, 1)   ==   [f(x, 2, 1) for x in xs]
  std::vector<int> y = cf::parallel_map(f, xs, 2, 1);
  Print(y);

  // z = parmap.starmap(g, [(1, 2), (3, 4)], "-")
  std::vector<std::pair<int, int>> pairs = {{1, 2}, {3, 4}};
  std::vector<std::string> z = cf::parallel_starmap(g, pairs, std::string("-"));
  Print(z);

  // parmap.map(f, xs, 2, 1, pm_processes=2, pm_chunksize=2, pm_pbar=True):
  // the bar goes to stderr.
  Print(cf::parallel_map({.processes = 2, .chunksize = 2, .progress = true}, f,
                         xs, 2, 1));

  // pm_parallel=False: the same list, computed here, serially.
  Print(cf::parallel_map({.parallel = false}, f, xs, 2, 1));

  // pm_pool: reuse a pool, which stays open. Seed 004's workload.
  cf::Pool pool(2);
  std::vector<int> ns;
  for (int n = cf_bench::kSeedFirst; n < cf_bench::kSeedLast; ++n) ns.push_back(n);
  long long sum = 0;
  for (int primes : cf::parallel_map({.pool = &pool}, cf_bench::count_prime, ns)) {
    sum += primes;
  }
  std::cout << "sum of count_prime over the seed's inputs: " << sum << std::endl;
  pool.close();
  pool.join();
  return y == std::vector<int>{3, 5, 7, 9, 11} && sum == cf_bench::kSeedChecksum
             ? 0
             : 1;
}
