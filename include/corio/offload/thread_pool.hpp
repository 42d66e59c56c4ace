#pragma once
// corio::ThreadPool and to_thread: blocking or CPU-bound work off the loop (asyncio.to_thread).

#include <corio/detail/thread_job.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>

namespace corio {

/// Worker threads that run plain functions; submit() returns a Task the loop awaits without blocking.
/// Destroying the pool waits for the jobs already submitted.
///
/// Cancellation: a job not yet started is removed and the awaiter raises CancelledError; a running job
/// cannot be interrupted: the awaiter waits for it and returns its result (the cancellation is raised at
/// the task's next await). Either way nothing leaks and the loop never blocks.
/// Errors: whatever the function threw, rethrown on the loop; std::invalid_argument for 0 threads.
/// Thread safety: submit() from a loop thread; any number of loops may share a pool.
///
///     corio::ThreadPool pool(4);
///     auto digest = co_await pool.submit(sha256, std::move(bytes));
class ThreadPool {
public:
    struct Statistics {
        std::size_t threads = 0;     ///< worker threads
        std::size_t queued = 0;      ///< jobs waiting for a worker
        std::size_t running = 0;     ///< jobs being run
        std::uint64_t completed = 0; ///< jobs finished, in all
    };

    /// One worker per CPU this process may use (its affinity mask, as `taskset` or a container sets it).
    ThreadPool();
    /// `threads` workers (std::invalid_argument when 0; std::system_error when the system cannot make them all,
    /// after ending those it made).
    explicit ThreadPool(std::size_t threads);
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool();

    /// Runs f(args...) on a worker; the Task completes on the calling loop with its result.
    template <class F, class... A>
    [[nodiscard]] auto submit(F f, A... args) -> Task<std::invoke_result_t<F, A...>> {
        using R = std::invoke_result_t<F, A...>;
        auto call = [f = std::move(f), ... a = std::move(args)]() mutable -> R {
            return std::invoke(std::move(f), std::move(a)...);  // called once: the arguments are moved in
        };
        co_return co_await detail::JobAwaiter<decltype(call), R>(this, std::move(call));
    }

    [[nodiscard]] Statistics statistics() const;
    [[nodiscard]] std::size_t size() const noexcept;

    // Used by the job awaiters.
    void enqueue(detail::ThreadJob* job);
    bool try_remove(detail::ThreadJob* job) noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// The running loop's default pool (RunOptions::threads workers), created on first use and drained when
/// run() ends. Errors: LoopClosedError with no running loop.
ThreadPool& default_thread_pool();

/// Runs f(args...) on the loop's default ThreadPool (asyncio.to_thread). As ThreadPool::submit otherwise.
///
///     auto text = co_await corio::to_thread(read_big_file, path);
template <class F, class... A>
[[nodiscard]] auto to_thread(F f, A... args) -> Task<std::invoke_result_t<F, A...>> {
    return default_thread_pool().submit(std::move(f), std::move(args)...);
}

}  // namespace corio
