"""Python's executors on the no-op workloads of cf's benchmarks, for ratios
measured on the same machine: submit+result throughput, single-task round
trip, and map throughput (with a chunksize for the process pool).

    python3 bench/python_executors.py
"""
import concurrent.futures as cf
import time


def noop(x):
    return x


def rate(fn, n):
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


def main():
    for name, make in (("ThreadPoolExecutor", lambda: cf.ThreadPoolExecutor(2)),
                       ("ProcessPoolExecutor", lambda: cf.ProcessPoolExecutor(2))):
        with make() as ex:
            ex.submit(noop, 0).result()  # workers started
            n = 20000
            submit = rate(lambda n: [f.result() for f in [ex.submit(noop, i) for i in range(n)]], n)
            trips = 2000
            start = time.perf_counter()
            for i in range(trips):
                ex.submit(noop, i).result()
            round_trip_us = (time.perf_counter() - start) / trips * 1e6
            chunk = 1000 if name == "ProcessPoolExecutor" else 1
            mapped = rate(lambda n: list(ex.map(noop, range(n), chunksize=chunk)), 100000)
        print(f"{name}: submit+result {submit:,.0f} tasks/s, round trip "
              f"{round_trip_us:.1f} us, map(chunksize={chunk}) {mapped:,.0f} tasks/s")


if __name__ == "__main__":
    main()
