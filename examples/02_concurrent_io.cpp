// Seed: "Concurrent I/O" — launch all requests at once and gather them: 10 requests of 100 ms each take
// about 100 ms in all, not 1 s.
//
//   async with httpx.AsyncClient() as client:
//       tasks = [client.get(url) for url in urls]
//       responses = await asyncio.gather(*tasks)
#include "support/mini_server.hpp"

#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

corio::Task<std::vector<corio::http::Response>> fetch_all(const std::vector<std::string>& urls) {
    corio::http::Client client;
    std::vector<corio::Task<corio::http::Response>> tasks;
    for (auto& url : urls) tasks.push_back(client.get(url));  // nothing runs yet: tasks are lazy
    co_return co_await corio::gather(std::move(tasks));         // all at once
}

corio::Task<int> main_task() {
    example::DemoApi api(100ms);
    std::vector<std::string> urls;
    for (int i = 0; i < 10; ++i) urls.push_back(api.url("/item/" + std::to_string(i)));
    auto t0 = std::chrono::steady_clock::now();
    auto responses = co_await fetch_all(urls);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("%zu responses in %lld ms (each took 100 ms: they ran concurrently)\n", responses.size(),
                static_cast<long long>(ms.count()));
    std::printf("first: %d %s\n", responses.front().status(), responses.front().text().data());
    co_await api.stop();
    co_return 0;
}

int main() { return corio::run(main_task()); }
