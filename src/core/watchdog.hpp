#pragma once
// The loop-stall watchdog: a thread that notices when its loop has not started a new turn for longer than
// a threshold, captures the loop thread's stack at that moment (a signal to the loop thread; its handler
// only calls backtrace() into a preallocated buffer), and reports once when the loop turns again.
// A turn is a sequence of steps (each resumption, then the rest of the turn): a later step of a stalled turn
// that runs past the threshold by itself is a stall of its own, and ends the one before it where it began.
// A capture is kept only if the handler ran in the stalled turn (and, for such a later stall, its step):
// else the stall is reported without a stack rather than with one from after it ended.
// Reports are written (symbols, addr2line, the sink) by a second thread, started at the first stall, so that
// the watching never pauses: a stall that starts while the previous one is being reported is caught too.
// The loop's cost: one coarse clock read and one relaxed store per turn, one relaxed store per step.

#include <corio/run.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

namespace corio::detail {

struct TaskNode;

/// What the signal handler fills in on the loop thread.
struct StallCapture {
    static constexpr int k_max_frames = 48;
    void* frames[k_max_frames];
    int depth = 0;
    const TaskNode* node = nullptr;
    void* node_resume = nullptr;  // the running task's coroutine resume function (names it)
    std::int64_t turn = 0;        // the loop's turn stamp and step when the handler ran
    std::uint64_t step = 0;
    const std::atomic<std::int64_t>* busy_since = nullptr;  // where the handler reads them (set once)
    const std::atomic<std::uint64_t>* steps = nullptr;
    /// The handshake: the watchdog asks (idle or done -> asked), the handler claims the request (asked ->
    /// writing) and fills the fields in (-> done). A watchdog that gives up takes the request back (asked ->
    /// idle), so a signal handled late writes nothing; if the handler already claimed it, the watchdog waits for
    /// done. The fields are read only in state done, and written only in state writing.
    enum State : int { idle, asked, writing, done };
    std::atomic<int> state{idle};
};

/// The node being resumed on this thread (read by the capture handler).
extern thread_local TaskNode* t_running;

std::int64_t coarse_now_ns() noexcept;

class Watchdog {
public:
    /// `steps`: the loop's step counter (bumped before each resumption and after each batch of them).
    Watchdog(std::chrono::milliseconds threshold, std::function<void(const StallReport&)> sink,
             const std::atomic<std::uint64_t>& steps);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    void turn_started() noexcept { m_busy_since.store(coarse_now_ns(), std::memory_order_release); }
    void going_idle() noexcept {
        m_idle_since.store(coarse_now_ns(), std::memory_order_relaxed);
        m_busy_since.store(0, std::memory_order_release);
    }
    [[nodiscard]] std::uint64_t stalls() const noexcept { return m_stalls.load(std::memory_order_relaxed); }
    [[nodiscard]] std::chrono::milliseconds longest() const noexcept {
        return std::chrono::milliseconds(m_longest_ms.load(std::memory_order_relaxed));
    }

    /// Asks the loop thread for its stack (as the watching thread does; for tests): true when it was caught.
    bool capture_for_test() noexcept { return capture(); }
    /// The capture's state and its stack's depth (for tests).
    [[nodiscard]] int capture_state_for_test() const noexcept { return m_capture.state.load(std::memory_order_acquire); }
    [[nodiscard]] int capture_depth_for_test() const noexcept { return m_capture.depth; }

private:
    /// A stall caught by the watching thread, for the reporting thread.
    struct Caught {
        std::int64_t start = 0;
        std::int64_t end = 0;
        bool caught = false;       // the stack (and task) below are this stall's
        std::vector<void*> frames;
        std::string task;          // the task's name, when it has one
        void* node_resume = nullptr;  // else its coroutine's resume function names it
    };

    void run();
    void report_loop();
    bool capture() noexcept;
    void emit(const Caught& c);

    std::chrono::milliseconds m_threshold;
    std::function<void(const StallReport&)> m_sink;
    pthread_t m_loop_thread;
    StallCapture m_capture;
    const std::atomic<std::uint64_t>& m_steps;
    std::atomic<std::int64_t> m_busy_since{0};
    std::atomic<std::int64_t> m_idle_since{0};
    std::atomic<std::uint64_t> m_stalls{0};
    std::atomic<std::int64_t> m_longest_ms{0};
    std::int64_t m_last_print = 0;   // reporting thread only
    std::uint64_t m_suppressed = 0;  // reporting thread only
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stop = false;
    std::vector<Caught> m_caught;  // stalls to report, oldest first (guarded by m_mutex)
    std::condition_variable m_report_cv;
    bool m_report_stop = false;
    std::thread m_thread;
    std::thread m_reporter;
};

}  // namespace corio::detail
