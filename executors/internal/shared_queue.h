// The untyped core of cf::Queue, cf::SimpleQueue and cf::JoinableQueue: byte
// strings in one anonymous shared-memory file, one robust process-shared
// mutex for the producers and one for the consumers (Michael and Scott's
// two-lock queue), with futex waits for "not empty", "not full" and "all
// tasks done".
//
// The one thing to know: an item becomes visible only when it is wholly in
// the buffer (the write position moves past it in one store), and every
// step that a SIGKILL could cut in half is recorded first, so a put or get
// killed at any instruction leaves either no item or the whole item, and the
// next process to take that side's lock repairs what the dead one left. A
// producer and a consumer never wait for each other's lock, except when the
// buffer is compacted or resized, which takes both. The buffer grows to fit
// any item (a 256 MiB one included) and shrinks again when the queue empties,
// so a put into an unbounded queue never blocks: a child that put items can
// exit before anyone gets them (Python's feeder thread makes that child hang
// at exit instead).
//
//   internal::QueueCore q(/*maxsize=*/0);
//   q.Put(bytes, absl::InfiniteFuture());        // throws cf::Full on timeout
//   std::string item;
//   if (q.Get(&item, deadline)) ...
#ifndef CF_EXECUTORS_INTERNAL_SHARED_QUEUE_H_
#define CF_EXECUTORS_INTERNAL_SHARED_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "executors/shared_memory/shared_memory.h"

namespace cf::internal {

struct QueueHeader;
class QueueData;
// A fresh, unmapped QueueData (defined in the .cc, where it is complete).
std::shared_ptr<QueueData> NewQueueData();

class QueueCore {
 public:
  QueueCore() : QueueCore(0) {}
  // maxsize <= 0: unbounded, as in Python.
  explicit QueueCore(std::int64_t maxsize);

  // Throws cf::Full when the queue stays full until `deadline`.
  void Put(std::string_view item, absl::Time deadline);
  // The next item into *item; false if none came by `deadline`.
  bool Get(std::string* item, absl::Time deadline);

  std::size_t qsize() const;
  bool full() const;
  std::int64_t maxsize() const;
  // JoinableQueue: std::invalid_argument("task_done() called too many
  // times"); Join waits until every item put has been marked done.
  void TaskDone();
  void Join();
  // Holders of the queue's lock that died holding it (their work repaired).
  std::uint64_t owner_deaths() const;
  // Bytes the buffer holds room for now (for tests of its shrinking).
  std::uint64_t capacity() const;

  template <class Archive>
  void save(Archive& archive) const {
    archive(ref_);
  }
  template <class Archive>
  void load(Archive& archive) {
    archive(ref_);
    data_ = NewQueueData();
  }

 private:
  class Side;
  // Make the buffer room for `need` more bytes; the producers' lock held.
  void Reserve(std::uint64_t need);
  void Shrink();
  // A dead holder's half-done work, with that side's lock held.
  void RepairPut();
  void RepairGet();
  char* Data() const;
  QueueHeader& header() const;
  int fd() const;

  SharedRef ref_;
  // This process's mapping of the items, shared by the copies of a handle.
  std::shared_ptr<QueueData> data_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_SHARED_QUEUE_H_
