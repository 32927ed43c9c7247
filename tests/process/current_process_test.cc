// cf::current_process() names the main program "MainProcess" and each pool
// worker as Python does: "<Method>Process-N", unique per parent.
#include <set>
#include <string>
#include <vector>

#include "cf.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace {

std::string Name(int) { return cf::current_process().name(); }

class CurrentProcessTest : public testing::TestWithParam<cf::StartMethod> {};

TEST(CurrentProcessMainTest, MainProgramIsMainProcess) {
  EXPECT_EQ(cf::current_process().name(), "MainProcess");
  EXPECT_EQ(cf::current_process().pid(), getpid());
}

TEST_P(CurrentProcessTest, PoolWorkersAreNamedByStartMethod) {
  cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = GetParam()});
  const std::string prefix =
      cf_process_test::StartMethodName(GetParam()) + "Process-";
  std::set<std::string> names;
  std::vector<int> in(40, 0);
  for (const std::string& name : pool.map(Name, in)) {
    EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
    names.insert(name);
  }
  EXPECT_GE(names.size(), 1u);
  EXPECT_LE(names.size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, CurrentProcessTest,
                         testing::ValuesIn(cf_process_test::StartMethods()),
                         [](const auto& info) {
                           return cf_process_test::StartMethodName(info.param);
                         });

}  // namespace
