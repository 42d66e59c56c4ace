// Seed: "CPU-Bound in Async Context" — heavy computation goes to worker threads; the loop only awaits.
// (corio::ProcessPool, for work that must not share the process, is coming; to_thread is here now.)
#include <corio/corio.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

std::uint64_t cpu_intensive(std::uint64_t seed) {  // a pure function: safe on any thread
    std::uint64_t x = seed;
    for (int i = 0; i < 20'000'000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

corio::Task<std::uint64_t> handle_request(std::uint64_t data) {
    co_return co_await corio::to_thread(cpu_intensive, data);
}

corio::Task<int> main_task() {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<corio::Task<std::uint64_t>> jobs;
    for (std::uint64_t i = 0; i < 4; ++i) jobs.push_back(handle_request(i));
    auto results = co_await corio::gather(std::move(jobs));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("4 CPU-bound jobs on %zu worker threads: %lld ms, results %llx...\n",
                corio::default_thread_pool().size(), static_cast<long long>(ms.count()),
                static_cast<unsigned long long>(results[0]));
    co_return 0;
}

int main() { return corio::run(main_task()); }
