#pragma once
// A socket address: IPv4, IPv6 or a Unix-domain path, as a value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>

namespace corio::net {

/// An IPv4/IPv6 address with a port, or a Unix-domain socket path; empty when default-constructed.
///
///     auto a = net::SocketAddress::parse("127.0.0.1:8080");   // also "[::1]:8080", "/run/app.sock"
///     a.port();        // 8080
///     a.to_string();   // "127.0.0.1:8080"
class SocketAddress {
public:
    SocketAddress() noexcept;

    /// Parses "ipv4:port", "[ipv6]:port", a bare numeric IP (port `default_port`), or a Unix path (starting
    /// with '/' or '.', or '@' for Linux's abstract namespace). Names are not resolved (see net::resolve).
    /// Errors: std::invalid_argument naming the text.
    [[nodiscard]] static SocketAddress parse(std::string_view text, std::uint16_t default_port = 0);
    /// A numeric IPv4/IPv6 address ("192.0.2.1", "::1", "[::1]", "fe80::1%eth0") and a port.
    /// Errors: std::invalid_argument when `ip` is not numeric.
    [[nodiscard]] static SocketAddress ip(std::string_view ip, std::uint16_t port);
    /// As ip(), but nullopt when `ip` is not numeric (a host name, say).
    [[nodiscard]] static std::optional<SocketAddress> try_ip(std::string_view ip, std::uint16_t port = 0) noexcept;
    /// A Unix-domain socket path ('@' first: the abstract namespace). Errors: std::invalid_argument when
    /// the path is empty or longer than sockaddr_un allows.
    [[nodiscard]] static SocketAddress unix_path(std::string_view path);
    /// Copies a kernel sockaddr.
    [[nodiscard]] static SocketAddress from(const sockaddr* addr, socklen_t len) noexcept;

    /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when empty.
    [[nodiscard]] int family() const noexcept { return m_storage.ss_family; }
    [[nodiscard]] bool empty() const noexcept { return m_storage.ss_family == AF_UNSPEC; }
    [[nodiscard]] bool is_ip() const noexcept { return family() == AF_INET || family() == AF_INET6; }
    /// The port (0 for Unix addresses).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// A copy with another port (IP addresses only).
    [[nodiscard]] SocketAddress with_port(std::uint16_t port) const noexcept;
    /// The numeric IP ("127.0.0.1", "::1"); empty for Unix addresses.
    [[nodiscard]] std::string ip() const;
    /// The Unix path ("@name" for abstract ones); empty for IP addresses.
    [[nodiscard]] std::string path() const;
    /// "127.0.0.1:80", "[::1]:80", "/run/app.sock", or "(none)".
    [[nodiscard]] std::string to_string() const;

    [[nodiscard]] const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&m_storage); }
    [[nodiscard]] sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&m_storage); }
    [[nodiscard]] socklen_t size() const noexcept { return m_len; }
    [[nodiscard]] static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }
    void set_size(socklen_t len) noexcept { m_len = len; }

    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

private:
    sockaddr_storage m_storage;
    socklen_t m_len;
};

}  // namespace corio::net
