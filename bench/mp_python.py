"""Python's multiprocessing Pipe, Queue and Value, timed like bench/mp_bench.cc.

Usage: python3 bench/mp_python.py REPEAT ROUND_TRIPS MESSAGES INCREMENTS
Prints one line per run: "workload seconds count". Start method: fork (the
default on Linux up to 3.13), as cf::Process's default.
"""
import multiprocessing as mp
import sys
import time


def echo(conn):
    # A None ends it: under fork the child also holds the parent's end, so it
    # would never see EOF (cf closes that copy in its children).
    while True:
        item = conn.recv()
        if item is None:
            return
        conn.send(item)


def pipe_round_trip(n):
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    b.close()
    a.send(0)
    a.recv()  # the child runs
    start = time.perf_counter()
    for i in range(n):
        a.send(i)
        a.recv()
    seconds = time.perf_counter() - start
    a.send(None)
    p.join()
    return seconds


def send_many(conn, n):
    conn.recv()
    for i in range(n):
        conn.send(i)


def pipe_throughput(n):
    a, b = mp.Pipe()
    p = mp.Process(target=send_many, args=(b, n))
    p.start()
    start = time.perf_counter()
    a.send(0)
    for _ in range(n):
        a.recv()
    seconds = time.perf_counter() - start
    p.join()
    return seconds


def queue_echo(q_in, q_out):
    while True:
        item = q_in.get()
        if item is None:
            return
        q_out.put(item)


def queue_round_trip(n):
    q1, q2 = mp.Queue(), mp.Queue()
    p = mp.Process(target=queue_echo, args=(q1, q2))
    p.start()
    q1.put(0)
    q2.get()
    start = time.perf_counter()
    for i in range(n):
        q1.put(i)
        q2.get()
    seconds = time.perf_counter() - start
    q1.put(None)
    p.join()
    return seconds


def put_many(go, q, n):
    go.wait()
    for i in range(n):
        q.put(i)


def queue_throughput(n):
    q = mp.Queue()
    go = mp.Event()
    p = mp.Process(target=put_many, args=(go, q, n))
    p.start()
    start = time.perf_counter()
    go.set()
    for _ in range(n):
        q.get()
    seconds = time.perf_counter() - start
    p.join()
    return seconds


def value_locked(n):
    v = mp.Value('i', 0)
    start = time.perf_counter()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    seconds = time.perf_counter() - start
    assert v.value == n
    return seconds


def add_locked(go, v, n):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def value_locked_two(n):
    v = mp.Value('i', 0)
    go = mp.Event()
    ps = [mp.Process(target=add_locked, args=(go, v, n // 2)) for _ in range(2)]
    for p in ps:
        p.start()
    start = time.perf_counter()
    go.set()
    for p in ps:
        p.join()
    seconds = time.perf_counter() - start
    assert v.value == n // 2 * 2
    return seconds


def main():
    repeat, trips, messages, increments = (int(a) for a in sys.argv[1:5])
    mp.set_start_method('fork')
    for _ in range(repeat):
        for name, fn, n in [
            ('pipe_round_trip', pipe_round_trip, trips),
            ('pipe_throughput', pipe_throughput, messages),
            ('queue_round_trip', queue_round_trip, trips),
            ('queue_throughput', queue_throughput, messages),
            ('value_locked', value_locked, increments),
            ('value_locked_2proc', value_locked_two, increments),
        ]:
            print(name, fn(n), n, flush=True)


if __name__ == '__main__':
    main()
