#pragma once
// Intrusive FIFO lists of parked awaiters, for the sync primitives. Not part of the public API.

#include <corio/detail/promise.hpp>

#include <cstddef>

namespace corio::detail {

/// An awaiter parked in a primitive's queue; lives in the waiting coroutine's frame.
struct Waiter : CancelHook {
    Waiter* m_wprev = nullptr;
    Waiter* m_wnext = nullptr;
    TaskNode* m_node = nullptr;

protected:
    ~Waiter() = default;
};

class WaiterList {
public:
    [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] Waiter* front() const noexcept { return m_head; }

    void push_back(Waiter* w) noexcept {
        w->m_wnext = nullptr;
        w->m_wprev = m_tail;
        if (m_tail) m_tail->m_wnext = w;
        else m_head = w;
        m_tail = w;
        ++m_size;
    }
    void remove(Waiter* w) noexcept {
        if (w->m_wprev) w->m_wprev->m_wnext = w->m_wnext;
        else m_head = w->m_wnext;
        if (w->m_wnext) w->m_wnext->m_wprev = w->m_wprev;
        else m_tail = w->m_wprev;
        w->m_wprev = w->m_wnext = nullptr;
        --m_size;
    }
    Waiter* pop_front() noexcept {
        Waiter* w = m_head;
        if (w) remove(w);
        return w;
    }

private:
    Waiter* m_head = nullptr;
    Waiter* m_tail = nullptr;
    std::size_t m_size = 0;
};

/// The fast path of a primitive's wait: the operation completed without waiting. Returns whether to
/// suspend (only to honour the cooperative budget: the task is queued to run again).
inline bool completed_inline(TaskNode* n) noexcept {
    if (!budget_exhausted(*t_loop)) return false;
    t_loop->schedule(n);
    return true;
}

/// Parks `w` (for task `n`, resuming `h`) on `list`.
inline void park(WaiterList& list, Waiter* w, TaskNode* n, std::coroutine_handle<> h) noexcept {
    w->m_node = n;
    n->m_resume = h;
    n->m_wait = w;
    list.push_back(w);
}

}  // namespace corio::detail
