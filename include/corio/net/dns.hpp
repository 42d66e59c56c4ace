#pragma once
// Name resolution on the loop, through c-ares (its sockets and timers driven by corio): never
// getaddrinfo on the loop thread.

#include <corio/net/address.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corio::net {

/// Options of one resolution.
struct ResolveOptions {
    /// AF_UNSPEC (both), AF_INET or AF_INET6.
    int family = AF_UNSPEC;
    /// The whole resolution; when it passes, DnsError with status ARES_ETIMEOUT ("timed out after 2000 ms")
    /// is raised (not corio::TimeoutError). Zero means the resolver's own retry policy only.
    std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

/// How a Resolver finds names.
struct ResolverOptions {
    /// Name servers to ask (IP addresses; port 0 means 53); empty: those of /etc/resolv.conf, whose
    /// search domains and options apply in every case.
    std::vector<SocketAddress> servers;
    /// The hosts file consulted before any name server; empty: /etc/hosts. It is read by corio (c-ares
    /// 1.18 has no per-channel hosts path), re-read when it changes (checked at most once a second).
    /// "localhost" and names under ".localhost" are loopback addresses even when the file omits them.
    std::string hosts_file;
    /// Per-try timeout and number of tries per server (c-ares's own retry policy; the timeout doubles
    /// on each round through the servers).
    std::chrono::milliseconds attempt_timeout = std::chrono::seconds(2);
    int tries = 2;
    /// Answers of name servers kept, each for min(its TTL, max_cache_ttl), least recently used evicted
    /// first; 0 disables the cache. Failures are not cached.
    std::size_t cache_size = 256;
    std::chrono::seconds max_cache_ttl = std::chrono::seconds(300);
};

/// Counters of a Resolver.
struct ResolverStatistics {
    std::uint64_t queries = 0;      ///< resolutions asked for
    std::uint64_t cache_hits = 0;   ///< answered from the cache
    std::uint64_t hosts_hits = 0;   ///< answered from the hosts file (or the localhost rule)
    std::uint64_t sent = 0;         ///< lookups handed to c-ares (concurrent resolutions of a name share one)
    std::uint64_t failures = 0;     ///< ended in DnsError
    std::size_t cached = 0;         ///< entries in the cache now
    std::size_t in_flight = 0;      ///< lookups c-ares is working on, including abandoned ones
};

/// A c-ares channel driven by the loop that first uses it: its sockets are polled by small internal tasks
/// that exist only while c-ares has a socket open (so they never keep run() from ending for long), its
/// timeouts by a loop timer. Loop thread only; it must not outlive that loop's run().
///
///     net::Resolver resolver({.servers = {net::SocketAddress::parse("127.0.0.1:5353")}});
///     auto addrs = co_await resolver.resolve("svc.internal", 8080);
class Resolver {
public:
    /// Reads /etc/resolv.conf (and applies `options`). Errors: corio::Error when c-ares cannot start;
    /// std::invalid_argument for a server that is not an IP address.
    explicit Resolver(ResolverOptions options = {});
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    /// Resolves `host` to its addresses (with `port` set), IPv6 and IPv4 interleaved as RFC 8305 wants
    /// (IPv6 first), without duplicates. A numeric host ("192.0.2.1", "::1", "[::1]", "fe80::1%eth0")
    /// returns itself at once; then the hosts file, then the cache, then the name servers are asked.
    /// Concurrent resolutions of one name and family share one lookup.
    ///
    /// Cancellation: the resolution is abandoned at once (c-ares finishes its lookup in the background;
    /// the answer still fills the cache) and CancelledError is raised. Errors: DnsError naming the host
    /// and the reason ("host not found", "timed out after 2000 ms"...), with the c-ares status;
    /// std::invalid_argument for an empty host or an unknown family. Thread safety: loop thread only.
    /// The Task keeps what it needs alive: the Resolver may be destroyed while it runs.
    ///
    ///     auto addrs = co_await resolver.resolve("example.com", 443);
    [[nodiscard]] Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port,
                                                           ResolveOptions options = {});

    [[nodiscard]] ResolverStatistics statistics() const noexcept;

    struct Impl;

private:
    std::shared_ptr<Impl> m_impl;
};

/// Resolves through the running loop's default Resolver (created on first use with default options,
/// destroyed when run() ends). As Resolver::resolve.
///
///     auto addrs = co_await net::resolve("localhost", 8080);
[[nodiscard]] Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, ResolveOptions options = {});

/// Replaces the running loop's default Resolver by one with `options` (tests point it at their own
/// server). Resolutions already running finish on the old one. Errors: as Resolver(); LoopClosedError
/// with no running loop. Thread safety: loop thread only.
void set_default_resolver(ResolverOptions options);

/// The statistics of the running loop's default Resolver (zeros when it was not created yet).
[[nodiscard]] ResolverStatistics default_resolver_statistics();

}  // namespace corio::net
