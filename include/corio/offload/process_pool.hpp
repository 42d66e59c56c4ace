#pragma once
// corio::ProcessPool: CPU-bound work in worker processes, awaited from the loop (run_in_executor with a
// ProcessPoolExecutor).
//
//     int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
//
//     corio::ProcessPool pool(4);
//     int x = co_await pool.submit(fib, 35);                       // runs in a worker process
//     auto n = co_await pool.submit([](std::string s) { return s.size(); }, std::move(text));
//
// How it works. Workers are copies of this very program: /proc/self/exe started with posix_spawn (the
// parent is never forked, so its threads are no concern), with CORIO_PROCESS_POOL_WORKER in their
// environment. A static initializer in corio's process-pool object file, which every program that uses
// ProcessPool links, sees that variable before main() runs, first runs the program's remaining static
// initializers (so a worker sees every global of the program constructed, as main() would), then serves
// jobs and _exits: main() never runs in a worker, and the program writes nothing extra. Functions travel as
// (module of the program, offset in it), found again in the worker with dl_iterate_phdr, so ASLR, PIE and
// shared libraries are no obstacle; a trampoline instantiated by submit() reads the arguments, calls the
// function and writes back its result or exception.
//
// Each worker has a socketpair, read and written by the loop's own operations (the loop never blocks), and a
// shared memory block: arguments are serialized straight into it when a worker is ready for them (not at
// submit time), results come back the same way, and the socket carries short length-prefixed notices. A
// worker holds up to 8 calls, so it goes from one to the next without waiting for the pool, and sends the
// answers of short calls together; a call waiting behind a long one is taken back for a worker that becomes
// idle, and a cancelled one that has not started is taken back too (a claim word per call says whether the
// worker started or finished it). A pidfd tells the pool when a worker has died and gives its exit status.
//
// Rules for functions run in workers: they run in another process, so they see the program's globals as
// they were after static initialization (not as main() or earlier jobs in the parent changed them), and
// what they change stays in that worker. What they print to stdout is flushed after each job. corio's
// offload library must be linked statically (its default). Workers are started by one thread of the process
// that lives as long as it (so the loop never waits for an exec), and die with the process
// (PR_SET_PDEATHSIG, plus a check against a parent that is already gone). A worker that dies while idle is
// noticed at once and replaced. Without shared memory (ProcessPoolOptions::shared_memory = 0) a worker holds
// one call, and one killed from outside between receiving a call and starting it fails that call as if it
// had crashed in it.
//
// Large inputs: a std::span argument is copied into the worker's shared memory when its call is sent; an array
// made with pool.shared_array<T>(n) lives in memory every worker maps, and pool.submit(f, array.view()) hands
// f a std::span<const T> of those very bytes (see <corio/offload/shared_array.hpp>).

#include <corio/detail/process_call.hpp>
#include <corio/error.hpp>
#include <corio/offload/serialize.hpp>
#include <corio/offload/shared_array.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio {

/// A job raised an exception that cannot be rebuilt in the parent as its own type (the standard exceptions
/// come back as themselves: std::runtime_error, std::invalid_argument, std::out_of_range, ...).
class RemoteError : public Error {
public:
    RemoteError(std::string type_name, std::string message);
    /// The exception's type, demangled ("my::ParseError", or "int" for `throw 17`).
    [[nodiscard]] const std::string& type_name() const noexcept { return m_type; }
    /// Its what(), or empty when it was not a std::exception.
    [[nodiscard]] const std::string& message() const noexcept { return m_message; }

private:
    std::string m_type;
    std::string m_message;
};

/// The worker running a job died (a signal, abort(), exit()) before it answered. The pool has replaced it.
class WorkerCrashedError : public Error {
public:
    WorkerCrashedError(int pid, int signal, int exit_status, std::string what);
    [[nodiscard]] int pid() const noexcept { return m_pid; }
    /// The signal that killed it (SIGSEGV, SIGABRT, SIGKILL...), or 0 when it exited.
    [[nodiscard]] int signal() const noexcept { return m_signal; }
    /// Its exit status when it exited, or -1 when a signal killed it.
    [[nodiscard]] int exit_status() const noexcept { return m_status; }

private:
    int m_pid, m_signal, m_status;
};

/// submit() on a pool that is closing or closed, or a job dropped because the pool was destroyed under it.
class ProcessPoolClosedError : public Error {
public:
    using Error::Error;
};

/// Options of a ProcessPool (designated initializers: `{.max_queue = 100}`).
struct ProcessPoolOptions {
    /// Jobs that may wait in the pool for a worker (beyond the calls the workers hold); submit() waits for
    /// room beyond that (backpressure). 0: no limit.
    std::size_t max_queue = 1024;
    /// A running job whose awaiter is cancelled: kill its worker (SIGKILL) and start another (true), or let it
    /// finish and drop its result (false; the worker stays busy until it ends, and so do the shared-heap blocks
    /// of the SharedArrays it reads).
    bool kill_on_cancel = true;
    /// Shared memory per worker, in bytes: it lets a worker hold 8 calls at once (one running, the next ones
    /// already delivered), and arguments and results that fit in 1/16 of it are written straight into it (the
    /// socket carries a short notice); larger ones travel through the socket. 0: none, one call at a time.
    std::size_t shared_memory = std::size_t(16) << 20;
    /// The pool's shared heap, in bytes of address space (pages take memory once written): where
    /// shared_array() places arrays that workers read in place. 0: none.
    std::size_t shared_heap = std::size_t(64) << 20;
};

/// n worker processes running functions of this program; submit() returns a Task the loop awaits without
/// blocking. A worker that dies fails only the job it was running, and is replaced. Workers ignore SIGINT:
/// Ctrl-C at a terminal reaches the whole process group, and the program decides (cancelled calls kill
/// their workers, closing the pool ends them; workers also die with the program).
///
/// Cancellation: see submit() and close().
/// Errors: std::invalid_argument for 0 workers; corio::IoError when a worker cannot be started.
/// Thread safety: one loop at a time uses a pool (the loop of the thread that uses it; another loop may
/// use it after that one has ended: when run() ends, the pool keeps its workers, idle, until it is destroyed
/// or the process ends).
class ProcessPool {
public:
    struct Statistics {
        std::size_t workers = 0;       ///< worker processes
        std::size_t busy = 0;          ///< holding calls (running, or delivered and not yet answered)
        std::size_t queued = 0;        ///< jobs waiting for a worker
        std::size_t waiting = 0;       ///< submits waiting for room in the queue (max_queue)
        std::uint64_t completed = 0;   ///< jobs that returned or threw in their worker
        std::uint64_t crashed = 0;     ///< jobs that failed with WorkerCrashedError
        std::uint64_t cancelled = 0;   ///< jobs cancelled, queued or running
        std::uint64_t started = 0;     ///< worker processes started, in all (replacements included)
    };

    /// One worker per CPU this process may use (its affinity mask, as `taskset` or a container sets it).
    ProcessPool();
    /// `workers` processes, started now (std::invalid_argument when 0). In a worker process — a global pool of
    /// the program is built again in each of its workers — they start only if the pool is used there.
    explicit ProcessPool(std::size_t workers, ProcessPoolOptions options = {});
    ProcessPool(const ProcessPool&) = delete;
    ProcessPool& operator=(const ProcessPool&) = delete;
    /// Kills the workers that are still running (SIGKILL) and reaps them: no zombie, no descriptor left.
    /// Jobs still waiting fail with ProcessPoolClosedError. `co_await close()` first to let them finish.
    ~ProcessPool();

    /// Runs f(args...) in a worker and returns its result, or rethrows its exception: as its own type for
    /// the standard ones, else as RemoteError with the type's name and what().
    /// `f` is a function, a static member function or a capture-less lambda (compile error otherwise); the
    /// arguments and the result must be serializable (see <corio/offload/serialize.hpp>; a compile error
    /// names a type that is not). A `const char*` argument travels as a string; std::string_view and
    /// std::span<const T> arguments are read in the caller's memory when the call is sent (keep it alive
    /// until submit() completes, as with to_thread) and reach `f` as views of the worker's copy, for
    /// characters and bytes without a copy out of the shared memory.
    ///
    /// Cancellation: a job still queued is removed and never runs. A running one: with kill_on_cancel its
    /// worker is killed and replaced, else it finishes in its worker and its result is dropped (the blocks of
    /// the SharedArrays it reads are not handed out again before it ends, even once freed). Either way
    /// CancelledError is raised at once. corio::timeout() around submit() works the same way.
    /// Errors: the job's exception; WorkerCrashedError; ProcessPoolClosedError after close() began;
    /// SerializationError when a value does not decode.
    /// Thread safety: the pool's loop thread only.
    ///
    ///     double area = co_await pool.submit([](double r) { return 3.14159 * r * r; }, 2.0);
    template <class F, class... A>
    [[nodiscard]] auto submit(F f, A... args) -> Task<detail::process_result_t<F, A...>> {
        static_assert(detail::check_callable<F>::value);
        static_assert((detail::check_travel<detail::wire_t<A>>::value && ...));
        using R = detail::process_result_t<F, A...>;
        static_assert(detail::check_travel<std::conditional_t<std::is_void_v<R>, int, R>>::value);
        return submit_to(Handle(m_state), std::move(f), std::move(args)...);
    }

    /// Lets every job already submitted finish, then stops the workers and reaps them; later submits raise
    /// ProcessPoolClosedError. A worker that dies meanwhile fails the job it was running, and is replaced if
    /// jobs it had not started are still waiting.
    /// Cancellation: stops waiting (CancelledError); the pool stays closed and the destructor finishes.
    /// Errors: none. Thread safety: the pool's loop thread only.
    ///
    ///     co_await pool.close();
    [[nodiscard]] Task<void> close() { return close_state(Handle(m_state)); }

    /// `n` zero-filled values of T in the pool's shared heap: pass `array.view()` (or the array itself, moved)
    /// for a std::span<const T> parameter and the worker reads the bytes in place, with no copy (see
    /// <corio/offload/shared_array.hpp>).
    /// Errors: SharedHeapFullError when the heap (ProcessPoolOptions::shared_heap) has no room.
    /// Thread safety: any thread (so is destroying the array).
    ///
    ///     auto buf = pool.shared_array<unsigned char>(1 << 16);
    ///     auto digest = co_await pool.submit(sha256, buf.view());
    template <class T>
    [[nodiscard]] SharedArray<T> shared_array(std::size_t n) const {
        return SharedArray<T>(shared_heap(), n);
    }

    /// The pool's counters now.
    [[nodiscard]] Statistics statistics() const;
    /// The number of workers the pool keeps.
    [[nodiscard]] std::size_t size() const noexcept;
    /// The process ids of the current workers.
    [[nodiscard]] std::vector<int> worker_pids() const;

private:
    struct State;
    /// Keeps the pool's state alive for a Task made by submit() or close(), from when it is made (a Task may
    /// start after the pool is gone: it then raises ProcessPoolClosedError).
    class Handle {
    public:
        explicit Handle(State* s) noexcept;
        Handle(Handle&& o) noexcept : m_s(std::exchange(o.m_s, nullptr)) {}
        Handle& operator=(Handle&&) = delete;
        ~Handle();
        [[nodiscard]] State* get() const noexcept { return m_s; }

    private:
        State* m_s;
    };

    template <class F, class... A>
    static auto submit_to(Handle pool, F f, A... args) -> Task<detail::process_result_t<F, A...>> {
        using R = detail::process_result_t<F, A...>;
        std::tuple<A&...> refs(args...);  // written straight into the worker's buffer once one is free
        detail::result_slot_t<R> result{};
        detail::CallSpec call{&detail::trampoline<F, A...>, detail::function_address(f), &detail::write_args<A...>,
                              &refs, nullptr, &result, nullptr};
        if constexpr (!std::is_void_v<R>) call.read_result = &detail::read_result<R>;
        if constexpr (detail::has_shared_args_v<A...>) call.shared_args = &detail::shared_args<A...>;
        co_await run_call(pool.get(), call);
        if constexpr (!std::is_void_v<R>) co_return std::move(*result);
    }
    [[nodiscard]] std::shared_ptr<detail::SharedHeap> shared_heap() const;
    /// Queues the call, sends it to a worker, reads its result into the call's slot (or rethrows its exception).
    static Task<void> run_call(State* s, const detail::CallSpec& call);
    static Task<void> close_state(Handle pool);
    State* m_state;
};

}  // namespace corio
