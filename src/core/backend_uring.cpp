// The io_uring backend: completion-based. Operations become SQEs whose user_data is the IoOp; one
// io_uring_enter per loop turn both submits and waits (or only reaps, when tasks are ready to run).
// Set up single-issuer + deferred task running where the kernel has them (6.1+), else plain.
#include "io_backend.hpp"

#include <corio/error.hpp>

#include <cerrno>
#include <cstring>
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

namespace corio::detail {
namespace {

class UringBackend final : public IoBackend {
public:
    UringBackend(int wake_fd) : m_wake(IoOp::Kind::read, wake_fd) {}

    int init() {
        io_uring_params p{};
        p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        int r = io_uring_queue_init_params(k_entries, &m_ring, &p);
        if (r == -EINVAL) {
            p = {};
            r = io_uring_queue_init_params(k_entries, &m_ring, &p);
        }
        if (r < 0) return r;
        m_ready = true;
        arm_wake();  // the eventfd read that other threads' wakes complete
        return 0;
    }

    ~UringBackend() override {
        if (!m_ready) return;
        io_uring_submit(&m_ring);  // queued closes (close_soon) run now
        io_uring_queue_exit(&m_ring);
    }

    // Closing a descriptor does not end the ring's operations on it (they hold the file): cancel them
    // first (they complete with -ECANCELED), as the epoll backend fails its parked ones with -EBADF.
    void close_soon(int fd) noexcept override {
        io_uring_sqe* cancel = sqe_or_null();
        io_uring_sqe* close = cancel ? sqe_or_null() : nullptr;
        if (!close) {  // no room even after a submit: do it in place
            forget(fd);
            ::close(fd);
            return;
        }
        prep_cancel_fd(cancel, fd);
        io_uring_prep_close(close, fd);
        io_uring_sqe_set_data(close, nullptr);
        close->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }

    /// Before a close in place: the cancellation must reach the kernel while the number is still this file.
    void forget(int fd) noexcept override {
        io_uring_sqe* sqe = sqe_or_null();
        if (!sqe) return;
        prep_cancel_fd(sqe, fd);
        io_uring_submit(&m_ring);
    }

    Backend kind() const noexcept override { return Backend::io_uring; }

    bool submit(IoOp* op) override {
        io_uring_sqe* sqe = get_sqe();
        switch (op->m_kind) {
            case IoOp::Kind::read: io_uring_prep_read(sqe, op->m_fd, op->m_buf, op->m_len, op->m_offset); break;
            case IoOp::Kind::write: io_uring_prep_write(sqe, op->m_fd, op->m_buf, op->m_len, op->m_offset); break;
            case IoOp::Kind::recv: io_uring_prep_recv(sqe, op->m_fd, op->m_buf, op->m_len, op->m_flags); break;
            case IoOp::Kind::send: io_uring_prep_send(sqe, op->m_fd, op->m_buf, op->m_len, op->m_flags); break;
            case IoOp::Kind::accept: io_uring_prep_accept(sqe, op->m_fd, nullptr, nullptr, SOCK_CLOEXEC); break;
            case IoOp::Kind::connect: io_uring_prep_connect(sqe, op->m_fd, op->m_addr, op->m_addrlen); break;
            case IoOp::Kind::poll:
                io_uring_prep_poll_add(sqe, op->m_fd, static_cast<unsigned>(op->m_flags) & 0xffffu);
                break;
            case IoOp::Kind::accept_multi: io_uring_prep_multishot_accept(sqe, op->m_fd, nullptr, nullptr, SOCK_CLOEXEC); break;
            case IoOp::Kind::fsync: io_uring_prep_fsync(sqe, op->m_fd, static_cast<unsigned>(op->m_flags)); break;
            case IoOp::Kind::openat:
                io_uring_prep_openat(sqe, op->m_fd, static_cast<const char*>(op->m_buf), op->m_flags,
                                     static_cast<mode_t>(op->m_offset));
                break;
        }
        io_uring_sqe_set_data(sqe, op);
        op->m_state = IoOp::pending;
        ++m_inflight;
        return false;
    }

    void cancel(IoOp* op) noexcept override {
        if (op->m_state != IoOp::pending) return;
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(op), 0);
        io_uring_sqe_set_data(sqe, nullptr);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }


    bool busy() const noexcept override {
        if (m_inflight > 0) return true;
        unsigned ready = io_uring_sq_ready(&m_ring);
        // The wake read that reap() re-armed and nothing has submitted yet is no I/O anyone waits for: with
        // it alone, the loop may still spin for thread-pool results before it sleeps.
        if (ready == 1 && m_ring.sq.sqe_tail - 1 == m_wake_index) return false;
        return ready > 0;
    }

    void wait(std::int64_t timeout_ns) override {
        int r;
        if (timeout_ns == 0) {
            r = io_uring_submit_and_get_events(&m_ring);
        } else if (timeout_ns < 0) {
            r = io_uring_submit_and_wait(&m_ring, 1);
        } else {
            __kernel_timespec ts{};
            ts.tv_sec = timeout_ns / 1'000'000'000;
            ts.tv_nsec = timeout_ns % 1'000'000'000;
            io_uring_cqe* cqe = nullptr;
            r = io_uring_submit_and_wait_timeout(&m_ring, &cqe, 1, &ts, nullptr);
        }
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            throw IoError("io_uring_enter", m_ring.ring_fd, -r);
        reap();
    }

private:
    static constexpr unsigned k_entries = 4096;

    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&m_ring);
        if (!sqe) {  // the submission queue is full: hand it to the kernel now
            io_uring_submit(&m_ring);
            sqe = io_uring_get_sqe(&m_ring);
            if (!sqe) throw Error("io_uring: no submission queue entry available");
        }
        return sqe;
    }

    /// Cancels every operation on `fd`; only a failure (nothing to cancel) posts a completion, skipped by reap.
    static void prep_cancel_fd(io_uring_sqe* sqe, int fd) noexcept {
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data(sqe, nullptr);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }

    io_uring_sqe* sqe_or_null() noexcept {
        io_uring_sqe* sqe = io_uring_get_sqe(&m_ring);
        if (!sqe) {
            io_uring_submit(&m_ring);
            sqe = io_uring_get_sqe(&m_ring);
        }
        return sqe;
    }

    void arm_wake() {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_read(sqe, m_wake.m_fd, &m_wake_value, sizeof m_wake_value, 0);
        io_uring_sqe_set_data(sqe, &m_wake);
        m_wake.m_state = IoOp::pending;
        m_wake_index = m_ring.sq.sqe_tail - 1;
    }

    void reap() {
        unsigned head;
        unsigned count = 0;
        io_uring_cqe* cqe;
        bool rearm = false;
        io_uring_for_each_cqe(&m_ring, head, cqe) {
            ++count;
            auto* op = static_cast<IoOp*>(io_uring_cqe_get_data(cqe));
            if (!op) continue;  // a cancellation request's own (failed) completion
            if (op == &m_wake) {
                rearm = true;
                continue;
            }
            if (cqe->flags & IORING_CQE_F_MORE) {  // a multishot operation's result; it stays armed
                op->m_res = cqe->res;
                op->m_on_done(op);
                continue;
            }
            --m_inflight;
            complete(op, cqe->res);
        }
        io_uring_cq_advance(&m_ring, count);
        if (rearm) arm_wake();
    }

    io_uring m_ring{};
    bool m_ready = false;
    std::size_t m_inflight = 0;
    IoOp m_wake;
    unsigned m_wake_index = ~0u;  // the SQ position of the wake read's last arming
    std::uint64_t m_wake_value = 0;
};

}  // namespace

std::unique_ptr<IoBackend> make_uring_backend(int wake_fd, std::string& why) {
    auto b = std::make_unique<UringBackend>(wake_fd);
    int r = b->init();
    if (r < 0) {
        why = std::string("io_uring_setup failed: ") + std::strerror(-r);
        return nullptr;
    }
    return b;
}

}  // namespace corio::detail
