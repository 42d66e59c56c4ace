#pragma once
// corio::Semaphore: limit concurrency (asyncio.Semaphore), FIFO-fair.

#include <corio/detail/waiters.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

namespace corio {

/// A counter of permits. acquire() waits for one and returns an RAII Permit that gives it back. Waiters
/// are served first come, first served: a new acquire never overtakes a waiting one.
///
/// Cancellation: a cancelled acquire leaves the queue and raises CancelledError; if the permit had already
/// been handed over, it is returned to the caller instead (the cancellation is raised at the next await).
/// Errors: std::invalid_argument for a negative count. Thread safety: loop thread only.
///
///     corio::Semaphore sem(10);
///     auto permit = co_await sem.acquire();  // at most 10 tasks past this line
class Semaphore {
public:
    struct Statistics {
        std::size_t available = 0;      ///< permits free now
        std::size_t waiters = 0;        ///< tasks waiting in acquire()
        std::uint64_t acquired = 0;     ///< permits handed out, in all
    };

    /// A held permit; released when destroyed (or by release()).
    class [[nodiscard]] Permit {
    public:
        Permit() noexcept = default;
        explicit Permit(Semaphore* s) noexcept : m_sem(s) {}
        Permit(Permit&& o) noexcept : m_sem(std::exchange(o.m_sem, nullptr)) {}
        Permit& operator=(Permit&& o) noexcept {
            if (this != &o) {
                release();
                m_sem = std::exchange(o.m_sem, nullptr);
            }
            return *this;
        }
        ~Permit() { release(); }
        void release() noexcept {
            if (m_sem) std::exchange(m_sem, nullptr)->release();
        }
        [[nodiscard]] bool held() const noexcept { return m_sem != nullptr; }

    private:
        Semaphore* m_sem = nullptr;
    };

    struct [[nodiscard]] AcquireAwaiter final : detail::Waiter {
        Semaphore* m_sem;
        bool m_granted = false;
        explicit AcquireAwaiter(Semaphore* s) noexcept : m_sem(s) {}
        bool await_ready() const noexcept { return false; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return m_sem->start_acquire(this, h.promise().m_node, h);
        }
        Permit await_resume() const {
            if (!m_granted) detail::throw_cancelled();
            return Permit(m_sem);
        }
        void cancel() noexcept override;
    };

    explicit Semaphore(std::ptrdiff_t permits);
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// Waits for a permit.
    [[nodiscard]] AcquireAwaiter acquire() noexcept { return AcquireAwaiter(this); }
    /// Takes a permit if one is free and nobody waits; never suspends.
    [[nodiscard]] std::optional<Permit> try_acquire() noexcept;
    /// Gives a permit back (to the first waiter, if any). Permits call this; call it directly only to add
    /// permits.
    void release() noexcept;

    [[nodiscard]] std::size_t available() const noexcept { return m_count; }
    [[nodiscard]] Statistics statistics() const noexcept { return {m_count, m_waiters.size(), m_acquired}; }

private:
    bool start_acquire(AcquireAwaiter* a, detail::TaskNode* n, std::coroutine_handle<> h) noexcept;

    std::size_t m_count;
    std::uint64_t m_acquired = 0;
    detail::WaiterList m_waiters;
};

}  // namespace corio
