// The low-level I/O awaitables and the glue between them and the backend.
#include "loop.hpp"

#include <corio/io.hpp>

#include <fcntl.h>
#include <unistd.h>

namespace corio::detail {

extern thread_local int t_allow_blocking;

bool io_submit(IoOp* op) {
    struct Internal {  // corio's own calls (a regular file read under epoll) are not the user's blocking
        Internal() { ++t_allow_blocking; }
        ~Internal() { --t_allow_blocking; }
    } internal;
    IoBackend& io = this_loop().io();
    ++io.m_submitted;
    return io.submit(op);
}

void io_cancel(IoOp* op) noexcept {
    if (t_loop) static_cast<Loop*>(t_loop)->io().cancel(op);
}

void IoBackend::close_soon(int fd) noexcept {
    forget(fd);
    ::close(fd);
}

void complete(IoOp* op, int res) noexcept {
    op->m_res = res;
    op->m_state = IoOp::done;
    if (op->m_on_done) op->m_on_done(op);
    else t_loop->wake(op->m_node);
}

void throw_io_error(IoOp::Kind kind, int fd, int err) {
    static constexpr const char* names[] = {"read", "write", "recv", "send", "accept", "connect", "poll", "fsync", "openat", "accept"};
    throw IoError(names[static_cast<int>(kind)], fd, err);
}

}  // namespace corio::detail

namespace corio {

using detail::IoAwaiter;
using detail::IoOp;

namespace {
template <class R>
IoAwaiter<R> make(IoOp::Kind k, int fd, const void* buf, std::size_t len, std::uint64_t offset, int flags) {
    IoAwaiter<R> a(k, fd);
    a.m_op.m_buf = const_cast<void*>(buf);
    a.m_op.m_len = static_cast<std::uint32_t>(len > 0x7ffff000u ? 0x7ffff000u : len);  // Linux's own cap
    a.m_op.m_offset = offset;
    a.m_op.m_flags = flags;
    return a;
}
}  // namespace

IoAwaiter<std::size_t> read(int fd, void* buf, std::size_t len, std::uint64_t offset) {
    return make<std::size_t>(IoOp::Kind::read, fd, buf, len, offset, 0);
}
IoAwaiter<std::size_t> read(int fd, std::span<std::byte> buf) { return read(fd, buf.data(), buf.size()); }
IoAwaiter<std::size_t> write(int fd, const void* buf, std::size_t len, std::uint64_t offset) {
    return make<std::size_t>(IoOp::Kind::write, fd, buf, len, offset, 0);
}
IoAwaiter<std::size_t> write(int fd, std::span<const std::byte> buf) { return write(fd, buf.data(), buf.size()); }
IoAwaiter<std::size_t> recv(int fd, void* buf, std::size_t len, int flags) {
    return make<std::size_t>(IoOp::Kind::recv, fd, buf, len, ~0ull, flags);
}
IoAwaiter<std::size_t> send(int fd, const void* buf, std::size_t len, int flags) {
    return make<std::size_t>(IoOp::Kind::send, fd, buf, len, ~0ull, flags | MSG_NOSIGNAL);
}
IoAwaiter<int> accept(int fd) { return IoAwaiter<int>(IoOp::Kind::accept, fd); }
IoAwaiter<void> connect(int fd, const sockaddr* addr, socklen_t len) {
    IoAwaiter<void> a(IoOp::Kind::connect, fd);
    a.m_op.m_addr = const_cast<sockaddr*>(addr);
    a.m_op.m_addrlen = len;
    return a;
}
IoAwaiter<short> poll(int fd, short events) {
    IoAwaiter<short> a(IoOp::Kind::poll, fd);
    a.m_op.m_flags = events;
    return a;
}

IoAwaiter<void> fsync(int fd, bool datasync) {
    IoAwaiter<void> a(IoOp::Kind::fsync, fd);
    a.m_op.m_flags = datasync ? 1 : 0;  // IORING_FSYNC_DATASYNC
    return a;
}
IoAwaiter<int> openat(int dirfd, const char* path, int flags, unsigned mode) {
    IoAwaiter<int> a(IoOp::Kind::openat, dirfd);
    a.m_op.m_buf = const_cast<char*>(path);
    a.m_op.m_flags = flags | O_CLOEXEC;
    a.m_op.m_offset = mode;
    return a;
}

void close(int fd) noexcept {
    if (fd < 0) return;
    if (detail::t_loop) static_cast<detail::Loop*>(detail::t_loop)->io().forget(fd);
    ::close(fd);
}

void close_soon(int fd) noexcept {
    if (fd < 0) return;
    if (detail::t_loop) static_cast<detail::Loop*>(detail::t_loop)->io().close_soon(fd);
    else ::close(fd);
}

}  // namespace corio
