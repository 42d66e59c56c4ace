// Micro-benchmarks of the core (Google Benchmark). The side-by-side comparison with other runtimes is
// bench/compare_core.sh; these track corio's own costs per operation.
#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

using namespace std::chrono_literals;

namespace {

corio::Task<void> trivial() { co_return; }
corio::Task<int> value() { co_return 1; }

void BM_await_completed_task(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        for (auto _ : s) benchmark::DoNotOptimize(co_await value());
    }(state));
}
BENCHMARK(BM_await_completed_task);

void BM_yield(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        for (auto _ : s) co_await corio::yield();
    }(state));
}
BENCHMARK(BM_yield);

void BM_spawn_await(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        for (auto _ : s) co_await corio::spawn(trivial());
    }(state));
}
BENCHMARK(BM_spawn_await);

void BM_gather_10(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        for (auto _ : s) {
            std::vector<corio::Task<int>> ts;
            for (int i = 0; i < 10; ++i) ts.push_back(value());
            benchmark::DoNotOptimize(co_await corio::gather(std::move(ts)));
        }
    }(state));
    state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_gather_10);

void BM_semaphore_uncontended(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        corio::Semaphore sem(1);
        for (auto _ : s) auto permit = co_await sem.acquire();
    }(state));
}
BENCHMARK(BM_semaphore_uncontended);

void BM_queue_roundtrip(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        corio::Queue<int> ping(1), pong(1);
        auto echo = corio::spawn([](corio::Queue<int>* in, corio::Queue<int>* out) -> corio::Task<void> {
            try {
                for (;;) co_await out->put(co_await in->get());
            } catch (const corio::QueueClosedError&) {
            }
        }(&ping, &pong));
        for (auto _ : s) {
            co_await ping.put(1);
            benchmark::DoNotOptimize(co_await pong.get());
        }
        ping.close();
        co_await echo;
    }(state));
}
BENCHMARK(BM_queue_roundtrip);

void BM_timeout_around_completed_task(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        for (auto _ : s) benchmark::DoNotOptimize(co_await corio::timeout(1s, value()));
    }(state));
}
BENCHMARK(BM_timeout_around_completed_task);

void BM_to_thread_roundtrip(benchmark::State& state) {
    corio::run([](benchmark::State& s) -> corio::Task<void> {
        for (auto _ : s) benchmark::DoNotOptimize(co_await corio::to_thread([] { return 1; }));
    }(state));
}
BENCHMARK(BM_to_thread_roundtrip);

}  // namespace

BENCHMARK_MAIN();
