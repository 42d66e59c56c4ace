// http::Server: the accept loop, one task per connection, the router, and response serialization.
//
// A connection owns one read buffer (reused for every request), one output string (the responses of
// pipelined requests accumulate there and go out in one send, before the next read), a RequestParser and a
// Request. A request's views (method, target, header fields) point into the read buffer between
// m_head_begin and m_head_end; the buffer is moved (and the views rebased) only while a body is read.
//
//   buffer: [consumed ... | head of the current request | body bytes consumed | unconsumed | free ]
//            0            m_head_begin                 m_head_end            m_pos        m_end  m_cap
//
// Timeouts: one timer entry per connection and a deadline that moves with the connection's phase. The
// deadline is only ever moved in memory; the timer is re-armed lazily when it fires early, so a request
// costs no timer-wheel operation in the steady state. When the deadline passes, the connection's task is
// cancelled where it waits.
#include <corio/http/server.hpp>
#include <corio/http/url.hpp>

#include <corio/detail/timer.hpp>
#include <corio/spawn.hpp>
#include <corio/sync/event.hpp>
#include <corio/time.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <cxxabi.h>
#include <stdexcept>
#include <sys/socket.h>
#include <time.h>
#include <typeinfo>
#include <unordered_map>

namespace corio::http {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_initial_buffer = 4096;
constexpr std::size_t k_copy_limit = 64 * 1024;      // larger bodies are sent from the Response, not copied
constexpr std::size_t k_flush_at = 64 * 1024;        // pipelined responses buffered before a send
constexpr std::size_t k_keep_capacity = 256 * 1024;  // larger per-connection strings are freed after use
constexpr std::size_t k_direct_read = 64 * 1024;     // a Content-Length body is read into place in these
constexpr std::size_t k_tls_write_slice = 64 * 1024; // TLS writes go in these, each with a fresh write_timeout
constexpr auto k_linger = 2s;                        // reading (and dropping) what a client sends after we close
constexpr std::size_t k_linger_bytes = 1 << 20;

/// CLOCK_MONOTONIC_COARSE as a steady_clock time (the same clock, a few ms behind, 3 ns to read).
Clock::time_point coarse_now() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                         std::chrono::nanoseconds(ts.tv_nsec)));
}

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_hex(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
    out.append(buf, r.ptr);
}

std::string exception_type(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        int status = 0;
        char* name = abi::__cxa_demangle(typeid(x).name(), nullptr, nullptr, &status);
        std::string s = status == 0 && name ? name : typeid(x).name();
        std::free(name);
        return s;
    } catch (...) {
        return "a non-std exception";
    }
}

/// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate), no locale involved.
void format_date(std::time_t t, char* out) {
    static constexpr char days[] = "SunMonTueWedThuFriSat";
    static constexpr char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    auto two = [](char* p, int v) {
        p[0] = static_cast<char>('0' + v / 10);
        p[1] = static_cast<char>('0' + v % 10);
    };
    std::memcpy(out, days + 3 * tm.tm_wday, 3);
    out[3] = ',';
    out[4] = ' ';
    two(out + 5, tm.tm_mday);
    out[7] = ' ';
    std::memcpy(out + 8, months + 3 * tm.tm_mon, 3);
    out[11] = ' ';
    int y = tm.tm_year + 1900;
    two(out + 12, (y / 100) % 100);
    two(out + 14, y % 100);
    out[16] = ' ';
    two(out + 17, tm.tm_hour);
    out[19] = ':';
    two(out + 20, tm.tm_min);
    out[22] = ':';
    two(out + 23, tm.tm_sec);
    std::memcpy(out + 25, " GMT", 4);
}

/// A view into [from, from + len) moved to `to`; other views are left alone.
void rebase_view(std::string_view& v, const char* from, const char* to, std::size_t len) noexcept {
    auto p = reinterpret_cast<std::uintptr_t>(v.data());
    auto f = reinterpret_cast<std::uintptr_t>(from);
    if (p >= f && p <= f + len) v = std::string_view(to + (p - f), v.size());
}

/// The awaiting task's node (what cancellation targets), without suspending.
struct CurrentNode {
    detail::TaskNode* m_node = nullptr;
    bool await_ready() const noexcept { return false; }
    template <detail::CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        m_node = h.promise().m_node;
        return false;
    }
    detail::TaskNode* await_resume() const noexcept { return m_node; }
};

/// Lets the tasks queued before this one run, then resumes; never raises (a cancellation is seen at the
/// next await), so nothing can leave between a spawn and its join.
struct RunQueuedFirst {
    bool await_ready() const noexcept { return false; }
    template <detail::CorioPromise P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
        detail::TaskNode* n = h.promise().m_node;
        n->m_resume = h;
        detail::t_loop->schedule(n);
    }
    void await_resume() const noexcept {}
};

Task<void> wait_event(corio::Event& e) { co_await e.wait(); }

// ---- routing ---------------------------------------------------------------------------------------------

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Endpoint {
    std::string method;  // "*": any
    std::string pattern;
    std::vector<std::string> params;  // names of the pattern's {params}, in order
    Handler handler;
};

/// One path segment of the route tree: literal children by text, one parameter child, and the endpoints of
/// the patterns ending here.
struct RouteNode {
    std::unordered_map<std::string, std::unique_ptr<RouteNode>, StringHash, std::equal_to<>> literal;
    std::unique_ptr<RouteNode> param;
    std::deque<Endpoint> endpoints;  // a deque: adding a route never moves one a connection is using

    const Endpoint* find(std::string_view method) const noexcept {
        const Endpoint* any = nullptr;
        const Endpoint* get = nullptr;
        for (const Endpoint& e : endpoints) {
            if (e.method == method) return &e;
            if (e.method == "*") any = &e;
            else if (e.method == "GET") get = &e;
        }
        if (get && method == "HEAD") return get;
        return any;
    }
};

/// Depth-first, literal before parameter. `pos` is the start of the next segment; past the end: no more.
/// Returns the endpoint for `method`; `*path_node` gets the first node whose pattern matches the path.
const Endpoint* match(const RouteNode* n, std::string_view path, std::size_t pos, std::string_view method,
                      std::vector<std::string_view>& values, const RouteNode** path_node) {
    if (pos > path.size()) {
        if (n->endpoints.empty()) return nullptr;
        if (!*path_node) *path_node = n;
        return n->find(method);
    }
    std::size_t slash = path.find('/', pos);
    std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    std::string_view seg = path.substr(pos, end - pos);
    std::size_t next = end + 1;
    if (!n->literal.empty()) {
        auto it = n->literal.find(seg);
        if (it != n->literal.end())
            if (const Endpoint* e = match(it->second.get(), path, next, method, values, path_node)) return e;
    }
    if (n->param && !seg.empty()) {
        values.push_back(seg);
        if (const Endpoint* e = match(n->param.get(), path, next, method, values, path_node)) return e;
        values.pop_back();
    }
    return nullptr;
}

}  // namespace

// ---- Request ---------------------------------------------------------------------------------------------

struct Request::Access {
    static void begin(Request& r, const RequestParser& p, std::span<const Header> fields, int fd) {
        r.m_method = p.method();
        r.m_target = p.target();
        r.m_minor = p.version_minor();
        r.m_fields = fields;
        r.m_fd = fd;
        r.m_path = r.m_query = r.m_route = {};
        r.m_params.clear();
        r.m_headers_built = false;
        if (r.m_body.capacity() > k_keep_capacity) std::string().swap(r.m_body);
        r.m_body.clear();
    }
    /// Splits the target into path and query (after the body: views no longer move).
    static void split_target(Request& r) {
        std::string_view t = r.m_target;
        if (!t.empty() && t[0] != '/' && t != "*") {  // absolute-form: scheme://authority/path?query
            std::size_t scheme = t.find("://");
            std::size_t slash = scheme == std::string_view::npos ? std::string_view::npos : t.find('/', scheme + 3);
            std::size_t q = t.find('?', scheme == std::string_view::npos ? 0 : scheme + 3);
            if (slash == std::string_view::npos || (q != std::string_view::npos && q < slash)) {
                r.m_path = "/";
                if (q != std::string_view::npos) r.m_query = t.substr(q + 1);
                return;
            }
            t.remove_prefix(slash);
        }
        std::size_t q = t.find('?');
        std::string_view path = t.substr(0, q);
        if (q != std::string_view::npos) r.m_query = t.substr(q + 1);
        if (path.find('%') == std::string_view::npos) {
            r.m_path = path;
        } else {
            r.m_decoded_path = percent_decode(path);
            r.m_path = r.m_decoded_path;
        }
    }
    static void rebase(Request& r, const char* from, const char* to, std::size_t len) {
        rebase_view(r.m_method, from, to, len);
        rebase_view(r.m_target, from, to, len);
    }
    static std::string& body(Request& r) { return r.m_body; }
    static std::string_view path(const Request& r) { return r.m_path; }
    static void set_route(Request& r, const Endpoint& e, std::span<const std::string_view> values) {
        r.m_route = e.pattern;
        for (std::size_t i = 0; i < e.params.size() && i < values.size(); ++i)
            r.m_params.emplace_back(e.params[i], values[i]);
    }
};

std::optional<std::string> Request::query_param(std::string_view name) const {
    std::string_view q = m_query;
    while (!q.empty()) {
        std::size_t amp = q.find('&');
        std::string_view part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
        std::size_t eq = part.find('=');
        std::string_view k = part.substr(0, eq);
        if (k.find_first_of("%+") == std::string_view::npos ? k != name : percent_decode(k, true) != name) continue;
        if (eq == std::string_view::npos) return std::string();
        return percent_decode(part.substr(eq + 1), true);
    }
    return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
    for (const auto& [k, v] : m_params)
        if (k == name) return v;
    throw std::out_of_range("no path parameter \"" + std::string(name) + "\" in route \"" + std::string(m_route) +
                            "\"");
}

const HeaderMap& Request::headers() const {
    if (!m_headers_built) {
        m_headers.assign_parsed(Headers(m_fields));
        m_headers_built = true;
    }
    return m_headers;
}

nlohmann::json Request::json() const {
    try {
        return nlohmann::json::parse(m_body);
    } catch (const nlohmann::json::parse_error& e) {
        std::string what = "invalid JSON in the request body at offset " + std::to_string(e.byte) + " of " +
                           std::to_string(m_body.size()) + " bytes";
        std::string_view detail = e.what();
        if (auto colon = detail.find(": "); colon != std::string_view::npos) detail.remove_prefix(colon + 2);
        what.append(": ").append(detail);
        throw DecodeError(what, m_method, m_target);
    }
}

const net::SocketAddress& Request::peer() const {
    if (!m_peer_known) {
        socklen_t len = net::SocketAddress::capacity();
        if (::getpeername(m_fd, m_peer.data(), &len) < 0) throw IoError("getpeername", m_fd, errno);
        m_peer.set_size(len);
        m_peer_known = true;
    }
    return m_peer;
}

// ---- the server's state ----------------------------------------------------------------------------------

namespace {
class Connection;
}

struct Server::Impl {
    ServerOptions opts;
    RouteNode routes;
    net::TcpListener listener;
    std::uint16_t port = 0;
    std::string server_line;  // "Server: corio\r\n", or empty

    bool serving = false;
    bool stopping = false;          // no new connections
    bool draining = false;          // every response closes its connection
    bool shutdown_started = false;
    corio::Event shutdown_done;
    corio::Event serve_exited;
    corio::Event all_closed;
    JoinHandle<void> started;
    bool has_started = false;

    Connection* connections = nullptr;  // intrusive list of open connections
    ServerStatistics stats;

    std::time_t date_second = -1;
    char date_line[64] = "Date: ";  // "Date: <IMF-fixdate>\r\n"
    static constexpr std::size_t k_date_len = 6 + 29 + 2;

    explicit Impl(ServerOptions o) : opts(std::move(o)) {
        if (!opts.server_header.empty()) {
            if (opts.server_header.find_first_of("\r\n", 0) != std::string::npos ||
                opts.server_header.find('\0') != std::string::npos)
                throw std::invalid_argument("http::ServerOptions::server_header holds CR, LF or NUL");
            server_line = "Server: " + opts.server_header + "\r\n";
        }
    }

    std::string_view date() noexcept {
        std::time_t now = ::time(nullptr);
        if (now != date_second) {
            date_second = now;
            format_date(now, date_line + 6);
            date_line[35] = '\r';
            date_line[36] = '\n';
        }
        return {date_line, k_date_len};
    }

    void report(const std::exception_ptr& e, std::string_view method, std::string_view route) {
        if (opts.on_error) {
            try {
                opts.on_error(e, method, route);
            } catch (...) {  // a failing reporter must not take the connection down
            }
            return;
        }
        std::string type = exception_type(e);
        std::fprintf(stderr, "corio http server: the handler of %.*s %.*s raised %s; answered 500\n",
                     static_cast<int>(method.size()), method.data(), static_cast<int>(route.size()), route.data(),
                     type.c_str());
    }

    void cancel_connections(bool idle_only) noexcept;
};

namespace {

// ---- a connection ----------------------------------------------------------------------------------------

class Connection final : detail::TimerEntry {
public:
    enum class Phase : std::uint8_t { handshake, idle, head, body, handler, write, linger };

    Connection(Server::Impl& impl, net::TcpStream tcp)
        : m_impl(impl), m_tcp(std::move(tcp)), m_parser(impl.opts.limits), m_fd(m_tcp.fd()) {
        m_fire = &Connection::on_timer;
        m_later = impl.connections;
        if (m_later) m_later->m_earlier = this;
        impl.connections = this;
        ++impl.stats.connections_open;
        ++impl.stats.connections_total;
        impl.all_closed.clear();
        m_max_buffer = impl.opts.limits.max_header_bytes + impl.opts.limits.max_chunk_line + 16 * 1024;
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() {
        if (m_linked) detail::remove_timer(this);
        if (m_earlier) m_earlier->m_later = m_later;
        else m_impl.connections = m_later;
        if (m_later) m_later->m_earlier = m_earlier;
        if (--m_impl.stats.connections_open == 0) m_impl.all_closed.set();
    }

    Task<void> run();

    /// Cancels its task; one that has not run yet ends as soon as it does (counted since its accept).
    void cancel() noexcept {
        if (m_node) detail::cancel_node(m_node);
        else m_cancel_early = true;
    }
    [[nodiscard]] bool idle() const noexcept { return m_phase == Phase::idle || m_phase == Phase::handshake; }
    [[nodiscard]] Connection* next() const noexcept { return m_later; }

private:
    // ---- deadlines
    static void on_timer(detail::TimerEntry* t) noexcept {
        auto* c = static_cast<Connection*>(t);
        if (c->m_deadline == Clock::time_point::max()) return;  // disarmed meanwhile: re-armed on next use
        if (Clock::now() < c->m_deadline && detail::add_timer(c, c->m_deadline)) {
            c->m_armed_at = c->m_deadline;
            return;
        }
        c->m_timed_out = true;
        c->cancel();
    }
    void set_deadline(Clock::time_point d) noexcept {
        m_deadline = d;
        if (m_linked) {
            if (d >= m_armed_at) return;  // fires early, then re-arms for d
            detail::remove_timer(this);
        }
        if (detail::add_timer(this, d)) {
            m_armed_at = d;
        } else {
            m_timed_out = true;
            cancel();
        }
    }
    void set_timeout(std::chrono::milliseconds d) noexcept {
        if (d <= std::chrono::milliseconds::zero()) m_deadline = Clock::time_point::max();
        else set_deadline(coarse_now() + d);
    }
    void clear_deadline() noexcept { m_deadline = Clock::time_point::max(); }

    // ---- I/O
    Task<std::size_t> read_tls(char* p, std::size_t n) {
        return m_tls.read(std::span<std::byte>(reinterpret_cast<std::byte*>(p), n));
    }
    Task<void> flush(std::string_view tail = {});
    Task<void> fail(int status);
    Task<void> close_gracefully(bool linger);
    Task<void> send_408();
    Task<bool> respond(Response& r, bool head_only, bool& keep_alive);

    // ---- parsing
    /// Feeds `data`; false (with m_error_status set) when the request is malformed.
    bool feed(std::string_view data, Step& s) noexcept {
        try {
            s = m_parser.feed(data);
            return true;
        } catch (const RemoteProtocolError&) {
            m_error_status = status_of(m_parser.error());
            return false;
        } catch (...) {
            m_error_status = 400;
            return false;
        }
    }
    bool feed(Step& s) noexcept { return feed({m_buf.get() + m_pos, m_end - m_pos}, s); }
    static int status_of(ParseError e) noexcept {
        switch (e) {
        case ParseError::start_line_too_long: return 414;
        case ParseError::header_section_too_large:
        case ParseError::too_many_headers: return 431;
        case ParseError::unsupported_version: return 505;
        case ParseError::unsupported_transfer_encoding: return 501;
        default: return 400;
        }
    }
    /// Room to read more of a head: drops consumed bytes, or grows. False when at the limit.
    bool make_room_for_head() {
        if (m_pos == m_end) m_pos = m_end = 0;
        if (m_cap - m_end >= m_cap / 4) return true;
        if (m_pos > 0) {
            std::memmove(m_buf.get(), m_buf.get() + m_pos, m_end - m_pos);
            m_end -= m_pos;
            m_pos = 0;
            if (m_end < m_cap) return true;
        }
        if (m_cap >= m_max_buffer) return m_end < m_cap;
        grow(std::min(m_cap * 2, m_max_buffer), 0);
        return true;
    }
    /// Room to read more of a body: keeps the head (its views), drops body bytes consumed, or grows.
    void make_room_for_body() {
        if (m_cap - m_end >= 1024) return;
        std::size_t head = m_head_end - m_head_begin;
        std::size_t rest = m_end - m_pos;
        std::size_t cap = m_cap;
        while (head + rest + 4096 > cap) cap *= 2;
        grow(cap, head);
    }
    /// Moves the current head and the unconsumed bytes to the front of a buffer of `cap` bytes (a new one
    /// if larger), rebasing the request's views.
    void grow(std::size_t cap, std::size_t head) {
        char* old = m_buf.get();
        std::unique_ptr<char[]> fresh;
        char* to = old;
        if (cap > m_cap) {
            fresh.reset(new char[cap]);
            to = fresh.get();
        }
        if (head) {
            std::memmove(to, old + m_head_begin, head);
            Request::Access::rebase(m_req, old + m_head_begin, to, head);
            for (Header& h : m_fields) {
                rebase_view(h.name, old + m_head_begin, to, head);
                rebase_view(h.value, old + m_head_begin, to, head);
            }
        }
        std::size_t unconsumed = m_end - m_pos;
        std::memmove(to + head, old + m_pos, unconsumed);
        m_head_begin = 0;
        m_head_end = head;
        m_pos = head;
        m_end = head + unconsumed;
        if (fresh) {
            m_buf = std::move(fresh);
            m_cap = cap;
        }
    }

    // ---- responses
    void append_head(const Response& r, int status, int framing, std::uint64_t length, bool& keep_alive);
    const Endpoint* route(Response& refusal);

    Server::Impl& m_impl;
    net::TcpStream m_tcp;
    net::TlsStream m_tls;
    bool m_is_tls = false;
    RequestParser m_parser;
    int m_fd;

    std::unique_ptr<char[]> m_buf{new char[k_initial_buffer]};
    std::size_t m_cap = k_initial_buffer;
    std::size_t m_max_buffer;
    std::size_t m_head_begin = 0, m_head_end = 0, m_pos = 0, m_end = 0;
    std::string m_out;
    std::vector<Header> m_fields;
    std::vector<std::string_view> m_values;
    Request m_req;
    std::size_t m_served = 0;
    int m_error_status = 0;

    detail::TaskNode* m_node = nullptr;
    bool m_cancel_early = false;  // cancelled before its task first ran
    Phase m_phase = Phase::idle;
    bool m_timed_out = false;
    Clock::time_point m_deadline = Clock::time_point::max();
    Clock::time_point m_armed_at{};

    Connection* m_earlier = nullptr;  // Server::Impl::connections, newest first
    Connection* m_later = nullptr;
};

/// Sends m_out, then `tail` (a body too large to copy into m_out), and empties m_out.
Task<void> Connection::flush(std::string_view tail) {
    m_phase = Phase::write;
    const std::array<std::string_view, 2> pieces{m_out, tail};
    for (std::string_view piece : pieces) {
        if (m_is_tls) {
            // In slices: the timeout is for a write that makes no progress, not for a whole large body.
            while (!piece.empty()) {
                set_timeout(m_impl.opts.write_timeout);
                std::string_view slice = piece.substr(0, k_tls_write_slice);
                co_await m_tls.write_all(slice);
                piece.remove_prefix(slice.size());
            }
            continue;
        }
        while (!piece.empty()) {
            set_timeout(m_impl.opts.write_timeout);
            piece.remove_prefix(co_await corio::send(m_fd, piece.data(), piece.size()));
        }
    }
    if (m_out.capacity() > k_keep_capacity) std::string().swap(m_out);
    m_out.clear();
}

/// A malformed or over-limit request: the status, then close (reading what the client still sends).
Task<void> Connection::fail(int status) {
    ++m_impl.stats.protocol_errors;
    ++m_impl.stats.responses_by_class[status / 100];
    std::string_view reason = reason_phrase(status);
    m_out.append("HTTP/1.1 ");
    append_uint(m_out, static_cast<std::uint64_t>(status));
    m_out.append(" ").append(reason).append("\r\n");
    m_out.append(m_impl.date()).append(m_impl.server_line);
    m_out.append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    append_uint(m_out, reason.size() + 1);
    m_out.append("\r\nConnection: close\r\n\r\n").append(reason).append("\n");
    co_await flush();
    co_await close_gracefully(true);
}

Task<void> Connection::send_408() {
    static constexpr std::string_view k_408 =
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n"
        "Connection: close\r\n\r\nRequest Timeout\n";
    try {
        if (m_is_tls) co_await m_tls.write_all(k_408);
        else co_await corio::send(m_fd, k_408.data(), k_408.size());  // fits in any socket buffer
        ++m_impl.stats.responses_by_class[4];
    } catch (...) {  // the client is gone: nothing to tell it
    }
}

Task<void> Connection::close_gracefully(bool linger) {
    m_phase = Phase::linger;
    try {
        if (m_is_tls) {
            set_timeout(std::min<std::chrono::milliseconds>(m_impl.opts.write_timeout, 1s));
            co_await m_tls.shutdown();
        }
        if (!linger) co_return;
        // Closing with unread bytes would reset the connection, and the client could lose the response:
        // end our side, then read until the client closes (bounded in time and bytes). Over TLS the records
        // are dropped undecrypted: close_notify is out, nothing more is read through the TLS engine.
        ::shutdown(m_fd, SHUT_WR);
        set_deadline(coarse_now() + k_linger);
        std::size_t total = 0;
        while (total < k_linger_bytes) {
            std::size_t n = co_await corio::recv(m_fd, m_buf.get(), m_cap);
            if (n == 0) break;
            total += n;
        }
    } catch (...) {  // closing anyway
    }
}

void Connection::append_head(const Response& r, int status, int framing, std::uint64_t length, bool& keep_alive) {
    std::string& o = m_out;
    if (status == 200) {
        o.append("HTTP/1.1 200 OK\r\n");
    } else {
        o.append("HTTP/1.1 ");
        append_uint(o, static_cast<std::uint64_t>(status));
        o.push_back(' ');
        o.append(r.reason()).append("\r\n");
    }
    bool has_date = false, has_server = false;
    for (const HeaderField& h : r.headers()) {
        std::string_view n = h.name;
        switch (n.size()) {
        case 4:
            has_date = has_date || iequals(n, "date");
            break;
        case 6:
            has_server = has_server || iequals(n, "server");
            break;
        case 10:
            if (iequals(n, "connection")) {
                if (r.headers().has_token("connection", "close")) keep_alive = false;
                continue;
            }
            break;
        case 14:
            if (iequals(n, "content-length")) continue;
            break;
        case 17:
            if (iequals(n, "transfer-encoding")) continue;
            break;
        default:
            break;
        }
        o.append(n).append(": ").append(h.value).append("\r\n");
    }
    if (!has_date) o.append(m_impl.date());
    if (!has_server) o.append(m_impl.server_line);
    if (framing == 1) {
        o.append("Content-Length: ");
        append_uint(o, length);
        o.append("\r\n");
    } else if (framing == 2) {
        o.append("Transfer-Encoding: chunked\r\n");
    }
    if (!keep_alive) o.append("Connection: close\r\n");
    else if (m_req.version_minor() == 0) o.append("Connection: keep-alive\r\n");
    o.append("\r\n");
    ++m_impl.stats.responses_by_class[status / 100];
}

/// Serializes `r` into m_out (sending what must go at once: a stream, a large body). False when the
/// connection must be dropped at once (a stream's source failed midway).
Task<bool> Connection::respond(Response& r, bool head_only, bool& keep_alive) {
    int status = r.status();
    if (status < 200 || status > 999) {
        m_impl.report(std::make_exception_ptr(std::logic_error("http::Response status " + std::to_string(status) +
                                                                " is not a final status")),
                      m_req.method(), m_req.route());
        ++m_impl.stats.handler_errors;
        r = Response::text("Internal Server Error", 500);
        status = 500;
    }
    if (status == 204 || status == 304) {
        append_head(r, status, 0, 0, keep_alive);
        co_return true;
    }
    const BodySource& source = r.body_source();
    if (!source) {
        append_head(r, status, 1, r.body().size(), keep_alive);
        if (head_only || r.body().empty()) co_return true;
        if (r.body().size() <= k_copy_limit) {
            m_out.append(r.body());
        } else {
            co_await flush(r.body());
        }
        co_return true;
    }
    // A stream: chunked for HTTP/1.1, delimited by closing the connection for HTTP/1.0.
    bool chunked = m_req.version_minor() >= 1;
    if (!chunked && !head_only) keep_alive = false;
    append_head(r, status, chunked ? 2 : 0, 0, keep_alive);
    if (head_only) co_return true;
    co_await flush();
    for (;;) {
        m_phase = Phase::handler;
        clear_deadline();
        std::string piece;
        std::exception_ptr error;
        try {
            piece = co_await source();
        } catch (const CancelledError&) {
            throw;
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {  // the head is out: all we can do is cut the body short
            ++m_impl.stats.handler_errors;
            m_impl.report(error, m_req.method(), m_req.route());
            co_return false;
        }
        if (piece.empty()) break;
        if (chunked) {
            append_hex(m_out, piece.size());
            m_out.append("\r\n").append(piece).append("\r\n");
        } else {
            m_out.append(piece);
        }
        co_await flush();
    }
    if (chunked) m_out.append("0\r\n\r\n");
    co_return true;
}

/// The endpoint for the request (its route and parameters set in m_req), or nullptr with `refusal` set to
/// the 404 or 405 answer.
const Endpoint* Connection::route(Response& refusal) {
    const RouteNode* path_node = nullptr;
    std::string_view path = Request::Access::path(m_req);
    m_values.clear();
    if (!path.empty() && path[0] == '/') {
        if (const Endpoint* e =
                match(&m_impl.routes, path, path.size() == 1 ? 2 : 1, m_req.method(), m_values, &path_node)) {
            Request::Access::set_route(m_req, *e, m_values);
            return e;
        }
    }
    if (!path_node) {
        refusal = Response::text("Not Found", 404);
        return nullptr;
    }
    std::string allow;
    bool get = false, head = false;
    for (const Endpoint& ep : path_node->endpoints) {
        if (!allow.empty()) allow.append(", ");
        allow.append(ep.method);
        get = get || ep.method == "GET";
        head = head || ep.method == "HEAD";
    }
    if (get && !head) allow.append(", HEAD");
    refusal = Response::text("Method Not Allowed", 405);
    refusal.set_header("Allow", allow);
    return nullptr;
}

Task<void> Connection::run() {
    m_node = co_await CurrentNode{};
    if (m_cancel_early) co_return;  // shut down before it was served: closed unread
    const ServerOptions& o = m_impl.opts;
    bool cancelled = false;
    try {
        if (o.tls.valid()) {
            m_phase = Phase::handshake;
            set_timeout(o.header_timeout);
            m_tls = co_await net::TlsStream::accept(std::move(m_tcp), o.tls);
            m_tls.set_ignore_unexpected_eof(true);
            m_is_tls = true;
            m_fd = m_tls.tcp().fd();
        }
        bool first = true;
        for (;;) {
            // ---- the head: from what is buffered (pipelining), reading more only when needed
            Step st;
            bool started = false;  // bytes of this request arrived, if only empty lines: header_timeout runs
            for (;;) {
                if (!feed(st)) {
                    co_await fail(m_error_status);
                    co_return;
                }
                if (st.event == Event::head) break;
                m_pos += st.consumed;
                if (!m_out.empty()) co_await flush();
                if (m_pos == m_end && !started) {
                    m_phase = Phase::idle;
                    if (m_impl.draining) co_return;  // shutting down: no next request
                    set_timeout(first ? o.header_timeout : o.keepalive_timeout);
                } else {
                    m_phase = Phase::head;
                    if (!started) set_timeout(o.header_timeout);
                    started = true;
                }
                if (!make_room_for_head()) {
                    co_await fail(431);
                    co_return;
                }
                std::size_t n = m_is_tls ? co_await read_tls(m_buf.get() + m_end, m_cap - m_end)
                                         : co_await corio::recv(m_fd, m_buf.get() + m_end, m_cap - m_end);
                if (n == 0) {
                    if (m_pos != m_end) ++m_impl.stats.protocol_errors;  // closed inside a head
                    co_return;
                }
                if (!started) {
                    m_phase = Phase::head;
                    set_timeout(o.header_timeout);
                    started = true;
                }
                m_end += n;
            }
            first = false;
            m_head_begin = m_pos;
            m_pos += st.consumed;
            m_head_end = m_pos;
            ++m_impl.stats.requests;
            ++m_served;
            m_fields.assign(m_parser.headers().begin(), m_parser.headers().end());
            Request::Access::begin(m_req, m_parser, m_fields, m_fd);
            bool keep_alive = m_parser.keep_alive();
            // The client may send its next request before it reads our answer: if we end the connection
            // anyway (a limit, shutdown, the handler's Connection: close), those bytes must be read, not reset.
            const bool client_keeps_alive = keep_alive;
            const BodyKind kind = m_parser.body_kind();
            if (m_req.version_minor() >= 1 && !m_req.header("host")) {  // RFC 9112 §3.2
                co_await fail(400);
                co_return;
            }

            // ---- the body
            if (kind == BodyKind::length && m_parser.content_length() > o.max_body_size) {
                co_await fail(413);
                co_return;
            }
            bool has_body = kind == BodyKind::chunked || (kind == BodyKind::length && m_parser.content_length() > 0);
            if (auto expect = m_req.header("expect")) {
                if (!iequals(*expect, "100-continue")) {
                    co_await fail(417);
                    co_return;
                }
                if (has_body && m_req.version_minor() >= 1 && m_pos == m_end) {
                    m_out.append("HTTP/1.1 100 Continue\r\n\r\n");
                    ++m_impl.stats.responses_by_class[1];
                    co_await flush();
                }
            }
            std::string& body = Request::Access::body(m_req);
            if (kind == BodyKind::length) body.reserve(static_cast<std::size_t>(m_parser.content_length()));
            m_phase = Phase::body;
            for (;;) {
                if (!feed(st)) {
                    co_await fail(m_error_status);
                    co_return;
                }
                if (st.event == Event::complete) {
                    m_pos += st.consumed;
                    break;
                }
                if (st.event == Event::body) {
                    if (body.size() + st.data.size() > o.max_body_size) {
                        co_await fail(413);
                        co_return;
                    }
                    body.append(st.data);
                    m_pos += st.consumed;
                    continue;
                }
                m_pos += st.consumed;  // need_data
                if (!m_out.empty()) {  // answers to pipelined requests before this one: the client may wait for them
                    co_await flush();
                    m_phase = Phase::body;
                }
                set_timeout(o.body_timeout);
                std::size_t n;
                if (kind == BodyKind::length && m_pos == m_end) {
                    // Nothing buffered: read the body into place.
                    std::size_t have = body.size();
                    std::size_t want = static_cast<std::size_t>(
                        std::min<std::uint64_t>(m_parser.content_length() - have, k_direct_read));
                    body.resize(have + want);
                    n = m_is_tls ? co_await read_tls(body.data() + have, want)
                                 : co_await corio::recv(m_fd, body.data() + have, want);
                    body.resize(have + n);
                    if (n > 0) {
                        if (!feed(std::string_view(body.data() + have, n), st)) {
                            co_await fail(m_error_status);
                            co_return;
                        }
                        continue;
                    }
                } else {
                    make_room_for_body();
                    n = m_is_tls ? co_await read_tls(m_buf.get() + m_end, m_cap - m_end)
                                 : co_await corio::recv(m_fd, m_buf.get() + m_end, m_cap - m_end);
                    m_end += n;
                }
                if (n == 0) {  // closed inside the body
                    ++m_impl.stats.protocol_errors;
                    co_return;
                }
            }

            // ---- the handler
            m_phase = Phase::handler;
            clear_deadline();
            Request::Access::split_target(m_req);
            if (m_parser.upgrade() || m_impl.draining ||
                (o.max_requests_per_connection != 0 && m_served >= o.max_requests_per_connection))
                keep_alive = false;
            const bool head_only = m_req.method() == "HEAD";
            Response response;
            if (const Endpoint* endpoint = route(response)) {
                std::exception_ptr error;
                if (m_out.empty()) {
                    try {
                        response = co_await endpoint->handler(m_req);
                    } catch (const CancelledError&) {
                        throw;
                    } catch (...) {
                        error = std::current_exception();
                    }
                } else {
                    // Answers to earlier pipelined requests wait in m_out, to go out in one send. If this
                    // handler has to wait (it did not finish in its first run), send them now instead.
                    auto child = spawn(endpoint->handler(m_req));
                    co_await RunQueuedFirst{};
                    std::exception_ptr send_error;
                    if (!child.done()) {
                        try {
                            co_await flush();
                        } catch (...) {
                            send_error = std::current_exception();
                            child.cancel();
                        }
                        m_phase = Phase::handler;
                        clear_deadline();
                    }
                    try {
                        response = co_await child;  // waits for it even when cancelled: it uses m_req
                    } catch (const CancelledError&) {
                        if (!send_error) throw;
                    } catch (...) {
                        error = std::current_exception();
                    }
                    if (send_error) std::rethrow_exception(send_error);
                }
                if (error) {
                    ++m_impl.stats.handler_errors;
                    m_impl.report(error, m_req.method(), m_req.route());
                    response = Response::text("Internal Server Error", 500);
                }
            }

            // ---- the response
            m_phase = Phase::write;
            if (m_impl.draining) keep_alive = false;  // shutdown began while the handler ran
            if (!co_await respond(response, head_only, keep_alive)) co_return;
            if (!keep_alive) {
                co_await flush();
                co_await close_gracefully(client_keeps_alive || m_pos != m_end);
                co_return;
            }
            if (m_out.size() >= k_flush_at) co_await flush();
            if (m_pos == m_end) m_pos = m_end = 0;
        }
    } catch (const CancelledError&) {
        cancelled = true;
    } catch (...) {
        ++m_impl.stats.io_errors;
    }
    if (cancelled && m_timed_out && m_phase != Phase::linger) {
        ++m_impl.stats.timeouts;
        if (m_phase == Phase::head || m_phase == Phase::body) co_await shield(send_408());
    }
}

// The connection is made (and counted: max_connections, shutdown's wait) at its accept, before its task
// first runs: the accept loop may take a burst of connections before any of their tasks runs.
struct Accepted {
    std::shared_ptr<Server::Impl> self;  // members go in reverse order: the connection before the state it uses
    std::unique_ptr<Connection> c;
};

Task<void> connection_task(Accepted a) { co_await a.c->run(); }

Task<void> wait_all_closed(std::shared_ptr<Server::Impl> self) {
    while (self->stats.connections_open > 0) co_await self->all_closed.wait();
}

/// Closes the listener, cancels every connection and waits for them (serve() cancelled or failing).
Task<void> stop_everything(std::shared_ptr<Server::Impl> self) {
    self->stopping = self->draining = true;
    self->listener.close();
    self->cancel_connections(false);
    co_await wait_all_closed(self);
}

Task<void> join_serve(JoinHandle<void> h) { co_await h; }

bool transient_accept_error(int err) noexcept {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == ECONNABORTED ||
           err == EPERM || err == EPROTO;
}

Task<void> serve_loop(std::shared_ptr<Server::Impl> self) {
    if (self->serving) throw std::logic_error("http::Server::serve() is already running");
    if (!self->listener.is_open())
        throw std::logic_error(self->stopping ? "http::Server::serve() after shutdown()"
                                              : "http::Server::serve() before listen()");
    self->serving = true;
    self->serve_exited.clear();
    std::exception_ptr error;
    bool cancelled = false;
    try {
        for (;;) {
            net::TcpStream tcp;
            bool retry = false;
            try {
                tcp = co_await self->listener.accept();
            } catch (const IoError& e) {
                if (!self->stopping) {
                    if (!transient_accept_error(e.code())) throw;
                    retry = true;
                }
            }
            if (self->stopping) break;
            if (retry) {  // out of descriptors or memory: give connections time to close
                co_await sleep(50ms);
                continue;
            }
            if (self->stats.connections_open >= self->opts.max_connections) {
                ++self->stats.connections_rejected;
                continue;  // closed at once
            }
            spawn(connection_task({self, std::make_unique<Connection>(*self, std::move(tcp))})).detach();
        }
        co_await self->shutdown_done.wait();
    } catch (const CancelledError&) {
        cancelled = true;
    } catch (...) {
        error = std::current_exception();
    }
    if (cancelled || error) co_await shield(stop_everything(self));
    self->serving = false;
    self->serve_exited.set();
    if (error) std::rethrow_exception(error);
    if (cancelled) throw CancelledError();
}

Task<void> shutdown_impl(std::shared_ptr<Server::Impl> self, std::chrono::milliseconds grace) {
    if (self->shutdown_started) {
        co_await self->shutdown_done.wait();
        co_return;
    }
    self->shutdown_started = true;
    self->stopping = self->draining = true;
    self->listener.close();
    self->cancel_connections(true);
    bool cancelled = false;
    try {
        if (self->stats.connections_open > 0) {
            bool late = false;
            try {
                co_await corio::timeout(grace, wait_all_closed(self));
            } catch (const corio::TimeoutError&) {
                late = true;
            }
            if (late) {
                self->cancel_connections(false);
                co_await wait_all_closed(self);
            }
        }
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) co_await shield(stop_everything(self));
    self->shutdown_done.set();
    std::exception_ptr serve_error;
    if (self->has_started) {
        self->has_started = false;
        try {
            co_await shield(join_serve(std::move(self->started)));
        } catch (const CancelledError&) {
        } catch (...) {
            serve_error = std::current_exception();
        }
    } else if (self->serving) {
        co_await shield(wait_event(self->serve_exited));
    }
    if (cancelled) throw CancelledError();
    if (serve_error) std::rethrow_exception(serve_error);
}

void add_route(RouteNode& root, std::string method, std::string pattern, Handler handler) {
    if (method != "*" && !is_token(method))
        throw std::invalid_argument("http::Server::route(): invalid method \"" + method + "\"");
    if (pattern.empty() || pattern[0] != '/')
        throw std::invalid_argument("http::Server::route(): pattern \"" + pattern + "\" does not start with '/'");
    if (!handler) throw std::invalid_argument("http::Server::route(): empty handler for " + method + " " + pattern);
    RouteNode* n = &root;
    std::vector<std::string> names;
    if (pattern != "/") {
        std::string_view rest = std::string_view(pattern).substr(1);
        for (;;) {
            std::size_t slash = rest.find('/');
            std::string_view seg = rest.substr(0, slash);
            if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
                std::string_view name = seg.substr(1, seg.size() - 2);
                if (name.empty() || name.find_first_of("{}") != std::string_view::npos)
                    throw std::invalid_argument("http::Server::route(): invalid parameter in \"" + pattern + "\"");
                if (std::find(names.begin(), names.end(), name) != names.end())
                    throw std::invalid_argument("http::Server::route(): parameter \"" + std::string(name) +
                                                "\" twice in \"" + pattern + "\"");
                names.emplace_back(name);
                if (!n->param) n->param = std::make_unique<RouteNode>();
                n = n->param.get();
            } else {
                if (seg.find_first_of("{}") != std::string_view::npos)
                    throw std::invalid_argument("http::Server::route(): a parameter must be a whole segment: \"" +
                                                pattern + "\"");
                auto it = n->literal.find(seg);
                if (it == n->literal.end()) it = n->literal.emplace(std::string(seg), std::make_unique<RouteNode>()).first;
                n = it->second.get();
            }
            if (slash == std::string_view::npos) break;
            rest.remove_prefix(slash + 1);
        }
    }
    for (const Endpoint& e : n->endpoints)
        if (e.method == method)
            throw std::invalid_argument("http::Server::route(): " + method + " " + pattern + " is already routed (as " +
                                        e.pattern + ")");
    n->endpoints.push_back({std::move(method), std::move(pattern), std::move(names), std::move(handler)});
}

}  // namespace

void Server::Impl::cancel_connections(bool idle_only) noexcept {
    for (Connection* c = connections; c; c = c->next())
        if (!idle_only || c->idle()) c->cancel();
}

// ---- Server ----------------------------------------------------------------------------------------------

Server::Server(ServerOptions options) : m_impl(std::make_shared<Impl>(std::move(options))) {}

Server::Server(Server&&) noexcept = default;

Server& Server::operator=(Server&& o) noexcept {
    if (this != &o) {
        Server old(std::move(*this));
        m_impl = std::move(o.m_impl);
    }
    return *this;
}

Server::~Server() {
    if (!m_impl) return;
    Impl& i = *m_impl;
    i.stopping = i.draining = true;
    i.listener.close();
    if (detail::t_loop) i.cancel_connections(false);
    i.shutdown_done.set();  // a serve() still running returns
    if (i.has_started) {
        i.has_started = false;
        i.started.detach();
    }
}

Server& Server::route(std::string method, std::string pattern, Handler handler) {
    add_route(m_impl->routes, std::move(method), std::move(pattern), std::move(handler));
    return *this;
}

net::SocketAddress Server::listen(std::string_view address) {
    if (m_impl->listener.is_open()) throw std::logic_error("http::Server::listen(): already listening");
    if (m_impl->stopping) throw std::logic_error("http::Server::listen() after shutdown()");
    m_impl->listener = net::TcpListener::bind(address, m_impl->opts.listen);
    net::SocketAddress a = m_impl->listener.local_address();
    m_impl->port = a.port();
    return a;
}

std::uint16_t Server::port() const noexcept { return m_impl ? m_impl->port : 0; }

Task<void> Server::serve() { return serve_loop(m_impl); }

void Server::start() {
    if (m_impl->has_started) throw std::logic_error("http::Server::start(): already started");
    m_impl->started = spawn(serve_loop(m_impl));
    m_impl->has_started = true;
}

Task<void> Server::shutdown(std::chrono::milliseconds grace) { return shutdown_impl(m_impl, grace); }

ServerStatistics Server::statistics() const noexcept { return m_impl ? m_impl->stats : ServerStatistics{}; }

}  // namespace corio::http
