// libcorio_strict: interposes the blocking libc calls and asks the core whether this thread runs a task or a
// posted function of a loop (corio_strict_check); if so, the core reports the call with the caller's stack
// (corio_strict_report), then the real function runs. Linked (corio::strict) or preloaded
// (LD_PRELOAD=libcorio_strict.so). Outside strict mode each wrapper costs one call and a thread-local read.
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern "C" {
int corio_strict_check(void) __attribute__((weak));
void corio_strict_report(const char* call) __attribute__((weak));
}

namespace {

thread_local int t_inside = 0;  // a wrapper is running on this thread: calls it makes are not checked

bool checking() {
    return t_inside == 0 && corio_strict_check && corio_strict_check() != 0;
}

void report(const char* call) {
    ++t_inside;
    int saved = errno;
    if (corio_strict_report) corio_strict_report(call);
    errno = saved;
    --t_inside;
}

// The next definition of a function (libc's). Resolved on first use into a constant-initialized atomic:
// no guarded static (whose lock could re-enter these wrappers), no data race between threads.
void* next(std::atomic<void*>& slot, const char* name, const char* version = nullptr) {
    void* f = slot.load(std::memory_order_relaxed);
    if (!f) {
        f = version ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
        slot.store(f, std::memory_order_relaxed);
    }
    return f;
}

#define CORIO_REAL(name)                                     \
    static std::atomic<void*> real_##name##_slot{nullptr};    \
    const auto real_##name = reinterpret_cast<decltype(&::name)>(next(real_##name##_slot, #name))

using fcntl_fn = int (*)(int, int, ...);
std::atomic<void*> g_fcntl{nullptr};

int real_fcntl_getfl(int fd) { return reinterpret_cast<fcntl_fn>(next(g_fcntl, "fcntl"))(fd, F_GETFL); }

bool blocking_fd(int fd) {
    int fl = real_fcntl_getfl(fd);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

void check_fd(const char* call, int fd) {
    if (checking() && blocking_fd(fd)) report(call);
}

}  // namespace

extern "C" {

unsigned sleep(unsigned s) {
    CORIO_REAL(sleep);
    if (checking()) report("sleep()");
    return real_sleep(s);
}
int usleep(useconds_t us) {
    CORIO_REAL(usleep);
    if (checking()) report("usleep()");
    return real_usleep(us);
}
int nanosleep(const timespec* req, timespec* rem) {
    CORIO_REAL(nanosleep);
    if (checking()) report("nanosleep() (std::this_thread::sleep_for)");
    return real_nanosleep(req, rem);
}
int clock_nanosleep(clockid_t c, int flags, const timespec* req, timespec* rem) {
    CORIO_REAL(clock_nanosleep);
    if (checking()) report("clock_nanosleep()");
    return real_clock_nanosleep(c, flags, req, rem);
}
int poll(pollfd* fds, nfds_t n, int timeout) {
    CORIO_REAL(poll);
    if (timeout != 0 && checking()) report("poll() with a timeout");
    return real_poll(fds, n, timeout);
}
int select(int n, fd_set* r, fd_set* w, fd_set* e, timeval* t) {
    CORIO_REAL(select);
    if ((!t || t->tv_sec || t->tv_usec) && checking()) report("select() with a timeout");
    return real_select(n, r, w, e, t);
}
int epoll_wait(int ep, epoll_event* ev, int max, int timeout) {
    CORIO_REAL(epoll_wait);
    if (timeout != 0 && checking()) report("epoll_wait() with a timeout");
    return real_epoll_wait(ep, ev, max, timeout);
}
ssize_t read(int fd, void* b, size_t n) {
    CORIO_REAL(read);
    check_fd("read() on a blocking descriptor", fd);
    return real_read(fd, b, n);
}
ssize_t write(int fd, const void* b, size_t n) {
    CORIO_REAL(write);
    if (fd > 2) check_fd("write() on a blocking descriptor", fd);  // stdout/stderr: logging, not reported
    return real_write(fd, b, n);
}
ssize_t recv(int fd, void* b, size_t n, int flags) {
    CORIO_REAL(recv);
    if (!(flags & MSG_DONTWAIT)) check_fd("recv() on a blocking socket", fd);
    return real_recv(fd, b, n, flags);
}
ssize_t send(int fd, const void* b, size_t n, int flags) {
    CORIO_REAL(send);
    if (!(flags & MSG_DONTWAIT)) check_fd("send() on a blocking socket", fd);
    return real_send(fd, b, n, flags);
}
ssize_t recvfrom(int fd, void* b, size_t n, int flags, sockaddr* a, socklen_t* l) {
    CORIO_REAL(recvfrom);
    if (!(flags & MSG_DONTWAIT)) check_fd("recvfrom() on a blocking socket", fd);
    return real_recvfrom(fd, b, n, flags, a, l);
}
ssize_t sendto(int fd, const void* b, size_t n, int flags, const sockaddr* a, socklen_t l) {
    CORIO_REAL(sendto);
    if (!(flags & MSG_DONTWAIT)) check_fd("sendto() on a blocking socket", fd);
    return real_sendto(fd, b, n, flags, a, l);
}
int accept(int fd, sockaddr* a, socklen_t* l) {
    CORIO_REAL(accept);
    check_fd("accept() on a blocking socket", fd);
    return real_accept(fd, a, l);
}
int accept4(int fd, sockaddr* a, socklen_t* l, int flags) {
    CORIO_REAL(accept4);
    check_fd("accept4() on a blocking socket", fd);
    return real_accept4(fd, a, l, flags);
}
int connect(int fd, const sockaddr* a, socklen_t l) {
    CORIO_REAL(connect);
    check_fd("connect() on a blocking socket", fd);
    return real_connect(fd, a, l);
}
int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
    CORIO_REAL(getaddrinfo);
    if (checking()) report("getaddrinfo() (use corio's resolver)");
    return real_getaddrinfo(node, service, hints, res);
}
hostent* gethostbyname(const char* name) {
    CORIO_REAL(gethostbyname);
    if (checking()) report("gethostbyname()");
    return real_gethostbyname(name);
}
int fsync(int fd) {
    CORIO_REAL(fsync);
    if (checking()) report("fsync()");
    return real_fsync(fd);
}
int fdatasync(int fd) {
    CORIO_REAL(fdatasync);
    if (checking()) report("fdatasync()");
    return real_fdatasync(fd);
}
void sync(void) {
    CORIO_REAL(sync);
    if (checking()) report("sync()");
    real_sync();
}
int system(const char* cmd) {
    CORIO_REAL(system);
    if (checking()) report("system()");
    return real_system(cmd);
}
FILE* popen(const char* cmd, const char* mode) {
    CORIO_REAL(popen);
    if (checking()) report("popen()");
    return real_popen(cmd, mode);
}
pid_t wait(int* status) {
    CORIO_REAL(wait);
    if (checking()) report("wait()");
    return real_wait(status);
}
pid_t waitpid(pid_t pid, int* status, int options) {
    CORIO_REAL(waitpid);
    if (!(options & WNOHANG) && checking()) report("waitpid() without WNOHANG");
    return real_waitpid(pid, status, options);
}
int flock(int fd, int op) {
    CORIO_REAL(flock);
    if (!(op & LOCK_NB) && (op & (LOCK_SH | LOCK_EX)) && checking()) report("flock() without LOCK_NB");
    return real_flock(fd, op);
}
int fcntl(int fd, int cmd, ...) {
    const auto real_fcntl = reinterpret_cast<fcntl_fn>(next(g_fcntl, "fcntl"));
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    if ((cmd == F_SETLKW || cmd == F_OFD_SETLKW) && checking()) report("fcntl(F_SETLKW)");
    return real_fcntl(fd, cmd, arg);
}
int pthread_join(pthread_t t, void** ret) {
    CORIO_REAL(pthread_join);
    if (checking()) report("pthread_join() (std::thread::join)");
    return real_pthread_join(t, ret);
}
int pthread_mutex_lock(pthread_mutex_t* m) {
    CORIO_REAL(pthread_mutex_lock);
    if (t_inside == 0 && corio_strict_check && corio_strict_check() != 0) {
        CORIO_REAL(pthread_mutex_trylock);
        int r = real_pthread_mutex_trylock(m);
        if (r == 0) return 0;                  // free: not a blocking wait
        if (r == EBUSY) report("pthread_mutex_lock() on a contended mutex (std::mutex)");
    }
    return real_pthread_mutex_lock(m);
}
int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
    static std::atomic<void*> slot{nullptr};
    const auto real_wait = reinterpret_cast<int (*)(pthread_cond_t*, pthread_mutex_t*)>(
        next(slot, "pthread_cond_wait", "GLIBC_2.3.2"));
    if (checking()) report("pthread_cond_wait() (std::condition_variable::wait)");
    return real_wait(c, m);
}

}  // extern "C"
