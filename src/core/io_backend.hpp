#pragma once
// The I/O backend interface: io_uring (completion-based) or epoll (readiness-based), chosen at run time.

#include <corio/detail/io_op.hpp>
#include <corio/run.hpp>

#include <cstdint>
#include <memory>

namespace corio::detail {

class IoBackend {
public:
    virtual ~IoBackend() = default;
    [[nodiscard]] virtual Backend kind() const noexcept = 0;
    /// Starts an operation; true when it completed at once (op->m_res set, nothing will be called).
    virtual bool submit(IoOp* op) = 0;
    /// Requests cancellation; the operation still completes through the usual path.
    virtual void cancel(IoOp* op) noexcept = 0;
    /// The descriptor is being closed: forget what is known about it.
    virtual void forget(int fd) noexcept = 0;
    /// Closes `fd` (forgetting it first); io_uring queues the close with the turn's other submissions, so
    /// the number is released at the next submission, which happens before the loop sleeps or ends.
    virtual void close_soon(int fd) noexcept;
    /// True when operations are in flight (a non-blocking poll may find completions).
    [[nodiscard]] virtual bool busy() const noexcept = 0;
    /// Reaps completions, waiting up to `timeout_ns` (-1: until one arrives or the wake fd is signalled).
    virtual void wait(std::int64_t timeout_ns) = 0;
    /// Operations started, in all.
    std::uint64_t m_submitted = 0;
};

/// Completes `op` with `res`: wakes its node or calls its internal callback.
void complete(IoOp* op, int res) noexcept;

/// io_uring backend; null when the kernel refuses io_uring (the reason in `why`).
std::unique_ptr<IoBackend> make_uring_backend(int wake_fd, std::string& why);
std::unique_ptr<IoBackend> make_epoll_backend(int wake_fd);

}  // namespace corio::detail
