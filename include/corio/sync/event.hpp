#pragma once
// corio::Event: a flag tasks can wait for (asyncio.Event).

#include <corio/detail/waiters.hpp>

#include <cstddef>
#include <cstdint>

namespace corio {

/// Starts unset; wait() suspends until set(). set() wakes every waiter; clear() makes it unset again.
///
/// Cancellation: a cancelled wait() raises CancelledError (unless the event was set first).
/// Errors: none. Thread safety: loop thread only (from another thread, LoopHandle::post a set()).
///
///     corio::Event ready;
///     co_await ready.wait();   // elsewhere: ready.set();
class Event {
public:
    struct Statistics {
        bool set = false;
        std::size_t waiters = 0;
        std::uint64_t times_set = 0;
    };

    struct [[nodiscard]] WaitAwaiter final : detail::Waiter {
        Event* m_event;
        bool m_woken = false;
        explicit WaitAwaiter(Event* e) noexcept : m_event(e) {}
        bool await_ready() const noexcept { return false; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return m_event->start_wait(this, h.promise().m_node, h);
        }
        void await_resume() const {
            if (!m_woken) detail::throw_cancelled();
        }
        void cancel() noexcept override;
    };

    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    /// Sets the flag and wakes every waiter.
    void set() noexcept;
    /// Unsets the flag.
    void clear() noexcept { m_set = false; }
    [[nodiscard]] bool is_set() const noexcept { return m_set; }
    /// Waits until the flag is set.
    [[nodiscard]] WaitAwaiter wait() noexcept { return WaitAwaiter(this); }
    [[nodiscard]] Statistics statistics() const noexcept { return {m_set, m_waiters.size(), m_times_set}; }

private:
    bool start_wait(WaitAwaiter* w, detail::TaskNode* n, std::coroutine_handle<> h) noexcept;

    bool m_set = false;
    std::uint64_t m_times_set = 0;
    detail::WaiterList m_waiters;
};

}  // namespace corio
