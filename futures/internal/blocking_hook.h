// Lets an executor's worker thread keep working while it blocks on a future.
//
// futures/ knows nothing of executors, so a worker thread installs a hook for
// itself; every blocking wait in futures/ (result, exception, wait,
// as_completed) calls BlockUntil on the current thread's hook instead of
// sleeping. A thread pool's hook runs queued tasks of its own pool meanwhile,
// which is what keeps a task that waits on another task of the same pool from
// deadlocking when all workers are busy (Python's documented deadlock).
#ifndef CF_FUTURES_INTERNAL_BLOCKING_HOOK_H_
#define CF_FUTURES_INTERNAL_BLOCKING_HOOK_H_

#include "absl/functional/function_ref.h"
#include "futures/internal/deadline.h"

namespace cf::internal {

class BlockingHook {
 public:
  // The hook of the calling thread, or null.
  static BlockingHook* Current();
  // Installs `hook` for the calling thread (null removes it).
  static void SetCurrent(BlockingHook* hook);

  // Returns once `done()` is true or `deadline` has passed; returns done().
  // `done` may be called any number of times, with no lock held.
  virtual bool BlockUntil(absl::FunctionRef<bool()> done,
                          const Deadline& deadline) = 0;
  // Makes BlockUntil re-check `done`. Callable from any thread, also with a
  // future's lock held, so it must only take locks of its own.
  virtual void Wake() = 0;

 protected:
  ~BlockingHook() = default;
};

}  // namespace cf::internal

#endif  // CF_FUTURES_INTERNAL_BLOCKING_HOOK_H_
