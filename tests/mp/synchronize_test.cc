// cf::Semaphore, cf::BoundedSemaphore, cf::Event, cf::Condition and
// cf::Barrier: Python's semantics and messages in one process, and the same
// objects shared with children under every start method (a semaphore bounding
// how many run at once, an event and a condition waking a child, a barrier
// releasing parent and children together and running its action once).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/mp/mp_test_util.h"

namespace {

using ::cf_mp_test::ReadFile;
using ::cf_mp_test::MessageOf;
using ::cf_mp_test::WaitFor;

std::string ActionFile() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/barrier_action";
}

void AppendMark() { std::ofstream(ActionFile(), std::ios::app) << "x"; }

void Bounded(cf::Semaphore sem, cf::Value<int> inside, cf::Value<int> most) {
  sem.acquire();
  {
    std::lock_guard<cf::RLock> guard(inside.get_lock());
    inside.set_value(inside.value() + 1);
    if (inside.value() > most.value()) most.set_value(inside.value());
  }
  usleep(30 * 1000);
  {
    std::lock_guard<cf::RLock> guard(inside.get_lock());
    inside.set_value(inside.value() - 1);
  }
  sem.release();
}

void WaitEvent(cf::Event e, cf::Value<int> seen) {
  if (e.wait(absl::Seconds(30))) seen.set_value(1);
}

void WaitCondition(cf::Condition c, cf::Value<int> state, cf::Value<int> ready) {
  std::lock_guard<cf::Condition> guard(c);
  ready.set_value(1);
  if (c.wait_for([&] { return state.value() == 1; }, absl::Seconds(30))) {
    state.set_value(2);
  }
}

void MeetAtBarrier(cf::Barrier b, cf::Array<int> indices, int slot) {
  indices.set(static_cast<std::size_t>(slot), b.wait());
}

void ReleaseLater(cf::Semaphore sem) {
  usleep(50 * 1000);
  sem.release();
}

TEST(SemaphoreTest, CountsAndPythonsMessages) {
  cf::Semaphore sem(2);
  EXPECT_EQ(sem.get_value(), 2);
  EXPECT_TRUE(sem.acquire());
  EXPECT_TRUE(sem.acquire(false));
  EXPECT_FALSE(sem.acquire(false));
  EXPECT_FALSE(sem.acquire(true, absl::Milliseconds(20)));
  sem.release();
  sem.release();
  sem.release();  // unbounded: past the initial value
  EXPECT_EQ(sem.get_value(), 3);
  EXPECT_EQ(MessageOf([] { cf::Semaphore bad(-1); }),
            "semaphore initial value must be >= 0");
  cf::BoundedSemaphore bounded(1);
  EXPECT_EQ(MessageOf([&] { bounded.release(); }),
            "semaphore or lock released too many times");
  std::lock_guard<cf::BoundedSemaphore> guard(bounded);
  EXPECT_EQ(bounded.get_value(), 0);
}

TEST(EventTest, SetClearWait) {
  cf::Event e;
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.wait(absl::Milliseconds(10)));
  e.set();
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(e.wait(absl::ZeroDuration()));
  e.clear();
  EXPECT_FALSE(e.is_set());
  std::thread setter([&] {
    usleep(20 * 1000);
    e.set();
  });
  EXPECT_TRUE(e.wait());
  setter.join();
}

TEST(ConditionTest, WaitNotifyAndPythonsMessages) {
  cf::Condition c;
  EXPECT_EQ(MessageOf([&] { c.wait(absl::Milliseconds(1)); }),
            "must acquire() condition before using wait()");
  EXPECT_EQ(MessageOf([&] { c.notify(); }), "lock is not owned");
  std::unique_lock<cf::Condition> lock(c);
  EXPECT_FALSE(c.wait(absl::Milliseconds(10)));
  EXPECT_FALSE(c.wait_for([] { return false; }, absl::Milliseconds(10)));
  c.notify();  // nobody waits: nothing
  c.notify_all();
  lock.unlock();
  bool flag = false;
  std::thread waiter([&] {
    std::lock_guard<cf::Condition> guard(c);
    c.acquire();  // an RLock by default: a second level
    EXPECT_TRUE(c.wait_for([&] { return flag; }, absl::Seconds(30)));
    c.release();
  });
  usleep(20 * 1000);
  {
    std::lock_guard<cf::Condition> guard(c);
    flag = true;
    c.notify();
  }
  waiter.join();
  cf::Condition on_lock{cf::Lock()};
  std::lock_guard<cf::Condition> guard(on_lock);
  EXPECT_FALSE(on_lock.wait(absl::Milliseconds(5)));
}

TEST(BarrierTest, ReleasesTogetherAndBreaks) {
  cf::Barrier b(2);
  EXPECT_EQ(b.parties(), 2);
  EXPECT_EQ(b.n_waiting(), 0);
  EXPECT_FALSE(b.broken());
  int other = -1;
  std::thread t([&] { other = b.wait(); });
  const int mine = b.wait();
  t.join();
  EXPECT_EQ(std::set<int>({mine, other}), (std::set<int>{0, 1}));
  EXPECT_THROW(b.wait(absl::Milliseconds(20)), cf::BrokenBarrierError);  // timeout
  EXPECT_TRUE(b.broken());
  EXPECT_THROW(b.wait(), cf::BrokenBarrierError);
  b.reset();
  EXPECT_FALSE(b.broken());
  b.abort();
  EXPECT_TRUE(b.broken());
  EXPECT_EQ(MessageOf([] { cf::Barrier bad(0); }), "parties must be >= 1");
  cf::Barrier failing(1, +[] { throw std::runtime_error("action failed"); });
  EXPECT_EQ(MessageOf([&] { failing.wait(); }), "action failed");
  EXPECT_TRUE(failing.broken());
}

class CrossProcessSyncTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessOptions Options() { return {.start_method = GetParam()}; }
};

TEST_P(CrossProcessSyncTest, ASemaphoreBoundsHowManyRunAtOnce) {
  cf::Semaphore sem(2);
  cf::Value<int> inside(0), most(0);
  std::vector<cf::Process> children;
  for (int i = 0; i < 4; ++i) {
    children.emplace_back(Options(), Bounded, sem, inside, most);
    children.back().start();
  }
  for (cf::Process& p : children) {
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_LE(most.value(), 2);
  EXPECT_GE(most.value(), 1);
  EXPECT_EQ(sem.get_value(), 2);
}

TEST_P(CrossProcessSyncTest, AChildReleasesWhatTheParentWaitsFor) {
  cf::Semaphore sem(0);
  cf::Process p(Options(), ReleaseLater, sem);
  p.start();
  EXPECT_TRUE(sem.acquire(true, absl::Seconds(30)));
  p.join();
}

TEST_P(CrossProcessSyncTest, AnEventWakesAChild) {
  cf::Event e;
  cf::Value<int> seen(0);
  cf::Process p(Options(), WaitEvent, e, seen);
  p.start();
  usleep(20 * 1000);
  EXPECT_EQ(seen.value(), 0);
  e.set();
  p.join();
  EXPECT_EQ(seen.value(), 1);
}

TEST_P(CrossProcessSyncTest, AConditionWakesAChild) {
  for (bool recursive : {true, false}) {
    cf::Condition c = recursive ? cf::Condition() : cf::Condition(cf::Lock());
    cf::Value<int> state(0), ready(0);
    cf::Process p(Options(), WaitCondition, c, state, ready);
    p.start();
    ASSERT_TRUE(WaitFor([&] { return ready.value() == 1; }));
    {
      std::lock_guard<cf::Condition> guard(c);
      state.set_value(1);
      c.notify_all();
    }
    p.join();
    EXPECT_EQ(state.value(), 2);
  }
}

TEST_P(CrossProcessSyncTest, ABarrierReleasesEveryoneAndRunsItsActionOnce) {
  std::remove(ActionFile().c_str());
  cf::Barrier b(4, AppendMark);
  cf::Array<int> indices(3);
  std::vector<cf::Process> children;
  for (int i = 0; i < 3; ++i) {
    children.emplace_back(Options(), MeetAtBarrier, b, indices, i);
    children.back().start();
  }
  const int mine = b.wait(absl::Seconds(30));
  for (cf::Process& p : children) {
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  }
  std::set<int> all(indices.get_obj().begin(), indices.get_obj().end());
  all.insert(mine);
  EXPECT_EQ(all, (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(ReadFile(ActionFile()), "x");
}

INSTANTIATE_TEST_SUITE_P(StartMethods, CrossProcessSyncTest,
                         testing::ValuesIn(cf_mp_test::StartMethods()),
                         cf_mp_test::ParamName);

}  // namespace
