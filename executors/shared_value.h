// cf::Value<T> and cf::Array<T>: Python's multiprocessing.Value and Array, a
// T (or n of them) in anonymous shared memory that every process given the
// handle as an argument reads and writes, with a process-shared cf::RLock.
//
// The one thing to know: as in Python, value() and set_value() each take the
// lock, so `v.set_value(v.value() + 1)` from two processes still loses
// updates; hold get_lock() around the read-modify-write (seed 001's counter).
// With {.lock = false} there is no lock (Python's lock=False, RawValue).
//
//   void add_fifty(cf::Value<int> total) {
//     for (int i = 0; i < 50; ++i) {
//       std::lock_guard<cf::RLock> guard(total.get_lock());
//       total.set_value(total.value() + 1);   // or ++total.get_obj()
//     }
//   }
//
//   cf::Value<int> total(0);                  // Python: Value('i', 0)
//   cf::Array<double> samples(100);           // Python: Array('d', 100)
//   cf::Process p(add_fifty, total);
//
// T must be trivially copyable, and should hold no pointers: another process
// maps the memory at another address. A default-constructed handle makes its
// memory on first use, so one that cereal reads into allocates nothing.
#ifndef CF_EXECUTORS_SHARED_VALUE_H_
#define CF_EXECUTORS_SHARED_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "executors/shared_memory/shared_memory.h"
#include "executors/synchronize.h"

namespace cf {

// Python's lock=True / lock=False.
struct SharedOptions {
  bool lock = true;
};

namespace internal {

template <class T>
inline constexpr std::size_t kSharedDataOffset =
    (kLockBlockSize + sizeof(std::uint64_t) + alignof(T) - 1) / alignof(T) *
    alignof(T);

// The lock, the element count, then the elements.
template <class T>
SharedRef MakeSharedArray(std::size_t n, const T* init) {
  std::vector<T> copy;
  if (init != nullptr) copy.assign(init, init + n);
  return SharedRef(kSharedDataOffset<T> + n * sizeof(T), "cf-value",
                   [n, copy = std::move(copy)](char* p) {
                     LockCore::Construct(p);
                     const std::uint64_t count = n;
                     std::memcpy(p + kLockBlockSize, &count, sizeof(count));
                     if (!copy.empty()) {
                       std::memcpy(p + kSharedDataOffset<T>, copy.data(),
                                   copy.size() * sizeof(T));
                     }
                   });
}

// The shared part of Value and Array.
template <class T>
class SharedArrayBase {
  static_assert(std::is_trivially_copyable_v<T>,
                "cf::Value / cf::Array: T must be trivially copyable: its "
                "bytes are shared with other processes");

 public:
  // Python's get_lock(). std::logic_error for a lock=false object.
  // The lock (the same in every copy of this handle).
  RLock& get_lock() const {
    if (!synchronized_) {
      throw std::logic_error(
          "cf::Value / cf::Array: created with lock=false, it has no lock");
    }
    return lock_;
  }
  bool synchronized() const { return synchronized_; }

  template <class Archive>
  void save(Archive& archive) const {
    archive(ref_, synchronized_);
  }
  template <class Archive>
  void load(Archive& archive) {
    archive(ref_, synchronized_);
    lock_ = RLock(ref_);
  }

 protected:
  SharedArrayBase() = default;
  SharedArrayBase(SharedRef ref, bool synchronized)
      : ref_(std::move(ref)), lock_(ref_), synchronized_(synchronized) {}

  T* data() const { return reinterpret_cast<T*>(ref_.data() + kSharedDataOffset<T>); }
  std::size_t count() const {
    std::uint64_t n;
    std::memcpy(&n, ref_.data() + kLockBlockSize, sizeof(n));
    return static_cast<std::size_t>(n);
  }

  // Runs `f` holding the lock, if there is one.
  template <class F>
  auto Locked(F f) const {
    if (!synchronized_) return f();
    lock_.acquire();
    struct Release {
      RLock& lock;
      ~Release() { lock.release(); }
    } release{lock_};
    return f();
  }

  SharedRef ref_;
  mutable RLock lock_{SharedRef()};
  bool synchronized_ = true;
};

}  // namespace internal

template <class T>
class Value : public internal::SharedArrayBase<T> {
  using Base = internal::SharedArrayBase<T>;

 public:
  // Python's Value(typecode): T{}.
  Value() : Value(T{}) {}
  explicit Value(const T& initial, SharedOptions options = {})
      : Base(internal::MakeSharedArray<T>(1, &initial), options.lock) {}

  // Under the lock (Python's .value).
  T value() const {
    return this->Locked([this] {
      T v;
      std::memcpy(&v, this->data(), sizeof(T));
      return v;
    });
  }
  void set_value(const T& v) {
    this->Locked([this, &v] { std::memcpy(this->data(), &v, sizeof(T)); });
  }
  // The shared T itself, without the lock (Python's get_obj()).
  T& get_obj() const { return *this->data(); }
};

template <class T>
class Array : public internal::SharedArrayBase<T> {
  using Base = internal::SharedArrayBase<T>;

 public:
  Array() : Array(std::size_t{0}) {}
  // `size` zero elements (Python's Array('i', 10)). As with std::vector,
  // Array<int>(10) is ten zeros and Array<int>{10} is one 10.
  explicit Array(std::size_t size, SharedOptions options = {})
      : Base(internal::MakeSharedArray<T>(size, nullptr), options.lock) {}
  // Python's Array('i', [1, 2, 3]).
  explicit Array(const std::vector<T>& init, SharedOptions options = {})
      : Base(internal::MakeSharedArray<T>(init.size(), init.data()),
             options.lock) {}
  Array(std::initializer_list<T> init, SharedOptions options = {})
      : Array(std::vector<T>(init), options) {}

  // Python's len().
  std::size_t size() const { return this->count(); }
  // Under the lock (Python's a[i]); std::out_of_range("invalid index").
  T get(std::size_t i) const {
    return this->Locked([this, i] {
      Check(i);
      T v;
      std::memcpy(&v, this->data() + i, sizeof(T));
      return v;
    });
  }
  void set(std::size_t i, const T& v) {
    this->Locked([this, i, &v] {
      Check(i);
      std::memcpy(this->data() + i, &v, sizeof(T));
    });
  }
  // Every element, under the lock (Python's a[:]).
  std::vector<T> tolist() const {
    return this->Locked([this] {
      return std::vector<T>(this->data(), this->data() + this->count());
    });
  }
  // The shared elements themselves, without the lock (Python's get_obj()).
  std::span<T> get_obj() const { return {this->data(), this->count()}; }
  T& operator[](std::size_t i) const { return this->data()[i]; }

 private:
  void Check(std::size_t i) const {
    if (i >= this->count()) throw std::out_of_range("invalid index");
  }
};

}  // namespace cf

#endif  // CF_EXECUTORS_SHARED_VALUE_H_
