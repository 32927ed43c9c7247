// Launcher mode and spawned workers: cf::Init's MPI half, mpi4py's
// `mpiexec -n N python -m mpi4py.futures prog.py` for a C++ program.
//
// The one thing to know: when `mpirun -n N ./prog` starts a program that
// links //executors/mpi (N > 1), cf::Init returns only at rank 0; ranks
// 1..N-1 serve rank 0's MPIPoolExecutor or MPICommExecutor, one executor
// at a time, and exit when rank 0 exits. CF_MPI_LAUNCHER=0 in the
// environment turns this off, for programs whose every rank runs main().
// A process started by an MPIPoolExecutor (argv[1] == --cf-mpi-worker)
// never returns from cf::Init either: it serves its parent and exits.
//
//   int main(int argc, char** argv) {
//     cf::Init(argc, argv);                      // ranks > 0 stay in here
//     cf::MPIPoolExecutor pool;                  // rank 0: uses ranks 1..N-1
//   }
#ifndef CF_EXECUTORS_MPI_MPI_LAUNCH_H_
#define CF_EXECUTORS_MPI_MPI_LAUNCH_H_

#include <mpi.h>

#include <string>

namespace cf::internal {

// At rank 0 of a launch: the ranks that serve it.
class LaunchWorkers {
 public:
  // The intercommunicator to ranks 1..N-1, or MPI_COMM_NULL when this
  // process is not rank 0 of a launch.
  static MPI_Comm Comm();
  // Claims the workers for one executor; throws std::runtime_error while
  // another executor holds them, BrokenMPIPool-worthy text (returned) if
  // an earlier executor found one of them dead ("" otherwise).
  static std::string Acquire();
  // Gives them back; `broken`: why they are unusable from now on, or "".
  static void Release(const std::string& broken);
};

// Registered with cf::Init (executors/internal/init_hook.h).
void MPIInitHook(int argc, char** argv);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_LAUNCH_H_
