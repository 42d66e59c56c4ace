#!/usr/bin/env bash
# Databases side by side, in one run, interleaved round by round (round 1: every runtime, round 2: every
# runtime, ...); prints medians, ratios and the database issue's targets with what was measured.
#
#   1. pg_select: 100,000 point selects `select id, name, price, created from items where id = $1` on a
#      10,000-row table, random ids, 8 connections: corio (pool of 8, 8 tasks; io_uring and epoll) vs asyncpg
#      (pool of 8, 8 tasks, on uvloop when installed) vs pgbench -n -M prepared -c 8 -j 2 with the same query
#      as a custom script (\set id random(1, 10000); the select with \gset, so a missing row fails the run).
#      Also pgbench -j 1: its 8 clients on one thread, as corio's 8 tasks are on one loop.
#      pg_select_pipe: corio with PoolOptions::pipeline = true and 64 tasks on the 8 connections.
#      pg_select_2loops: corio on two threads, one loop each with a pool of 4 and 4 tasks (DESIGN.md: one loop
#      per thread), the like of pgbench -j 2 as pg_select is of pgbench -j 1.
#      pg_select_held: corio and asyncpg with each task holding one connection for all its queries (no
#      acquire per query; asyncpg's pool also resets a connection it gets back, one more statement per query).
#   2. pg_fetch_all: every row of the table, 50 times: rows/s, corio vs asyncpg.
#   3. sqlite_insert / sqlite_select: 100,000 inserts in transactions of 1,000, then 100,000 point selects,
#      into a fresh file: corio (sqlite:///file) vs Python's aiosqlite (same pragmas as corio: WAL,
#      synchronous=NORMAL).
#
#   bench/compare_db.sh [--quick | -n N] [--rounds N] [--only WORKLOAD] [--corio-only]
#
# --quick is -n 10000 (the count of queries, rows inserted and selects; pg_fetch_all stays 50 x 10,000).
# --corio-only runs no peer (CI's smoke run: the cluster, corio under both backends, its checks).
# Every program checks its results (the row asked for, all rows, the count inserted; pgbench's processed
# transaction count) and a run that fails is reported, not timed; the script then exits with status 1.
#
# The script starts a private PostgreSQL cluster (initdb in a temporary directory, the server on 127.0.0.1 and
# a free port, fsync off; as user postgres when run as root) and stops it by pid on exit. Everyone connects
# over TCP to 127.0.0.1. Needs PostgreSQL's server binaries and pgbench (Debian postgresql), /usr/bin/python3
# with python3-asyncpg and python3-aiosqlite (python3-uvloop optional), and corio's release build (built here
# if missing: cmake --preset release && cmake --build --preset release --target db_compare).
# CORIO_DB_COMPARE=path runs another build of corio's side; CORIO_PG_BIN=dir picks the PostgreSQL binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

n=100000
rounds=3
only=""
peers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) n=10000 ;;
    -n) n="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --only) only="$2"; shift ;;
    --corio-only) peers="" ;;
    *) echo "usage: $0 [--quick | -n N] [--rounds N] [--only WORKLOAD] [--corio-only]" >&2; exit 2 ;;
  esac
  shift
done
wants() { [ -z "$only" ] || [[ " $* " == *" $only "* ]]; }  # wants WORKLOAD...: one of them is asked for

pg_bin=${CORIO_PG_BIN:-$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -1)}
for tool in initdb postgres pg_isready pgbench psql; do
  [ -x "$pg_bin/$tool" ] || { echo "compare_db.sh: $pg_bin/$tool is missing (apt-get install postgresql)" >&2; exit 1; }
done
[ -z "$peers" ] || /usr/bin/python3 -c 'import asyncpg, aiosqlite' 2>/dev/null ||
  { echo "compare_db.sh: /usr/bin/python3 needs python3-asyncpg and python3-aiosqlite" >&2; exit 1; }
asyncpg_name=asyncpg
/usr/bin/python3 -c 'import uvloop' 2>/dev/null && asyncpg_name=asyncpg-uvloop

source bench/lib.sh
corio_bin=$(corio_bench_bin db_compare CORIO_DB_COMPARE)
[ -n "$corio_bin" ] || [ -n "$peers" ] || { echo "compare_db.sh: corio's db_compare is missing" >&2; exit 1; }

# ---- the private cluster ------------------------------------------------------------------------------------
out=$(mktemp -d /tmp/corio_bench_db_XXXXXX)
pg_pid=""
cleanup() {
  if [ -n "$pg_pid" ] && kill -INT "$pg_pid" 2>/dev/null; then  # fast shutdown, then wait for it to go
    for _ in $(seq 200); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pg_pid" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg=()  # PostgreSQL refuses to run as root
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "compare_db.sh: running as root and there is no postgres user" >&2; exit 1; }
  chown postgres: "$out"
  as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
port=$(free_port)
"${as_pg[@]}" "$pg_bin/initdb" -D "$out/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
  >"$out/initdb.log" 2>&1 || { cat "$out/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$pg_bin/postgres" -D "$out/data" -p "$port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$out" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
  -c max_connections=100 -c shared_buffers=128MB -c log_min_messages=warning </dev/null >"$out/server.log" 2>&1 &
pg_pid=$!  # setpriv execs: this is the postmaster
for _ in $(seq 300); do
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
  kill -0 "$pg_pid" 2>/dev/null || { echo "compare_db.sh: postgres did not start:" >&2; cat "$out/server.log" >&2; exit 1; }
  sleep 0.1
done
psql() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"; }
psql <<'SQL'
create table items (id int primary key, name text not null, price numeric(10,2) not null, created timestamptz not null);
insert into items
  select g, 'item ' || g, (g % 1000) + 0.99, now() - g * interval '1 minute' from generate_series(1, 10000) g;
vacuum analyze items;
SQL
[ "$(psql -At -c 'select count(*) from items')" = 10000 ] || { echo "compare_db.sh: the items table is wrong" >&2; exit 1; }
url="postgresql://postgres@127.0.0.1:$port/postgres"
cat > "$out/select.sql" <<'SQL'
\set id random(1, 10000)
select id, name, price, created from items where id = :id \gset r_
SQL
chmod a+r "$out/select.sql"

# ---- the runs -----------------------------------------------------------------------------------------------
results="$out/results.txt"
: > "$results"
failures=0
loads="$out/loads.txt"
: > "$loads"
run() {  # run NAME CMD...: append "NAME workload value unit" lines (a run that fails keeps what it printed)
  local name="$1"; shift
  local status=0
  timeout --foreground 900 "$@" > "$out/run.txt" 2>>"$out/stderr.txt" || status=$?
  if [ "$status" -ne 0 ]; then
    failures=$((failures + 1))
    echo "compare_db.sh: warning: $name failed (exit $status) in this round:" >&2
    tail -3 "$out/stderr.txt" >&2
  fi
  sed "s/^/$name /" "$out/run.txt" >> "$results"
}
pgbench_run() {  # pgbench_run NAME JOBS: the same point select, 8 clients on JOBS threads; checks every transaction
  local name="$1" jobs="$2" per=$(( (n + 7) / 8 )) status=0
  timeout --foreground 900 /usr/bin/time -f "%U %S" -o "$out/pgbench_time.txt" "$pg_bin/pgbench" -n -M prepared -c 8 \
    -j "$jobs" -t "$per" -f "$out/select.sql" -h 127.0.0.1 -p "$port" -U postgres postgres > "$out/pgbench.txt" \
    2>>"$out/stderr.txt" || status=$?
  local processed tps
  processed=$(awk -F': ' '/number of transactions actually processed/ {print $2}' "$out/pgbench.txt")
  tps=$(awk '/^tps = .*without initial connection time/ {print $3}' "$out/pgbench.txt")
  if [ "$status" -ne 0 ] || [ "$processed" != "$((per * 8))/$((per * 8))" ] || [ -z "$tps" ]; then
    failures=$((failures + 1))
    echo "compare_db.sh: warning: $name failed in this round (exit $status, processed ${processed:-?}):" >&2
    tail -3 "$out/pgbench.txt" "$out/stderr.txt" >&2
    return
  fi
  echo "$name pg_select $tps q/s" >> "$results"
  awk -v n=$((per * 8)) -v name="$name" '{printf "%s pg_select_cpu %.2f us/op\n", name, ($1 + $2) * 1e6 / n}' \
    "$out/pgbench_time.txt" >> "$results"
}
corio_args=(--pg "$url" --sqlite "$out/corio.db" -n "$n")
[ -n "$only" ] && corio_args+=(--only "$only")
peer_args=(-n "$n")
[ -n "$only" ] && peer_args+=(--only "$only")
for r in $(seq "$rounds"); do
  echo "round $r/$rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  echo "round $r start $(cut -d' ' -f1 /proc/loadavg)" >> "$loads"
  if [ -n "$corio_bin" ]; then
    CORIO_BACKEND=io_uring run corio "$corio_bin" "${corio_args[@]}"
    CORIO_BACKEND=epoll run corio-epoll "$corio_bin" "${corio_args[@]}"
  fi
  if [ -n "$peers" ]; then
    if wants pg_select pg_select_held pg_fetch_all; then run "$asyncpg_name" /usr/bin/python3 bench/peers/db_asyncpg.py "$url" "${peer_args[@]}"; fi
    if wants pg_select pg_select_pipe pg_select_2loops; then pgbench_run pgbench 2; pgbench_run pgbench-j1 1; fi
    if wants sqlite_insert sqlite_select; then run aiosqlite /usr/bin/python3 bench/peers/db_aiosqlite.py "$out/py.db" "${peer_args[@]}"; fi
  fi
  echo "round $r end $(cut -d' ' -f1 /proc/loadavg)" >> "$loads"
done
grep -h "^db_asyncpg:" "$out/stderr.txt" | sort -u >&2 || true
mkdir -p build/bench-peers
cp "$results" build/bench-peers/db_results.txt  # every round's numbers, for a look at the spread

/usr/bin/python3 - "$results" "$loads" "$asyncpg_name" "$n" <<'PY'
import statistics, sys
from collections import defaultdict
results, loads, asyncpg, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
vals = defaultdict(list)
units = {}
for line in open(results):
    f = line.split()
    if len(f) != 4:
        continue
    try:
        vals[(f[0], f[1])].append(float(f[2]))
    except ValueError:
        continue
    units[f[1]] = f[3]
if not vals:
    sys.exit("compare_db.sh: no results")
med = {k: statistics.median(v) for k, v in vals.items()}
runtimes = [r for r in ["corio", "corio-epoll", asyncpg, "pgbench", "pgbench-j1", "aiosqlite"] if any(k[0] == r for k in vals)]
order = ["pg_select", "pg_select_2loops", "pg_select_held", "pg_select_pipe", "pg_fetch_all", "sqlite_insert", "sqlite_select"]
workloads = [w for w in order if any(k[1] == w for k in vals)]
cpu_workloads = [w + "_cpu" for w in order if any(k[1] == w + "_cpu" for k in vals)]

def cell(v, width, fmt="{:,.0f}"):
    return f"{(fmt.format(v) if v is not None else '-'):>{width}}"

print(f"{'workload':18}{'unit':>7}" + "".join(f"{r:>16}" for r in runtimes))
for w in workloads:
    print(f"{w:18}{units[w]:>7}" + "".join(cell(med.get((r, w)), 16) for r in runtimes))
rounds = max(len(v) for v in vals.values())
print(f"(medians of {rounds} interleaved rounds, n = {n:,}; higher is better; load average at the start and end "
      "of each round: " + ", ".join(l.split()[3] for l in open(loads)) + ")")
if cpu_workloads:
    print()
    print(f"{'client CPU':22}{'unit':>7}" + "".join(f"{r:>16}" for r in runtimes))
    for w in cpu_workloads:
        print(f"{w:22}{units[w]:>7}" + "".join(cell(med.get((r, w)), 16, "{:,.2f}") for r in runtimes))
    print("(CPU time of the client process, every thread, per query or row; lower is better; the server's is not in it)")
print()

def ratio(a, b):
    a, b = med.get(a), med.get(b)
    return a / b if a and b else None

results = []
print("targets (issue 6), io_uring / epoll:")
def target(label, num, den, goal):
    got = [ratio((rt, num[1]), den) for rt in ("corio", "corio-epoll")]
    text = " / ".join(f"{x:.2f}x" if x is not None else "-" for x in got)
    if goal is None:
        print(f"  {label:<62} {text:>15}  (no target)")
        return
    verdict = "met" if got[0] is not None and got[0] >= goal else "NOT met" if got[0] is not None else "not measured"
    print(f"  {label:<62} {text:>15}  (target >= {goal}x: {verdict})")
target("point select, corio / asyncpg", ("corio", "pg_select"), (asyncpg, "pg_select"), 2.5)
target("point select, corio / pgbench", ("corio", "pg_select"), ("pgbench", "pg_select"), 1.0)
target("point select, pipeline + 64 tasks, corio / pgbench", ("corio", "pg_select_pipe"), ("pgbench", "pg_select"), 1.5)
target("fetch 10,000 rows x 50, rows/s corio / asyncpg", ("corio", "pg_fetch_all"), (asyncpg, "pg_fetch_all"), 2.0)
target("point select, corio / pgbench -j 1 (one client thread)", ("corio", "pg_select"), ("pgbench-j1", "pg_select"), None)
target("point select, two loops (two threads), corio / pgbench -j 2", ("corio", "pg_select_2loops"), ("pgbench", "pg_select"), None)
target("point select, held connections, corio / asyncpg", ("corio", "pg_select_held"), (asyncpg, "pg_select_held"), None)
target("sqlite inserts, corio / aiosqlite", ("corio", "sqlite_insert"), ("aiosqlite", "sqlite_insert"), 10.0)
target("sqlite point selects, corio / aiosqlite", ("corio", "sqlite_select"), ("aiosqlite", "sqlite_select"), 10.0)
for label, (rt, w), (peer, pw) in [("pg_select", ("corio", "pg_select"), (asyncpg, "pg_select")),
                                  ("pg_select", ("corio", "pg_select"), ("pgbench", "pg_select")),
                                  ("pg_select_pipe", ("corio", "pg_select_pipe"), ("pgbench", "pg_select")),
                                  ("pg_fetch_all", ("corio", "pg_fetch_all"), (asyncpg, "pg_fetch_all")),
                                  ("sqlite_insert", ("corio", "sqlite_insert"), ("aiosqlite", "sqlite_insert")),
                                  ("sqlite_select", ("corio", "sqlite_select"), ("aiosqlite", "sqlite_select"))]:
    c, p = med.get((rt, w)), med.get((peer, pw))
    if c and p:  # machine-readable (bench/report.sh): corio's speed-up over the peer
        results.append(f"RESULT\t{label}\t{c:.1f}\t{peer}\t{p:.1f}\t{c / p:.2f}\t{units[w]}")
print("client CPU per operation, peer / corio (io_uring / epoll; > 1: corio uses less):")
for w, peer in [("pg_select_cpu", asyncpg), ("pg_select_cpu", "pgbench"), ("pg_select_held_cpu", asyncpg),
                ("pg_fetch_all_cpu", asyncpg), ("sqlite_insert_cpu", "aiosqlite"), ("sqlite_select_cpu", "aiosqlite")]:
    got = [ratio((peer, w), (rt, w)) for rt in ("corio", "corio-epoll")]
    if any(x is not None for x in got):
        print(f"  {w[:-4] + ', ' + peer + ' / corio':<52} " + " / ".join(f"{x:.2f}x" if x else "-" for x in got))
print("\n".join(results))
PY
if [ "$failures" -gt 0 ]; then
  echo "compare_db.sh: $failures run(s) failed (see the warnings above)" >&2
  exit 1
fi
