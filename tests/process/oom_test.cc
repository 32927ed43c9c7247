// A worker killed by the kernel's OOM killer breaks the pool like any other
// death, with a message naming the worker and SIGKILL, and with
// WorkerDeath::kReplace the pool goes on. The OOM kill is real: the task
// moves its worker into a memory cgroup with a small limit and exceeds it.
// Needs a writable cgroup v1 memory controller (root, as in CI); skipped,
// saying why, where there is none.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace {

using ::testing::HasSubstr;

constexpr char kMemoryRoot[] = "/sys/fs/cgroup/memory";

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// Joins `cgroup`, then touches memory far past its limit.
int ExhaustMemory(std::string cgroup) {
  if (!WriteFile(cgroup + "/cgroup.procs", std::to_string(getpid()))) return -1;
  for (int i = 0; i < 1024; ++i) {
    char* block = static_cast<char*>(std::malloc(1 << 20));
    if (block == nullptr) return -2;
    std::memset(block, i, 1 << 20);  // touched: really resident
  }
  return 0;  // the limit did not hold
}

int Twice(int x) { return 2 * x; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

class OomTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  void SetUp() override {
    cgroup_ = std::string(kMemoryRoot) + "/cf_oom_test_" + std::to_string(getpid());
    std::error_code error;
    std::filesystem::create_directory(cgroup_, error);
    if (error || !WriteFile(cgroup_ + "/memory.limit_in_bytes", "67108864")) {
      GTEST_SKIP() << "no writable cgroup v1 memory controller at " << kMemoryRoot
                   << " (" << (error ? error.message() : "cannot set a limit")
                   << "); a real OOM kill needs one";
    }
    // No swap to escape to: past the limit the OOM killer acts.
    WriteFile(cgroup_ + "/memory.swappiness", "0");
    WriteFile(cgroup_ + "/memory.memsw.limit_in_bytes", "67108864");
  }
  void TearDown() override {
    if (!cgroup_.empty()) rmdir(cgroup_.c_str());
  }
  std::string cgroup_;
};

TEST_P(OomTest, OomKilledWorkerBreaksThePoolNamingSigkill) {
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam()});
  try {
    const int r = pool.submit(ExhaustMemory, cgroup_).result(absl::Seconds(60));
    FAIL() << "the worker survived (" << r << ")";
  } catch (const cf::BrokenProcessPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("signal 9 (SIGKILL)"));
  }
  // It was the OOM killer that sent it.
  EXPECT_THAT(ReadFile(cgroup_ + "/memory.oom_control"), HasSubstr("oom_kill 1"));
  EXPECT_THROW(pool.submit(Twice, 1), cf::BrokenProcessPool);
}

TEST_P(OomTest, OomKilledWorkerIsReplacedWhenAskedTo) {
  cf::ProcessPoolExecutor pool({.max_workers = 1,
                                .start_method = GetParam(),
                                .on_worker_death = cf::WorkerDeath::kReplace});
  EXPECT_THROW(pool.submit(ExhaustMemory, cgroup_).result(absl::Seconds(60)),
               cf::BrokenProcessPool);
  EXPECT_EQ(pool.submit(Twice, 21).result(absl::Seconds(60)), 42);
}

INSTANTIATE_TEST_SUITE_P(
    StartMethods, OomTest, testing::ValuesIn(cf_process_test::StartMethods()),
    [](const testing::TestParamInfo<cf::StartMethod>& info) {
      return cf_process_test::StartMethodName(info.param);
    });

}  // namespace
