// Seed: "Anti-Patterns" — each one, and what corio says about it: strict mode and the loop-stall watchdog
// (a blocking call), the never-awaited report (a forgotten await), NestedLoopError (a nested loop).
#include <corio/corio.hpp>

#include <cstdio>
#include <string>
#include <thread>

using namespace std::chrono_literals;

corio::Task<int> other_async() { co_return 1; }
corio::Task<std::string> fetch_data(std::string url) { co_return "data from " + url; }

// WRONG - mixing sync and async: a blocking call inside a task stops the whole loop.
[[gnu::noinline]] void blocking_get() {
    std::this_thread::sleep_for(250ms);  // stands in for requests.get(url)
    asm volatile("" ::: "memory");
}

corio::Task<void> mixed() {
    blocking_get();  // the loop-stall watchdog catches this and names it
    co_await corio::sleep(1ms);
}

corio::Task<void> forgot_await() {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-result"
    fetch_data("https://api.example.com/data");  // WRONG: a compiler warning ([[nodiscard]]), and at run time:
#pragma GCC diagnostic pop
    co_return;                                   // "coroutine 'fetch_data' was never awaited"
}

corio::Task<void> nested_loop() {
    try {
        corio::run(other_async());  // WRONG: can't nest event loops
    } catch (const corio::NestedLoopError& e) {
        std::fprintf(stderr, "corio::NestedLoopError: %s\n", e.what());
    }
    co_await other_async();  // RIGHT
}

corio::Task<int> main_task() {
    std::fprintf(stderr, "-- 1. mixing sync and async (a blocking call on the loop)\n");
    co_await mixed();
    co_await corio::sleep(500ms);  // the watchdog reports once the loop turns again
    std::fprintf(stderr, "-- 2. not awaiting a coroutine\n");
    co_await forgot_await();
    std::fprintf(stderr, "-- 3. creating an event loop inside async code\n");
    co_await nested_loop();
    co_return 0;
}

int main() {
    corio::RunOptions options;
    options.strict = corio::Strict::warn;  // this program links corio::strict: blocking calls are named too
    return corio::run(main_task(), options);
}
