#!/usr/bin/env bash
# Runs the offload workloads (trivial calls one at a time and 10,000 at once; 1,000 SHA-256 digests of
# 64 KiB buffers sent as spans, placed in shared memory, or 16 of them hashed again and again) with 2 workers on corio's ProcessPool (io_uring and epoll), corio's to_thread, and Python's
# ProcessPoolExecutor(2) through loop.run_in_executor, in one run, interleaved (round 1: every runtime,
# round 2: every runtime, ...), and prints the median of each workload per runtime, the ratios, operations
# per second, and the issue's targets with what was measured.
#
#   bench/compare_offload.sh [--quick] [--rounds N] [--only WORKLOAD]
#
# Needs /usr/bin/python3 and corio's release build (built here if missing: cmake --preset release &&
# cmake --build --preset release --target offload_compare). CORIO_OFFLOAD_COMPARE=path runs another build of
# corio's side. Each program gets 300 s per run (timeout); a run that fails or times out is reported, and the
# lines it printed before are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
bench_args 3 "$@"

out=build/bench-peers
mkdir -p "$out"
corio_bin=$(corio_bench_bin offload_compare CORIO_OFFLOAD_COMPARE)

results="$out/offload_results.txt"
: > "$results"
run() {  # run NAME CMD...: append "NAME workload value unit" lines (a run that fails keeps what it printed)
  local name="$1"; shift
  local status=0
  timeout --foreground 300 "$@" $quick "${only[@]}" > "$out/offload_run.txt" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "compare_offload.sh: warning: $name failed (exit $status) in this round" >&2
  fi
  sed "s/^/$name /" "$out/offload_run.txt" >> "$results"
}
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  if [ -n "$corio_bin" ]; then
    CORIO_BACKEND=io_uring run process "$corio_bin"
    CORIO_BACKEND=epoll run process-epoll "$corio_bin"
    CORIO_BACKEND=io_uring run to_thread "$corio_bin" --executor thread
  fi
  run python /usr/bin/python3 bench/peers/process_pool.py
done

/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 4:
        vals[(f[0], f[1])].append(float(f[2]))
if not vals:
    sys.exit("compare_offload.sh: no results")
med = {k: statistics.median(v) for k, v in vals.items()}
runtimes = ["process", "process-epoll", "to_thread", "python"]
workloads = list(dict.fromkeys(w for (_, w) in vals))

def cell(v, fmt, width):
    return f"{(fmt(v) if v is not None else '-'):>{width}}"

def ratio(a, b):
    return a / b if a and b else None

print(f"{'workload':13}" + "".join(f"{r + ' ns':>17}" for r in runtimes)
      + f"{'python/process':>16}{'to_thread/process':>19}{'process ops/s':>15}{'python ops/s':>14}")
for w in workloads:
    row = f"{w:13}"
    for r in runtimes:
        row += cell(med.get((r, w)), lambda v: f"{v:,.0f}", 17)
    p = med.get(("process", w))
    row += cell(ratio(med.get(("python", w)), p), lambda x: f"{x:.1f}x", 16)
    row += cell(ratio(med.get(("to_thread", w)), p), lambda x: f"{x:.2f}x", 19)
    row += cell(1e9 / p if p else None, lambda x: f"{x:,.0f}", 15)
    py = med.get(("python", w))
    row += cell(1e9 / py if py else None, lambda x: f"{x:,.0f}", 14)
    print(row)
n = max(len(v) for v in vals.values())
print(f"(medians of {n} interleaved rounds; ns per call or per digest; python/process > 1 and "
      "to_thread/process > 1: the process pool is faster)")
for w in workloads:  # machine-readable (bench/report.sh): the ProcessPool's speed-up over Python's
    p, py = med.get(("process", w)), med.get(("python", w))
    if p and py:
        print(f"RESULT\t{w}\t{p:.1f}\tpython-ppe\t{py:.1f}\t{py / p:.2f}\tns")

def target(name, value, ok, fmt):
    if value is None:
        print(f"  {name}: not measured")
    else:
        print(f"  {name}: {fmt(value)} -> {'met' if ok(value) else 'NOT met'}")
print("targets (issue 7):")
target("trivial calls, throughput >= 10x Python (trivial_10k)",
       ratio(med.get(("python", "trivial_10k")), med.get(("process", "trivial_10k"))),
       lambda x: x >= 10, lambda x: f"{x:.1f}x")
target("round trip <= 50 us (trivial_seq)", med.get(("process", "trivial_seq")),
       lambda x: x <= 50_000, lambda x: f"{x / 1000:.1f} us")
for w, how in (("sha256_1000", "spans, copied"), ("sha256_shared", "SharedArray, 1,000 fresh buffers"),
               ("sha256_reuse", "SharedArray, 16 buffers hashed again and again")):
    target(f"digest throughput >= 0.9x to_thread ({w}: {how})",
           ratio(med.get(("to_thread", w)), med.get(("process", w))), lambda x: x >= 0.9, lambda x: f"{x:.2f}x")
# What a process pool's data costs on this machine (on one thread, no pool: offload_compare --executor thread):
# the best digest throughput a pool can reach against to_thread when it copies each buffer once, or when its
# worker reads each buffer through a mapping of its own for the first time.
in_place = med.get(("to_thread", "sha256_in_place"))
for w, how in (("sha256_after_copy", "a pool that copies each 64 KiB buffer once (sha256_1000)"),
               ("sha256_new_mapping", "a worker's first read of a buffer through its own mapping (sha256_shared)")):
    c = ratio(in_place, med.get(("to_thread", w)))
    if c:
        print(f"  ceiling for {how}: {c:.2f}x to_thread "
              f"({in_place / 1000:.1f} us per digest in place, {med[('to_thread', w)] / 1000:.1f} us)")
PY
