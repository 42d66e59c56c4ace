// Seed: "Basic Async Pattern" — an async function awaits an HTTP request; corio::run drives main.
//
//   async def fetch_data(url):
//       async with httpx.AsyncClient() as client:
//           response = await client.get(url)
//           return response.json()
//   asyncio.run(main())
#include "support/mini_server.hpp"

#include <cstdio>

using namespace std::chrono_literals;

corio::Task<nlohmann::json> fetch_data(std::string url) {
    corio::http::Client client;
    auto response = co_await client.get(url);  // non-blocking: the loop runs other tasks meanwhile
    co_return response.json();
}

corio::Task<int> main_task() {
    example::DemoApi api(20ms);  // a local stand-in for https://api.example.com
    nlohmann::json data = co_await fetch_data(api.url("/data"));
    std::printf("fetched: %s\n", data.dump().c_str());
    co_await api.stop();
    co_return 0;
}

int main() { return corio::run(main_task()); }
