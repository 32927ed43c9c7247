// gtest main for the process-pool tests: cf::Init first, so that the kSpawn
// and kForkServer start methods can re-execute the test binary as a worker.
#include "cf.h"
#include "gtest/gtest.h"

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
