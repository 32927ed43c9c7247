// What each worker of an MPI pool holds, and which one gets the next call:
// the root's dispatch policy, apart from the MPI and the futures around it.
//
// The one thing to know: a worker holds one running call and one waiting
// (so it never idles while the root sleeps between polls; Python's process
// pool queues one call beyond its workers too), up to 32 while its calls
// run under 300 µs (a stream of tiny calls is not a round trip each), and
// nothing more behind a call that has already run 5 ms (it may run for long
// yet, while another worker frees up).
//
//   WorkerLoads loads(n);
//   int w = loads.Pick(now);                 // -1: every worker is full
//   loads.Hold(w, {id, call}, now);
//   std::optional<WorkerLoads::Call> done = loads.Answered(w, id, run, now);
#ifndef CF_EXECUTORS_MPI_MPI_LOADS_H_
#define CF_EXECUTORS_MPI_MPI_LOADS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "executors/internal/work_item.h"

namespace cf::internal {

class WorkerLoads {
 public:
  struct Call {
    std::uint64_t id;
    std::shared_ptr<WorkItem> call;
  };

  explicit WorkerLoads(int workers = 0)
      : loads_(static_cast<std::size_t>(workers)) {}

  // Calls the workers can take now, all together.
  std::size_t Room(absl::Time now) const;
  // The least loaded worker with room, or -1.
  int Pick(absl::Time now) const;
  void Hold(int worker, Call call, absl::Time now);
  // The call `worker` answered, which ran for `run` there: its oldest, if
  // that is `id` (nullopt otherwise: the worker answered something it was
  // not running). `*took` becomes the time since it was its turn.
  std::optional<Call> Answered(int worker, std::uint64_t id, absl::Duration run,
                               absl::Time now, absl::Duration* took);
  // Every call held, for a pool that broke.
  std::vector<Call> TakeAll();
  std::size_t held() const { return held_; }

 private:
  struct Load {
    std::deque<Call> calls;
    absl::Time busy_since;  // when its oldest call's turn came
    int fast_streak = 0;    // calls in a row that ran fast
  };
  std::size_t Depth(const Load& load, absl::Time now) const;

  std::vector<Load> loads_;
  std::size_t held_ = 0;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_LOADS_H_
