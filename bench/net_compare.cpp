// corio's side of bench/compare_net.sh: TCP echo round trips and accept rate over 127.0.0.1, client and
// server on one loop, 64-byte messages, TCP_NODELAY. Prints "<workload> <value> ns" lines, as the peers do.
//
//   net_compare [--quick] [--only WORKLOAD]
#include <corio/corio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>

using namespace std::chrono_literals;
using corio::Task;
namespace net = corio::net;

namespace {

constexpr std::size_t k_message = 64;

Task<void> serve_echo(net::TcpStream c) {
    std::array<std::byte, k_message> buf;
    try {
        while (true) {
            co_await c.read_exact(buf);
            co_await c.write_all(buf);
        }
    } catch (const net::IncompleteReadError&) {  // the client closed
    }
}

Task<void> accept_echo(net::TcpListener& l, int n) {
    corio::TaskGroup g;
    for (int i = 0; i < n; ++i) g.spawn(serve_echo(co_await l.accept()));
    co_await g.join();
}

Task<void> ping(net::SocketAddress to, long rounds) {
    auto c = co_await net::TcpStream::connect(to);
    std::array<std::byte, k_message> out{}, in;
    for (long i = 0; i < rounds; ++i) {
        co_await c.write_all(out);
        co_await c.read_exact(in);
    }
}

Task<double> echo(int connections, long total) {
    auto l = net::TcpListener::bind("127.0.0.1:0");
    auto server = corio::spawn(accept_echo(l, connections));
    long each = total / connections;
    {  // warm-up
        std::vector<Task<void>> w;
        for (int i = 0; i < connections; ++i) w.push_back(ping(l.local_address(), 1));
        co_await corio::gather(std::move(w));
    }
    co_await server;
    server = corio::spawn(accept_echo(l, connections));
    std::vector<Task<void>> clients;
    for (int i = 0; i < connections; ++i) clients.push_back(ping(l.local_address(), each));
    auto t0 = std::chrono::steady_clock::now();
    co_await corio::gather(std::move(clients));
    auto t1 = std::chrono::steady_clock::now();
    co_await server;
    co_return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(each * connections);
}

Task<void> accept_and_close(net::TcpListener& l, int n) {
    for (int i = 0; i < n; ++i) (void)co_await l.accept();  // closed at once
}

Task<void> connect_and_close(net::SocketAddress to, int n) {
    for (int i = 0; i < n; ++i) {
        auto c = co_await net::TcpStream::connect(to);
        std::byte b;
        if (co_await c.read(&b, 1) != 0) std::abort();  // the server closes first: the listen queue stays short
        linger lg{1, 0};  // no TIME_WAIT: repeated runs must not run out of ephemeral ports
        ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
}

Task<double> accept_rate(int total) {
    constexpr int k_inflight = 64;
    total = total / k_inflight * k_inflight;
    auto l = net::TcpListener::bind("127.0.0.1:0");
    auto server = corio::spawn(accept_and_close(l, total));
    std::vector<Task<void>> clients;
    for (int i = 0; i < k_inflight; ++i) clients.push_back(connect_and_close(l.local_address(), total / k_inflight));
    auto t0 = std::chrono::steady_clock::now();
    co_await corio::gather(std::move(clients));
    co_await server;
    auto t1 = std::chrono::steady_clock::now();
    co_return std::chrono::duration<double, std::nano>(t1 - t0).count() / total;
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    }
    auto want = [&](const char* w) { return only.empty() || only == w; };
    long scale = quick ? 10 : 1;
    corio::run([&]() -> Task<void> {
        if (want("echo_1conn")) std::printf("echo_1conn %.1f ns\n", co_await echo(1, 50'000 / scale));
        if (want("echo_50conn")) std::printf("echo_50conn %.1f ns\n", co_await echo(50, 200'000 / scale));
        if (want("echo_100conn")) std::printf("echo_100conn %.1f ns\n", co_await echo(100, 200'000 / scale));
        if (want("accept")) std::printf("accept %.1f ns\n", co_await accept_rate(static_cast<int>(20'000 / scale)));
    }());
}
