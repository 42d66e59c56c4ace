#!/usr/bin/env bash
# Runs corio's core workloads side by side with Boost.Asio 1.81, Python asyncio and asyncio+uvloop, in one
# run, interleaved (round 1: every runtime, round 2: every runtime, ...), and prints the median of each
# workload per runtime and the ratio peer/corio (> 1: corio is faster or smaller).
#
#   bench/compare_core.sh [--quick] [--rounds N] [--only WORKLOAD]
#
# Needs: the release build (built here if missing: cmake --preset release && cmake --build --preset release
# --target core_compare; CORIO_CORE_COMPARE=path runs another build of corio's side),
# g++, libboost1.81-dev, /usr/bin/python3 with python3-uvloop. The script builds the Asio peer itself.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
bench_args 3 "$@"

out=build/bench-peers
mkdir -p "$out"
corio_bin=$(corio_bench_bin core_compare CORIO_CORE_COMPARE)
if [ ! -x "$out/asio_core" ] || [ bench/peers/asio_core.cpp -nt "$out/asio_core" ]; then
  g++ -std=c++20 -O2 -DNDEBUG -o "$out/asio_core" bench/peers/asio_core.cpp -pthread
fi

results="$out/results.txt"
: > "$results"
run() {  # run NAME CMD...: append "NAME workload value unit" lines
  local name="$1"; shift
  "$@" $quick "${only[@]}" | sed "s/^/$name /" >> "$results"
}
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  if [ -n "$corio_bin" ]; then
    CORIO_BACKEND=io_uring run corio "$corio_bin"
    CORIO_BACKEND=epoll run corio-epoll "$corio_bin"
  fi
  run asio "$out/asio_core"
  run asyncio /usr/bin/python3 bench/peers/asyncio_core.py
  run uvloop /usr/bin/python3 bench/peers/asyncio_core.py --uvloop
done

/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
units = {}
for line in open(sys.argv[1]):
    name, workload, value, unit = line.split()
    vals[(name, workload)].append(float(value))
    units[workload] = unit
runtimes = ["corio", "corio-epoll", "asio", "asyncio", "uvloop"]
workloads = list(dict.fromkeys(w for (_, w) in vals))
med = {k: statistics.median(v) for k, v in vals.items()}
results = []
print(f"{'workload':24}" + "".join(f"{r:>13}" for r in runtimes) + "   asio/corio asyncio/corio uvloop/corio")
for w in workloads:
    row = f"{w:24}"
    for r in runtimes:
        v = med.get((r, w))
        row += f"{(f'{v:.1f} ' + units[w]) if v is not None else '-':>13}"
    c = med.get(("corio", w))
    for p in ["asio", "asyncio", "uvloop"]:
        v = med.get((p, w))
        row += f"{(v / c if v and c else float('nan')):>13.1f}x"
    print(row)
    for p in ["asio", "asyncio", "uvloop"]:  # machine-readable (bench/report.sh): corio's speed-up over p
        v = med.get((p, w))
        if v and c:
            results.append(f"RESULT\t{w}\t{c:.1f}\t{p}\t{v:.1f}\t{v / c:.2f}\t{units[w]}")
n = max(len(v) for v in vals.values())
print(f"(medians of {n} interleaved rounds; ratio = peer / corio, higher is better for corio)")
for line in results:
    print(line)
PY
