#!/usr/bin/env bash
# corio-fetch against the same job written as the seed writes it in Python, interleaved round by round
# (corio, python, corio, python, ...); prints medians, the ratio and issue 8's target (>= 20x).
#
#   The job: fetch N distinct URLs (http://127.0.0.1:PORT/items/<i>) of a local nginx (1 worker, access_log
#   off, every page a small HTML document with two links), 50 at a time, hash each body (SHA-256) and count
#   its links off the loop, and write one row per URL into table `fetches` of a fresh SQLite file:
#     corio:  build/release/tools/corio-fetch -c 50 -q --json --db sqlite:///FILE -i URLS
#     python: /usr/bin/python3 bench/peers/fetch_seed.py -c 50 --db FILE -i URLS (httpx.AsyncClient +
#             asyncio.Semaphore(50) + asyncio.gather over all URLs + asyncio.to_thread for the CPU step +
#             aiosqlite, one insert per URL, a commit every 500 rows and at the end)
#   Every run is checked, not only timed: the process exits 0, its summary says N URLs and no errors, and the
#   SQLite file holds N rows, N of them status 200, with 2N links in all. A failed check is reported, the run
#   is not counted, and the script exits 1.
#
#   Rates are URLs over each process's wall time (start-up, database and final commit included). Also shown:
#   each process's CPU time (user + sys, all its threads) per URL, and nginx's worker's CPU per URL in the
#   same runs — nginx has one worker on one of the two cores, so it may cap corio's rate.
#
#   bench/compare_fetch.sh [--quick] [-n N] [--py-n N] [--rounds N] [-c N]
#
# -n: URLs per corio run (100,000; --quick: 5,000 and 1 round). --py-n: URLs per Python run (default: N).
# Python runs at 300-450 URLs/s here, so the default run takes 13-17 minutes, nearly all of it Python's;
# --py-n 20000 makes it ~4 minutes, and the ratio then compares rates (URLs/s; the output says so). --rounds: 3.
#
# Needs nginx, /usr/bin/python3 with python3-httpx and python3-aiosqlite (Debian), and corio's release build
# of corio-fetch (built here if missing). Every program gets 1,800 s per run.
set -euo pipefail
cd "$(dirname "$0")/.."

n=100000
py_n=""
rounds=3
concurrency=50
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) n=5000; rounds=1 ;;
    -n) n="$2"; shift ;;
    --py-n) py_n="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    -c) concurrency="$2"; shift ;;
    *) echo "usage: $0 [--quick] [-n N] [--py-n N] [--rounds N] [-c N]" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$py_n" ] || py_n=$n

source bench/lib.sh
/usr/bin/python3 -c 'import httpx, aiosqlite' 2>/dev/null ||
  { echo "compare_fetch.sh: /usr/bin/python3 needs python3-httpx and python3-aiosqlite" >&2; exit 1; }
build=${CORIO_BUILD:-build/release}
fetch_bin="$build/tools/corio-fetch"
if [ ! -x "$fetch_bin" ]; then
  cmake --preset release >/dev/null && cmake --build --preset release --target corio-fetch -j2 >/dev/null
fi
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

out=$(mktemp -d /tmp/corio_bench_fetch_XXXXXX)
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

port=$(free_port)
nginx_start "$out" "$port" "    location /items/ {
      default_type text/html;
      return 200 '<html><head><title>item</title></head><body><a href=\"/items/next\">next</a> <a href=\"/items/prev\">prev</a> \$uri</body></html>';
    }"
worker_pid=$(pgrep -P "$nginx_pid" | head -1 || true)

seq 0 $((n - 1)) | sed "s|^|http://127.0.0.1:$port/items/|" > "$out/urls.txt"
head -n "$py_n" "$out/urls.txt" > "$out/urls_py.txt"

/usr/bin/python3 - "$out" "$fetch_bin" "$n" "$py_n" "$rounds" "$concurrency" "$worker_pid" <<'PY'
import json, os, sqlite3, statistics, subprocess, sys, threading, time

out, fetch_bin, n, py_n, rounds, concurrency, worker = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]), sys.argv[6], sys.argv[7]
ticks = os.sysconf("SC_CLK_TCK")

def nginx_cpu():  # the worker's user + sys seconds so far
    try:
        f = open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / ticks
    except (OSError, IndexError, ValueError):
        return None

def run(name, count, cmd, db):
    """Runs one job; returns (wall s, cpu s, nginx cpu s, summary) or raises with what failed."""
    c0 = nginx_cpu()
    t0 = time.perf_counter()
    with open(f"{out}/logs/{name}.stderr", "ab") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        killer = threading.Timer(1800, p.kill)
        killer.start()
        stdout = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        killer.cancel()
    wall = time.perf_counter() - t0
    c1 = nginx_cpu()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"exit status {code} (stderr: {out}/logs/{name}.stderr)")
    summary = json.loads(stdout)
    if summary.get("urls") != count or summary.get("errors") != 0:
        raise RuntimeError(f"summary says urls={summary.get('urls')} errors={summary.get('errors')}, expected {count} and 0")
    con = sqlite3.connect(db)
    rows, ok, links = con.execute("select count(*), count(*) filter (where status = 200), sum(links) from fetches").fetchone()
    con.close()
    if (rows, ok, links) != (count, count, 2 * count):
        raise RuntimeError(f"{db}: {rows} rows, {ok} status 200, {links} links; expected {count}, {count}, {2 * count}")
    return wall, ru.ru_utime + ru.ru_stime, (c1 - c0 if c0 is not None and c1 is not None else None), summary

runners = {
    "corio": (n, lambda db: [fetch_bin, "-c", str(concurrency), "-q", "--json", "--db", f"sqlite:///{db}",
                             "-i", f"{out}/urls.txt"]),
    "python": (py_n, lambda db: ["/usr/bin/python3", "bench/peers/fetch_seed.py", "-c", str(concurrency),
                                 "--db", db, "-i", f"{out}/urls_py.txt"]),
}
res = {name: {"rate": [], "inproc": [], "cpu": [], "nginx": []} for name in runners}
failed = 0
for r in range(rounds):
    for name, (count, cmd) in runners.items():
        print(f"round {r + 1}/{rounds}: {name}, {count} URLs", file=sys.stderr)
        db = f"{out}/{name}_{r}.db"
        try:
            wall, cpu, ngx, summary = run(name, count, cmd(db), db)
        except Exception as e:  # noqa: BLE001 - any failure is reported and the run not counted
            print(f"compare_fetch.sh: {name} failed in round {r + 1}: {e}", file=sys.stderr)
            failed += 1
            continue
        for f in (db, db + "-wal", db + "-shm"):
            if os.path.exists(f):
                os.remove(f)
        res[name]["rate"].append(count / wall)
        res[name]["inproc"].append(summary["per_second"])
        res[name]["cpu"].append(cpu * 1e6 / count)
        if ngx is not None:
            res[name]["nginx"].append(ngx * 1e6 / count)

def med(name, key):
    v = res[name][key]
    return statistics.median(v) if v else None

def cell(v, fmt):
    return fmt.format(v) if v is not None else "-"

print(f"fetch {n:,} URLs (python: {py_n:,}) from nginx (1 worker) on loopback, -c {concurrency}, "
      f"SHA-256 + links off the loop, one SQLite row per URL; medians of {rounds} interleaved rounds")
print(f"{'runner':8}{'URLs':>9}{'URLs/s':>10}{'in-process':>12}{'CPU us/URL':>12}{'nginx us/URL':>14}{'runs':>6}")
for name, (count, _) in runners.items():
    print(f"{name:8}{count:>9,}{cell(med(name, 'rate'), '{:,.0f}'):>10}{cell(med(name, 'inproc'), '{:,.0f}'):>12}"
          f"{cell(med(name, 'cpu'), '{:,.1f}'):>12}{cell(med(name, 'nginx'), '{:,.1f}'):>14}{len(res[name]['rate']):>6}")
c, p = med("corio", "rate"), med("python", "rate")
if c and p:
    ratio = c / p
    print(f"corio / python: {ratio:.1f}x URLs/s (target >= 20x: {'met' if ratio >= 20 else 'NOT met'})")
    if py_n != n:
        print(f"  (python fetched {py_n:,} URLs per run, corio {n:,}: the ratio compares rates, URLs/s)")
    cc, pc = med("corio", "cpu"), med("python", "cpu")
    print(f"CPU per URL: python / corio = {pc / cc:.1f}x")
    ngx = med("corio", "nginx")
    if ngx:
        print(f"  nginx's worker used {ngx * c / 1e6:.0%} of a core during corio's runs "
              f"({ngx:.1f} us/URL at {c:,.0f} URLs/s); corio-fetch {cc * c / 1e6:.0%} of a core")
    # The machine-readable line (bench/report.sh): workload, corio, peer, peer's value, corio's speed-up, unit.
    print(f"RESULT\tfetch_sqlite\t{c:.1f}\tpython-httpx\t{p:.1f}\t{ratio:.2f}\tURLs/s")
sys.exit(1 if failed else 0)
PY
