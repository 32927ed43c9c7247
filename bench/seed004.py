"""Seed 004's benchmark, as the seed writes it (count_prime over
range(9900, 10000) unless told otherwise: serially, with ThreadPoolExecutor(4).map and with
ProcessPoolExecutor(4).map), with the worker count and repeat count as
arguments and one machine-readable line per run:

    python3 bench/seed004.py WORKERS REPEAT [FIRST LAST]
    -> "mode seconds checksum" lines
"""
import math
import sys
import timeit
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor


def count_prime(n):
    def is_prime(x):
        return bool([i for i in range(2, int(math.sqrt(x)) + 1) if not n % i])
    return len([i for i in range(2, n + 1) if is_prime(i)])


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 9900
    last = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
    values = [i for i in range(first, last)]
    for _ in range(repeat):
        start = timeit.default_timer()
        results = [count_prime(value) for value in values]
        print(f"serial {timeit.default_timer() - start} {sum(results)}", flush=True)

        start = timeit.default_timer()
        with ThreadPoolExecutor(workers) as executor:
            results = list(executor.map(count_prime, values))
        print(f"thread {timeit.default_timer() - start} {sum(results)}", flush=True)

        start = timeit.default_timer()
        with ProcessPoolExecutor(workers) as executor:
            results = list(executor.map(count_prime, values))
        print(f"process {timeit.default_timer() - start} {sum(results)}", flush=True)


if __name__ == '__main__':
    main()
