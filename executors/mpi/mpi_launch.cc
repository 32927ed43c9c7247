#include "executors/mpi/mpi_launch.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "executors/internal/init_hook.h"
#include "executors/mpi/mpi_protocol.h"
#include "executors/mpi/mpi_runtime.h"
#include "executors/mpi/mpi_worker.h"
#include "executors/transport/remote_call.h"

namespace cf::internal {
namespace {

struct Launch {
  std::mutex mu;
  MPI_Comm inter = MPI_COMM_NULL;  // written once, in Init
  bool busy = false;
  std::string broken;
};

Launch& GetLaunch() {
  static auto* launch = new Launch();
  return *launch;
}

// Who rank 0 is, sent to every worker once the launch is set up, so that a
// worker on the same host sees rank 0 end between sessions.
struct LaunchRoot {
  std::int64_t pid = 0;
  HostIdentity host;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(pid, host);
  }
};

// At rank 0's exit: every worker exits too, then MPI is finalized (cf's
// EnsureMPI registered that earlier, so it runs after this).
// When a rank died, nobody finalizes (see SkipMPIFinalizeAtExit): the
// exit message says so.
void ReleaseWorkersAtExit() {
  Launch& launch = GetLaunch();
  const bool broken = !launch.broken.empty();
  if (broken) SkipMPIFinalizeAtExit();
  int size = 0;
  MPI_Comm_remote_size(launch.inter, &size);
  for (int r = 0; r < size; ++r) {
    // A dead worker must not hold up the exit: bounded by its watch.
    PeerWatch watch(0, HostIdentity{}, absl::Seconds(2));
    SendWatched(launch.inter, r, kMPITagExit, broken ? "broken" : "", watch);
  }
  if (!broken) MPI_Comm_free(&launch.inter);
}

bool StartedByLauncher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

[[noreturn]] void ServeLaunch(MPI_Comm inter, int rank) {
  std::string why;
  try {
    LaunchRoot root;
    root = DecodeResult<LaunchRoot>([&] {
      std::optional<MPIMessage> m;
      Backoff backoff(absl::Microseconds(100), absl::Microseconds(10),
                      absl::Milliseconds(1));
      while (!(m = TryReceive(inter))) backoff.Wait();
      return m->bytes;
    }());
    PeerWatch watch(root.pid, root.host, absl::InfiniteDuration());
    while (true) {
      SessionOutcome outcome =
          ServeSession(inter, {.rank = rank,
                               .hello_timeout = absl::InfiniteDuration(),
                               .root = &watch});
      if (outcome.end == SessionEnd::kExit) {
        if (outcome.why == "broken") {
          std::cout.flush();
          std::fflush(nullptr);
          _exit(0);  // MPI_Finalize would wait for the dead rank forever
        }
        break;
      }
      if (outcome.end == SessionEnd::kRootLost) {
        why = outcome.why;
        break;
      }
    }
  } catch (const std::exception& e) {
    why = e.what();
  }
  EndWorkerOutput(absl::StrCat("rank ", rank), why);
  MPI_Comm_free(&inter);
  MPI_Finalize();
  _exit(0);
}

const bool registered = AddInitHook(&MPIInitHook);

}  // namespace

MPI_Comm LaunchWorkers::Comm() { return GetLaunch().inter; }

std::string LaunchWorkers::Acquire() {
  Launch& launch = GetLaunch();
  std::lock_guard<std::mutex> lock(launch.mu);
  if (launch.busy) {
    throw std::runtime_error(
        "the MPI ranks of this launch serve one executor at a time, and "
        "another MPIPoolExecutor or MPICommExecutor holds them: shut it down "
        "first");
  }
  launch.busy = true;
  return launch.broken;
}

void LaunchWorkers::Release(const std::string& broken) {
  Launch& launch = GetLaunch();
  std::lock_guard<std::mutex> lock(launch.mu);
  launch.busy = false;
  if (launch.broken.empty()) launch.broken = broken;
}

void MPIInitHook(int argc, char** argv) {
  (void)registered;
  if (argc >= 2 && std::strcmp(argv[1], kMPIWorkerFlag) == 0) {
    ServeSpawnedWorker();
  }
  if (!StartedByLauncher()) return;
  if (const char* mode = std::getenv("CF_MPI_LAUNCHER");
      mode != nullptr && std::strcmp(mode, "0") == 0) {
    return;
  }
  EnsureMPI();
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  // Spawned by some other MPI program, or alone: main() runs as usual.
  if (parent != MPI_COMM_NULL || size < 2) return;
  MPI_Comm inter = SplitAtRoot(MPI_COMM_WORLD, 0);
  if (rank != 0) ServeLaunch(inter, rank);
  const std::string root =
      EncodeValue(LaunchRoot{.pid = getpid(), .host = ThisHost()});
  for (int r = 0; r < size - 1; ++r) {
    CheckMPI(MPI_Send(root.data(), static_cast<int>(root.size()), MPI_BYTE, r,
                      kMPITagHello, inter),
             "MPI_Send");
  }
  GetLaunch().inter = inter;
  std::atexit(ReleaseWorkersAtExit);
}

}  // namespace cf::internal
