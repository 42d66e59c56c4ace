#!/usr/bin/python3
"""Python asyncio (optionally uvloop) peer of corio's core benchmark.

Runs the same workloads as corio's core benchmark and prints one line per
workload to stdout:  <workload> <value> <unit>   (unit: ns per op, or B).

Usage: /usr/bin/python3 asyncio_core.py [--uvloop] [--quick] [--only NAME]

Each workload runs in a fresh event loop. Diagnostics go to stderr.
"""

import argparse
import asyncio
import ctypes
import gc
import socket
import sys
import time

# Full-size iteration counts; --quick divides each by 10.
COUNTS = {
    "spawn_await": 100_000,
    "yield": 1_000_000,
    "sleep_10k": 10_000,
    "queue_roundtrip": 1_000_000,
    "socketpair_pingpong": 200_000,
    "semaphore_100k": 100_000,
    "to_thread_10k": 10_000,
    "rss_per_sleeping_task": 1_000_000,
}

now = time.perf_counter_ns


# --- helpers ---------------------------------------------------------------

async def trivial():
    return None


def read_rss_bytes():
    """VmRSS of this process, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def trim_heap():
    """Return free heap memory to the OS (glibc), so memory freed by earlier
    workloads doesn't hide the cost being measured."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# --- workloads: each returns (value, unit) ---------------------------------

async def spawn_await(n):
    t0 = now()
    for _ in range(n):
        await asyncio.create_task(trivial())
    return (now() - t0) / n, "ns"


async def yield_(n):
    t0 = now()
    for _ in range(n):
        await asyncio.sleep(0)
    return (now() - t0) / n, "ns"


async def sleep_10k(n):
    t0 = now()
    await asyncio.gather(*(asyncio.sleep(0.010) for _ in range(n)))
    return (now() - t0) / n, "ns"


async def queue_roundtrip(n):
    q1 = asyncio.Queue(maxsize=1)
    q2 = asyncio.Queue(maxsize=1)

    async def a():
        for i in range(n):
            await q1.put(i)
            await q2.get()

    async def b():
        for _ in range(n):
            await q2.put(await q1.get())

    t0 = now()
    await asyncio.gather(a(), b())
    return (now() - t0) / n, "ns"


async def socketpair_pingpong(n):
    loop = asyncio.get_running_loop()
    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    s1.setblocking(False)
    s2.setblocking(False)
    msg = b"x"

    async def a():
        for _ in range(n):
            await loop.sock_sendall(s1, msg)
            if not await loop.sock_recv(s1, 1):
                raise RuntimeError("unexpected EOF")

    async def b():
        for _ in range(n):
            data = await loop.sock_recv(s2, 1)
            if not data:
                raise RuntimeError("unexpected EOF")
            await loop.sock_sendall(s2, data)

    try:
        t0 = now()
        await asyncio.gather(a(), b())
        return (now() - t0) / n, "ns"
    finally:
        s1.close()
        s2.close()


async def semaphore_100k(n):
    sem = asyncio.Semaphore(10)

    async def worker():
        async with sem:
            await asyncio.sleep(0)

    t0 = now()
    tasks = [asyncio.create_task(worker()) for _ in range(n)]
    await asyncio.gather(*tasks)
    return (now() - t0) / n, "ns"


def _trivial_fn():
    return None


async def to_thread_10k(n):
    await asyncio.to_thread(_trivial_fn)  # warm up: start the pool thread
    t0 = now()
    for _ in range(n):
        await asyncio.to_thread(_trivial_fn)
    return (now() - t0) / n, "ns"


async def rss_per_sleeping_task(n):
    started = 0

    async def sleeper():
        nonlocal started
        started += 1
        await asyncio.sleep(2.0)

    gc.collect()
    trim_heap()
    before = read_rss_bytes()
    tasks = [asyncio.create_task(sleeper()) for _ in range(n)]
    # Let every task run up to its sleep (one yield suffices in asyncio, the
    # loop bound is only a safety net).
    for _ in range(1000):
        if started == n:
            break
        await asyncio.sleep(0)
    if started != n:
        raise RuntimeError(f"only {started}/{n} tasks started")
    after = read_rss_bytes()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (after - before) / n, "B"


WORKLOADS = {
    "spawn_await": spawn_await,
    "yield": yield_,
    "sleep_10k": sleep_10k,
    "queue_roundtrip": queue_roundtrip,
    "socketpair_pingpong": socketpair_pingpong,
    "semaphore_100k": semaphore_100k,
    "to_thread_10k": to_thread_10k,
    "rss_per_sleeping_task": rss_per_sleeping_task,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uvloop", action="store_true", help="use uvloop's event loop")
    ap.add_argument("--quick", action="store_true", help="divide iteration counts by 10")
    ap.add_argument("--only", choices=list(WORKLOADS), help="run a single workload")
    args = ap.parse_args()

    loop_factory = None
    if args.uvloop:
        import uvloop  # Debian python3-uvloop
        loop_factory = uvloop.new_event_loop

    names = [args.only] if args.only else list(WORKLOADS)
    for name in names:
        n = COUNTS[name] // (10 if args.quick else 1)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            value, unit = runner.run(WORKLOADS[name](n))
        if unit == "ns":
            print(f"{name} {value:.1f} ns", flush=True)
        else:
            print(f"{name} {value:.1f} B", flush=True)
        gc.collect()


if __name__ == "__main__":
    if sys.version_info < (3, 11):
        sys.exit("asyncio_core.py needs Python >= 3.11 (use /usr/bin/python3)")
    main()
