// A program that never calls cf::Init: cf::Process under kSpawn and
// kForkServer says which line is missing instead of starting a child that
// cannot work; kFork needs no Init. (Linked with gtest_main on purpose.)
#include <string>

#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

void Nothing() {}

TEST(ProcessMissingInitTest, SpawnAndForkServerNameTheMissingLine) {
  for (cf::StartMethod method :
       {cf::StartMethod::kSpawn, cf::StartMethod::kForkServer}) {
    cf::Process p({.start_method = method}, Nothing);
    try {
      p.start();
      FAIL() << "started without cf::Init";
    } catch (const std::logic_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("must call cf::Init(argc, argv)"));
    }
    EXPECT_FALSE(p.is_alive());
  }
  cf::Process forked(Nothing);
  forked.start();
  forked.join();
  EXPECT_EQ(forked.exitcode(), 0);
}

}  // namespace
