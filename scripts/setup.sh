#!/usr/bin/env bash
# Installs the Debian 12 packages corio needs to build and test (only those missing). Run as root, or with
# sudo available. CORIO_SETUP_EXTRA="pkg ..." adds more (the benchmark peers: see bench/README.md).
# The benchmark peers in all: CORIO_SETUP_EXTRA="libboost1.81-dev python3-uvloop python3-httpx python3-aiohttp wrk
# python3-asyncpg python3-aiosqlite".
set -euo pipefail
pkgs=(g++ clang-14 libclang-rt-14-dev cmake ninja-build pkg-config ccache
      liburing-dev libssl-dev libc-ares-dev openssl googletest libgtest-dev libbenchmark-dev nlohmann-json3-dev libhttp-parser-dev zlib1g-dev libsqlite3-dev libpq-dev postgresql nginx-light libcli11-dev ${CORIO_SETUP_EXTRA:-})
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
