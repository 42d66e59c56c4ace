#pragma once
// A stand-in for a remote API, for the examples until corio::http exists: a loopback TCP server that reads
// one line (a path) and answers one line of JSON after a delay, and a client that asks it. Real sockets,
// real non-blocking I/O through corio's low-level awaitables.

#include <corio/corio.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>

namespace example {

using namespace std::chrono_literals;

inline corio::Task<std::string> read_line(int fd) {
    std::string line;
    char c;
    while (co_await corio::read(fd, &c, 1) == 1 && c != '\n') line += c;
    co_return line;
}

inline corio::Task<void> write_all(int fd, std::string s) {
    std::size_t done = 0;
    while (done < s.size()) done += co_await corio::write(fd, s.data() + done, s.size() - done);
}

/// Serves one connection: reads a path, waits `delay` (the "network"), answers {"path": ..., "ok": true}.
inline corio::Task<void> serve_one(int fd, std::chrono::milliseconds delay) {
    std::string path = co_await read_line(fd);
    co_await corio::sleep(delay);
    co_await write_all(fd, R"({"path": ")" + path + R"(", "ok": true})" "\n");
    corio::close(fd);
}

/// A listening socket on 127.0.0.1 (an ephemeral port), and the loop that accepts on it.
/// start() runs it in the background; co_await stop() ends it (and its connections) before it is destroyed.
struct MiniServer {
    int fd = -1;
    int port = 0;
    corio::TaskGroup connections;
    corio::JoinHandle<void> acceptor;

    explicit MiniServer() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 128) < 0)
            throw std::runtime_error("cannot listen on 127.0.0.1");
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    corio::Task<void> run(std::chrono::milliseconds delay) {
        for (;;) connections.spawn(serve_one(co_await corio::accept(fd), delay));
    }
    void start(std::chrono::milliseconds delay) { acceptor = corio::spawn(run(delay)); }
    corio::Task<void> stop() {
        acceptor.cancel();
        try {
            co_await acceptor;
        } catch (const corio::CancelledError&) {
        }
        connections.cancel();
        co_await connections.join();
    }
    ~MiniServer() { corio::close(fd); }
};

/// The client side: "GET" a path from the server on `port`; returns the JSON text.
inline corio::Task<std::string> fetch(int port, std::string path) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    try {
        co_await corio::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        co_await write_all(fd, path + "\n");
        std::string body = co_await read_line(fd);
        corio::close(fd);
        co_return body;
    } catch (...) {
        corio::close(fd);
        throw;
    }
}

}  // namespace example
