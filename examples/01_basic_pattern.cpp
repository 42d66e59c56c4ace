// Seed: "Basic Async Pattern" — an async function awaits I/O; corio::run drives main.
//
//   async def fetch_data(url): ... return response.json()
//   asyncio.run(main())
#include "support/mini_server.hpp"

#include <cstdio>

using namespace std::chrono_literals;

corio::Task<std::string> fetch_data(int port, std::string path) {
    co_return co_await example::fetch(port, std::move(path));  // non-blocking connect, write, read
}

corio::Task<int> main_task() {
    example::MiniServer api;
    api.start(20ms);
    std::string data = co_await fetch_data(api.port, "/data");
    std::printf("fetched: %s\n", data.c_str());
    co_await api.stop();
    co_return 0;
}

int main() { return corio::run(main_task()); }
