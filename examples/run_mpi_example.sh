#!/bin/sh
# Runs an MPI example alone (it spawns its workers), then under
# `mpirun -n 3` (launcher mode). Open MPI refuses to run as root without
# the two ALLOW variables, and CI runs as root; on 2 cores it needs
# oversubscription; loopback keeps the traffic on this machine.
set -e
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
"$@"
mpirun -n 3 "$@"
