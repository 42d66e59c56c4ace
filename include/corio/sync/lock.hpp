#pragma once
// corio::Lock: mutual exclusion between tasks (asyncio.Lock), FIFO-fair.

#include <corio/sync/semaphore.hpp>

namespace corio {

/// A lock held across awaits. lock() waits and returns a Guard that unlocks when destroyed.
///
/// Cancellation: a cancelled lock() leaves the queue and raises CancelledError (a lock already handed over is
/// returned). Errors: none. Thread safety: loop thread only; it orders tasks, not threads.
///
///     corio::Lock lock;
///     { auto guard = co_await lock.lock(); co_await write_both_files(); }
class Lock {
public:
    using Guard = Semaphore::Permit;
    struct Statistics {
        bool locked = false;
        std::size_t waiters = 0;
        std::uint64_t acquired = 0;
    };

    Lock() : m_sem(1) {}
    /// Waits for the lock.
    [[nodiscard]] Semaphore::AcquireAwaiter lock() noexcept { return m_sem.acquire(); }
    /// Takes the lock if it is free and nobody waits.
    [[nodiscard]] std::optional<Guard> try_lock() noexcept { return m_sem.try_acquire(); }
    [[nodiscard]] bool locked() const noexcept { return m_sem.available() == 0; }
    [[nodiscard]] Statistics statistics() const noexcept {
        auto s = m_sem.statistics();
        return {s.available == 0, s.waiters, s.acquired};
    }

private:
    Semaphore m_sem;
};

}  // namespace corio
