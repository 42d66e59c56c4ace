// Seed: "Concurrent I/O" — launch all requests at once and gather them: 10 requests of 100 ms each take
// about 100 ms in all, not 1 s.
#include "support/mini_server.hpp"

#include <chrono>

using namespace std::chrono_literals;
#include <cstdio>
#include <vector>

corio::Task<std::vector<std::string>> fetch_all(int port, const std::vector<std::string>& paths) {
    std::vector<corio::Task<std::string>> tasks;
    for (auto& p : paths) tasks.push_back(example::fetch(port, p));  // nothing runs yet: tasks are lazy
    co_return co_await corio::gather(std::move(tasks));                // all at once
}

corio::Task<int> main_task() {
    example::MiniServer api;
    api.start(100ms);
    std::vector<std::string> paths;
    for (int i = 0; i < 10; ++i) paths.push_back("/item/" + std::to_string(i));
    auto t0 = std::chrono::steady_clock::now();
    auto results = co_await fetch_all(api.port, paths);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("%zu responses in %lld ms (each took 100 ms: they ran concurrently)\n", results.size(),
                static_cast<long long>(ms.count()));
    std::printf("first: %s\n", results.front().c_str());
    co_await api.stop();
    co_return 0;
}

int main() { return corio::run(main_task()); }
