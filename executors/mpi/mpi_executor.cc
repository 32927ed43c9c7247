#include "executors/mpi/mpi_executor.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "executors/init.h"
#include "executors/internal/pool_support.h"
#include "executors/mpi/mpi_client.h"
#include "executors/mpi/mpi_launch.h"
#include "executors/mpi/mpi_runtime.h"
#include "executors/mpi/mpi_worker.h"
#include "executors/remote_error.h"

namespace cf {
namespace {

using internal::MPISessionConfig;

void RequireInit(const char* executor) {
  if (!Initialized()) {
    throw std::logic_error(absl::StrCat(
        executor,
        ": MPI workers run this program again, and every rank checks that it "
        "runs this very build, so main() must call cf::Init(argc, argv) "
        "before anything else (#include \"cf.h\"); add it as the first line "
        "of main()"));
  }
}

}  // namespace

MPIPoolExecutor::MPIPoolExecutor(int max_workers)
    : MPIPoolExecutor(MPIPoolOptions{.max_workers = max_workers}) {}

MPIPoolExecutor::MPIPoolExecutor(MPIPoolOptions options) {
  if (options.max_workers.has_value()) {
    internal::CheckedMaxWorkers(options.max_workers, 1);
  }
  RequireInit("MPIPoolExecutor");
  MPISessionConfig config{.executor = "MPIPoolExecutor",
                          .initializer = options.initializer.encoded(),
                          .heartbeat_timeout = options.heartbeat_timeout};
  if (MPI_Comm launch = internal::LaunchWorkers::Comm();
      launch != MPI_COMM_NULL) {
    config.kind = MPISessionConfig::Kind::kLaunch;
    config.inter = launch;
  } else {
    internal::EnsureMPI();
    config.kind = MPISessionConfig::Kind::kSpawn;
    config.max_workers = internal::CheckedMaxWorkers(
        options.max_workers, internal::DefaultMPIWorkers());
    config.program = std::move(options.program);
    config.args = std::move(options.args);
    config.info = std::move(options.info);
  }
  client_ = std::make_unique<internal::MPIClient>(std::move(config));
}

MPIPoolExecutor::~MPIPoolExecutor() { shutdown(/*wait=*/true); }

void MPIPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  client_->Shutdown(wait, cancel_futures);
}

void MPIPoolExecutor::bootup() { client_->Bootup(); }

int MPIPoolExecutor::num_workers() const { return client_->num_workers(); }

void MPIPoolExecutor::Submit(std::shared_ptr<internal::WorkItem> call) {
  client_->Submit(std::move(call));
}

MPICommExecutor::MPICommExecutor(MPI_Comm comm, int root,
                                 MPICommOptions options) {
  RequireInit("MPICommExecutor");
  MPISessionConfig config{.executor = "MPICommExecutor",
                          .initializer = options.initializer.encoded(),
                          .heartbeat_timeout = options.heartbeat_timeout};
  if (MPI_Comm launch = internal::LaunchWorkers::Comm();
      launch != MPI_COMM_NULL) {
    if (root != 0) {
      throw std::invalid_argument(
          "MPICommExecutor: in launcher mode only rank 0 runs main(), so the "
          "root must be 0");
    }
    config.kind = MPISessionConfig::Kind::kLaunch;
    config.inter = launch;
    client_ = std::make_unique<internal::MPIClient>(std::move(config));
    return;
  }
  internal::EnsureMPI();
  int inter = 0, size = 0, rank = 0;
  internal::CheckMPI(MPI_Comm_test_inter(comm, &inter), "MPI_Comm_test_inter");
  if (inter) {
    throw std::invalid_argument(
        "MPICommExecutor: expecting an intracommunicator");
  }
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  if (root < 0 || root >= size) {
    throw std::invalid_argument(
        absl::StrCat("MPICommExecutor: expecting root in range(comm.size) (0..",
                     size - 1, "), got ", root));
  }
  if (size == 1) {
    config.kind = MPISessionConfig::Kind::kLocal;
    client_ = std::make_unique<internal::MPIClient>(std::move(config));
    return;
  }
  MPI_Comm split = internal::SplitAtRoot(comm, root);
  if (rank != root) {
    const internal::SessionOutcome outcome = internal::ServeSession(
        split, {.rank = rank, .hello_timeout = absl::InfiniteDuration()});
    MPI_Comm_free(&split);
    if (outcome.end == internal::SessionEnd::kRootLost) {
      throw BrokenMPIPool(absl::StrCat("MPICommExecutor: rank ", rank,
                                       " lost its root (rank ", root,
                                       "): ", outcome.why));
    }
    return;
  }
  inter_ = split;
  config.kind = MPISessionConfig::Kind::kComm;
  config.inter = inter_;
  client_ = std::make_unique<internal::MPIClient>(std::move(config));
  // The other ranks wait for the root's hello from now on.
  client_->Start();
}

MPICommExecutor::~MPICommExecutor() {
  if (client_ != nullptr) {
    client_->Shutdown(/*wait=*/true, /*cancel_futures=*/false);
    client_.reset();
  }
  if (inter_ != MPI_COMM_NULL) MPI_Comm_free(&inter_);
}

void MPICommExecutor::shutdown(bool wait, bool cancel_futures) {
  if (client_ != nullptr) client_->Shutdown(wait, cancel_futures);
}

int MPICommExecutor::num_workers() const {
  return client_ != nullptr ? client_->num_workers() : 0;
}

void MPICommExecutor::Submit(std::shared_ptr<internal::WorkItem> call) {
  if (client_ == nullptr) {
    throw std::logic_error(
        "MPICommExecutor: only the root rank has an executor (test it with "
        "`if (executor)`)");
  }
  client_->Submit(std::move(call));
}

std::optional<MPIOrigin> MPIOriginOf(const std::exception& e) {
  std::optional<RemoteTraceback> remote = RemoteTracebackOf(e);
  if (!remote) return std::nullopt;
  // The worker put "    on MPI rank R of host H" first in the traceback.
  absl::string_view line = remote->traceback();
  line = line.substr(0, line.find('\n'));
  if (!absl::ConsumePrefix(&line, "    on MPI rank ")) return std::nullopt;
  const std::size_t space = line.find(' ');
  MPIOrigin origin;
  if (space == absl::string_view::npos ||
      !absl::SimpleAtoi(line.substr(0, space), &origin.rank)) {
    return std::nullopt;
  }
  line.remove_prefix(space);
  if (!absl::ConsumePrefix(&line, " of host ")) return std::nullopt;
  origin.host = std::string(line);
  origin.pid = remote->pid();
  return origin;
}

}  // namespace cf
