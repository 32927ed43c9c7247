#include "executors/shared_memory/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <stdexcept>

#include "absl/time/clock.h"

namespace cf::internal {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

bool FutexWait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
               absl::Time deadline) {
  timespec relative;
  timespec* timeout = nullptr;
  if (deadline != absl::InfiniteFuture()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    relative = absl::ToTimespec(left);
    timeout = &relative;
  }
  // Not FUTEX_PRIVATE_FLAG: the word is shared with other processes.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT,
          expected, timeout, nullptr, 0);
  return deadline == absl::InfiniteFuture() || absl::Now() < deadline;
}

void FutexWake(std::atomic<std::uint32_t>* word, int count) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE,
          count, nullptr, nullptr, 0);
}

absl::Time DeadlineAfter(absl::Duration timeout) {
  if (timeout < absl::ZeroDuration()) {
    throw std::invalid_argument("'timeout' must be a non-negative number");
  }
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return absl::Now() + timeout;
}

}  // namespace cf::internal
