#!/usr/bin/env bash
# Runs corio's TCP workloads (echo over 1, 50 and 100 connections; accept rate) side by side with
# Boost.Asio 1.81 and a plain C epoll loop, in one run, interleaved (round 1: every runtime, round 2:
# every runtime, ...), and prints the median of each workload per runtime, the ratio peer/corio (> 1: corio
# is faster) and operations per second (1e9 / ns: round trips per second for the echo workloads,
# connections per second for accept).
#
#   bench/compare_net.sh [--quick] [--rounds N] [--only WORKLOAD]
#
# Needs: g++, gcc, libboost1.81-dev, /usr/bin/python3, and corio's release build (built here if missing:
# cmake --preset release && cmake --build --preset release --target net_compare). The script builds the
# peers itself into build/bench-peers. Until corio's side exists it runs the peers alone, with a warning.
# CORIO_NET_COMPARE=path runs another build of corio's side instead of build/release/bench/net_compare.
# Each program gets 180 s per run (timeout); a run that fails or times out is reported, and the lines it
# printed before are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
bench_args 5 "$@"

out=build/bench-peers
mkdir -p "$out"
corio_bin=$(corio_bench_bin net_compare CORIO_NET_COMPARE)
if [ ! -x "$out/asio_net" ] || [ bench/peers/asio_net.cpp -nt "$out/asio_net" ]; then
  g++ -std=c++20 -O2 -DNDEBUG -o "$out/asio_net" bench/peers/asio_net.cpp -pthread
fi
if [ ! -x "$out/epoll_net" ] || [ bench/peers/epoll_net.c -nt "$out/epoll_net" ]; then
  gcc -O2 -o "$out/epoll_net" bench/peers/epoll_net.c
fi

results="$out/net_results.txt"
: > "$results"
run() {  # run NAME CMD...: append "NAME workload value unit" lines (a run that fails keeps what it printed)
  local name="$1"; shift
  local status=0
  timeout --foreground 180 "$@" $quick "${only[@]}" > "$out/net_run.txt" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "compare_net.sh: warning: $name failed (exit $status) in this round" >&2
  fi
  sed "s/^/$name /" "$out/net_run.txt" >> "$results"
}
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  if [ -n "$corio_bin" ]; then
    CORIO_BACKEND=io_uring run corio "$corio_bin"
    CORIO_BACKEND=epoll run corio-epoll "$corio_bin"
  fi
  run asio "$out/asio_net"
  run epoll-c "$out/epoll_net"
done

/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
units = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) != 4:
        continue
    name, workload, value, unit = f
    vals[(name, workload)].append(float(value))
    units[workload] = unit
if not vals:
    sys.exit("compare_net.sh: no results")
runtimes = ["corio", "corio-epoll", "asio", "epoll-c"]
peers = ["asio", "epoll-c"]
ops = ["corio", "asio", "epoll-c"]
workloads = list(dict.fromkeys(w for (_, w) in vals))
med = {k: statistics.median(v) for k, v in vals.items()}

def cell(v, fmt, width):
    return f"{(fmt(v) if v is not None else '-'):>{width}}"

results = []
print(f"{'workload':14}" + "".join(f"{r:>14}" for r in runtimes)
      + "".join(f"{p + '/corio':>15}" for p in peers)
      + "".join(f"{r + ' ops/s':>16}" for r in ops))
for w in workloads:
    row = f"{w:14}"
    for r in runtimes:
        row += cell(med.get((r, w)), lambda v: f"{v:,.1f} {units[w]}", 14)
    c = med.get(("corio", w))
    for p in peers:
        v = med.get((p, w))
        row += cell(v / c if v and c else None, lambda x: f"{x:.2f}x", 15)
    for r in ops:
        v = med.get((r, w))
        row += cell(1e9 / v if v else None, lambda x: f"{x:,.0f}", 16)
    print(row)
    for p in peers:  # machine-readable (bench/report.sh): corio's speed-up over p
        v = med.get((p, w))
        if v and c:
            results.append(f"RESULT\t{w}\t{c:.1f}\t{p}\t{v:.1f}\t{v / c:.2f}\t{units[w]}")
n = max(len(v) for v in vals.values())
print(f"(medians of {n} interleaved rounds; ratio = peer / corio, higher is better for corio; "
      "ops/s = 1e9 / ns: round trips/s over all connections for echo_*, connections/s for accept)")
for line in results:
    print(line)
PY
