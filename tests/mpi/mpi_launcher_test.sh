#!/usr/bin/env bash
# Launcher mode: `mpirun -n 3 prog`, where rank 0 runs main() (the tests)
# and ranks 1 and 2 serve it. Then the same with a worker rank killed.
set -euo pipefail
bin=$1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_rmaps_base_oversubscribe=1

mpirun -n 3 "$bin" --gtest_filter=-*Killed*

# By default Open MPI ends the whole job, rank 0 included, when any rank
# dies; --enable-recovery keeps the others running. With it, Open MPI 4.1's
# mpirun exits 0 whatever the ranks return, so the verdict is read from the
# output.
out=$(CF_MPI_TEST_KILL=1 timeout 60 mpirun --enable-recovery -n 3 "$bin" \
        --gtest_color=no --gtest_filter=*Killed* 2>&1) || true
echo "$out"
grep -q '^\[  PASSED  \] 1 test' <<<"$out"
