#!/usr/bin/python3
"""Python peer of corio's offload benchmark: concurrent.futures.ProcessPoolExecutor(2) awaited from asyncio
with loop.run_in_executor, as the seed writes it.

Prints one line per workload to stdout:  <workload> <value> ns   (the same workloads as
bench/offload_compare.cpp; diagnostics go to stderr).

  trivial_seq   10,000 calls of a trivial function, one after the other: ns per round trip
  trivial_10k   10,000 calls submitted at once (gather): wall time / calls
  sha256_1000   1,000 SHA-256 digests (hashlib, OpenSSL underneath) of 64 KiB buffers made in the parent,
                submitted at once: ns per digest
  sha256_shared the same digests of buffers the parent writes in one multiprocessing.shared_memory block, each
                job naming (block, offset, length); a worker attaches to the block once and hashes in place
  sha256_reuse  1,000 digests of 16 such buffers, each hashed again and again
  sha256_made   the same digests of buffers each job makes itself from a seed: ns per digest

Usage: /usr/bin/python3 process_pool.py [--quick] [--only NAME]   (--quick divides the counts by 10)
"""

import argparse
import asyncio
import concurrent.futures
import hashlib
from multiprocessing import resource_tracker, shared_memory
import random
import sys
import time

WORKERS = 2
BUFFER = 64 * 1024


def trivial(x):
    return x + 1


def sha256(data):
    return hashlib.sha256(data).digest()


def make_buffer(seed):
    return random.Random(seed).randbytes(BUFFER)


def sha256_made(seed):
    return hashlib.sha256(make_buffer(seed)).digest()


async def trivial_seq(loop, pool, n):
    t0 = time.perf_counter_ns()
    for i in range(n):
        await loop.run_in_executor(pool, trivial, i)
    return (time.perf_counter_ns() - t0) / n


async def trivial_many(loop, pool, n):
    t0 = time.perf_counter_ns()
    out = await asyncio.gather(*[loop.run_in_executor(pool, trivial, i) for i in range(n)])
    ns = (time.perf_counter_ns() - t0) / n
    if out[-1] != n:
        print("trivial: wrong result", file=sys.stderr)
    return ns


async def sha_sent(loop, pool, n):
    buffers = [make_buffer(i) for i in range(n)]
    expect = hashlib.sha256(buffers[-1]).digest()
    t0 = time.perf_counter_ns()
    out = await asyncio.gather(*[loop.run_in_executor(pool, sha256, b) for b in buffers])
    ns = (time.perf_counter_ns() - t0) / n
    if out[-1] != expect:
        print("sha256: wrong digest", file=sys.stderr)
    return ns


_attached = {}


def sha256_shm(name, offset, length):
    shm = _attached.get(name)
    if shm is None:
        shm = _attached[name] = shared_memory.SharedMemory(name=name)
        # Python < 3.13 registers an attached block with the resource tracker as if this worker owned it (and
        # warns at exit); the parent owns and unlinks it (3.13's track=False says the same)
        resource_tracker.unregister(shm._name, "shared_memory")
    return hashlib.sha256(shm.buf[offset:offset + length]).digest()


async def sha_shared(loop, pool, n, distinct):
    shm = shared_memory.SharedMemory(create=True, size=distinct * BUFFER)
    try:
        for i in range(distinct):
            shm.buf[i * BUFFER:(i + 1) * BUFFER] = make_buffer(i)
        expect = hashlib.sha256(make_buffer((n - 1) % distinct)).digest()
        t0 = time.perf_counter_ns()
        out = await asyncio.gather(*[loop.run_in_executor(pool, sha256_shm, shm.name, (i % distinct) * BUFFER, BUFFER)
                                     for i in range(n)])
        ns = (time.perf_counter_ns() - t0) / n
        if out[-1] != expect:
            print("sha256_shared: wrong digest", file=sys.stderr)
        return ns
    finally:
        shm.close()
        shm.unlink()


async def sha_made(loop, pool, n):
    t0 = time.perf_counter_ns()
    out = await asyncio.gather(*[loop.run_in_executor(pool, sha256_made, i) for i in range(n)])
    ns = (time.perf_counter_ns() - t0) / n
    if out[-1] != sha256_made(n - 1):
        print("sha256_made: wrong digest", file=sys.stderr)
    return ns


async def main(div, only):
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(WORKERS) as pool:
        # Warm up: both workers started and answering.
        await asyncio.gather(*[loop.run_in_executor(pool, trivial, i) for i in range(20)])
        await loop.run_in_executor(pool, sha256_made, 1)
        workloads = [
            ("trivial_seq", lambda: trivial_seq(loop, pool, 10_000 // div)),
            ("trivial_10k", lambda: trivial_many(loop, pool, 10_000 // div)),
            ("sha256_1000", lambda: sha_sent(loop, pool, 1_000 // div)),
            ("sha256_shared", lambda: sha_shared(loop, pool, 1_000 // div, 1_000 // div)),
            ("sha256_reuse", lambda: sha_shared(loop, pool, 1_000 // div, 16)),
            ("sha256_made", lambda: sha_made(loop, pool, 1_000 // div)),
        ]
        for name, run in workloads:
            if only and only != name:
                continue
            print(f"{name} {await run():.1f} ns", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only")
    args = ap.parse_args()
    asyncio.run(main(10 if args.quick else 1, args.only))
