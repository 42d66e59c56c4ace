#!/usr/bin/env bash
# Installs corio into a temporary prefix and builds a small program against it, twice: with CMake's
# find_package(corio) and with pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake -S . -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$tmp/prefix" \
  -DCORIO_BUILD_TESTS=OFF -DCORIO_BUILD_EXAMPLES=OFF -DCORIO_BUILD_BENCH=OFF -DCORIO_BUILD_TOOLS=OFF >/dev/null
cmake --build "$tmp/build" >/dev/null
cmake --install "$tmp/build" >/dev/null
mkdir -p "$tmp/app"
cat > "$tmp/app/main.cpp" <<'CPP'
#include <corio/corio.hpp>
using namespace std::chrono_literals;
corio::Task<int> main_task() {
    co_await corio::sleep(1ms);
    auto [a, b] = co_await corio::gather(corio::to_thread([] { return 20; }), corio::to_thread([] { return 22; }));
    co_return a + b;
}
int main() { return corio::run(main_task()) == 42 ? 0 : 1; }
CPP
cat > "$tmp/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(app CXX)
find_package(corio CONFIG REQUIRED)
add_executable(app main.cpp)
target_link_libraries(app PRIVATE corio::corio)
CM
cmake -S "$tmp/app" -B "$tmp/app/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/app/build" >/dev/null
"$tmp/app/build/app"
echo "find_package(corio): ok"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" g++ -o "$tmp/app/app_pc" "$tmp/app/main.cpp" \
  $(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs corio)
"$tmp/app/app_pc"
echo "pkg-config corio: ok"
