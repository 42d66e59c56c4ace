#!/usr/bin/python3
"""Python peer of corio's SQLite benchmark (bench/db_compare.cpp): aiosqlite (a thread per connection, as
corio's driver has), with the pragmas corio sets on a file (WAL, synchronous=NORMAL, foreign_keys=ON).

Prints two lines per workload to stdout:  <workload> <value> <unit>  and  <workload>_cpu <value> us/op  (the
process's CPU time, every thread, per statement); diagnostics go to stderr. Every result is checked; a wrong
one ends the program with exit status 1.

  sqlite_insert  N rows inserted into a fresh file in transactions of 1,000: rows/s
  sqlite_select  N point selects of those rows by random id, one after the other: queries/s

Usage: /usr/bin/python3 db_aiosqlite.py FILE [-n N | --quick] [--only NAME]
       (N defaults to 100,000; --quick: 10,000). FILE is deleted first and at the end.
"""

import argparse
import asyncio
import datetime
import os
import random
import sys
import time

import aiosqlite

SELECT = "select id, name, price, created from items where id = ?"
INSERT = "insert into items (id, name, price, created) values (?, ?, ?, ?)"
TX_ROWS = 1_000


def remove(path):
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


async def main(args):
    want = lambda w: args.only in (None, w)
    remove(args.file)
    n = args.n
    # isolation_level=None: no implicit transactions; each batch is an explicit begin ... commit.
    async with aiosqlite.connect(args.file, isolation_level=None) as db:
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
            await db.execute(f"pragma {pragma}")
        await db.execute("create table items (id integer primary key, name text not null, price text not null, "
                         "created text not null)")
        now = datetime.datetime.now(datetime.timezone.utc)
        t0, c0 = time.perf_counter(), time.process_time()
        for base in range(0, n, TX_ROWS):
            await db.execute("begin")
            for i in range(base, min(n, base + TX_ROWS)):
                ident = i + 1
                created = (now - datetime.timedelta(minutes=ident)).strftime("%Y-%m-%d %H:%M:%S.%f")
                await db.execute(INSERT, (ident, f"item {ident}", f"{ident % 1000}.99", created))
            await db.execute("commit")
        s, cpu = time.perf_counter() - t0, time.process_time() - c0
        async with db.execute("select count(*) from items") as cur:
            (count,) = await cur.fetchone()
        if count != n:
            sys.exit(f"db_aiosqlite: insert: {count} rows for {n}")
        if want("sqlite_insert"):
            print(f"sqlite_insert {n / s:.1f} rows/s\nsqlite_insert_cpu {cpu / n * 1e6:.2f} us/op", flush=True)

        if want("sqlite_select"):
            ids = random.Random(7)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                ident = ids.randint(1, n)
                async with db.execute(SELECT, (ident,)) as cur:
                    rows = await cur.fetchall()
                if len(rows) != 1 or rows[0][0] != ident or not rows[0][1]:
                    sys.exit(f"db_aiosqlite: select: wrong rows for id {ident}: {rows!r}")
            s, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"sqlite_select {n / s:.1f} q/s\nsqlite_select_cpu {cpu / n * 1e6:.2f} us/op", flush=True)
    remove(args.file)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("-n", type=int, default=100_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only")
    args = p.parse_args()
    if args.quick:
        args.n = 10_000
    asyncio.run(main(args))
