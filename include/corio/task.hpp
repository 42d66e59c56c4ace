#pragma once
// corio::Task<T>: the lazy coroutine type every corio operation returns (asyncio's `async def`).

#include <corio/detail/promise.hpp>

#include <string>
#include <utility>

namespace corio {

/// A lazy, move-only coroutine producing a T (or T&, or nothing). Nothing runs until it is awaited,
/// spawned, or passed to gather/timeout/run. Exceptions propagate to whoever awaits it.
///
/// Cancellation: a Task runs inside its awaiter's task; every corio await inside it is a cancellation
/// point of that task.
/// Errors: awaiting a moved-from Task, or one that was already awaited, throws corio::Error.
/// Thread safety: a Task belongs to the thread of the loop that runs it.
///
///     corio::Task<int> answer() { co_return 42; }
///     corio::Task<void> main_task() { int x = co_await answer(); }
template <class T = void>
class [[nodiscard]] Task {
public:
    using promise_type = detail::Promise<T>;
    using value_type = T;
    using handle_type = std::coroutine_handle<promise_type>;

    Task() noexcept = default;
    explicit Task(handle_type h) noexcept : m_h(h) {}
    Task(Task&& o) noexcept : m_h(std::exchange(o.m_h, {})) {}
    Task& operator=(Task&& o) noexcept {
        if (this != &o) {
            destroy();
            m_h = std::exchange(o.m_h, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { destroy(); }

    /// True when this Task holds a coroutine (it was not moved from).
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(m_h); }
    /// True when the coroutine has begun running (it was awaited).
    [[nodiscard]] bool started() const noexcept {
        return m_h && (m_h.promise().m_flags & detail::k_started) != 0;
    }

    /// Names the task (shown in reports about it); returns *this for chaining.
    Task&& named(std::string name) && {
        set_name(std::move(name));
        return std::move(*this);
    }
    void set_name(std::string name) {
        if (m_h) detail::set_node_name(&m_h.promise(), std::move(name));
    }

    auto operator co_await() & { return detail::TaskAwaiter<T, false>{start()}; }
    auto operator co_await() && { return detail::TaskAwaiter<T, true>{start()}; }

    /// Gives up ownership of the coroutine frame (used by spawn, gather, ...).
    [[nodiscard]] handle_type release() noexcept { return std::exchange(m_h, {}); }

private:
    handle_type start() {
        if (!m_h) detail::throw_bad_await(true);
        auto& p = m_h.promise();
        if (p.m_flags & detail::k_started) detail::throw_bad_await(false);
        p.m_flags |= detail::k_started;
        return m_h;
    }
    void destroy() noexcept {
        if (!m_h) return;
        if (!(m_h.promise().m_flags & detail::k_started)) detail::task_never_awaited(m_h.address(), &m_h.promise());
        m_h.destroy();
    }
    handle_type m_h;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
template <class T>
Task<T&> Promise<T&>::get_return_object() noexcept {
    return Task<T&>(std::coroutine_handle<Promise<T&>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

template <class A>
decltype(auto) get_awaiter(A& a) {
    if constexpr (requires { a.operator co_await(); }) return a.operator co_await();
    else return (a);
}
template <class A>
using await_result_t = decltype(get_awaiter(std::declval<A&>()).await_resume());

/// Anything `co_await`-able by a corio coroutine (an awaiter, or a type with operator co_await such as
/// JoinHandle) turned into a Task, for gather, timeout, spawn.
template <class A>
auto as_task(A a) -> Task<await_result_t<A>> {
    co_return co_await std::move(a);
}
}  // namespace detail

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};

}  // namespace corio
