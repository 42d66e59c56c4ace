#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

struct Pair {
    int a = -1, b = -1;
};

Pair make_pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    return {fds[0], fds[1]};
}
Pair make_socketpair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    return {fds[0], fds[1]};
}

corio::Task<std::string> read_n(int fd, std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
        std::size_t r = co_await corio::read(fd, out.data() + got, n - got);
        if (r == 0) break;
        got += r;
    }
    out.resize(got);
    co_return out;
}

corio::Task<void> write_all(int fd, std::string s) {
    std::size_t done = 0;
    while (done < s.size()) done += co_await corio::write(fd, s.data() + done, s.size() - done);
}

TEST(Io, PipeReadWaitsForTheWriter) {
    auto body = []() -> corio::Task<std::string> {
        Pair p = make_pipe();
        auto reader = corio::spawn(read_n(p.a, 5));
        co_await corio::sleep(2ms);
        EXPECT_FALSE(reader.done());
        co_await write_all(p.b, "hello");
        auto s = co_await reader;
        corio::close(p.a);
        corio::close(p.b);
        co_return s;
    };
    EXPECT_EQ(corio::run(body()), "hello");
}

TEST(Io, ReadReturnsZeroAtEndOfFile) {
    auto body = []() -> corio::Task<std::size_t> {
        Pair p = make_pipe();
        corio::close(p.b);
        char c;
        auto n = co_await corio::read(p.a, &c, 1);
        corio::close(p.a);
        co_return n;
    };
    EXPECT_EQ(corio::run(body()), 0u);
}

TEST(Io, SocketpairPingPong) {
    auto body = []() -> corio::Task<int> {
        Pair s = make_socketpair();
        auto echo = corio::spawn([](int fd) -> corio::Task<void> {
            char buf[64];
            for (;;) {
                auto n = co_await corio::recv(fd, buf, sizeof buf);
                if (n == 0) co_return;
                co_await corio::send(fd, buf, n);
            }
        }(s.b));
        int rounds = 0;
        for (int i = 0; i < 1000; ++i) {
            char c = static_cast<char>(i), back = 0;
            co_await corio::send(s.a, &c, 1);
            auto n = co_await corio::recv(s.a, &back, 1);
            if (n == 1 && back == c) ++rounds;
        }
        ::shutdown(s.a, SHUT_WR);
        co_await echo;
        corio::close(s.a);
        corio::close(s.b);
        co_return rounds;
    };
    EXPECT_EQ(corio::run(body()), 1000);
}

TEST(Io, LargeTransferThroughASocketpairArrivesIntact) {
    auto body = []() -> corio::Task<bool> {
        Pair s = make_socketpair();
        std::string data(4 << 20, '\0');
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
        auto [_, got] = co_await corio::gather(
            [](int fd, std::string* d) -> corio::Task<void> {
                co_await write_all(fd, *d);
                ::shutdown(fd, SHUT_WR);
            }(s.a, &data),
            read_n(s.b, data.size()));
        corio::close(s.a);
        corio::close(s.b);
        co_return got == data;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Io, LoopbackTcpAcceptAndConnect) {
    auto body = []() -> corio::Task<std::string> {
        int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        EXPECT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(lfd, 16), 0);
        socklen_t len = sizeof addr;
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

        auto server = corio::spawn([](int l) -> corio::Task<std::string> {
            int c = co_await corio::accept(l);
            auto s = co_await read_n(c, 4);
            co_await write_all(c, "pong");
            corio::close(c);
            co_return s;
        }(lfd));
        int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        co_await corio::connect(cfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        co_await write_all(cfd, "ping");
        auto reply = co_await read_n(cfd, 4);
        auto got = co_await server;
        corio::close(cfd);
        corio::close(lfd);
        co_return got + "/" + reply;
    };
    EXPECT_EQ(corio::run(body()), "ping/pong");
}

TEST(Io, ConnectToAClosedPortRaisesIoErrorWithErrno) {
    auto body = []() -> corio::Task<int> {
        // Find a free port, then close it so nobody listens there.
        int tmp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(tmp, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        socklen_t len = sizeof addr;
        ::getsockname(tmp, reinterpret_cast<sockaddr*>(&addr), &len);
        ::close(tmp);
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int code = 0;
        try {
            co_await corio::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        } catch (const corio::IoError& e) {
            code = e.code();
            EXPECT_NE(std::string(e.what()).find("connect on fd"), std::string::npos) << e.what();
        }
        corio::close(fd);
        co_return code;
    };
    EXPECT_EQ(corio::run(body()), ECONNREFUSED);
}

TEST(Io, BadDescriptorRaisesIoError) {
    auto body = []() -> corio::Task<int> {
        char c;
        try {
            (void)co_await corio::read(1'000'000, &c, 1);
        } catch (const corio::IoError& e) {
            co_return e.code();
        }
        co_return 0;
    };
    EXPECT_EQ(corio::run(body()), EBADF);
}

TEST(Io, PollReportsReadiness) {
    auto body = []() -> corio::Task<bool> {
        Pair p = make_pipe();
        auto waiter = corio::spawn(corio::poll(p.a, POLLIN));
        co_await corio::sleep(2ms);
        EXPECT_FALSE(waiter.done());
        co_await write_all(p.b, "x");
        short ev = co_await waiter;
        short out = co_await corio::poll(p.b, POLLOUT);  // a pipe with room is writable at once
        corio::close(p.a);
        corio::close(p.b);
        co_return (ev & POLLIN) && (out & POLLOUT);
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Io, CancelledReadIsCancelledInTheKernelAndConsumesNothing) {
    auto body = []() -> corio::Task<std::string> {
        Pair p = make_pipe();
        auto reader = corio::spawn(read_n(p.a, 3));
        co_await corio::sleep(2ms);
        reader.cancel();
        bool cancelled = false;
        try {
            co_await reader;
        } catch (const corio::CancelledError&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        co_await write_all(p.b, "abc");
        auto s = co_await read_n(p.a, 3);  // the cancelled read took nothing
        corio::close(p.a);
        corio::close(p.b);
        co_return s;
    };
    EXPECT_EQ(corio::run(body()), "abc");
}

TEST(Io, ReadWithATimeoutRaisesTimeoutError) {
    auto body = []() -> corio::Task<bool> {
        Pair p = make_pipe();
        char c;
        bool timed_out = false;
        try {
            (void)co_await corio::timeout(5ms, corio::read(p.a, &c, 1));
        } catch (const corio::TimeoutError&) {
            timed_out = true;
        }
        corio::close(p.a);
        corio::close(p.b);
        co_return timed_out;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Io, ClosingADescriptorWithAParkedOperationFailsThatOperation) {
    // Only meaningful under epoll (io_uring keeps its own file reference): the parked read must not hang.
    auto body = []() -> corio::Task<bool> {
        Pair p = make_pipe();
        auto reader = corio::spawn([](int fd) -> corio::Task<bool> {
            char c;
            try {
                (void)co_await corio::read(fd, &c, 1);
            } catch (const corio::IoError&) {
                co_return true;
            }
            co_return false;
        }(p.a));
        co_await corio::sleep(2ms);
        corio::close(p.a);
        ::close(p.b);  // also wakes an io_uring read with end-of-file
        co_return co_await corio::timeout(2s, std::move(reader));
    };
    bool r = corio::run(body(), {.backend = corio::Backend::epoll});
    EXPECT_TRUE(r);
}

TEST(Io, RegularFileReadAtOffset) {
    auto body = []() -> corio::Task<std::string> {
        char path[] = "/tmp/corio_io_test_XXXXXX";
        int fd = ::mkstemp(path);
        ::unlink(path);
        std::string data = "0123456789";
        co_await corio::write(fd, data.data(), data.size(), 0);
        char buf[4] = {};
        auto n = co_await corio::read(fd, buf, 4, 3);
        corio::close(fd);
        co_return std::string(buf, n);
    };
    EXPECT_EQ(corio::run(body()), "3456");
}

TEST(Io, ManyConcurrentPipes) {
    auto body = []() -> corio::Task<int> {
        std::vector<Pair> pipes;
        for (int i = 0; i < 200; ++i) pipes.push_back(make_pipe());
        std::vector<corio::Task<std::string>> readers;
        for (auto& p : pipes) readers.push_back(read_n(p.a, 2));
        auto all = corio::spawn(corio::gather(std::move(readers)));
        co_await corio::yield();
        for (auto& p : pipes) co_await write_all(p.b, "ok");
        auto out = co_await all;
        int good = 0;
        for (auto& s : out) good += s == "ok";
        for (auto& p : pipes) {
            corio::close(p.a);
            corio::close(p.b);
        }
        co_return good;
    };
    EXPECT_EQ(corio::run(body()), 200);
}

}  // namespace
