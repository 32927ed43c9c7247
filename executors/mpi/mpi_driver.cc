#include "executors/mpi/mpi_driver.h"

#include "futures/internal/spin.h"

namespace cf::internal {
namespace {

// How long the manager stands back after a waiting thread got its answer.
constexpr std::chrono::microseconds kStandBack(1000);

// The driver whose lock this thread holds, if any.
thread_local const MPIDriver* driving = nullptr;

}  // namespace

bool MPIDriver::TryDrive(absl::FunctionRef<void()> step) {
  if (driving == this || !mu_.try_lock()) return false;
  std::lock_guard<std::mutex> lock(mu_, std::adopt_lock);
  return RunLocked(step);
}

bool MPIDriver::Drive(absl::FunctionRef<void()> step) {
  if (driving == this) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return RunLocked(step);
}

bool MPIDriver::RunLocked(absl::FunctionRef<void()> step) {
  if (session_ == nullptr) return false;
  // Restores the outer value: a done-callback run here may drive another
  // pool's session.
  struct Driving {
    explicit Driving(const MPIDriver* d) : outer(driving) { driving = d; }
    ~Driving() { driving = outer; }
    const MPIDriver* outer;
  } mark(this);
  step();
  return true;
}

void MPIDriver::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  session_ = nullptr;
}

bool MPIDriver::polling() const {
  if (polling_.load(std::memory_order_relaxed) > 0) return true;
  const std::chrono::steady_clock::time_point last(
      std::chrono::steady_clock::duration(
          last_poll_.load(std::memory_order_relaxed)));
  return std::chrono::steady_clock::now() - last < kStandBack;
}

bool MPIDriver::PollUntil(const FutureStateBase& awaited,
                          std::chrono::nanoseconds budget) {
  polling_.fetch_add(1, std::memory_order_relaxed);
  const auto start = std::chrono::steady_clock::now();
  bool done = false;
  while (true) {
    const bool polled = TryDrive([this] { session_->PollLocked(); });
    if ((done = awaited.done())) break;
    if (std::chrono::steady_clock::now() - start >= budget) break;
    if (!polled) CpuRelax();
  }
  // A waiter that goes to sleep polls no more: the manager takes over at
  // once instead of standing back for it.
  last_poll_.store(
      done ? std::chrono::steady_clock::now().time_since_epoch().count() : 0,
      std::memory_order_relaxed);
  polling_.fetch_sub(1, std::memory_order_relaxed);
  // A waiter that goes to sleep must be sure the manager takes over, so it
  // waits for the lock (only trying it made round trips 3.8-4.0x a bare
  // ping-pong instead of 1.6-1.8x: mpi_bench). One with its answer only
  // tries: whoever holds the lock sends what is queued.
  auto hand_over = [this, done] { session_->HandOverLocked(done); };
  if (done) {
    TryDrive(hand_over);
  } else {
    Drive(hand_over);
  }
  return done;
}

}  // namespace cf::internal
