// Lets an executor's worker thread keep working while it blocks on a future.
//
// futures/ knows nothing of executors, so a worker thread installs a hook for
// itself; every wait in futures/ without a deadline (result, exception, wait,
// as_completed) calls BlockUntil on the current thread's hook instead of
// sleeping. A thread pool's hook runs the awaited calls themselves when they
// are still queued in its own pool, which is what keeps a task that waits on
// another task of the same pool from deadlocking when all workers are busy
// (Python's documented deadlock). Only awaited calls are run: an unrelated one
// could hold the waiter up for any time. Waits with a deadline never use the
// hook, so a timeout is never stretched by running a call.
#ifndef CF_FUTURES_INTERNAL_BLOCKING_HOOK_H_
#define CF_FUTURES_INTERNAL_BLOCKING_HOOK_H_

#include "absl/functional/function_ref.h"

namespace cf::internal {

class FutureStateBase;

class BlockingHook {
 public:
  // The hook of the calling thread, or null. A child process forked from a
  // worker has none: its pool's threads do not exist there.
  static BlockingHook* Current();
  // Installs `hook` for the calling thread (null removes it).
  static void SetCurrent(BlockingHook* hook);

  // Returns once `done()` is true, running queued calls whose future
  // `awaited` accepts meanwhile. Both may be called any number of times, with
  // no lock of the hook's held.
  virtual void BlockUntil(absl::FunctionRef<bool()> done,
                          absl::FunctionRef<bool(const FutureStateBase&)> awaited) = 0;
  // Makes BlockUntil re-check `done`. Callable from any thread, also with a
  // future's lock held, so it must only take locks of its own.
  virtual void Wake() = 0;

 protected:
  ~BlockingHook() = default;
};

}  // namespace cf::internal

#endif  // CF_FUTURES_INTERNAL_BLOCKING_HOOK_H_
