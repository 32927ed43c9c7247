// cf::Queue<T>, cf::SimpleQueue<T> and cf::JoinableQueue<T>: Python's
// multiprocessing queues for any cereal-serializable T, with many producers
// and consumers in any processes that got the queue as an argument (of a
// cf::Process target or a process-pool task).
//
// The one thing to know: items travel through anonymous shared memory, not
// a pipe fed by a background thread as in Python. A put() returns once the
// item is in the queue (an unbounded queue never blocks), so a child may
// exit right after putting, and items of any size (hundreds of MiB) work. A
// process killed in the middle of a put leaves the item wholly in or wholly
// out: consumers never see a torn item, and the queue stays usable.
//
//   void worker(int id, int n, cf::Queue<int> q) { q.put(n * id); }
//
//   cf::Queue<int> q;                        // Python: Queue()
//   cf::Process p(worker, 1, 10000, q);
//   p.start();
//   int total = q.get();                     // blocks; get(timeout) throws
//   p.join();                                // cf::Empty when none came
//
// put(v, timeout) raises cf::Full on a full bounded queue and get(timeout)
// cf::Empty on an empty one (executors/mp_errors.h); a zero timeout is
// Python's block=False (put_nowait / get_nowait).
#ifndef CF_EXECUTORS_QUEUE_H_
#define CF_EXECUTORS_QUEUE_H_

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "executors/internal/item_codec.h"
#include "executors/internal/shared_queue.h"
#include "executors/mp_errors.h"
#include "executors/shared_memory/futex.h"
#include "executors/transport/remote_call.h"

namespace cf {

namespace internal {
// "Queue <cf::Queue object at 0x...>" for Python's messages.
inline std::string QueueRepr(const void* state) {
  std::ostringstream text;
  text << "Queue <cf::Queue object at " << state << ">";
  return text.str();
}
}  // namespace internal

template <class T>
class Queue {
 public:
  // Unbounded (Python's maxsize <= 0).
  Queue() : Queue(0) {}
  explicit Queue(std::int64_t maxsize)
      : core_(maxsize), closed_(std::make_shared<bool>(false)) {}

  // Waits at most `timeout` for room; cf::Full if none. std::invalid_argument
  // ("Queue <...> is closed") after close().
  void put(const T& item, absl::Duration timeout = absl::InfiniteDuration()) {
    CheckOpen();
    core_.Put(internal::EncodeItem(item), internal::DeadlineAfter(timeout));
  }
  void put_nowait(const T& item) { put(item, absl::ZeroDuration()); }
  // Waits at most `timeout` for an item; cf::Empty if none.
  T get(absl::Duration timeout = absl::InfiniteDuration()) {
    CheckOpen();
    thread_local std::string bytes;
    if (!core_.Get(&bytes, internal::DeadlineAfter(timeout))) throw Empty();
    struct Trim {  // a huge item's buffer is not kept for the next one
      ~Trim() {
        if (bytes.capacity() > (std::size_t{1} << 20)) std::string().swap(bytes);
      }
    } trim;
    return internal::DecodeItem<T>(bytes);
  }
  T get_nowait() { return get(absl::ZeroDuration()); }

  // Approximate, as in Python: other processes may put or get meanwhile.
  std::size_t qsize() const { return core_.qsize(); }
  bool empty() const { return core_.qsize() == 0; }
  bool full() const { return core_.full(); }
  std::int64_t maxsize() const { return core_.maxsize(); }

  // No more puts or gets through this handle (and its copies) in this
  // process; other processes' handles are unaffected, as in Python.
  void close() { *closed_ = true; }
  // Python's join_thread(): there is no feeder thread to join, so it only
  // checks close() came first (std::logic_error "Queue <...> not closed").
  void join_thread() const {
    if (!*closed_) {
      throw std::logic_error(internal::QueueRepr(closed_.get()) + " not closed");
    }
  }
  void cancel_join_thread() const {}
  // Holders of the queue's internal lock that died holding it; the queue
  // repaired what each left.
  std::uint64_t owner_deaths() const { return core_.owner_deaths(); }

  template <class Archive>
  void save(Archive& archive) const {
    archive(core_);
  }
  template <class Archive>
  void load(Archive& archive) {
    archive(core_);
    closed_ = std::make_shared<bool>(false);
  }

 protected:
  void CheckOpen() const {
    if (*closed_) {
      throw std::invalid_argument(internal::QueueRepr(closed_.get()) +
                                  " is closed");
    }
  }

  internal::QueueCore core_;
  std::shared_ptr<bool> closed_;
};

// Queue plus task_done() and join() (Python's JoinableQueue).
template <class T>
class JoinableQueue : public Queue<T> {
 public:
  using Queue<T>::Queue;
  // std::invalid_argument("task_done() called too many times").
  void task_done() { this->core_.TaskDone(); }
  // Waits until every item put has had its task_done().
  void join() { this->core_.Join(); }
};

// Python's SimpleQueue: put, get, empty, close.
template <class T>
class SimpleQueue {
 public:
  SimpleQueue() = default;
  void put(const T& item) { queue_.put(item); }
  T get() { return queue_.get(); }
  bool empty() const { return queue_.empty(); }
  void close() { queue_.close(); }

  template <class Archive>
  void serialize(Archive& archive) {
    archive(queue_);
  }

 private:
  Queue<T> queue_;
};

}  // namespace cf

#endif  // CF_EXECUTORS_QUEUE_H_
