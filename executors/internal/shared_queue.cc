#include "executors/internal/shared_queue.h"

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
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
// How often join() looks for a producer that died holding its lock (and so
// left the count of items put one too high until someone repairs it).
constexpr absl::Duration kJoinRecheck = absl::Milliseconds(100);

// An item: its length (8 bytes), its bytes, padding to 8.
std::uint64_t RecordSize(std::uint64_t length) {
  return 8 + (length + 7) / 8 * 8;
}

std::uint64_t PageRound(std::uint64_t n) {
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

}  // namespace

// Laid out by who writes what, one cache line each: with one producer and
// one consumer, each side's lock and bookkeeping stay in its own CPU's cache,
// and only the positions and the items travel.
struct QueueHeader {
  explicit QueueHeader(std::int64_t max) : maxsize(max) {}

  // The producers' side. A put counts its item first, then commits it;
  // `put_stage` 1 says a put is between the two, and where its commit would
  // have left write_pos.
  alignas(64) RobustMutex put_mutex{RobustMutex::kErrorCheck};
  std::atomic<std::uint64_t> put_count{0};  // items put (or being put)
  std::uint32_t put_stage = 0;
  std::uint64_t pending_write = 0;
  std::uint64_t pending_put_count = 0;

  // The consumers' side: a get commits by moving read_pos, then counts.
  alignas(64) RobustMutex get_mutex{RobustMutex::kErrorCheck};
  std::atomic<std::uint64_t> get_count{0};  // items taken
  std::uint32_t get_stage = 0;
  std::uint64_t pending_read = 0;
  std::uint64_t pending_get_count = 0;

  // Items lie in [read_pos, write_pos) of the data area. Each moves only
  // under its side's lock; both move together only under both locks.
  alignas(64) std::atomic<std::uint64_t> write_pos{0};  // the commit of a put
  alignas(64) std::atomic<std::uint64_t> read_pos{0};   // the commit of a get
  alignas(64) std::atomic<std::uint64_t> done_count{0};  // task_done() calls

  // Changed only under both locks.
  alignas(64) const std::int64_t maxsize;
  // The data area holds `capacity` bytes (the file may be longer, never
  // shorter).
  std::uint64_t capacity = 0;
  // A compaction in progress: [move_from, move_from + move_len) is being
  // copied to 0; the ranges never overlap, so it can be redone.
  std::uint32_t compacting = 0;
  std::uint64_t move_from = 0;
  std::uint64_t move_len = 0;

  // Futex words and how many sleep on each (a killed sleeper only costs
  // extra wake-ups).
  alignas(64) std::atomic<std::uint32_t> not_empty{0};
  std::atomic<std::uint32_t> not_full{0};
  std::atomic<std::uint32_t> all_done{0};
  std::atomic<std::uint32_t> getters{0};
  std::atomic<std::uint32_t> putters{0};
  std::atomic<std::uint32_t> joiners{0};
  std::atomic<std::uint64_t> owner_deaths{0};
};
static_assert(sizeof(QueueHeader) <= kHeaderSize);

// This process's mapping of the data area, shared by its threads. The
// mapping changes only when the capacity did, which takes both of the
// queue's locks; a thread holding either lock finds it current or remaps it
// (under mu_, as a producer and a consumer thread of this process may both
// find it stale).
class QueueData {
 public:
  // (A fork's copy unmaps its own copy of the mapping: no harm.)
  ~QueueData() {
    if (base_ != nullptr) munmap(base_, mapped_.load());
  }
  // The header and the file, looked up once: SharedRef's lookup costs a
  // call_once per use, a tenth of a small put.
  std::atomic<QueueHeader*> header{nullptr};
  std::atomic<int> fd{-1};

  char* Map(int fd, std::uint64_t capacity) {
    if (mapped_.load(std::memory_order_acquire) == capacity) {
      return base_.load(std::memory_order_relaxed);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (mapped_.load(std::memory_order_relaxed) == capacity) return base_;
    if (base_ != nullptr) munmap(base_, mapped_.load());
    base_ = nullptr;
    mapped_.store(0, std::memory_order_relaxed);
    if (capacity == 0) return nullptr;
    void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   kHeaderSize);
    if (p == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              absl::StrCat("cf::Queue: cannot map its ",
                                           capacity, "-byte buffer"));
    }
    base_.store(static_cast<char*>(p), std::memory_order_relaxed);
    mapped_.store(capacity, std::memory_order_release);
    return static_cast<char*>(p);
  }

 private:
  std::mutex mu_;
  std::atomic<char*> base_{nullptr};
  std::atomic<std::uint64_t> mapped_{0};
};

// Holds one side's lock (repairing what a dead holder left) and wakes
// sleepers once it is released.
class QueueCore::Side {
 public:
  enum Which { kPut, kGet };

  Side(const QueueCore& q, Which which)
      : q_(const_cast<QueueCore&>(q)),
        mutex_(which == kPut ? q.header().put_mutex : q.header().get_mutex),
        which_(which) {
    Lock();
  }
  ~Side() {
    if (locked_) mutex_.Unlock();
    for (int i = 0; i < wakes_; ++i) FutexWake(wake_[i].word, wake_[i].count);
  }
  Side(const Side&) = delete;
  Side& operator=(const Side&) = delete;

  // Sleeps on `word` until it changes or the deadline passes, this side's
  // lock released meanwhile. The caller has checked the condition after
  // counting itself among the `sleepers`, which the waker reads after
  // making the change: one of the two sees the other.
  void Sleep(std::atomic<std::uint32_t>& word, std::uint32_t seen,
             absl::Time deadline) {
    mutex_.Unlock();
    locked_ = false;
    FutexWait(&word, seen, deadline);
    Lock();
  }

  // Changes `word` and wakes `count` of its sleepers once unlocked.
  void Notify(std::atomic<std::uint32_t>& word, int count) {
    word.fetch_add(1, std::memory_order_relaxed);
    if (wakes_ == kMaxWakes) {
      FutexWake(&word, count);
    } else {
      wake_[wakes_++] = {&word, count};
    }
  }

 private:
  void Lock() {
    const RobustMutex::Result r = mutex_.Lock(absl::InfiniteFuture());
    locked_ = true;
    if (r == RobustMutex::kOwnerDied) {
      q_.header().owner_deaths.fetch_add(1, std::memory_order_relaxed);
      if (which_ == kPut) {
        q_.RepairPut();
      } else {
        q_.RepairGet();
      }
      // Sleepers may have died too; wake everyone to look again.
      Notify(q_.header().not_empty, kWakeAll);
      Notify(q_.header().not_full, kWakeAll);
      Notify(q_.header().all_done, kWakeAll);
    }
  }

  struct Wake {
    std::atomic<std::uint32_t>* word;
    int count;
  };

  QueueCore& q_;
  RobustMutex& mutex_;
  const Which which_;
  bool locked_ = false;
  static constexpr int kMaxWakes = 6;
  Wake wake_[kMaxWakes];
  int wakes_ = 0;
};

namespace {

void Compact(QueueHeader& h, char* d) {
  std::memcpy(d, d + h.move_from, h.move_len);
  h.read_pos.store(0, std::memory_order_relaxed);
  h.write_pos.store(h.move_len, std::memory_order_relaxed);
  h.compacting = 0;
}

std::uint64_t Count(const QueueHeader& h) {
  const std::uint64_t got = h.get_count.load(std::memory_order_seq_cst);
  const std::uint64_t put = h.put_count.load(std::memory_order_seq_cst);
  return put > got ? put - got : 0;
}

bool IsFull(const QueueHeader& h) {
  return h.maxsize > 0 && Count(h) >= static_cast<std::uint64_t>(h.maxsize);
}

}  // namespace

QueueCore::QueueCore(std::int64_t maxsize)
    : ref_(kHeaderSize, "cf-queue",
           [maxsize](char* p) { new (p) QueueHeader(maxsize); }),
      data_(NewQueueData()) {}

std::shared_ptr<QueueData> NewQueueData() {
  return std::make_shared<QueueData>();
}

QueueHeader& QueueCore::header() const {
  QueueHeader* h = data_->header.load(std::memory_order_relaxed);
  if (h == nullptr) {
    h = ref_.get<QueueHeader>();
    data_->header.store(h, std::memory_order_relaxed);
  }
  return *h;
}

int QueueCore::fd() const {
  int fd = data_->fd.load(std::memory_order_relaxed);
  if (fd < 0) {
    fd = ref_.segment()->fd();
    data_->fd.store(fd, std::memory_order_relaxed);
  }
  return fd;
}

char* QueueCore::Data() const { return data_->Map(fd(), header().capacity); }

// With the producers' lock: the consumers' too, since it may move items.
void QueueCore::Reserve(std::uint64_t need) {
  QueueHeader& h = header();
  if (h.capacity - h.write_pos.load(std::memory_order_relaxed) >= need) return;
  Side get(*this, Side::kGet);
  const std::uint64_t read = h.read_pos.load(std::memory_order_relaxed);
  const std::uint64_t write = h.write_pos.load(std::memory_order_relaxed);
  const std::uint64_t used = write - read;
  if (read > 0 && read >= used && used + need <= h.capacity) {
    char* d = Data();
    h.move_from = read;
    h.move_len = used;
    h.compacting = 1;
    Compact(h, d);
    return;
  }
  const std::uint64_t grown = PageRound(
      std::max({h.capacity * 2, kInitialCapacity, write + need}));
  if (ftruncate(fd(),
                static_cast<off_t>(kHeaderSize + grown)) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            absl::StrCat("cf::Queue: cannot grow its buffer "
                                         "to ",
                                         grown, " bytes"));
  }
  h.capacity = grown;  // only once the file is that long
  Data();              // remapped while both locks keep everyone out
}

// An empty queue gives a big buffer back; takes both locks, in order.
void QueueCore::Shrink() {
  QueueHeader& h = header();
  Side put(*this, Side::kPut);
  Side get(*this, Side::kGet);
  if (h.capacity <= kShrinkAbove ||
      h.read_pos.load(std::memory_order_relaxed) !=
          h.write_pos.load(std::memory_order_relaxed)) {
    return;
  }
  h.read_pos.store(0, std::memory_order_relaxed);
  h.write_pos.store(0, std::memory_order_relaxed);
  h.capacity = kInitialCapacity;  // before the file shrinks
  (void)ftruncate(fd(),
                  static_cast<off_t>(kHeaderSize + kInitialCapacity));
  Data();
}

// A producer died holding its lock: finish a compaction it left (under the
// consumers' lock too, since it moves their items) and settle its count: the
// item counts if its commit happened.
void QueueCore::RepairPut() {
  QueueHeader& h = header();
  Side get(*this, Side::kGet);  // repairs a compaction, if one was left
  if (h.put_stage == 1) {
    const bool committed =
        h.write_pos.load(std::memory_order_relaxed) == h.pending_write;
    h.put_count.store(committed ? h.pending_put_count : h.pending_put_count - 1,
                      std::memory_order_seq_cst);
    h.put_stage = 0;
  }
}

// A consumer died holding its lock, or a producer holding both: finish the
// compaction (any live producer waits for this lock before it touches the
// positions), and count an item whose get was committed.
void QueueCore::RepairGet() {
  QueueHeader& h = header();
  if (h.compacting != 0) Compact(h, Data());
  if (h.get_stage == 1) {
    if (h.read_pos.load(std::memory_order_relaxed) == h.pending_read) {
      h.get_count.store(h.pending_get_count, std::memory_order_seq_cst);
    }
    h.get_stage = 0;
  }
}

void QueueCore::Put(std::string_view item, absl::Time deadline) {
  QueueHeader& h = header();
  Side put(*this, Side::kPut);
  while (IsFull(h)) {
    if (absl::Now() >= deadline) throw Full();
    const std::uint32_t seen = h.not_full.load(std::memory_order_relaxed);
    h.putters.fetch_add(1, std::memory_order_seq_cst);
    if (IsFull(h)) put.Sleep(h.not_full, seen, deadline);
    h.putters.fetch_sub(1, std::memory_order_relaxed);
  }
  const std::uint64_t length = item.size();
  const std::uint64_t size = RecordSize(length);
  Reserve(size);
  const std::uint64_t write = h.write_pos.load(std::memory_order_relaxed);
  char* d = Data() + write;
  std::memcpy(d, &length, sizeof(length));
  std::memcpy(d + sizeof(length), item.data(), item.size());
  h.pending_write = write + size;
  h.pending_put_count = h.put_count.load(std::memory_order_relaxed) + 1;
  h.put_stage = 1;
  h.put_count.store(h.pending_put_count, std::memory_order_release);
  h.write_pos.store(write + size, std::memory_order_seq_cst);  // the commit
  h.put_stage = 0;
  if (h.getters.load(std::memory_order_seq_cst) > 0) put.Notify(h.not_empty, 1);
}

bool QueueCore::Get(std::string* item, absl::Time deadline) {
  QueueHeader& h = header();
  auto empty = [&h] {
    return h.write_pos.load(std::memory_order_seq_cst) ==
           h.read_pos.load(std::memory_order_relaxed);
  };
  if (empty() && deadline != absl::InfinitePast()) {
    const absl::Time now = absl::Now();
    const absl::Time spin_until = std::min(deadline, now + kSpin);
    const absl::Time poll_until = std::min(deadline, now + kPoll);
    for (int i = 0; empty(); ++i) {
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
  bool shrink = false;
  {
    Side get(*this, Side::kGet);
    while (empty()) {
      if (absl::Now() >= deadline) return false;
      const std::uint32_t seen = h.not_empty.load(std::memory_order_relaxed);
      h.getters.fetch_add(1, std::memory_order_seq_cst);
      if (empty()) get.Sleep(h.not_empty, seen, deadline);
      h.getters.fetch_sub(1, std::memory_order_relaxed);
    }
    const std::uint64_t read = h.read_pos.load(std::memory_order_relaxed);
    const char* d = Data() + read;
    std::uint64_t length;
    std::memcpy(&length, d, sizeof(length));
    item->assign(d + sizeof(length), length);
    const std::uint64_t next = read + RecordSize(length);
    h.pending_read = next;
    h.pending_get_count = h.get_count.load(std::memory_order_relaxed) + 1;
    h.get_stage = 1;
    h.read_pos.store(next, std::memory_order_release);  // the item is taken
    h.get_count.store(h.pending_get_count, std::memory_order_seq_cst);
    h.get_stage = 0;
    if (h.putters.load(std::memory_order_seq_cst) > 0) {
      get.Notify(h.not_full, 1);
    }
    shrink = h.capacity > kShrinkAbove && empty();
  }
  if (shrink) Shrink();  // takes the producers' lock first, then ours
  return true;
}

std::size_t QueueCore::qsize() const {
  return static_cast<std::size_t>(Count(header()));
}

bool QueueCore::full() const { return IsFull(header()); }

std::int64_t QueueCore::maxsize() const { return header().maxsize; }

void QueueCore::TaskDone() {
  QueueHeader& h = header();
  std::uint64_t done = h.done_count.load(std::memory_order_seq_cst);
  do {
    if (done >= h.put_count.load(std::memory_order_seq_cst)) {
      throw std::invalid_argument("task_done() called too many times");
    }
  } while (!h.done_count.compare_exchange_weak(done, done + 1,
                                               std::memory_order_seq_cst));
  if (done + 1 >= h.put_count.load(std::memory_order_seq_cst) &&
      h.joiners.load(std::memory_order_seq_cst) > 0) {
    h.all_done.fetch_add(1, std::memory_order_relaxed);
    FutexWake(&h.all_done, kWakeAll);
  }
}

void QueueCore::Join() {
  QueueHeader& h = header();
  auto unfinished = [&h] {
    return h.done_count.load(std::memory_order_seq_cst) <
           h.put_count.load(std::memory_order_seq_cst);
  };
  while (unfinished()) {
    const std::uint32_t seen = h.all_done.load(std::memory_order_relaxed);
    h.joiners.fetch_add(1, std::memory_order_seq_cst);
    const bool woken =
        !unfinished() ||
        FutexWait(&h.all_done, seen, absl::Now() + kJoinRecheck);
    h.joiners.fetch_sub(1, std::memory_order_relaxed);
    if (!woken && h.put_mutex.Holder() == 0) {
      Side put(*this, Side::kPut);  // a producer that died mid-put is settled
    }
  }
}

std::uint64_t QueueCore::owner_deaths() const {
  return header().owner_deaths.load(std::memory_order_relaxed);
}

std::uint64_t QueueCore::capacity() const {
  Side get(*this, Side::kGet);
  return header().capacity;
}

}  // namespace cf::internal
