#include "executors/internal/shared_queue.h"

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/mp_errors.h"
#include "executors/shared_memory/futex.h"
#include "executors/shared_memory/robust_mutex.h"

namespace cf::internal {
namespace {

// The header takes the file's first page; the items follow it.
constexpr std::size_t kHeaderSize = 4096;
constexpr std::uint64_t kInitialCapacity = 256 * 1024;
// An empty queue whose buffer grew past this gives the memory back.
constexpr std::uint64_t kShrinkAbove = 4 << 20;
// How long a get polls for an item before it sleeps: a sleep and a wake-up
// cost tens of microseconds on a VM. It spins for kSpin, then yields the CPU
// between looks (a producer waiting for this CPU then runs) until kPoll.
constexpr absl::Duration kSpin = absl::Microseconds(3);
constexpr absl::Duration kPoll = absl::Microseconds(50);

// An item: its length (8 bytes), its bytes, padding to 8.
std::uint64_t RecordSize(std::uint64_t length) {
  return 8 + (length + 7) / 8 * 8;
}

std::uint64_t PageRound(std::uint64_t n) {
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

}  // namespace

struct QueueHeader {
  explicit QueueHeader(std::int64_t max) : maxsize(max) {}

  RobustMutex mutex{RobustMutex::kErrorCheck};
  const std::int64_t maxsize;
  // Items lie in [read_pos, write_pos) of the data area, which holds
  // `capacity` bytes (the file may be longer, never shorter).
  std::uint64_t capacity = 0;
  std::uint64_t read_pos = 0;
  std::uint64_t write_pos = 0;  // moving it past an item is the commit
  std::atomic<std::uint64_t> count{0};
  std::uint64_t unfinished = 0;  // JoinableQueue
  // A compaction in progress: [move_from, move_from + move_len) is being
  // copied to 0; the ranges never overlap, so it can be redone.
  std::uint32_t compacting = 0;
  std::uint64_t move_from = 0;
  std::uint64_t move_len = 0;
  // Futex words and how many sleep on each (a killed sleeper only costs
  // extra wake-ups).
  std::atomic<std::uint32_t> not_empty{0};
  std::atomic<std::uint32_t> not_full{0};
  std::atomic<std::uint32_t> all_done{0};
  std::uint32_t getters = 0;
  std::uint32_t putters = 0;
  std::uint32_t joiners = 0;
  std::atomic<std::uint64_t> owner_deaths{0};
};
static_assert(sizeof(QueueHeader) <= kHeaderSize);

// This process's mapping of the data area.
class QueueData {
 public:
  // (A fork's copy unmaps its own copy of the mapping: no harm.)
  ~QueueData() {
    if (base_ != nullptr) munmap(base_, mapped_);
  }
  char* Map(int fd, std::uint64_t capacity) {
    if (capacity == mapped_) return base_;
    if (base_ != nullptr) munmap(base_, mapped_);
    base_ = nullptr;
    mapped_ = 0;
    if (capacity == 0) return nullptr;
    void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   kHeaderSize);
    if (p == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              absl::StrCat("cf::Queue: cannot map its ",
                                           capacity, "-byte buffer"));
    }
    base_ = static_cast<char*>(p);
    mapped_ = capacity;
    return base_;
  }

 private:
  char* base_ = nullptr;
  std::uint64_t mapped_ = 0;
};

// Holds the queue's mutex; repairs what a dead holder left; wakes sleepers
// after unlocking.
class QueueCore::Guard {
 public:
  explicit Guard(const QueueCore& q) : q_(q), h_(q.header()) { Lock(); }
  ~Guard() {
    if (locked_) h_.mutex.Unlock();
    for (int i = 0; i < wakes_; ++i) FutexWake(wake_[i].word, wake_[i].count);
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  // Sleeps on `word` until it changes or the deadline passes, the lock
  // released meanwhile.
  void Wait(std::atomic<std::uint32_t>& word, std::uint32_t& sleepers,
            absl::Time deadline) {
    const std::uint32_t seen = word.load(std::memory_order_relaxed);
    ++sleepers;
    h_.mutex.Unlock();
    locked_ = false;
    FutexWait(&word, seen, deadline);
    Lock();
    --sleepers;
  }

  // Changes `word` and wakes `count` of its sleepers once unlocked.
  void Notify(std::atomic<std::uint32_t>& word, std::uint32_t sleepers,
              int count) {
    if (sleepers == 0) return;
    word.fetch_add(1, std::memory_order_relaxed);
    if (wakes_ == kMaxWakes) {
      FutexWake(&word, count);
    } else {
      wake_[wakes_++] = {&word, count};
    }
  }

  char* Data() {
    return q_.data_->Map(q_.ref_.segment()->fd(), h_.capacity);
  }

  // Room for `need` more bytes at write_pos: compacts or grows the buffer.
  void Reserve(std::uint64_t need) {
    if (h_.capacity - h_.write_pos >= need) return;
    const std::uint64_t used = h_.write_pos - h_.read_pos;
    if (h_.read_pos > 0 && h_.read_pos >= used &&
        used + need <= h_.capacity) {
      char* d = Data();
      h_.move_from = h_.read_pos;
      h_.move_len = used;
      h_.compacting = 1;
      Compact(d);
      return;
    }
    const std::uint64_t grown = PageRound(std::max(
        {h_.capacity * 2, kInitialCapacity, h_.write_pos + need}));
    if (ftruncate(q_.ref_.segment()->fd(),
                  static_cast<off_t>(kHeaderSize + grown)) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              absl::StrCat("cf::Queue: cannot grow its buffer "
                                           "to ", grown, " bytes"));
    }
    h_.capacity = grown;  // only once the file is that long
  }

  // The queue is empty: start over at 0, and give back a big buffer.
  void Reset() {
    h_.read_pos = 0;
    h_.write_pos = 0;
    if (h_.capacity > kShrinkAbove) {
      h_.capacity = kInitialCapacity;  // before the file shrinks
      (void)ftruncate(q_.ref_.segment()->fd(),
                      static_cast<off_t>(kHeaderSize + kInitialCapacity));
    }
  }

 private:
  void Lock() {
    if (h_.mutex.Lock(absl::InfiniteFuture()) == RobustMutex::kOwnerDied) {
      locked_ = true;
      Repair();
    }
    locked_ = true;
  }

  void Compact(char* d) {
    std::memcpy(d, d + h_.move_from, h_.move_len);
    h_.read_pos = 0;
    h_.write_pos = h_.move_len;
    h_.compacting = 0;
  }

  // A holder died with the lock: finish its compaction, and count the items
  // again (it may have died between committing an item and counting it).
  void Repair() {
    h_.owner_deaths.fetch_add(1, std::memory_order_relaxed);
    char* d = Data();
    if (h_.compacting != 0) Compact(d);
    std::uint64_t n = 0;
    for (std::uint64_t pos = h_.read_pos; pos < h_.write_pos; ++n) {
      std::uint64_t length;
      std::memcpy(&length, d + pos, sizeof(length));
      pos += RecordSize(length);
    }
    h_.count.store(n, std::memory_order_relaxed);
    if (n == 0) Reset();
    // Sleepers may have died too; wake everyone to count again.
    Notify(h_.not_empty, 1, kWakeAll);
    Notify(h_.not_full, 1, kWakeAll);
  }

  struct Wake {
    std::atomic<std::uint32_t>* word;
    int count;
  };

  const QueueCore& q_;
  QueueHeader& h_;
  bool locked_ = false;
  static constexpr int kMaxWakes = 4;
  Wake wake_[kMaxWakes];
  int wakes_ = 0;
};

QueueCore::QueueCore(std::int64_t maxsize)
    : ref_(kHeaderSize, "cf-queue",
           [maxsize](char* p) { new (p) QueueHeader(maxsize); }),
      data_(NewQueueData()) {}

std::shared_ptr<QueueData> NewQueueData() {
  return std::make_shared<QueueData>();
}

void QueueCore::Put(std::string_view item, absl::Time deadline) {
  QueueHeader& h = header();
  Guard g(*this);
  auto is_full = [&h] {
    return h.maxsize > 0 &&
           h.count.load(std::memory_order_relaxed) >=
               static_cast<std::uint64_t>(h.maxsize);
  };
  while (is_full()) {
    if (absl::Now() >= deadline) throw Full();
    g.Wait(h.not_full, h.putters, deadline);
  }
  const std::uint64_t length = item.size();
  g.Reserve(RecordSize(length));
  char* d = g.Data() + h.write_pos;
  std::memcpy(d, &length, sizeof(length));
  std::memcpy(d + sizeof(length), item.data(), item.size());
  h.write_pos += RecordSize(length);  // the commit
  h.count.fetch_add(1, std::memory_order_relaxed);
  ++h.unfinished;
  g.Notify(h.not_empty, h.getters, 1);
}

bool QueueCore::Get(std::string* item, absl::Time deadline) {
  QueueHeader& h = header();
  if (h.count.load(std::memory_order_relaxed) == 0 &&
      deadline != absl::InfinitePast()) {
    const absl::Time now = absl::Now();
    const absl::Time spin_until = std::min(deadline, now + kSpin);
    const absl::Time poll_until = std::min(deadline, now + kPoll);
    for (int i = 0; h.count.load(std::memory_order_relaxed) == 0; ++i) {
      if ((i & 15) == 15) {
        const absl::Time t = absl::Now();
        if (t >= poll_until) break;
        if (t >= spin_until) sched_yield();
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
  Guard g(*this);
  while (h.count.load(std::memory_order_relaxed) == 0) {
    if (absl::Now() >= deadline) return false;
    g.Wait(h.not_empty, h.getters, deadline);
  }
  const char* d = g.Data() + h.read_pos;
  std::uint64_t length;
  std::memcpy(&length, d, sizeof(length));
  item->assign(d + sizeof(length), length);
  h.read_pos += RecordSize(length);  // the item is taken
  if (h.count.fetch_sub(1, std::memory_order_relaxed) == 1) g.Reset();
  g.Notify(h.not_full, h.putters, 1);
  return true;
}

std::size_t QueueCore::qsize() const {
  return static_cast<std::size_t>(
      header().count.load(std::memory_order_relaxed));
}

bool QueueCore::full() const {
  const QueueHeader& h = header();
  return h.maxsize > 0 && h.count.load(std::memory_order_relaxed) >=
                              static_cast<std::uint64_t>(h.maxsize);
}

std::int64_t QueueCore::maxsize() const { return header().maxsize; }

void QueueCore::TaskDone() {
  QueueHeader& h = header();
  Guard g(*this);
  if (h.unfinished == 0) {
    throw std::invalid_argument("task_done() called too many times");
  }
  if (--h.unfinished == 0) g.Notify(h.all_done, h.joiners, kWakeAll);
}

void QueueCore::Join() {
  QueueHeader& h = header();
  Guard g(*this);
  while (h.unfinished > 0) {
    g.Wait(h.all_done, h.joiners, absl::InfiniteFuture());
  }
}

std::uint64_t QueueCore::owner_deaths() const {
  return header().owner_deaths.load(std::memory_order_relaxed);
}

std::uint64_t QueueCore::capacity() const {
  Guard g(*this);
  return header().capacity;
}

}  // namespace cf::internal
