#pragma once
// spawn (asyncio.create_task), JoinHandle, and shield.

#include <corio/detail/join.hpp>
#include <corio/task.hpp>

#include <string>
#include <utility>

namespace corio {

/// Owns a spawned task's result. Awaiting it waits for the task and returns its value (or rethrows).
/// Dropping it detaches the task: it runs on, and an exception it raises is reported, never lost.
///
/// Cancellation: cancelling the awaiter cancels the spawned task too (as asyncio does), waits for it, and
/// raises CancelledError; a task that finished anyway returns its value.
/// Errors: whatever the task raised; corio::Error when the result was already taken.
/// Thread safety: loop thread only.
template <class T>
class [[nodiscard]] JoinHandle {
public:
    JoinHandle() noexcept = default;
    explicit JoinHandle(std::coroutine_handle<detail::Promise<T>> h) noexcept : m_frame(h) {}
    JoinHandle(JoinHandle&&) noexcept = default;
    JoinHandle& operator=(JoinHandle&&) noexcept = default;

    /// Requests cancellation: the task raises CancelledError at its next corio await.
    void cancel() noexcept {
        if (m_frame.h) detail::cancel_node(&m_frame.promise());
    }
    /// True when the task has finished.
    [[nodiscard]] bool done() const noexcept { return m_frame.h && m_frame.promise().done(); }
    /// Gives up the result: the task runs on by itself (its errors are reported).
    void detach() noexcept { m_frame.reset(); }

    struct Awaiter {
        JoinHandle* m_self;
        detail::ChildAwaiter m_wait;
        bool await_ready() const noexcept { return m_wait.await_ready(); }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return m_wait.await_suspend(h);
        }
        T await_resume() {
            m_wait.await_resume();
            return m_self->take();
        }
    };
    Awaiter operator co_await() {
        if (!m_frame.h) throw Error("co_await on an empty or already-awaited corio::JoinHandle");
        return Awaiter{this, detail::ChildAwaiter(&m_frame.promise(), true)};
    }

private:
    T take() {
        auto frame = std::move(m_frame);  // the handle is spent whatever happens
        return frame.promise().take();
    }
    detail::ChildFrame<T> m_frame;
};

/// Starts `task` running concurrently on this thread's loop (asyncio.create_task) and returns its handle.
///
/// Errors: LoopClosedError with no running loop; corio::Error for a moved-from Task.
/// Thread safety: loop thread only (from another thread use LoopHandle::spawn).
///
///     auto h = corio::spawn(fetch(url));
///     auto body = co_await h;
template <class T>
JoinHandle<T> spawn(Task<T> task) {
    auto child = detail::start_child(std::move(task), nullptr);
    auto h = child.h;
    child.h = {};
    return JoinHandle<T>(h);
}

/// spawn() for any corio awaitable (sleep, I/O, a primitive's wait, ...).
template <class A>
    requires(!is_task<A>::value) && requires(A a) { detail::as_task(std::move(a)); }
auto spawn(A awaitable) {
    return spawn(detail::as_task(std::move(awaitable)));
}

/// As spawn(task), naming the task for reports.
template <class T>
JoinHandle<T> spawn(Task<T> task, std::string name) {
    task.set_name(std::move(name));
    return spawn(std::move(task));
}

/// Runs `task` protected from the caller's cancellation: it always runs to its end, and the caller waits for
/// it. A cancellation that arrived meanwhile is raised at the caller's next corio await.
///
/// Errors: whatever the task raised. Thread safety: loop thread only.
///
///     co_await corio::shield(save_results(rows));  // not interrupted by a Ctrl-C cancellation
template <class T>
[[nodiscard]] Task<T> shield(Task<T> task) {
    auto child = detail::start_child(std::move(task), nullptr);
    co_await detail::ChildAwaiter(&child.promise(), false);
    co_return child.promise().take();
}

}  // namespace corio
