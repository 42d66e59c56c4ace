// Seed: "Semaphore for Rate Limiting" — at most 10 requests in flight, whatever the number of tasks.
#include "support/mini_server.hpp"

#include <algorithm>
#include <cstdio>

using namespace std::chrono_literals;
#include <vector>

corio::Semaphore* g_limit;
int g_in_flight = 0, g_peak = 0;

corio::Task<std::string> rate_limited_fetch(corio::http::Client& client, std::string url) {
    auto permit = co_await g_limit->acquire();  // only 10 at a time
    g_peak = std::max(g_peak, ++g_in_flight);
    auto response = co_await client.get(url);
    --g_in_flight;
    co_return response.body();
}

corio::Task<int> main_task() {
    corio::Semaphore semaphore(10);
    g_limit = &semaphore;
    example::DemoApi api(20ms);
    corio::http::Client client;
    std::vector<corio::Task<std::string>> tasks;
    for (int i = 0; i < 50; ++i) tasks.push_back(rate_limited_fetch(client, api.url("/page/" + std::to_string(i))));
    auto results = co_await corio::gather(std::move(tasks));
    std::printf("%zu responses; at most %d requests were in flight at once\n", results.size(), g_peak);
    co_await api.stop();
    co_return 0;
}

int main() { return corio::run(main_task()); }
