#!/usr/bin/python3
"""Python peer of corio's PostgreSQL benchmark (bench/db_compare.cpp): asyncpg, on uvloop when it is
installed (--no-uvloop: asyncio's own loop). The loop in use is named on stderr.

Prints two lines per workload to stdout:  <workload> <value> <unit>  and  <workload>_cpu <value> us/op  (the
process's CPU time per query or row); diagnostics go to stderr. Every result is checked; a wrong one ends the
program with exit status 1.

  pg_select     N point selects `select id, name, price, created from items where id = $1`, random ids in
                1..10,000, 8 tasks on a pool of 8 connections (pool.fetchrow): queries/s
  pg_select_held  the same with each task holding one connection (pool.acquire()) for all its queries,
                instead of one acquire per query (asyncpg's pool resets a connection it gets back: a
                second statement per query)
  pg_fetch_all  every row of items (10,000), 50 times one after the other (pool.fetch): rows/s

Usage: /usr/bin/python3 db_asyncpg.py DSN [-n N | --quick] [--only NAME] [--no-uvloop]
       (N defaults to 100,000; --quick: 10,000). The items table must exist (bench/compare_db.sh makes it).
"""

import argparse
import asyncio
import random
import sys
import time

import asyncpg

SELECT = "select id, name, price, created from items where id = $1"
ROWS = 10_000
FETCH_ROUNDS = 50
TASKS = 8


def check_row(row, want):
    if row is None or (want and row["id"] != want) or not row["name"] or row["price"] is None \
            or row["created"] is None:
        sys.exit(f"db_asyncpg: wrong row for id {want}: {row!r}")
    return row["id"]


async def select_worker(pool, count, seed, held=False):
    if held:
        async with pool.acquire() as con:
            return await select_worker(con, count, seed)
    ids = random.Random(seed)
    found = 0
    for _ in range(count):
        want = ids.randint(1, ROWS)
        check_row(await pool.fetchrow(SELECT, want), want)
        found += 1
    return found


async def point_selects(pool, n, held=False):
    await asyncio.gather(*[select_worker(pool, 4, 1000 + t, held) for t in range(TASKS)])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    found = await asyncio.gather(*[select_worker(pool, n // TASKS + (1 if t < n % TASKS else 0), t + 1, held)
                                   for t in range(TASKS)])
    s, cpu = time.perf_counter() - t0, time.process_time() - c0
    if sum(found) != n:
        sys.exit(f"db_asyncpg: point selects: {sum(found)} rows for {n} queries")
    return n / s, cpu / n * 1e6


async def fetch_all(pool):
    sql = "select id, name, price, created from items"
    await pool.fetch(sql)  # warm-up
    rows = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(FETCH_ROUNDS):
        result = await pool.fetch(sql)
        total = sum(check_row(r, 0) for r in result)
        if len(result) != ROWS or total != ROWS * (ROWS + 1) // 2:
            sys.exit(f"db_asyncpg: fetch all: {len(result)} rows")
        rows += len(result)
    s, cpu = time.perf_counter() - t0, time.process_time() - c0
    return rows / s, cpu / rows * 1e6


def report(workload, measured, unit):
    rate, cpu = measured
    print(f"{workload} {rate:.1f} {unit}\n{workload}_cpu {cpu:.2f} us/op", flush=True)


async def main(args):
    want = lambda w: args.only in (None, w)
    pool = await asyncpg.create_pool(args.dsn, min_size=TASKS, max_size=TASKS)
    try:
        if want("pg_select"):
            report("pg_select", await point_selects(pool, args.n), "q/s")
        if want("pg_select_held"):
            report("pg_select_held", await point_selects(pool, args.n, True), "q/s")
        if want("pg_fetch_all"):
            report("pg_fetch_all", await fetch_all(pool), "rows/s")
    finally:
        await pool.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("dsn")
    p.add_argument("-n", type=int, default=100_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only")
    p.add_argument("--no-uvloop", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.n = 10_000
    loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            loop_name = "uvloop " + uvloop.__version__
        except ImportError:
            pass
    print(f"db_asyncpg: asyncpg {asyncpg.__version__} on {loop_name}", file=sys.stderr)
    asyncio.run(main(args))
