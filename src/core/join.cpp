// Waiting on children (JoinHandle, shield, timeout, gather, when_any, TaskGroup) and on time (sleep).
#include "loop.hpp"

#include <corio/task_group.hpp>
#include <corio/time.hpp>

#include <chrono>
#include <cstdio>

namespace corio::detail {

// ---- one child -------------------------------------------------------------------------------------------

bool ChildAwaiter::park() noexcept {
    m_child->m_joiner = this;
    if (m_has_deadline) {
        m_fire = [](TimerEntry* t) {
            auto* self = static_cast<ChildAwaiter*>(t);
            self->m_timed_out = true;
            cancel_node(self->m_child);
        };
        if (!this_loop().add_timer(this, m_deadline_at)) {
            m_has_deadline = false;
            m_timed_out = true;
            cancel_node(m_child);
        }
    }
    if (m_forward_cancel) {
        if (m_parent->cancelled()) cancel_node(m_child);
        else m_parent->m_wait = this;
    }
    return true;
}

void ChildAwaiter::cancel() noexcept { cancel_node(m_child); }  // keep waiting: the child ends soon

void ChildAwaiter::child_done(TaskNode*) noexcept {
    if (m_has_deadline) remove_timer(this);
    t_loop->wake(m_parent);
}

// ---- many children ---------------------------------------------------------------------------------------

GroupAwaiter::GroupAwaiter(std::span<PromiseBase* const> children, Mode mode) noexcept
    : m_children(children), m_mode(mode), m_remaining(children.size()) {}

bool GroupAwaiter::park() noexcept {
    if (m_parent->cancelled()) cancel_all();
    else m_parent->m_wait = this;
    return true;
}

void GroupAwaiter::cancel_all() noexcept {
    m_cancelling = true;
    for (PromiseBase* c : m_children)
        if (!c->done()) cancel_node(c);
}

void GroupAwaiter::cancel() noexcept { cancel_all(); }

void GroupAwaiter::child_done(TaskNode* child) noexcept {
    auto* p = static_cast<PromiseBase*>(child);
    --m_remaining;
    if (m_mode == Mode::all) {
        // The first failure wins. Once the group is cancelling, the children's CancelledErrors are not
        // failures; but a real error raised while the caller's cancellation unwinds them is (else the
        // CancelledError of a sibling listed before it was raised, and the error dropped unseen).
        if (!m_first && p->m_exception && (!m_cancelling || !is_cancellation(p->m_exception))) {
            m_first = p;
            cancel_all();
        }
    } else if (m_mode == Mode::first) {
        if (!m_first) {
            m_first = p;
            cancel_all();
        } else if (m_cancelling && p->m_exception && m_first->m_exception && is_cancellation(m_first->m_exception) &&
                   !is_cancellation(p->m_exception)) {
            // The first to end did so by the caller's cancellation: a real error a sibling raised while that
            // cancellation unwound it is raised instead (as gather does), not dropped unseen.
            m_first = p;
        }
    }
    if (m_remaining == 0 && m_parent) t_loop->wake(m_parent);
}

// ---- time ------------------------------------------------------------------------------------------------

bool SleepAwaiter::park() {
    if (m_node->cancelled()) return false;
    m_fire = [](TimerEntry* t) {
        auto* self = static_cast<SleepAwaiter*>(t);
        self->m_fired = true;
        t_loop->wake(self->m_node);
    };
    Loop& l = this_loop();
    if (!l.add_timer(this, m_until)) {
        m_fired = true;  // already due: behave as a yield
        l.schedule(m_node);
        return true;
    }
    m_node->m_wait = this;
    return true;
}

void SleepAwaiter::cancel() noexcept {
    remove_timer(this);
    t_loop->schedule(m_node);
}

void throw_timeout(Clock::duration d) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    throw TimeoutError("operation timed out after " + std::to_string(ms) + " ms");
}

}  // namespace corio::detail

namespace corio {

// ---- TaskGroup -------------------------------------------------------------------------------------------

void TaskGroup::child_done(detail::TaskNode* child) noexcept {
    auto* p = static_cast<detail::PromiseBase*>(child);
    --m_running;
    if (p->m_exception) {
        // A child that was cancelled (by the group or anyone) is not a failure, as in asyncio.
        if (!detail::is_cancellation(p->m_exception)) {
            try {
                m_errors.push_back(p->m_exception);
            } catch (...) {
            }
            ++m_failed;
            if (!m_cancelling) cancel();
        }
        p->m_exception = nullptr;  // retrieved: not reported again
    }
    child->m_joiner = nullptr;
    child->m_flags |= detail::k_detached;  // freed by the loop right after this call
    if (m_running == 0 && m_waiter) detail::t_loop->wake(m_waiter);
}

void TaskGroup::cancel() noexcept {
    m_cancelling = true;
    if (detail::t_loop && m_running > 0) detail::this_loop().cancel_joined_by(this);
}

bool TaskGroup::park() noexcept {
    if (m_waiter->cancelled()) cancel();
    else m_waiter->m_wait = this;
    return true;
}

void TaskGroup::finish_join() {
    detail::TaskNode* waiter = m_waiter;
    m_waiter = nullptr;
    m_cancelling = false;
    if (!m_errors.empty()) {
        auto errors = std::move(m_errors);
        m_errors.clear();
        throw ExceptionGroup(std::move(errors));
    }
    if (waiter && waiter->cancelled()) detail::throw_cancelled();
}

TaskGroup::~TaskGroup() {
    if (m_running > 0 && detail::t_loop) {
        cancel();
        std::size_t n = detail::this_loop().detach_joined_by(this);
        std::fprintf(stderr,
                     "corio: a TaskGroup was destroyed with %zu running children (cancelled); co_await "
                     "group.join() before it goes out of scope\n",
                     n);
    }
    for (auto& e : m_errors)
        std::fprintf(stderr, "corio: a TaskGroup child failed and the group was never joined: %s\n",
                     describe(e).c_str());
}

}  // namespace corio
