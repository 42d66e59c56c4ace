#pragma once
// A connected stream socket: what TcpStream and UnixStream share (reading, writing, shutdown, addresses).

#include <corio/io.hpp>
#include <corio/net/address.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace corio::net {

/// Which direction shutdown() ends.
enum class Shutdown { read = SHUT_RD, write = SHUT_WR, both = SHUT_RDWR };

/// Owns a socket descriptor: move-only, closed (through corio::close) when destroyed.
class Socket {
public:
    Socket() noexcept = default;
    explicit Socket(int fd) noexcept : m_fd(fd) {}
    Socket(Socket&& o) noexcept : m_fd(o.m_fd) { o.m_fd = -1; }
    Socket& operator=(Socket&& o) noexcept;
    ~Socket() { close(); }

    [[nodiscard]] int fd() const noexcept { return m_fd; }
    [[nodiscard]] bool is_open() const noexcept { return m_fd >= 0; }
    /// Gives up ownership of the descriptor.
    [[nodiscard]] int release() noexcept {
        int fd = m_fd;
        m_fd = -1;
        return fd;
    }
    /// Closes the socket (under io_uring the close goes out with the loop's next submission: see
    /// corio::close_soon). An operation still pending on it fails with IoError (ECANCELED under io_uring,
    /// EBADF under epoll). Idempotent.
    void close() noexcept;
    /// The address the socket is bound to. Errors: IoError.
    [[nodiscard]] SocketAddress local_address() const;

protected:
    int m_fd = -1;
};

/// A connected stream socket.
class StreamSocket : public Socket {
public:
    using Socket::Socket;

    /// Reads what is available, up to `buf.size()` bytes; returns the count, 0 at end of stream.
    ///
    /// Cancellation: the receive is cancelled; nothing was consumed unless it had already completed.
    /// Errors: IoError (ECONNRESET when the peer reset). Thread safety: loop thread only.
    ///
    ///     std::array<std::byte, 4096> buf;
    ///     std::size_t n = co_await stream.read(buf);
    [[nodiscard]] detail::IoAwaiter<std::size_t> read(std::span<std::byte> buf) {
        return corio::recv(m_fd, buf.data(), buf.size());
    }
    [[nodiscard]] detail::IoAwaiter<std::size_t> read(void* buf, std::size_t len) { return corio::recv(m_fd, buf, len); }

    /// Reads exactly `buf.size()` bytes.
    ///
    /// Cancellation: bytes already read are lost to the caller (as asyncio's readexactly).
    /// Errors: IncompleteReadError when the stream ends first; IoError.
    [[nodiscard]] Task<void> read_exact(std::span<std::byte> buf);

    /// One send: writes up to `buf.size()` bytes and returns the count (possibly fewer).
    /// Cancellation: as read(). Errors: IoError (EPIPE/ECONNRESET when the peer is gone).
    [[nodiscard]] detail::IoAwaiter<std::size_t> write(std::span<const std::byte> buf) {
        return corio::send(m_fd, buf.data(), buf.size());
    }

    /// Writes all of `buf`, in as many sends as it takes.
    /// Cancellation: part of the data may have been sent. Errors: IoError.
    ///
    ///     co_await stream.write_all("hello\n");
    [[nodiscard]] Task<void> write_all(std::span<const std::byte> buf);
    [[nodiscard]] Task<void> write_all(std::string_view text);
    /// As write_all, adding each send's bytes to `sent` as they go: after a failure or a cancellation,
    /// `sent` tells how much reached the socket (whether the peer may have seen part of a request).
    [[nodiscard]] Task<void> write_all(std::span<const std::byte> buf, std::uint64_t& sent);

    /// Ends one or both directions (shutdown(2)): after Shutdown::write the peer reads end of stream.
    /// Errors: IoError (ENOTCONN).
    void shutdown(Shutdown how = Shutdown::write);

    /// The connected peer's address. Errors: IoError (ENOTCONN).
    [[nodiscard]] SocketAddress peer_address() const;
};

/// A listening socket: what TcpListener and UnixListener share. Under io_uring one multishot accept stays
/// armed while the listener is in use, and connections that arrive between accept() calls wait in a queue.
class ListenerSocket : public Socket {
public:
    ListenerSocket() noexcept = default;
    ListenerSocket(ListenerSocket&& o) noexcept : Socket(std::move(o)), m_acceptor(o.m_acceptor) { o.m_acceptor = nullptr; }
    ListenerSocket& operator=(ListenerSocket&& o) noexcept;
    ~ListenerSocket() { close(); }

    /// Stops accepting and closes the socket; tasks waiting in accept() get an IoError (EBADF).
    void close() noexcept;

    struct Acceptor;

protected:
    /// The next connection's descriptor. Cancellation: no connection is lost: one accepted meanwhile
    /// waits for the next call. Errors: IoError.
    [[nodiscard]] Task<int> accept_fd();

private:
    Acceptor* m_acceptor = nullptr;
};

}  // namespace corio::net
