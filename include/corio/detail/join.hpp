#pragma once
// Waiting on child nodes: one (spawn's JoinHandle, shield, timeout) or many (gather, when_any).
// Not part of the public API.

#include <corio/detail/timer.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <span>

namespace corio::detail {

/// Waits for one child node. Optionally forwards the waiter's cancellation to the child, and optionally
/// cancels the child at a deadline (then `timed_out()` is true).
struct ChildAwaiter final : CancelHook, JoinHook, TimerEntry {
    PromiseBase* m_child;
    TaskNode* m_parent = nullptr;
    bool m_forward_cancel;
    bool m_has_deadline = false;
    bool m_timed_out = false;
    std::chrono::steady_clock::time_point m_deadline_at{};

    ChildAwaiter(PromiseBase* child, bool forward_cancel) noexcept
        : m_child(child), m_forward_cancel(forward_cancel) {}

    bool await_ready() const noexcept { return m_child->done(); }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        m_parent = h.promise().m_node;
        m_parent->m_resume = h;
        return park();
    }
    void await_resume() noexcept { m_child->m_joiner = nullptr; }

    bool park() noexcept;
    void cancel() noexcept override;
    void child_done(TaskNode* child) noexcept override;
};

/// Waits for many children. Modes: all (gather: the first failure cancels the rest), settle (wait for all,
/// cancel none), first (when_any: the first to finish cancels the rest).
struct GroupAwaiter final : CancelHook, JoinHook {
    enum class Mode { all, settle, first };
    std::span<PromiseBase* const> m_children;
    Mode m_mode;
    TaskNode* m_parent = nullptr;
    std::size_t m_remaining = 0;
    PromiseBase* m_first = nullptr;  // first failure (all) or first finisher (first)
    bool m_cancelling = false;

    GroupAwaiter(std::span<PromiseBase* const> children, Mode mode) noexcept;
    bool await_ready() const noexcept { return m_remaining == 0; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        m_parent = h.promise().m_node;
        m_parent->m_resume = h;
        return park();
    }
    void await_resume() const noexcept {}

    bool park() noexcept;
    void cancel_all() noexcept;
    void cancel() noexcept override;
    void child_done(TaskNode* child) noexcept override;
};

/// Owns a root child frame; releases it (frees now if finished) when destroyed.
template <class T>
struct ChildFrame {
    std::coroutine_handle<Promise<T>> h;
    ChildFrame() noexcept = default;
    explicit ChildFrame(std::coroutine_handle<Promise<T>> handle) noexcept : h(handle) {}
    ChildFrame(ChildFrame&& o) noexcept : h(std::exchange(o.h, {})) {}
    ChildFrame& operator=(ChildFrame&& o) noexcept {
        if (this != &o) {
            reset();
            h = std::exchange(o.h, {});
        }
        return *this;
    }
    ~ChildFrame() { reset(); }
    void reset() noexcept {
        if (h) release(&h.promise());
        h = {};
    }
    Promise<T>& promise() const noexcept { return h.promise(); }
};

/// Starts a Task as a root child node of the running loop, joined by `joiner`.
template <class T>
ChildFrame<T> start_child(Task<T>&& t, JoinHook* joiner) {
    auto h = t.release();
    if (!h) throw_bad_await(true);
    if (h.promise().m_flags & k_started) throw_bad_await(false);
    try {
        adopt(&h.promise(), h, joiner);
    } catch (...) {  // no running loop (LoopClosedError): the frame is ours to free
        h.destroy();
        throw;
    }
    return ChildFrame<T>(h);
}

}  // namespace corio::detail
