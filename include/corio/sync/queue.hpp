#pragma once
// corio::Queue<T>: a bounded FIFO between tasks (asyncio.Queue(maxsize)).

#include <corio/detail/queue.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>

namespace corio {

/// A bounded queue. put() waits while it is full, get() while it is empty; waiters are served in order, and
/// a value is handed straight to a waiting getter. close() ends it: waiters wake with QueueClosedError,
/// get() still returns what is left, then raises QueueClosedError.
///
/// Cancellation: a cancelled put() or get() leaves the queue untouched and raises CancelledError (a get
/// that already received its value returns it; a put whose value got in returns), even if close() came
/// after the cancellation. Errors: std::invalid_argument for capacity 0;
/// QueueClosedError after close(). Thread safety: loop thread only.
///
///     corio::Queue<std::string> urls(100);
///     co_await urls.put(url);
///     std::string next = co_await urls.get();
template <class T>
class Queue {
public:
    struct Statistics {
        std::size_t size = 0, capacity = 0, getters = 0, putters = 0;
        std::uint64_t put = 0, got = 0;
        bool closed = false;
    };

    explicit Queue(std::size_t capacity) : m_capacity(capacity) {
        if (capacity == 0) throw std::invalid_argument("corio::Queue: capacity must be >= 1, got 0");
    }
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;

    /// Waits for room, then appends `value`.
    [[nodiscard]] detail::QueuePut<T> put(T value) { return detail::QueuePut<T>(this, std::move(value)); }
    /// Waits for a value and removes it.
    [[nodiscard]] detail::QueueGet<T> get() noexcept { return detail::QueueGet<T>(this); }

    /// Appends without waiting; false (value untouched) when full. Errors: QueueClosedError.
    bool try_put(T&& value) {
        if (m_closed) detail::throw_queue_closed("try_put");
        if (auto* g = static_cast<detail::QueueGet<T>*>(m_getters.pop_front())) {
            g->m_value.emplace(std::move(value));
            ++m_put;
            ++m_got;
            detail::t_loop->wake(g->m_node);
            return true;
        }
        if (m_items.size() >= m_capacity) return false;
        m_items.push_back(std::move(value));
        ++m_put;
        return true;
    }
    bool try_put(const T& value) {
        T copy(value);
        return try_put(std::move(copy));
    }
    /// Removes a value without waiting; nullopt when empty.
    [[nodiscard]] std::optional<T> try_get() {
        if (m_items.empty()) return std::nullopt;
        std::optional<T> v(std::move(m_items.front()));
        m_items.pop_front();
        ++m_got;
        refill();
        return v;
    }

    /// Ends the queue: wakes every waiter with QueueClosedError; later puts fail; gets drain what is left.
    void close() noexcept {
        m_closed = true;
        while (auto* w = m_getters.pop_front()) detail::t_loop->wake(w->m_node);
        while (auto* w = m_putters.pop_front()) detail::t_loop->wake(w->m_node);
    }
    [[nodiscard]] bool closed() const noexcept { return m_closed; }
    [[nodiscard]] std::size_t size() const noexcept { return m_items.size(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
    [[nodiscard]] bool empty() const noexcept { return m_items.empty(); }
    [[nodiscard]] bool full() const noexcept { return m_items.size() >= m_capacity; }
    [[nodiscard]] Statistics statistics() const noexcept {
        return {m_items.size(), m_capacity, m_getters.size(), m_putters.size(), m_put, m_got, m_closed};
    }

private:
    friend struct detail::QueueGet<T>;
    friend struct detail::QueuePut<T>;

    // A value left the queue: the first waiting putter's value takes its place.
    void refill() {
        if (auto* p = static_cast<detail::QueuePut<T>*>(m_putters.pop_front())) {
            m_items.push_back(std::move(*p->m_value));
            p->m_value.reset();
            p->m_done = true;
            ++m_put;
            detail::t_loop->wake(p->m_node);
        }
    }
    bool start_get(detail::QueueGet<T>* g, detail::TaskNode* n, std::coroutine_handle<> h) {
        g->m_node = n;
        if (n->cancelled()) {
            g->m_cancelled = true;
            return false;
        }
        if (!m_items.empty()) {
            g->m_value.emplace(std::move(m_items.front()));
            m_items.pop_front();
            ++m_got;
            refill();
            n->m_resume = h;
            return detail::completed_inline(n);
        }
        if (m_closed) return false;
        detail::park(m_getters, g, n, h);
        return true;
    }
    bool start_put(detail::QueuePut<T>* p, detail::TaskNode* n, std::coroutine_handle<> h) {
        p->m_node = n;
        if (n->cancelled()) {
            p->m_cancelled = true;
            return false;
        }
        if (m_closed) return false;
        if (m_items.size() < m_capacity || !m_getters.empty()) {
            try_put(std::move(*p->m_value));
            p->m_value.reset();
            p->m_done = true;
            n->m_resume = h;
            return detail::completed_inline(n);
        }
        detail::park(m_putters, p, n, h);
        return true;
    }

    std::size_t m_capacity;
    std::deque<T> m_items;
    detail::WaiterList m_getters;
    detail::WaiterList m_putters;
    std::uint64_t m_put = 0;
    std::uint64_t m_got = 0;
    bool m_closed = false;
};

}  // namespace corio
