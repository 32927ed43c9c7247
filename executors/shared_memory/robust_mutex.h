// A pthread mutex in shared memory that works across processes and survives
// its holder's death (PTHREAD_MUTEX_ROBUST): the basis of every cf lock and of
// the internal lock of each shared object.
//
// The one thing to know: when a holder dies (even by SIGKILL) the kernel
// releases the mutex and the next Lock() returns kOwnerDied, already marked
// consistent again; the caller decides what the dead holder's half-done work
// means (a cf::Lock counts it, a cf::Queue repairs its buffer).
//
//   RobustMutex* m = new (shared_block) RobustMutex(RobustMutex::kRecursive);
//   if (m->Lock(absl::InfiniteFuture()) == RobustMutex::kOwnerDied) repair();
//   ...
//   m->Unlock();
#ifndef CF_EXECUTORS_SHARED_MEMORY_ROBUST_MUTEX_H_
#define CF_EXECUTORS_SHARED_MEMORY_ROBUST_MUTEX_H_

#include <pthread.h>
#include <sys/types.h>

#include "absl/time/time.h"

namespace cf::internal {

class RobustMutex {
 public:
  enum Kind { kErrorCheck, kRecursive };
  enum Result { kAcquired, kOwnerDied, kTimeout, kDeadlock };

  // In memory shared with the other processes (MAP_SHARED).
  explicit RobustMutex(Kind kind);
  RobustMutex(const RobustMutex&) = delete;
  RobustMutex& operator=(const RobustMutex&) = delete;

  // Waits until `deadline` (absl::InfiniteFuture(): forever; a past one:
  // just tries). kDeadlock: an error-checking mutex this thread holds.
  Result Lock(absl::Time deadline);
  // 0, or EPERM when this thread does not hold it.
  int Unlock();
  // The thread id of the holder, 0 if none: the kernel clears it when the
  // holder dies, so a dead holder's reused id is never mistaken for one.
  pid_t Holder() const;

 private:
  pthread_mutex_t mu_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_SHARED_MEMORY_ROBUST_MUTEX_H_
