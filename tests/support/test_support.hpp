#pragma once
// Helpers shared by the tests.

#include <corio/corio.hpp>

#include <sched.h>

#include <string>

namespace corio_test {

using namespace std::chrono_literals;

/// corio::run with a safety net: a wake-up that never comes fails the test (TimeoutError) instead of hanging.
template <class T>
T run_bounded(corio::Task<T> task, corio::RunOptions opts = {}) {
    return corio::run(corio::timeout(20s, std::move(task)), std::move(opts));
}

/// Waits until `holds()` is true, looking each millisecond for at most `limit`; returns whether it became true.
/// For a state another task or the server reaches (a query sent, N in flight): no fixed sleep to guess.
template <class Pred>
corio::Task<bool> eventually(Pred holds, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!holds()) {
        if (std::chrono::steady_clock::now() >= deadline) co_return holds();
        co_await corio::sleep(1ms);
    }
    co_return true;
}

/// A spawned task's result, as a Task (to pass to error_of).
template <class T>
corio::Task<T> joined(corio::JoinHandle<T> handle) {
    co_return co_await handle;
}

/// The message of the E a task raises, or "<no error>" when it succeeds (another exception propagates and
/// fails the test).
template <class E, class T>
corio::Task<std::string> error_of(corio::Task<T> task) {
    std::string what = "<no error>";
    try {
        (void)co_await std::move(task);
    } catch (const E& e) {
        what = e.what();
    }
    co_return what;
}

/// The message of the E that `f()` throws, or "<no error>" (the synchronous error_of).
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "<no error>";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Lets every task that is ready run a few times, so spawned tasks reach their first wait.
inline corio::Task<void> settle(int rounds = 3) {
    for (int i = 0; i < rounds; ++i) co_await corio::yield();
}

/// The CPUs this process may run on, counted from its affinity mask: what the default pools are sized by.
inline std::size_t cpus_allowed() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return 0;  // fails the comparison: the mask is the point
    return static_cast<std::size_t>(CPU_COUNT(&set));
}

}  // namespace corio_test
