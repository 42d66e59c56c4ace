"""Python peers of bench/compare_http.sh: the seed's way of fetching (asyncio + httpx, or aiohttp on uvloop).

    python3 httpx_client.py httpx|aiohttp URL CONNECTIONS REQUESTS

Opens CONNECTIONS keep-alive connections, then fetches URL REQUESTS times with that many concurrent
workers, parsing each body as JSON; prints "<name> client_json <requests/s> req/s" and the CPU time the
process spent per request, "<name> client_cpu <us> us/req".
"""
import asyncio
import json
import resource
import sys
import time


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def run_httpx(url, connections, requests):
    import httpx
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        await asyncio.gather(*(client.get(url) for _ in range(connections)))
        left = [requests]

        async def worker():
            while left[0] > 0:
                left[0] -= 1
                r = await client.get(url)
                r.json()

        t0, c0 = time.perf_counter(), cpu()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return requests / (time.perf_counter() - t0), (cpu() - c0) * 1e6 / requests


async def run_aiohttp(url, connections, requests):
    import aiohttp
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn, trust_env=False) as session:
        async def one():
            async with session.get(url) as r:
                await r.read()
        await asyncio.gather(*(one() for _ in range(connections)))
        left = [requests]

        async def worker():
            while left[0] > 0:
                left[0] -= 1
                async with session.get(url) as r:
                    json.loads(await r.read())

        t0, c0 = time.perf_counter(), cpu()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return requests / (time.perf_counter() - t0), (cpu() - c0) * 1e6 / requests


def main():
    name, url, connections, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if name == "aiohttp":
        import uvloop
        uvloop.install()
        rate, us = asyncio.run(run_aiohttp(url, connections, requests))
        print(f"aiohttp-uvloop client_json {rate:.0f} req/s")
        print(f"aiohttp-uvloop client_cpu {us:.2f} us/req")
    else:
        rate, us = asyncio.run(run_httpx(url, connections, requests))
        print(f"httpx client_json {rate:.0f} req/s")
        print(f"httpx client_cpu {us:.2f} us/req")


if __name__ == "__main__":
    main()
