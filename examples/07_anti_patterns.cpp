// Seed: "Anti-Patterns" — what corio does about each.
#include <corio/corio.hpp>

#include <cstdio>

using namespace std::chrono_literals;

corio::Task<int> other_async() { co_return 1; }

corio::Task<void> nested_loop() {
    try {
        corio::run(other_async());  // WRONG: can't nest event loops
    } catch (const corio::NestedLoopError& e) {
        std::printf("nested run(): corio::NestedLoopError: %s\n", e.what());
    }
    int v = co_await other_async();  // RIGHT
    std::printf("co_await instead: %d\n", v);
}

corio::Task<void> forgot_await() {
    // WRONG: `fetch_data(url);` alone — corio::Task is [[nodiscard]], so the compiler warns:
    //   "ignoring return value of ... declared with attribute 'nodiscard'"
    // and a task that is never awaited never runs (it is lazy, like a Python coroutine object).
    bool ran = false;
    auto forgotten = [](bool* r) -> corio::Task<void> {
        *r = true;
        co_return;
    }(&ran);
    co_await corio::sleep(1ms);
    std::printf("a task created but never awaited ran: %s\n", ran ? "yes" : "no");
    co_await std::move(forgotten);  // RIGHT
    std::printf("after co_await it ran: %s\n", ran ? "yes" : "no");
}

corio::Task<int> main_task() {
    co_await nested_loop();
    co_await forgot_await();
    std::printf("mixing sync and async: see 04_never_block (the loop-stall watchdog arrives with issue #3)\n");
    co_return 0;
}

int main() { return corio::run(main_task()); }
