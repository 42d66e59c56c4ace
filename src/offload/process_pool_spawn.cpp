// Starting worker processes: the spawner thread, which runs every posix_spawn of /proc/self/exe for the
// process's pools, and the pool's side of it (a slot's shared memory, adopting the process started).
//
// One spawner per process, started on first use and never stopped (its state is never freed: the thread
// lives until the process exits); a forked child that uses a pool starts its own. It blocks every signal, so
// that the program's signals go to the program's threads. Requests are a FIFO under a mutex; a finished one
// goes back to its loop through the loop's inbox, or sets `done` for a thread that waits (the constructor).
#include "process_pool_state.hpp"

#include <corio/strict.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace corio {

namespace {

struct Spawner {
    std::mutex mutex;
    std::condition_variable cv;
    pp::SpawnRequest* head = nullptr;
    pp::SpawnRequest* tail = nullptr;
    pid_t pid = 0;  // the process it belongs to
};

Spawner* g_spawner = nullptr;  // guarded by spawner_guard()

std::mutex& spawner_guard() {
    static auto* m = new std::mutex;  // never destroyed: usable until the very end
    return *m;
}

/// A descriptor number above the ones a worker's file actions set up (3: socket, 4: shared memory, 5: the
/// shared heap).
int above_fixed(int fd) noexcept {
    if (fd > pp::k_worker_heapfd) return fd;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, pp::k_worker_heapfd + 1);
    int e = errno;
    ::close(fd);
    errno = e;
    return moved;
}

// On the spawner thread: a socketpair, then posix_spawn of /proc/self/exe with the worker's end as fd 3,
// the shared memory as fd 4, /dev/null as stdin, default signal dispositions and an empty mask.
void spawn_worker(pp::SpawnRequest& r) {
    auto fail = [&r](const char* op, int err) {
        r.op = op;
        r.error = err;
    };
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return fail("socketpair", errno);
    int child = above_fixed(sv[1]);
    if (child < 0) {
        int e = errno;
        ::close(sv[0]);
        return fail("fcntl", e);
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&fa, child, pp::k_worker_fd);
    if (r.memfd >= 0) ::posix_spawn_file_actions_adddup2(&fa, r.memfd, pp::k_worker_memfd);
    if (r.heapfd >= 0) ::posix_spawn_file_actions_adddup2(&fa, r.heapfd, pp::k_worker_heapfd);
    ::posix_spawn_file_actions_addclosefrom_np(&fa, pp::k_worker_heapfd + 1);  // whatever the parent leaked
    ::posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setsigdefault(&attr, &all);  // an ignored SIGPIPE or SIGCHLD of the parent stays there
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::string ours = std::string(pp::k_env) + "=" + std::to_string(pp::k_worker_fd) + ":" +
                       (r.memfd >= 0 ? std::to_string(pp::k_worker_memfd) : std::string("-1")) + ":" +
                       std::to_string(::getpid()) + ":" +
                       (r.heapfd >= 0 ? std::to_string(pp::k_worker_heapfd) : std::string("-1")) + ":" +
                       std::to_string(r.heap_id);
    std::vector<char*> env;
    std::size_t prefix = std::strlen(pp::k_env);
    for (char** e = environ; e && *e; ++e)
        if (std::strncmp(*e, pp::k_env, prefix) != 0 || (*e)[prefix] != '=') env.push_back(*e);
    env.push_back(ours.data());
    env.push_back(nullptr);
    char* argv[] = {r.argv0.data(), nullptr};

    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, env.data());
    ::posix_spawn_file_actions_destroy(&fa);
    ::posix_spawnattr_destroy(&attr);
    ::close(child);
    if (rc != 0) {
        ::close(sv[0]);
        return fail("posix_spawn of /proc/self/exe", rc);
    }
    int pidfd = pp::pidfd_open(pid);
    if (pidfd < 0) {
        int e = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        ::close(sv[0]);
        return fail("pidfd_open", e);
    }
    ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    r.pid = pid;
    r.pidfd = pidfd;
    r.fd = sv[0];
}

void serve_spawns(Spawner* s) {
    for (;;) {
        pp::SpawnRequest* r;
        {
            std::unique_lock lock(s->mutex);
            s->cv.wait(lock, [s] { return s->head != nullptr; });
            r = s->head;
            s->head = r->next;
            if (!s->head) s->tail = nullptr;
        }
        spawn_worker(*r);
        if (r->home) {
            detail::remote_push(r->home, r);  // the last touch: the loop may free it at once
        } else {
            r->done.store(true, std::memory_order_release);
            r->done.notify_all();
        }
    }
}

}  // namespace

void pp::spawn_async(SpawnRequest* r) {
    allow_blocking internal;  // the spawner's mutexes are held for a few instructions
    Spawner* s;
    {
        std::lock_guard lock(spawner_guard());
        if (!g_spawner || g_spawner->pid != ::getpid()) {
            auto* fresh = new Spawner;
            fresh->pid = ::getpid();
            sigset_t all, old;
            sigfillset(&all);
            ::pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread starts with every signal blocked
            try {
                std::thread(serve_spawns, fresh).detach();
            } catch (...) {
                ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
                delete fresh;
                throw;
            }
            ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
            g_spawner = fresh;
        }
        s = g_spawner;
    }
    {
        std::lock_guard lock(s->mutex);
        r->next = nullptr;
        (s->tail ? s->tail->next : s->head) = r;
        s->tail = r;
    }
    s->cv.notify_one();
}

void pp::discard(SpawnRequest& r) noexcept {
    if (r.pid < 0) return;
    allow_blocking internal;  // a process just started: it dies at once
    kill_and_reap(r.pidfd);
    ::close(r.pidfd);
    ::close(r.fd);
    r.pid = r.pidfd = r.fd = -1;
}

void ProcessPool::State::prepare(Worker* w, pp::SpawnRequest& r) {
    if (options.shared_memory > 0 && w->memfd < 0) {
        std::size_t area = (options.shared_memory / (2 * pp::k_slots) + 4095) & ~std::size_t{4095};
        std::size_t bytes = pp::SharedLayout::bytes_for(area);
        detail::MappedMemfd m = detail::map_memfd("corio-process-pool", bytes, pp::k_worker_heapfd + 1);
        w->memfd = m.fd;
        w->shm.base = m.base;
        w->shm.area = area;
    }
    r.argv0 = argv0;
    r.memfd = w->memfd;
    r.heapfd = heap ? heap->fd() : -1;
    r.heap_id = heap ? heap->id() : 0;
}

void ProcessPool::State::adopt(Worker* w, pp::SpawnRequest& r) {
    if (r.pid < 0) throw IoError(r.op ? r.op : "posix_spawn", -1, r.error);
    w->pid = std::exchange(r.pid, -1);
    w->pidfd = std::exchange(r.pidfd, -1);
    w->fd = std::exchange(r.fd, -1);
    w->ready = w->dead = w->eof = w->killed = w->draining = false;
    for (Slot& s : w->slots) s = {};
    w->in_start = w->in_end = 0;
    ++w->generation;
    ++stats.started;
}

}  // namespace corio
