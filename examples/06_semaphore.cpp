// Seed: "Semaphore for Rate Limiting" — at most 10 requests in flight, whatever the number of tasks.
#include "support/mini_server.hpp"

#include <algorithm>
#include <cstdio>

using namespace std::chrono_literals;
#include <vector>

corio::Semaphore* g_limit;
int g_in_flight = 0, g_peak = 0;

corio::Task<std::string> rate_limited_fetch(int port, std::string path) {
    auto permit = co_await g_limit->acquire();  // only 10 at a time
    g_peak = std::max(g_peak, ++g_in_flight);
    std::string body = co_await example::fetch(port, std::move(path));
    --g_in_flight;
    co_return body;
}

corio::Task<int> main_task() {
    corio::Semaphore semaphore(10);
    g_limit = &semaphore;
    example::MiniServer api;
    api.start(20ms);
    std::vector<corio::Task<std::string>> tasks;
    for (int i = 0; i < 50; ++i) tasks.push_back(rate_limited_fetch(api.port, "/page/" + std::to_string(i)));
    auto results = co_await corio::gather(std::move(tasks));
    std::printf("%zu responses; at most %d requests were in flight at once\n", results.size(), g_peak);
    co_await api.stop();
    co_return 0;
}

int main() { return corio::run(main_task()); }
