// A point in time on the monotonic clock after which a wait gives up.
//
// Python measures every timeout with time.monotonic(); so does cf. An
// infinite absl::Duration (Python's `None`) is a deadline that never passes,
// and a zero or negative one has already passed: "do not wait".
#ifndef CF_FUTURES_INTERNAL_DEADLINE_H_
#define CF_FUTURES_INTERNAL_DEADLINE_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace cf::internal {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline Never() { return Deadline(); }
  static Deadline After(absl::Duration timeout) {
    Deadline d;
    if (timeout == absl::InfiniteDuration()) return d;
    d.infinite_ = false;
    if (timeout <= absl::ZeroDuration()) {
      d.at_ = Clock::time_point::min();
      return d;
    }
    const Clock::time_point now = Clock::now();
    // Beyond what the clock can represent (~292 years): never, not overflow.
    if (timeout >= absl::FromChrono(Clock::time_point::max() - now)) {
      return Never();
    }
    d.at_ = now + absl::ToChronoNanoseconds(timeout);
    return d;
  }

  bool infinite() const { return infinite_; }
  bool expired() const { return !infinite_ && Clock::now() >= at_; }
  Clock::time_point at() const { return at_; }
  // What is left, for messages and for APIs that take a duration.
  absl::Duration remaining() const {
    if (infinite_) return absl::InfiniteDuration();
    auto left = at_ - Clock::now();
    return left <= Clock::duration::zero() ? absl::ZeroDuration()
                                           : absl::FromChrono(left);
  }

  // Waits on `cv` until `pred()` holds or the deadline passes; returns pred().
  template <class Pred>
  bool WaitOn(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
              Pred pred) const {
    if (infinite_) {
      cv.wait(lock, pred);
      return true;
    }
    if (at_ == Clock::time_point::min()) return pred();
    return cv.wait_until(lock, at_, pred);
  }

 private:
  Deadline() = default;
  bool infinite_ = true;
  Clock::time_point at_ = Clock::time_point::max();
};

}  // namespace cf::internal

#endif  // CF_FUTURES_INTERNAL_DEADLINE_H_
