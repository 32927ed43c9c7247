// What every MPI test process sets before cf::Init, so that Open MPI runs
// as it must on a CI machine: as root, on 2 cores with more ranks than
// cores, and over loopback only (the machine's other interfaces are not for
// tests to use).
#ifndef CF_TESTS_MPI_MPI_TEST_ENV_H_
#define CF_TESTS_MPI_MPI_TEST_ENV_H_

#include <cstdlib>

namespace cf_test {

// Only sets what the caller (an sh_test's mpirun line) has not.
inline void SetMPITestEnvironment() {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
  setenv("OMPI_MCA_btl_tcp_if_include", "lo", 0);
  setenv("OMPI_MCA_oob_tcp_if_include", "lo", 0);
  // No "mpirun noticed..." help text aggregation delays.
  setenv("OMPI_MCA_orte_base_help_aggregate", "0", 0);
}

}  // namespace cf_test

#endif  // CF_TESTS_MPI_MPI_TEST_ENV_H_
