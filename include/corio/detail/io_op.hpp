#pragma once
// A kernel I/O operation in flight, as the backends see it. Not part of the public API.

#include <corio/detail/promise.hpp>

#include <cerrno>
#include <cstdint>
#include <sys/socket.h>

namespace corio::detail {

struct IoOp {
    enum class Kind : std::uint8_t { read, write, recv, send, accept, connect, poll, fsync, openat, accept_multi };
    // accept_multi (io_uring only): a multishot accept; m_on_done is called for every connection with
    // m_state still `pending` while the kernel keeps it armed, and once more with `done` at its end.
    enum State : std::uint8_t { idle, pending, done };

    Kind m_kind;
    State m_state = idle;
    int m_fd;
    void* m_buf = nullptr;                 // openat: the path (m_fd is the directory fd)
    std::uint32_t m_len = 0;
    int m_flags = 0;                       // recv/send flags, poll events, fsync flags, openat flags
    std::uint64_t m_offset = ~0ull;        // read/write: ~0 means the file position; openat: the mode
    sockaddr* m_addr = nullptr;            // connect: the address; accept: where to store the peer
    socklen_t m_addrlen = 0;
    int m_res = 0;                         // result: >= 0, or -errno
    TaskNode* m_node = nullptr;            // woken when done
    void (*m_on_done)(IoOp*) = nullptr;    // internal operations: called instead of waking a node
    IoOp* m_park_next = nullptr;           // epoll: the fd's list of waiting operations
    IoOp* m_park_prev = nullptr;

    IoOp(Kind k, int fd) noexcept : m_kind(k), m_fd(fd) {}
};

/// Starts `op` on the running loop's backend. Returns true when it completed at once (m_res is set);
/// otherwise the node is woken (or m_on_done called) when it completes.
bool io_submit(IoOp* op);
/// Asks the backend to cancel `op`; it still completes (with -ECANCELED, or its result if it won the race).
void io_cancel(IoOp* op) noexcept;

[[noreturn]] void throw_io_error(IoOp::Kind kind, int fd, int err);

/// The awaiter of every low-level I/O operation. R is what await_resume returns, made from m_res.
template <class R>
struct IoAwaiter final : CancelHook {
    IoOp m_op;

    IoAwaiter(IoOp::Kind k, int fd) noexcept : m_op(k, fd) {}
    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        TaskNode* n = h.promise().m_node;
        m_op.m_node = n;
        if (n->cancelled()) {
            m_op.m_res = -ECANCELED;
            return false;
        }
        n->m_resume = h;
        if (io_submit(&m_op)) {
            if (!budget_exhausted(*t_loop)) return false;
            t_loop->schedule(n);  // completed, but the task has run long enough: let others run first
            return true;
        }
        n->m_wait = this;
        return true;
    }
    R await_resume() const {
        if (m_op.m_res < 0) {
            // io_uring cancels an operation that a worker thread runs blocking (a Unix connect waiting for
            // room in a full backlog, a read of a slow file) by interrupting it: -EINTR, not -ECANCELED.
            if ((m_op.m_res == -ECANCELED || m_op.m_res == -EINTR) && m_op.m_node->cancelled()) throw_cancelled();
            throw_io_error(m_op.m_kind, m_op.m_fd, -m_op.m_res);
        }
        if constexpr (!std::is_void_v<R>) return static_cast<R>(m_op.m_res);
    }
    void cancel() noexcept override { io_cancel(&m_op); }
    operator Task<R>() && { return as_task(std::move(*this)); }
};

}  // namespace corio::detail
