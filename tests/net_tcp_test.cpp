// TCP streams and listeners over real loopback sockets.
#include <corio/corio.hpp>

#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using corio::Task;
using corio_test::run_bounded;
namespace net = corio::net;

namespace {

Task<std::string> read_all(net::StreamSocket& s) {
    std::string out;
    std::array<std::byte, 4096> buf;
    while (std::size_t n = co_await s.read(buf)) out.append(reinterpret_cast<const char*>(buf.data()), n);
    co_return out;
}

Task<void> echo_once(net::TcpListener& l) {
    net::TcpStream c = co_await l.accept();
    std::array<std::byte, 4096> buf;
    while (std::size_t n = co_await c.read(buf)) co_await c.write_all(std::span<const std::byte>(buf.data(), n));
}

/// A listener whose accept queue is full: further connection attempts hang in SYN retransmission.
struct FullBacklog {
    int listener = -1;
    std::vector<int> fillers;
    std::uint16_t port = 0;

    FullBacklog() {
        listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(listener, 0);
        socklen_t len = sizeof a;
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        for (int i = 0; i < 4; ++i) {  // backlog 0 holds one; the rest are left half-open
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
            fillers.push_back(fd);
        }
        ::usleep(50'000);
    }
    ~FullBacklog() {
        for (int fd : fillers) ::close(fd);
        ::close(listener);
    }
};

}  // namespace

TEST(NetTcp, EchoesThroughAListenerOnAnEphemeralPort) {
    auto got = run_bounded([]() -> Task<std::string> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        EXPECT_NE(l.local_address().port(), 0);
        auto server = corio::spawn(echo_once(l));
        auto c = co_await net::TcpStream::connect(l.local_address());
        co_await c.write_all("hello, corio");
        c.shutdown();
        std::string reply = co_await read_all(c);
        co_await server;
        co_return reply;
    }());
    EXPECT_EQ(got, "hello, corio");
}

TEST(NetTcp, ConnectsByNumericHostAndByNameThroughEveryAddress) {
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        std::uint16_t port = l.local_address().port();
        auto server = corio::spawn([](net::TcpListener& l) -> Task<int> {
            int n = 0;
            for (int i = 0; i < 2; ++i) {
                auto c = co_await l.accept();
                n += c.peer_address().ip() == "127.0.0.1";
            }
            co_return n;
        }(l));
        auto a = co_await net::TcpStream::connect("127.0.0.1", port);
        EXPECT_EQ(a.peer_address().to_string(), "127.0.0.1:" + std::to_string(port));
        // "localhost" may also resolve to ::1, where nothing listens: that address fails, the next one wins.
        auto b = co_await net::TcpStream::connect("localhost", port);
        EXPECT_EQ(b.peer_address().port(), port);
        EXPECT_EQ(co_await server, 2);
    }());
}

TEST(NetTcp, ReadExactGathersPiecesAndRaisesIncompleteReadAtEndOfStream) {
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        auto server = corio::spawn([](net::TcpListener& l) -> Task<void> {
            auto c = co_await l.accept();
            co_await c.write_all("abc");
            co_await corio::sleep(5ms);
            co_await c.write_all("defgh");
            c.shutdown();
            co_await corio::sleep(5ms);
        }(l));
        auto c = co_await net::TcpStream::connect(l.local_address());
        std::array<std::byte, 6> six;
        co_await c.read_exact(six);
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(six.data()), 6), "abcdef");
        try {
            co_await c.read_exact(six);
            ADD_FAILURE() << "no error";
        } catch (const net::IncompleteReadError& e) {
            EXPECT_EQ(e.got(), 2u);
            EXPECT_EQ(e.expected(), 6u);
        }
        co_await server;
    }());
}

TEST(NetTcp, HalfCloseLetsThePeerAnswerAfterEndOfStream) {
    auto got = run_bounded([]() -> Task<std::string> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        auto server = corio::spawn([](net::TcpListener& l) -> Task<void> {
            auto c = co_await l.accept();
            std::string req = co_await read_all(c);  // until the client's FIN
            co_await c.write_all("got " + std::to_string(req.size()) + " bytes");
        }(l));
        auto c = co_await net::TcpStream::connect(l.local_address());
        co_await c.write_all(std::string(100'000, 'x'));
        c.shutdown(net::Shutdown::write);
        std::string reply = co_await read_all(c);
        co_await server;
        co_return reply;
    }());
    EXPECT_EQ(got, "got 100000 bytes");
}

TEST(NetTcp, PeerResetIsAnIoErrorWithEconnreset) {
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        auto server = corio::spawn([](net::TcpListener& l) -> Task<void> {
            auto c = co_await l.accept();
            linger lg{1, 0};  // close with RST
            ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            c.close();
        }(l));
        auto c = co_await net::TcpStream::connect(l.local_address());
        co_await server;
        co_await corio::sleep(10ms);
        try {
            std::array<std::byte, 16> buf;
            (void)co_await c.read(buf);
            ADD_FAILURE() << "no error";
        } catch (const corio::IoError& e) {
            EXPECT_EQ(e.code(), ECONNRESET) << e.what();
        }
    }());
}

TEST(NetTcp, RefusedConnectionIsAConnectErrorNamingTheAddress) {
    run_bounded([]() -> Task<void> {
        std::uint16_t port;
        {
            auto l = net::TcpListener::bind("127.0.0.1:0");
            port = l.local_address().port();
        }
        try {
            (void)co_await net::TcpStream::connect("127.0.0.1", port);
            ADD_FAILURE() << "connected";
        } catch (const net::ConnectError& e) {
            EXPECT_EQ(e.code(), ECONNREFUSED);
            EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
        }
    }());
}

TEST(NetTcp, ConnectTimesOutAgainstAFullBacklog) {
    FullBacklog full;
    run_bounded([](std::uint16_t port) -> Task<void> {
        auto t0 = corio::Clock::now();
        try {
            (void)co_await net::TcpStream::connect("127.0.0.1", port, {.timeout = 300ms});
            ADD_FAILURE() << "connected";
        } catch (const net::ConnectError& e) {
            EXPECT_EQ(e.code(), ETIMEDOUT) << e.what();
            EXPECT_NE(std::string(e.what()).find("timed out after 300 ms"), std::string::npos) << e.what();
        }
        EXPECT_GE(corio::Clock::now() - t0, 290ms);
    }(full.port));
}

TEST(NetTcp, HappyEyeballsStartsTheNextAddressAfterTheDelay) {
    FullBacklog full;  // the first address hangs
    run_bounded([](std::uint16_t hanging) -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        auto server = corio::spawn([](net::TcpListener& l) -> Task<void> { (void)co_await l.accept(); }(l));
        auto t0 = corio::Clock::now();
        std::vector<net::SocketAddress> addrs;  // (not an initializer list: GCC 12 rejects one inside co_await)
        addrs.push_back(net::SocketAddress::ip("127.0.0.1", hanging));
        addrs.push_back(l.local_address());
        auto c = co_await net::TcpStream::connect(addrs, {.happy_eyeballs_delay = 100ms});
        auto took = corio::Clock::now() - t0;
        EXPECT_EQ(c.peer_address(), l.local_address());
        EXPECT_GE(took, 95ms);
        EXPECT_LT(took, 5s);
        co_await server;
    }(full.port));
}

TEST(NetTcp, AFailedAttemptStartsTheNextAtOnceAndAllReasonsAreNamed) {
    run_bounded([]() -> Task<void> {
        std::uint16_t p1, p2;
        {
            auto a = net::TcpListener::bind("127.0.0.1:0");
            auto b = net::TcpListener::bind("127.0.0.1:0");
            p1 = a.local_address().port();
            p2 = b.local_address().port();
        }
        auto t0 = corio::Clock::now();
        try {
            std::vector<net::SocketAddress> addrs;
            addrs.push_back(net::SocketAddress::ip("127.0.0.1", p1));
            addrs.push_back(net::SocketAddress::ip("127.0.0.1", p2));
            (void)co_await net::TcpStream::connect(addrs, {.happy_eyeballs_delay = 2s});
            ADD_FAILURE() << "connected";
        } catch (const net::ConnectError& e) {
            std::string w = e.what();
            EXPECT_NE(w.find(":" + std::to_string(p1) + ": Connection refused"), std::string::npos) << w;
            EXPECT_NE(w.find(":" + std::to_string(p2) + ": Connection refused"), std::string::npos) << w;
        }
        EXPECT_LT(corio::Clock::now() - t0, 1s);  // no waiting out the 2 s stagger after a refusal
    }());
}

TEST(NetTcp, CancelledAcceptAndReadLeaveTheSocketsUsable) {
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        EXPECT_THROW(co_await corio::timeout(20ms, l.accept()), corio::TimeoutError);
        auto server = corio::spawn(echo_once(l));
        auto c = co_await net::TcpStream::connect(l.local_address());
        std::array<std::byte, 8> buf;
        EXPECT_THROW((void)co_await corio::timeout(20ms, c.read(buf)), corio::TimeoutError);
        co_await c.write_all("ping");
        c.shutdown();
        EXPECT_EQ(co_await read_all(c), "ping");
        co_await server;
    }());
}

TEST(NetTcp, ClosingAStreamFailsTheReadPendingOnIt) {
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        auto server = corio::spawn([](net::TcpListener& l) -> Task<net::TcpStream> { co_return co_await l.accept(); }(l));
        auto c = co_await net::TcpStream::connect(l.local_address());
        auto peer = co_await server;  // keeps the connection open: only the close can end the read
        auto reader = corio::spawn([](net::TcpStream& c) -> Task<int> {
            std::array<std::byte, 16> buf;
            try {
                (void)co_await c.read(buf);
            } catch (const corio::IoError& e) {
                co_return e.code();
            }
            co_return 0;
        }(c));
        co_await corio_test::settle();
        c.close();
        int err = co_await reader;
        EXPECT_TRUE(err == ECANCELED || err == EBADF) << "errno " << err;  // io_uring / epoll
    }());
}

// Closing a listener wakes its waiting accept() with EBADF and (io_uring) cancels the multishot accept; the
// Acceptor is freed when that cancellation's completion is reaped. With more tasks ready than a turn runs,
// the loop reaps I/O before the woken accept() resumes: its error must not be built from the freed Acceptor
// (heap-use-after-free under ASan; a garbage fd in the message otherwise).
TEST(NetTcp, AnAcceptFailedByClosingTheListenerDoesNotReadTheFreedAcceptor) {
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        const int fd = l.fd();
        auto waiting = corio::spawn([](net::TcpListener& l) -> Task<std::string> {
            try {
                (void)co_await l.accept();
            } catch (const corio::IoError& e) {
                EXPECT_EQ(e.code(), EBADF);
                co_return e.what();
            }
            co_return "accepted";
        }(l));
        co_await corio_test::settle();  // parked in accept(), the multishot accept armed
        std::vector<corio::JoinHandle<void>> ahead;
        for (int i = 0; i < 400; ++i) ahead.push_back(corio::spawn([]() -> Task<void> { co_return; }()));
        l.close();  // the waiter is queued behind the 400: a turn's batch ends, and I/O is reaped, before it runs
        std::string what = co_await waiting;
        EXPECT_EQ(what, "accept on fd " + std::to_string(fd) + " failed: " + std::strerror(EBADF));
        for (auto& h : ahead) co_await h;
    }());
}

TEST(NetTcp, OptionsAndAddresses) {
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        auto server = corio::spawn([](net::TcpListener& l) -> Task<net::TcpStream> { co_return co_await l.accept(); }(l));
        auto c = co_await net::TcpStream::connect(l.local_address(), {.nodelay = false});
        auto s = co_await server;
        int v = -1;
        socklen_t len = sizeof v;
        ::getsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
        EXPECT_EQ(v, 1);  // accepted connections get TCP_NODELAY by default
        ::getsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
        EXPECT_EQ(v, 0);
        c.set_nodelay(true);
        c.set_keepalive(true, 30s);
        ::getsockopt(c.fd(), SOL_SOCKET, SO_KEEPALIVE, &v, &len);
        EXPECT_EQ(v, 1);
        EXPECT_EQ(c.local_address(), s.peer_address());
        EXPECT_EQ(c.peer_address(), s.local_address());
    }());
}

TEST(NetTcp, BindErrorsNameTheAddress) {
    auto l = [] {
        return corio::run([]() -> Task<net::TcpListener> { co_return net::TcpListener::bind("127.0.0.1:0"); }());
    }();
    std::string taken = l.local_address().to_string();
    try {
        (void)net::TcpListener::bind(taken, {.reuse_address = false});
        ADD_FAILURE() << "bound twice";
    } catch (const corio::IoError& e) {
        EXPECT_EQ(e.code(), EADDRINUSE);
        EXPECT_NE(std::string(e.what()).find(taken), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)net::TcpListener::bind("localhost:80"), std::invalid_argument);
}

TEST(NetTcp, IPv6LoopbackWorks) {
    try {
        (void)net::TcpListener::bind("[::1]:0");
    } catch (const corio::IoError&) {
        GTEST_SKIP() << "no IPv6 loopback here";
    }
    run_bounded([]() -> Task<void> {
        auto l = net::TcpListener::bind("[::1]:0");
        auto server = corio::spawn(echo_once(l));
        auto c = co_await net::TcpStream::connect("::1", l.local_address().port());
        co_await c.write_all("six");
        c.shutdown();
        EXPECT_EQ(co_await read_all(c), "six");
        co_await server;
    }());
}

TEST(SocketAddress, ParsesAndFormats) {
    EXPECT_EQ(net::SocketAddress::parse("127.0.0.1:8080").to_string(), "127.0.0.1:8080");
    EXPECT_EQ(net::SocketAddress::parse("[::1]:443").to_string(), "[::1]:443");
    EXPECT_EQ(net::SocketAddress::parse("::1", 7).port(), 7);
    EXPECT_EQ(net::SocketAddress::parse("10.0.0.1", 9).to_string(), "10.0.0.1:9");
    EXPECT_EQ(net::SocketAddress::parse("[fe80::1%3]:80").to_string(), "[fe80::1%3]:80");
    EXPECT_FALSE(net::SocketAddress::try_ip("localhost").has_value());
    EXPECT_EQ(net::SocketAddress::parse("/tmp/x.sock").path(), "/tmp/x.sock");
    EXPECT_EQ(net::SocketAddress::parse("@abstract").path(), "@abstract");
    EXPECT_EQ(net::SocketAddress::ip("127.0.0.1", 1).with_port(2).port(), 2);
    EXPECT_TRUE(net::SocketAddress().empty());
    EXPECT_THROW((void)net::SocketAddress::parse("example.com:80"), std::invalid_argument);
    EXPECT_THROW((void)net::SocketAddress::parse("1.2.3.4:99999"), std::invalid_argument);
    EXPECT_THROW((void)net::SocketAddress::parse("[::1"), std::invalid_argument);
    EXPECT_THROW((void)net::SocketAddress::unix_path(std::string(200, 'x')), std::invalid_argument);
}
