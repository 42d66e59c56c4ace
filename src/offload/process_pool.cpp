// The process pool, parent side, and the static initializer that turns a copy of the program into a worker.
//
// Shapes. The pool's State outlives the ProcessPool object while tasks still use it (a count of references;
// loop thread only). Each worker slot has a reader task, spawned on the loop that uses the pool: it reads the
// worker's answers, and when the worker has died (end of stream) it waits on the pidfd, reaps it, settles the
// calls it held and starts a replacement. A job lives in its submit()'s frame and moves through
//     room (waiting for queue space) -> queued -> sending -> running -> done
// where `sending` is its own task writing the request (so every write belongs to an awaiting task), and
// `running` (sent; maybe not started yet) waits for the reader. A job is in at most one list. A worker holds
// up to k_slots calls (1 without shared memory); Worker::slots[i].id != 0 while an answer is owed for slot i,
// and .job is the job waiting for it (null once that job was cancelled or taken back: the answer is dropped).
// When a loop ends its reader tasks are cancelled; the next loop to use the pool starts new ones (the
// sockets, the buffers and the processes stay).
#include "process_pool_wire.hpp"

#include <corio/detail/waiters.hpp>
#include <corio/io.hpp>
#include <corio/offload/process_pool.hpp>
#include <corio/spawn.hpp>
#include <corio/strict.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

extern char** environ;

// The program's static initializers (the linker provides these for an executable).
extern "C" {
extern void (*__init_array_start[])(int, char**, char**) __attribute__((weak, visibility("hidden")));
extern void (*__init_array_end[])(int, char**, char**) __attribute__((weak, visibility("hidden")));
}

namespace corio {

namespace pp = detail::pp;
using detail::TaskNode;

// ---- the worker's entry, before main() ----------------------------------------------------------------------

namespace {

// In the program's .init_array like every static initializer. In a worker it runs the initializers that come
// after it (so the worker sees every global constructed, as main() would), then serves jobs and never
// returns: main() does not run in a worker.
__attribute__((constructor)) void corio_process_pool_entry(int argc, char** argv, char**) {
    const char* v = std::getenv(pp::k_env);
    if (!v) return;
    char* rest = nullptr;
    long fd = std::strtol(v, &rest, 10);
    if (!rest || *rest != ':') return;
    long memfd = std::strtol(rest + 1, &rest, 10);
    if (!rest || *rest != ':') return;
    long parent = std::strtol(rest + 1, &rest, 10);
    if (!rest || *rest != '\0' || fd < 0 || parent <= 0) return;
    ::unsetenv(pp::k_env);                   // what this worker starts is no worker
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);      // die with the parent...
    if (::getppid() != parent) _exit(0);     // ...which may be gone already
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    if (__init_array_start && __init_array_end) {
        std::size_t n = static_cast<std::size_t>(__init_array_end - __init_array_start);
        for (std::size_t i = 0; i < n; ++i)
            if (__init_array_start[i] == &corio_process_pool_entry) {
                for (std::size_t j = i + 1; j < n; ++j) __init_array_start[j](argc, argv, environ);
                break;
            }
    }
    pp::worker_main(static_cast<int>(fd), static_cast<int>(memfd));
}

// Debian 12's <sys/pidfd.h> lacks extern "C": the system calls directly.
int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
void pidfd_kill(int pidfd) noexcept { ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0); }

std::size_t hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

std::string signal_text(int sig) {
    std::string s = "signal " + std::to_string(sig);
    if (const char* abbrev = ::sigabbrev_np(sig)) s += std::string(" (SIG") + abbrev + ")";
    return s;
}

}  // namespace

// ---- the state ----------------------------------------------------------------------------------------------

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
        bool dead = false;             // end of stream (or a failed write): no more calls; the reader reaps it
        bool killed = false;           // by us (cancellation, destruction)
        bool serving = false;          // a reader task runs for it
        Slot slots[pp::k_slots];
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

    /// Keeps the state alive while a task uses it.
    struct Ref {
        State* s;
        explicit Ref(State* st) noexcept : s(st) { ++s->refs; }
        Ref(const Ref&) = delete;
        Ref& operator=(const Ref&) = delete;
        ~Ref() {
            if (--s->refs == 0) delete s;
        }
    };

    /// Waits for any change of the pool (close() re-checks its condition).
    struct Watch final : detail::Waiter {
        State* s;
        bool m_cancelled = false;
        explicit Watch(State* st) noexcept : s(st) {}
        bool await_ready() const noexcept { return false; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            TaskNode* n = h.promise().m_node;
            if (n->cancelled()) {
                m_cancelled = true;
                return false;
            }
            detail::park(s->watchers, this, n, h);
            return true;
        }
        void await_resume() const {
            if (m_cancelled) detail::throw_cancelled();
        }
        void cancel() noexcept override {
            s->watchers.remove(this);
            m_cancelled = true;
            detail::t_loop->schedule(m_node);
        }
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
    std::vector<std::unique_ptr<Worker>> workers;
    std::string argv0;
    JobList queue;
    JobList room;
    detail::WaiterList watchers;
    std::uint64_t loop_id = 0;       // the loop whose reader tasks serve the workers
    std::size_t readers = 0;
    std::size_t refs = 1;            // the ProcessPool, and every task using the state
    std::size_t active = 0;          // submits in progress
    std::uint64_t next_id = 0;
    int startup_failures = 0;        // workers in a row that died before their hello
    std::exception_ptr broken;       // set after too many of them: every submit fails with it
    bool closing = false;
    bool closed = false;
    Statistics stats;

    // ---- processes ----

    void start(Worker* w);
    void reap(Worker* w);
    void kill(Worker* w) noexcept {
        if (w->pidfd >= 0 && !w->killed) pidfd_kill(w->pidfd);
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
    /// Whether the worker has started the call in `slot` (without shared memory: whether it was serving).
    bool started(const Worker* w, int slot, std::uint64_t id) const noexcept {
        if (!w->shm.base) return w->ready;
        return std::atomic_ref<std::uint64_t>(w->claim(slot)).load(std::memory_order_acquire) == (id | pp::k_started);
    }
    /// Takes back a call the worker has not started; false when it has.
    bool take_back(Worker* w, int slot, std::uint64_t id) noexcept {
        if (!w->shm.base) return false;
        std::uint64_t expected = id;
        return std::atomic_ref<std::uint64_t>(w->claim(slot)).compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
    }

    // ---- jobs ----

    bool usable(const Worker* w) const noexcept { return w->pid >= 0 && !w->dead && w->serving; }
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
        j->lost = false;
        j->id = ++next_id;
        w->slots[slot] = {j, j->id};
        wake(j);
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
        j->lost = false;
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
                if (Worker* w = j->worker; w && w->slots[j->slot].job == j) {
                    w->slots[j->slot].job = nullptr;  // the answer, when it comes, is dropped
                    if (!take_back(w, j->slot, j->id) && options.kill_on_cancel) kill(w);
                }
                break;
            case Phase::sending:  // the task is not parked: its write sees the cancellation
            case Phase::done: return;
        }
        j->cancelled = true;
        ++stats.cancelled;
        finish(j, nullptr);
    }
    /// The job's task leaves (normally or not): it must be in no list and on no worker.
    void forget(Job* j) noexcept {
        if (j->phase == Phase::room) room.remove(j);
        else if (j->phase == Phase::queued) queue.remove(j);
        if (j->worker && j->worker->slots[j->slot].job == j) j->worker->slots[j->slot].job = nullptr;
        j->phase = Phase::done;
    }

    // The job's task has written its request (or failed to).
    void sent(Job* j) noexcept {
        if (j->phase != Phase::sending) return;  // answered already
        if (!j->lost) {
            j->phase = Phase::running;
        } else if (!j->lost_started) {
            requeue(j);
        } else {
            ++stats.crashed;
            finish(j, j->lost_error);
        }
    }
    void write_failed(Job* j) noexcept {  // its arguments did not serialize: the worker got nothing
        if (Worker* w = j->worker; w && w->slots[j->slot].job == j) w->slots[j->slot] = {};
        j->phase = Phase::done;
        j->worker = nullptr;
        dispatch();
    }
    void send_failed(Job* j, std::uint64_t gen) noexcept {
        if (j->phase != Phase::sending) return;
        if (Worker* w = j->worker; w && w->generation == gen && w->slots[j->slot].job == j) {
            w->slots[j->slot].job = nullptr;
            w->dead = true;  // its reader will see the end of the stream and reap it
        }
        requeue(j);
    }
    void send_cancelled(Job* j, std::uint64_t gen, std::size_t off, std::size_t size) noexcept {
        if (j->phase != Phase::sending) return;
        if (Worker* w = j->worker; w && w->generation == gen && w->slots[j->slot].job == j) {
            if (off == 0) {
                w->slots[j->slot] = {};  // nothing went out
                dispatch();
            } else {
                w->slots[j->slot].job = nullptr;
                if (off < size) kill(w);  // half a request is in its socket: the stream is lost
                else if (!take_back(w, j->slot, j->id) && options.kill_on_cancel) kill(w);
            }
        }
        j->cancelled = true;
        ++stats.cancelled;
        finish(j, nullptr);
    }

    // ---- answers ----

    void write_call(Worker* w, Job* j, std::string& out);
    void on_frame(Worker* w, const pp::Header& h, const char* payload, std::size_t len);
    void parse(Worker* w);
    void prepare_read(Worker* w);

    void attach();
    static Task<void> serve(State* s, Worker* w);
    /// Kills and reaps every worker, fails the jobs left, and drops the pool's reference.
    static void shut_down(State* s);

    void check_open() const {
        if (broken) std::rethrow_exception(broken);
        if (closing) throw ProcessPoolClosedError("corio::ProcessPool::submit: the pool is closed");
    }
};

// ---- starting and reaping workers -----------------------------------------------------------------------------

void ProcessPool::State::start(Worker* w) {
    if (options.shared_memory > 0 && w->memfd < 0) {  // once per slot: replacements inherit it
        std::size_t area = (options.shared_memory / (2 * pp::k_slots) + 4095) & ~std::size_t{4095};
        std::size_t bytes = pp::SharedLayout::bytes_for(area);
        int memfd = ::memfd_create("corio-process-pool", MFD_CLOEXEC);
        if (memfd < 0) throw IoError("memfd_create", -1, errno);
        if (memfd <= pp::k_worker_memfd) {  // out of the way of the numbers a worker's file actions set up
            int moved = ::fcntl(memfd, F_DUPFD_CLOEXEC, pp::k_worker_memfd + 1);
            ::close(memfd);
            if (moved < 0) throw IoError("fcntl", memfd, errno);
            memfd = moved;
        }
        void* p = ::ftruncate(memfd, static_cast<off_t>(bytes)) == 0
                      ? ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0)
                      : MAP_FAILED;
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(memfd);
            throw IoError("mmap", memfd, e);
        }
        w->memfd = memfd;
        w->shm.base = static_cast<char*>(p);
        w->shm.area = area;
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw IoError("socketpair", -1, errno);
    int child = sv[1];
    if (child <= pp::k_worker_memfd) {  // out of the way of the numbers the file actions set up
        child = ::fcntl(sv[1], F_DUPFD_CLOEXEC, pp::k_worker_memfd + 1);
        ::close(sv[1]);
        if (child < 0) {
            int e = errno;
            ::close(sv[0]);
            throw IoError("fcntl", sv[1], e);
        }
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&fa, child, pp::k_worker_fd);
    if (w->memfd >= 0) ::posix_spawn_file_actions_adddup2(&fa, w->memfd, pp::k_worker_memfd);
    ::posix_spawn_file_actions_addclosefrom_np(&fa, pp::k_worker_memfd + 1);  // whatever the parent leaked
    ::posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setsigdefault(&attr, &all);  // an ignored SIGPIPE or SIGCHLD of the parent stays there
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::string ours = std::string(pp::k_env) + "=" + std::to_string(pp::k_worker_fd) + ":" +
                       (w->memfd >= 0 ? std::to_string(pp::k_worker_memfd) : std::string("-1")) + ":" +
                       std::to_string(::getpid());
    std::vector<char*> env;
    std::size_t prefix = std::strlen(pp::k_env);
    for (char** e = environ; e && *e; ++e)
        if (std::strncmp(*e, pp::k_env, prefix) != 0 || (*e)[prefix] != '=') env.push_back(*e);
    env.push_back(ours.data());
    env.push_back(nullptr);
    char* argv[] = {argv0.data(), nullptr};

    pid_t pid = -1;
    int rc;
    {
        allow_blocking internal;  // the parent waits for the child's exec (vfork semantics): well under 1 ms
        rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, env.data());
    }
    ::posix_spawn_file_actions_destroy(&fa);
    ::posix_spawnattr_destroy(&attr);
    ::close(child);
    if (rc != 0) {
        ::close(sv[0]);
        throw IoError("posix_spawn of /proc/self/exe", -1, rc);
    }
    int pidfd = pidfd_open(pid);
    if (pidfd < 0) {
        int e = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        ::close(sv[0]);
        throw IoError("pidfd_open", -1, e);
    }
    ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    w->pid = pid;
    w->pidfd = pidfd;
    w->fd = sv[0];
    w->ready = w->dead = w->killed = false;
    for (Slot& s : w->slots) s = {};
    w->in_start = w->in_end = 0;
    ++w->generation;
    ++stats.started;
}

void ProcessPool::State::reap(Worker* w) {
    siginfo_t si{};
    int r;
    do {
        r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(w->pidfd), &si, WEXITED | WNOHANG);
    } while (r < 0 && errno == EINTR);
    int sig = 0, status = -1;
    std::string how;
    if (r == 0 && si.si_pid != 0) {
        if (si.si_code == CLD_EXITED) {
            status = si.si_status;
            how = "exited with status " + std::to_string(status);
        } else {
            sig = si.si_status;
            how = "was killed by " + signal_text(sig);
        }
    } else {
        how = "ended (its exit status is unknown: another part of the program reaped it)";
    }
    for (int i = 0; i < pp::k_slots; ++i) {
        Slot& slot = w->slots[i];
        Job* j = slot.job;
        bool began = slot.id != 0 && started(w, i, slot.id);
        slot = {};
        if (!j) continue;
        auto error = std::make_exception_ptr(WorkerCrashedError(
            w->pid, sig, status,
            "corio::ProcessPool: worker process " + std::to_string(w->pid) + " " + how + " while running the job"));
        if (j->phase == Phase::sending) {  // its task decides once its write is over
            j->lost = true;
            j->lost_started = began;
            j->lost_error = error;
        } else if (!began) {
            requeue(j);
        } else {
            ++stats.crashed;
            finish(j, error);
        }
    }
    bool failed_to_start = !w->ready && !w->killed && !closing;
    int pid = w->pid;
    close_fds(w);
    w->pid = -1;
    w->ready = w->dead = w->killed = false;
    w->in_start = w->in_end = 0;
    if (!failed_to_start) {
        startup_failures = 0;
    } else if (++startup_failures >= 3 && !broken) {
        broken = std::make_exception_ptr(WorkerCrashedError(
            pid, sig, status,
            "corio::ProcessPool: worker processes die before they are ready (the last one, " + std::to_string(pid) +
                ", " + how + "; 3 in a row): the pool is broken"));
        fail_waiting(broken);
    }
    changed();
}

// ---- answers ----------------------------------------------------------------------------------------------------

void ProcessPool::State::on_frame(Worker* w, const pp::Header& h, const char* payload, std::size_t len) {
    if (h.kind == pp::hello) {
        w->ready = true;
        return;
    }
    int i = 0;
    while (i < pp::k_slots && (w->slots[i].id != h.id || h.id == 0)) ++i;
    if (i == pp::k_slots) return;  // not a call this worker owes an answer to
    Job* j = w->slots[i].job;
    w->slots[i] = {};
    if (h.kind == pp::skipped) {  // taken back before it started
        if (j) requeue(j);
    } else {
        ++stats.completed;
        if (j) {
            std::exception_ptr error;
            try {
                if (h.kind == pp::value_shm) {
                    std::uint64_t n = 0;
                    if (len == 8) std::memcpy(&n, payload, 8);
                    if (len != 8 || !w->shm.base || n > w->shm.area)
                        throw SerializationError("corio::ProcessPool: a malformed answer from a worker");
                    payload = w->shm.reply(i);
                    len = static_cast<std::size_t>(n);
                }
                SerialReader r(payload, len);
                if (h.kind == pp::exception) error = pp::decode_exception(r);
                else if (j->call->read_result) j->call->read_result(j->call->result, r);
            } catch (...) {
                error = std::current_exception();
            }
            finish(j, std::move(error));
        }
    }
    dispatch();
}

// The frame for the job's call: the call itself, or a notice that it is in the worker's shared memory.
void ProcessPool::State::write_call(Worker* w, Job* j, std::string& out) {
    const detail::CallSpec& c = *j->call;
    out.assign(pp::k_header, '\0');
    pp::Kind kind = pp::call;
    if (w->shm.base) {
        std::atomic_ref<std::uint64_t>(w->claim(j->slot)).store(j->id, std::memory_order_release);
        out.push_back(static_cast<char>(j->slot));
        std::size_t at = out.size();
        SerialWriter sw(w->shm.request(j->slot), w->shm.area, out);
        pp::write_call_refs(sw, c.tramp, c.fn);
        c.write_args(c.args, sw);
        if (!sw.to_string()) {
            kind = pp::call_shm;
            std::uint64_t n = sw.in_place();
            out.resize(at);
            out.append(reinterpret_cast<const char*>(&n), 8);
        }
    } else {
        out.push_back(static_cast<char>(pp::k_no_slot));
        SerialWriter sw(out);
        pp::write_call_refs(sw, c.tramp, c.fn);
        c.write_args(c.args, sw);
    }
    if (out.size() > pp::k_max_frame)
        throw SerializationError("corio::ProcessPool::submit: the arguments take more than 4 GiB");
    pp::put_header(out.data(), static_cast<std::uint32_t>(out.size() - 4), kind, j->id);
}

void ProcessPool::State::parse(Worker* w) {
    while (w->in_end - w->in_start >= 4) {
        const char* at = w->in.data() + w->in_start;
        std::uint32_t n;
        std::memcpy(&n, at, 4);
        if (n < pp::k_header - 4) {  // not our protocol: nothing more from this worker can be trusted
            kill(w);
            w->in_start = w->in_end = 0;
            return;
        }
        if (w->in_end - w->in_start < 4 + std::size_t{n}) break;
        pp::Header h = pp::get_header(at);
        on_frame(w, h, at + pp::k_header, n - (pp::k_header - 4));
        w->in_start += 4 + std::size_t{n};
    }
}

// Room for the next read: at least 64 KiB, or the rest of a larger frame.
void ProcessPool::State::prepare_read(Worker* w) {
    constexpr std::size_t k_chunk = 64 * 1024;
    if (w->in_start == w->in_end) {
        w->in_start = w->in_end = 0;
    } else if (w->in_start > 0 && w->in.size() - w->in_end < k_chunk) {
        std::memmove(w->in.data(), w->in.data() + w->in_start, w->in_end - w->in_start);
        w->in_end -= w->in_start;
        w->in_start = 0;
    }
    std::size_t want = w->in_end + k_chunk;
    if (w->in_end - w->in_start >= 4) {
        std::uint32_t n;
        std::memcpy(&n, w->in.data() + w->in_start, 4);
        want = std::max(want, w->in_start + 4 + std::size_t{n});
    }
    if (w->in.size() < want) {
        w->in.resize(want);
    } else if (w->in.size() > (std::size_t{1} << 20) && w->in_end == 0) {  // a big answer has gone
        w->in.resize(k_chunk);
        w->in.shrink_to_fit();
    }
}

Task<void> ProcessPool::State::serve(State* s, Worker* w) {
    Ref ref(s);
    ++s->readers;
    w->serving = true;
    s->dispatch();
    for (;;) {
        if (s->closed) break;
        if (w->pid < 0) {
            if (s->closing || s->broken) break;
            try {
                s->start(w);
            } catch (...) {
                s->broken = std::current_exception();
                s->fail_waiting(s->broken);
                break;
            }
            s->dispatch();
            continue;
        }
        bool cancelled = false;
        if (w->dead) {
            try {
                co_await corio::poll(w->pidfd, POLLIN);  // readable once it can be reaped
            } catch (const CancelledError&) {
                cancelled = true;
            } catch (const IoError&) {
            }
            if (cancelled || s->closed) break;
            s->reap(w);
            continue;
        }
        s->prepare_read(w);
        std::size_t n = 0;
        bool eof = false;
        try {
            n = co_await corio::recv(w->fd, w->in.data() + w->in_end, w->in.size() - w->in_end);
            eof = n == 0;
        } catch (const CancelledError&) {
            cancelled = true;
        } catch (const IoError&) {  // ECONNRESET: it died with our request unread
            eof = true;
        }
        if (cancelled) break;
        if (eof) {
            w->dead = true;
            continue;
        }
        w->in_end += n;
        s->parse(w);
    }
    w->serving = false;
    --s->readers;
    s->changed();
}

void ProcessPool::State::attach() {
    std::uint64_t id = detail::t_loop->m_id;
    if (loop_id == id) return;
    if (readers > 0)
        throw Error("corio::ProcessPool: used from a second loop while another loop still serves it; a pool "
                    "belongs to one loop at a time");
    loop_id = id;
    for (auto& w : workers) w->reader = corio::spawn(serve(this, w.get()), "corio::ProcessPool reader");
}

void ProcessPool::State::shut_down(State* s) {
    if (!s) return;
    s->closing = s->closed = true;
    auto gone = std::make_exception_ptr(
        ProcessPoolClosedError("corio::ProcessPool was destroyed while this job was waiting or running"));
    s->fail_waiting(gone);
    allow_blocking internal;  // the workers are killed, then reaped here: a fallback, close() is the graceful way
    for (auto& w : s->workers) {
        for (Slot& slot : w->slots) {
            if (slot.job) s->finish(slot.job, gone);
            slot = {};
        }
        if (w->pid >= 0) {
            pidfd_kill(w->pidfd);
            siginfo_t si;
            while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(w->pidfd), &si, WEXITED) < 0 &&
                   errno == EINTR) {
            }
            s->close_fds(w.get());
            w->pid = -1;
            ++w->generation;
        }
        if (w->serving) w->reader.cancel();
        if (w->shm.base) {
            ::munmap(w->shm.base, pp::SharedLayout::bytes_for(w->shm.area));
            ::close(w->memfd);
            w->shm = {};
            w->memfd = -1;
        }
    }
    s->changed();
    if (--s->refs == 0) delete s;
}

// ---- the pool -----------------------------------------------------------------------------------------------

ProcessPool::ProcessPool() : ProcessPool(hardware_threads()) {}

ProcessPool::ProcessPool(std::size_t workers, ProcessPoolOptions options) {
    if (workers == 0) throw std::invalid_argument("corio::ProcessPool: workers must be >= 1, got 0");
    auto s = std::make_unique<State>();
    s->options = options;
    s->argv0 = program_invocation_name && *program_invocation_name ? program_invocation_name : "corio-worker";
    s->workers.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) {
        s->workers.push_back(std::make_unique<State::Worker>());
        try {
            s->start(s->workers.back().get());
        } catch (...) {
            State::shut_down(s.release());  // reaps the ones started
            throw;
        }
    }
    m_state = s.release();
}

ProcessPool::~ProcessPool() { State::shut_down(std::exchange(m_state, nullptr)); }

Task<void> ProcessPool::run_call(const detail::CallSpec& call) {
    State* s = m_state;  // not `this`: the pool may be destroyed while this task waits
    State::Ref ref(s);
    s->check_open();
    s->attach();
    State::Job job(s, &call);
    ++s->active;
    struct Active {
        State* s;
        ~Active() {
            if (--s->active == 0) s->changed();
        }
    } active{s};
    s->submit(&job);
    std::string frame;  // this job's own: a write still in the kernel never reads a buffer reused meanwhile
    for (;;) {
        co_await State::Park{&job};
        if (job.phase == State::Phase::done) break;
        // Sending: this task writes the request itself, so the write belongs to an awaiting task.
        State::Worker* w = job.worker;
        const std::uint64_t gen = w->generation;
        try {
            s->write_call(w, &job, frame);
        } catch (...) {
            s->write_failed(&job);  // the worker got nothing: it is free again
            throw;
        }
        std::size_t off = 0;
        bool failed = false, cancelled = false;
        try {
            while (off < frame.size()) {
                if (w->generation != gen || w->fd < 0) {
                    failed = true;
                    break;
                }
                off += co_await corio::send(w->fd, frame.data() + off, frame.size() - off);
            }
        } catch (const CancelledError&) {
            cancelled = true;
        } catch (const IoError&) {  // EPIPE: it died before it read the request
            failed = true;
        }
        if (cancelled) {
            s->send_cancelled(&job, gen, off, frame.size());
            throw CancelledError();
        }
        if (frame.capacity() > (std::size_t{1} << 20)) std::string().swap(frame);
        if (failed) s->send_failed(&job, gen);
        else s->sent(&job);
    }
    if (job.cancelled) throw CancelledError();
    if (job.error) std::rethrow_exception(job.error);
}

Task<void> ProcessPool::close() {
    State* s = m_state;
    State::Ref ref(s);
    if (s->closed) co_return;
    s->closing = true;
    s->attach();  // the reader tasks reap the workers
    while (s->active > 0) co_await State::Watch(s);
    for (auto& w : s->workers)
        if (w->fd >= 0 && !w->dead) ::shutdown(w->fd, SHUT_WR);  // a worker exits at the end of its stream
    while (s->readers > 0) co_await State::Watch(s);
    s->closed = true;
}

ProcessPool::Statistics ProcessPool::statistics() const {
    Statistics st = m_state->stats;
    for (const auto& w : m_state->workers) {
        if (w->pid >= 0) ++st.workers;
        if (w->pid >= 0 && w->owed() > 0) ++st.busy;
    }
    st.queued = m_state->queue.size;
    st.waiting = m_state->room.size;
    return st;
}

std::size_t ProcessPool::size() const noexcept { return m_state->workers.size(); }

std::vector<int> ProcessPool::worker_pids() const {
    std::vector<int> pids;
    for (const auto& w : m_state->workers)
        if (w->pid >= 0) pids.push_back(w->pid);
    return pids;
}

}  // namespace corio
