// A program that asks for kSpawn or kForkServer without calling cf::Init in
// main gets an error saying what to add, not a hang or a stray process.
// (This binary's main is gtest_main, which does not call cf::Init.)
#include <stdexcept>

#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

TEST(MissingInitTest, ReexecutingStartMethodsNameTheMissingCall) {
  ASSERT_FALSE(cf::Initialized());
  for (cf::StartMethod method :
       {cf::StartMethod::kSpawn, cf::StartMethod::kForkServer}) {
    try {
      cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
      FAIL() << "expected std::logic_error";
    } catch (const std::logic_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("cf::Init(argc, argv)"));
      EXPECT_THAT(e.what(), HasSubstr("first line of main()"));
    }
  }
}

int Twice(int x) { return 2 * x; }

TEST(MissingInitTest, ForkNeedsNoInit) {
  cf::ProcessPoolExecutor pool(1);
  EXPECT_EQ(pool.submit(Twice, 21).result(), 42);
}

}  // namespace
