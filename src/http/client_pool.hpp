#pragma once
// The client's internals: connections, the pool that leases them, and one request/response exchange.

#include <corio/http/client.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/tls.hpp>
#include <corio/sync/event.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace corio::http::impl {

struct Origin;

/// Where a request goes through: nothing, or an HTTP proxy (absolute-form requests for http://, a CONNECT
/// tunnel for https://).
struct Route {
    bool via_proxy = false;
    Url proxy;               // when via_proxy
    std::string proxy_auth;  // "Basic ..." from the proxy URL's userinfo, or empty
};

/// One connection of the pool. Reads go into `buf[begin, end)`; the parser's views point into it.
struct Connection {
    Origin* origin = nullptr;
    net::TcpStream tcp;
    std::unique_ptr<net::TlsStream> tls;
    std::string buf;
    std::size_t begin = 0;
    std::size_t end = 0;
    bool grow = false;  // the last read filled the buffer: double it before the next
    std::string wbuf;
    ResponseParser parser;
    Clock::time_point idle_since{};
    std::uint64_t served = 0;
    std::uint64_t loop_id = 0;
    Connection* prev = nullptr;  // the origin's idle list
    Connection* next = nullptr;

    explicit Connection(const ParserLimits& limits) : parser(limits) {}
    [[nodiscard]] int fd() const noexcept;
};

/// The connections of one origin (and route).
struct Origin {
    std::string key;
    Url url;          // scheme, host and port of the target
    Route route;
    std::size_t open = 0;
    Connection* idle_head = nullptr;  // most recently used first
    Connection* idle_tail = nullptr;
    std::size_t idle = 0;
};

/// A request waiting for a connection: handed one, or granted a slot to open one.
struct Waiter {
    Origin* origin = nullptr;
    corio::Event ready;
    Connection* handed = nullptr;
    bool granted = false;
    bool linked = false;
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
};

struct Pool {
    explicit Pool(ClientOptions o);
    ~Pool();

    ClientOptions options;
    std::unordered_map<std::string, std::unique_ptr<Origin>> origins;
    std::size_t open = 0;
    std::size_t idle = 0;
    Waiter* wait_head = nullptr;
    Waiter* wait_tail = nullptr;
    std::size_t waiting = 0;
    std::uint64_t created = 0;
    std::uint64_t requests = 0;
    std::uint64_t reused = 0;
    net::TlsContext tls;  // made on the first https request
    std::optional<Url> base;
    // Proxies: from options.proxy or the environment.
    std::optional<Url> http_proxy;
    std::optional<Url> https_proxy;
    std::vector<std::string> no_proxy;
    bool no_proxy_all = false;
    std::vector<std::string> spare_buffers;

    Origin& origin_for(const Url& url);
    [[nodiscard]] bool can_open(const Origin& o) const noexcept;
    /// `o` has fewer connections open than max_connections_per_host allows.
    [[nodiscard]] bool under_host_limit(const Origin& o) const noexcept;
    /// A waiting request is held back by max_connections alone: a slot freed anywhere lets it open one.
    [[nodiscard]] bool waiter_needs_slot() const noexcept;
    /// An idle connection of `o` still fit for reuse, or nullptr (stale ones are closed on the way).
    /// `check`: peek at every candidate, not only those idle for a while (a request that cannot be retried).
    Connection* take_idle(Origin& o, bool check) noexcept;
    /// Closes the least recently used idle connection of another origin; false when there is none.
    bool evict_idle_other(const Origin& o) noexcept;
    /// A connection comes back: reused (handed to a waiter or kept idle) or closed.
    void release(Connection* c, bool reusable) noexcept;
    /// Closes a connection (busy or already unlinked from the idle list) and frees its slot.
    void destroy(Connection* c) noexcept;
    void grant_waiters() noexcept;
    void unlink_idle(Connection* c) noexcept;
    void link_waiter(Waiter* w) noexcept;
    void unlink_waiter(Waiter* w) noexcept;
    void close_idle() noexcept;
    std::string take_buffer();
    const net::TlsContext& tls_context();
};

/// A leased connection: given back to the pool when the lease ends, reused only when marked reusable.
struct Lease {
    Pool* pool = nullptr;
    Connection* conn = nullptr;
    bool reusable = false;

    Lease() noexcept = default;
    Lease(Pool* p, Connection* c) noexcept : pool(p), conn(c) {}
    Lease(Lease&& o) noexcept : pool(o.pool), conn(o.conn), reusable(o.reusable) { o.conn = nullptr; }
    Lease& operator=(Lease&& o) noexcept {
        if (this != &o) {
            reset();
            pool = o.pool;
            conn = o.conn;
            reusable = o.reusable;
            o.conn = nullptr;
        }
        return *this;
    }
    ~Lease() { reset(); }
    void reset() noexcept {
        if (conn) pool->release(conn, reusable);
        conn = nullptr;
    }
};

class Decoder;

/// One request on one connection, from sending it to the end of its response.
struct Exchange {
    std::shared_ptr<Pool> pool;  // keeps the pool alive for a StreamResponse
    Lease lease;
    Response response;           // status, headers, url, method filled from the head
    Timeouts timeouts;
    Clock::time_point deadline = Clock::time_point::max();
    Clock::time_point started{};
    std::unique_ptr<Decoder> decoder;
    std::uint64_t body_bytes = 0;
    bool done = false;           // the body has been read to its end
    bool head_request = false;
    // A StreamResponse's reads, which the caller drives (and may cancel, or close() from another task):
    bool reading = false;        // a read is in progress (waiting in fill(), the only place it suspends)
    bool closing = false;        // close() came during that read: the read gives the connection up
    std::exception_ptr failure;  // a read failed, was cancelled or closed under: later reads raise this

    Exchange();
    ~Exchange();
    /// The next piece of the decoded body, appended to `out`; false at the end.
    Task<bool> read_body(std::string& out);
    /// read_body for a StreamResponse: once a read fails (or is cancelled, or closed under) the connection
    /// is closed, and every later read raises the same error; false at the end, and after close().
    Task<bool> read_stream(std::string& out);
    /// Closes the connection now, or, while a read waits on it, makes that read return and close it.
    void close() noexcept;
};

}  // namespace corio::http::impl
