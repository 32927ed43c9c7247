// The engine behind MPIPoolExecutor and MPICommExecutor at the root: the
// queue of submitted calls, the manager thread that feeds them to workers
// and completes their futures, and what a broken pool or a shutdown does
// to every call, as Python's executors do it.
//
// The one thing to know: one thread at a time runs the session (RootSession,
// the MPI calls) under the MPIDriver's lock (mpi_driver.h): the manager
// thread, a submitting thread that finds the session free (so a call to an
// idle pool leaves at once), or a thread waiting on one of the pool's
// futures, which polls for its own answer while the manager stands back.
// The manager spins only while answers come back fast and otherwise sleeps
// in growing steps, so an idle pool costs little CPU.
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
#include "executors/mpi/mpi_driver.h"
#include "executors/mpi/mpi_loads.h"
#include "executors/mpi/mpi_session.h"

namespace cf::internal {

class MPIClient final : private MPIDriver::Session {
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
  // What a manager's round saw, read under the Driver's lock.
  struct Round {
    bool active = false;
    bool finished = false;
    std::size_t held = 0;
    bool room = false;  // a queued call could be sent
    absl::Duration recent_run;
  };
  void Run();  // the manager thread
  Round ManageLocked();
  // A submitting or waiting thread's round: sends what it can, takes what
  // came. With the driver's lock held, as everything below but WakeManager.
  void PollLocked() override;
  void HandOverLocked(bool awaited_done) override;
  void WakeManager();
  void Open();
  bool Dispatch();
  bool Collect();
  // Completes a call from its answer record; false (the pool broken) for
  // an answer to no call this worker holds.
  bool Answer(int worker, std::string_view record);
  bool RunLocally();
  void Break(const std::string& why);
  void Idle(const Round& round);
  // How long to poll on after an answer: about two round trips.
  absl::Duration SpinAfterEvent() const;
  bool FinishedLocked();
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
  std::atomic<std::int64_t> recent_run_us_{0};
  std::shared_ptr<MPIDriver> driver_;  // also every future's Poller

  // Guarded by the driver's lock.
  RootSession session_;
  WorkerLoads loads_;
  absl::Duration recent_run_;  // how long the last call ran on its worker

  // The manager thread's own.
  absl::Time last_event_;
  absl::Duration sleep_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_CLIENT_H_
