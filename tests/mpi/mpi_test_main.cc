// gtest main for the MPI tests: the test environment, then cf::Init (a
// spawned worker, or a launch's rank > 0, serves from there and exits).
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/mpi/mpi_test_env.h"

int main(int argc, char** argv) {
  cf_test::SetMPITestEnvironment();
  cf::Init(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
