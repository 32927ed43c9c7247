// internal::ResultIterator<Owner, T>: the input iterator of cf's lazy result
// ranges (Executor::map's MapResult, Pool's IMapIterator), so that range-for
// and Python's step-by-step next() work the same on every one of them.
//
// The one thing to know: the range does the work. Dereferencing asks the
// owner for the current position's result (Owner::Current(), which waits and
// hands the value over once), ++ moves past it (Owner::Advance()), and an
// iterator equals end() once Owner::AtEnd() says nothing is left.
//
//   class MyRange {
//    public:
//     using iterator = internal::ResultIterator<MyRange, int>;
//     iterator begin() { return iterator(this); }
//     iterator end() { return iterator(); }
//    private:
//     friend iterator;
//     int Current(); void Advance(); bool AtEnd();
//   };
#ifndef CF_EXECUTORS_INTERNAL_RESULT_ITERATOR_H_
#define CF_EXECUTORS_INTERNAL_RESULT_ITERATOR_H_

#include <cstddef>
#include <iterator>

namespace cf::internal {

template <class Owner, class T>
class ResultIterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using iterator_category = std::input_iterator_tag;
  using reference = T;
  using pointer = void;

  ResultIterator() = default;  // end()
  explicit ResultIterator(Owner* owner) : owner_(owner) {}

  // Waits for this position's result and hands it over (once); rethrows the
  // call's exception.
  T operator*() const { return owner_->Current(); }
  ResultIterator& operator++() {
    owner_->Advance();
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const ResultIterator& a, const ResultIterator& b) {
    return a.AtEnd() == b.AtEnd();
  }

 private:
  bool AtEnd() const { return owner_ == nullptr || owner_->AtEnd(); }

  Owner* owner_ = nullptr;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_RESULT_ITERATOR_H_
