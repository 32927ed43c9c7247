#include "executors/shared_memory/robust_mutex.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>

#include <stdexcept>
#include <string>

#include "absl/time/clock.h"

namespace cf::internal {
namespace {

// Tries this many times before sleeping in the kernel: the critical sections
// cf's objects guard are a few hundred nanoseconds, and a sleep and wake-up
// cost tens of microseconds on a VM.
constexpr int kSpins = 200;

RobustMutex::Result Outcome(int r) {
  switch (r) {
    case 0:
      return RobustMutex::kAcquired;
    case EOWNERDEAD:
      return RobustMutex::kOwnerDied;
    case EDEADLK:
      return RobustMutex::kDeadlock;
    case ETIMEDOUT:
    case EBUSY:
      return RobustMutex::kTimeout;
    default:
      throw std::runtime_error(std::string("cf: pthread_mutex_lock failed: ") +
                               strerror(r));
  }
}

}  // namespace

RobustMutex::RobustMutex(Kind kind) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_settype(&attr, kind == kRecursive
                                       ? PTHREAD_MUTEX_RECURSIVE
                                       : PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&mu_, &attr);
  pthread_mutexattr_destroy(&attr);
}

RobustMutex::Result RobustMutex::Lock(absl::Time deadline) {
  int r = pthread_mutex_trylock(&mu_);
  // Test before test-and-set: a failed trylock is a locked write that takes
  // the line from the holder, which then waits for it back to unlock.
  for (int i = 0; r == EBUSY && i < kSpins; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (Holder() == 0) r = pthread_mutex_trylock(&mu_);
  }
  if (r == EBUSY) {
    if (deadline == absl::InfiniteFuture()) {
      r = pthread_mutex_lock(&mu_);
    } else if (deadline > absl::Now()) {
      const timespec until = absl::ToTimespec(deadline);
      r = pthread_mutex_timedlock(&mu_, &until);
    }
  }
  if (r == EOWNERDEAD) pthread_mutex_consistent(&mu_);
  return Outcome(r);
}

int RobustMutex::Unlock() { return pthread_mutex_unlock(&mu_); }

pid_t RobustMutex::Holder() const {
  // A robust mutex's futex word is its holder's thread id plus the
  // FUTEX_WAITERS and FUTEX_OWNER_DIED bits (glibc's ABI and the kernel's).
  const int word = __atomic_load_n(&mu_.__data.__lock, __ATOMIC_RELAXED);
  return static_cast<pid_t>(word & FUTEX_TID_MASK);
}

}  // namespace cf::internal
