// TCP: connecting (every address, Happy Eyeballs), listening and accepting.
#include <corio/net/dns.hpp>
#include <corio/net/error.hpp>
#include <corio/net/tcp.hpp>
#include <corio/spawn.hpp>
#include <corio/sync/event.hpp>
#include <corio/time.hpp>

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <sys/socket.h>
#include <vector>

namespace corio::net {

namespace {

void set_int_option(int fd, int level, int name, int value, const char* what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) < 0) throw IoError(what, fd, errno);
}

/// One attempt to one address. The socket is closed if the attempt fails or is cancelled.
Task<TcpStream> connect_one(const SocketAddress& address, bool nodelay) {
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw IoError("socket", -1, errno);
    TcpStream stream(fd);
    co_await corio::connect(fd, address.data(), address.size());
    if (nodelay) stream.set_nodelay(true);
    co_return stream;
}

std::string reason_of(const std::exception_ptr& e, int& err) {
    try {
        std::rethrow_exception(e);
    } catch (const IoError& x) {
        err = x.code();
        return std::strerror(x.code());
    } catch (const std::exception& x) {
        return x.what();
    }
}

/// The state the attempts of one Happy Eyeballs race share.
struct Race {
    std::optional<TcpStream> winner;
    std::string reasons;
    int last_errno = ECONNREFUSED;
    std::size_t running = 0;
    Event changed;
};

Task<void> attempt(Race& race, SocketAddress address, bool nodelay) {
    try {
        TcpStream s = co_await connect_one(address, nodelay);
        if (!race.winner) race.winner.emplace(std::move(s));
    } catch (const CancelledError&) {
        --race.running;
        throw;
    } catch (...) {
        if (!race.reasons.empty()) race.reasons += "; ";
        race.reasons += address.to_string();
        race.reasons += ": ";
        race.reasons += reason_of(std::current_exception(), race.last_errno);
    }
    --race.running;
    race.changed.set();
}

Task<void> join_quietly(JoinHandle<void> h) {
    try {
        co_await h;
    } catch (...) {  // a cancelled loser: its outcome is already recorded, or does not matter
    }
}

/// One attempt to one address, its failure a ConnectError naming `label` and the address.
Task<TcpStream> connect_single(const SocketAddress& address, const std::string& label, bool nodelay) {
    try {
        co_return co_await connect_one(address, nodelay);
    } catch (const IoError& e) {
        std::string where = address.to_string();
        where = where == label ? label : label + ": " + where;  // a host name is followed by its address
        throw ConnectError("cannot connect to " + where + ": " + std::strerror(e.code()), e.code());
    }
}

/// RFC 8305 section 5: start with the first address; start the next when the previous one failed or
/// after `delay`; the first connection wins and the rest are cancelled.
Task<TcpStream> connect_any(const std::vector<SocketAddress>& addresses, const std::string& label,
                            const ConnectOptions& options) {
    if (addresses.size() == 1) co_return co_await connect_single(addresses[0], label, options.nodelay);
    Race race;
    std::vector<JoinHandle<void>> attempts;
    attempts.reserve(addresses.size());
    std::size_t next = 0;
    std::exception_ptr stopped;
    try {
        while (!race.winner) {
            if (next < addresses.size()) {
                ++race.running;
                attempts.push_back(spawn(attempt(race, addresses[next++], options.nodelay)));
            }
            if (race.running == 0) break;  // every address failed
            race.changed.clear();
            if (next < addresses.size()) {
                try {
                    co_await corio::timeout(options.happy_eyeballs_delay, race.changed.wait());
                } catch (const TimeoutError&) {
                }
            } else {
                co_await race.changed.wait();
            }
        }
    } catch (...) {
        stopped = std::current_exception();
    }
    for (auto& a : attempts) a.cancel();
    for (auto& a : attempts) co_await shield(join_quietly(std::move(a)));  // they reference `race`
    if (stopped) std::rethrow_exception(stopped);
    if (race.winner) co_return std::move(*race.winner);
    throw ConnectError("cannot connect to " + label + ": " + race.reasons, race.last_errno);
}

/// `attempt` under ConnectOptions::timeout (none when zero); the deadline passing is a ConnectError.
Task<TcpStream> within_deadline(Task<TcpStream> attempt, const std::string& label, const ConnectOptions& options) {
    if (options.timeout.count() <= 0) co_return co_await std::move(attempt);
    try {
        co_return co_await corio::timeout(options.timeout, std::move(attempt));
    } catch (const TimeoutError&) {
        throw ConnectError("cannot connect to " + label + ": timed out after " +
                               std::to_string(options.timeout.count()) + " ms",
                           ETIMEDOUT);
    }
}

}  // namespace

Task<TcpStream> TcpStream::connect(SocketAddress address, ConnectOptions options) {
    // No race: straight to the one attempt (10,000 connections opened at once add up the frames saved).
    std::string label = address.to_string();
    if (options.timeout.count() <= 0) co_return co_await connect_single(address, label, options.nodelay);
    co_return co_await within_deadline(connect_single(address, label, options.nodelay), label, options);
}

Task<TcpStream> TcpStream::connect(std::vector<SocketAddress> addresses, ConnectOptions options) {
    if (addresses.empty()) throw std::invalid_argument("TcpStream::connect: no address to connect to");
    std::string label = addresses.size() == 1 ? addresses[0].to_string() : "any of " + std::to_string(addresses.size()) + " addresses";
    co_return co_await within_deadline(connect_any(addresses, label, options), label, options);
}

Task<TcpStream> TcpStream::connect(std::string host, std::uint16_t port, ConnectOptions options) {
    std::string label = host.find(':') != std::string::npos && host.front() != '['
                            ? "[" + host + "]:" + std::to_string(port)
                            : host + ":" + std::to_string(port);
    auto body = [&]() -> Task<TcpStream> {
        std::vector<SocketAddress> addresses = co_await resolve(host, port);
        co_return co_await connect_any(addresses, label, options);
    };
    co_return co_await within_deadline(body(), label, options);
}

void TcpStream::set_nodelay(bool on) { set_int_option(m_fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "setsockopt(TCP_NODELAY)"); }

void TcpStream::set_keepalive(bool on, std::chrono::seconds idle) {
    set_int_option(m_fd, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, "setsockopt(SO_KEEPALIVE)");
    if (on && idle.count() > 0)
        set_int_option(m_fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(idle.count()), "setsockopt(TCP_KEEPIDLE)");
}

TcpListener TcpListener::bind(std::string_view address, ListenOptions options) {
    return bind(SocketAddress::parse(address), options);
}

TcpListener TcpListener::bind(const SocketAddress& address, ListenOptions options) {
    if (!address.is_ip()) throw std::invalid_argument("TcpListener::bind needs an IP address, not " + address.to_string());
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw IoError("socket", -1, errno);
    TcpListener l;
    l.m_fd = fd;
    if (options.reuse_address) set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
    if (options.reuse_port) set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)");
    // Accepted sockets inherit TCP_NODELAY from the listener (Linux): one system call here, none per accept.
    if (options.nodelay) set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
    if (::bind(fd, address.data(), address.size()) < 0) {
        std::string op = "bind to " + address.to_string();
        throw IoError(op.c_str(), fd, errno);
    }
    if (::listen(fd, options.backlog) < 0) throw IoError("listen", fd, errno);
    return l;
}

Task<TcpStream> TcpListener::accept() { co_return TcpStream(co_await accept_fd()); }

}  // namespace corio::net
