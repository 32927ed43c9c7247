#!/bin/sh
# //bench:mpi_bench's code paths on small sizes, so it cannot rot; no timing
# is asserted, and mpi4py is left out (its seed run alone takes seconds).
exec "$1" --repeat=1 --tasks=200 --trips=100 --python=false
