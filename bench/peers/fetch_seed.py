"""The Python peer of bench/compare_fetch.sh: corio-fetch's job written the way the seed writes async Python.

    python3 fetch_seed.py -i URLS.txt --db PATH.db [-c 50]

Fetches every URL of the file (one per line) with one httpx.AsyncClient, at most C at once through an
asyncio.Semaphore, all URLs started together with asyncio.gather; the CPU-bound step (SHA-256 of the body and
a count of its links) runs off the loop with asyncio.to_thread; each result is one INSERT through aiosqlite
into the same `fetches` table corio-fetch writes (same pragmas as corio's SQLite: WAL, synchronous=NORMAL),
committed every 500 rows (corio-fetch's transaction size) and at the end. Prints a JSON summary like
`corio-fetch --json`: urls, seconds, per_second, errors, status, links.
"""
import argparse
import asyncio
import hashlib
import json
import re
import sys
import time

import aiosqlite
import httpx

# An href attribute whose value is non-empty and not a fragment ("#..."), quoted or not.
LINK = re.compile(rb"""href\s*=\s*(?:"[^"#>]|'[^'#>]|[^"'#>\s])""", re.IGNORECASE)
COMMIT_EVERY = 500
INSERT = ("insert into fetches(url, status, bytes, elapsed_ms, sha256, links, error) values (?, ?, ?, ?, ?, ?, ?) "
          "on conflict(url) do update set status = excluded.status, bytes = excluded.bytes, "
          "elapsed_ms = excluded.elapsed_ms, sha256 = excluded.sha256, links = excluded.links, "
          "error = excluded.error, fetched_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')")


def analyze(body: bytes, content_type: str) -> tuple[str, int]:
    """The CPU-bound step: the body's SHA-256 and, for HTML, its number of links."""
    digest = hashlib.sha256(body).hexdigest()
    links = len(LINK.findall(body)) if "html" in content_type.lower() else 0
    return digest, links


async def main(args) -> dict:
    with open(args.input) as f:
        urls = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    t0 = time.perf_counter()
    semaphore = asyncio.Semaphore(args.concurrency)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    status: dict[str, int] = {}
    totals = {"errors": 0, "links": 0, "bytes": 0, "uncommitted": 0}

    async with aiosqlite.connect(args.db) as db:
        await db.execute("pragma journal_mode = wal")
        await db.execute("pragma synchronous = normal")
        await db.execute(
            "create table if not exists fetches(url text primary key, status integer, bytes integer, "
            "elapsed_ms real, sha256 text, links integer, error text, "
            "fetched_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ','now')))")
        await db.commit()

        async with httpx.AsyncClient(limits=limits, timeout=30, follow_redirects=True, trust_env=False) as client:
            async def fetch(url: str) -> None:
                async with semaphore:
                    start = time.perf_counter()
                    try:
                        response = await client.get(url)
                        body = response.content
                        elapsed_ms = (time.perf_counter() - start) * 1000
                        digest, links = await asyncio.to_thread(
                            analyze, body, response.headers.get("content-type", ""))
                        row = (url, response.status_code, len(body), elapsed_ms, digest, links, None)
                        status[str(response.status_code)] = status.get(str(response.status_code), 0) + 1
                        totals["links"] += links
                        totals["bytes"] += len(body)
                    except httpx.HTTPError as e:
                        elapsed_ms = (time.perf_counter() - start) * 1000
                        row = (url, None, None, elapsed_ms, None, None, f"{type(e).__name__}: {e}")
                        totals["errors"] += 1
                await db.execute(INSERT, row)
                totals["uncommitted"] += 1
                if totals["uncommitted"] >= COMMIT_EVERY:
                    totals["uncommitted"] = 0
                    await db.commit()

            await asyncio.gather(*(fetch(url) for url in urls))
        await db.commit()

    seconds = time.perf_counter() - t0
    return {"urls": len(urls), "seconds": seconds, "per_second": len(urls) / seconds if seconds > 0 else 0.0,
            "errors": totals["errors"], "status": status, "links": totals["links"], "bytes": totals["bytes"],
            "results": f"sqlite:///{args.db}"}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-i", "--input", required=True, help="a file of URLs, one per line")
    p.add_argument("--db", required=True, help="the SQLite file to write (table fetches)")
    p.add_argument("-c", "--concurrency", type=int, default=50)
    summary = asyncio.run(main(p.parse_args()))
    json.dump(summary, sys.stdout, indent=2)
    print()
