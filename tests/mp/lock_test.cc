// cf::Lock and cf::RLock: Python's semantics and messages in one process,
// mutual exclusion across processes under every start method, and a holder
// SIGKILLed while holding the lock: the others get it (robust mutex) and
// owner_deaths() counts the death instead of everyone deadlocking.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/mp/mp_test_util.h"

namespace {

using ::cf_mp_test::MessageOf;
using ::cf_mp_test::WaitFor;

void HoldFor(cf::Lock lock, cf::Value<int> held, int ms) {
  std::lock_guard<cf::Lock> guard(lock);
  held.set_value(1);
  usleep(static_cast<useconds_t>(ms) * 1000);
}

void HoldForever(cf::Lock lock, cf::RLock rlock, cf::Value<int> held) {
  lock.acquire();
  rlock.acquire();
  rlock.acquire();
  held.set_value(1);
  pause();
}

TEST(LockTest, AcquireReleaseAndPythonsMessages) {
  cf::Lock lock;
  EXPECT_TRUE(lock.acquire());
  EXPECT_FALSE(lock.acquire(false));
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_FALSE(lock.acquire(true, absl::Milliseconds(50)));
  EXPECT_GE(std::chrono::steady_clock::now() - begin,
            std::chrono::milliseconds(45));
  EXPECT_THROW(lock.acquire(), std::logic_error);  // Python would hang
  std::string from_other;
  std::thread([&] { from_other = MessageOf([&] { lock.release(); }); }).join();
  EXPECT_NE(from_other.find("does not hold it"), std::string::npos);
  lock.release();
  EXPECT_EQ(MessageOf([&] { lock.release(); }),
            "semaphore or lock released too many times");
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
  {
    std::unique_lock<cf::Lock> guard(lock);
    EXPECT_TRUE(guard.owns_lock());
  }
  EXPECT_EQ(lock.owner_deaths(), 0u);
  EXPECT_EQ(MessageOf([&] { lock.acquire(true, absl::Milliseconds(-1)); }),
            "'timeout' must be a non-negative number");
}

TEST(LockTest, AnotherThreadWaitsForTheHolder) {
  cf::Lock lock;
  lock.acquire();
  std::atomic<bool> got{false};
  std::thread t([&] {
    lock.acquire();
    got = true;
    lock.release();
  });
  usleep(50 * 1000);
  EXPECT_FALSE(got);
  lock.release();
  t.join();
  EXPECT_TRUE(got);
}

TEST(RLockTest, RecursesAndPythonsMessage) {
  cf::RLock rlock;
  EXPECT_TRUE(rlock.acquire());
  EXPECT_TRUE(rlock.acquire(false));
  rlock.release();
  rlock.release();
  EXPECT_EQ(MessageOf([&] { rlock.release(); }),
            "attempt to release recursive lock not owned by thread");
  rlock.acquire();
  bool other = true;
  std::thread([&] { other = rlock.acquire(false); }).join();
  EXPECT_FALSE(other);
  rlock.release();
  std::lock_guard<cf::RLock> guard(rlock);
}

class CrossProcessLockTest : public testing::TestWithParam<cf::StartMethod> {};

TEST_P(CrossProcessLockTest, ExcludesOtherProcesses) {
  cf::Lock lock;
  cf::Value<int> held(0);
  cf::Process p({.start_method = GetParam()}, HoldFor, lock, held, 300);
  p.start();
  ASSERT_TRUE(WaitFor([&] { return held.value() == 1; }));
  EXPECT_FALSE(lock.acquire(false));
  EXPECT_FALSE(lock.acquire(true, absl::Milliseconds(20)));
  EXPECT_TRUE(lock.acquire(true, absl::Seconds(30)));
  lock.release();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(lock.owner_deaths(), 0u);
}

TEST_P(CrossProcessLockTest, AHolderKilledWhileHoldingDoesNotDeadlockOthers) {
  cf::Lock lock;
  cf::RLock rlock;
  cf::Value<int> held(0);
  cf::Process p({.start_method = GetParam()}, HoldForever, lock, rlock, held);
  p.start();
  ASSERT_TRUE(WaitFor([&] { return held.get_obj() == 1; }));
  EXPECT_FALSE(lock.acquire(false));
  p.kill();
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGKILL);
  ASSERT_TRUE(lock.acquire(true, absl::Seconds(10)));
  EXPECT_EQ(lock.owner_deaths(), 1u);
  lock.release();
  ASSERT_TRUE(rlock.acquire(true, absl::Seconds(10)));
  EXPECT_EQ(rlock.owner_deaths(), 1u);
  rlock.release();  // one level, though the dead holder took two
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

INSTANTIATE_TEST_SUITE_P(StartMethods, CrossProcessLockTest,
                         testing::ValuesIn(cf_mp_test::StartMethods()),
                         cf_mp_test::ParamName);

}  // namespace
