#pragma once
// The process pool's state, shared by process_pool.cpp (the API and the worker's entry), process_pool_io.cpp
// (the reader tasks: answers, deaths, shutdown) and process_pool_spawn.cpp (starting workers). Not installed.
//
// Shapes. The pool's State outlives the ProcessPool object while tasks still use it (a count of references,
// loop thread only: the pool, each reader task, each Task made by submit() or close()). Each worker slot has a
// reader task, spawned on the loop that uses the pool: it reads the worker's answers, and when the worker has
// died (end of stream) it waits on the pidfd, reaps it, settles the calls it held and has a replacement
// started. A job lives in its submit()'s frame and moves through
//     room (waiting for queue space) -> queued -> sending -> running -> done
// where `sending` is its own task writing the request (so every write belongs to an awaiting task), and
// `running` (sent; maybe not started yet) waits for the reader. A job is in at most one list. A worker holds
// up to k_slots calls (1 without shared memory); Worker::slots[i].id != 0 while an answer is owed for slot i,
// and .job is the job waiting for it (null once that job was cancelled or taken back: the answer is dropped).
// A cancelled call left running (kill_on_cancel false) keeps the heap blocks of its SharedArray arguments
// pinned (`pinned`) until its slot is settled: its answer is read, or its worker is reaped or killed at shutdown.
// When a loop ends its reader tasks are cancelled; the next loop to use the pool starts new ones (the
// sockets, the buffers and the processes stay).
#include "process_pool_wire.hpp"
#include "shared_heap.hpp"

#include <corio/detail/remote.hpp>
#include <corio/detail/waiters.hpp>
#include <corio/io.hpp>
#include <corio/offload/process_pool.hpp>
#include <corio/spawn.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <memory>
#include <string>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace corio {

namespace pp = detail::pp;

namespace detail::pp {
// Debian 12's <sys/pidfd.h> lacks extern "C": the system calls directly.
inline int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
inline void pidfd_kill(int pidfd) noexcept { ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0); }
/// Kills the process and waits until it is reaped (blocking: the caller allows it).
inline void kill_and_reap(int pidfd) noexcept {
    pidfd_kill(pidfd);
    siginfo_t si;
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED) < 0 && errno == EINTR) {
    }
}

/// A worker process to start. Every worker is started by one thread of the process, the spawner (see
/// process_pool_spawn.cpp): the loop never waits for an exec, and PR_SET_PDEATHSIG, which follows the thread
/// that started a process, follows a thread that lives as long as the process.
struct SpawnRequest final : RemoteItem {
    std::string argv0;
    int memfd = -1;
    int heapfd = -1;             // the pool's shared heap (SharedArray), or -1
    std::uint64_t heap_id = 0;
    int pid = -1;                // the result...
    int pidfd = -1;
    int fd = -1;                 // the pool's end of the socketpair
    int error = 0;               // ...or the failure
    const char* op = nullptr;
    RemoteQueue* home = nullptr;  // the loop to hand it back to (m_run wakes `node`); null: `done` is set
    TaskNode* node = nullptr;
    std::atomic<bool> done{false};
    SpawnRequest* next = nullptr;
};
/// Hands `r` to the spawner (any thread). Errors: std::system_error when its thread cannot be started.
void spawn_async(SpawnRequest* r);
/// Kills and reaps a process that was started for nothing (the pool closed meanwhile).
void discard(SpawnRequest& r) noexcept;
}  // namespace detail::pp

using detail::TaskNode;

struct ProcessPool::State {
    enum class Phase : std::uint8_t { room, queued, sending, running, done };
    struct Worker;

    struct Job final : detail::CancelHook {
        State* state;
        const detail::CallSpec* call;
        std::exception_ptr error;
        TaskNode* node = nullptr;
        Worker* worker = nullptr;
        Job* next = nullptr;
        Job* prev = nullptr;
        std::uint64_t id = 0;
        int slot = 0;
        Phase phase = Phase::queued;
        bool parked = false;        // suspended in Park: the pool wakes it
        bool cancelled = false;
        bool lost = false;          // its worker died while the request was being written...
        bool lost_started = false;  // ...after it had started the call
        std::exception_ptr lost_error;

        Job(State* s, const detail::CallSpec* c) noexcept : state(s), call(c) {}
        Job(const Job&) = delete;
        Job& operator=(const Job&) = delete;
        ~Job() { state->forget(this); }
        void cancel() noexcept override { state->cancel_job(this); }
    };

    struct JobList {
        Job* head = nullptr;
        Job* tail = nullptr;
        std::size_t size = 0;
        void push_back(Job* j) noexcept {
            j->next = nullptr;
            j->prev = tail;
            (tail ? tail->next : head) = j;
            tail = j;
            ++size;
        }
        void push_front(Job* j) noexcept {
            j->prev = nullptr;
            j->next = head;
            (head ? head->prev : tail) = j;
            head = j;
            ++size;
        }
        void remove(Job* j) noexcept {
            (j->prev ? j->prev->next : head) = j->next;
            (j->next ? j->next->prev : tail) = j->prev;
            j->next = j->prev = nullptr;
            --size;
        }
        Job* pop_front() noexcept {
            Job* j = head;
            if (j) remove(j);
            return j;
        }
    };

    struct Slot {
        Job* job = nullptr;
        std::uint64_t id = 0;  // != 0: an answer is owed
    };

    struct Worker {
        int pid = -1;
        int pidfd = -1;
        int fd = -1;
        std::uint64_t generation = 0;  // counts the processes this slot has had
        bool ready = false;            // its hello arrived: it has started serving
        bool dead = false;             // end of stream (or a failed write, or killed): no more calls
        bool eof = false;              // its reader has read all it wrote (or stopped trusting it): reaped next
        bool killed = false;           // by us (cancellation, destruction)
        bool serving = false;          // a reader task was spawned for it and has not ended
        bool draining = false;         // a request was cut short: killed once the calls before it are answered
        Slot slots[pp::k_slots];
        // Writes: frames of up to k_atomic_write bytes go out whole, so several may be in flight; a larger one
        // may go out in pieces, so it writes alone (nothing else in flight, later writes wait for it).
        int small_writes = 0;
        bool big_write = false;
        detail::WaiterList write_waiters;
        std::string in;                // bytes read, [in_start, in_end) not yet parsed
        std::size_t in_start = 0;
        std::size_t in_end = 0;
        int memfd = -1;                // shared memory (kept for the replacements)
        pp::SharedLayout shm;
        JoinHandle<void> reader;

        [[nodiscard]] int capacity() const noexcept { return shm.base ? pp::k_slots : 1; }
        [[nodiscard]] int owed() const noexcept {
            int n = 0;
            for (const Slot& s : slots) n += s.id != 0;
            return n;
        }
        [[nodiscard]] std::uint64_t& claim(int slot) const noexcept { return *shm.claim(slot); }
    };

    /// A wait on one of the pool's waiter lists: woken from the list, or CancelledError when the task is
    /// cancelled before or while it waits.
    struct ListWait : detail::Waiter {
        bool m_cancelled = false;
        template <detail::CorioPromise P>
        bool park_on(detail::WaiterList& list, std::coroutine_handle<P> h) noexcept {
            TaskNode* n = h.promise().m_node;
            if (n->cancelled()) {
                m_cancelled = true;
                return false;
            }
            detail::park(list, this, n, h);
            return true;
        }
        void leave(detail::WaiterList& list) noexcept {
            list.remove(this);
            m_cancelled = true;
            detail::t_loop->schedule(m_node);
        }
        void await_resume() const {
            if (m_cancelled) detail::throw_cancelled();
        }
    };

    /// A job's turn to write its frame to its worker's socket (see Worker's writes). Once granted, end_write
    /// must follow.
    struct WriteTurn final : ListWait {
        State* s;
        Worker* w;
        bool big;
        WriteTurn(State* st, Worker* wk, bool b) noexcept : s(st), w(wk), big(b) {}
        bool await_ready() noexcept {
            if (!w->write_waiters.empty() || !s->can_write(w, big)) return false;
            s->begin_write(w, big);
            return true;
        }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return park_on(w->write_waiters, h);
        }
        void cancel() noexcept override {
            leave(w->write_waiters);
            s->admit_writers(w);
        }
    };

    /// Waits for any change of the pool (close() re-checks its condition).
    struct Watch final : ListWait {
        State* s;
        explicit Watch(State* st) noexcept : s(st) {}
        bool await_ready() const noexcept { return false; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return park_on(s->watchers, h);
        }
        void cancel() noexcept override { leave(s->watchers); }
    };

    /// Waits for a spawn request to come back. It cannot be abandoned (the request is in the waiting frame):
    /// a cancellation takes effect at the next await.
    struct SpawnWait final : detail::CancelHook {
        pp::SpawnRequest* r;
        bool skipped = false;  // the task was cancelled already: nothing was started
        explicit SpawnWait(pp::SpawnRequest* req) noexcept : r(req) {}
        bool await_ready() const noexcept { return false; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) {
            TaskNode* n = h.promise().m_node;
            if (n->cancelled()) {
                skipped = true;
                return false;
            }
            r->node = n;
            r->home = detail::current_remote();
            r->m_run = [](detail::RemoteItem* i) { detail::t_loop->wake(static_cast<pp::SpawnRequest*>(i)->node); };
            n->m_resume = h;
            n->m_wait = this;
            pp::spawn_async(r);
            return true;
        }
        void await_resume() const noexcept {}
        void cancel() noexcept override {}
    };

    /// Waits until the job is to be sent, or done.
    struct Park {
        Job* j;
        bool await_ready() const noexcept { return j->phase == Phase::done || j->phase == Phase::sending; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            TaskNode* n = h.promise().m_node;
            j->node = n;
            if (n->cancelled()) {
                j->state->cancel_job(j);
                return false;
            }
            n->m_resume = h;
            n->m_wait = j;
            j->parked = true;
            return true;
        }
        void await_resume() const noexcept { j->parked = false; }
    };

    ProcessPoolOptions options;
    std::shared_ptr<detail::SharedHeap> heap;  // null when options.shared_heap is 0
    std::vector<std::unique_ptr<Worker>> workers;
    std::string argv0;
    JobList queue;
    JobList room;
    detail::WaiterList watchers;
    std::uint64_t loop_id = 0;       // the loop whose reader tasks serve the workers
    std::size_t readers = 0;         // reader tasks spawned and not ended
    std::size_t refs = 1;            // the ProcessPool, each reader task, each submit() or close() Task
    std::size_t active = 0;          // submits in progress
    std::size_t lost_writes = 0;     // jobs whose worker died while they wrote their request (see reap)
    std::uint64_t next_id = 0;
    int startup_failures = 0;        // workers in a row that died before their hello
    std::exception_ptr broken;       // set after too many of them: every submit fails with it
    struct Pinned {
        std::uint64_t id;     // a cancelled call that may still be running (its slot's id)...
        std::uint64_t block;  // ...and a heap block it reads in place, pinned (see keep_blocks)
    };
    std::vector<Pinned> pinned;
    bool closing = false;
    bool closed = false;
    Statistics stats;

    // ---- processes ----

    /// The slot's shared memory (once: replacements inherit it), and the spawn request for a process.
    void prepare(Worker* w, pp::SpawnRequest& r);
    /// The process `r` started becomes the slot's worker. Errors: IoError when it could not be started.
    void adopt(Worker* w, pp::SpawnRequest& r);
    void reap(Worker* w);
    void kill(Worker* w) noexcept {
        if (w->pidfd >= 0 && !w->killed) pp::pidfd_kill(w->pidfd);
        w->killed = true;
        w->dead = true;
    }
    void close_fds(Worker* w) noexcept {
        for (int* fd : {&w->fd, &w->pidfd}) {
            if (*fd < 0) continue;
            if (detail::t_loop) corio::close(*fd);  // fails the operations still waiting on it
            else ::close(*fd);
            *fd = -1;
        }
    }
    enum class CallState { delivered, started, answered, finished };  // answered: its answer is in the socket
    /// How far the worker got with the call in `slot` (without shared memory: started if it was serving).
    CallState call_state(const Worker* w, int slot, std::uint64_t id) const noexcept {
        if (!w->shm.base) return w->ready ? CallState::started : CallState::delivered;
        std::uint64_t c = std::atomic_ref<std::uint64_t>(w->claim(slot)).load(std::memory_order_acquire);
        if (c == (id | pp::k_started | pp::k_done)) return CallState::finished;
        if (c == (id | pp::k_started)) return CallState::started;
        if (c == (id | pp::k_started | pp::k_answered)) return CallState::answered;
        return CallState::delivered;
    }
    /// Takes back a call the worker has not started; false when it has.
    bool take_back(Worker* w, int slot, std::uint64_t id) noexcept {
        if (!w->shm.base) return false;
        std::uint64_t expected = id;
        return std::atomic_ref<std::uint64_t>(w->claim(slot))
            .compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
    }

    // ---- jobs ----

    bool usable(const Worker* w) const noexcept { return w->pid >= 0 && !w->dead && !w->draining && w->serving; }

    static constexpr std::size_t k_atomic_write = 4096;  // a unix socket takes a write this small whole or not at all
    bool can_write(const Worker* w, bool big) const noexcept {
        return !w->big_write && (!big || w->small_writes == 0);
    }
    void begin_write(Worker* w, bool big) noexcept {
        if (big) w->big_write = true;
        else ++w->small_writes;
    }
    void end_write(Worker* w, bool big) noexcept {
        if (big) w->big_write = false;
        else --w->small_writes;
        admit_writers(w);
    }
    /// Grants the turn to the writers whose turn it is, first come first served, and wakes them.
    void admit_writers(Worker* w) noexcept {
        while (auto* t = static_cast<WriteTurn*>(w->write_waiters.front())) {
            if (!can_write(w, t->big)) break;
            w->write_waiters.pop_front();
            begin_write(w, t->big);
            detail::t_loop->wake(t->m_node);
        }
    }
    /// The least busy worker with room for one more call, and a free slot of it.
    std::pair<Worker*, int> pick() const noexcept {
        Worker* best = nullptr;
        int best_owed = 0;
        for (const auto& w : workers) {
            if (!usable(w.get())) continue;
            int owed = w->owed();
            if (owed == 0) {
                best = w.get();
                break;
            }
            if (owed < w->capacity() && (!best || owed < best_owed)) best = w.get(), best_owed = owed;
        }
        if (!best) return {nullptr, 0};
        int slot = 0;
        while (best->slots[slot].id != 0) ++slot;
        return {best, slot};
    }
    Worker* idle_worker() const noexcept {
        for (const auto& w : workers)
            if (usable(w.get()) && w->owed() == 0) return w.get();
        return nullptr;
    }
    void wake(Job* j) noexcept {
        if (j->parked) {
            j->parked = false;
            detail::t_loop->wake(j->node);
        }
    }
    void changed() noexcept {
        while (auto* w = watchers.pop_front()) detail::t_loop->wake(w->m_node);
    }
    void assign(Job* j, Worker* w, int slot) noexcept {
        j->phase = Phase::sending;
        j->worker = w;
        j->slot = slot;
        take_lost(j);
        j->id = ++next_id;
        w->slots[slot] = {j, j->id};
        wake(j);
    }
    /// Calls waiting for a worker: in the queue, for room in it, or about to come back to it (a lost write
    /// of a call its dead worker had not started is put back in line when it ends).
    bool waiting() const noexcept { return queue.head || room.head || lost_writes > 0; }
    /// Whether the job's write was lost (its worker died meanwhile); clears the mark.
    bool take_lost(Job* j) noexcept {
        if (!j->lost) return false;
        j->lost = false;
        --lost_writes;
        return true;
    }
    bool queue_has_room() const noexcept { return options.max_queue == 0 || queue.size < options.max_queue; }
    void submit(Job* j) noexcept {
        if (queue.size == 0 && room.size == 0)
            if (auto [w, slot] = pick(); w) return assign(j, w, slot);
        if (room.size == 0 && queue_has_room()) {
            j->phase = Phase::queued;
            queue.push_back(j);
        } else {
            j->phase = Phase::room;
            room.push_back(j);
        }
    }
    /// A call waiting behind another in a busy worker goes to an idle one instead.
    bool rebalance(Worker* idle) noexcept {
        for (const auto& v : workers) {
            if (v.get() == idle || v->owed() < 2) continue;
            int s = 0;  // the latest call: the earlier ones may run first
            for (int i = 1; i < pp::k_slots; ++i)
                if (v->slots[i].id > v->slots[s].id) s = i;
            Job* j = v->slots[s].job;
            if (!j || j->phase != Phase::running || !take_back(v.get(), s, j->id)) continue;
            v->slots[s].job = nullptr;  // its `skipped` answer frees the slot
            assign(j, idle, 0);
            return true;
        }
        return false;
    }
    void dispatch() noexcept {
        // No worker starts again: a job back in line after the pool broke or was destroyed (its worker found
        // dead while the job was still writing its request) fails as the waiting ones did.
        if (broken || closed) {
            fail_waiting(broken ? broken : destroyed_error());
            return;
        }
        for (;;) {
            for (;;) {
                if (queue.head) {
                    auto [w, slot] = pick();
                    if (!w) break;
                    assign(queue.pop_front(), w, slot);
                } else {
                    Worker* w = idle_worker();
                    if (!w || !rebalance(w)) break;
                }
            }
            bool admitted = false;
            while (room.head && queue_has_room()) {  // room in the queue: the submits waiting for it come in
                Job* j = room.pop_front();
                j->phase = Phase::queued;
                queue.push_back(j);
                admitted = true;
            }
            if (!admitted) break;
        }
    }
    void finish(Job* j, std::exception_ptr error) noexcept {
        j->error = std::move(error);
        j->phase = Phase::done;
        j->worker = nullptr;
        wake(j);
    }
    /// A job not started after all: first in line again.
    void requeue(Job* j) noexcept {
        j->worker = nullptr;
        take_lost(j);
        j->phase = Phase::queued;
        queue.push_front(j);
        dispatch();
    }
    void fail_waiting(const std::exception_ptr& e) noexcept {
        while (Job* j = room.pop_front()) finish(j, e);
        while (Job* j = queue.pop_front()) finish(j, e);
    }
    void cancel_job(Job* j) noexcept {
        switch (j->phase) {
            case Phase::room: room.remove(j); break;
            case Phase::queued:
                queue.remove(j);
                dispatch();  // room for one more
                break;
            case Phase::running:
                if (Worker* w = j->worker; w && w->slots[j->slot].job == j) abandon(w, j);
                break;
            case Phase::sending:  // the task is not parked: its write sees the cancellation
            case Phase::done: return;
        }
        finish_cancelled(j);
    }
    /// A cancelled job's call, sent to `w`: its answer, when it comes, is dropped; the call is taken back if
    /// it has not started. If it may still be running: with kill_on_cancel its worker is killed; else the heap
    /// blocks of its SharedArray arguments, which the worker reads in place, are kept (or, failing that, the
    /// worker is killed all the same).
    void abandon(Worker* w, Job* j) noexcept {
        w->slots[j->slot].job = nullptr;
        if (take_back(w, j->slot, j->id) || call_state(w, j->slot, j->id) >= CallState::answered) return;
        if (options.kill_on_cancel || !keep_blocks(j)) kill(w);
    }
    /// Pins the heap blocks the job's SharedArray arguments lie in (the job's frame, and so the arguments, are
    /// still alive): freeing them then only marks them, until release_blocks(j->id). False when out of memory
    /// (nothing is left pinned).
    bool keep_blocks(Job* j) noexcept {
        if (!heap || !j->call->shared_args) return true;
        struct Keep {
            State* s;
            std::uint64_t id;
        } keep{this, j->id};
        try {
            j->call->shared_args(
                j->call->args,
                [](void* ctx, const detail::SharedRef& r) {
                    auto* k = static_cast<Keep*>(ctx);
                    if (r.bytes == 0 || r.heap != k->s->heap->id()) return;  // (another pool's fails in the worker)
                    k->s->pinned.reserve(k->s->pinned.size() + 1);
                    if (auto block = k->s->heap->pin(r.offset)) k->s->pinned.push_back({k->id, *block});
                },
                &keep);
        } catch (...) {
            release_blocks(j->id);
            return false;
        }
        return true;
    }
    /// The call `id` is over (answered, or its worker is gone): its pinned blocks may be reused.
    void release_blocks(std::uint64_t id) noexcept {
        for (std::size_t i = 0; i < pinned.size();) {
            if (pinned[i].id != id) {
                ++i;
                continue;
            }
            heap->unpin(pinned[i].block);
            pinned[i] = pinned.back();
            pinned.pop_back();
        }
    }
    void finish_cancelled(Job* j) noexcept {
        j->cancelled = true;
        ++stats.cancelled;
        finish(j, nullptr);
    }
    /// The job's task leaves (normally or not): it must be in no list and on no worker.
    void forget(Job* j) noexcept {
        take_lost(j);
        if (j->phase == Phase::room) room.remove(j);
        else if (j->phase == Phase::queued) queue.remove(j);
        if (j->worker && j->worker->slots[j->slot].job == j) j->worker->slots[j->slot].job = nullptr;
        j->phase = Phase::done;
    }

    // The job's task has written its request (or failed to).
    void sent(Job* j) noexcept {
        bool lost = take_lost(j);
        if (j->phase != Phase::sending) return;  // answered already
        if (!lost) {
            j->phase = Phase::running;
        } else if (!j->lost_started) {
            requeue(j);
        } else {
            ++stats.crashed;
            finish(j, j->lost_error);
        }
    }
    void write_failed(Job* j) noexcept {  // its arguments did not serialize: the worker got nothing
        if (Worker* w = j->worker; w && w->slots[j->slot].job == j) free_slot(w, j->slot);
        j->phase = Phase::done;
        j->worker = nullptr;
        dispatch();
    }
    /// Writing the job's request failed: `maybe_alive` unless the error said the worker has gone (EPIPE,
    /// ECONNRESET).
    void send_failed(Job* j, std::uint64_t gen, bool maybe_alive) noexcept {
        take_lost(j);
        if (j->phase != Phase::sending) return;
        if (Worker* w = j->worker; w && w->generation == gen && w->slots[j->slot].job == j) {
            if (maybe_alive) {
                // It may be alive with half a request in its socket, waiting for the rest: no more calls, and
                // it is killed once it has answered the calls before this one, so that its reader does not
                // wait for an end of stream that never comes.
                w->draining = true;
                free_slot(w, j->slot);
            } else {
                w->slots[j->slot].job = nullptr;
                w->dead = true;  // it died: its reader will see the end of the stream and reap it
            }
        }
        requeue(j);
    }
    /// Frees the slot of a call the worker will not answer (it never got it whole); a draining worker is killed
    /// once it owes no answer. Calls given to it before it began draining and not yet written never reach it
    /// (send_refused): each one frees its slot here, so the last one to go kills it.
    void free_slot(Worker* w, int slot) noexcept {
        w->slots[slot] = {};
        if (w->draining && w->owed() == 0) kill(w);
    }
    /// Its worker was draining when the job's turn to write came (a request before it was cut short): nothing
    /// went out, the job goes back in line; the worker is killed if it owes no more answers.
    void send_refused(Job* j) noexcept {
        take_lost(j);
        if (j->phase != Phase::sending) return;
        if (Worker* w = j->worker; w && w->slots[j->slot].job == j) free_slot(w, j->slot);
        requeue(j);
    }
    void send_cancelled(Job* j, std::uint64_t gen, std::size_t off, std::size_t size) noexcept {
        take_lost(j);
        if (j->phase != Phase::sending) return;
        if (Worker* w = j->worker; w && w->generation == gen && w->slots[j->slot].job == j) {
            if (off == 0) {
                free_slot(w, j->slot);  // nothing went out
                dispatch();
            } else if (off < size) {  // half a request is in its socket: the worker will never read a whole one
                w->draining = true;  // no more calls; killed once it has answered the ones before this
                free_slot(w, j->slot);
            } else {
                abandon(w, j);
            }
        }
        finish_cancelled(j);
    }

    // ---- answers ----

    void write_call(Worker* w, Job* j, std::string& out);
    /// Decodes a job's value (or the exception its decoding raised) and finishes the job.
    void deliver(Job* j, const char* payload, std::size_t len, bool exception) noexcept;
    void on_frame(Worker* w, const pp::Header& h, const char* payload, std::size_t len);
    void parse(Worker* w);

    void attach();
    static Task<void> serve(State* s, Worker* w);
    /// Kills and reaps every worker, fails the jobs left, and drops the pool's reference.
    static void shut_down(State* s);

    /// Drops a reference (see `refs`); the last one frees the state.
    static void unref(State* s) noexcept {
        if (--s->refs == 0) delete s;
    }

    static std::exception_ptr destroyed_error() {
        return std::make_exception_ptr(
            ProcessPoolClosedError("corio::ProcessPool was destroyed while this job was waiting or running"));
    }

    void check_open() const {
        if (broken) std::rethrow_exception(broken);
        if (closing) throw ProcessPoolClosedError("corio::ProcessPool::submit: the pool is closed");
    }
};

}  // namespace corio
