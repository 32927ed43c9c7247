#!/usr/bin/env bash
# mpi_fault_test's killed worker, with the root itself started by
# `mpirun --enable-recovery -n 1` instead of alone. (Without the flag Open
# MPI ends the whole job, root included, when a spawned worker dies.) Open
# MPI 4.1's mpirun exits 0 under --enable-recovery whatever the program
# returns, so the verdict is read from the output.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_rmaps_base_oversubscribe=1
out=$(timeout 60 mpirun --enable-recovery -n 1 "$1" --gtest_color=no \
        --gtest_filter=*KilledWorker* 2>&1) || true
echo "$out"
grep -q '^\[  PASSED  \] 1 test' <<<"$out"
