#include "executors/mpi/mpi_runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cf::internal {
namespace {

std::mutex init_mu;
bool cf_initialized_mpi = false;  // guarded by init_mu
std::atomic<bool> skip_finalize{false};

// Registered by EnsureMPI when cf initialized MPI. Every pool has been shut
// down by now (their destructors join their threads), so nothing of cf's
// calls MPI after this.
void FinalizeAtExit() {
  if (skip_finalize.load()) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

HostIdentity ComputeHost() {
  HostIdentity host;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) host.name = name;
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::getline(boot, host.boot_id);
  struct stat st;
  if (stat("/proc/self/ns/pid", &st) == 0) host.pid_namespace = st.st_ino;
  return host;
}

}  // namespace

int EnsureMPI() {
  std::lock_guard<std::mutex> lock(init_mu);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) {
    throw MPIError("cf's MPI executors cannot start: MPI is already finalized");
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    CheckMPI(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided),
             "MPI_Init_thread");
    cf_initialized_mpi = true;
    std::atexit(FinalizeAtExit);
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    throw MPIError(
        "cf's MPI executors call MPI from a thread of their own, so they need "
        "MPI_THREAD_MULTIPLE (or at least MPI_THREAD_SERIALIZED); this "
        "program initialized MPI with less: call MPI_Init_thread(..., "
        "MPI_THREAD_MULTIPLE, ...) instead of MPI_Init, or let cf initialize "
        "MPI");
  }
  return provided;
}

void SkipMPIFinalizeAtExit() { skip_finalize.store(true); }

std::string MPIErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    return absl::StrCat("MPI error ", code);
  }
  return std::string(text, static_cast<std::size_t>(length));
}

void CheckMPI(int code, const char* what) {
  if (code != MPI_SUCCESS) {
    throw MPIError(absl::StrCat(what, ": ", MPIErrorText(code)));
  }
}

const HostIdentity& ThisHost() {
  static const HostIdentity* host = new HostIdentity(ComputeHost());
  return *host;
}

bool SameKernel(const HostIdentity& a, const HostIdentity& b) {
  return !a.boot_id.empty() && a.boot_id == b.boot_id && a.pid_namespace != 0 &&
         a.pid_namespace == b.pid_namespace;
}

MPI_Comm SplitAtRoot(MPI_Comm comm, int root) {
  MPI_Comm dup = MPI_COMM_NULL;
  CheckMPI(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
  int rank = 0;
  MPI_Comm_rank(dup, &rank);
  MPI_Group all, side;
  MPI_Comm_group(dup, &all);
  const int root_rank[] = {root};
  if (rank == root) {
    MPI_Group_incl(all, 1, root_rank, &side);
  } else {
    MPI_Group_excl(all, 1, root_rank, &side);
  }
  MPI_Comm local = MPI_COMM_NULL;
  const int created = MPI_Comm_create(dup, side, &local);
  MPI_Group_free(&side);
  MPI_Group_free(&all);
  MPI_Comm inter = MPI_COMM_NULL;
  int code = created;
  if (code == MPI_SUCCESS) {
    // The leaders, in `dup`'s ranks: the root, and the lowest other rank.
    const int remote_leader = rank == root ? (root == 0 ? 1 : 0) : root;
    code =
        MPI_Intercomm_create(local, 0, dup, remote_leader, /*tag=*/0, &inter);
    MPI_Comm_free(&local);
  }
  MPI_Comm_free(&dup);
  CheckMPI(code, "MPI_Intercomm_create");
  MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN);
  return inter;
}

int DefaultMPIWorkers() {
  if (const char* env = std::getenv("CF_MPI_MAX_WORKERS")) {
    int n = 0;
    if (absl::SimpleAtoi(env, &n) && n > 0) return n;
  }
  int* universe = nullptr;
  int found = 0;
  if (MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &universe, &found) ==
          MPI_SUCCESS &&
      found && universe != nullptr) {
    int world = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    return std::max(*universe - world, 1);
  }
  return 1;
}

}  // namespace cf::internal
