#pragma once
// http::Client: an HTTP/1.1 client with a connection pool, as httpx.AsyncClient.
//
//     corio::http::Client client;
//     auto response = co_await client.get("https://api.example.com/users/1");
//     nlohmann::json user = response.raise_for_status().json();

#include <corio/http/message.hpp>
#include <corio/http/parser.hpp>
#include <corio/http/url.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace corio::http {

/// The client's timeouts (httpx.Timeout). Zero means none.
struct Timeouts {
    /// Connecting: DNS, TCP and the TLS handshake (ConnectTimeout).
    std::chrono::milliseconds connect = std::chrono::seconds(5);
    /// Between two reads of the response: the server went quiet (ReadTimeout).
    std::chrono::milliseconds read = std::chrono::seconds(5);
    /// Sending the request (WriteTimeout).
    std::chrono::milliseconds write = std::chrono::seconds(5);
    /// Waiting for a connection of the pool when every one is busy (PoolTimeout).
    std::chrono::milliseconds pool = std::chrono::seconds(5);
    /// The whole request, redirects included: the phase that is running when it passes raises its own
    /// timeout error, saying the overall deadline passed. Zero: no overall deadline.
    std::chrono::milliseconds total = std::chrono::milliseconds(0);
};

/// The connection pool's limits (httpx.Limits).
struct Limits {
    /// Connections open at once, across every host (busy and idle).
    std::size_t max_connections = 100;
    /// Connections open at once to one origin (scheme, host, port); 0: max_connections.
    std::size_t max_connections_per_host = 0;
    /// Idle connections kept for reuse; more are closed when released.
    std::size_t max_keepalive = 20;
    /// An idle connection older than this is closed instead of reused.
    std::chrono::milliseconds keepalive_expiry = std::chrono::seconds(5);
};

/// Options of http::Client.
struct ClientOptions {
    /// Prefixed to relative URLs ("https://api.example.com/v1/" + "users/1").
    std::string base_url{};
    /// Sent with every request (a request's own headers win).
    HeaderMap headers{};
    std::string user_agent = "corio-http/0.1";
    Timeouts timeout{};
    Limits limits{};
    /// Follow 301, 302, 303, 307 and 308 (httpx: off by default).
    bool follow_redirects = false;
    int max_redirects = 20;
    /// Verify servers' certificates (against `ca_file`, or the system store). `verify = false` accepts any
    /// certificate from anyone: for tests only.
    bool verify = true;
    std::string ca_file{};
    /// Read HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY (or their lower-case forms) from the environment.
    bool trust_env = true;
    /// A proxy for every request ("http://proxy:3128"), overriding the environment.
    std::string proxy{};
    /// The largest body accepted, after decoding (ResponseTooLarge beyond it).
    std::size_t max_response_size = std::size_t(256) << 20;
    /// Ask for gzip/deflate and decode it.
    bool decompress = true;
    /// Retries of a failed connect (ConnectError, ConnectTimeout) for idempotent methods (GET, HEAD,
    /// OPTIONS, PUT, DELETE, TRACE), waiting retry_backoff, then twice that, and so on. 0: none.
    int retries = 0;
    std::chrono::milliseconds retry_backoff = std::chrono::milliseconds(100);
    /// The response parser's limits (header bytes, header count...).
    ParserLimits parser_limits{};
};

/// Options of one request.
struct RequestOptions {
    /// Appended to the URL's query, encoded.
    Params params{};
    HeaderMap headers{};
    /// A JSON body (Content-Type: application/json).
    std::optional<nlohmann::json> json{};
    /// A form body (application/x-www-form-urlencoded).
    Params form{};
    /// A raw body; set Content-Type in `headers`.
    std::optional<std::string> content{};
    /// Overrides the client's timeouts for this request.
    std::optional<Timeouts> timeout{};
    /// Overrides ClientOptions::follow_redirects for this request.
    std::optional<bool> follow_redirects{};
};

/// Counters of a client's pool.
struct ClientStatistics {
    std::size_t connections_open = 0;      ///< busy + idle
    std::size_t connections_idle = 0;
    std::uint64_t connections_created = 0;
    std::uint64_t requests = 0;            ///< requests sent (each redirect hop counts)
    std::uint64_t reused = 0;              ///< requests sent on a connection that had served one before
    std::size_t pool_waiting = 0;          ///< requests now waiting for a connection
};

namespace impl {
struct Pool;
struct Lease;
struct Exchange;
}  // namespace impl

/// A response whose body has not been read yet: Client::stream. Read it with read_chunk() until it returns
/// an empty string. The connection goes back to the pool once the body has been read to the end; a
/// response dropped before that closes its connection (never a leaked pool slot).
///
///     auto response = co_await client.stream("GET", url);
///     while (true) {
///         std::string chunk = co_await response.read_chunk();
///         if (chunk.empty()) break;
///         co_await file.write(chunk);
///     }
class StreamResponse {
public:
    StreamResponse() noexcept;
    StreamResponse(StreamResponse&&) noexcept;
    StreamResponse& operator=(StreamResponse&&) noexcept;
    ~StreamResponse();

    [[nodiscard]] int status() const noexcept;
    [[nodiscard]] std::string_view reason() const noexcept;
    [[nodiscard]] const HeaderMap& headers() const noexcept;
    [[nodiscard]] const std::string& url() const noexcept;
    /// The next piece of the body (decoded), at most about 64 KiB; empty at the end, and after close().
    /// Cancellation: the connection is closed (the rest of the body is lost); later reads raise
    /// NetworkError. Errors: ReadTimeout, RemoteProtocolError, NetworkError, DecodeError,
    /// ResponseTooLarge; after one the connection is closed, and later reads raise the same error.
    [[nodiscard]] Task<std::string> read_chunk();
    /// Reads the rest of the body into a Response (subject to max_response_size). As read_chunk().
    [[nodiscard]] Task<Response> read_all();
    /// Closes the connection now, unless the body was read to the end (then it went back to the pool).
    /// Another task may call it while one waits in read_chunk(): that read returns at once, raising
    /// NetworkError, and the connection is closed once it has.
    void close() noexcept;

private:
    friend class Client;
    explicit StreamResponse(std::unique_ptr<impl::Exchange> exchange) noexcept;
    std::unique_ptr<impl::Exchange> m_exchange;
};

/// An HTTP/1.1 client with a pool of keep-alive connections per origin (httpx.AsyncClient). Create one and
/// share it; its connections belong to the loop that uses them (loop thread only).
///
/// Errors of every request method: InvalidUrl; ConnectError, ConnectTimeout; WriteTimeout, ReadTimeout,
/// PoolTimeout; NetworkError (a connection failed once established); RemoteProtocolError (malformed
/// response); TooManyRedirects; ResponseTooLarge; DecodeError (corrupt gzip). Each names the method and URL.
/// A 4xx/5xx status is not an error until raise_for_status().
///
/// Cancellation: a cancelled request closes its connection if the response was not read to the end; the
/// pool slot is always given back.
class Client {
public:
    explicit Client(ClientOptions options = {});
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    /// Closes every idle connection (busy ones close when their request ends).
    ~Client();

    /// Sends a request and reads its whole response.
    ///
    ///     auto r = co_await client.request("POST", "/items", {.json = nlohmann::json{{"name", "x"}}});
    [[nodiscard]] Task<Response> request(std::string method, std::string url, RequestOptions options = {});
    [[nodiscard]] Task<Response> get(std::string url, RequestOptions options = {});
    [[nodiscard]] Task<Response> head(std::string url, RequestOptions options = {});
    [[nodiscard]] Task<Response> post(std::string url, RequestOptions options = {});
    [[nodiscard]] Task<Response> put(std::string url, RequestOptions options = {});
    [[nodiscard]] Task<Response> patch(std::string url, RequestOptions options = {});
    [[nodiscard]] Task<Response> options(std::string url, RequestOptions request_options = {});
    /// DELETE (`delete` is a C++ keyword; `del` as in Python's `del`).
    [[nodiscard]] Task<Response> del(std::string url, RequestOptions options = {});

    /// Sends a request and returns once the response's head arrived; the body is read with
    /// StreamResponse::read_chunk(). Redirects are not followed.
    [[nodiscard]] Task<StreamResponse> stream(std::string method, std::string url, RequestOptions options = {});

    [[nodiscard]] ClientStatistics statistics() const noexcept;
    /// Closes the idle connections now.
    void close_idle() noexcept;
    [[nodiscard]] const ClientOptions& client_options() const noexcept;

private:
    std::shared_ptr<impl::Pool> m_pool;
};

}  // namespace corio::http
