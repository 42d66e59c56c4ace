// Unix-domain stream sockets over real socket files.
#include <corio/corio.hpp>

#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace std::chrono_literals;
using corio::Task;
using corio_test::run_bounded;
namespace net = corio::net;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/corio-unix-XXXXXX";
        path = ::mkdtemp(t);
    }
    ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};

bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

Task<std::string> read_all(net::StreamSocket& s) {
    std::string out;
    std::array<std::byte, 4096> buf;
    while (std::size_t n = co_await s.read(buf)) out.append(reinterpret_cast<const char*>(buf.data()), n);
    co_return out;
}

Task<void> echo_once(net::UnixListener& l) {
    auto c = co_await l.accept();
    std::array<std::byte, 4096> buf;
    while (std::size_t n = co_await c.read(buf)) co_await c.write_all(std::span<const std::byte>(buf.data(), n));
}

}  // namespace

TEST(NetUnix, EchoesThroughASocketFileThatIsRemovedOnClose) {
    TempDir dir;
    std::string path = dir.path + "/echo.sock";
    auto got = run_bounded([](std::string path) -> Task<std::string> {
        auto l = net::UnixListener::bind(path);
        EXPECT_EQ(l.local_address().path(), path);
        auto server = corio::spawn(echo_once(l));
        auto c = co_await net::UnixStream::connect(path);
        co_await c.write_all(std::string(200'000, 'u'));
        c.shutdown();
        std::string reply = co_await read_all(c);
        co_await server;
        co_return reply;
    }(path));
    EXPECT_EQ(got, std::string(200'000, 'u'));
    EXPECT_FALSE(exists(path));
}

TEST(NetUnix, AStaleSocketFileIsReplacedButAnyOtherFileIsAnError) {
    TempDir dir;
    std::string path = dir.path + "/s.sock";
    run_bounded([](std::string path) -> Task<void> {
        {
            auto l = net::UnixListener::bind(path, {.unlink_on_close = false});
        }
        EXPECT_TRUE(exists(path));  // left behind, as by a crashed server
        auto l = net::UnixListener::bind(path);
        auto server = corio::spawn(echo_once(l));
        auto c = co_await net::UnixStream::connect(path);
        c.shutdown();
        co_await server;
        co_return;
    }(path));
    std::string regular = dir.path + "/file";
    ::close(::open(regular.c_str(), O_CREAT | O_WRONLY, 0644));
    EXPECT_THROW((void)net::UnixListener::bind(regular), corio::IoError);
    EXPECT_TRUE(exists(regular));
}

TEST(NetUnix, AbstractNamesAndPairs) {
    run_bounded([]() -> Task<void> {
        std::string name = "@corio-test-" + std::to_string(::getpid());
        auto l = net::UnixListener::bind(name);
        auto server = corio::spawn(echo_once(l));
        auto c = co_await net::UnixStream::connect(name);
        co_await c.write_all("abstract");
        c.shutdown();
        EXPECT_EQ(co_await read_all(c), "abstract");
        co_await server;

        auto [a, b] = net::UnixStream::pair();
        co_await a.write_all("pair");
        a.shutdown();
        EXPECT_EQ(co_await read_all(b), "pair");
    }());
}

TEST(NetUnix, ConnectingToNothingIsAConnectErrorNamingThePath) {
    TempDir dir;
    run_bounded([](std::string path) -> Task<void> {
        try {
            (void)co_await net::UnixStream::connect(path);
            ADD_FAILURE() << "connected";
        } catch (const net::ConnectError& e) {
            EXPECT_EQ(e.code(), ENOENT);
            EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        }
    }(dir.path + "/missing.sock"));
}

// A Unix listener whose backlog is full makes a non-blocking connect(2) fail with EAGAIN, which is not
// EINPROGRESS: the socket is left unconnected and no event says when there is room. Under epoll that was
// taken for a connection in progress, and the first EPOLLOUT (an unconnected socket is writable) "completed"
// it with SO_ERROR 0: connect() returned a stream that was connected to nothing.
TEST(NetUnix, ConnectingToAFullBacklogWaitsForRoomInsteadOfReturningAnUnconnectedStream) {
    TempDir dir;
    run_bounded([](std::string path) -> Task<void> {
        auto l = net::UnixListener::bind(path, {.backlog = 0});  // holds one connection not yet accepted
        auto first = co_await net::UnixStream::connect(path);
        auto second = corio::spawn(net::UnixStream::connect(path));
        co_await corio::sleep(50ms);
        EXPECT_FALSE(second.done()) << "connected while the backlog was full";
        auto a1 = co_await l.accept();  // room for the second
        auto a2 = co_await corio::timeout(5s, l.accept());
        auto c2 = co_await second;
        co_await c2.write_all("second");
        c2.shutdown();
        EXPECT_EQ(co_await read_all(a2), "second");
    }(dir.path + "/full.sock"));
}

// Waiting for room in a full backlog is what a timeout cuts short: TimeoutError under both backends (under
// io_uring the kernel waits in a blocking connect that the cancellation interrupts).
TEST(NetUnix, ATimeoutEndsAConnectWaitingOnAFullBacklog) {
    TempDir dir;
    run_bounded([](std::string path) -> Task<void> {
        auto l = net::UnixListener::bind(path, {.backlog = 0});
        auto first = co_await net::UnixStream::connect(path);
        auto t0 = corio::Clock::now();
        try {
            (void)co_await corio::timeout(100ms, net::UnixStream::connect(path));
            ADD_FAILURE() << "connected while the backlog was full";
        } catch (const corio::TimeoutError&) {
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a TimeoutError: " << e.what();
        }
        EXPECT_LT(corio::Clock::now() - t0, 2s);
        auto a1 = co_await l.accept();  // the listener still works, and the first connection is intact
        co_await first.write_all("first");
        first.shutdown();
        EXPECT_EQ(co_await read_all(a1), "first");
    }(dir.path + "/full.sock"));
}
