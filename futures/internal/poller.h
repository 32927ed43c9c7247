// Lets a thread that waits on a future drive the work that completes it.
//
// Some executors learn of an outcome only by polling (MPI cannot wake a
// sleeping thread), so their manager thread polls while the thread that
// waits for the result spins: with the worker that is three busy threads,
// and on two cores they take turns. A future may name a Poller instead; the
// spin of Wait (the one before it sleeps) then calls PollUntil, which polls
// in the waiting thread while the executor's own thread stands back.
//
// The one thing to know: whatever the poll completes (also other futures of
// the same executor) completes in the waiting thread, so done-callbacks may
// run there, as they may in any thread of the process in Python.
//
//   class Session : public cf::internal::Poller { ... };
//   state->SetPoller(session);  // before the future is handed out
#ifndef CF_FUTURES_INTERNAL_POLLER_H_
#define CF_FUTURES_INTERNAL_POLLER_H_

#include <chrono>

namespace cf::internal {

class FutureStateBase;

class Poller {
 public:
  // Polls until `awaited` is done (true) or `budget` has passed (false).
  // Must not block: another thread may be the one polling meanwhile.
  virtual bool PollUntil(const FutureStateBase& awaited,
                         std::chrono::nanoseconds budget) = 0;

 protected:
  ~Poller() = default;
};

}  // namespace cf::internal

#endif  // CF_FUTURES_INTERNAL_POLLER_H_
