// Kill anytime: children hammering the shared objects (Value, Array, Lock,
// RLock, Queue, Pipe, Semaphore, Event, Condition) are SIGKILLed at random
// moments, under every start method. Afterwards the objects still
// work (no lock stays held, the queue holds only whole items, pipes give whole
// messages or "got end of file during message"), and once the handles are
// gone nothing is left: no new entry in /dev/shm (where Python's named
// semaphores and segments leak), no new file in TMPDIR, no descriptor, and
// no shared mapping in /proc/self/maps.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/mp/mp_test_util.h"

namespace {

using ::cf_mp_test::OpenFdCount;
using ::cf_mp_test::SharedMappingCount;
using ::cf_mp_test::WaitFor;

std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ignored)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

// Entries of `after` that `before` lacks. /dev/shm is the machine's: other
// programs' entries come and go meanwhile, so only new ones count, and Open
// MPI's (other tests on the machine use it) are not ours.
std::set<std::string> Added(const std::set<std::string>& before,
                            const std::set<std::string>& after) {
  std::set<std::string> added;
  for (const std::string& name : after) {
    if (!before.count(name) && name.rfind("vader_segment", 0) != 0) {
      added.insert(name);
    }
  }
  return added;
}

std::string Message(int seed, std::size_t size) {
  std::string s(size, static_cast<char>('a' + seed % 26));
  s[0] = static_cast<char>(size % 251);
  return s;
}

bool WholeMessage(const std::string& s) {
  if (s.empty() || static_cast<unsigned char>(s[0]) != s.size() % 251) {
    return false;
  }
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] != s[1]) return false;
  }
  return true;
}

struct Shared {
  cf::Lock lock;
  cf::RLock rlock;
  cf::Value<std::int64_t> counter{0};
  cf::Array<std::int64_t> array = cf::Array<std::int64_t>(64);
  cf::Queue<std::string> queue;
  cf::Semaphore semaphore{2};
  cf::Event event;
  cf::Condition condition;
  cf::Value<int> alive{0};

  template <class Archive>
  void serialize(Archive& archive) {
    archive(lock, rlock, counter, array, queue, semaphore, event, condition,
            alive);
  }
};

void Hammer(Shared s, cf::Connection<std::string> conn, int seed) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  {
    std::lock_guard<cf::RLock> guard(s.alive.get_lock());
    s.alive.set_value(s.alive.value() + 1);
  }
  for (int i = 0;; ++i) {
    {
      std::lock_guard<cf::Lock> guard(s.lock);
      std::lock_guard<cf::RLock> again(s.rlock);
      s.counter.set_value(s.counter.value() + 1);
      s.array.set(static_cast<std::size_t>(i % 64), i);
    }
    const std::size_t size = std::size_t{1} << (rng() % 20);
    s.queue.put(Message(seed, size));
    try {
      if (!WholeMessage(s.queue.get(absl::ZeroDuration()))) _exit(3);
    } catch (const cf::Empty&) {
    }
    if (s.semaphore.acquire(true, absl::Milliseconds(1))) s.semaphore.release();
    {
      std::lock_guard<cf::Condition> guard(s.condition);
      s.condition.notify_all();
      s.condition.wait(absl::Microseconds(100));
    }
    if (i % 2 == 0) s.event.set(); else s.event.clear();
    if (conn.poll()) (void)conn.recv_bytes();
    conn.send_bytes(Message(seed, size));
  }
}

class LeakTest : public testing::TestWithParam<cf::StartMethod> {};

TEST_P(LeakTest, KilledAtAnyMomentLeavesNothingBehind) {
  // Warm up: the fork server (kForkServer) lives on for later processes.
  {
    cf::Process p({.start_method = GetParam()}, +[] {});
    p.start();
    p.join();
  }
  const std::set<std::string> shm_before = Listing("/dev/shm");
  // A private TMPDIR (the machine's /tmp is shared with other programs), which
  // the children inherit.
  cf_process_test::ScopedTempDir private_tmp("cf_leak_");
  cf_process_test::ScopedEnv tmp_env("TMPDIR", private_tmp.path());
  const std::string tmpdir = private_tmp.path();
  const std::set<std::string> tmp_before = Listing(tmpdir);
  const int fds_before = OpenFdCount();
  const int maps_before = SharedMappingCount();
  {
    Shared s;
    std::mt19937 rng(1234);
    for (int round = 0; round < 3; ++round) {
      std::vector<cf::Process> children;
      std::vector<cf::Connection<std::string>> mine;
      s.alive.set_value(0);
      for (int i = 0; i < 3; ++i) {
        auto [a, b] = cf::Pipe<std::string>();
        children.emplace_back(cf::ProcessOptions{.start_method = GetParam()},
                              Hammer, s, b, round * 10 + i);
        children.back().start();
        b.close();
        mine.push_back(a);
      }
      ASSERT_TRUE(WaitFor([&] { return s.alive.value() == 3; }));
      for (cf::Process& p : children) {
        usleep(static_cast<useconds_t>(rng() % 20000));
        p.kill();
      }
      for (cf::Process& p : children) {
        p.join();
        // SIGKILL, or 3 had a child seen a torn item.
        EXPECT_EQ(p.exitcode(), -SIGKILL);
      }
      // Every object still works.
      ASSERT_TRUE(s.lock.acquire(true, absl::Seconds(10)));
      s.lock.release();
      ASSERT_TRUE(s.rlock.acquire(true, absl::Seconds(10)));
      s.rlock.release();
      (void)s.counter.value();
      (void)s.array.tolist();
      while (true) {
        try {
          ASSERT_TRUE(WholeMessage(s.queue.get(absl::ZeroDuration())));
        } catch (const cf::Empty&) {
          break;
        }
      }
      s.queue.put(Message(1, 100));
      EXPECT_TRUE(WholeMessage(s.queue.get(absl::Seconds(5))));
      for (cf::Connection<std::string>& c : mine) {
        try {
          while (true) ASSERT_TRUE(WholeMessage(c.recv_bytes()));
        } catch (const cf::EOFError&) {
        } catch (const cf::OSError& e) {
          EXPECT_STREQ(e.what(), "got end of file during message");
        }
      }
      std::lock_guard<cf::Condition> guard(s.condition);
      s.condition.notify_all();
    }
    EXPECT_GT(SharedMappingCount(), maps_before);
  }
  EXPECT_EQ(Added(shm_before, Listing("/dev/shm")), std::set<std::string>());
  EXPECT_EQ(Added(tmp_before, Listing(tmpdir)), std::set<std::string>());
  EXPECT_EQ(OpenFdCount(), fds_before);
  EXPECT_EQ(SharedMappingCount(), maps_before);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, LeakTest,
                         testing::ValuesIn(cf_mp_test::StartMethods()),
                         cf_mp_test::ParamName);

}  // namespace
