#pragma once
// corio::TaskGroup: structured concurrency (asyncio.TaskGroup, Trio's nursery).

#include <corio/detail/join.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <exception>
#include <vector>

namespace corio {

/// A set of child tasks that live within a scope. When a child fails, its siblings are cancelled; `join()`
/// waits for every child and raises an ExceptionGroup holding every failure. A group must be joined before
/// it is destroyed: a group destroyed with running children cancels them and reports the mistake. A child
/// spawned while the group is cancelling (until join() returns) starts cancelled.
///
/// Cancellation: cancelling the task in `join()` cancels every child, waits for them, and raises
/// CancelledError. Errors: ExceptionGroup from join(). Thread safety: loop thread only.
///
///     corio::TaskGroup group;
///     for (auto& url : urls) group.spawn(fetch_and_store(url));
///     co_await group.join();
class TaskGroup final : detail::JoinHook, detail::CancelHook {
public:
    struct Statistics {
        std::size_t running = 0;   ///< children not yet finished
        std::size_t spawned = 0;   ///< children started, in all
        std::size_t failed = 0;    ///< children that raised (not counting cancellations the group made)
    };

    TaskGroup() = default;
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;
    ~TaskGroup();

    /// Starts `task` as a child of this group.
    template <class T>
    void spawn(Task<T> task) {
        auto child = detail::start_child(std::move(task), this);
        // A group that is cancelling (a child failed, or cancel()) cancels newcomers too: else one started
        // late, say from a sibling's cleanup, would run on and hold join() back.
        if (m_cancelling) detail::cancel_node(&child.promise());
        child.h = {};  // the group owns it: freed when it finishes
        ++m_running;
        ++m_spawned;
    }

    /// Starts any corio awaitable (sleep, I/O, ...) as a child.
    template <class A>
        requires(!is_task<A>::value) && requires(A a) { detail::as_task(std::move(a)); }
    void spawn(A awaitable) {
        spawn(detail::as_task(std::move(awaitable)));
    }

    /// Cancels every running child (also what happens when the task in join() is cancelled).
    void cancel() noexcept override;

    struct JoinAwaiter {
        TaskGroup* m_group;
        bool await_ready() const noexcept { return m_group->m_running == 0; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            m_group->m_waiter = h.promise().m_node;
            m_group->m_waiter->m_resume = h;
            return m_group->park();
        }
        void await_resume() const noexcept {}
    };
    /// Waits until every child has finished; raises ExceptionGroup if any failed.
    [[nodiscard]] Task<void> join() {
        // Woken when the last child ended; another task that ran first may have spawned one since, so
        // look again (as asyncio's TaskGroup does): join() never returns with a child running.
        while (m_running > 0) co_await JoinAwaiter{this};
        finish_join();
    }

    [[nodiscard]] Statistics statistics() const noexcept { return {m_running, m_spawned, m_failed}; }

private:
    void child_done(detail::TaskNode* child) noexcept override;
    bool park() noexcept;
    void finish_join();

    std::size_t m_running = 0;
    std::size_t m_spawned = 0;
    std::size_t m_failed = 0;
    bool m_cancelling = false;
    detail::TaskNode* m_waiter = nullptr;
    std::vector<std::exception_ptr> m_errors;
};

}  // namespace corio
