// Locks and other synchronization that work across processes, as Python's
// multiprocessing.synchronize: cf::Lock, cf::RLock, cf::Semaphore,
// cf::BoundedSemaphore, cf::Event, cf::Condition and cf::Barrier. Each lives
// in anonymous shared memory (executors/shared_memory/) and reaches another
// process as an argument of a cf::Process target or a process-pool task;
// within a process, copies of a handle are the same object.
//
// The one thing to know: a holder that dies holding a Lock or RLock (even by
// SIGKILL) does not deadlock the others. The kernel releases the robust
// mutex underneath; the next acquire succeeds and owner_deaths() counts the
// death, so code whose data may be half-updated can check it. (Python's
// semaphore-based locks stay held forever.) Semaphore permits, Event flags
// and Barrier arrivals have no owner: a dead process's are simply gone, as
// in Python. Unlike Python's, a Lock is released only by the thread that
// holds it.
//
//   void add(cf::Value<int> total, cf::Lock lock) {
//     std::lock_guard<cf::Lock> guard(lock);      // lock()/unlock()
//     total.set_value(total.value() + 1);
//   }
//
//   cf::Lock lock;
//   cf::Process p(add, total, lock);
#ifndef CF_EXECUTORS_SYNCHRONIZE_H_
#define CF_EXECUTORS_SYNCHRONIZE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "executors/mp_errors.h"
#include "executors/shared_memory/shared_memory.h"
#include "executors/transport/code_address.h"

namespace cf {

namespace internal {
struct LockBlock;

// Bytes a lock takes at the start of a block (a cf::Value puts its data
// after them).
inline constexpr std::size_t kLockBlockSize = 128;

// What Lock and RLock share: a robust error-checking mutex, its holder and,
// for an RLock, the depth of its recursion.
class LockCore {
 public:
  LockCore();  // a new lock, made on first use
  explicit LockCore(SharedRef ref) : ref_(std::move(ref)) {}

  static std::size_t BlockSize();
  static void Construct(char* where);

  bool Acquire(bool recursive, bool block, absl::Duration timeout);
  void Release(bool recursive);
  // For Condition: whether this thread holds it; release every level and
  // take them all back.
  bool IsMine() const;
  int ReleaseAll();
  void Reacquire(int depth);
  std::uint64_t owner_deaths() const;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(ref_);
  }
  const SharedRef& ref() const { return ref_; }

 private:
  LockBlock* block() const { return ref_.get<LockBlock>(); }
  SharedRef ref_;
};
}  // namespace internal

namespace internal {

// BasicLockable and Lockable (std::lock_guard, std::unique_lock) over
// Python's acquire()/release().
template <class Derived>
class StdLockable {
 public:
  void lock() { self().acquire(); }
  void unlock() { self().release(); }
  bool try_lock() { return self().acquire(false); }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

// Lock and RLock: a LockCore, recursive or not.
template <class Derived, bool kRecursive>
class CoreLock : public StdLockable<Derived> {
 public:
  // Python's acquire(block=True, timeout=None).
  bool acquire(bool block = true,
               absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Acquire(kRecursive, block, timeout);
  }
  void release() { core_.Release(kRecursive); }
  // How many holders died holding it (in any process).
  std::uint64_t owner_deaths() const { return core_.owner_deaths(); }

  template <class Archive>
  void serialize(Archive& archive) {
    archive(core_);
  }

  // For Condition, which shares the lock.
  const LockCore& core() const { return core_; }

 protected:
  CoreLock() = default;
  explicit CoreLock(SharedRef ref) : core_(std::move(ref)) {}

 private:
  LockCore core_;
};

}  // namespace internal

// multiprocessing.Lock: non-recursive. acquire() by a thread that already
// holds it returns false after the timeout, or throws std::logic_error when
// it would wait forever (Python's deadlock). release() throws
// std::invalid_argument("semaphore or lock released too many times") when
// nobody holds it, std::logic_error when another thread does.
class Lock : public internal::CoreLock<Lock, false> {
 public:
  Lock() = default;
};

// multiprocessing.RLock: a thread may acquire it again; each acquire needs
// its release. release() throws std::logic_error("attempt to release
// recursive lock not owned by thread") unless this thread holds it.
class RLock : public internal::CoreLock<RLock, true> {
 public:
  RLock() = default;
  // The lock at the start of `ref`'s block (a cf::Value's).
  explicit RLock(internal::SharedRef ref) : CoreLock(std::move(ref)) {}
};

namespace internal {
struct SemaphoreBlock;
struct EventBlock;
struct ConditionBlock;
struct BarrierBlock;
}  // namespace internal

// multiprocessing.Semaphore: a counter; acquire() waits while it is zero.
class Semaphore : public internal::StdLockable<Semaphore> {
 public:
  // std::invalid_argument("semaphore initial value must be >= 0").
  explicit Semaphore(int value = 1) : Semaphore(value, 0) {}
  bool acquire(bool block = true,
               absl::Duration timeout = absl::InfiniteDuration());
  // Any thread of any process may release.
  void release();
  int get_value() const;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(ref_);
  }

 protected:
  Semaphore(int value, int max_value);

 private:
  internal::SemaphoreBlock& block() const {
    return *ref_.get<internal::SemaphoreBlock>();
  }
  internal::SharedRef ref_;
};

// multiprocessing.BoundedSemaphore: release() past the initial value is
// std::invalid_argument("semaphore or lock released too many times").
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(int value = 1) : Semaphore(value, value) {}
};

// multiprocessing.Event: a flag processes wait for.
class Event {
 public:
  Event();
  bool is_set() const;
  void set();
  void clear();
  // True once the flag is set; false if `timeout` passed first.
  bool wait(absl::Duration timeout = absl::InfiniteDuration());

  template <class Archive>
  void serialize(Archive& archive) {
    archive(ref_);
  }

 private:
  internal::EventBlock& block() const {
    return *ref_.get<internal::EventBlock>();
  }
  internal::SharedRef ref_;
};

// multiprocessing.Condition: waits for a notify() from any process, on a
// cf::RLock (the default) or a cf::Lock that it shares with its users.
// Which waiters notify(n) wakes is unspecified; a woken waiter holds the
// lock again, as in Python.
class Condition : public internal::StdLockable<Condition> {
 public:
  Condition() : Condition(RLock()) {}
  explicit Condition(Lock lock);
  explicit Condition(RLock lock);

  bool acquire(bool block = true,
               absl::Duration timeout = absl::InfiniteDuration()) {
    return lock_.Acquire(recursive_, block, timeout);
  }
  void release() { lock_.Release(recursive_); }

  // Releases the lock (every level of an RLock), waits for a notify or the
  // timeout, takes the lock back; false on timeout. std::logic_error("must
  // acquire() condition before using wait()") without the lock.
  bool wait(absl::Duration timeout = absl::InfiniteDuration());
  // Python's wait_for: waits until `predicate()` holds or the timeout
  // passes; the predicate's last value.
  template <class Predicate>
  bool wait_for(Predicate predicate,
                absl::Duration timeout = absl::InfiniteDuration()) {
    const absl::Time deadline =
        timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                            : absl::Now() + timeout;
    bool result = predicate();
    while (!result) {
      const absl::Duration left = deadline == absl::InfiniteFuture()
                                      ? absl::InfiniteDuration()
                                      : deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      wait(left);
      result = predicate();
    }
    return result;
  }
  // Wakes up to `n` waiters. std::logic_error("lock is not owned") without
  // the lock.
  void notify(int n = 1);
  void notify_all();

  template <class Archive>
  void serialize(Archive& archive) {
    archive(lock_, recursive_, ref_);
  }

 private:
  internal::ConditionBlock& block() const {
    return *ref_.get<internal::ConditionBlock>();
  }
  internal::LockCore lock_;
  bool recursive_ = true;
  internal::SharedRef ref_;
};

// multiprocessing.Barrier (threading.Barrier's semantics): `parties`
// processes or threads meet in wait(); the last to arrive runs `action`
// (in its own process) before any is released.
class Barrier {
 public:
  // std::invalid_argument("parties must be >= 1").
  explicit Barrier(int parties, void (*action)() = nullptr,
                   absl::Duration timeout = absl::InfiniteDuration());
  Barrier() : Barrier(1) {}
  // This arrival's index, 0 to parties - 1. cf::BrokenBarrierError when the
  // barrier is broken or breaks: by abort(), by reset() while waiting, by a
  // timeout (the default is the constructor's), or by an action that threw
  // (its exception goes to the one that ran it).
  int wait(std::optional<absl::Duration> timeout = std::nullopt);
  void reset();
  void abort();
  int parties() const;
  int n_waiting() const;
  bool broken() const;

  template <class Archive>
  void save(Archive& archive) const {
    archive(ref_, action_ != nullptr);
    if (action_ != nullptr) archive(ActionAddress());
  }
  template <class Archive>
  void load(Archive& archive) {
    bool has_action = false;
    archive(ref_, has_action);
    action_ = nullptr;
    if (has_action) {
      internal::CodeAddress where;
      archive(where);
      SetAction(where);
    }
  }

 private:
  internal::BarrierBlock& block() const {
    return *ref_.get<internal::BarrierBlock>();
  }
  internal::CodeAddress ActionAddress() const;
  void SetAction(const internal::CodeAddress& where);

  internal::SharedRef ref_;
  void (*action_)() = nullptr;
};

}  // namespace cf

#endif  // CF_EXECUTORS_SYNCHRONIZE_H_
