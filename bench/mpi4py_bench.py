"""mpi4py.futures' MPIPoolExecutor on the workloads of //bench:mpi_bench,
which runs this script in the same invocation (Debian's python3-mpi4py, so
Debian's /usr/bin/python3):

    /usr/bin/python3 bench/mpi4py_bench.py WORKERS TASKS TRIPS REPEAT
    -> "seed SECONDS CHECKSUM", "noop TASKS_PER_SECOND", "rtt MICROSECONDS"

seed: seed 004's count_prime mapped over range(9900, 10000), the pool's
start and shutdown included as the seed times it; noop: submit TASKS no-op
calls, then wait for every result; rtt: one no-op call submitted and waited
for at a time.
"""
import math
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def count_prime(n):
    def is_prime(x):
        return bool([i for i in range(2, int(math.sqrt(x)) + 1) if not n % i])
    return len([i for i in range(2, n + 1) if is_prime(i)])


def noop(x):
    return x


def main():
    workers, tasks, trips, repeat = (int(a) for a in sys.argv[1:5])
    values = list(range(9900, 10000))
    for _ in range(repeat):
        start = time.perf_counter()
        with MPIPoolExecutor(workers) as executor:
            results = list(executor.map(count_prime, values))
        print(f"seed {time.perf_counter() - start} {sum(results)}", flush=True)
    with MPIPoolExecutor(workers) as executor:
        executor.submit(noop, 0).result()  # the workers are up
        for _ in range(repeat):
            start = time.perf_counter()
            futures = [executor.submit(noop, i) for i in range(tasks)]
            for f in futures:
                f.result()
            print(f"noop {tasks / (time.perf_counter() - start)}", flush=True)
            start = time.perf_counter()
            for i in range(trips):
                executor.submit(noop, i).result()
            print(f"rtt {(time.perf_counter() - start) / trips * 1e6}",
                  flush=True)


if __name__ == "__main__":
    main()
