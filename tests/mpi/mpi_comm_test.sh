#!/usr/bin/env bash
# MPICommExecutor with every rank running main(): launcher mode off.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_rmaps_base_oversubscribe=1
CF_MPI_LAUNCHER=0 timeout 60 mpirun -n 3 "$1"
