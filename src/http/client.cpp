// http::Client: requests over pooled connections, redirects, timeouts, retries, proxies, decoding.

#include "client_pool.hpp"

#include <corio/detail/node.hpp>
#include <corio/http/client.hpp>
#include <corio/net/error.hpp>

#include <zlib.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace corio::http {

/// What the client fills in of a received response.
struct Response::Access {
    static void head(Response& r, const ResponseParser& p) {
        r.m_status = p.status();
        r.m_reason.assign(p.reason());
        r.m_version_minor = p.version_minor();
        r.m_headers.assign_parsed(p.headers());
    }
    static void request(Response& r, std::string_view method, std::string url) {
        r.m_method.assign(method);
        r.m_url = std::move(url);
    }
    static void elapsed(Response& r, Clock::duration d) noexcept { r.m_elapsed = d; }
    static void history(Response& r, std::vector<Response> h) noexcept { r.m_history = std::move(h); }
};

namespace impl {

namespace {

// Read buffers start small (most responses are small, and 10,000 connections busy at once must not pin
// 160 MiB) and double, up to k_max_buffer, whenever a read fills all the room there was.
constexpr std::size_t k_buffer_size = 1024;
constexpr std::size_t k_max_buffer = 256 * 1024;
constexpr std::size_t k_min_read = 256;
constexpr std::size_t k_spare_buffers = 64;
constexpr auto k_peek_after = std::chrono::seconds(1);  // idle longer than this: check the peer has not closed

using ms = std::chrono::milliseconds;

std::string base64(std::string_view in) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                 std::uint8_t(in[i + 2]);
        out += table[n >> 18];
        out += table[(n >> 12) & 63];
        out += table[(n >> 6) & 63];
        out += table[n & 63];
    }
    if (i < in.size()) {
        std::uint32_t n = std::uint32_t(std::uint8_t(in[i])) << 16;
        if (i + 1 < in.size()) n |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
        out += table[n >> 18];
        out += table[(n >> 12) & 63];
        out += i + 1 < in.size() ? table[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string basic_auth(const std::string& userinfo) { return "Basic " + base64(percent_decode(userinfo)); }

bool idempotent(std::string_view method) noexcept {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE" ||
           method == "TRACE";
}

std::string ms_text(Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<ms>(d).count()) + " ms";
}

/// The time a phase may take: its own timeout, capped by the overall deadline. Zero: unlimited.
struct Limit {
    Clock::duration d{};
    bool by_deadline = false;
};
Limit phase_limit(ms phase, Clock::time_point deadline) {
    Limit l;
    if (phase.count() > 0) l.d = phase;
    if (deadline != Clock::time_point::max()) {
        auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) left = std::chrono::nanoseconds(1);
        if (l.d == Clock::duration::zero() || left < l.d) {
            l.d = left;
            l.by_deadline = true;
        }
    }
    return l;
}
std::string timeout_text(const char* what, const Limit& l, ms total) {
    if (l.by_deadline) return std::string(what) + ": the overall deadline of " + ms_text(total) + " passed";
    return std::string(what) + " took longer than " + ms_text(l.d);
}

std::optional<Url> proxy_from(const char* upper, const char* lower) {
    const char* v = std::getenv(lower);
    if (!v || !*v) v = std::getenv(upper);
    if (!v || !*v) return std::nullopt;
    std::string text = v;
    if (text.find("://") == std::string::npos) text = "http://" + text;
    return Url::parse(text);
}

}  // namespace

/// gzip/deflate decoding of a body, with the decoded size capped.
class Decoder {
public:
    explicit Decoder(bool gzip) : m_gzip(gzip) {}
    ~Decoder() {
        if (m_init) inflateEnd(&m_z);
    }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    /// Appends the decoding of `in` to `out`. Errors: DecodeError; ResponseTooLarge past `limit` in all.
    void feed(std::string_view in, std::string& out, std::size_t limit, const Response& r) {
        while (!in.empty()) {
            if (m_ended) {
                // Another gzip member (concatenated streams); anything else after the end is junk.
                if (!m_gzip) fail("data after the end of the deflate stream", r);
                inflateReset(&m_z);
                m_ended = false;
            }
            if (!m_init) start(in, r);
            m_z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
            m_z.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), 1u << 30));
            std::size_t given = m_z.avail_in;
            do {
                std::size_t before = out.size();
                std::size_t room = std::max<std::size_t>(in.size() * 4, 16 * 1024);
                out.resize(before + room);
                m_z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
                m_z.avail_out = static_cast<uInt>(room);
                int rc = inflate(&m_z, Z_NO_FLUSH);
                out.resize(before + room - m_z.avail_out);
                m_total += room - m_z.avail_out;
                if (m_total > limit) {
                    throw ResponseTooLarge("response body exceeds max_response_size (" + std::to_string(limit) +
                                               " bytes) once decoded",
                                           r.method(), r.url());
                }
                if (rc == Z_STREAM_END) {
                    m_ended = true;
                    break;
                }
                if (rc == Z_BUF_ERROR) break;  // needs more input
                if (rc != Z_OK) fail(m_z.msg ? m_z.msg : "corrupt data", r);
            } while (m_z.avail_in > 0 || m_z.avail_out == 0);
            in.remove_prefix(given - m_z.avail_in);
        }
    }
    /// The body ended: the compressed stream must have ended too.
    void finish(const Response& r) const {
        if (m_init && !m_ended) fail("the compressed body ends before its stream does", r);
    }

private:
    void start(std::string_view in, const Response& r) {
        int bits = 15 + 32;  // gzip or zlib, detected from the header
        if (!m_gzip) {
            // "deflate" should be zlib-wrapped (RFC 9110); some servers send raw deflate.
            auto b0 = static_cast<unsigned char>(in[0]);
            bool zlib_header = (b0 & 0x0f) == 8 && in.size() >= 2 &&
                               ((b0 << 8) | static_cast<unsigned char>(in[1])) % 31 == 0;
            bits = zlib_header ? 15 : -15;
        }
        std::memset(&m_z, 0, sizeof m_z);
        if (inflateInit2(&m_z, bits) != Z_OK) fail("zlib could not start", r);
        m_init = true;
    }
    [[noreturn]] void fail(const char* why, const Response& r) const {
        throw DecodeError(std::string("cannot decode the ") + (m_gzip ? "gzip" : "deflate") + " body: " + why,
                          r.method(), r.url());
    }

    z_stream m_z{};
    bool m_gzip;
    bool m_init = false;
    bool m_ended = false;
    std::size_t m_total = 0;
};

int Connection::fd() const noexcept { return tls ? const_cast<net::TlsStream&>(*tls).tcp().fd() : tcp.fd(); }

// ---------------------------------------------------------------------------------------------------------
// The pool

Pool::Pool(ClientOptions o) : options(std::move(o)) {
    if (!options.base_url.empty()) base = Url::parse(options.base_url);
    if (!options.proxy.empty()) {
        std::string text = options.proxy;
        if (text.find("://") == std::string::npos) text = "http://" + text;
        http_proxy = https_proxy = Url::parse(text);
    } else if (options.trust_env) {
        // Under CGI, HTTP_PROXY can come from a request's "Proxy:" header (httpoxy): only the lower-case one.
        bool cgi = std::getenv("REQUEST_METHOD") != nullptr;
        auto all = proxy_from("ALL_PROXY", "all_proxy");
        http_proxy = cgi ? proxy_from("", "http_proxy") : proxy_from("HTTP_PROXY", "http_proxy");
        https_proxy = proxy_from("HTTPS_PROXY", "https_proxy");
        if (!http_proxy) http_proxy = all;
        if (!https_proxy) https_proxy = all;
        const char* np = std::getenv("no_proxy");
        if (!np || !*np) np = std::getenv("NO_PROXY");
        if (np) {
            std::string_view list = np;
            while (!list.empty()) {
                std::size_t comma = list.find(',');
                std::string_view item = list.substr(0, comma);
                while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
                while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
                if (item == "*") no_proxy_all = true;
                if (!item.empty() && item.front() == '.') item.remove_prefix(1);
                if (!item.empty() && item.front() == '[') {  // [::1] or [::1]:port
                    item.remove_prefix(1);
                    item = item.substr(0, item.find(']'));
                } else if (std::count(item.begin(), item.end(), ':') == 1) {
                    item = item.substr(0, item.find(':'));
                }
                if (!item.empty()) {
                    std::string lower(item);
                    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
                    no_proxy.push_back(std::move(lower));
                }
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
        }
    }
}

Pool::~Pool() {
    close_idle();
    // Busy connections belong to leases, which hold the pool alive (shared_ptr): none is left here.
}

Origin& Pool::origin_for(const Url& url) {
    Route route;
    const std::optional<Url>& proxy = url.is_https() ? https_proxy : http_proxy;
    if (proxy) {
        bool bypass = no_proxy_all;
        for (const std::string& entry : no_proxy) {
            const std::string& h = url.host();
            if (h == entry || (h.size() > entry.size() && h.compare(h.size() - entry.size(), entry.size(), entry) == 0 &&
                               h[h.size() - entry.size() - 1] == '.'))
                bypass = true;
        }
        if (!bypass) {
            route.via_proxy = true;
            route.proxy = *proxy;
            if (!proxy->userinfo().empty()) route.proxy_auth = basic_auth(proxy->userinfo());
        }
    }
    std::string key = url.origin();
    if (route.via_proxy) key.append(" via ").append(route.proxy.origin());
    auto it = origins.find(key);
    if (it != origins.end()) return *it->second;
    auto o = std::make_unique<Origin>();
    o->key = key;
    o->url = url;
    o->route = std::move(route);
    Origin& ref = *o;
    origins.emplace(std::move(key), std::move(o));
    return ref;
}

bool Pool::under_host_limit(const Origin& o) const noexcept {
    std::size_t per_host = options.limits.max_connections_per_host;
    if (per_host == 0) per_host = options.limits.max_connections;
    return o.open < std::max<std::size_t>(per_host, 1);
}

bool Pool::can_open(const Origin& o) const noexcept {
    return open < std::max<std::size_t>(options.limits.max_connections, 1) && under_host_limit(o);
}

bool Pool::waiter_needs_slot() const noexcept {
    // Below max_connections every waiter is held back by its own origin's limit (and the scan is skipped:
    // thousands of requests gathered for one host wait here).
    if (open < std::max<std::size_t>(options.limits.max_connections, 1)) return false;
    for (const Waiter* w = wait_head; w; w = w->next)
        if (under_host_limit(*w->origin)) return true;
    return false;
}

void Pool::unlink_idle(Connection* c) noexcept {
    Origin& o = *c->origin;
    (c->prev ? c->prev->next : o.idle_head) = c->next;
    (c->next ? c->next->prev : o.idle_tail) = c->prev;
    c->prev = c->next = nullptr;
    --o.idle;
    --idle;
}

Connection* Pool::take_idle(Origin& o, bool check) noexcept {
    std::uint64_t loop = ::corio::detail::t_loop ? ::corio::detail::t_loop->m_id : 0;
    auto now = Clock::now();
    while (Connection* c = o.idle_head) {
        unlink_idle(c);
        bool fresh = c->loop_id == loop && now - c->idle_since < options.limits.keepalive_expiry;
        // An idle connection is sent nothing unasked. Whatever came is a response to no request (a second
        // answer, garbage), or, over TLS, an alert or close_notify (session tickets come before the first
        // response, and are read with it). Records the TLS engine took in with the last response cost no
        // system call to see.
        if (fresh && c->tls && c->tls->has_buffered_input()) fresh = false;
        if (fresh && (check || now - c->idle_since > k_peek_after)) {
            // Idle for a while: the server may have closed it. One non-blocking peek tells.
            char b;
            ssize_t n = ::recv(c->fd(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) fresh = false;
        }
        if (fresh) return c;
        destroy(c);
    }
    return nullptr;
}

bool Pool::evict_idle_other(const Origin& keep) noexcept {
    Connection* oldest = nullptr;
    for (auto& [key, o] : origins)
        if (o.get() != &keep && o->idle_tail && (!oldest || o->idle_tail->idle_since < oldest->idle_since))
            oldest = o->idle_tail;
    if (!oldest) return false;
    unlink_idle(oldest);
    destroy(oldest);
    return true;
}

void Pool::link_waiter(Waiter* w) noexcept {
    w->prev = wait_tail;
    w->next = nullptr;
    (wait_tail ? wait_tail->next : wait_head) = w;
    wait_tail = w;
    w->linked = true;
    ++waiting;
}

void Pool::unlink_waiter(Waiter* w) noexcept {
    if (!w->linked) return;
    (w->prev ? w->prev->next : wait_head) = w->next;
    (w->next ? w->next->prev : wait_tail) = w->prev;
    w->prev = w->next = nullptr;
    w->linked = false;
    --waiting;
}

void Pool::grant_waiters() noexcept {
    Waiter* w = wait_head;
    while (w) {
        Waiter* next = w->next;
        if (can_open(*w->origin)) {
            ++w->origin->open;
            ++open;
            w->granted = true;
            unlink_waiter(w);
            w->ready.set();
        } else if (open >= options.limits.max_connections) {
            break;
        }
        w = next;
    }
}

void Pool::destroy(Connection* c) noexcept {
    --c->origin->open;
    --open;
    if (!c->buf.empty() && spare_buffers.size() < k_spare_buffers) {
        c->begin = c->end = 0;
        spare_buffers.push_back(std::move(c->buf));
    }
    delete c;  // closes the socket
    grant_waiters();
}

void Pool::release(Connection* c, bool reusable) noexcept {
    std::uint64_t loop = ::corio::detail::t_loop ? ::corio::detail::t_loop->m_id : 0;
    if (!reusable || c->loop_id != loop || options.limits.max_keepalive == 0) {
        destroy(c);
        return;
    }
    ++c->served;
    c->parser.reset();
    // A request waiting for this origin takes the connection over at once.
    for (Waiter* w = wait_head; w; w = w->next) {
        if (w->origin == c->origin) {
            unlink_waiter(w);
            w->handed = c;
            w->ready.set();
            return;
        }
    }
    // Requests waiting for other origins need the slot more than this connection needs to idle, when a slot
    // is what they wait for: one that waits because its own origin is at max_connections_per_host gains
    // nothing from closing this connection.
    if (idle >= options.limits.max_keepalive || waiter_needs_slot()) {
        destroy(c);
        return;
    }
    if (c->begin == c->end) {
        // An idle connection holds no read buffer: 10,000 idle connections would otherwise pin 160 MiB.
        c->begin = c->end = 0;
        if (spare_buffers.size() < k_spare_buffers) spare_buffers.push_back(std::move(c->buf));
        std::string().swap(c->buf);
    }
    c->idle_since = Clock::now();
    Origin& o = *c->origin;
    c->prev = nullptr;
    c->next = o.idle_head;
    (o.idle_head ? o.idle_head->prev : o.idle_tail) = c;
    o.idle_head = c;
    ++o.idle;
    ++idle;
}

void Pool::close_idle() noexcept {
    for (auto& [key, o] : origins) {
        while (Connection* c = o->idle_head) {
            unlink_idle(c);
            destroy(c);
        }
    }
}

std::string Pool::take_buffer() {
    if (!spare_buffers.empty()) {
        std::string b = std::move(spare_buffers.back());
        spare_buffers.pop_back();
        return b;
    }
    return std::string(k_buffer_size, '\0');
}

const net::TlsContext& Pool::tls_context() {
    if (!tls.valid()) {
        net::TlsClientOptions o;
        o.verify = options.verify;
        o.ca_file = options.ca_file;
        o.alpn = {"http/1.1"};
        o.ignore_unexpected_eof = true;  // bodies carry their own length; a close-delimited one is checked below
        tls = net::TlsContext::client(std::move(o));
    }
    return tls;
}

Exchange::Exchange() = default;
Exchange::~Exchange() = default;

namespace {

/// A connection that turned out closed before any byte of the response came: retried when allowed.
struct StaleConnection {
    std::string why;
    bool sent = true;  // the request went out (else any method may be retried: the server never saw it)
};

[[noreturn]] void rethrow_connect_error(std::exception_ptr e, const Limit& l, ms total, std::string_view what,
                                        std::string_view method, const std::string& url) {
    try {
        std::rethrow_exception(e);
    } catch (const CancelledError&) {
        throw;
    } catch (const corio::TimeoutError&) {
        throw ConnectTimeout(timeout_text("connecting", l, total), method, url);
    } catch (const net::ConnectError& ce) {
        if (ce.code() == ETIMEDOUT) throw ConnectTimeout(ce.what(), method, url);
        std::string_view reason = ce.what();
        // The socket layer's message may already say what `what` says ("cannot connect to host:port: ...").
        if (reason.starts_with(what) && reason.substr(what.size()).starts_with(": "))
            throw ConnectError(std::string(reason), method, url);
        throw ConnectError(std::string(what) + ": " + ce.what(), method, url);
    } catch (const HttpError&) {
        throw;
    } catch (const std::exception& x) {
        throw ConnectError(std::string(what) + ": " + x.what(), method, url);
    }
}

/// Reads more of the response into the connection's buffer; returns the count (0: the peer closed).
Task<std::size_t> fill(Exchange& ex, Connection& c) {
    if (c.begin == c.end) c.begin = c.end = 0;
    if (c.grow && c.buf.size() < k_max_buffer) {
        c.buf.resize(std::max(c.buf.size() * 2, k_buffer_size));
    } else if (c.buf.size() - c.end < k_min_read) {
        if (c.begin > 0) {
            std::memmove(c.buf.data(), c.buf.data() + c.begin, c.end - c.begin);
            c.end -= c.begin;
            c.begin = 0;
        }
        if (c.buf.size() - c.end < k_min_read) c.buf.resize(std::max(c.buf.size() * 2, k_buffer_size));
    }
    c.grow = false;
    std::span<std::byte> into(reinterpret_cast<std::byte*>(c.buf.data() + c.end), c.buf.size() - c.end);
    Limit l = phase_limit(ex.timeouts.read, ex.deadline);
    std::size_t n = 0;
    std::exception_ptr error;
    try {
        if (l.d == Clock::duration::zero()) {
            n = c.tls ? co_await c.tls->read(into) : co_await c.tcp.read(into);
        } else {
            n = c.tls ? co_await corio::timeout(l.d, c.tls->read(into)) : co_await corio::timeout(l.d, c.tcp.read(into));
        }
    } catch (const CancelledError&) {
        throw;
    } catch (const corio::TimeoutError&) {
        throw ReadTimeout(timeout_text("reading the response", l, ex.timeouts.total), ex.response.method(),
                          ex.response.url());
    } catch (const IoError& e) {
        if ((e.code() == ECONNRESET || e.code() == EPIPE) && c.served > 0 && c.parser.error() == ParseError::none &&
            ex.body_bytes == 0 && ex.response.status() == 0)
            throw StaleConnection{e.what()};
        throw NetworkError(std::string("connection failed while reading the response: ") + e.what(),
                           ex.response.method(), ex.response.url());
    } catch (const std::exception& e) {
        throw NetworkError(std::string("connection failed while reading the response: ") + e.what(),
                           ex.response.method(), ex.response.url());
    }
    c.end += n;
    c.grow = n == into.size();
    co_return n;
}

void build_request(Connection& c, const Origin& o, std::string_view method, const Url& url, const HeaderMap& headers,
                   const ClientOptions& options, const std::string* body) {
    std::string& w = c.wbuf;
    w.clear();
    w.append(method).append(" ");
    if (o.route.via_proxy && !url.is_https()) {
        w.append(url.scheme()).append("://").append(url.authority()).append(url.target());
    } else {
        w.append(url.target());
    }
    w.append(" HTTP/1.1\r\n");
    auto field = [&w](std::string_view name, std::string_view value) {
        w.append(name).append(": ").append(value).append("\r\n");
    };
    if (!headers.contains("host")) field("Host", url.authority());
    for (const HeaderField& f : headers) field(f.name, f.value);
    for (const HeaderField& f : options.headers)
        if (!headers.contains(f.name)) field(f.name, f.value);
    if (!headers.contains("user-agent") && !options.headers.contains("user-agent") && !options.user_agent.empty())
        field("User-Agent", options.user_agent);
    if (!headers.contains("accept") && !options.headers.contains("accept")) field("Accept", "*/*");
    if (options.decompress && !headers.contains("accept-encoding") && !options.headers.contains("accept-encoding"))
        field("Accept-Encoding", "gzip, deflate");
    if (!url.userinfo().empty() && !headers.contains("authorization")) field("Authorization", basic_auth(url.userinfo()));
    if (o.route.via_proxy && !url.is_https() && !o.route.proxy_auth.empty()) field("Proxy-Authorization", o.route.proxy_auth);
    if (body) {
        if (!headers.contains("content-length") && !headers.contains("transfer-encoding"))
            field("Content-Length", std::to_string(body->size()));
    } else if (method == "POST" || method == "PUT" || method == "PATCH") {
        field("Content-Length", "0");
    }
    w.append("\r\n");
}

/// Asks the proxy for a tunnel to the origin (CONNECT host:port) and reads its answer's head.
Task<void> proxy_connect(net::TcpStream& tcp, const Origin& o, const ParserLimits& limits) {
    const Url& target = o.url;
    const Url& peer = o.route.proxy;
    std::string hostport = target.authority();
    if (target.default_port()) hostport += ":443";
    std::string req = "CONNECT " + hostport + " HTTP/1.1\r\nHost: " + hostport + "\r\n";
    if (!o.route.proxy_auth.empty()) req += "Proxy-Authorization: " + o.route.proxy_auth + "\r\n";
    req += "\r\n";
    co_await tcp.write_all(req);
    ResponseParser parser(limits);
    std::string buf;
    std::string chunk(4096, '\0');
    for (;;) {  // every event of the bytes in hand before reading more: a 1xx may come with the answer
        Step st = parser.feed(buf);
        buf.erase(0, st.consumed);
        if (st.event == Event::head && !parser.interim()) break;
        if (st.event != Event::need_data) continue;
        std::size_t n = co_await tcp.read(chunk.data(), chunk.size());
        if (n == 0) throw net::NetError("the proxy " + peer.authority() + " closed the connection during CONNECT");
        buf.append(chunk.data(), n);
    }
    if (parser.status() < 200 || parser.status() >= 300)
        throw net::NetError("the proxy " + peer.authority() + " refused CONNECT " + hostport + ": " +
                            std::to_string(parser.status()) + " " + std::string(parser.reason()));
}

/// Opens a connection to `o`: TCP (through the proxy when there is one), CONNECT, TLS.
Task<std::unique_ptr<Connection>> open_connection(Pool& pool, Origin& o) {
    auto c = std::make_unique<Connection>(pool.options.parser_limits);
    c->loop_id = ::corio::detail::loop().m_id;
    const Url& target = o.url;
    const Url& peer = o.route.via_proxy ? o.route.proxy : target;
    net::ConnectOptions co;
    co.timeout = ms(0);  // the caller's timeout covers the whole of it
    if (auto ip = net::SocketAddress::try_ip(peer.host(), peer.port())) c->tcp = co_await net::TcpStream::connect(*ip, co);
    else c->tcp = co_await net::TcpStream::connect(peer.host(), peer.port(), co);
    if (o.route.via_proxy && target.is_https()) co_await proxy_connect(c->tcp, o, pool.options.parser_limits);
    if (target.is_https()) {
        auto tls = co_await net::TlsStream::connect(std::move(c->tcp), pool.tls_context(), target.host());
        tls.set_ignore_unexpected_eof(true);
        c->tls = std::make_unique<net::TlsStream>(std::move(tls));
    }
    co_return c;
}

/// A connection of `o` for one request: an idle one, a new one, or one handed over after waiting.
Task<Lease> acquire(Pool& pool, Origin& o, const Timeouts& t, Clock::time_point deadline, std::string_view method,
                    const std::string& url) {
    for (;;) {
        if (Connection* c = pool.take_idle(o, !idempotent(method))) co_return Lease(&pool, c);
        bool reserved = false;
        if (pool.can_open(o)) {
            ++o.open;
            ++pool.open;
            reserved = true;
        } else if (pool.open >= pool.options.limits.max_connections && pool.under_host_limit(o) &&
                   pool.evict_idle_other(o)) {
            continue;  // only the overall limit was in the way: another origin's idle connection made room
        }
        if (!reserved) {
            Waiter w;
            w.origin = &o;
            pool.link_waiter(&w);
            Limit l = phase_limit(t.pool, deadline);
            std::exception_ptr error;
            try {
                if (l.d == Clock::duration::zero()) co_await w.ready.wait();
                else co_await corio::timeout(l.d, w.ready.wait());
            } catch (...) {
                error = std::current_exception();
            }
            pool.unlink_waiter(&w);
            if (error) {
                // Whatever was handed over meanwhile goes back.
                if (w.handed) pool.release(w.handed, true);
                if (w.granted) {
                    --o.open;
                    --pool.open;
                    pool.grant_waiters();
                }
                try {
                    std::rethrow_exception(error);
                } catch (const corio::TimeoutError&) {
                    throw PoolTimeout(timeout_text("waiting for a free connection", l, t.total) + " (" +
                                          std::to_string(pool.open) + " connections open, max_connections " +
                                          std::to_string(pool.options.limits.max_connections) + ")",
                                      method, url);
                }
            }
            if (w.handed) co_return Lease(&pool, w.handed);
            if (!w.granted) continue;
        }
        // A slot is ours: open the connection.
        Limit l = phase_limit(t.connect, deadline);
        std::unique_ptr<Connection> conn;
        std::exception_ptr error;
        try {
            if (l.d == Clock::duration::zero()) conn = co_await open_connection(pool, o);
            else conn = co_await corio::timeout(l.d, open_connection(pool, o));
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            --o.open;
            --pool.open;
            pool.grant_waiters();
            rethrow_connect_error(error, l, t.total, "cannot connect to " + o.url.authority(), method, url);
        }
        conn->origin = &o;
        conn->buf = pool.take_buffer();
        ++pool.created;
        co_return Lease(&pool, conn.release());
    }
}

/// Writes the request built in c.wbuf, then `rest` (a large body sent as it is, not copied). Plain TCP
/// counts the bytes in `sent` as they go (TLS counts its records itself): after a failure, whether the
/// server may have seen part of the request.
Task<void> send_request(Connection& c, std::string_view rest, std::uint64_t& sent) {
    if (c.tls) {
        co_await c.tls->write_all(c.wbuf);
        if (!rest.empty()) co_await c.tls->write_all(rest);
    } else {
        for (std::string_view part : {std::string_view(c.wbuf), rest})
            co_await c.tcp.write_all(std::as_bytes(std::span<const char>(part.data(), part.size())), sent);
    }
}

/// Sends the request on a leased connection and reads the response's head into ex.response.
Task<void> exchange_once(Exchange& ex, Origin& o, std::string_view method, const Url& url, const HeaderMap& headers,
                         const std::string* body) {
    Pool& pool = *ex.pool;
    Connection& c = *ex.lease.conn;
    if (c.buf.empty()) {
        c.buf = pool.take_buffer();
        c.begin = c.end = 0;
    }
    ++pool.requests;
    if (c.served > 0) ++pool.reused;
    build_request(c, o, method, url, headers, pool.options, body);
    bool separate_body = body && body->size() > 64 * 1024;
    if (body && !separate_body) c.wbuf.append(*body);

    // Write.
    {
        Limit l = phase_limit(ex.timeouts.write, ex.deadline);
        std::exception_ptr error;
        std::string_view rest = separate_body ? std::string_view(*body) : std::string_view();
        std::uint64_t sent = 0;
        std::uint64_t tls_before = c.tls ? c.tls->statistics().raw_bytes_sent : 0;
        try {
            if (l.d == Clock::duration::zero()) co_await send_request(c, rest, sent);
            else co_await corio::timeout(l.d, send_request(c, rest, sent));
        } catch (const CancelledError&) {
            throw;
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const corio::TimeoutError&) {
                throw WriteTimeout(timeout_text("sending the request", l, ex.timeouts.total), method, url.to_string());
            } catch (const IoError& e) {
                // A kept-alive connection the server had closed fails at the first send, and any method may
                // be retried: the server saw nothing. Once a byte went out (a body larger than the socket
                // buffers fails in the middle), the server may have acted on it: only an idempotent request
                // may be sent again.
                if (c.tls) sent = c.tls->statistics().raw_bytes_sent - tls_before;
                if (c.served > 0 && (sent == 0 || idempotent(method))) throw StaleConnection{e.what(), sent > 0};
                throw NetworkError(std::string("connection failed while sending the request: ") + e.what(), method,
                                   url.to_string());
            } catch (const std::exception& e) {
                throw NetworkError(std::string("connection failed while sending the request: ") + e.what(), method,
                                   url.to_string());
            }
        }
    }

    // Read the head (skipping interim 1xx responses).
    if (ex.head_request) c.parser.expect_no_body();
    for (;;) {
        Step st;
        try {
            st = c.parser.feed(std::string_view(c.buf.data() + c.begin, c.end - c.begin));
        } catch (const RemoteProtocolError& e) {
            throw RemoteProtocolError(e.what(), method, url.to_string());
        }
        if (st.event == Event::head && !c.parser.interim()) {
            Response::Access::head(ex.response, c.parser);
            c.begin += st.consumed;
            co_return;  // a body-less response completes at the next feed (Exchange::read_body)
        }
        c.begin += st.consumed;
        if (st.event != Event::need_data) continue;
        bool began = c.begin != c.end;
        std::size_t n = co_await fill(ex, c);
        if (n == 0) {
            if (!began && c.served > 0) throw StaleConnection{"the server closed the kept-alive connection"};
            if (!began)
                throw RemoteProtocolError("server disconnected without sending a response", method, url.to_string());
            try {
                (void)c.parser.finish();
            } catch (const RemoteProtocolError& e) {
                throw RemoteProtocolError(e.what(), method, url.to_string());
            }
            throw RemoteProtocolError("server disconnected in the middle of the response head", method, url.to_string());
        }
    }
}

/// Sends one request (no redirects), retrying a stale kept-alive connection and, when configured, a failed
/// connect. Returns with the head read.
Task<void> start_exchange(Exchange& ex, std::string_view method, const Url& url, const HeaderMap& headers,
                          const std::string* body) {
    Pool& pool = *ex.pool;
    Origin& o = pool.origin_for(url);
    std::string url_text = url.to_string();
    ex.head_request = method == "HEAD";
    int connect_failures = 0;
    int stale = 0;
    for (;;) {
        ex.response = Response();
        Response::Access::request(ex.response, method, url_text);
        ex.response.set_status(0);
        ex.body_bytes = 0;
        ex.started = Clock::now();
        std::exception_ptr error;
        try {
            ex.lease = co_await acquire(pool, o, ex.timeouts, ex.deadline, method, url_text);
            co_await exchange_once(ex, o, method, url, headers, body);
            co_return;
        } catch (const StaleConnection& s) {
            ex.lease.reusable = false;
            ex.lease.reset();
            if (++stale > 2 || (s.sent && !idempotent(method)))
                throw RemoteProtocolError("server closed the kept-alive connection before responding (" + s.why + ")",
                                          method, url_text);
            continue;
        } catch (const ConnectError&) {
            error = std::current_exception();
        } catch (const ConnectTimeout&) {
            error = std::current_exception();
        }
        ex.lease.reusable = false;
        ex.lease.reset();
        if (connect_failures >= pool.options.retries || !idempotent(method)) std::rethrow_exception(error);
        auto wait = pool.options.retry_backoff * (1 << std::min(connect_failures, 16));
        ++connect_failures;
        if (ex.deadline != Clock::time_point::max() && Clock::now() + wait >= ex.deadline) std::rethrow_exception(error);
        co_await corio::sleep(wait);
    }
}

}  // namespace

Task<bool> Exchange::read_body(std::string& out) {
    if (done) co_return false;
    Connection& c = *lease.conn;
    std::size_t limit = pool->options.max_response_size;
    std::size_t before = out.size();
    for (;;) {
        Step st;
        try {
            st = c.parser.feed(std::string_view(c.buf.data() + c.begin, c.end - c.begin));
        } catch (const RemoteProtocolError& e) {
            throw RemoteProtocolError(e.what(), response.method(), response.url());
        }
        c.begin += st.consumed;
        switch (st.event) {
        case Event::body:
            body_bytes += st.data.size();
            if (decoder) {
                decoder->feed(st.data, out, limit, response);
            } else {
                if (body_bytes > limit)
                    throw ResponseTooLarge("response body exceeds max_response_size (" + std::to_string(limit) + " bytes)",
                                           response.method(), response.url());
                out.append(st.data);
            }
            if (out.size() > before) co_return true;
            continue;
        case Event::complete:
            if (decoder) decoder->finish(response);
            done = true;
            // Bytes after the response (none were asked for) make the connection unfit for reuse; so does a
            // close() that came while the last bytes were read (it shut the socket down).
            lease.reusable = !closing && c.parser.keep_alive() && !c.parser.upgrade() && c.begin == c.end;
            lease.reset();
            co_return out.size() > before;
        case Event::head:  // an interim response cannot come here: the head was read already
        case Event::need_data:
            break;
        }
        std::size_t n = co_await fill(*this, c);
        if (n == 0) {
            bool complete = false;
            try {
                complete = c.parser.finish();
            } catch (const RemoteProtocolError&) {
                throw RemoteProtocolError("peer closed the connection without sending the complete body (" +
                                              std::to_string(body_bytes) + " bytes received)",
                                          response.method(), response.url());
            }
            if (!complete)
                throw RemoteProtocolError("peer closed the connection before the response ended", response.method(),
                                          response.url());
            if (decoder) decoder->finish(response);
            done = true;
            lease.reusable = false;
            lease.reset();
            co_return out.size() > before;
        }
    }
}

Task<bool> Exchange::read_stream(std::string& out) {
    if (failure) std::rethrow_exception(failure);
    if (!lease.conn) co_return false;  // read to the end, or closed
    if (reading) throw std::logic_error("StreamResponse: another read of the body is in progress");
    reading = true;
    bool more = false;
    std::exception_ptr error;
    try {
        more = co_await read_body(out);
    } catch (...) {
        error = std::current_exception();
    }
    reading = false;
    if (!closing && !error) co_return more;
    // The connection stopped somewhere in the body: what is left of it cannot be found again.
    if (closing) {
        failure = std::make_exception_ptr(NetworkError("the response was closed while its body was being read",
                                                       response.method(), response.url()));
        error = failure;
    } else if (detail::is_cancellation(error)) {
        // The cancelled receive may have taken bytes with it (io_uring): the body cannot go on.
        failure = std::make_exception_ptr(
            NetworkError("an earlier read of the body was cancelled: its connection is closed, the rest of the body "
                         "is lost",
                         response.method(), response.url()));
    } else {
        failure = error;
    }
    lease.reusable = false;
    lease.reset();
    std::rethrow_exception(error);
}

void Exchange::close() noexcept {
    if (!lease.conn) return;
    lease.reusable = false;
    if (!reading) {
        lease.reset();
        return;
    }
    // A read (another task's) waits in fill() on this connection: freeing it now would pull the socket, the
    // TLS state and the read buffer from under it (io_uring may still write into that buffer). Shutting
    // the socket down wakes the read at once under both backends; the read then frees the connection.
    closing = true;
    ::shutdown(lease.conn->fd(), SHUT_RDWR);
}

namespace {

/// Picks the decoder for the response's Content-Encoding.
void setup_decoder(Exchange& ex) {
    if (!ex.pool->options.decompress) return;
    auto enc = ex.response.headers().get("content-encoding");
    if (!enc) return;
    std::string_view e = *enc;
    if (iequals(e, "gzip") || iequals(e, "x-gzip")) ex.decoder = std::make_unique<Decoder>(true);
    else if (iequals(e, "deflate")) ex.decoder = std::make_unique<Decoder>(false);
}

Url resolve_url(const Pool& pool, std::string_view text, std::string_view method) {
    try {
        bool relative = text.find("://") == std::string_view::npos;
        if (relative && pool.base) {
            // base_url "https://h/v1" + "users" -> "https://h/v1/users" (as httpx: the base is a directory).
            Url base = *pool.base;
            std::string path(base.path());
            if (path.empty() || path.back() != '/') {
                std::string joined = base.to_string();
                std::size_t q = joined.find('?');
                if (q != std::string::npos) joined.resize(q);
                base = Url::parse(joined + "/");
            }
            while (!text.empty() && text.front() == '/') text.remove_prefix(1);
            return base.join(text);
        }
        return Url::parse(text);
    } catch (const InvalidUrl& e) {
        throw InvalidUrl(e.what(), method, text);
    }
}

void prepare_body(RequestOptions& opts, std::optional<std::string>& body) {
    int count = (opts.json ? 1 : 0) + (!opts.form.empty() ? 1 : 0) + (opts.content ? 1 : 0);
    if (count > 1) throw std::invalid_argument("a request takes one of json, form and content, not several");
    if (opts.json) {
        body = opts.json->dump();
        if (!opts.headers.contains("content-type")) opts.headers.add("Content-Type", "application/json");
    } else if (!opts.form.empty()) {
        body = encode_params(opts.form);
        if (!opts.headers.contains("content-type"))
            opts.headers.add("Content-Type", "application/x-www-form-urlencoded");
    } else if (opts.content) {
        body = std::move(*opts.content);
    }
}

}  // namespace

}  // namespace impl

// -------------------------------------------------------------------------------------------------------------
// Client

Client::Client(ClientOptions options) : m_pool(std::make_shared<impl::Pool>(std::move(options))) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() {
    if (m_pool) m_pool->close_idle();
}

Task<Response> Client::request(std::string method, std::string url, RequestOptions opts) {
    std::shared_ptr<impl::Pool> pool = m_pool;
    impl::Exchange ex;
    ex.pool = pool;
    ex.timeouts = opts.timeout.value_or(pool->options.timeout);
    if (ex.timeouts.total.count() > 0) ex.deadline = Clock::now() + ex.timeouts.total;
    Url u = impl::resolve_url(*pool, url, method);
    u.add_params(opts.params);
    std::optional<std::string> body;
    impl::prepare_body(opts, body);
    bool follow = opts.follow_redirects.value_or(pool->options.follow_redirects);
    std::vector<Response> history;
    for (int hop = 0;; ++hop) {
        co_await impl::start_exchange(ex, method, u, opts.headers, body ? &*body : nullptr);
        impl::setup_decoder(ex);
        Response& r = ex.response;
        while (co_await ex.read_body(r.body())) {
        }
        Response::Access::elapsed(r, Clock::now() - ex.started);
        ex.decoder.reset();
        if (!follow || !r.is_redirect()) {
            Response out = std::move(r);
            Response::Access::history(out, std::move(history));
            co_return out;
        }
        if (hop >= pool->options.max_redirects) {
            throw TooManyRedirects("exceeded max_redirects (" + std::to_string(pool->options.max_redirects) +
                                       ") following redirects from " + u.to_string(),
                                   method, r.url());
        }
        Url next;
        try {
            next = u.join(*r.headers().get("location"));
        } catch (const InvalidUrl& e) {
            throw RemoteProtocolError(std::string("invalid redirect location: ") + e.what(), method, r.url());
        }
        int status = r.status();
        if ((status == 303 && method != "HEAD") || ((status == 301 || status == 302) && method == "POST")) {
            method = "GET";
            body.reset();
            opts.headers.remove("content-type");
            opts.headers.remove("content-length");
            opts.headers.remove("transfer-encoding");
        }
        if (next.origin() != u.origin()) {
            opts.headers.remove("authorization");
            opts.headers.remove("cookie");
        }
        opts.headers.remove("host");
        r.body().clear();
        history.push_back(std::move(r));
        u = std::move(next);
    }
}

Task<Response> Client::get(std::string url, RequestOptions o) { return request("GET", std::move(url), std::move(o)); }
Task<Response> Client::head(std::string url, RequestOptions o) { return request("HEAD", std::move(url), std::move(o)); }
Task<Response> Client::post(std::string url, RequestOptions o) { return request("POST", std::move(url), std::move(o)); }
Task<Response> Client::put(std::string url, RequestOptions o) { return request("PUT", std::move(url), std::move(o)); }
Task<Response> Client::patch(std::string url, RequestOptions o) { return request("PATCH", std::move(url), std::move(o)); }
Task<Response> Client::options(std::string url, RequestOptions o) {
    return request("OPTIONS", std::move(url), std::move(o));
}
Task<Response> Client::del(std::string url, RequestOptions o) { return request("DELETE", std::move(url), std::move(o)); }

Task<StreamResponse> Client::stream(std::string method, std::string url, RequestOptions opts) {
    std::shared_ptr<impl::Pool> pool = m_pool;
    auto ex = std::make_unique<impl::Exchange>();
    ex->pool = pool;
    ex->timeouts = opts.timeout.value_or(pool->options.timeout);
    if (ex->timeouts.total.count() > 0) ex->deadline = Clock::now() + ex->timeouts.total;
    Url u = impl::resolve_url(*pool, url, method);
    u.add_params(opts.params);
    std::optional<std::string> body;
    impl::prepare_body(opts, body);
    co_await impl::start_exchange(*ex, method, u, opts.headers, body ? &*body : nullptr);
    impl::setup_decoder(*ex);
    co_return StreamResponse(std::move(ex));
}

ClientStatistics Client::statistics() const noexcept {
    ClientStatistics s;
    s.connections_open = m_pool->open;
    s.connections_idle = m_pool->idle;
    s.connections_created = m_pool->created;
    s.requests = m_pool->requests;
    s.reused = m_pool->reused;
    s.pool_waiting = m_pool->waiting;
    return s;
}

void Client::close_idle() noexcept { m_pool->close_idle(); }
const ClientOptions& Client::client_options() const noexcept { return m_pool->options; }

// -------------------------------------------------------------------------------------------------------------
// StreamResponse

namespace {
const HeaderMap k_no_headers;
const std::string k_no_url;
}  // namespace

StreamResponse::StreamResponse() noexcept = default;
StreamResponse::StreamResponse(std::unique_ptr<impl::Exchange> exchange) noexcept : m_exchange(std::move(exchange)) {}
StreamResponse::StreamResponse(StreamResponse&&) noexcept = default;
StreamResponse& StreamResponse::operator=(StreamResponse&&) noexcept = default;
StreamResponse::~StreamResponse() = default;

int StreamResponse::status() const noexcept { return m_exchange ? m_exchange->response.status() : 0; }
std::string_view StreamResponse::reason() const noexcept {
    return m_exchange ? m_exchange->response.reason() : std::string_view{};
}
const HeaderMap& StreamResponse::headers() const noexcept {
    return m_exchange ? m_exchange->response.headers() : k_no_headers;
}
const std::string& StreamResponse::url() const noexcept { return m_exchange ? m_exchange->response.url() : k_no_url; }

Task<std::string> StreamResponse::read_chunk() {
    std::string out;
    if (!m_exchange) co_return out;
    (void)co_await m_exchange->read_stream(out);
    co_return out;
}

Task<Response> StreamResponse::read_all() {
    if (!m_exchange) throw std::logic_error("StreamResponse::read_all on an empty response");
    Response& r = m_exchange->response;
    while (co_await m_exchange->read_stream(r.body())) {
    }
    Response::Access::elapsed(r, Clock::now() - m_exchange->started);
    co_return std::move(r);
}

void StreamResponse::close() noexcept {
    if (m_exchange) m_exchange->close();
}

}  // namespace corio::http
