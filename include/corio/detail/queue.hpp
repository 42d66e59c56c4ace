#pragma once
// The awaiters of corio::Queue<T>. Not part of the public API.

#include <corio/detail/waiters.hpp>

#include <optional>

namespace corio {
template <class T>
class Queue;
}

namespace corio::detail {

[[noreturn]] void throw_queue_closed(const char* op);

template <class T>
struct [[nodiscard]] QueueGet final : Waiter {
    Queue<T>* m_q;
    std::optional<T> m_value;
    bool m_cancelled = false;  // cancelled before it got a value: CancelledError even if closed meanwhile
    explicit QueueGet(Queue<T>* q) noexcept : m_q(q) {}
    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return m_q->start_get(this, h.promise().m_node, h);
    }
    T await_resume() {
        if (m_value) return std::move(*m_value);
        if (!m_cancelled && m_q->closed()) throw_queue_closed("get");
        throw_cancelled();
    }
    void cancel() noexcept override {
        m_cancelled = true;
        m_q->m_getters.remove(this);
        t_loop->schedule(m_node);
    }
};

template <class T>
struct [[nodiscard]] QueuePut final : Waiter {
    Queue<T>* m_q;
    std::optional<T> m_value;  // emptied when handed over
    bool m_done = false;
    bool m_cancelled = false;  // cancelled before its value got in: CancelledError even if closed meanwhile
    QueuePut(Queue<T>* q, T&& v) : m_q(q), m_value(std::move(v)) {}
    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return m_q->start_put(this, h.promise().m_node, h);
    }
    void await_resume() const {
        if (m_done) return;
        if (!m_cancelled && m_q->closed()) throw_queue_closed("put");
        throw_cancelled();
    }
    void cancel() noexcept override {
        m_cancelled = true;
        m_q->m_putters.remove(this);
        t_loop->schedule(m_node);
    }
};

}  // namespace corio::detail
