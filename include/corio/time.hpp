#pragma once
// Time: sleep, sleep_until, yield, timeout (asyncio.sleep, asyncio.sleep(0), asyncio.timeout).

#include <corio/detail/join.hpp>
#include <corio/detail/timer.hpp>
#include <corio/task.hpp>

#include <chrono>

namespace corio {

/// The monotonic clock corio's timers use.
using Clock = std::chrono::steady_clock;

namespace detail {
struct SleepAwaiter final : CancelHook, TimerEntry {
    Clock::time_point m_until;
    TaskNode* m_node = nullptr;
    bool m_fired = false;

    explicit SleepAwaiter(Clock::time_point until) noexcept : m_until(until) {}
    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        m_node = h.promise().m_node;
        m_node->m_resume = h;
        return park();
    }
    void await_resume() const {
        if (!m_fired && m_node->cancelled()) throw_cancelled();
    }
    bool park();
    void cancel() noexcept override;
    operator Task<void>() && { return as_task(std::move(*this)); }
};

struct YieldAwaiter {
    TaskNode* m_node = nullptr;
    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        m_node = h.promise().m_node;
        if (m_node->cancelled()) return false;
        m_node->m_resume = h;
        t_loop->schedule(m_node);
        return true;
    }
    void await_resume() const {
        if (m_node->cancelled()) throw_cancelled();
    }
    operator Task<void>() && { return as_task(std::move(*this)); }
};

[[noreturn]] void throw_timeout(Clock::duration d);
}  // namespace detail

/// Suspends the calling task for at least `d` (negative acts as zero: a yield).
///
/// Cancellation: a cancelled sleep raises CancelledError at once. Errors: LoopClosedError with no loop.
/// Thread safety: loop thread only.
///
///     co_await corio::sleep(50ms);
[[nodiscard]] inline detail::SleepAwaiter sleep(Clock::duration d) noexcept {
    return detail::SleepAwaiter(d <= Clock::duration::zero() ? Clock::time_point::min() : Clock::now() + d);
}

/// Suspends the calling task until `when` (a time in the past acts as a yield).
/// Cancellation, errors and threads: as sleep().
[[nodiscard]] inline detail::SleepAwaiter sleep_until(Clock::time_point when) noexcept {
    return detail::SleepAwaiter(when);
}

/// Lets every other ready task run, then resumes (asyncio.sleep(0)). Never makes a system call.
/// Cancellation: raises CancelledError if the task is cancelled.
///
///     co_await corio::yield();
[[nodiscard]] inline detail::YieldAwaiter yield() noexcept { return {}; }

/// Runs `task` with a deadline: if it has not finished after `d`, it is cancelled, its cleanup runs, and
/// TimeoutError is raised. A task that finishes anyway (ignoring the cancellation) returns its result.
///
/// Cancellation: cancelling the caller cancels the task, waits for it, and raises CancelledError (also when
/// the deadline passed meanwhile).
/// Errors: TimeoutError; anything the task raises. Thread safety: loop thread only.
///
///     auto body = co_await corio::timeout(2s, client.get(url));
template <class T>
[[nodiscard]] Task<T> timeout(Clock::duration d, Task<T> task) {
    auto child = detail::start_child(std::move(task), nullptr);
    detail::ChildAwaiter w(&child.promise(), true);
    w.m_has_deadline = true;
    w.m_deadline_at = d <= Clock::duration::zero() ? Clock::time_point::min() : Clock::now() + d;
    co_await w;
    if (w.m_timed_out && child.promise().m_exception && detail::is_cancellation(child.promise().m_exception)) {
        // The deadline passed, but if the caller was cancelled too (before, or while the task cleaned up)
        // its cancellation wins, as in asyncio: a TimeoutError could be caught and the cancellation lost.
        if (w.m_parent && w.m_parent->cancelled()) detail::throw_cancelled();
        detail::throw_timeout(d);
    }
    co_return child.promise().take();
}

/// timeout() for any awaitable corio operation (sleep, I/O, ...).
template <class A>
    requires(!is_task<A>::value) && requires(A a) { detail::as_task(std::move(a)); }
[[nodiscard]] auto timeout(Clock::duration d, A awaitable) {
    return timeout(d, detail::as_task(std::move(awaitable)));
}

}  // namespace corio
