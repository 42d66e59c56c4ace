#pragma once
// A stand-in for a remote API, for the examples until corio::http exists: a loopback TCP server that reads
// one line (a path) and answers one line of JSON after a delay, and a client that asks it. Real sockets
// through corio::net.

#include <corio/corio.hpp>

#include <string>

namespace example {

using namespace std::chrono_literals;

inline corio::Task<std::string> read_line(corio::net::TcpStream& s) {
    std::string line;
    char c;
    while (co_await s.read(&c, 1) == 1 && c != '\n') line += c;
    co_return line;
}

/// Serves one connection: reads a path, waits `delay` (the "network"), answers {"path": ..., "ok": true}.
inline corio::Task<void> serve_one(corio::net::TcpStream conn, std::chrono::milliseconds delay) {
    std::string path = co_await read_line(conn);
    co_await corio::sleep(delay);
    co_await conn.write_all(R"({"path": ")" + path + R"(", "ok": true})" "\n");
}

/// A listener on 127.0.0.1 (an ephemeral port), and the loop that accepts on it.
/// start() runs it in the background; co_await stop() ends it (and its connections) before it is destroyed.
struct MiniServer {
    corio::net::TcpListener listener = corio::net::TcpListener::bind("127.0.0.1:0");
    int port = listener.local_address().port();
    corio::TaskGroup connections;
    corio::JoinHandle<void> acceptor;

    corio::Task<void> run(std::chrono::milliseconds delay) {
        for (;;) connections.spawn(serve_one(co_await listener.accept(), delay));
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
};

/// The client side: "GET" a path from the server on `port`; returns the JSON text.
inline corio::Task<std::string> fetch(int port, std::string path) {
    auto conn = co_await corio::net::TcpStream::connect("127.0.0.1", static_cast<std::uint16_t>(port));
    co_await conn.write_all(path + "\n");
    co_return co_await read_line(conn);
}

}  // namespace example
