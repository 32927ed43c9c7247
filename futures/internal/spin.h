// Brief spinning before a blocking wait.
//
// On a machine where waking a sleeping thread costs tens of microseconds
// (a futex wake, often a VM exit), a waiter that keeps checking for a few
// microseconds turns most short waits into no syscall at all. The budget is
// small and the loop yields the CPU, so a waiter never starves the thread it
// waits for, and an idle program still sleeps.
#ifndef CF_FUTURES_INTERNAL_SPIN_H_
#define CF_FUTURES_INTERNAL_SPIN_H_

#include <sched.h>

#include <chrono>

namespace cf::internal {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Returns true as soon as `ready()` holds, false once `budget` has passed.
template <class Ready>
bool SpinUntil(Ready ready, std::chrono::nanoseconds budget) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (ready()) return true;
    if ((i & 63) == 63) {
      if (std::chrono::steady_clock::now() - start >= budget) return false;
      sched_yield();  // let the thread we wait for run, if it shares our CPU
    } else {
      CpuRelax();
    }
  }
}

}  // namespace cf::internal

#endif  // CF_FUTURES_INTERNAL_SPIN_H_
