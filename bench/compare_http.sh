#!/usr/bin/env bash
# HTTP side by side, in one run, interleaved round by round; prints medians and ratios.
#
#   1. client_json: 50 keep-alive connections fetching a 200-byte JSON file from nginx (1 worker) on
#      loopback, each body parsed as JSON: corio's http::Client (io_uring and epoll) vs wrk -t1 -c50 (the
#      limit: it parses nothing), Python httpx and aiohttp on uvloop (asyncio, as the seed does it).
#   2. server_json: wrk -t1 -c50 against corio's http::Server (bench/http_server) vs nginx (1 worker),
#      both serving the same JSON.
#      Also the client's CPU time per request (getrusage): nginx's one worker caps throughput, so this
#      shows what each client itself costs.
#   3. idle_rss: the corio client's resident memory with 10,000 idle keep-alive connections in its pool.
#
#   bench/compare_http.sh [--quick] [--rounds N]
#
# Needs: nginx, wrk, /usr/bin/python3 with python3-httpx, python3-aiohttp, python3-uvloop (Debian), and
# corio's release build (built here if missing). Every program gets 180 s per run.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
requests=100000
duration=5
py_requests=5000
idle=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1; requests=10000; duration=2; py_requests=1000; idle=1000 ;;
    --rounds) rounds="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done

source bench/lib.sh
command -v wrk >/dev/null || { echo "compare_http.sh: wrk is not installed" >&2; exit 1; }
build=${CORIO_BUILD:-build/release}
if [ ! -x "$build/bench/http_client" ] || [ ! -x "$build/bench/http_server" ]; then
  cmake --preset release >/dev/null && cmake --build "$build" --target http_client http_server >/dev/null
fi
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

out=$(mktemp -d /tmp/corio_bench_http_XXXXXX)
nginx_pid=""
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

nginx_port=$(free_port)
server_port=$(free_port)
mkdir -p "$out/html"
/usr/bin/python3 - "$out/html/json" <<'PY'
import sys
s = '{"id":12345,"name":"corio","tags":["async","io","http"],"ok":true,"pad":"'
s += "x" * (198 - len(s)) + '"}'
open(sys.argv[1], "w").write(s)
PY
nginx_start "$out" "$nginx_port" "    root $out/html;
    location = /json { default_type application/json; }"
"$build/bench/http_server" --port "$server_port" >/dev/null 2>"$out/server.log" &
server_pid=$!
wait_ports "$server_port"
nginx_url="http://127.0.0.1:$nginx_port/json"
server_url="http://127.0.0.1:$server_port/json"

results="$out/results.txt"
: > "$results"
record() { echo "$1 $2 $3 $4" >> "$results"; }
wrk_rate() {  # wrk_rate URL: requests/s
  timeout 180 wrk -t1 -c50 -d"${duration}s" "$1" | awk '/^Requests\/sec:/ {print $2}'
}
run_line() {  # run_line CMD...: the program prints "name workload value unit" lines
  local lines
  if lines=$(timeout 180 "$@" 2>>"$out/stderr.txt"); then echo "$lines" >> "$results"; else
    echo "compare_http.sh: warning: $* failed" >&2; fi
}
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  CORIO_BACKEND=io_uring run_line "$build/bench/http_client" json "$nginx_url" --connections 50 --requests "$requests"
  CORIO_BACKEND=epoll run_line "$build/bench/http_client" json "$nginx_url" --connections 50 --requests "$requests"
  record wrk client_json "$(wrk_rate "$nginx_url")" req/s
  run_line /usr/bin/python3 bench/peers/httpx_client.py httpx "$nginx_url" 50 "$py_requests"
  run_line /usr/bin/python3 bench/peers/httpx_client.py aiohttp "$nginx_url" 50 "$py_requests"
  record nginx server_json "$(wrk_rate "$nginx_url")" req/s
  record corio server_json "$(wrk_rate "$server_url")" req/s
done
CORIO_BACKEND=io_uring run_line "$build/bench/http_client" idle "$nginx_url" --connections "$idle"

/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
units = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) != 4:
        continue
    try:
        vals[(f[0], f[1])].append(float(f[2]))
    except ValueError:
        continue
    units[f[1]] = f[3]
med = {k: statistics.median(v) for k, v in vals.items()}
def get(name, workload):
    return med.get((name, workload))
print(f"{'workload':<22} {'runtime':<16} {'median':>12}  unit   runs")
for (name, workload), v in sorted(vals.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{workload:<22} {name:<16} {med[(name, workload)]:>12.1f}  {units[workload]:<6} {len(v)}")
print()
corio = get("corio", "client_json")
results = []
def result(workload, a, peer, b, speedup, unit):  # machine-readable (bench/report.sh): corio's speed-up over peer
    if a and b:
        results.append(f"RESULT\t{workload}\t{a:.1f}\t{peer}\t{b:.1f}\t{speedup:.2f}\t{unit}")
def ratio(label, a, b, target):
    if a and b:
        print(f"{label:<40} {a / b:6.2f}x   (target {target})")
if corio:
    ratio("client: corio / wrk", corio, get("wrk", "client_json"), ">= 0.85x")
    ratio("client: corio / httpx", corio, get("httpx", "client_json"), ">= 30x")
    ratio("client: corio / aiohttp+uvloop", corio, get("aiohttp-uvloop", "client_json"), ">= 8x")
    for peer in ["wrk", "httpx", "aiohttp-uvloop"]:
        b = get(peer, "client_json")
        result("client_json", corio, peer, b, corio / b if b else 0, "req/s")
    ratio("client: corio-epoll / wrk", get("corio-epoll", "client_json"), get("wrk", "client_json"), "-")
# Throughput is capped by nginx (one worker, one core of two): CPU per request shows the clients' own cost.
def cpu_ratio(label, peer):
    a, b = get("corio", "client_cpu"), get(peer, "client_cpu")
    if a and b:
        print(f"{label:<40} {b / a:6.2f}x   (CPU per request, peer / corio)")
        result("client_cpu", a, peer, b, b / a, "us/req")
cpu_ratio("client CPU: httpx / corio", "httpx")
cpu_ratio("client CPU: aiohttp+uvloop / corio", "aiohttp-uvloop")
ratio("server: corio / nginx (wrk -t1 -c50)", get("corio", "server_json"), get("nginx", "server_json"), ">= 1.0x")
a, b = get("corio", "server_json"), get("nginx", "server_json")
result("server_json", a, "nginx", b, a / b if a and b else 0, "req/s")
for (name, workload), v in med.items():
    if workload.startswith("idle_"):
        print(f"{workload:<40} {v:6.1f} MiB (target: <= 64 MiB in all)")
for line in results:
    print(line)
PY
