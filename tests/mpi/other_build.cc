// Another program that calls cf::Init: spawned in place of the test binary,
// its build fingerprint differs, and the pool must refuse it.
#include "cf.h"
#include "tests/mpi/mpi_test_env.h"

int main(int argc, char** argv) {
  cf_test::SetMPITestEnvironment();
  cf::Init(argc, argv);
  return 0;
}
