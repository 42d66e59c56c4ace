// Seed: "CPU-Bound in Async Context" — heavy computation runs in worker processes (ProcessPoolExecutor and
// run_in_executor); the loop only awaits. corio::ProcessPool starts its workers from this same program, so
// cpu_intensive needs nothing special. (corio::to_thread(cpu_intensive, data) runs it on a thread instead.)
#include <corio/corio.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

std::uint64_t cpu_intensive(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (int i = 0; i < 20'000'000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

corio::Task<std::uint64_t> handle_request(corio::ProcessPool& pool, std::uint64_t data) {
    co_return co_await pool.submit(cpu_intensive, data);  // await loop.run_in_executor(pool, cpu_intensive, data)
}

corio::Task<int> main_task() {
    corio::ProcessPool pool;  // with ProcessPoolExecutor() as pool: one worker process per core
    auto t0 = std::chrono::steady_clock::now();
    std::vector<corio::Task<std::uint64_t>> jobs;
    for (std::uint64_t i = 0; i < 4; ++i) jobs.push_back(handle_request(pool, i));
    auto results = co_await corio::gather(std::move(jobs));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("4 CPU-bound jobs on %zu worker processes: %lld ms, results %llx...\n", pool.size(),
                static_cast<long long>(ms.count()), static_cast<unsigned long long>(results[0]));
    co_await pool.close();  // the end of the `with` block: the workers finish and exit
    co_return 0;
}

int main() { return corio::run(main_task()); }
