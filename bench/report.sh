#!/usr/bin/env bash
# Runs the compare scripts (or reads their saved logs), collects their RESULT lines, and writes the benchmark
# table and the README's chart.
#
#   bench/report.sh [--quick] [--from DIR] [--out DIR] [NAME...]
#
# NAME: core, net, fs, http, offload, db, fetch (bench/compare_NAME.sh); default: all of them, each with its
# default settings (--quick passes --quick, and `--rounds 1 --size 64` to compare_fs.sh, which has no
# --quick). Each script's output (stdout and stderr) is saved to OUT/NAME.log (OUT: bench/results); a script
# that fails is reported and the others still run. --from DIR runs nothing and reads DIR/NAME.log instead
# (every DIR/*.log without NAMEs).
#
# Writes OUT/summary.md (a markdown table: workload, corio, peer, corio's speed-up) and OUT/ratios.png
# (gnuplot: corio's speed-up over each peer as horizontal bars on a log scale, the line at 1x = as fast).
#
# The RESULT line every compare script prints, one per corio/peer pair, tab-separated:
#
#     RESULT  <workload>  <corio's value>  <peer>  <peer's value>  <corio's speed-up>  <unit>
#
# The speed-up is > 1 when corio is better, whatever the unit: peer / corio for times (ns, us/req), corio /
# peer for rates (req/s, URLs/s, MB/s). Needs /usr/bin/python3 and gnuplot (Debian gnuplot-nox).
set -euo pipefail
cd "$(dirname "$0")/.."

all=(core net fs http offload db fetch)
quick=""
from=""
outdir=bench/results
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --from) from="$2"; shift ;;
    --out) outdir="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "usage: $0 [--quick] [--from DIR] [--out DIR] [NAME...]" >&2; exit 2 ;;
    *) names+=("${1#compare_}"); names[-1]=${names[-1]%.sh} ;;
  esac
  shift
done
mkdir -p "$outdir"

logs=()
if [ -n "$from" ]; then
  [ -d "$from" ] || { echo "report.sh: $from is not a directory" >&2; exit 2; }
  if [ ${#names[@]} -eq 0 ]; then
    for name in "${all[@]}"; do [ -f "$from/$name.log" ] && logs+=("$from/$name.log"); done
    for f in "$from"/*.log; do  # others last
      [ -e "$f" ] && [[ " ${all[*]} " != *" $(basename "$f" .log) "* ]] && logs+=("$f")
    done
  else
    for name in "${names[@]}"; do
      if [ -f "$from/$name.log" ]; then logs+=("$from/$name.log"); else echo "report.sh: no $from/$name.log" >&2; fi
    done
  fi
else
  [ ${#names[@]} -gt 0 ] || names=("${all[@]}")
  for name in "${names[@]}"; do
    script=bench/compare_$name.sh
    [ -f "$script" ] || { echo "report.sh: no $script" >&2; continue; }
    args=()
    if [ -n "$quick" ]; then
      if [ "$name" = fs ]; then args=(--rounds 1 --size 64); else args=(--quick); fi
    fi
    log="$outdir/$name.log"
    echo "report.sh: bash $script ${args[*]} (log: $log)" >&2
    start=$(date +%s)
    {
      echo "# report.sh: bash $script ${args[*]} at $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
      status=0
      bash "$script" "${args[@]}" 2>&1 || status=$?
      echo "# report.sh: exit status $status after $(( $(date +%s) - start )) s"
    } > "$log"
    grep -q '^# report.sh: exit status 0 ' "$log" || echo "report.sh: warning: $script failed (see $log)" >&2
    logs+=("$log")
  done
fi
[ ${#logs[@]} -gt 0 ] || { echo "report.sh: no logs to read" >&2; exit 1; }

/usr/bin/python3 - "$outdir" "${logs[@]}" <<'PY'
import os, sys

outdir, logs = sys.argv[1], sys.argv[2:]
rows, provenance = [], []
for log in logs:
    name = os.path.basename(log).removesuffix(".log")
    found = 0
    for line in open(log, errors="replace"):
        if line.startswith("# report.sh: bash "):
            provenance.append(f"`{line[len('# report.sh: '):].strip()}`")
        f = line.rstrip("\n").split("\t")
        if f[0] != "RESULT" or len(f) != 7:
            continue
        try:
            rows.append((name, f[1], float(f[2]), f[3], float(f[4]), float(f[5]), f[6]))
            found += 1
        except ValueError:
            continue
    if not found:
        print(f"report.sh: warning: no RESULT lines in {log}", file=sys.stderr)
if not rows:
    sys.exit("report.sh: no RESULT lines at all")

def value(v, unit):
    return (f"{v:,.0f}" if v >= 100 else f"{v:,.1f}") + f" {unit}"

def speedup(x):
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"

with open(f"{outdir}/summary.md", "w") as md:
    md.write("| workload | corio | peer | peer's value | corio's speed-up |\n|---|---:|---|---:|---:|\n")
    for name, w, c, peer, p, r, unit in rows:
        md.write(f"| {name}: {w} | {value(c, unit)} | {peer} | {value(p, unit)} | {speedup(r)} |\n")
    md.write("\nSpeed-up > 1: corio is faster (or smaller); peer / corio for times, corio / peer for rates.\n")
    if provenance:
        md.write("From: " + "; ".join(provenance) + ".\n")
    if any("--quick" in p or "--size 64" in p for p in provenance):
        md.write("**Quick runs** (small counts, one round): a smoke test of the scripts, not a measurement.\n")

# The chart's data, top to bottom in the order of the table: index, speed-up, label, colour (green >= 1).
with open(f"{outdir}/ratios.dat", "w") as d:
    for i, (name, w, c, peer, p, r, unit) in enumerate(rows):
        d.write(f"{len(rows) - i}\t{r}\t{name}: {w} vs {peer}\t{0x2e8b57 if r >= 1 else 0xc0392b}\t{speedup(r)}\n")
PY

rows=$(wc -l < "$outdir/ratios.dat")
title="corio's speed-up over each peer (log scale; right of 1x: corio is faster)"
grep -q '^\*\*Quick runs\*\*' "$outdir/summary.md" && title="QUICK RUNS, not a measurement: $title"
height=$(( 120 + 22 * rows ))
max=$(awk -F'\t' 'BEGIN { m = 10 } $2 > m { m = $2 } END { print m * 4 }' "$outdir/ratios.dat")
min=$(awk -F'\t' 'BEGIN { m = 0.5 } $2 < m { m = $2 } END { print m / 2 }' "$outdir/ratios.dat")
gnuplot <<EOF
set terminal pngcairo size 1100,$height font "DejaVu Sans,10" noenhanced
set output "$outdir/ratios.png"
set datafile separator "\t"
set title "$title"
set logscale x
set xrange [$min:$max]
set yrange [0.3:$rows + 0.7]
set format x "%g×"
set grid xtics
set ytics nomirror font ",9"
set xtics nomirror
set lmargin 36
unset key
set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 lc rgb "black"
plot "$outdir/ratios.dat" using 2:1:(\$2 < 1 ? \$2 : 1):(\$2 < 1 ? 1 : \$2):(\$1 - 0.35):(\$1 + 0.35):4:ytic(3) \
       with boxxyerror fs solid 0.8 noborder lc rgb variable, \
     "" using (\$2 >= 1 ? \$2 * 1.05 : 1.05):1:5 with labels left font ",8"
EOF
rm -f "$outdir/ratios.dat"
echo "report.sh: wrote $outdir/summary.md and $outdir/ratios.png ($rows results)" >&2
