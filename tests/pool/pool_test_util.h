// Tasks and helpers shared by the cf::Pool tests. Tasks are plain functions
// so that every start method can run them; gates are files (see
// tests/process/cpython_test_util.h).
#ifndef CF_TESTS_POOL_POOL_TEST_UTIL_H_
#define CF_TESTS_POOL_POOL_TEST_UTIL_H_

#include <signal.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "cf.h"
#include "gtest/gtest.h"
#include "tests/process/cpython_test_util.h"
#include "tests/process/process_test_util.h"

namespace cf_pool_test {

inline int Square(int x) { return x * x; }
inline int Add(int a, int b) { return a + b; }
inline int Pid(int) { return getpid(); }
inline std::string Name(int) { return cf::current_process().name(); }
inline void Nothing(int) {}

// Throws std::invalid_argument("bad <x>") for x == 3 (Python's ValueError).
inline int ThrowAt3(int x) {
  if (x == 3) throw std::invalid_argument("bad " + std::to_string(x));
  return x;
}

// Dies from outside, mid-task: SIGKILL, which no sanitizer intercepts.
inline int KillSelf(int) {
  kill(getpid(), SIGKILL);
  return 0;
}

// Waits for the gate file `path` (or release-all beside it; no wait when
// `path` is empty), then returns x.
inline int WaitGate(std::string path, int x) {
  if (!path.empty()) cf_process_test::WaitForFile(std::move(path));
  return x;
}

// The parameter of every TEST_P: the start method.
class PoolTestBase : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::PoolOptions Options(int processes = 2) const {
    return {.processes = processes, .start_method = GetParam()};
  }
};

// Expects `fn` to throw E whose what() is exactly `message`.
template <class E, class Fn>
void ExpectThrowWithMessage(Fn&& fn, const std::string& message) {
  try {
    fn();
    ADD_FAILURE() << "expected an exception: " << message;
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

}  // namespace cf_pool_test

#endif  // CF_TESTS_POOL_POOL_TEST_UTIL_H_
