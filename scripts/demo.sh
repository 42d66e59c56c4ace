#!/usr/bin/env bash
# The main job: builds corio (release) and runs corio-fetch on 2,000 pages of its own demo server (corio's
# http::Server on 127.0.0.1, in the same process: no network needed), 50 at a time, results into SQLite.
# Arguments are passed on to corio-fetch (try --json, --workers 2, or your own URLs instead of --demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target corio-fetch >/dev/null
mkdir -p build/demo
rm -f build/demo/fetch.db build/demo/fetch.db-wal build/demo/fetch.db-shm
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--demo 2000 -c 50 --db sqlite:///build/demo/fetch.db)
echo "+ corio-fetch ${args[*]}" >&2
exec ./build/release/tools/corio-fetch "${args[@]}"
