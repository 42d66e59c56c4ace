#include <corio/corio.hpp>

#include "support/dns_server.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <ares.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using corio::net::DnsError;
using corio::net::ResolveOptions;
using corio::net::Resolver;
using corio::net::ResolverOptions;
using corio::net::SocketAddress;
using corio_test::DnsServer;
using corio_test::run_bounded;

namespace {

// Hermetic name handling whatever the machine's /etc/resolv.conf says (a CI container may have search
// domains and "ndots:5"): no search domains, and names with a dot are asked as they are. c-ares reads these
// variables when a Resolver is created.
const bool g_hermetic_resolv_conf = [] {
    ::setenv("LOCALDOMAIN", "", 1);
    ::setenv("RES_OPTIONS", "ndots:1", 1);
    return true;
}();

std::vector<std::string> ips(const std::vector<SocketAddress>& addrs) {
    std::vector<std::string> out;
    for (const SocketAddress& a : addrs) out.push_back(a.ip());
    return out;
}

/// A resolver that asks only `server`, with short timeouts.
ResolverOptions options_for(const DnsServer& server, std::chrono::milliseconds attempt = 500ms, int tries = 2) {
    ResolverOptions o;
    o.servers = {server.address()};
    o.attempt_timeout = attempt;
    o.tries = tries;
    return o;
}

ResolveOptions family(int f) {
    ResolveOptions o;
    o.family = f;
    return o;
}

ResolveOptions deadline(std::chrono::milliseconds t) {
    ResolveOptions o;
    o.timeout = t;
    return o;
}

/// The addresses of `host` as text (the port does not matter).
corio::Task<std::vector<std::string>> ips_of(Resolver& r, std::string host, int f = AF_UNSPEC) {
    co_return ips(co_await r.resolve(std::move(host), 1, family(f)));
}

/// True when `task` raises E.
template <class E, class T>
corio::Task<bool> raises(corio::Task<T> task) {
    try {
        (void)co_await std::move(task);
    } catch (const E&) {
        co_return true;
    }
    co_return false;
}

template <class E, class T>
corio::Task<bool> raises(corio::JoinHandle<T>& handle) {
    try {
        (void)co_await handle;
    } catch (const E&) {
        co_return true;
    }
    co_return false;
}

corio::Task<std::vector<std::string>> default_ips_of(std::string host) {
    co_return ips(co_await corio::net::resolve(std::move(host), 1));
}

/// A temporary hosts file, removed when the test ends.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char name[] = "/tmp/corio_hosts_XXXXXX";
        int fd = ::mkstemp(name);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
        ::close(fd);
        path = name;
    }
    ~TempFile() { ::unlink(path.c_str()); }
};

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST(NetDns, LocalhostResolvesFromTheHostsFileWithoutAskingAnyServer) {
    auto body = []() -> corio::Task<void> {
        auto addrs = co_await corio::net::resolve("localhost", 8080);
        EXPECT_FALSE(addrs.empty());
        for (const SocketAddress& a : addrs) {
            EXPECT_TRUE(a.ip() == "127.0.0.1" || a.ip() == "::1") << a.to_string();
            EXPECT_EQ(a.port(), 8080);
        }
        auto s = corio::net::default_resolver_statistics();
        EXPECT_EQ(s.queries, 1u);
        EXPECT_EQ(s.hosts_hits, 1u);
        EXPECT_EQ(s.sent, 0u);
    };
    run_bounded(body());
}

TEST(NetDns, LocalhostIsTheLoopbackOfEachFamilyEvenWhenTheHostsFileOmitsIt) {
    TempFile hosts("# nothing for localhost here\n192.0.2.1 other.test\n");
    auto body = [&]() -> corio::Task<void> {
        ResolverOptions opts;
        opts.hosts_file = hosts.path;
        Resolver r(opts);
        auto got1 = co_await ips_of(r, "localhost", AF_INET6);
        EXPECT_EQ(got1, std::vector<std::string>{"::1"});
        auto got2 = co_await ips_of(r, "LocalHost.", AF_INET);
        EXPECT_EQ(got2, std::vector<std::string>{"127.0.0.1"});
        auto got3 = co_await ips_of(r, "db.localhost", AF_UNSPEC);
        EXPECT_EQ(got3, (std::vector<std::string>{"::1", "127.0.0.1"}));
        EXPECT_EQ(r.statistics().sent, 0u);
    };
    run_bounded(body());
}

TEST(NetDns, HostsFileEntriesAnswerBeforeTheNameServerWithAliasesAndComments) {
    DnsServer server;
    server.add("svc.hosts.test", {"192.0.2.99"});
    server.add("dns-only.hosts.test", {"192.0.2.50"});
    TempFile hosts(
        "# test hosts\n"
        "10.1.2.3\tsvc.hosts.test  alias.hosts.test   # a trailing comment\n"
        "fd00::5    svc.hosts.test\n"
        "   10.9.9.9 other.hosts.test\n"
        "not-an-address ignored.hosts.test\n");
    auto body = [&]() -> corio::Task<void> {
        auto opts = options_for(server);
        opts.hosts_file = hosts.path;
        Resolver r(opts);
        auto svc = co_await r.resolve("SVC.hosts.test.", 443);
        EXPECT_EQ(ips(svc), (std::vector<std::string>{"fd00::5", "10.1.2.3"}));
        EXPECT_EQ(svc[0].port(), 443);
        auto got4 = co_await ips_of(r, "alias.hosts.test", AF_UNSPEC);
        EXPECT_EQ(got4, std::vector<std::string>{"10.1.2.3"});
        auto got5 = co_await ips_of(r, "svc.hosts.test", AF_INET6);
        EXPECT_EQ(got5, std::vector<std::string>{"fd00::5"});
        EXPECT_EQ(server.queries(), 0u);
        auto got6 = co_await ips_of(r, "dns-only.hosts.test", AF_UNSPEC);
        EXPECT_EQ(got6, std::vector<std::string>{"192.0.2.50"});
        EXPECT_GT(server.queries(), 0u);
        auto s = r.statistics();
        EXPECT_EQ(s.hosts_hits, 3u);
        EXPECT_EQ(s.sent, 1u);
    };
    run_bounded(body());
}

TEST(NetDns, NumericHostsReturnThemselvesWithoutAnyLookup) {
    DnsServer server;
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        auto v4 = co_await r.resolve("192.0.2.7", 80);
        EXPECT_EQ(v4.size(), 1u);
        EXPECT_EQ(v4.at(0).to_string(), "192.0.2.7:80");
        auto loopback = co_await r.resolve("::1", 81);
        EXPECT_EQ(loopback[0].to_string(), "[::1]:81");
        auto bracketed = co_await r.resolve("[2001:db8::1]", 82);
        EXPECT_EQ(bracketed[0].to_string(), "[2001:db8::1]:82");
        try {
            (void)co_await r.resolve("192.0.2.7", 80, family(AF_INET6));
            ADD_FAILURE() << "an IPv4 address was accepted as IPv6";
        } catch (const DnsError& e) {
            EXPECT_EQ(e.status(), ARES_EBADFAMILY);
            EXPECT_EQ(e.host(), "192.0.2.7");
        }
        EXPECT_EQ(r.statistics().sent, 0u);
    };
    run_bounded(body());
    EXPECT_EQ(server.queries(), 0u);
}

TEST(NetDns, EmptyHostIsAnInvalidArgument) {
    auto body = []() -> corio::Task<void> {
        bool raised1 = co_await raises<std::invalid_argument>(corio::net::resolve("", 80));
        EXPECT_TRUE(raised1);
        bool raised2 = co_await raises<std::invalid_argument>(corio::net::resolve("x.test", 80, family(AF_UNIX)));
        EXPECT_TRUE(raised2);
    };
    run_bounded(body());
}

TEST(NetDns, NameServerAnswersAreInterleavedIpv6FirstWithThePortSet) {
    DnsServer server;
    server.add("v4.corio.test", {"192.0.2.1"});
    server.add("v6.corio.test", {"2001:db8::1"});
    server.add("dual.corio.test", {"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"});
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        auto got7 = co_await ips_of(r, "v4.corio.test", AF_UNSPEC);
        EXPECT_EQ(got7, std::vector<std::string>{"192.0.2.1"});
        auto got8 = co_await ips_of(r, "v6.corio.test", AF_UNSPEC);
        EXPECT_EQ(got8, std::vector<std::string>{"2001:db8::1"});
        auto dual = co_await r.resolve("dual.corio.test", 8443);
        EXPECT_EQ(ips(dual),
                  (std::vector<std::string>{"2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "192.0.2.3"}));
        for (const SocketAddress& a : dual) EXPECT_EQ(a.port(), 8443);
        auto got9 = co_await ips_of(r, "dual.corio.test", AF_INET);
        EXPECT_EQ(got9, (std::vector<std::string>{"192.0.2.1", "192.0.2.2", "192.0.2.3"}));
        auto got10 = co_await ips_of(r, "dual.corio.test", AF_INET6);
        EXPECT_EQ(got10, (std::vector<std::string>{"2001:db8::1", "2001:db8::2"}));
    };
    run_bounded(body());
}

TEST(NetDns, UnknownNameRaisesDnsErrorNamingTheHost) {
    DnsServer server;
    server.add("v6only.corio.test", {"2001:db8::9"});
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        try {
            (void)co_await r.resolve("missing.corio.test", 80);
            ADD_FAILURE() << "resolved a name the server does not know";
        } catch (const DnsError& e) {
            EXPECT_EQ(e.host(), "missing.corio.test");
            EXPECT_EQ(e.status(), ARES_ENOTFOUND);
            EXPECT_EQ(e.reason(), "host not found");
            EXPECT_STREQ(e.what(), "cannot resolve 'missing.corio.test': host not found");
        }
        try {
            (void)co_await r.resolve("v6only.corio.test", 80, family(AF_INET));
            ADD_FAILURE() << "found an IPv4 address for an IPv6-only name";
        } catch (const DnsError& e) {
            EXPECT_EQ(e.status(), ARES_ENODATA);
            EXPECT_EQ(e.reason(), "no IPv4 address");
        }
        EXPECT_EQ(r.statistics().failures, 2u);
        EXPECT_EQ(r.statistics().cached, 0u);  // failures are not cached
    };
    run_bounded(body());
}

TEST(NetDns, SilentServerEndsInATimeoutAfterTheRetryPolicy) {
    DnsServer server;
    server.set_silent(true);
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server, 100ms, 2));  // 100 ms, then 200 ms
        auto t0 = std::chrono::steady_clock::now();
        try {
            (void)co_await r.resolve("slow.corio.test", 80, deadline(0ms));
            ADD_FAILURE() << "a silent server answered";
        } catch (const DnsError& e) {
            EXPECT_EQ(e.status(), ARES_ETIMEOUT);
            EXPECT_EQ(e.host(), "slow.corio.test");
            EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
        }
        double took = seconds_since(t0);
        EXPECT_GE(took, 0.25);
        EXPECT_LT(took, 3.0);
        EXPECT_GE(server.queries(), 4u);  // A and AAAA, twice
        EXPECT_EQ(r.statistics().in_flight, 0u);
    };
    run_bounded(body());
}

TEST(NetDns, ResolveTimeoutRaisesDnsErrorAndTheLoopEndsAtOnce) {
    DnsServer server;
    server.set_silent(true);
    auto t0 = std::chrono::steady_clock::now();
    auto body = [&]() -> corio::Task<void> {
        corio::net::set_default_resolver(options_for(server, 5s, 2));
        auto t1 = std::chrono::steady_clock::now();
        try {
            (void)co_await corio::net::resolve("slow.corio.test", 80, deadline(150ms));
            ADD_FAILURE() << "a silent server answered";
        } catch (const DnsError& e) {
            EXPECT_EQ(e.status(), ARES_ETIMEOUT);
            EXPECT_STREQ(e.what(), "cannot resolve 'slow.corio.test': timed out after 150 ms");
        }
        double took = seconds_since(t1);
        EXPECT_GE(took, 0.14);
        EXPECT_LT(took, 2.0);
        EXPECT_EQ(corio::net::default_resolver_statistics().in_flight, 1u);  // c-ares still waits, abandoned
    };
    run_bounded(body());
    EXPECT_LT(seconds_since(t0), 2.5);  // not the 15 s c-ares would have waited
}

TEST(NetDns, AnswersAreCachedAndCountedAsHits) {
    DnsServer server;
    server.add("cached.corio.test", {"192.0.2.5", "2001:db8::5"}, 60);
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        auto first = co_await r.resolve("cached.corio.test", 80);
        std::size_t asked = server.queries();
        EXPECT_EQ(asked, 2u);
        auto second = co_await r.resolve("Cached.Corio.Test", 81);
        EXPECT_EQ(server.queries(), asked);
        EXPECT_EQ(ips(second), ips(first));
        EXPECT_EQ(second[0].port(), 81);
        auto s = r.statistics();
        EXPECT_EQ(s.queries, 2u);
        EXPECT_EQ(s.cache_hits, 1u);
        EXPECT_EQ(s.sent, 1u);
        EXPECT_EQ(s.cached, 1u);
        (void)co_await r.resolve("cached.corio.test", 80, family(AF_INET));  // another family: another entry
        EXPECT_EQ(server.queries(), asked + 1);
        EXPECT_EQ(r.statistics().cached, 2u);
    };
    run_bounded(body());
}

TEST(NetDns, CacheEntriesExpireWithTheirTtlOrTheMaximum) {
    DnsServer server;
    server.add("short.corio.test", {"192.0.2.6"}, 1);
    server.add("long.corio.test", {"192.0.2.7"}, 3600);
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        (void)co_await r.resolve("short.corio.test", 80, family(AF_INET));
        (void)co_await r.resolve("short.corio.test", 80, family(AF_INET));
        EXPECT_EQ(server.queries(), 1u);
        co_await corio::sleep(1100ms);
        (void)co_await r.resolve("short.corio.test", 80, family(AF_INET));
        EXPECT_EQ(server.queries(), 2u);

        auto opts = options_for(server);
        opts.max_cache_ttl = 0s;  // the maximum wins over a long TTL: nothing is kept
        Resolver uncached(opts);
        (void)co_await uncached.resolve("long.corio.test", 80, family(AF_INET));
        (void)co_await uncached.resolve("long.corio.test", 80, family(AF_INET));
        EXPECT_EQ(server.queries(), 4u);
        EXPECT_EQ(uncached.statistics().cache_hits, 0u);
    };
    run_bounded(body());
}

TEST(NetDns, CacheIsBoundedAndEvictsTheLeastRecentlyUsed) {
    DnsServer server;
    for (const char* n : {"a.corio.test", "b.corio.test", "c.corio.test"}) server.add(n, {"192.0.2.8"});
    auto body = [&]() -> corio::Task<void> {
        auto opts = options_for(server);
        opts.cache_size = 2;
        Resolver r(opts);
        ResolveOptions v4 = family(AF_INET);
        (void)co_await r.resolve("a.corio.test", 1, v4);
        (void)co_await r.resolve("b.corio.test", 1, v4);
        (void)co_await r.resolve("a.corio.test", 1, v4);  // a is now the most recent
        (void)co_await r.resolve("c.corio.test", 1, v4);  // evicts b
        EXPECT_EQ(r.statistics().cached, 2u);
        EXPECT_EQ(server.queries(), 3u);
        (void)co_await r.resolve("a.corio.test", 1, v4);
        EXPECT_EQ(server.queries(), 3u);
        (void)co_await r.resolve("b.corio.test", 1, v4);
        EXPECT_EQ(server.queries(), 4u);
    };
    run_bounded(body());
}

TEST(NetDns, ConcurrentResolutionsOfOneNameShareOneLookup) {
    DnsServer server;
    server.add("shared.corio.test", {"192.0.2.9", "2001:db8::9"});
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        std::vector<corio::Task<std::vector<SocketAddress>>> tasks;
        for (int i = 0; i < 50; ++i) tasks.push_back(r.resolve("shared.corio.test", static_cast<std::uint16_t>(i)));
        auto results = co_await corio::gather(std::move(tasks));
        for (std::size_t i = 0; i < results.size(); ++i) {
            EXPECT_EQ(ips(results[i]), (std::vector<std::string>{"2001:db8::9", "192.0.2.9"}));
            EXPECT_EQ(results[i][0].port(), i);
        }
        EXPECT_EQ(server.queries(), 2u);
        EXPECT_EQ(r.statistics().sent, 1u);
    };
    run_bounded(body());
}

TEST(NetDns, TwoHundredConcurrentResolutionsAllComplete) {
    DnsServer server;
    auto name = [](int i) { return "n" + std::to_string(i) + ".bulk.corio.test"; };
    auto addr = [](int i) { return "10.0." + std::to_string(i / 100) + "." + std::to_string(i % 100); };
    for (int i = 0; i < 200; ++i) server.add(name(i), {addr(i)});
    auto body = [&]() -> corio::Task<void> {
        corio::net::set_default_resolver(options_for(server, 2s, 2));
        std::vector<corio::Task<std::vector<SocketAddress>>> tasks;
        for (int i = 0; i < 200; ++i) tasks.push_back(corio::net::resolve(name(i), 80));
        auto results = co_await corio::gather(std::move(tasks));
        for (int i = 0; i < 200; ++i) EXPECT_EQ(ips(results[static_cast<std::size_t>(i)]), std::vector<std::string>{addr(i)});
        auto s = corio::net::default_resolver_statistics();
        EXPECT_EQ(s.sent, 200u);
        EXPECT_EQ(s.failures, 0u);
        EXPECT_EQ(s.in_flight, 0u);
    };
    run_bounded(body());
    EXPECT_EQ(server.queries(), 400u);
}

TEST(NetDns, CancellingAResolutionMidQueryLetsTheLoopEndPromptly) {
    DnsServer server;
    server.set_silent(true);
    auto t0 = std::chrono::steady_clock::now();
    auto body = [&]() -> corio::Task<void> {
        corio::net::set_default_resolver(options_for(server, 5s, 2));
        auto h = corio::spawn(corio::net::resolve("slow.corio.test", 80, deadline(0ms)));
        co_await corio::sleep(30ms);
        EXPECT_FALSE(h.done());
        h.cancel();
        bool raised3 = co_await raises<corio::CancelledError>(h);
        EXPECT_TRUE(raised3);
        EXPECT_GE(server.queries(), 1u);
        // corio::timeout cancels it the same way.
        bool raised4 = co_await raises<corio::TimeoutError>(corio::timeout(30ms, corio::net::resolve("slow2.corio.test", 80)));
        EXPECT_TRUE(raised4);
    };
    run_bounded(body());
    EXPECT_LT(seconds_since(t0), 2.0);  // the abandoned lookups did not hold run() for c-ares's 15 s
}

TEST(NetDns, ResolverDestroyedWithAnAbandonedLookupCleansUp) {
    DnsServer server;
    server.set_silent(true);
    auto body = [&]() -> corio::Task<void> {
        auto live = corio::loop_statistics().live;
        {
            Resolver r(options_for(server, 5s, 2));
            auto h = corio::spawn(r.resolve("slow.corio.test", 80, deadline(0ms)));
            co_await corio::sleep(20ms);
            h.cancel();
            bool raised5 = co_await raises<corio::CancelledError>(h);
            EXPECT_TRUE(raised5);
            EXPECT_EQ(r.statistics().in_flight, 1u);
        }  // destroyed while c-ares waits: its socket is closed, its driver ends
        co_await corio::sleep(20ms);
        EXPECT_EQ(corio::loop_statistics().live, live);  // no driver task left behind
    };
    run_bounded(body());
}

TEST(NetDns, AnAbandonedLookupStillFillsTheCache) {
    DnsServer server;
    server.add("late.corio.test", {"192.0.2.11"});
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        auto h = corio::spawn(r.resolve("late.corio.test", 80));
        co_await corio_test::settle(1);
        h.cancel();
        try {
            (void)co_await h;
        } catch (const corio::CancelledError&) {
        }
        for (int i = 0; i < 100 && r.statistics().in_flight > 0; ++i) co_await corio::sleep(5ms);
        auto got11 = co_await ips_of(r, "late.corio.test", AF_UNSPEC);
        EXPECT_EQ(got11, std::vector<std::string>{"192.0.2.11"});
        EXPECT_EQ(server.queries(), 2u);
        EXPECT_EQ(r.statistics().cache_hits, 1u);
    };
    run_bounded(body());
}

TEST(NetDns, TruncatedAnswersAreAskedAgainOverTcp) {
    DnsServer server;
    server.add("big.corio.test", {"192.0.2.12", "2001:db8::12"}, 60, true);
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server));
        auto got12 = co_await ips_of(r, "big.corio.test", AF_UNSPEC);
        EXPECT_EQ(got12, (std::vector<std::string>{"2001:db8::12", "192.0.2.12"}));
    };
    run_bounded(body());
    EXPECT_EQ(server.tcp_queries(), 2u);
}

TEST(NetDns, ALookupQueuedOnABusyTcpConnectionIsWrittenToo) {
    DnsServer server;
    server.add("big1.corio.test", {"192.0.2.13"}, 60, true);
    server.add("big2.corio.test", {"192.0.2.14"}, 60, true);
    server.set_delay(60ms);  // big2 switches to TCP while big1 waits there for its answer
    auto body = [&]() -> corio::Task<void> {
        Resolver r(options_for(server, 2s, 2));
        auto first = corio::spawn(ips_of(r, "big1.corio.test", AF_INET));
        co_await corio::sleep(20ms);
        auto second = co_await ips_of(r, "big2.corio.test", AF_INET);
        EXPECT_EQ(second, std::vector<std::string>{"192.0.2.14"});
        auto got = co_await first;
        EXPECT_EQ(got, std::vector<std::string>{"192.0.2.13"});
    };
    run_bounded(body());
    EXPECT_EQ(server.tcp_queries(), 2u);
}

corio::Task<void> store_ips_of(std::string host, std::vector<std::string>* out) {
    *out = co_await default_ips_of(std::move(host));
}

/// Resolves `host`; when cancelled, hands the same resolution to a fresh task (spawned after run() cancelled
/// everything, so not cancelled itself) before giving up.
corio::Task<void> resolve_or_hand_over(std::string host, std::vector<std::string>* out) {
    try {
        *out = co_await default_ips_of(host);
    } catch (const corio::CancelledError&) {
        corio::spawn(store_ips_of(host, out)).detach();
        throw;
    }
}

TEST(NetDns, ATaskSpawnedWhileRunIsEndingCanStillResolve) {
    DnsServer server;
    server.add("late.corio.test", {"192.0.2.15"});
    server.set_delay(80ms);
    std::vector<std::string> got;
    auto body = [&]() -> corio::Task<void> {
        corio::net::set_default_resolver(options_for(server, 2s, 2));
        corio::spawn(resolve_or_hand_over("late.corio.test", &got)).detach();
        co_await corio::sleep(20ms);  // its lookup is in flight
    };  // run() cancels it and the socket's driver; the task it hands over to is polled by a new driver
    run_bounded(body());
    EXPECT_EQ(got, std::vector<std::string>{"192.0.2.15"});
}

TEST(NetDns, ServerThatIsNotListeningFailsWithinTheRetryPolicy) {
    std::uint16_t port;
    {
        DnsServer gone;  // a port nobody listens on once it is destroyed
        port = gone.port();
    }
    auto body = [&]() -> corio::Task<void> {
        ResolverOptions opts;
        opts.servers = {SocketAddress::ip("127.0.0.1", port)};
        opts.attempt_timeout = 100ms;
        opts.tries = 1;
        Resolver r(opts);
        auto t0 = std::chrono::steady_clock::now();
        bool raised6 = co_await raises<DnsError>(r.resolve("nobody.corio.test", 80));
        EXPECT_TRUE(raised6);
        EXPECT_LT(seconds_since(t0), 2.0);
    };
    run_bounded(body());
}

TEST(NetDns, SetDefaultResolverPointsNetResolveAtAnotherServer) {
    DnsServer first, second;
    first.add("svc.corio.test", {"192.0.2.21"});
    second.add("svc.corio.test", {"192.0.2.22"});
    auto body = [&]() -> corio::Task<void> {
        corio::net::set_default_resolver(options_for(first));
        auto got = co_await default_ips_of("svc.corio.test");
        EXPECT_EQ(got, std::vector<std::string>{"192.0.2.21"});
        corio::net::set_default_resolver(options_for(second));
        EXPECT_EQ(corio::net::default_resolver_statistics().queries, 0u);  // a fresh resolver, a fresh cache
        auto got2 = co_await default_ips_of("svc.corio.test");
        EXPECT_EQ(got2, std::vector<std::string>{"192.0.2.22"});
    };
    run_bounded(body());
    EXPECT_EQ(first.queries(), 2u);
    EXPECT_EQ(second.queries(), 2u);
}

corio::Task<int> resolve_after_a_cancellation() {
    try {
        co_await corio::sleep(5s);  // cancelled here, and the cancellation swallowed...
    } catch (const corio::CancelledError&) {
    }
    (void)co_await corio::net::resolve("localhost", 80);  // ...so it is raised again here, answer or not
    co_return 1;
}

TEST(NetDns, ACancelledTaskIsStoppedEvenByAnImmediateAnswer) {
    auto body = []() -> corio::Task<void> {
        auto h = corio::spawn(resolve_after_a_cancellation());
        co_await corio::yield();
        h.cancel();
        bool raised7 = co_await raises<corio::CancelledError>(h);
        EXPECT_TRUE(raised7);
    };
    run_bounded(body());
}

}  // namespace
