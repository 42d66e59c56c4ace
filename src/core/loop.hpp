#pragma once
// The event loop: ready queue (LoopCore), timing wheel, I/O backend, the cross-thread queue, and the list of
// live root tasks. One per thread, created by corio::run.

#include "io_backend.hpp"
#include "timer_wheel.hpp"
#include "watchdog.hpp"

#include <corio/detail/remote.hpp>

#include <corio/run.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace corio::detail {

/// A function posted to this thread's loop (LoopHandle::post) is running: user code outside any task, which
/// strict mode checks as it checks tasks.
extern thread_local bool t_posted;

/// The loop's inbox from other threads: a lock-free stack the loop takes whole, and an eventfd to wake it.
/// Outlives the loop (LoopHandles share it), so post() after the loop ended can fail cleanly.
struct RemoteQueue {
    std::atomic<RemoteItem*> m_head{nullptr};
    std::atomic<bool> m_sleeping{false};
    std::atomic<int> m_pushing{0};  // pushes in progress: the loop may not end (close the fd) under one
    int m_wake_fd = -1;
    std::mutex m_mutex;  // guards m_closed (post/close only)
    bool m_closed = false;

    void push(RemoteItem* item) noexcept;
    /// Everything pushed so far, oldest first.
    RemoteItem* take_all() noexcept;
};

/// Per-loop resources of higher layers (the default thread pool), destroyed when run() ends.
enum class LoopSlot { thread_pool, resolver, net_orphans, count };

class Loop final : public LoopCore {
public:
    static constexpr int k_batch = 256;   // resumptions per turn before looking at timers and I/O
    static constexpr int k_budget = 128;  // inline completions per resumption before a forced yield
    static constexpr std::chrono::microseconds k_spin{50};  // waiting for thread-pool results before sleeping
    // The spin pays only while the thread it waits for has a core: each spin that saw its result earns
    // credit, each that timed out costs more; at none the loop sleeps at once, and tries a spin again after
    // k_spin_retry idle turns (an oversubscribed machine, where spinning takes the core the result needs).
    static constexpr int k_spin_credit_max = 16;
    static constexpr int k_spin_miss_cost = 4;
    static constexpr int k_spin_retry = 64;

    explicit Loop(const RunOptions& opts);
    ~Loop();

    void run_main(PromiseBase* main, std::coroutine_handle<> frame);
    void turn();

    void adopt(TaskNode* n, std::coroutine_handle<> frame, JoinHook* joiner);
    void finished(TaskNode* n) noexcept;
    bool add_timer(TimerEntry* t, std::chrono::steady_clock::time_point when) noexcept;
    void remove_timer(TimerEntry* t) noexcept;
    void report_unhandled(TaskNode* n, const std::exception_ptr& e) noexcept;
    /// Cancels every live node joined by `j` (a TaskGroup's children).
    void cancel_joined_by(JoinHook* j) noexcept;
    /// Detaches every live node joined by `j`; returns how many.
    std::size_t detach_joined_by(JoinHook* j) noexcept;

    IoBackend& io() noexcept { return *m_io; }
    const std::shared_ptr<RemoteQueue>& remote() const noexcept { return m_remote; }
    LoopStatistics statistics() const noexcept;
    const RunOptions& options() const noexcept { return m_opts; }

    /// A higher layer's per-loop object; `destroy` runs when the loop ends (before descriptors close).
    void* slot(LoopSlot s) const noexcept { return m_slots[static_cast<int>(s)].ptr; }
    void set_slot(LoopSlot s, void* p, void (*destroy)(void*)) noexcept {
        m_slots[static_cast<int>(s)] = {p, destroy};
    }

private:
    void drain_remote() noexcept;
    void fire_timers() noexcept;
    std::uint64_t tick_of(std::chrono::steady_clock::time_point t) const noexcept;
    void cancel_all() noexcept;
    void release_slots() noexcept;

    RunOptions m_opts;
    std::chrono::steady_clock::time_point m_start;
    std::shared_ptr<RemoteQueue> m_remote;
    std::unique_ptr<IoBackend> m_io;
    std::atomic<std::uint64_t> m_steps{0};  // see Watchdog: which part of a turn runs (read by the watchdog)
    std::unique_ptr<Watchdog> m_watchdog;
    TimerWheel m_wheel;
    TaskNode* m_live = nullptr;  // live root nodes (doubly linked)
    std::uint64_t m_live_count = 0;
    bool m_return_now = false;  // a turn must not block: main ended, or the last live task did
    int m_spin_credit = k_spin_credit_max;  // see k_spin_credit_max
    int m_spin_skipped = 0;
    // CPUs this thread may run on: the loop spins for thread results only while fewer jobs are out than that,
    // so that a core is free for it (else the spin takes the core a job needs: 1,000 CPU-bound to_thread jobs
    // on 2 threads and 2 cores ran slower with the loop spinning beside them).
    int m_cpus = 1;
    struct Slot {
        void* ptr = nullptr;
        void (*destroy)(void*) = nullptr;
    };
    Slot m_slots[static_cast<int>(LoopSlot::count)];
    LoopStatistics m_stats;
};

/// The CPUs this thread may run on (sched_getaffinity, as a container or `taskset` limits them; at least 1).
/// The default size of the thread and process pools, and the test of whether a spin has a core to spare.
int usable_cpus() noexcept;

/// A hint to the CPU that this thread is spinning.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

/// This thread's loop (the concrete type).
Loop& this_loop();

}  // namespace corio::detail
