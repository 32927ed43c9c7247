"""Python's multiprocessing.Pool on the workloads of //bench:pool_bench, run
by it in the same invocation:

    python3 bench/pool_python.py WORKERS REPEAT CALLS MAP_CALLS
    -> "workload seconds calls checksum" lines, REPEAT per workload

apply_async: CALLS apply_async(noop) then every get(); map: MAP_CALLS no-op
calls with the default chunksize; imap_unordered: CALLS no-op calls
(chunksize 1); parmap_seed004: seed 004's count_prime over range(9900,
10000) the way parmap.map runs it (a new Pool, map, close, join).
"""
import math
import multiprocessing as mp
import sys
import time


def noop(x):
    return x


def count_prime(n):
    def is_prime(x):
        return bool([i for i in range(2, int(math.sqrt(x)) + 1) if not n % i])
    return len([i for i in range(2, n + 1) if is_prime(i)])


def main():
    workers, repeat, calls, map_calls = (int(a) for a in sys.argv[1:5])
    with mp.Pool(workers) as pool:
        pool.map(noop, range(1000))  # warm
        for _ in range(repeat):
            start = time.perf_counter()
            results = [pool.apply_async(noop, (i,)) for i in range(calls)]
            total = sum(r.get() for r in results)
            print(f"apply_async {time.perf_counter() - start} {calls} {total}",
                  flush=True)

            start = time.perf_counter()
            total = sum(pool.map(noop, range(map_calls)))
            print(f"map {time.perf_counter() - start} {map_calls} {total}",
                  flush=True)

            start = time.perf_counter()
            total = sum(pool.imap_unordered(noop, range(calls)))
            print(f"imap_unordered {time.perf_counter() - start} {calls} {total}",
                  flush=True)
    for _ in range(repeat):
        start = time.perf_counter()
        pool = mp.Pool(workers)
        try:
            total = sum(pool.map(count_prime, range(9900, 10000)))
            pool.close()
            pool.join()
        finally:
            pool.terminate()
        print(f"parmap_seed004 {time.perf_counter() - start} 100 {total}",
              flush=True)


if __name__ == "__main__":
    main()
