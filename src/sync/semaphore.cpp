#include <corio/sync/event.hpp>
#include <corio/sync/semaphore.hpp>
#include <corio/sync/queue.hpp>
#include <corio/error.hpp>

#include <stdexcept>
#include <string>

namespace corio {

Semaphore::Semaphore(std::ptrdiff_t permits) {
    if (permits < 0)
        throw std::invalid_argument("corio::Semaphore: permits must be >= 0, got " + std::to_string(permits));
    m_count = static_cast<std::size_t>(permits);
}

bool Semaphore::start_acquire(AcquireAwaiter* a, detail::TaskNode* n, std::coroutine_handle<> h) noexcept {
    a->m_node = n;
    if (n->cancelled()) return false;
    if (m_count > 0 && m_waiters.empty()) {
        --m_count;
        ++m_acquired;
        a->m_granted = true;
        n->m_resume = h;
        return detail::completed_inline(n);
    }
    detail::park(m_waiters, a, n, h);
    return true;
}

std::optional<Semaphore::Permit> Semaphore::try_acquire() noexcept {
    if (m_count == 0 || !m_waiters.empty()) return std::nullopt;
    --m_count;
    ++m_acquired;
    return Permit(this);
}

void Semaphore::release() noexcept {
    if (auto* w = static_cast<AcquireAwaiter*>(m_waiters.pop_front())) {
        w->m_granted = true;  // handed over directly: no one can overtake it
        ++m_acquired;
        detail::t_loop->wake(w->m_node);
        return;
    }
    ++m_count;
}

void Semaphore::AcquireAwaiter::cancel() noexcept {
    m_sem->m_waiters.remove(this);
    detail::t_loop->schedule(m_node);
}

bool Event::start_wait(WaitAwaiter* w, detail::TaskNode* n, std::coroutine_handle<> h) noexcept {
    w->m_node = n;
    if (n->cancelled()) return false;
    if (m_set) {
        w->m_woken = true;
        n->m_resume = h;
        return detail::completed_inline(n);
    }
    detail::park(m_waiters, w, n, h);
    return true;
}

void Event::set() noexcept {
    if (!m_set) ++m_times_set;
    m_set = true;
    while (auto* w = static_cast<WaitAwaiter*>(m_waiters.pop_front())) {
        w->m_woken = true;
        detail::t_loop->wake(w->m_node);
    }
}

void Event::WaitAwaiter::cancel() noexcept {
    m_event->m_waiters.remove(this);
    detail::t_loop->schedule(m_node);
}

}  // namespace corio

namespace corio::detail {
void throw_queue_closed(const char* op) {
    throw QueueClosedError(std::string(op) + "() on a closed corio::Queue");
}
}  // namespace corio::detail
