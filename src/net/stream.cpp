// Socket and StreamSocket: ownership, reading exactly, writing everything, shutdown, addresses; and the
// networking layer's error types.
#include <corio/net/error.hpp>
#include <corio/net/stream.hpp>

#include <cerrno>
#include <sys/socket.h>

namespace corio::net {

IncompleteReadError::IncompleteReadError(std::size_t got, std::size_t expected)
    : NetError("stream ended after " + std::to_string(got) + " of " + std::to_string(expected) + " bytes"),
      m_got(got),
      m_expected(expected) {}

Socket& Socket::operator=(Socket&& o) noexcept {
    if (this != &o) {
        close();
        m_fd = o.m_fd;
        o.m_fd = -1;
    }
    return *this;
}

void Socket::close() noexcept {
    if (m_fd >= 0) corio::close_soon(m_fd);
    m_fd = -1;
}

SocketAddress Socket::local_address() const {
    SocketAddress a;
    socklen_t len = SocketAddress::capacity();
    if (::getsockname(m_fd, a.data(), &len) < 0) throw IoError("getsockname", m_fd, errno);
    a.set_size(len);
    return a;
}

SocketAddress StreamSocket::peer_address() const {
    SocketAddress a;
    socklen_t len = SocketAddress::capacity();
    if (::getpeername(m_fd, a.data(), &len) < 0) throw IoError("getpeername", m_fd, errno);
    a.set_size(len);
    return a;
}

Task<void> StreamSocket::read_exact(std::span<std::byte> buf) {
    std::size_t got = 0;
    while (got < buf.size()) {
        std::size_t n = co_await corio::recv(m_fd, buf.data() + got, buf.size() - got);
        if (n == 0) throw IncompleteReadError(got, buf.size());
        got += n;
    }
}

Task<void> StreamSocket::write_all(std::span<const std::byte> buf) {
    std::size_t sent = 0;
    while (sent < buf.size()) sent += co_await corio::send(m_fd, buf.data() + sent, buf.size() - sent);
}

Task<void> StreamSocket::write_all(std::span<const std::byte> buf, std::uint64_t& sent) {
    while (!buf.empty()) {
        std::size_t n = co_await corio::send(m_fd, buf.data(), buf.size());
        sent += n;
        buf = buf.subspan(n);
    }
}

Task<void> StreamSocket::write_all(std::string_view text) {
    return write_all(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

void StreamSocket::shutdown(Shutdown how) {
    if (::shutdown(m_fd, static_cast<int>(how)) < 0) throw IoError("shutdown", m_fd, errno);
}

}  // namespace corio::net
