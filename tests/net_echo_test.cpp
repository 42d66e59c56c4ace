// An echo server holding 10,000 concurrent connections from a client in another process (this same binary,
// started with CORIO_ECHO_CLIENT=port): every echo is checked, and afterwards the server's descriptor count is
// back to its baseline and a second round leaves its memory where the first one left it.
#include <corio/corio.hpp>

#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#include "support/sanitized.hpp"

using namespace std::chrono_literals;
using corio::Task;
namespace net = corio::net;

namespace {

constexpr int k_connections = 10'000;
constexpr std::size_t k_message = 64;

int open_fds() {
    int n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
    return n - 1;  // the directory stream's own
}

long rss_kib() {
    long pages = 0, resident = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

bool raise_fd_limit(rlim_t want) {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_max < want) return false;
    r.rlim_cur = r.rlim_max;
    return ::setrlimit(RLIMIT_NOFILE, &r) == 0;
}

// ---- the client (the child process) ----

Task<bool> client_connection(std::uint16_t port, int id, corio::Semaphore& connecting, corio::Clock::time_point until) {
    net::TcpStream s;
    {
        auto permit = co_await connecting.acquire();  // at most a few hundred handshakes at a time
        s = co_await net::TcpStream::connect(net::SocketAddress::ip("127.0.0.1", port), {.timeout = 60s});
    }
    std::array<std::byte, k_message> out, in;
    int round = 0;
    do {
        for (std::size_t i = 0; i < k_message; ++i) out[i] = static_cast<std::byte>(id * 31 + round * 7 + static_cast<int>(i));
        co_await s.write_all(out);
        co_await s.read_exact(in);
        if (in != out) co_return false;
        ++round;
        co_await corio::sleep(1s);
    } while (corio::Clock::now() < until);
    co_return true;
}

int run_client(std::uint16_t port, int hold_seconds) {
    if (!raise_fd_limit(k_connections + 100)) return 3;
    return corio::run([](std::uint16_t port, int hold) -> Task<int> {
        corio::Semaphore connecting(256);
        auto until = corio::Clock::now() + std::chrono::seconds(hold);
        std::vector<Task<bool>> all;
        all.reserve(k_connections);
        for (int i = 0; i < k_connections; ++i) all.push_back(client_connection(port, i, connecting, until));
        auto ok = co_await corio::gather(std::move(all));
        for (bool b : ok)
            if (!b) co_return 1;
        co_return 0;
    }(port, hold_seconds));
}

// ---- the server (this process) ----

Task<void> echo(net::TcpStream c, int& finished) {
    std::array<std::byte, 256> buf;
    while (std::size_t n = co_await c.read(buf)) co_await c.write_all(std::span<const std::byte>(buf.data(), n));
    ++finished;
}

Task<int> serve(net::TcpListener& listener, int count) {
    int finished = 0;
    corio::TaskGroup group;
    for (int i = 0; i < count; ++i) group.spawn(echo(co_await listener.accept(), finished));
    co_await group.join();
    co_return finished;
}

/// One round: a client process opens k_connections to `listener` and echoes for `hold` seconds.
void round_trip(net::TcpListener& listener, int hold) {
    std::string port = std::to_string(listener.local_address().port());
    std::string env_client = "CORIO_ECHO_CLIENT=" + port;
    std::string env_hold = "CORIO_ECHO_HOLD=" + std::to_string(hold);
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    envp.push_back(env_client.data());
    envp.push_back(env_hold.data());
    envp.push_back(nullptr);
    std::string filter = "--gtest_filter=NetEcho.*";
    char* argv[] = {const_cast<char*>("/proc/self/exe"), filter.data(), nullptr};
    pid_t pid;
    ASSERT_EQ(::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()), 0);
    int finished = corio::run(corio::timeout(hold * 1s + 120s, serve(listener, k_connections)));
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status)) << "client status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the client saw a wrong echo (1) or could not raise its fd limit (3)";
    EXPECT_EQ(finished, k_connections);
}

}  // namespace

TEST(NetEcho, TenThousandConnectionsHeldForTenSecondsLeaveNoTrace) {
    if (const char* port = std::getenv("CORIO_ECHO_CLIENT")) {  // we are the client process
        const char* hold = std::getenv("CORIO_ECHO_HOLD");
        std::fflush(stdout);
        ::_exit(run_client(static_cast<std::uint16_t>(std::atoi(port)), hold ? std::atoi(hold) : 10));
    }
    if (!raise_fd_limit(k_connections + 100)) GTEST_SKIP() << "the hard descriptor limit is below 10,100";
    auto listener = net::TcpListener::bind("127.0.0.1:0", {.backlog = 4096});
    int fds_before = open_fds();

    round_trip(listener, 10);
    EXPECT_EQ(open_fds(), fds_before);
    ::malloc_trim(0);
    long rss_first = rss_kib();

    round_trip(listener, 1);
    EXPECT_EQ(open_fds(), fds_before);
    ::malloc_trim(0);
    long rss_second = rss_kib();
#ifndef CORIO_SANITIZED  // sanitizers keep freed memory in quarantine (and check for leaks themselves)
    EXPECT_LE(rss_second, rss_first + 4096) << "RSS grew from " << rss_first << " KiB to " << rss_second << " KiB";
#else
    (void)rss_first;
    (void)rss_second;
#endif
}
