#pragma once
// http::Server: a small, fast HTTP/1.1 server (routes with path parameters, keep-alive and pipelining,
// chunked bodies both ways, 100-continue, limits and timeouts, graceful shutdown, HTTPS).
//
//     http::Server server;
//     server.route("GET", "/items/{id}", [](http::Request& req) -> Task<http::Response> {
//         co_return http::Response::json({{"id", req.param("id")}});
//     });
//     server.listen("127.0.0.1:8080");
//     co_await server.serve();   // until co_await server.shutdown() elsewhere

#include <corio/http/message.hpp>
#include <corio/http/parser.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/tls.hpp>
#include <corio/task.hpp>

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corio::http {

/// What a server accepts, and how long it waits. Every limit has a default.
struct ServerOptions {
    /// The largest request body (413 Content Too Large beyond it; with `Expect: 100-continue`, before it
    /// is sent).
    std::size_t max_body_size = std::size_t(1) << 20;
    /// Start line and header limits: 414 for a request line too long, 431 for a header section too large
    /// or too many fields, 400 for a malformed request, 501/505 for an unsupported coding or version.
    ParserLimits limits{};
    /// An idle keep-alive connection (waiting for its next request) is closed after this.
    std::chrono::milliseconds keepalive_timeout = std::chrono::seconds(75);
    /// From a request's first byte (or the connection's start, with the TLS handshake) to the end of its
    /// header section; empty lines before the request line are its first bytes, not a restart. A client
    /// that stalls is answered 408 and closed.
    std::chrono::milliseconds header_timeout = std::chrono::seconds(30);
    /// Between two reads of a request body: a client that stalls is answered 408 and closed.
    std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
    /// A response write that makes no progress (the client does not read) for this long closes the connection.
    std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
    /// Requests per connection; the last response says `Connection: close`. 0: unlimited.
    std::size_t max_requests_per_connection = 0;
    /// Connections served at once; one more is accepted and closed at once.
    std::size_t max_connections = 10000;
    /// A server context (net::TlsContext::server): serve HTTPS. Empty: plain HTTP.
    net::TlsContext tls{};
    net::ListenOptions listen{};
    /// The Server header's value; empty: none is sent.
    std::string server_header = "corio";
    /// Called when a handler raises (the client gets 500 "Internal Server Error"). Empty: one line on
    /// stderr naming the method, the route pattern and the exception's type (never its message, which may
    /// hold secrets).
    std::function<void(std::exception_ptr error, std::string_view method, std::string_view route)> on_error{};
};

/// A server's counters (Server::statistics()).
struct ServerStatistics {
    std::size_t connections_open = 0;        ///< being served now
    std::uint64_t connections_total = 0;     ///< accepted and served, in all
    std::uint64_t connections_rejected = 0;  ///< closed at once: max_connections were open
    std::uint64_t requests = 0;              ///< request heads parsed
    /// Responses sent, by status class: [1] for 1xx (100 Continue) ... [5] for 5xx; [0] unused.
    std::array<std::uint64_t, 6> responses_by_class{};
    std::uint64_t handler_errors = 0;   ///< handlers that raised (answered 500)
    std::uint64_t protocol_errors = 0;  ///< malformed or over-limit requests (answered 4xx, then closed)
    std::uint64_t timeouts = 0;         ///< connections closed by a timeout (header, body, keep-alive, write)
    std::uint64_t io_errors = 0;        ///< connections ended by a socket or TLS error
};

/// The request a handler receives. Its views (method, target, path, headers...) point into the
/// connection's buffers: valid until the handler's task finishes; copy what must outlive it.
class Request {
public:
    Request() = default;
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;

    /// The method as sent ("GET").
    [[nodiscard]] std::string_view method() const noexcept { return m_method; }
    /// The request target as sent ("/search?q=a%20b").
    [[nodiscard]] std::string_view target() const noexcept { return m_target; }
    /// The path, percent-decoded, without the query ("/search").
    [[nodiscard]] std::string_view path() const noexcept { return m_path; }
    /// The raw query string without '?' ("q=a%20b"), empty when none.
    [[nodiscard]] std::string_view query() const noexcept { return m_query; }
    /// The first query parameter named `name`, decoded (%XX, '+' as space); nullopt when absent.
    [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const;
    /// The path parameter `name` of the matched route ("/items/{id}"). Errors: std::out_of_range naming it.
    [[nodiscard]] std::string_view param(std::string_view name) const;
    /// The route pattern that matched ("/items/{id}").
    [[nodiscard]] std::string_view route() const noexcept { return m_route; }
    /// The header fields (built on first use; header() looks one up without building anything).
    [[nodiscard]] const HeaderMap& headers() const;
    /// The first value of header `name` (case-insensitive), or nullopt. Allocates nothing.
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept {
        return Headers(m_fields).get(name);
    }
    /// The whole body (de-chunked).
    [[nodiscard]] const std::string& body() const noexcept { return m_body; }
    [[nodiscard]] std::string_view text() const noexcept { return m_body; }
    /// The body parsed as JSON. Errors: DecodeError naming the offset.
    [[nodiscard]] nlohmann::json json() const;
    /// The client's address. Errors: net::IoError when the socket is gone.
    [[nodiscard]] const net::SocketAddress& peer() const;
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    [[nodiscard]] int version_minor() const noexcept { return m_minor; }

    struct Access;  // the server fills it in

private:
    std::string_view m_method, m_target, m_path, m_query, m_route;
    std::span<const Header> m_fields;
    std::vector<std::pair<std::string_view, std::string_view>> m_params;
    std::string m_body;
    std::string m_decoded_path;
    mutable HeaderMap m_headers;
    mutable bool m_headers_built = false;
    mutable bool m_peer_known = false;
    mutable net::SocketAddress m_peer;
    int m_fd = -1;
    int m_minor = 1;
};

/// What a route runs: gets the request, returns the response (Response::json, text, stream...).
using Handler = std::function<Task<Response>(Request&)>;

/// A small HTTP/1.1 server on one loop: routes, keep-alive, pipelining, limits, graceful shutdown.
///
/// Behaviour: an unknown path gets 404, a known path with another method 405 (with Allow); HEAD runs the
/// GET route and sends no body; a handler that raises gets 500. Bodies go out with Content-Length, streams
/// (Response::stream) chunked (close-delimited for HTTP/1.0). Date and Server headers are added.
/// Pipelined requests are answered in order, the answers to the requests of one read in one send (sent
/// early when a handler has to wait). A malformed or over-limit request gets its 4xx, then the connection
/// closes. Thread safety: one loop; add routes before serving.
class Server {
public:
    explicit Server(ServerOptions options = {});
    Server(Server&&) noexcept;
    Server& operator=(Server&&) noexcept;
    /// Closes the listener and cancels every connection still open (call shutdown() for a clean end).
    ~Server();

    /// Adds a route. `pattern` is a path whose segments are literal or "{name}" (one whole segment,
    /// non-empty); `method` is case-sensitive, "*" matches any. Literal segments win over parameters.
    /// Errors: std::invalid_argument for a malformed pattern or a route added twice.
    ///
    ///     server.route("GET", "/users/{id}", get_user).route("DELETE", "/users/{id}", delete_user);
    Server& route(std::string method, std::string pattern, Handler handler);

    /// Binds and listens now ("127.0.0.1:0" picks a free port); returns the bound address.
    /// Errors: std::invalid_argument (bad text); IoError (EADDRINUSE...); std::logic_error when listening.
    net::SocketAddress listen(std::string_view address = "127.0.0.1:0");
    /// The bound port (0 before listen()).
    [[nodiscard]] std::uint16_t port() const noexcept;

    /// Accepts and serves connections until shutdown() has finished, then returns.
    ///
    /// Cancellation: the listener is closed, every connection cancelled and awaited; CancelledError.
    /// Errors: std::logic_error before listen() or while already serving; IoError from accept (other than
    /// running out of descriptors, which waits and retries). Thread safety: the loop that listen()ed.
    ///
    ///     server.listen("0.0.0.0:8080");
    ///     co_await server.serve();
    [[nodiscard]] Task<void> serve();
    /// Runs serve() in the background (spawned on the running loop); shutdown() waits for it.
    void start();
    /// Stops accepting; idle connections close at once; requests in progress finish, their responses
    /// saying `Connection: close`. After `grace` the rest are cancelled. Returns once every connection is
    /// closed and serve() has returned. A second call waits for the first.
    ///
    /// Cancellation: every connection is cancelled at once and awaited, serve() returns, then
    /// CancelledError. Errors: what a serve() run by start() raised (an accept failure).
    ///
    ///     co_await server.shutdown(5s);
    [[nodiscard]] Task<void> shutdown(std::chrono::milliseconds grace = std::chrono::seconds(10));

    [[nodiscard]] ServerStatistics statistics() const noexcept;

    struct Impl;

private:
    std::shared_ptr<Impl> m_impl;
};

}  // namespace corio::http
