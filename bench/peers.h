// Other C++ thread pools next to cf's ThreadPoolExecutor, on the seed
// benchmark's workload and on no-op tasks: std::async, Boost.Asio's
// thread_pool and oneTBB's task_group.
//
// The one thing to know: each peer collects results its own idiomatic way
// (std::async and cf hand back a future per task; Asio and TBB write into a
// preallocated slot and wait on a latch or the task_group), so the no-op rows
// compare what a user of each library would write, not identical mechanics;
// "asio + std::future" is the no-op row with cf's mechanics (a future each).
#ifndef CF_BENCH_PEERS_H_
#define CF_BENCH_PEERS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cf_bench {

// A live pool of some kind with `workers` threads (std::async: none, a
// thread per call).
class ThreadPeer {
 public:
  virtual ~ThreadPeer() = default;
  // Runs fn(i) for every i in [first, last) as one task each and returns
  // the sum of the results.
  virtual long long MapSum(int (*fn)(int), int first, int last) = 0;
};

struct PeerKind {
  std::string name;  // "cf::ThreadPoolExecutor", "std::async", ...
  std::function<std::unique_ptr<ThreadPeer>(int workers)> make;
  bool overhead_only = false;  // not a row of the seed's table
};

// cf's ThreadPoolExecutor (submit + result, the peers' pattern) first, then
// std::async, asio::thread_pool, asio + std::future and tbb::task_group.
std::vector<PeerKind> ThreadPeers();

struct OverheadRow {
  std::string name;
  int tasks = 0;
  std::vector<double> seconds;  // one per run
  bool checksum_ok = true;

  double median_s() const;
  double tasks_per_s() const { return tasks / median_s(); }
};

// `repeat` rounds; in each, every peer in turn is started, warmed up, and
// timed on one run of `tasks` no-op calls submitted and every result
// collected. Pool start-up is not timed.
std::vector<OverheadRow> MeasureNoopOverhead(int workers, int tasks,
                                             int repeat);

}  // namespace cf_bench

#endif  // CF_BENCH_PEERS_H_
