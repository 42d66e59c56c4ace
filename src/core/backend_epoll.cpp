// The epoll backend: readiness-based. Each descriptor is registered once, edge-triggered, the first time an
// operation uses it (and made non-blocking). An operation is tried at once when the descriptor is believed
// ready in its direction; on EAGAIN it parks on the descriptor's list until an event says to try again.
#include "io_backend.hpp"

#include <corio/error.hpp>

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace corio::detail {
namespace {

constexpr std::uint32_t k_in = EPOLLIN;
constexpr std::uint32_t k_out = EPOLLOUT;

std::uint32_t direction(const IoOp* op) noexcept {
    switch (op->m_kind) {
        case IoOp::Kind::read:
        case IoOp::Kind::recv:
        case IoOp::Kind::accept: return k_in;
        case IoOp::Kind::poll: return static_cast<std::uint32_t>(op->m_flags) & (k_in | k_out);
        default: return k_out;
    }
}

int result(ssize_t r) noexcept { return r < 0 ? -errno : static_cast<int>(r); }

/// What attempt() returns for connect(2)'s own EAGAIN (a Unix listener whose backlog is full): unlike
/// EINPROGRESS nothing is under way, the socket stays unconnected and no event will say when there is room,
/// so it is the operation's result (-EAGAIN), not a reason to park. Taken for "in progress", the first
/// EPOLLOUT (an unconnected socket is writable) found SO_ERROR 0 and reported a connection to nothing.
constexpr int k_connect_eagain = INT_MIN;

/// attempt()'s result as the operation's.
int outcome(int r) noexcept { return r == k_connect_eagain ? -EAGAIN : r; }

/// Performs the operation's system call once, without blocking; -EAGAIN when it would block.
int attempt(IoOp* op) noexcept {
    switch (op->m_kind) {
        case IoOp::Kind::read:
            return result(op->m_offset == ~0ull ? ::read(op->m_fd, op->m_buf, op->m_len)
                                                : ::pread(op->m_fd, op->m_buf, op->m_len, static_cast<off_t>(op->m_offset)));
        case IoOp::Kind::write:
            return result(op->m_offset == ~0ull ? ::write(op->m_fd, op->m_buf, op->m_len)
                                                : ::pwrite(op->m_fd, op->m_buf, op->m_len, static_cast<off_t>(op->m_offset)));
        case IoOp::Kind::recv: return result(::recv(op->m_fd, op->m_buf, op->m_len, op->m_flags));
        case IoOp::Kind::send: return result(::send(op->m_fd, op->m_buf, op->m_len, op->m_flags));
        case IoOp::Kind::accept:
            return result(::accept4(op->m_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        case IoOp::Kind::connect: {
            if (op->m_state == IoOp::pending) {  // in progress: the outcome is the socket's error
                int err = 0;
                socklen_t len = sizeof err;
                if (::getsockopt(op->m_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
                return -err;
            }
            int r = ::connect(op->m_fd, op->m_addr, op->m_addrlen);
            if (r == 0) return 0;
            if (errno == EAGAIN) return k_connect_eagain;
            return errno == EINPROGRESS ? -EAGAIN : -errno;
        }
        case IoOp::Kind::poll: {
            pollfd p{op->m_fd, static_cast<short>(op->m_flags), 0};
            int r = ::poll(&p, 1, 0);
            if (r < 0) return -errno;
            return r == 0 ? -EAGAIN : p.revents;
        }
        case IoOp::Kind::fsync:
            return result(op->m_flags ? ::fdatasync(op->m_fd) : ::fsync(op->m_fd));
        case IoOp::Kind::openat:
            return result(::openat(op->m_fd, static_cast<const char*>(op->m_buf), op->m_flags,
                                   static_cast<mode_t>(op->m_offset)));
        case IoOp::Kind::accept_multi: return -EOPNOTSUPP;
    }
    return -EINVAL;
}

class EpollBackend final : public IoBackend {
public:
    explicit EpollBackend(int wake_fd) : m_wake_fd(wake_fd) {
        m_ep = ::epoll_create1(EPOLL_CLOEXEC);
        if (m_ep < 0) throw IoError("epoll_create1", -1, errno);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = wake_fd;
        if (::epoll_ctl(m_ep, EPOLL_CTL_ADD, wake_fd, &ev) < 0) {
            int e = errno;
            ::close(m_ep);
            throw IoError("epoll_ctl", wake_fd, e);
        }
    }
    ~EpollBackend() override { ::close(m_ep); }

    Backend kind() const noexcept override { return Backend::epoll; }

    bool submit(IoOp* op) override {
        if (op->m_kind == IoOp::Kind::accept_multi) {  // io_uring only: net/ accepts one by one here
            op->m_res = -EOPNOTSUPP;
            return true;
        }
        if (op->m_kind == IoOp::Kind::fsync || op->m_kind == IoOp::Kind::openat) {
            op->m_res = attempt(op);  // file metadata: done in place (fs/ sends these to the thread pool instead)
            return true;
        }
        if (op->m_fd < 0) {
            op->m_res = -EBADF;
            return true;
        }
        FdState& s = state(op->m_fd);
        if (!s.registered) enroll(op->m_fd, s);
        if (!s.pollable) {  // a regular file: always "ready", the call itself may block briefly
            op->m_res = attempt(op);
            return true;
        }
        std::uint32_t dir = direction(op);
        if ((s.ready & dir) && !s.has_parked(dir)) {
            int r = attempt(op);
            if (r != -EAGAIN) {
                r = outcome(r);
                note_short(s, op, r);
                op->m_res = r;
                op->m_state = IoOp::done;
                return true;
            }
            s.ready &= ~dir;
        }
        op->m_state = IoOp::pending;
        s.park(op);
        ++m_parked;
        return false;
    }

    void cancel(IoOp* op) noexcept override {
        if (op->m_state != IoOp::pending) return;
        unpark(state(op->m_fd), op);
        complete(op, -ECANCELED);
    }

    void forget(int fd) noexcept override {
        if (fd < 0 || static_cast<std::size_t>(fd) >= m_fds.size()) return;
        FdState& s = m_fds[static_cast<std::size_t>(fd)];
        while (IoOp* op = s.head) {
            unpark(s, op);
            complete(op, -EBADF);
        }
        if (s.registered && s.pollable) ::epoll_ctl(m_ep, EPOLL_CTL_DEL, fd, nullptr);
        s = FdState{};
    }

    bool busy() const noexcept override { return m_parked > 0; }

    void wait(std::int64_t timeout_ns) override {
        int ms = timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
        int n = ::epoll_wait(m_ep, m_events, k_max_events, ms);
        if (n < 0) {
            if (errno == EINTR) return;
            throw IoError("epoll_wait", m_ep, errno);
        }
        for (int i = 0; i < n; ++i) {
            int fd = m_events[i].data.fd;
            std::uint32_t ev = m_events[i].events;
            if (fd == m_wake_fd) {
                std::uint64_t v;
                [[maybe_unused]] auto r = ::read(m_wake_fd, &v, sizeof v);
                continue;
            }
            if (static_cast<std::size_t>(fd) >= m_fds.size()) continue;
            dispatch(m_fds[static_cast<std::size_t>(fd)], ev);
        }
    }

private:
    struct FdState {
        IoOp* head = nullptr;
        IoOp* tail = nullptr;
        std::uint32_t ready = 0;
        bool registered = false;
        bool pollable = true;
        bool stream = false;  // a stream socket: a short read or write means the buffer is drained or full
        bool in_closed = false;  // the peer's end of stream (or an error) was reported: reads never wait again

        bool has_parked(std::uint32_t dir) const noexcept {
            for (IoOp* o = head; o; o = o->m_park_next)
                if (o->m_kind != IoOp::Kind::poll && (direction(o) & dir)) return true;
            return false;
        }
        void park(IoOp* op) noexcept {
            op->m_park_next = nullptr;
            op->m_park_prev = tail;
            if (tail) tail->m_park_next = op;
            else head = op;
            tail = op;
        }
    };

    FdState& state(int fd) {
        auto i = static_cast<std::size_t>(fd);
        if (i >= m_fds.size()) m_fds.resize(i + 64);
        return m_fds[i];
    }

    void enroll(int fd, FdState& s) {
        s.registered = true;
        int fl = ::fcntl(fd, F_GETFL);
        if (fl >= 0 && !(fl & O_NONBLOCK)) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = fd;
        if (::epoll_ctl(m_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            if (errno == EPERM) {
                s.pollable = false;  // regular files and directories cannot be polled
                return;
            }
            if (errno != EEXIST) {
                s.registered = false;
                throw IoError("epoll_ctl", fd, errno);
            }
        }
        s.ready = k_in | k_out;  // assume ready: the first attempt tells
        int type = 0;
        socklen_t len = sizeof type;
        s.stream = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
    }

    /// After a successful attempt: a short transfer on a stream socket drained the receive buffer (or filled
    /// the send buffer), so the next operation in that direction waits for the next edge instead of
    /// spending a system call on EAGAIN (Tokio does the same).
    static void note_short(FdState& s, const IoOp* op, int r) noexcept {
        if (!s.stream || r < 0 || static_cast<std::uint32_t>(r) >= op->m_len) return;
        switch (op->m_kind) {
            case IoOp::Kind::read:
            case IoOp::Kind::recv:
                // Not after the end of stream was reported: its edge is spent, and the next read returns 0.
                if (r > 0 && !s.in_closed && !(op->m_flags & MSG_PEEK)) s.ready &= ~k_in;
                break;
            case IoOp::Kind::write:
            case IoOp::Kind::send: s.ready &= ~k_out; break;
            default: break;
        }
    }

    void unpark(FdState& s, IoOp* op) noexcept {
        if (op->m_park_prev) op->m_park_prev->m_park_next = op->m_park_next;
        else s.head = op->m_park_next;
        if (op->m_park_next) op->m_park_next->m_park_prev = op->m_park_prev;
        else s.tail = op->m_park_prev;
        op->m_park_next = op->m_park_prev = nullptr;
        --m_parked;
    }

    void dispatch(FdState& s, std::uint32_t ev) {
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.ready |= k_in;
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.in_closed = true;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s.ready |= k_out;
        std::uint32_t blocked = 0;  // directions that hit EAGAIN in this pass: later ops wait their turn
        for (IoOp* op = s.head; op;) {
            IoOp* next = op->m_park_next;
            if (op->m_kind == IoOp::Kind::poll) {
                auto want = static_cast<std::uint32_t>(op->m_flags) | EPOLLERR | EPOLLHUP;
                if (ev & want) {
                    unpark(s, op);
                    complete(op, static_cast<int>(ev & (want | EPOLLRDHUP)));
                }
            } else {
                std::uint32_t dir = direction(op);
                if ((s.ready & dir) && !(blocked & dir)) {
                    int r = attempt(op);
                    if (r == -EAGAIN) {
                        s.ready &= ~dir;
                        blocked |= dir;
                    } else {  // (a parked connect only reads SO_ERROR: k_connect_eagain comes from submit)
                        note_short(s, op, r);
                        unpark(s, op);
                        complete(op, r);
                    }
                }
            }
            op = next;
        }
    }

    static constexpr int k_max_events = 256;
    int m_ep = -1;
    int m_wake_fd;
    std::vector<FdState> m_fds;
    std::size_t m_parked = 0;
    epoll_event m_events[k_max_events];
};

}  // namespace

std::unique_ptr<IoBackend> make_epoll_backend(int wake_fd) { return std::make_unique<EpollBackend>(wake_fd); }

}  // namespace corio::detail
