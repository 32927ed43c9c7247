// The peer pools behind cf_bench::ThreadPeer, each used the way its own
// documentation shows, and the no-op overhead measurement.
#include "bench/peers.h"

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <latch>
#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"

namespace cf_bench {
namespace {

int NoopTask(int i) { return i; }

class CfPeer : public ThreadPeer {
 public:
  explicit CfPeer(int workers) : pool_(workers) {}
  long long MapSum(int (*fn)(int), int first, int last) override {
    std::vector<cf::Future<int>> futures;
    futures.reserve(last - first);
    for (int i = first; i < last; ++i) futures.push_back(pool_.submit(fn, i));
    long long sum = 0;
    for (cf::Future<int>& f : futures) sum += f.result();
    return sum;
  }

 private:
  cf::ThreadPoolExecutor pool_;
};

// No pool to size: the standard gives std::async no bound on threads.
class StdAsyncPeer : public ThreadPeer {
 public:
  long long MapSum(int (*fn)(int), int first, int last) override {
    std::vector<std::future<int>> futures;
    futures.reserve(last - first);
    for (int i = first; i < last; ++i) {
      futures.push_back(std::async(std::launch::async, fn, i));
    }
    long long sum = 0;
    for (std::future<int>& f : futures) sum += f.get();
    return sum;
  }
};

class AsioPeer : public ThreadPeer {
 public:
  explicit AsioPeer(int workers) : pool_(workers) {}
  ~AsioPeer() override { pool_.join(); }
  long long MapSum(int (*fn)(int), int first, int last) override {
    std::vector<int> results(last - first);
    std::latch done(last - first);
    for (int i = first; i < last; ++i) {
      boost::asio::post(pool_, [&, i] {
        results[i - first] = fn(i);
        done.count_down();
      });
    }
    done.wait();
    long long sum = 0;
    for (int r : results) sum += r;
    return sum;
  }

 private:
  boost::asio::thread_pool pool_;
};

// Asio with a std::packaged_task per call: the same hand-back as cf's, a
// heap-allocated shared state and a future for every task.
class AsioFuturePeer : public ThreadPeer {
 public:
  explicit AsioFuturePeer(int workers) : pool_(workers) {}
  ~AsioFuturePeer() override { pool_.join(); }
  long long MapSum(int (*fn)(int), int first, int last) override {
    std::vector<std::future<int>> futures;
    futures.reserve(last - first);
    for (int i = first; i < last; ++i) {
      std::packaged_task<int()> task([fn, i] { return fn(i); });
      futures.push_back(task.get_future());
      boost::asio::post(pool_, std::move(task));
    }
    long long sum = 0;
    for (std::future<int>& f : futures) sum += f.get();
    return sum;
  }

 private:
  boost::asio::thread_pool pool_;
};

// The arena caps the concurrency at `workers`, the calling thread included
// (it works inside task_group::wait), as cf's pool has `workers` threads.
class TbbPeer : public ThreadPeer {
 public:
  explicit TbbPeer(int workers) : arena_(workers) { arena_.initialize(); }
  long long MapSum(int (*fn)(int), int first, int last) override {
    std::vector<int> results(last - first);
    arena_.execute([&] {
      tbb::task_group group;
      for (int i = first; i < last; ++i) {
        group.run([&, i] { results[i - first] = fn(i); });
      }
      group.wait();
    });
    long long sum = 0;
    for (int r : results) sum += r;
    return sum;
  }

 private:
  tbb::task_arena arena_;
};

}  // namespace

std::vector<PeerKind> ThreadPeers() {
  return {
      {"cf::ThreadPoolExecutor",
       [](int workers) { return std::make_unique<CfPeer>(workers); }},
      {"std::async", [](int) { return std::make_unique<StdAsyncPeer>(); }},
      {"asio::thread_pool",
       [](int workers) { return std::make_unique<AsioPeer>(workers); }},
      {"asio + std::future",
       [](int workers) { return std::make_unique<AsioFuturePeer>(workers); },
       /*overhead_only=*/true},
      {"tbb::task_group",
       [](int workers) { return std::make_unique<TbbPeer>(workers); }},
  };
}

double OverheadRow::median_s() const {
  std::vector<double> s = seconds;
  std::sort(s.begin(), s.end());
  const std::size_t n = s.size();
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

std::vector<OverheadRow> MeasureNoopOverhead(int workers, int tasks,
                                             int repeat) {
  const long long expected = static_cast<long long>(tasks) * (tasks - 1) / 2;
  const std::vector<PeerKind> kinds = ThreadPeers();
  std::vector<OverheadRow> rows(kinds.size());
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    rows[k].name = kinds[k].name;
    rows[k].tasks = tasks;
  }
  // Round-robin, a fresh pool each time: whichever peer came first, right
  // after the table, used to run up to 6x slower (cause not found), so each
  // peer now meets every phase of the process alike.
  for (int r = 0; r < repeat; ++r) {
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      std::unique_ptr<ThreadPeer> peer = kinds[k].make(workers);
      peer->MapSum(NoopTask, 0, 4 * workers);  // threads up
      const absl::Time start = absl::Now();
      const long long sum = peer->MapSum(NoopTask, 0, tasks);
      rows[k].seconds.push_back(absl::ToDoubleSeconds(absl::Now() - start));
      rows[k].checksum_ok = rows[k].checksum_ok && sum == expected;
    }
  }
  return rows;
}

}  // namespace cf_bench
