#pragma once
// TCP: connect to a host (every resolved address, Happy Eyeballs for dual-stack hosts), listen, accept.

#include <corio/net/stream.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace corio::net {

/// Options of TcpStream::connect.
struct ConnectOptions {
    /// The whole connect (resolution and every attempt); zero means none.
    std::chrono::milliseconds timeout = std::chrono::seconds(30);
    /// Happy Eyeballs (RFC 8305): the stagger between attempts to successive addresses.
    std::chrono::milliseconds happy_eyeballs_delay = std::chrono::milliseconds(250);
    /// TCP_NODELAY on the new connection (as asyncio does).
    bool nodelay = true;
};

/// A TCP connection.
class TcpStream : public StreamSocket {
public:
    using StreamSocket::StreamSocket;

    /// Resolves `host` (net::resolve; numeric addresses skip it) and connects to one of its addresses:
    /// addresses are tried interleaving IPv6 and IPv4, a new attempt starting every
    /// `happy_eyeballs_delay` (or at once when the previous one fails); the first to connect wins and the
    /// others are cancelled.
    ///
    /// Cancellation: every attempt is cancelled and its socket closed. Errors: DnsError; ConnectError
    /// naming the host, port and each address's reason (code() ETIMEDOUT when `timeout` passed).
    /// Thread safety: loop thread only.
    ///
    ///     auto stream = co_await net::TcpStream::connect("example.com", 80);
    [[nodiscard]] static Task<TcpStream> connect(std::string host, std::uint16_t port, ConnectOptions options = {});
    /// Connects to one address. As above.
    [[nodiscard]] static Task<TcpStream> connect(SocketAddress address, ConnectOptions options = {});
    /// Connects to the first of `addresses` that accepts, racing them as above (in the given order).
    /// Errors: std::invalid_argument when empty; ConnectError.
    [[nodiscard]] static Task<TcpStream> connect(std::vector<SocketAddress> addresses, ConnectOptions options = {});

    /// TCP_NODELAY: send small writes at once (on by default after connect/accept). Errors: IoError.
    void set_nodelay(bool on);
    /// SO_KEEPALIVE, with the idle time before the first probe when given. Errors: IoError.
    void set_keepalive(bool on, std::chrono::seconds idle = std::chrono::seconds(0));
};

/// Options of TcpListener::bind.
struct ListenOptions {
    int backlog = 1024;
    bool reuse_address = true;  ///< SO_REUSEADDR
    bool reuse_port = false;    ///< SO_REUSEPORT
    bool nodelay = true;        ///< TCP_NODELAY on accepted connections (set once, on the listener: inherited)
};

/// A listening TCP socket.
class TcpListener : public ListenerSocket {
public:
    TcpListener() noexcept = default;

    /// Binds and listens; port 0 picks a free port (see local_address()). `address` is numeric
    /// ("127.0.0.1:0", "[::1]:8080", "0.0.0.0:80"). Errors: std::invalid_argument (bad text); IoError
    /// naming bind/listen and the errno (EADDRINUSE...).
    ///
    ///     auto listener = net::TcpListener::bind("127.0.0.1:0");
    ///     auto conn = co_await listener.accept();
    [[nodiscard]] static TcpListener bind(const SocketAddress& address, ListenOptions options = {});
    [[nodiscard]] static TcpListener bind(std::string_view address, ListenOptions options = {});

    /// Waits for the next connection.
    /// Cancellation: no connection is lost (one accepted meanwhile waits for the next accept()).
    /// Errors: IoError (EMFILE when out of descriptors). Thread safety: loop thread only.
    [[nodiscard]] Task<TcpStream> accept();
};

}  // namespace corio::net
