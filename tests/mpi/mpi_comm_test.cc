// MPICommExecutor on the ranks of a communicator, every rank running main()
// (mpi_comm_test.sh: CF_MPI_LAUNCHER=0 mpirun -n 3 ./this): rank 1 is the
// root of MPI_COMM_WORLD and ranks 0 and 2 serve it until its executor
// shuts down; then a split communicator, whose one-rank half runs calls on
// a thread, as mpi4py does. Exits non-zero on any failed check.
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <stdexcept>
#include <vector>

#include "cf.h"
#include "executors/mpi/mpi_executor.h"
#include "tests/mpi/mpi_tasks.h"
#include "tests/mpi/mpi_test_env.h"

namespace {

int failures = 0;
int rank = -1;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: check failed: %s\n", rank, what);
    ++failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  cf_test::SetMPITestEnvironment();
  cf::Init(argc, argv);  // CF_MPI_LAUNCHER=0: every rank returns
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  {
    cf::MPICommExecutor executor(MPI_COMM_WORLD, /*root=*/1);
    Check(static_cast<bool>(executor) == (rank == 1), "only the root");
    if (executor) {
      Check(executor.num_workers() == 2, "two workers");
      std::set<int> ranks;
      for (int i = 0; i < 6; ++i) {
        try {
          executor.submit(cf_test::ThrowOutOfRange, i).result();
        } catch (const std::out_of_range& e) {
          std::optional<cf::MPIOrigin> origin = cf::MPIOriginOf(e);
          Check(origin.has_value(), "origin");
          if (origin) ranks.insert(origin->rank);
        }
      }
      for (int r : ranks) Check(r == 0 || r == 2, "ranks of the comm");
      int sum = 0;
      for (int r : executor.map(cf_test::Square, std::vector<int>{1, 2, 3},
                                {.chunksize = 2})) {
        sum += r;
      }
      Check(sum == 14, "map");
    } else {
      Check(executor.num_workers() == 0, "no workers here");
      bool threw = false;
      try {
        executor.submit(cf_test::Square, 1);
      } catch (const std::logic_error&) {
        threw = true;
      }
      Check(threw, "submit at a worker rank throws");
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);  // every rank was released by the root
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, rank < 2 ? 0 : 1, rank, &half);
  {
    cf::MPICommExecutor executor(half, 0);
    if (executor) {
      Check(executor.submit(cf_test::Square, 6).result() == 36, "half");
      int size = 0;
      MPI_Comm_size(half, &size);
      if (size == 1) {  // a thread of this rank
        Check(executor.submit(cf_test::WorkerPid).result() == getpid(),
              "one rank: calls run here");
      }
    }
  }
  MPI_Comm_free(&half);
  MPI_Finalize();
  std::printf("rank %d: %s\n", rank, failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
