#pragma once
// corio::run (asyncio.run), its options, the loop's statistics, and LoopHandle (the thread-safe way in).

#include <corio/detail/gather.hpp>
#include <corio/spawn.hpp>
#include <corio/strict.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <cstdint>
#include <vector>
#include <functional>
#include <future>
#include <memory>
#include <string>

namespace corio {

/// The kernel interface a loop waits on.
enum class Backend { automatic, io_uring, epoll };

/// What the loop-stall watchdog reports: the loop did not turn for `duration` (>= `threshold`).
struct StallReport {
    std::chrono::milliseconds duration{0};   ///< how long the loop was blocked
    std::chrono::milliseconds threshold{0};  ///< the threshold in force
    std::string task;                        ///< the task that was running (its name, or its coroutine's)
    std::vector<std::string> stack;          ///< the loop thread's stack when caught, innermost first
    std::uint64_t suppressed = 0;            ///< earlier stalls not printed (rate limit), default sink only
    /// The report as printed to stderr by default.
    [[nodiscard]] std::string text() const;
};

/// What to do about a Task destroyed without ever being awaited (asyncio's "coroutine ... was never awaited").
enum class NeverAwaited { report, abort, off };

/// Options for corio::run.
struct RunOptions {
    /// automatic: io_uring where the kernel allows it, else epoll. CORIO_BACKEND=io_uring|epoll overrides
    /// automatic.
    Backend backend = Backend::automatic;
    /// Threads of the loop's default ThreadPool (to_thread); 0 means one per CPU this process may use
    /// (its affinity mask: `taskset` and containers limit it).
    std::size_t threads = 0;
    /// Called with the error of a detached task that failed (default: printed to stderr).
    std::function<void(std::exception_ptr error, const std::string& task_name)> on_unhandled = {};
    /// The loop-stall watchdog reports a turn of the loop longer than this (0: no watchdog).
    /// CORIO_STALL_MS overrides it.
    std::chrono::milliseconds stall_threshold{100};
    /// Receives stall reports (on the watchdog's thread) instead of stderr.
    std::function<void(const StallReport&)> on_stall = {};
    /// A Task destroyed without ever being awaited, while this loop runs. CORIO_NEVER_AWAITED=report|abort|off
    /// sets the default, also outside any loop.
    NeverAwaited never_awaited = NeverAwaited::report;
    /// Strict mode: report (warn) or abort on blocking libc calls made inside a task or a posted function
    /// (needs corio::strict).
    Strict strict = Strict::off;
    /// Receives strict-mode reports (the call's name, the report's text) instead of stderr.
    std::function<void(const std::string& call, const std::string& report)> on_strict = {};
};

/// Counters of the running loop.
struct LoopStatistics {
    Backend backend = Backend::automatic;  ///< the backend in use (never automatic)
    std::uint64_t turns = 0;               ///< loop iterations
    std::uint64_t resumes = 0;             ///< task resumptions
    std::uint64_t spawned = 0;             ///< root tasks started (spawn, gather children, ...)
    std::uint64_t live = 0;                ///< root tasks not finished
    std::uint64_t kernel_waits = 0;        ///< calls into the kernel to wait for or reap I/O
    std::uint64_t io_submitted = 0;        ///< I/O operations started
    std::uint64_t timers_pending = 0;      ///< armed timers
    std::uint64_t unhandled = 0;           ///< detached tasks that failed
    std::uint64_t stalls = 0;              ///< turns longer than the stall threshold
    std::chrono::milliseconds longest_stall{0};  ///< the longest of them
};

namespace detail {
void run_loop(PromiseBase* main, std::coroutine_handle<> frame, const RunOptions& opts);
struct RemoteQueue;
}  // namespace detail

/// Runs `task` on a new event loop on this thread until it finishes, and returns its value (or rethrows its
/// exception). When it ends, tasks still running are cancelled and awaited, the default thread pool is
/// drained, and every descriptor the loop opened is closed.
///
/// Errors: NestedLoopError when this thread's loop is already running (inside a coroutine, co_await instead);
/// whatever the task raised. Thread safety: any thread; one loop per thread at a time.
///
///     int main() { return corio::run(main_task()); }
template <class T>
T run(Task<T> task, RunOptions opts = {}) {
    detail::check_task(task);
    struct Frame {
        typename Task<T>::handle_type h;
        ~Frame() { h.destroy(); }
    } f{task.release()};
    detail::run_loop(&f.h.promise(), f.h, opts);
    return f.h.promise().take();
}

/// Debug mode: every task created from now on records where it was created, and reports about it (never
/// awaited) say so. Costs a stack capture per task. CORIO_DEBUG=1 turns it on at start-up.
void set_debug(bool on) noexcept;

/// The running loop's counters. Errors: LoopClosedError with no running loop.
[[nodiscard]] LoopStatistics loop_statistics();

/// The backend of the running loop. Errors: LoopClosedError with no running loop.
[[nodiscard]] Backend current_backend();

/// A copyable, thread-safe reference to a loop (asyncio's call_soon_threadsafe / run_coroutine_threadsafe).
class LoopHandle {
public:
    /// The handle of this thread's running loop. Errors: LoopClosedError with no running loop.
    static LoopHandle current();

    /// Runs `fn` on the loop's thread, soon. Errors: LoopClosedError when the loop has ended.
    void post(std::function<void()> fn) const;

    /// Starts `task` on the loop from any thread; the future gets its result.
    template <class T>
    std::future<T> spawn(Task<T> task) const {
        auto result = std::make_shared<std::promise<T>>();
        auto fut = result->get_future();
        auto holder = std::make_shared<Task<T>>(std::move(task));
        post([result, holder] { corio::spawn(forward_to(std::move(*holder), result)).detach(); });
        return fut;
    }

private:
    template <class T>
    static Task<void> forward_to(Task<T> t, std::shared_ptr<std::promise<T>> out) {
        try {
            if constexpr (std::is_void_v<T>) {
                co_await std::move(t);
                out->set_value();
            } else {
                out->set_value(co_await std::move(t));
            }
        } catch (...) {
            out->set_exception(std::current_exception());
        }
    }
    explicit LoopHandle(std::shared_ptr<detail::RemoteQueue> q) noexcept : m_queue(std::move(q)) {}
    std::shared_ptr<detail::RemoteQueue> m_queue;
};

}  // namespace corio
