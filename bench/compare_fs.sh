#!/usr/bin/env bash
# Reads one file in 1 MiB blocks with corio (fs::File::read_at; io_uring and epoll; one read at a time and
# four in flight) and with `dd bs=1M` and `cat`, interleaved (round 1: every reader, round 2: every reader,
# ...), and prints the median throughput of each and its ratio to dd. Every run reads the page cache (the
# file is read once beforehand; nothing is dropped): this measures corio's overhead, not the disk.
#
#   bench/compare_fs.sh [--rounds N] [--size MIB] [--dir DIR] [--file PATH] [--keep]
#
# The file is DIR/corio_fs_read.bin (DIR: $TMPDIR or /tmp), SIZE MiB of random bytes (1024), made if missing
# and removed afterwards unless --keep; --file reads an existing file instead (never removed). Throughput is
# the file's size over each process's wall time (MB = 10^6 bytes), the same clock for every reader; corio's
# in-process figure (without process start-up) is shown too. Needs the release build of bench/fs_read (built
# here if missing; FS_READ=path overrides).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
size_mib=1024
dir="${TMPDIR:-/tmp}"
file=""
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --size) size_mib="$2"; shift ;;
    --dir) dir="$2"; shift ;;
    --file) file="$2"; shift ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--rounds N] [--size MIB] [--dir DIR] [--file PATH] [--keep]" >&2; exit 2 ;;
  esac
  shift
done

bin="${FS_READ:-build/release/bench/fs_read}"
if [ ! -x "$bin" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target fs_read >/dev/null
fi

made=""
if [ -z "$file" ]; then
  file="$dir/corio_fs_read.bin"
  if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" -ne $((size_mib << 20)) ]; then
    echo "writing $size_mib MiB to $file" >&2
    head -c "${size_mib}M" /dev/urandom > "$file"
  fi
  [ -n "$keep" ] || made="$file"
fi
trap '[ -z "$made" ] || rm -f "$made"' EXIT
cat "$file" > /dev/null  # into the page cache

/usr/bin/env python3 - "$file" "$bin" "$rounds" <<'PY'
import os, statistics, subprocess, sys, time

path, fs_read, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(path)
readers = {
    "dd bs=1M": ["dd", f"if={path}", "of=/dev/null", "bs=1M"],
    "cat": ["cat", path],
    "corio io_uring": [fs_read, "--backend", "io_uring", "--inflight", "1", path],
    "corio io_uring x4": [fs_read, "--backend", "io_uring", "--inflight", "4", path],
    "corio epoll": [fs_read, "--backend", "epoll", "--inflight", "1", path],
    "corio epoll x4": [fs_read, "--backend", "epoll", "--inflight", "4", path],
}
wall = {name: [] for name in readers}
inproc = {name: [] for name in readers}
for r in range(rounds):
    print(f"round {r + 1}/{rounds}", file=sys.stderr)
    for name, cmd in readers.items():
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE if name.startswith("corio") else subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        wall[name].append(size / 1e6 / (time.perf_counter() - t0))
        if out.stdout:
            inproc[name].append(float(out.stdout.split()[1]))

dd = statistics.median(wall["dd bs=1M"])
print(f"reading {size / 2**20:.0f} MiB from the page cache in 1 MiB blocks; medians of {rounds} interleaved rounds")
print(f"{'reader':20}{'MB/s':>10}{'/ dd':>8}{'in-process MB/s':>18}")
for name in readers:
    m = statistics.median(wall[name])
    ip = f"{statistics.median(inproc[name]):.0f}" if inproc[name] else "-"
    print(f"{name:20}{m:>10.0f}{m / dd:>7.2f}x{ip:>18}")
print("(x4: four reads in flight; MB/s = file size / process wall time; in-process excludes start-up)")
# Machine-readable (bench/report.sh): corio (io_uring, one read at a time) against dd and cat, MB/s.
corio = statistics.median(wall["corio io_uring"])
for peer in ["dd bs=1M", "cat"]:
    m = statistics.median(wall[peer])
    print(f"RESULT\tfs_read_1mib\t{corio:.0f}\t{peer.split()[0]}\t{m:.0f}\t{corio / m:.2f}\tMB/s")
PY
