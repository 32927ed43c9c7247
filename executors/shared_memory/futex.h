// Waiting across processes on a 32-bit word in shared memory (Linux futexes),
// the way cf's shared objects wait for a change made by another process.
//
// The one thing to know: a futex keeps no state of its own in user memory, so
// a waiter that is SIGKILLed leaves nothing behind. glibc's process-shared
// pthread_cond_t does: a waiter killed inside pthread_cond_wait can make the
// next pthread_cond_signal block forever, which is why cf waits with these.
//
//   // Waiter, holding the object's mutex:
//   std::uint32_t seen = word.load();  unlock;  FutexWait(&word, seen, deadline);
//   // Waker, holding it:
//   word.fetch_add(1);  FutexWake(&word, kWakeAll);
#ifndef CF_EXECUTORS_SHARED_MEMORY_FUTEX_H_
#define CF_EXECUTORS_SHARED_MEMORY_FUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace cf::internal {

inline constexpr int kWakeAll = 0x7fffffff;

// Sleeps while `*word` == `expected`, until woken, the deadline passes or a
// signal arrives. Returns false only when the deadline has passed.
bool FutexWait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
               absl::Time deadline);

// Wakes up to `count` processes sleeping on `word`.
void FutexWake(std::atomic<std::uint32_t>* word, int count);

// Throws std::invalid_argument("'timeout' must be a non-negative number"),
// Python's words, for a negative timeout; else the deadline it gives.
absl::Time DeadlineAfter(absl::Duration timeout);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_SHARED_MEMORY_FUTEX_H_
