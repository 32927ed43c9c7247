// The engine behind MPIPoolExecutor and MPICommExecutor at the root: the
// queue of submitted calls, the manager thread that feeds them to workers
// and completes their futures, and what a broken pool or a shutdown does
// to every call, as Python's executors do it.
//
// The one thing to know: only the manager thread calls MPI (through
// RootSession); submit() only queues, so it never waits on the network. The
// manager polls (MPI has no way to wake a thread), spinning only while
// answers come back fast and otherwise sleeping in growing steps, so an
// idle pool costs little CPU and a busy one adds little latency.
//
//   MPIClient client(config);          // config: mpi_session.h
//   client.Submit(std::move(call));    // a WorkItem (executor.h)
//   client.Shutdown(/*wait=*/true, /*cancel_futures=*/false);
#ifndef CF_EXECUTORS_MPI_MPI_CLIENT_H_
#define CF_EXECUTORS_MPI_MPI_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "executors/internal/work_item.h"
#include "executors/mpi/mpi_loads.h"
#include "executors/mpi/mpi_session.h"

namespace cf::internal {

class MPIClient {
 public:
  explicit MPIClient(MPISessionConfig config);
  MPIClient(const MPIClient&) = delete;
  MPIClient& operator=(const MPIClient&) = delete;
  ~MPIClient();  // Shutdown(wait=true)

  // Queues a call. Throws std::runtime_error after shutdown, BrokenMPIPool
  // once broken, and NotRemotable for a call that cannot cross processes.
  void Submit(std::shared_ptr<WorkItem> call);
  void Shutdown(bool wait, bool cancel_futures);
  // Starts the workers now and returns once they answered (mpi4py's
  // bootup); throws BrokenMPIPool if they could not be started.
  void Bootup();
  // Starts the workers without waiting (for MPICommExecutor, whose other
  // ranks wait for the root from the start).
  void Start();
  int num_workers() const;

 private:
  struct Queued {
    std::uint64_t id;
    std::shared_ptr<WorkItem> call;
    std::string message;  // id, then the encoded call
  };
  void Run();  // the manager thread
  void Open();
  bool Dispatch();
  bool Collect();
  // Completes a call from its answer record; false (the pool broken) for
  // an answer to no call this worker holds.
  bool Answer(int worker, std::string_view record);
  bool RunLocally();
  void Break(const std::string& why);
  void Idle(bool active);
  bool Finished();
  void StartManagerLocked();
  void ThrowIfClosedLocked() const;

  const MPISessionConfig config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // the manager's sleep, and Bootup's wait
  std::deque<Queued> queue_;
  bool shutdown_ = false;
  bool manager_asleep_ = false;
  bool opened_ = false;
  std::string broken_;
  int num_workers_ = 0;
  bool launch_claimed_ = false;  // kLaunch: the launch's workers are ours
  std::thread manager_;
  std::mutex join_mu_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::size_t> queued_{0};
  std::atomic<std::int64_t> recent_answer_us_{0};

  // The manager thread's own.
  RootSession session_;
  WorkerLoads loads_;
  absl::Duration recent_run_;  // how long the last call ran on its worker
  absl::Time last_event_;
  absl::Duration sleep_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_CLIENT_H_
