// A re-executed worker that does not run the very same code as its parent is
// refused before it gets a task: the pool fails with an error that says so.
//
// The mismatch is real, not simulated: LD_PRELOAD set after this process
// started makes every re-executed process load one more library than this
// one, so the loaded objects (and so the build fingerprints) differ.
#include <stdlib.h>

#include <string>

#include "absl/time/time.h"
#include "cf.h"
#include "executors/transport/fork_server.h"
#include "executors/transport/build_fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace {

using ::cf_process_test::ScopedEnv;
using ::testing::HasSubstr;

int Twice(int x) { return 2 * x; }


class BuildMismatchTest : public testing::TestWithParam<cf::StartMethod> {};

TEST_P(BuildMismatchTest, WorkerRunningOtherCodeIsRefused) {
  ASSERT_THAT(cf::internal::ComputeBuildFingerprint(),
              testing::Not(HasSubstr("libutil.so")));
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam()});
  {
    std::string preload = "libutil.so.1";
    if (const char* old = getenv("LD_PRELOAD")) preload += std::string(" ") + old;
    ScopedEnv env("LD_PRELOAD", preload);
    // The sanitizers insist on coming first in the library list.
    ScopedEnv asan("ASAN_OPTIONS", "verify_asan_link_order=0");
    // A fork server started by an earlier test would serve this pool too.
    cf::internal::StopForkServer();
    cf::Future<int> f = pool.submit(Twice, 21);
    try {
      f.result(absl::Seconds(60));
      FAIL() << "a worker running other code answered";
    } catch (const cf::BrokenProcessPool& e) {
      EXPECT_THAT(e.what(), HasSubstr("runs a different build of this program"));
      EXPECT_THAT(e.what(), HasSubstr("restart the program"));
    }
  }
  EXPECT_THROW(pool.submit(Twice, 1), cf::BrokenProcessPool);
}

TEST_P(BuildMismatchTest, SameBuildIsAccepted) {
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam()});
  EXPECT_EQ(pool.submit(Twice, 21).result(absl::Seconds(60)), 42);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, BuildMismatchTest,
                         testing::Values(cf::StartMethod::kSpawn,
                                         cf::StartMethod::kForkServer),
                         [](const testing::TestParamInfo<cf::StartMethod>& info) {
                           return cf_process_test::StartMethodName(info.param);
                         });

TEST(BuildFingerprintTest, NamesTheProgramByItsBuildId) {
  const std::string fingerprint = cf::internal::ComputeBuildFingerprint();
  // Debian's toolchain gives every object a GNU build id.
  EXPECT_THAT(fingerprint, testing::ContainsRegex("^\\(program\\) [0-9a-f]{40}\n"));
  EXPECT_EQ(cf::internal::ComputeBuildFingerprint(), fingerprint);
}

}  // namespace
