#include "executors/synchronize.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <new>

#include "absl/time/clock.h"
#include "executors/shared_memory/futex.h"
#include "executors/shared_memory/robust_mutex.h"

namespace cf {
namespace internal {

struct LockBlock {
  RobustMutex mutex{RobustMutex::kErrorCheck};
  std::uint32_t depth = 0;  // levels held; the holder's alone
  std::atomic<std::uint64_t> owner_deaths{0};
};

static_assert(sizeof(LockBlock) <= kLockBlockSize);

namespace {

thread_local pid_t cached_tid = 0;

// This thread's id, unique among the live threads of every process.
pid_t Tid() {
  if (cached_tid == 0) {
    static const bool registered = [] {
      // The forking thread lives on in the child under another id.
      pthread_atfork(nullptr, nullptr, [] { cached_tid = 0; });
      return true;
    }();
    (void)registered;
    cached_tid = static_cast<pid_t>(syscall(SYS_gettid));
  }
  return cached_tid;
}

}  // namespace

LockCore::LockCore() : ref_(BlockSize(), "cf-lock", &Construct) {}

std::size_t LockCore::BlockSize() { return sizeof(LockBlock); }

void LockCore::Construct(char* where) { new (where) LockBlock(); }

bool LockCore::Acquire(bool recursive, bool block, absl::Duration timeout) {
  LockBlock& b = *this->block();
  const pid_t me = Tid();
  const absl::Time deadline =
      block ? DeadlineAfter(timeout) : absl::InfinitePast();
  if (b.mutex.Holder() == me) {
    if (recursive) {
      ++b.depth;
      return true;
    }
    // Python's Lock would wait forever, or for the timeout.
    if (deadline == absl::InfiniteFuture()) {
      throw std::logic_error(
          "cf::Lock: this thread already holds the lock, so acquiring it "
          "again would wait forever (use cf::RLock)");
    }
    if (deadline > absl::Now()) absl::SleepFor(deadline - absl::Now());
    return false;
  }
  switch (b.mutex.Lock(deadline)) {
    case RobustMutex::kOwnerDied:
      b.owner_deaths.fetch_add(1, std::memory_order_relaxed);
      [[fallthrough]];
    case RobustMutex::kAcquired:
      b.depth = 1;
      return true;
    case RobustMutex::kTimeout:
      return false;
    case RobustMutex::kDeadlock:
      break;
  }
  throw std::logic_error("cf::Lock: the lock is held by this thread");
}

void LockCore::Release(bool recursive) {
  LockBlock& b = *block();
  const pid_t owner = b.mutex.Holder();
  if (owner != Tid()) {
    if (recursive) {
      throw std::logic_error(
          "attempt to release recursive lock not owned by thread");
    }
    if (owner == 0) {
      throw std::invalid_argument("semaphore or lock released too many times");
    }
    throw std::logic_error(
        "cf::Lock: released by a thread that does not hold it (a cf::Lock is "
        "released by its holder; use a cf::Semaphore to signal)");
  }
  if (--b.depth > 0) return;
  b.mutex.Unlock();
}

bool LockCore::IsMine() const {
  return block()->mutex.Holder() == Tid();
}

int LockCore::ReleaseAll() {
  LockBlock& b = *block();
  const int depth = static_cast<int>(b.depth);
  b.depth = 1;
  Release(false);
  return depth;
}

void LockCore::Reacquire(int depth) {
  Acquire(false, true, absl::InfiniteDuration());
  block()->depth = static_cast<std::uint32_t>(depth);
}

std::uint64_t LockCore::owner_deaths() const {
  return block()->owner_deaths.load(std::memory_order_relaxed);
}

struct SemaphoreBlock {
  SemaphoreBlock(int initial, int max) : value(initial), max_value(max) {}
  RobustMutex mutex{RobustMutex::kErrorCheck};
  int value;
  const int max_value;  // 0: unbounded
  std::atomic<std::uint32_t> seq{0};
  std::uint32_t sleepers = 0;
};

struct EventBlock {
  RobustMutex mutex{RobustMutex::kErrorCheck};
  std::atomic<std::uint32_t> flag{0};
  std::atomic<std::uint32_t> seq{0};
  std::uint32_t sleepers = 0;
};

// Changed only under the condition's lock.
struct ConditionBlock {
  std::atomic<std::uint32_t> seq{0};
  std::uint32_t sleepers = 0;
  std::uint32_t tickets = 0;  // notifications not yet taken by a waiter
};

struct BarrierBlock {
  enum State : int { kFilling = 0, kDraining = 1, kResetting = -1, kBroken = -2 };
  BarrierBlock(int n, absl::Duration t)
      : parties(n),
        timeout_ns(t == absl::InfiniteDuration() ? -1
                                                 : absl::ToInt64Nanoseconds(t)) {}
  RobustMutex mutex{RobustMutex::kErrorCheck};
  const int parties;
  const std::int64_t timeout_ns;  // -1: none
  int count = 0;
  int state = kFilling;
  std::atomic<std::uint32_t> seq{0};
  std::uint32_t sleepers = 0;
};

namespace {

// Holds an object's mutex; wakes sleepers once it is released. A holder
// that died is reported through died() (the object decides what it means).
class Guard {
 public:
  explicit Guard(RobustMutex& mutex) : mutex_(mutex) { Lock(); }
  ~Guard() {
    mutex_.Unlock();
    if (wake_ != nullptr) FutexWake(wake_, wake_count_);
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  bool died() const { return died_; }

  void Wait(std::atomic<std::uint32_t>& word, std::uint32_t& sleepers,
            absl::Time deadline) {
    const std::uint32_t seen = word.load(std::memory_order_relaxed);
    ++sleepers;
    mutex_.Unlock();
    FutexWait(&word, seen, deadline);
    Lock();
    --sleepers;
  }

  void Notify(std::atomic<std::uint32_t>& word, std::uint32_t sleepers,
              int count) {
    word.fetch_add(1, std::memory_order_relaxed);
    if (sleepers == 0) return;
    if (wake_ != nullptr && wake_ != &word) FutexWake(wake_, wake_count_);
    wake_ = &word;
    wake_count_ = count;
  }

 private:
  void Lock() {
    died_ |= mutex_.Lock(absl::InfiniteFuture()) == RobustMutex::kOwnerDied;
  }

  RobustMutex& mutex_;
  bool died_ = false;
  std::atomic<std::uint32_t>* wake_ = nullptr;
  int wake_count_ = 0;
};

absl::Time Deadline(bool block, absl::Duration timeout) {
  return block ? DeadlineAfter(timeout) : absl::InfinitePast();
}

}  // namespace
}  // namespace internal

using internal::BarrierBlock;
using internal::Guard;

Semaphore::Semaphore(int value, int max_value)
    : ref_(sizeof(internal::SemaphoreBlock), "cf-semaphore",
           [value, max_value](char* p) {
             new (p) internal::SemaphoreBlock(value, max_value);
           }) {
  if (value < 0) {
    throw std::invalid_argument("semaphore initial value must be >= 0");
  }
}

bool Semaphore::acquire(bool block, absl::Duration timeout) {
  internal::SemaphoreBlock& b = this->block();
  const absl::Time deadline = internal::Deadline(block, timeout);
  Guard g(b.mutex);
  while (b.value == 0) {
    if (absl::Now() >= deadline) return false;
    g.Wait(b.seq, b.sleepers, deadline);
  }
  --b.value;
  return true;
}

void Semaphore::release() {
  internal::SemaphoreBlock& b = block();
  Guard g(b.mutex);
  if (b.max_value > 0 && b.value >= b.max_value) {
    throw std::invalid_argument("semaphore or lock released too many times");
  }
  ++b.value;
  g.Notify(b.seq, b.sleepers, 1);
}

int Semaphore::get_value() const {
  internal::SemaphoreBlock& b = block();
  Guard g(b.mutex);
  return b.value;
}

Event::Event()
    : ref_(sizeof(internal::EventBlock), "cf-event",
           [](char* p) { new (p) internal::EventBlock(); }) {}

bool Event::is_set() const {
  return block().flag.load(std::memory_order_acquire) != 0;
}

void Event::set() {
  internal::EventBlock& b = block();
  Guard g(b.mutex);
  b.flag.store(1, std::memory_order_release);
  g.Notify(b.seq, b.sleepers, internal::kWakeAll);
}

void Event::clear() {
  internal::EventBlock& b = block();
  Guard g(b.mutex);
  b.flag.store(0, std::memory_order_release);
}

bool Event::wait(absl::Duration timeout) {
  internal::EventBlock& b = block();
  const absl::Time deadline = internal::DeadlineAfter(timeout);
  Guard g(b.mutex);
  while (b.flag.load(std::memory_order_relaxed) == 0) {
    if (absl::Now() >= deadline) return false;
    g.Wait(b.seq, b.sleepers, deadline);
  }
  return true;
}

namespace {
internal::SharedRef NewConditionBlock() {
  return internal::SharedRef(sizeof(internal::ConditionBlock), "cf-condition",
                             [](char* p) { new (p) internal::ConditionBlock(); });
}
}  // namespace

Condition::Condition(Lock lock)
    : lock_(lock.core()), recursive_(false), ref_(NewConditionBlock()) {}

Condition::Condition(RLock lock)
    : lock_(lock.core()), recursive_(true), ref_(NewConditionBlock()) {}

bool Condition::wait(absl::Duration timeout) {
  if (!lock_.IsMine()) {
    throw std::logic_error("must acquire() condition before using wait()");
  }
  internal::ConditionBlock& b = block();
  const absl::Time deadline = internal::DeadlineAfter(timeout);
  ++b.sleepers;
  while (true) {
    const std::uint32_t seen = b.seq.load(std::memory_order_relaxed);
    const int depth = lock_.ReleaseAll();
    internal::FutexWait(&b.seq, seen, deadline);
    lock_.Reacquire(depth);
    if (b.tickets > 0) {
      --b.tickets;
      --b.sleepers;
      return true;
    }
    if (absl::Now() >= deadline) {
      --b.sleepers;
      return false;
    }
  }
}

void Condition::notify(int n) {
  if (!lock_.IsMine()) throw std::logic_error("lock is not owned");
  internal::ConditionBlock& b = block();
  const std::uint32_t waiting = b.sleepers - std::min(b.sleepers, b.tickets);
  const std::uint32_t k =
      std::min<std::uint32_t>(waiting, static_cast<std::uint32_t>(std::max(n, 0)));
  if (k == 0) return;
  b.tickets += k;
  b.seq.fetch_add(1, std::memory_order_relaxed);
  // Every sleeper wakes and those without a ticket sleep again: the futex
  // cannot pick which.
  internal::FutexWake(&b.seq, internal::kWakeAll);
}

void Condition::notify_all() { notify(0x7fffffff); }

Barrier::Barrier(int parties, void (*action)(), absl::Duration timeout)
    : ref_(sizeof(BarrierBlock), "cf-barrier",
           [parties, timeout](char* p) { new (p) BarrierBlock(parties, timeout); }),
      action_(action) {
  if (parties < 1) throw std::invalid_argument("parties must be >= 1");
}

namespace {

// A holder that died may have been anywhere in wait(): the barrier breaks.
void RepairIfDied(Guard& g, BarrierBlock& b) {
  if (g.died()) b.state = BarrierBlock::kBroken;
}

void Break(Guard& g, BarrierBlock& b) {
  b.state = BarrierBlock::kBroken;
  g.Notify(b.seq, b.sleepers, internal::kWakeAll);
}

void Leave(Guard& g, BarrierBlock& b) {
  if (--b.count == 0 && (b.state == BarrierBlock::kResetting ||
                         b.state == BarrierBlock::kDraining)) {
    b.state = BarrierBlock::kFilling;
    g.Notify(b.seq, b.sleepers, internal::kWakeAll);
  }
}

}  // namespace

int Barrier::wait(std::optional<absl::Duration> timeout) {
  BarrierBlock& b = block();
  absl::Duration t = timeout.value_or(
      b.timeout_ns < 0 ? absl::InfiniteDuration() : absl::Nanoseconds(b.timeout_ns));
  const absl::Time deadline = internal::DeadlineAfter(t);
  Guard g(b.mutex);
  RepairIfDied(g, b);
  while (b.state == BarrierBlock::kResetting ||
         b.state == BarrierBlock::kDraining) {
    g.Wait(b.seq, b.sleepers, absl::InfiniteFuture());
    RepairIfDied(g, b);
  }
  if (b.state < 0) throw BrokenBarrierError();
  const int index = b.count++;
  try {
    if (index + 1 == b.parties) {
      try {
        if (action_ != nullptr) action_();
        b.state = BarrierBlock::kDraining;
        g.Notify(b.seq, b.sleepers, internal::kWakeAll);
      } catch (...) {
        Break(g, b);
        throw;
      }
    } else {
      while (b.state == BarrierBlock::kFilling) {
        if (absl::Now() >= deadline) {
          Break(g, b);
          throw BrokenBarrierError();
        }
        g.Wait(b.seq, b.sleepers, deadline);
        RepairIfDied(g, b);
      }
      if (b.state < 0) throw BrokenBarrierError();
    }
  } catch (...) {
    Leave(g, b);
    throw;
  }
  Leave(g, b);
  return index;
}

void Barrier::reset() {
  BarrierBlock& b = block();
  Guard g(b.mutex);
  if (b.count > 0) {
    if (b.state == BarrierBlock::kFilling || b.state == BarrierBlock::kBroken) {
      b.state = BarrierBlock::kResetting;
    }
  } else {
    b.state = BarrierBlock::kFilling;
  }
  g.Notify(b.seq, b.sleepers, internal::kWakeAll);
}

void Barrier::abort() {
  BarrierBlock& b = block();
  Guard g(b.mutex);
  Break(g, b);
}

int Barrier::parties() const { return block().parties; }

int Barrier::n_waiting() const {
  BarrierBlock& b = block();
  Guard g(b.mutex);
  return b.state == BarrierBlock::kFilling ? b.count : 0;
}

bool Barrier::broken() const {
  BarrierBlock& b = block();
  Guard g(b.mutex);
  RepairIfDied(g, b);
  return b.state == BarrierBlock::kBroken;
}

internal::CodeAddress Barrier::ActionAddress() const {
  std::optional<internal::CodeAddress> where =
      internal::DescribeAddress(reinterpret_cast<std::uintptr_t>(action_));
  if (!where.has_value()) {
    throw std::invalid_argument(
        "cf::Barrier: its action does not point into the code of a loaded "
        "object, so another process cannot run it");
  }
  return *where;
}

void Barrier::SetAction(const internal::CodeAddress& where) {
  std::optional<std::uintptr_t> address = internal::ResolveAddress(where);
  if (!address.has_value()) {
    throw std::runtime_error(
        "cf::Barrier: its action is not code of this program");
  }
  action_ = reinterpret_cast<void (*)()>(*address);
}

}  // namespace cf
