// corio::ProcessPool's API, and the static initializer that turns a copy of the program into a worker.
#include "process_pool_state.hpp"

#include "../core/loop.hpp"

#include <corio/io.hpp>
#include <corio/strict.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <csignal>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

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

bool g_worker = false;  // this process is a worker (set before the program's later initializers run)

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
    if (!rest || *rest != ':') return;
    long heapfd = std::strtol(rest + 1, &rest, 10);
    if (!rest || *rest != ':') return;
    unsigned long long heap_id = std::strtoull(rest + 1, &rest, 10);
    if (!rest || *rest != '\0' || fd < 0 || parent <= 0) return;
    ::unsetenv(pp::k_env);                   // what this worker starts is no worker
    g_worker = true;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);      // die with the parent...
    if (::getppid() != parent) _exit(0);     // ...which may be gone already
    // Ctrl-C at a terminal goes to the whole process group: the parent decides what its workers do
    // (a cancelled call kills its worker, a closed pool ends them), so a worker ignores SIGINT.
    ::signal(SIGINT, SIG_IGN);
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    if (__init_array_start && __init_array_end) {
        std::size_t n = static_cast<std::size_t>(__init_array_end - __init_array_start);
        for (std::size_t i = 0; i < n; ++i)
            if (__init_array_start[i] == &corio_process_pool_entry) {
                for (std::size_t j = i + 1; j < n; ++j) __init_array_start[j](argc, argv, environ);
                break;
            }
    }
    if (heapfd >= 0 && !detail::map_worker_heap(static_cast<int>(heapfd), heap_id)) _exit(3);
    pp::worker_main(static_cast<int>(fd), static_cast<int>(memfd));
}

}  // namespace

// ---- the pool -----------------------------------------------------------------------------------------------

ProcessPool::ProcessPool() : ProcessPool(static_cast<std::size_t>(detail::usable_cpus())) {}

ProcessPool::ProcessPool(std::size_t workers, ProcessPoolOptions options) {
    if (workers == 0) throw std::invalid_argument("corio::ProcessPool: workers must be >= 1, got 0");
    auto s = std::make_unique<State>();
    s->options = options;
    if (options.shared_heap > 0) s->heap = detail::SharedHeap::create(options.shared_heap, pp::k_worker_heapfd + 1);
    s->argv0 = program_invocation_name && *program_invocation_name ? program_invocation_name : "corio-worker";
    s->workers.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) s->workers.push_back(std::make_unique<State::Worker>());
    if (g_worker || std::getenv(pp::k_env)) {
        // A pool made in a worker — a global of the program, built again in each copy: starting workers now
        // would have each of them start more. Its workers start when it is first used, if ever.
        m_state = s.release();
        return;
    }
    // Every worker is asked for at once; the spawner starts them one after the other.
    std::vector<std::unique_ptr<pp::SpawnRequest>> requests(workers);
    std::exception_ptr error;
    for (std::size_t i = 0; i < workers && !error; ++i) {
        requests[i] = std::make_unique<pp::SpawnRequest>();
        try {
            s->prepare(s->workers[i].get(), *requests[i]);
            pp::spawn_async(requests[i].get());
        } catch (...) {
            error = std::current_exception();
            requests[i].reset();
        }
    }
    for (std::size_t i = 0; i < workers; ++i) {
        if (!requests[i]) continue;
        {
            allow_blocking internal;  // constructing a pool waits for its workers' exec
            requests[i]->done.wait(false, std::memory_order_acquire);
        }
        if (error) {
            pp::discard(*requests[i]);
            continue;
        }
        try {
            s->adopt(s->workers[i].get(), *requests[i]);
        } catch (...) {
            error = std::current_exception();
        }
    }
    if (error) {
        State::shut_down(s.release());  // reaps the ones started
        std::rethrow_exception(error);
    }
    m_state = s.release();
}

ProcessPool::~ProcessPool() { State::shut_down(std::exchange(m_state, nullptr)); }

ProcessPool::Handle::Handle(State* s) noexcept : m_s(s) { ++s->refs; }

ProcessPool::Handle::~Handle() {
    if (m_s) State::unref(m_s);
}

// `s` is kept alive by the submit()'s Handle; the pool itself may be gone.
Task<void> ProcessPool::run_call(State* s, const detail::CallSpec& call) {
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
        bool failed = false, cancelled = false, writing = false, refused = false, alive = false;
        bool big = frame.size() > State::k_atomic_write;
        try {
            co_await State::WriteTurn(s, w, big);  // frames never interleave on the socket
            writing = true;
            while (off < frame.size()) {
                if (w->generation != gen || w->fd < 0) {
                    failed = true;
                    break;
                }
                if (off == 0 && w->draining) {  // half a request is in its socket: it would never read this one
                    refused = true;
                    break;
                }
                off += co_await corio::send(w->fd, frame.data() + off, frame.size() - off);
            }
        } catch (const CancelledError&) {
            cancelled = true;
        } catch (const IoError& e) {  // EPIPE: it died before it read the request
            failed = true;
            alive = e.code() != EPIPE && e.code() != ECONNRESET;
        }
        if (writing) s->end_write(w, big);
        if (cancelled) {
            s->send_cancelled(&job, gen, off, frame.size());
            throw CancelledError();
        }
        if (frame.capacity() > (std::size_t{1} << 20)) std::string().swap(frame);
        if (failed) s->send_failed(&job, gen, alive);
        else if (refused) s->send_refused(&job);
        else s->sent(&job);
    }
    if (job.cancelled) throw CancelledError();
    if (job.error) std::rethrow_exception(job.error);
}

Task<void> ProcessPool::close_state(Handle pool) {
    State* s = pool.get();
    if (s->closed) co_return;
    s->closing = true;
    s->attach();  // the reader tasks reap the workers
    while (s->active > 0) co_await State::Watch(s);
    for (auto& w : s->workers)
        // A worker exits at the end of its stream: also one marked dead that might still be alive (a defence:
        // those the pool gives up on are killed), else its reader would wait for its end for ever.
        if (w->fd >= 0) ::shutdown(w->fd, SHUT_WR);
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

std::shared_ptr<detail::SharedHeap> ProcessPool::shared_heap() const { return m_state->heap; }

std::size_t ProcessPool::size() const noexcept { return m_state->workers.size(); }

std::vector<int> ProcessPool::worker_pids() const {
    std::vector<int> pids;
    for (const auto& w : m_state->workers)
        if (w->pid >= 0) pids.push_back(w->pid);
    return pids;
}

}  // namespace corio
