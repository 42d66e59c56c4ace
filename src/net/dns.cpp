// DNS on the loop: a c-ares channel whose sockets are polled by one small driver task per socket and whose
// timeouts are one loop timer; in front of it the hosts file, a TTL cache, and one shared lookup per name.
//
// Ownership and lifetimes:
//   Resolver ──shared_ptr──> Impl <──shared_ptr── every running resolve() frame
//   Impl ── m_watches[fd] ──> Watch (owned by its driver task's frame; Watch::m_impl is nulled if Impl dies first)
//   Impl ── m_pending[key] ──> Lookup (heap; c-ares owns it until its callback, which always runs exactly once)
//   Lookup ── intrusive list ──> Waiter (in a resolve() frame; unlinked on answer, timeout or cancellation)
// A Lookup whose waiters all left is abandoned: c-ares finishes it, the answer goes to the cache only.
#include "core/loop.hpp"

#include <corio/io.hpp>
#include <corio/net/dns.hpp>
#include <corio/net/error.hpp>
#include <corio/spawn.hpp>
#include <corio/strict.hpp>
#include <corio/time.hpp>

#include <ares.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <list>
#include <mutex>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <unordered_map>

namespace corio::net {

DnsError::DnsError(std::string host, std::string reason, int status)
    : NetError("cannot resolve '" + host + "': " + reason),
      m_host(std::move(host)),
      m_reason(std::move(reason)),
      m_status(status) {}

// Named (not anonymous) so that Resolver::Impl, which has external linkage, may hold these types.
namespace dns_detail {

using Addresses = std::vector<SocketAddress>;
using Answer = std::shared_ptr<const Addresses>;

void library_init() {
    static std::once_flag once;
    static int status = ARES_SUCCESS;
    std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (status != ARES_SUCCESS) throw Error(std::string("net::Resolver: c-ares cannot start: ") + ares_strerror(status));
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// A clean copy of an IPv4/IPv6 sockaddr (zeroed padding, so equal addresses compare equal), port 0.
std::optional<SocketAddress> ip_address(const sockaddr* sa) {
    if (sa->sa_family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_addr = reinterpret_cast<const sockaddr_in*>(sa)->sin_addr;
        return SocketAddress::from(reinterpret_cast<const sockaddr*>(&in), sizeof in);
    }
    if (sa->sa_family == AF_INET6) {
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        in6.sin6_addr = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        in6.sin6_scope_id = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_scope_id;
        return SocketAddress::from(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
    }
    return std::nullopt;
}

/// "192.0.2.1", "::1", "[::1]", "fe80::1%eth0" (or "%2"); nullopt for anything else.
std::optional<SocketAddress> numeric(std::string_view host) { return SocketAddress::try_ip(host); }

/// Without duplicates, IPv6 and IPv4 alternating, IPv6 first (RFC 8305 §4); each family keeps its order.
Addresses interleave(const Addresses& in) {
    Addresses v6, v4;
    for (const SocketAddress& a : in) {
        Addresses& list = a.family() == AF_INET6 ? v6 : v4;
        if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
    }
    Addresses out;
    out.reserve(v6.size() + v4.size());
    for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
        if (i < v6.size()) out.push_back(v6[i]);
        if (i < v4.size()) out.push_back(v4[i]);
    }
    return out;
}

Addresses with_port(const Addresses& in, std::uint16_t port) {
    Addresses out;
    out.reserve(in.size());
    for (const SocketAddress& a : in) out.push_back(a.with_port(port));
    return out;
}

std::string reason_of(int status, int family) {
    switch (status) {
        case ARES_ENOTFOUND: return "host not found";
        case ARES_ENODATA:
            return family == AF_INET ? "no IPv4 address" : family == AF_INET6 ? "no IPv6 address" : "no address";
        case ARES_ETIMEOUT: return "timed out: no answer from the name servers";
        case ARES_ECONNREFUSED: return "the name servers refused the connection";
        case ARES_ESERVFAIL: return "the name server failed";
        case ARES_EREFUSED: return "the name server refused the query";
        case ARES_EFORMERR: return "the name server could not understand the query";
        case ARES_EBADRESP: return "malformed answer from the name server";
        case ARES_EBADNAME: return "not a valid host name";
        case ARES_EBADFAMILY: return "the address is not of the requested family";
        case ARES_ECANCELLED: return "cancelled (the event loop is ending)";
        case ARES_EDESTRUCTION: return "the resolver was destroyed";
        default: return ares_strerror(status);
    }
}

/// The hosts file, parsed; re-read when its identity, size or mtime changes (looked at once a second).
class HostsFile {
public:
    explicit HostsFile(std::string path) : m_path(path.empty() ? "/etc/hosts" : std::move(path)) {}

    /// Appends the addresses of `name` (lower case, no trailing dot) of `family`; false when it has none.
    bool lookup(const std::string& name, int family, Addresses& out) {
        refresh();
        auto it = m_names.find(name);
        if (it == m_names.end()) return false;
        bool found = false;
        for (const SocketAddress& a : it->second)
            if (family == AF_UNSPEC || a.family() == family) {
                out.push_back(a);
                found = true;
            }
        return found;
    }

private:
    struct Identity {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = -1;
        timespec mtime{};
        bool operator==(const Identity& o) const noexcept {
            return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
                   mtime.tv_nsec == o.mtime.tv_nsec;
        }
    };

    void refresh() {
        auto now = Clock::now();
        if (m_loaded && now - m_checked < std::chrono::seconds(1)) return;
        m_checked = now;
        Identity id;
        struct stat st {};
        if (::stat(m_path.c_str(), &st) == 0) id = {st.st_dev, st.st_ino, st.st_size, st.st_mtim};
        if (m_loaded && id == m_identity) return;
        m_loaded = true;
        m_identity = id;
        m_names.clear();
        if (id.size >= 0) parse(read_all());
    }

    std::string read_all() const {
        allow_blocking local_file;  // a small local file, as c-ares itself reads it
        std::string text;
        int fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return text;
        char buf[8192];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || text.size() > (16u << 20)) break;
            text.append(buf, static_cast<std::size_t>(n));
        }
        ::close(fd);
        return text;
    }

    // "address name [alias...]  # comment", one entry a line.
    void parse(std::string_view text) {
        while (!text.empty()) {
            auto eol = text.find('\n');
            std::string_view line = text.substr(0, eol);
            text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
            line = line.substr(0, line.find('#'));
            std::optional<SocketAddress> addr;
            for (std::size_t i = 0;;) {
                i = line.find_first_not_of(" \t\r\f\v", i);
                if (i == std::string_view::npos) break;
                std::size_t j = line.find_first_of(" \t\r\f\v", i);
                std::string_view field = line.substr(i, j == std::string_view::npos ? line.npos : j - i);
                i = j == std::string_view::npos ? line.size() : j;
                if (!addr) {
                    addr = numeric(field);
                    if (!addr) break;  // not an address: skip the line
                    continue;
                }
                std::string name = lower(field);
                if (name.size() > 1 && name.back() == '.') name.pop_back();
                Addresses& list = m_names[name];
                if (std::find(list.begin(), list.end(), *addr) == list.end()) list.push_back(*addr);
            }
        }
    }

    std::string m_path;
    std::unordered_map<std::string, Addresses> m_names;
    Identity m_identity;
    Clock::time_point m_checked{};
    bool m_loaded = false;
};

/// RFC 6761 §6.3: "localhost" and names under it are the loopback addresses.
bool localhost(const std::string& name, int family, Addresses& out) {
    if (name != "localhost" && !(name.size() > 10 && name.ends_with(".localhost"))) return false;
    if (family != AF_INET) out.push_back(*numeric("::1"));
    if (family != AF_INET6) out.push_back(*numeric("127.0.0.1"));
    return true;
}

/// Name-server answers keyed by (family, name), each until min(TTL, max TTL); least recently used evicted.
class Cache {
public:
    Cache(std::size_t capacity, std::chrono::seconds max_ttl) : m_capacity(capacity), m_max_ttl(max_ttl) {}

    Answer get(const std::string& key) {
        auto it = m_map.find(key);
        if (it == m_map.end()) return nullptr;
        if (Clock::now() >= it->second.expires) {
            m_lru.erase(it->second.lru);
            m_map.erase(it);
            return nullptr;
        }
        m_lru.splice(m_lru.begin(), m_lru, it->second.lru);
        return it->second.value;
    }

    void put(const std::string& key, Answer value, std::chrono::seconds ttl) {
        ttl = std::min(ttl, m_max_ttl);
        if (m_capacity == 0 || ttl.count() <= 0) return;
        auto expires = Clock::now() + ttl;
        if (auto it = m_map.find(key); it != m_map.end()) {
            it->second.value = std::move(value);
            it->second.expires = expires;
            m_lru.splice(m_lru.begin(), m_lru, it->second.lru);
            return;
        }
        m_lru.push_front(key);
        try {
            m_map.emplace(key, Entry{std::move(value), expires, m_lru.begin()});
        } catch (...) {
            m_lru.pop_front();
            throw;
        }
        while (m_map.size() > m_capacity) {
            m_map.erase(m_lru.back());
            m_lru.pop_back();
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_map.size(); }

private:
    struct Entry {
        Answer value;
        Clock::time_point expires;
        std::list<std::string>::iterator lru;
    };
    std::size_t m_capacity;
    std::chrono::seconds m_max_ttl;
    std::unordered_map<std::string, Entry> m_map;
    std::list<std::string> m_lru;  // most recently used first
};

struct Waiter;

/// One ares_getaddrinfo in flight, shared by the resolutions waiting for its name and family.
struct Lookup {
    Resolver::Impl* m_impl;
    std::string m_key;
    int m_family;
    Waiter* m_head = nullptr;  // the waiters, in no particular order
};

/// A socket c-ares asked corio to watch. Owned by its driver task's frame.
struct Watch {
    Resolver::Impl* m_impl = nullptr;  // null once the resolver is gone
    int m_fd = -1;
    bool m_read = false;
    bool m_write = false;
    bool m_closed = false;             // c-ares stopped watching it (it is closed, or about to be)
    detail::IoOp* m_op = nullptr;      // the driver's poll, while it waits in one
};

/// The loop timer that calls c-ares for its timeouts.
struct ChannelTimer : detail::TimerEntry {
    Resolver::Impl* m_self = nullptr;
};

}  // namespace dns_detail

using namespace dns_detail;

struct Resolver::Impl {
    explicit Impl(ResolverOptions options);
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    void bind();
    void start(Waiter* w);
    void leave(Waiter* w) noexcept;
    void process(int read_fd, int write_fd) noexcept;
    void arm_timer() noexcept;
    void watch(int fd, bool read, bool write) noexcept;
    void spawn_driver(int fd, bool read, bool write) noexcept;
    void driver_stopped(Watch* w, bool cancelled) noexcept;
    void forget(Watch* w) noexcept;
    static void on_answer(void* arg, int status, int timeouts, ares_addrinfo* ai) noexcept;

    ResolverOptions m_options;
    ares_channel m_channel = nullptr;
    detail::LoopCore* m_loop = nullptr;  // the loop that drives the channel (the first to use it)
    HostsFile m_hosts;
    Cache m_cache;
    std::unordered_map<int, Watch*> m_watches;
    std::unordered_map<std::string, Lookup*> m_pending;  // by cache key
    std::size_t m_waiters = 0;                           // resolutions waiting on a Lookup
    std::size_t m_in_flight = 0;                         // Lookups c-ares has not answered yet
    ChannelTimer m_timer;
    ResolverStatistics m_stats;
};

namespace dns_detail {

/// Waits for a Lookup's answer (joining or starting it), with the resolution's own deadline.
struct Waiter final : detail::CancelHook, detail::TimerEntry {
    enum class State : std::uint8_t { idle, waiting, answered, timed_out, cancelled };

    Resolver::Impl* m_impl;
    std::string m_key;
    std::string m_name;  // as sent to c-ares
    int m_family;
    std::chrono::milliseconds m_timeout;
    Lookup* m_lookup = nullptr;
    Waiter* m_prev = nullptr;
    Waiter* m_next = nullptr;
    detail::TaskNode* m_node = nullptr;
    State m_state = State::idle;
    bool m_suspended = false;  // parked: an answer, a timeout or a cancellation wakes the task
    int m_status = ARES_SUCCESS;
    Answer m_answer;

    Waiter(Resolver::Impl* impl, std::string key, std::string name, int family, std::chrono::milliseconds timeout)
        : m_impl(impl), m_key(std::move(key)), m_name(std::move(name)), m_family(family), m_timeout(timeout) {}
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    ~Waiter() {
        if (m_lookup) m_impl->leave(this);
        if (m_linked) detail::remove_timer(this);
    }

    bool await_ready() const noexcept { return false; }
    template <detail::CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        m_node = h.promise().m_node;
        if (m_node->cancelled()) {
            m_state = State::cancelled;
            return false;
        }
        m_node->m_resume = h;
        m_state = State::waiting;
        m_impl->start(this);
        if (m_state != State::waiting) return false;  // answered at once
        if (m_timeout.count() > 0) {
            m_fire = [](detail::TimerEntry* t) {
                auto* w = static_cast<Waiter*>(t);
                w->m_impl->leave(w);
                w->finish(State::timed_out);
            };
            if (!detail::add_timer(this, Clock::now() + m_timeout)) {
                m_impl->leave(this);
                m_state = State::timed_out;
                return false;
            }
        }
        m_suspended = true;
        m_node->m_wait = this;
        return true;
    }
    void await_resume() const noexcept {}

    void cancel() noexcept override {
        m_impl->leave(this);
        finish(State::cancelled);
    }

    /// The wait is over: disarm the deadline, and wake the task if it is parked here.
    void finish(State s) noexcept {
        if (m_linked) detail::remove_timer(this);
        m_state = s;
        if (m_suspended) {
            m_suspended = false;
            detail::t_loop->wake(m_node);
        }
    }
};

/// A cancellation point that completes at once (as every corio await does when it has its result), spending
/// one unit of the task's budget.
struct Checkpoint {
    bool m_cancelled = false;
    bool await_ready() const noexcept { return false; }
    template <detail::CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        detail::TaskNode* n = h.promise().m_node;
        m_cancelled = n->cancelled();
        if (m_cancelled || !detail::budget_exhausted(*detail::t_loop)) return false;
        n->m_resume = h;
        detail::t_loop->schedule(n);
        return true;
    }
    void await_resume() const {
        if (m_cancelled) detail::throw_cancelled();
    }
};

/// Polls one c-ares socket for what c-ares wants and hands readiness to it, until c-ares stops watching it.
Task<void> drive(std::unique_ptr<Watch> w) {
    for (;;) {
        if (w->m_closed || !w->m_impl) co_return;
        detail::RawPoll ready(w->m_fd, static_cast<short>((w->m_read ? POLLIN : 0) | (w->m_write ? POLLOUT : 0)));
        w->m_op = &ready.m_io.m_op;
        int res;
        try {
            res = co_await ready;
        } catch (const CancelledError&) {  // only run() cancels drivers: the loop is ending
            w->m_op = nullptr;
            if (w->m_impl && !w->m_closed) w->m_impl->driver_stopped(w.get(), true);
            co_return;
        } catch (...) {  // the backend refused the descriptor: c-ares's timeouts will end its lookups
            w->m_op = nullptr;
            if (w->m_impl && !w->m_closed) w->m_impl->driver_stopped(w.get(), false);
            co_return;
        }
        w->m_op = nullptr;
        if (w->m_closed || !w->m_impl) co_return;
        if (res == -ECANCELED) continue;  // c-ares changed what it wants: poll again
        bool failed = res < 0;
        bool readable = failed || (res & (POLLIN | POLLERR | POLLHUP | POLLRDHUP));
        bool writable = failed || (res & (POLLOUT | POLLERR | POLLHUP));
        w->m_impl->process(readable ? w->m_fd : ARES_SOCKET_BAD, writable ? w->m_fd : ARES_SOCKET_BAD);
        if (failed && !w->m_closed && w->m_impl) {  // c-ares kept a socket the kernel rejects: stop polling it
            w->m_impl->driver_stopped(w.get(), false);
            co_return;
        }
    }
}

// c-ares's sockets go through corio so that closing one makes the backend forget it (under epoll a reused
// descriptor number would otherwise be taken for the old, already-registered one).
const ares_socket_functions k_socket_functions = {
    [](int family, int type, int protocol, void*) -> ares_socket_t {
        int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
        if (fd < 0) return fd;
        if (type == SOCK_STREAM) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        } else {
            // One UDP socket per server carries every lookup: room for a burst of answers (the kernel caps it
            // at net.core.rmem_max) so that hundreds of concurrent lookups do not lose answers to retries.
            int size = 1 << 20;
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        }
        return fd;
    },
    [](ares_socket_t fd, void*) -> int {
        corio::close(fd);
        return 0;
    },
    [](ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void*) -> int { return ::connect(fd, addr, len); },
    [](ares_socket_t fd, void* buf, std::size_t len, int flags, sockaddr* from, ares_socklen_t* from_len,
       void*) -> ares_ssize_t { return ::recvfrom(fd, buf, len, flags, from, from_len); },
    [](ares_socket_t fd, const iovec* iov, int count, void*) -> ares_ssize_t { return ::writev(fd, iov, count); },
};

}  // namespace dns_detail

// ---- Resolver::Impl ---------------------------------------------------------------------------------------

Resolver::Impl::Impl(ResolverOptions options)
    : m_options(std::move(options)),
      m_hosts(m_options.hosts_file),
      m_cache(m_options.cache_size, m_options.max_cache_ttl) {
    library_init();
    std::vector<ares_addr_port_node> servers(m_options.servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const SocketAddress& s = m_options.servers[i];
        ares_addr_port_node& n = servers[i];
        if (s.family() == AF_INET) {
            n.addr.addr4 = reinterpret_cast<const sockaddr_in*>(s.data())->sin_addr;
        } else if (s.family() == AF_INET6) {
            std::memcpy(&n.addr.addr6, &reinterpret_cast<const sockaddr_in6*>(s.data())->sin6_addr, sizeof n.addr.addr6);
        } else {
            throw std::invalid_argument("net::Resolver: a name server must be an IP address, not " + s.to_string());
        }
        n.family = s.family();
        n.udp_port = n.tcp_port = s.port() ? s.port() : 53;
        n.next = i + 1 < servers.size() ? &servers[i + 1] : nullptr;
    }
    ares_options o{};
    o.sock_state_cb = [](void* self, ares_socket_t fd, int read, int write) {
        static_cast<Impl*>(self)->watch(fd, read != 0, write != 0);
    };
    o.sock_state_cb_data = this;
    o.timeout = static_cast<int>(std::clamp<std::int64_t>(m_options.attempt_timeout.count(), 1, INT_MAX));
    o.tries = std::max(1, m_options.tries);
    char lookups[] = "b";  // DNS only: the hosts file is read here (c-ares 1.18 cannot be given its path)
    o.lookups = lookups;
    int status;
    {
        allow_blocking reads_resolv_conf;
        status = ares_init_options(&m_channel, &o,
                                   ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
    }
    if (status != ARES_SUCCESS) throw Error(std::string("net::Resolver: c-ares cannot start: ") + ares_strerror(status));
    ares_set_socket_functions(m_channel, &k_socket_functions, nullptr);
    if (!servers.empty()) {
        status = ares_set_servers_ports(m_channel, servers.data());
        if (status != ARES_SUCCESS) {
            ares_destroy(m_channel);
            throw Error(std::string("net::Resolver: cannot set the name servers: ") + ares_strerror(status));
        }
    }
    m_timer.m_self = this;
    m_timer.m_fire = [](detail::TimerEntry* t) {
        static_cast<ChannelTimer*>(t)->m_self->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    };
}

Resolver::Impl::~Impl() {
    // Ends every lookup (their callbacks run now: only abandoned ones are left, since a running resolve()
    // keeps this alive) and closes every socket (sock_state_cb detaches their drivers first).
    ares_destroy(m_channel);
    for (auto& [fd, w] : m_watches) {
        w->m_impl = nullptr;
        if (w->m_op && w->m_op->m_state == detail::IoOp::pending) detail::io_cancel(w->m_op);
    }
    if (m_timer.m_linked && detail::t_loop == m_loop) detail::remove_timer(&m_timer);
}

void Resolver::Impl::bind() {
    detail::LoopCore* l = &detail::loop();  // LoopClosedError without one
    if (!m_loop) m_loop = l;
    else if (m_loop != l)
        throw Error("net::Resolver used on another event loop than the one that first used it");
}

void Resolver::Impl::start(Waiter* w) {
    Lookup* lookup;
    if (auto it = m_pending.find(w->m_key); it != m_pending.end()) {
        lookup = it->second;
    } else {
        auto fresh = std::make_unique<Lookup>(Lookup{this, w->m_key, w->m_family});
        m_pending.emplace(w->m_key, fresh.get());
        lookup = fresh.release();
        ++m_in_flight;
        ++m_stats.sent;
        ares_addrinfo_hints hints{};
        hints.ai_flags = ARES_AI_NOSORT;  // ordered here; sorting would connect() a UDP socket per address
        hints.ai_family = w->m_family;
        w->m_lookup = lookup;  // joined before c-ares may answer at once
        w->m_next = nullptr;
        lookup->m_head = w;
        ++m_waiters;
        ares_getaddrinfo(m_channel, w->m_name.c_str(), nullptr, &hints, &Impl::on_answer, lookup);
        arm_timer();
        return;
    }
    w->m_lookup = lookup;
    w->m_prev = nullptr;
    w->m_next = lookup->m_head;
    if (lookup->m_head) lookup->m_head->m_prev = w;
    lookup->m_head = w;
    ++m_waiters;
}

void Resolver::Impl::leave(Waiter* w) noexcept {
    Lookup* l = w->m_lookup;
    if (!l) return;
    if (w->m_prev) w->m_prev->m_next = w->m_next;
    else l->m_head = w->m_next;
    if (w->m_next) w->m_next->m_prev = w->m_prev;
    w->m_prev = w->m_next = nullptr;
    w->m_lookup = nullptr;
    --m_waiters;
}

void Resolver::Impl::on_answer(void* arg, int status, int, ares_addrinfo* ai) noexcept {
    std::unique_ptr<Lookup> lookup(static_cast<Lookup*>(arg));
    Impl* self = lookup->m_impl;
    --self->m_in_flight;
    if (auto it = self->m_pending.find(lookup->m_key); it != self->m_pending.end() && it->second == lookup.get())
        self->m_pending.erase(it);
    Answer answer;
    if (status == ARES_SUCCESS) {
        try {
            Addresses found;
            int ttl = INT_MAX;
            for (ares_addrinfo_node* n = ai ? ai->nodes : nullptr; n; n = n->ai_next) {
                if (!n->ai_addr) continue;
                if (auto a = ip_address(n->ai_addr)) {
                    found.push_back(*a);
                    ttl = std::min(ttl, n->ai_ttl);
                }
            }
            for (ares_addrinfo_cname* c = ai ? ai->cnames : nullptr; c; c = c->next) ttl = std::min(ttl, c->ttl);
            if (found.empty()) {
                status = ARES_ENODATA;
            } else {
                answer = std::make_shared<const Addresses>(interleave(found));
                self->m_cache.put(lookup->m_key, answer, std::chrono::seconds(ttl));
            }
        } catch (...) {
            status = ARES_ENOMEM;
            answer.reset();
        }
    }
    if (ai) ares_freeaddrinfo(ai);
    while (Waiter* w = lookup->m_head) {
        self->leave(w);
        w->m_status = status;
        w->m_answer = answer;
        w->finish(Waiter::State::answered);
    }
}

void Resolver::Impl::process(int read_fd, int write_fd) noexcept {
    ares_process_fd(m_channel, read_fd, write_fd);
    arm_timer();
}

void Resolver::Impl::arm_timer() noexcept {
    for (int round = 0; round < 8; ++round) {
        if (m_timer.m_linked) detail::remove_timer(&m_timer);
        timeval tv{};
        if (!ares_timeout(m_channel, nullptr, &tv)) return;  // no lookup in flight
        auto when = Clock::now() + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
        if (detail::add_timer(&m_timer, when)) return;
        ares_process_fd(m_channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // already due
    }
    detail::add_timer(&m_timer, Clock::now() + std::chrono::milliseconds(1));
}

void Resolver::Impl::watch(int fd, bool read, bool write) noexcept {
    auto it = m_watches.find(fd);
    if (it == m_watches.end()) {
        if (read || write) spawn_driver(fd, read, write);
        return;
    }
    Watch* w = it->second;
    if (!read && !write) {  // c-ares is about to close it: the driver leaves its poll and ends
        m_watches.erase(it);
        w->m_closed = true;
    } else if (w->m_read != read || w->m_write != write) {
        w->m_read = read;
        w->m_write = write;
    } else {
        return;
    }
    if (w->m_op && w->m_op->m_state == detail::IoOp::pending) detail::io_cancel(w->m_op);
}

void Resolver::Impl::spawn_driver(int fd, bool read, bool write) noexcept {
    try {
        auto w = std::make_unique<Watch>(Watch{this, fd, read, write});
        m_watches[fd] = w.get();
        try {
            corio::spawn(drive(std::move(w))).detach();
        } catch (...) {
            m_watches.erase(fd);
            throw;
        }
    } catch (...) {
        // No driver (out of memory): the lookups on this socket end by their timeouts.
    }
}

void Resolver::Impl::forget(Watch* w) noexcept {
    if (auto it = m_watches.find(w->m_fd); it != m_watches.end() && it->second == w) m_watches.erase(it);
}

void Resolver::Impl::driver_stopped(Watch* w, bool cancelled) noexcept {
    forget(w);
    if (!cancelled) return;
    if (m_waiters > 0) {
        spawn_driver(w->m_fd, w->m_read, w->m_write);  // a task spawned since still waits: a fresh task polls on
    } else {
        ares_cancel(m_channel);  // nobody waits and run() is ending: end the lookups, closing the sockets
        arm_timer();
    }
}

// ---- Resolver ---------------------------------------------------------------------------------------------

namespace {

Task<std::vector<SocketAddress>> resolve_with(std::shared_ptr<Resolver::Impl> impl, std::string host,
                                              std::uint16_t port, ResolveOptions options) {
    if (host.empty()) throw std::invalid_argument("net::resolve: empty host name");
    const int family = options.family;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        throw std::invalid_argument("net::resolve: family must be AF_UNSPEC, AF_INET or AF_INET6, not " +
                                    std::to_string(family));
    impl->bind();
    ++impl->m_stats.queries;
    if (std::optional<SocketAddress> a = numeric(host)) {
        co_await Checkpoint{};
        if (family != AF_UNSPEC && a->family() != family) {
            ++impl->m_stats.failures;
            throw DnsError(host, reason_of(ARES_EBADFAMILY, family), ARES_EBADFAMILY);
        }
        co_return std::vector<SocketAddress>{a->with_port(port)};
    }
    std::string name = lower(host);
    std::string bare = name.size() > 1 && name.back() == '.' ? name.substr(0, name.size() - 1) : name;
    Addresses local;
    if (impl->m_hosts.lookup(bare, family, local) || localhost(bare, family, local)) {
        ++impl->m_stats.hosts_hits;
        co_await Checkpoint{};
        co_return with_port(interleave(local), port);
    }
    std::string key = std::to_string(family) + ' ' + name;
    if (Answer hit = impl->m_cache.get(key)) {
        ++impl->m_stats.cache_hits;
        co_await Checkpoint{};
        co_return with_port(*hit, port);
    }
    Waiter w(impl.get(), std::move(key), std::move(name), family, options.timeout);
    co_await w;
    switch (w.m_state) {
        case Waiter::State::answered:
            if (w.m_status == ARES_SUCCESS) co_return with_port(*w.m_answer, port);
            ++impl->m_stats.failures;
            throw DnsError(host, reason_of(w.m_status, family), w.m_status);
        case Waiter::State::timed_out:
            ++impl->m_stats.failures;
            throw DnsError(host, "timed out after " + std::to_string(options.timeout.count()) + " ms", ARES_ETIMEOUT);
        default: detail::throw_cancelled();
    }
}

Resolver& default_resolver() {
    detail::Loop& l = detail::this_loop();
    if (auto* r = static_cast<Resolver*>(l.slot(detail::LoopSlot::resolver))) return *r;
    auto r = std::make_unique<Resolver>();
    l.set_slot(detail::LoopSlot::resolver, r.get(), [](void* p) { delete static_cast<Resolver*>(p); });
    return *r.release();
}

}  // namespace

Resolver::Resolver(ResolverOptions options) : m_impl(std::make_shared<Impl>(std::move(options))) {}

Resolver::~Resolver() = default;

Task<std::vector<SocketAddress>> Resolver::resolve(std::string host, std::uint16_t port, ResolveOptions options) {
    return resolve_with(m_impl, std::move(host), port, options);
}

ResolverStatistics Resolver::statistics() const noexcept {
    ResolverStatistics s = m_impl->m_stats;
    s.cached = m_impl->m_cache.size();
    s.in_flight = m_impl->m_in_flight;
    return s;
}

Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, ResolveOptions options) {
    Resolver& r = default_resolver();  // looked up when awaited: set_default_resolver may have replaced it
    co_return co_await r.resolve(std::move(host), port, options);
}

void set_default_resolver(ResolverOptions options) {
    detail::Loop& l = detail::this_loop();
    auto fresh = std::make_unique<Resolver>(std::move(options));
    auto* old = static_cast<Resolver*>(l.slot(detail::LoopSlot::resolver));
    l.set_slot(detail::LoopSlot::resolver, fresh.release(), [](void* p) { delete static_cast<Resolver*>(p); });
    delete old;
}

ResolverStatistics default_resolver_statistics() {
    detail::Loop& l = detail::this_loop();
    auto* r = static_cast<Resolver*>(l.slot(detail::LoopSlot::resolver));
    return r ? r->statistics() : ResolverStatistics{};
}

}  // namespace corio::net
