// cf::MPIPoolExecutor and cf::MPICommExecutor: cf::Executor on MPI ranks,
// across machines, as Python's mpi4py.futures. Code written against
// cf::Executor& runs unchanged on threads, local processes or MPI ranks.
//
// The one thing to know: like ProcessPoolExecutor's kSpawn, workers run
// this program again, so main() calls cf::Init(argc, argv) first: a spawned
// worker, and every rank but 0 under `mpirun -n N ./prog` (launcher mode),
// serves from inside cf::Init and never returns from it. What crosses to a
// worker is what crosses to a worker process: a free function or captureless
// lambda, and cereal-serializable arguments and results; every worker checks
// it runs this very build before it runs anything.
//
//   int main(int argc, char** argv) {
//     cf::Init(argc, argv);
//     cf::MPIPoolExecutor pool({.max_workers = 8});   // MPI_Comm_spawn
//     for (int r : pool.map(count_prime, inputs, {.chunksize = 4})) ...
//   }
//
//   // Where spawning is forbidden: the ranks of a communicator serve its
//   // root for as long as the root's executor lives (mpi4py's `with
//   // MPICommExecutor(comm, root) as executor:`).
//   cf::MPICommExecutor executor(MPI_COMM_WORLD, /*root=*/0);
//   if (executor) { ... executor.submit(fn, x) ... }   // the root only
//
// A task's exception comes back as in ProcessPoolExecutor (the same standard
// type or cf::RemoteError, a cf::RemoteTraceback nested), naming the rank,
// host and pid (cf::MPIOriginOf). A worker that dies, or sends nothing for
// .heartbeat_timeout, breaks the pool: every pending future and later submit
// get cf::BrokenMPIPool naming it; nothing waits forever. Open MPI ends the
// whole job when a rank dies unless told otherwise: see README, "Beyond one
// machine: MPI", for what survives which fault.
//
// MPI cannot wake a thread: a thread waiting on one of these futures polls
// MPI for the answer itself, so a done-callback may run in a thread that
// waits on another future of the same pool (mpi_driver.h).
//
// Link //executors/mpi:mpi_executor (Open MPI); //:cf itself never needs MPI.
#ifndef CF_EXECUTORS_MPI_MPI_EXECUTOR_H_
#define CF_EXECUTORS_MPI_MPI_EXECUTOR_H_

#include <mpi.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "executors/executor.h"
#include "executors/process_pool_executor.h"
#include "futures/errors.h"

namespace cf {

namespace internal {
class MPIClient;
}  // namespace internal

// An MPI worker died or went silent, or the pool could not start (mpi4py
// raises concurrent.futures' BrokenExecutor there).
class BrokenMPIPool : public BrokenExecutor {
 public:
  using BrokenExecutor::BrokenExecutor;
};

struct MPIPoolOptions {
  // Workers to spawn. Default (mpi4py's): $CF_MPI_MAX_WORKERS, else
  // MPI_UNIVERSE_SIZE minus this job's size, else 1. Must be > 0. Ignored
  // in launcher mode, where ranks 1..N-1 are the workers.
  std::optional<int> max_workers = {};
  // Run once in every worker before its first task (initializer, initargs).
  ProcessInitializer initializer = {};
  // What to spawn (mpi4py's python_exe, python_args); default: this
  // program, no arguments. It must be this build and call cf::Init.
  std::string program = {};
  std::vector<std::string> args = {};
  // MPI_Comm_spawn's info keys (mpi4py's mpi_info), e.g.
  // {{"host", "node1,node2"}} or {{"map_by", "node:OVERSUBSCRIBE"}}.
  std::vector<std::pair<std::string, std::string>> info = {};
  // A worker that sends nothing for this long is taken for dead (another
  // host's crash, a network cut, a stopped process); it heartbeats while a
  // task runs. Infinite: only deaths on this host are noticed.
  absl::Duration heartbeat_timeout = absl::Seconds(10);
};

struct MPICommOptions {
  ProcessInitializer initializer = {};
  absl::Duration heartbeat_timeout = absl::Seconds(10);
};

namespace internal {

// The process boundary, checked at compile time, as ProcessPoolExecutor's.
template <class F, class... Args>
constexpr void CheckMPIRemotable() {
  using Remote = RemoteCallTraits<CallResult<F, Args...>, std::decay_t<F>,
                                  std::decay_t<Args>...>;
  static_assert(Remote::kCallable,
                "cf::MPIPoolExecutor::submit: a capturing lambda or stateful "
                "function object cannot run on another rank; pass a free "
                "function or a captureless lambda, and its state as arguments");
  static_assert(Remote::kArgumentsSerializable,
                "cf::MPIPoolExecutor::submit: an argument type cannot be "
                "serialized; give it a cereal serialize() or pass standard "
                "types");
  static_assert(Remote::kResultSerializable,
                "cf::MPIPoolExecutor::submit: the result type cannot be "
                "serialized; give it a cereal serialize() or return standard "
                "types");
}

}  // namespace internal

class MPIPoolExecutor final : public Executor {
 public:
  // Throws std::invalid_argument("max_workers must be greater than 0"), and
  // std::logic_error if main() did not call cf::Init.
  explicit MPIPoolExecutor(int max_workers);
  explicit MPIPoolExecutor(MPIPoolOptions options = {});
  ~MPIPoolExecutor() override;  // shutdown(wait=true)

  template <class F, class... Args>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
      Future<internal::CallResult<F, Args...>> submit(F&& fn, Args&&... args) {
    internal::CheckMPIRemotable<F, Args...>();
    return Executor::submit(std::forward<F>(fn), std::forward<Args>(args)...);
  }
  using Executor::map;

  void shutdown(bool wait = true, bool cancel_futures = false) override;
  // mpi4py's bootup(wait=True): spawns the workers now (else the first
  // submit does) and returns once each answered; throws BrokenMPIPool.
  void bootup();
  // mpi4py's num_workers: workers serving this pool (0 before they start).
  int num_workers() const;

 protected:
  void Submit(std::shared_ptr<internal::WorkItem> call) override;
  bool ChunksMap() const override { return true; }

 private:
  std::unique_ptr<internal::MPIClient> client_;
};

class MPICommExecutor final : public Executor {
 public:
  // Collective over `comm` (an intracommunicator): every rank constructs
  // one. At `root` it returns an executor whose workers are the other
  // ranks; at every other rank it serves the root until the root's
  // executor shuts down, and then returns an empty one (false). With one
  // rank, calls run on a thread of the root, as mpi4py does. In launcher
  // mode only rank 0 runs main(): it gets the launch's workers, whatever
  // `comm` is (`root` must then be 0). Throws std::invalid_argument for a
  // bad root or an intercommunicator, std::logic_error without cf::Init,
  // and BrokenMPIPool at a worker rank whose root died.
  explicit MPICommExecutor(MPI_Comm comm = MPI_COMM_WORLD, int root = 0,
                           MPICommOptions options = {});
  ~MPICommExecutor() override;

  // Whether this rank got the executor (mpi4py's `executor is not None`).
  explicit operator bool() const { return client_ != nullptr; }

  template <class F, class... Args>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
      Future<internal::CallResult<F, Args...>> submit(F&& fn, Args&&... args) {
    internal::CheckMPIRemotable<F, Args...>();
    return Executor::submit(std::forward<F>(fn), std::forward<Args>(args)...);
  }
  using Executor::map;

  // At a worker rank: does nothing.
  void shutdown(bool wait = true, bool cancel_futures = false) override;
  int num_workers() const;

 protected:
  // At a worker rank: throws std::logic_error.
  void Submit(std::shared_ptr<internal::WorkItem> call) override;
  bool ChunksMap() const override { return true; }

 private:
  std::unique_ptr<internal::MPIClient> client_;
  MPI_Comm inter_ = MPI_COMM_NULL;  // the root's, freed after the client
};

// Where a task that threw on an MPI worker ran.
struct MPIOrigin {
  int rank = 0;  // in the spawned job's or launch's MPI_COMM_WORLD, or in
                 // MPICommExecutor's communicator
  std::string host;
  std::int64_t pid = 0;
};

// The origin of an exception rethrown from an MPI worker's task; nullopt for
// any other exception.
std::optional<MPIOrigin> MPIOriginOf(const std::exception& e);

}  // namespace cf

#endif  // CF_EXECUTORS_MPI_MPI_EXECUTOR_H_
