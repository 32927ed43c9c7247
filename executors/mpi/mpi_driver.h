// Who runs an MPI pool's session at a given moment: one thread at a time,
// under the driver's lock, and never waiting for it. MPI cannot wake a
// sleeping thread, so someone must poll for answers; a thread that waits on
// one of the pool's futures does it itself (the driver is the futures'
// Poller, futures/internal/poller.h), and the pool's manager thread stands
// back meanwhile, so that a round trip has one polling thread on each side,
// as a bare ping-pong has.
//
// The one thing to know: the driver outlives its session when a future does;
// Detach() (under the lock) makes every later drive a no-op.
//
//   MPIDriver driver(&session);            // session: an MPIDriver::Session
//   driver.TryDrive([&] { ...MPI calls... });  // false: someone else drives
//   if (!driver.polling()) ...             // the manager's own polling
#ifndef CF_EXECUTORS_MPI_MPI_DRIVER_H_
#define CF_EXECUTORS_MPI_MPI_DRIVER_H_

#include <atomic>
#include <chrono>
#include <mutex>

#include "absl/functional/function_ref.h"
#include "futures/internal/future_state.h"
#include "futures/internal/poller.h"

namespace cf::internal {

class MPIDriver final : public Poller {
 public:
  // What a waiting thread drives.
  class Session {
   public:
    // One round: send what is queued, take the answers that came.
    virtual void PollLocked() = 0;
    // A waiting thread stops polling (`awaited_done`: its future is done):
    // the session decides whether its manager must take over now.
    virtual void HandOverLocked(bool awaited_done) = 0;

   protected:
    ~Session() = default;
  };

  explicit MPIDriver(Session* session) : session_(session) {}

  // Runs `step` under the lock unless another thread drives now, this one
  // does already (a done-callback that submits), or the session is gone;
  // returns whether it ran.
  bool TryDrive(absl::FunctionRef<void()> step);
  // The same, waiting for the lock.
  bool Drive(absl::FunctionRef<void()> step);
  void Detach();
  // A waiting thread polls now, or stopped a moment ago with its answer (it
  // often waits for the next soon).
  bool polling() const;

  bool PollUntil(const FutureStateBase& awaited,
                 std::chrono::nanoseconds budget) override;

 private:
  bool RunLocked(absl::FunctionRef<void()> step);

  std::mutex mu_;
  Session* session_;  // guarded by mu_; null once detached
  std::atomic<int> polling_{0};
  std::atomic<std::chrono::steady_clock::rep> last_poll_{0};
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_DRIVER_H_
