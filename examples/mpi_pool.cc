// Seed 004's map on MPI ranks: the same code as on threads or processes.
// Run alone, cf::MPIPoolExecutor spawns 2 workers of this program (mpi4py's
// MPIPoolExecutor); run as `mpirun -n 3 mpi_pool`, ranks 1 and 2 serve
// rank 0 (mpi4py's `mpiexec -n 3 python -m mpi4py.futures`).
#include <iostream>
#include <vector>

#include "bench/count_prime.h"
#include "cf.h"
#include "executors/mpi/mpi_executor.h"

int main(int argc, char** argv) {
  cf::Init(argc, argv);  // a worker serves from here and never returns
  cf::MPIPoolExecutor pool({.max_workers = 2});
  std::vector<int> values;
  for (int n = cf_bench::kSeedFirst; n < cf_bench::kSeedLast; ++n) {
    values.push_back(n);
  }
  long long total = 0;
  for (int r : pool.map(cf_bench::count_prime, values, {.chunksize = 10})) {
    total += r;
  }
  std::cout << "sum of count_prime over range(9900, 10000) on "
            << pool.num_workers() << " MPI workers: " << total << "\n";
  return total == cf_bench::kSeedChecksum ? 0 : 1;
}
