"""Python's executors measured the way bench/first_use_bench.cc measures cf:
a fresh pool, its first map or batch, then the same on the warm pool.
Prints one line per figure, "name seconds", for the C++ harness to read.

    python3 bench/python_first_use.py [rounds]
"""
import concurrent.futures as cf
import sys
import time


def noop(x):
    return x


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    n = 100000
    for _ in range(rounds):
        start = time.perf_counter()
        with cf.ProcessPoolExecutor(2) as ex:
            list(ex.map(noop, range(n), chunksize=1000))
            first = time.perf_counter() - start
            start = time.perf_counter()
            list(ex.map(noop, range(n), chunksize=1000))
            warm = time.perf_counter() - start
        print(f"process_first_map {first:.6f}")
        print(f"process_warm_map {warm:.6f}")
        start = time.perf_counter()
        with cf.ThreadPoolExecutor(2) as ex:
            fs = [ex.submit(noop, i) for i in range(10000)]
            for f in fs:
                f.result()
            print(f"thread_first_batch {time.perf_counter() - start:.6f}")
        start = time.perf_counter()
        with cf.ProcessPoolExecutor(2) as ex:
            ex.submit(noop, 0).result()
            started = time.perf_counter() - start
            start = time.perf_counter()
        print(f"process_start {started:.6f}")
        print(f"process_shutdown {time.perf_counter() - start:.6f}")


if __name__ == "__main__":
    main()
