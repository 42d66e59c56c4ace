#pragma once
// The engine's shared vocabulary: a task node (what asyncio calls a Task: a unit the loop schedules and
// cancels), the hooks a wait registers, and the loop core that awaiters touch inline.
// Not part of the public API.

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace corio::detail {

struct TaskNode;

/// A wait that cancellation can interrupt. `cancel()` must make sure the node is woken (now or later).
struct CancelHook {
    virtual void cancel() noexcept = 0;

protected:
    ~CancelHook() = default;
};

/// Told when a node it watches has finished (value, exception or cancellation). Must only schedule.
struct JoinHook {
    virtual void child_done(TaskNode* child) noexcept = 0;

protected:
    ~JoinHook() = default;
};

enum NodeFlags : std::uint32_t {
    k_cancelled = 1u << 0,  // cancellation was requested (level-triggered: stays set)
    k_done = 1u << 1,       // the root coroutine reached its final suspend
    k_detached = 1u << 2,   // nobody owns the result: the frame frees itself when done
    k_queued = 1u << 3,     // in the ready queue
    k_adopted = 1u << 4,    // is a root node scheduled by the loop
    k_started = 1u << 5,    // the coroutine has begun running (awaited or adopted)
    k_named = 1u << 6,      // has an entry in the name table
    k_origin = 1u << 7,     // has a creation stack in the origin table (debug mode)
};

/// Debug mode (CORIO_DEBUG=1, or corio::set_debug(true)): every task records where it was created.
extern bool g_debug_tasks;
void record_origin(TaskNode* n) noexcept;
void drop_origin(TaskNode* n) noexcept;

struct TaskNode;
/// Task names live in a side table (few tasks are named; a pointer in every frame would cost more).
void set_node_name(TaskNode* n, std::string name);
[[nodiscard]] std::string node_name(const TaskNode* n);
/// How reports name a live task: its name, else its coroutine's, else "<unnamed>".
[[nodiscard]] std::string task_label(const TaskNode* n);
void drop_node_name(TaskNode* n) noexcept;

/// A schedulable, cancellable unit. Embedded in every coroutine promise; a promise is a node's root when
/// it was spawned (or started by gather, timeout, ...), and otherwise runs inside its awaiter's node.
struct TaskNode {
    TaskNode* m_next = nullptr;                  // ready-queue link
    TaskNode* m_live_prev = nullptr;             // the loop's list of live root nodes
    TaskNode* m_live_next = nullptr;
    std::coroutine_handle<> m_resume;            // innermost suspended coroutine of this node
    std::coroutine_handle<> m_frame;             // the root frame (valid when adopted)
    CancelHook* m_wait = nullptr;                // the cancellable wait the node is parked in
    JoinHook* m_joiner = nullptr;                // told when the node finishes
    std::uint32_t m_flags = 0;

    TaskNode() noexcept {
        if (g_debug_tasks) record_origin(this);
    }
    TaskNode(const TaskNode&) = delete;
    TaskNode& operator=(const TaskNode&) = delete;
    ~TaskNode() {
        if (m_flags & (k_named | k_origin)) {
            if (m_flags & k_named) drop_node_name(this);
            if (m_flags & k_origin) drop_origin(this);
        }
    }

    [[nodiscard]] bool cancelled() const noexcept { return (m_flags & k_cancelled) != 0; }
    [[nodiscard]] bool done() const noexcept { return (m_flags & k_done) != 0; }
};

/// Work a layer defers to the end of the loop's current batch of resumptions, before the loop asks the kernel
/// for I/O: a connection that corked its socket while several tasks sent statements pushes them out in one
/// segment there. Registered with LoopCore::at_turn_end; the owner unlinks it (cancel_turn_end) before dying.
struct TurnEndHook {
    TurnEndHook* m_turn_next = nullptr;
    bool m_turn_linked = false;
    virtual void turn_end() noexcept = 0;

protected:
    ~TurnEndHook() = default;
};

/// The part of the loop that awaiters use inline: the ready queue and the cooperative budget.
struct LoopCore {
    TaskNode* m_head = nullptr;
    TaskNode** m_tail = &m_head;
    int m_budget = 0;  // operations that may complete without suspending before a forced yield
    int m_offloaded = 0;  // thread-pool jobs of this loop not yet handed back (the loop may spin for them)
    std::uint64_t m_id = 0;  // unique per run() in the process (loops reuse stack addresses; ids do not)
    TurnEndHook* m_turn_end = nullptr;  // hooks to run when the current batch of resumptions ends

    /// Runs `h->turn_end()` once at the end of the current batch (nothing if it is already registered).
    void at_turn_end(TurnEndHook* h) noexcept {
        if (h->m_turn_linked) return;
        h->m_turn_linked = true;
        h->m_turn_next = m_turn_end;
        m_turn_end = h;
    }
    /// Unregisters `h` without running it.
    void cancel_turn_end(TurnEndHook* h) noexcept {
        if (!h->m_turn_linked) return;
        for (TurnEndHook** p = &m_turn_end; *p; p = &(*p)->m_turn_next) {
            if (*p == h) {
                *p = h->m_turn_next;
                break;
            }
        }
        h->m_turn_linked = false;
        h->m_turn_next = nullptr;
    }
    /// Runs (and unregisters) every registered hook.
    void run_turn_end() noexcept {
        while (TurnEndHook* h = m_turn_end) {
            m_turn_end = h->m_turn_next;
            h->m_turn_next = nullptr;
            h->m_turn_linked = false;
            h->turn_end();
        }
    }

    void schedule(TaskNode* n) noexcept {
        if (n->m_flags & k_queued) return;
        n->m_flags |= k_queued;
        n->m_next = nullptr;
        *m_tail = n;
        m_tail = &n->m_next;
    }
    /// Wake a parked node: it leaves its wait and is queued to run.
    void wake(TaskNode* n) noexcept {
        n->m_wait = nullptr;
        schedule(n);
    }
};

extern thread_local LoopCore* t_loop;

/// The running loop of this thread; throws LoopClosedError when there is none.
LoopCore& loop();

/// Requests cancellation of a node: sets the flag and interrupts its current wait.
void cancel_node(TaskNode* n) noexcept;

/// Makes `n` (whose root frame is `frame`) a root node of the running loop and queues it.
void adopt(TaskNode* n, std::coroutine_handle<> frame, JoinHook* joiner);

/// The owner of a root node gives it up: freed now if done, else it frees itself when it finishes.
void release(TaskNode* n) noexcept;

/// A Task is being destroyed without ever having started: report it (RunOptions::never_awaited).
void task_never_awaited(void* frame, const TaskNode* node) noexcept;
/// The creation stack recorded in debug mode (empty when none).
std::vector<void*> origin_of(const TaskNode* n);

/// Called from a root promise's final suspend.
void node_finished(TaskNode* n, std::exception_ptr error) noexcept;

/// True when the exception is a corio::CancelledError.
[[nodiscard]] bool is_cancellation(const std::exception_ptr& e) noexcept;

[[noreturn]] void throw_cancelled();

// The per-thread recycling allocator for coroutine frames.
void* frame_alloc(std::size_t size);
void frame_free(void* p, std::size_t size) noexcept;

/// Spend one unit of the running node's cooperative budget; true when it is exhausted (the caller must
/// yield instead of completing inline).
inline bool budget_exhausted(LoopCore& l) noexcept { return --l.m_budget < 0; }

}  // namespace corio::detail
