#pragma once
// A job for a ThreadPool, embedded in the awaiting coroutine's frame. Not part of the public API.

#include <corio/detail/promise.hpp>
#include <corio/detail/remote.hpp>

#include <exception>
#include <optional>
#include <type_traits>

namespace corio {
class ThreadPool;
}

namespace corio::detail {

struct ThreadJob : RemoteItem {
    ThreadJob* m_jnext = nullptr;  // the pool's queue
    ThreadJob* m_jprev = nullptr;
    bool m_queued = false;         // guarded by the pool's mutex
    void (*m_exec)(ThreadJob*) = nullptr;  // runs on a worker
    RemoteQueue* m_home = nullptr;         // the loop to return to
};

template <class F, class R>
struct JobAwaiter final : ThreadJob, CancelHook {
    ThreadPool* m_pool;
    F m_fn;
    TaskNode* m_node = nullptr;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> m_result{};
    std::exception_ptr m_error;
    bool m_removed = false;
    bool m_finished = false;

    JobAwaiter(ThreadPool* pool, F&& fn) : m_pool(pool), m_fn(std::move(fn)) {}

    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h);
    R await_resume() {
        if (m_removed) throw_cancelled();
        if (m_error) std::rethrow_exception(m_error);
        if constexpr (!std::is_void_v<R>) return std::move(*m_result);
    }
    void cancel() noexcept override;
};

void job_enqueue(ThreadPool* pool, ThreadJob* job);
bool job_try_remove(ThreadPool* pool, ThreadJob* job) noexcept;

template <class F, class R>
template <CorioPromise P>
bool JobAwaiter<F, R>::await_suspend(std::coroutine_handle<P> h) {
    m_node = h.promise().m_node;
    if (m_node->cancelled()) {
        m_removed = true;
        return false;
    }
    m_home = current_remote();
    m_exec = [](ThreadJob* j) {
        auto* self = static_cast<JobAwaiter*>(j);
        try {
            if constexpr (std::is_void_v<R>) {
                self->m_fn();
                self->m_result = true;
            } else {
                self->m_result.emplace(self->m_fn());
            }
        } catch (...) {
            self->m_error = std::current_exception();
        }
    };
    m_run = [](RemoteItem* i) {  // back on the loop thread
        auto* self = static_cast<JobAwaiter*>(static_cast<ThreadJob*>(i));
        self->m_finished = true;
        --t_loop->m_offloaded;
        t_loop->wake(self->m_node);
    };
    m_node->m_resume = h;
    job_enqueue(m_pool, this);
    ++t_loop->m_offloaded;
    m_node->m_wait = this;
    return true;
}

template <class F, class R>
void JobAwaiter<F, R>::cancel() noexcept {
    if (job_try_remove(m_pool, this)) {
        m_removed = true;
        --t_loop->m_offloaded;
        t_loop->schedule(m_node);
    }
    // else it is running: wait for it (its completion wakes us); it cannot be interrupted.
}

}  // namespace corio::detail
