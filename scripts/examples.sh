#!/usr/bin/env bash
# Builds corio (release) and runs the seed's patterns, one example each, in the seed's order.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
for ex in 01_basic_pattern 02_concurrent_io 03_async_database 04_never_block 05_cpu_bound 06_semaphore 07_anti_patterns 08_network_and_files; do
  echo "== examples/$ex.cpp"
  "./build/release/examples/$ex"
  echo
done
