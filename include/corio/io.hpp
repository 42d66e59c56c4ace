#pragma once
// Low-level awaitable I/O on file descriptors: the building blocks of net/ and fs/.

#include <corio/detail/io_op.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <sys/socket.h>

namespace corio {

/// Reads up to `len` bytes into `buf` (at `offset`, or the file position when omitted); returns the count,
/// 0 at end of file.
///
/// Cancellation: the read is cancelled in the kernel; CancelledError is raised unless it had already
/// completed, in which case its result is returned. Errors: IoError naming the operation, fd and errno.
/// Thread safety: loop thread only. Descriptors used under the epoll backend are made non-blocking.
///
///     std::array<std::byte, 4096> buf;
///     std::size_t n = co_await corio::read(fd, buf.data(), buf.size());
[[nodiscard]] detail::IoAwaiter<std::size_t> read(int fd, void* buf, std::size_t len, std::uint64_t offset = ~0ull);
[[nodiscard]] detail::IoAwaiter<std::size_t> read(int fd, std::span<std::byte> buf);

/// Writes up to `len` bytes (one write: it may write fewer); returns the count. As read() otherwise.
[[nodiscard]] detail::IoAwaiter<std::size_t> write(int fd, const void* buf, std::size_t len,
                                                    std::uint64_t offset = ~0ull);
[[nodiscard]] detail::IoAwaiter<std::size_t> write(int fd, std::span<const std::byte> buf);

/// recv(2)/send(2) on a socket, with flags. As read()/write() otherwise.
[[nodiscard]] detail::IoAwaiter<std::size_t> recv(int fd, void* buf, std::size_t len, int flags = 0);
[[nodiscard]] detail::IoAwaiter<std::size_t> send(int fd, const void* buf, std::size_t len, int flags = 0);

/// Accepts a connection on a listening socket; returns the new descriptor (close-on-exec; getpeername(2)
/// gives the peer). As read() otherwise.
[[nodiscard]] detail::IoAwaiter<int> accept(int fd);

/// Connects a socket to `addr`. A Unix listener with a full backlog: under epoll IoError EAGAIN at once (no
/// event tells when there is room), under io_uring a wait for room; net::UnixStream::connect waits on both.
/// As read() otherwise.
[[nodiscard]] detail::IoAwaiter<void> connect(int fd, const sockaddr* addr, socklen_t len);

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT, ...); returns the ready events.
[[nodiscard]] detail::IoAwaiter<short> poll(int fd, short events);

namespace detail {
/// poll() whose result comes back raw: the ready events, or -errno (-ECANCELED when a close of the fd or
/// a change of interest cancelled the poll) instead of an IoError. Only the task's own cancellation raises.
/// For drivers of foreign libraries' sockets (c-ares, libpq), whose descriptors come and go under them.
struct RawPoll {
    IoAwaiter<short> m_io;
    RawPoll(int fd, short events) : m_io(corio::poll(fd, events)) {}
    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return m_io.await_suspend(h);
    }
    int await_resume() const {
        if (m_io.m_op.m_res == -ECANCELED && m_io.m_op.m_node->cancelled()) throw_cancelled();
        return m_io.m_op.m_res;
    }
};
}  // namespace detail

/// fsync(2) (or fdatasync when `datasync`) as a kernel operation under io_uring; under epoll it runs in
/// place, so fs/ sends it to the thread pool there. As read() otherwise.
[[nodiscard]] detail::IoAwaiter<void> fsync(int fd, bool datasync = false);

/// openat(2) as a kernel operation under io_uring (in place under epoll, as fsync()); returns the new
/// descriptor. `path` must stay valid until the operation completes. As read() otherwise.
[[nodiscard]] detail::IoAwaiter<int> openat(int dirfd, const char* path, int flags, unsigned mode = 0644);

/// Closes a descriptor that corio operations used (it is forgotten by the backend first). Use this rather
/// than ::close for such descriptors. Errors: none (a bad fd is ignored).
void close(int fd) noexcept;

/// As close(), but under io_uring the close is queued with the loop's other submissions instead of being a
/// system call of its own: the descriptor number is released before the loop next sleeps (or ends), not
/// at once. For sockets corio owns; use close() where the moment matters (before fork, for a pipe's EOF).
void close_soon(int fd) noexcept;

}  // namespace corio
