#pragma once
// A TCP proxy on the test's loop in front of the private PostgreSQL cluster, that can drop cancel requests.
//
// PostgreSQL drops a cancel request that reaches the backend before it begins the query (in a pipeline, right
// after the query before it ended): the client sees nothing, the query runs on. That window cannot be hit at
// will, so the tests make the same loss here: a connection made through the proxy gets its cancel requests
// (which libpq sends to the address of the connection: the proxy) dropped — the proxy reads the 16-byte
// CancelRequest packet and closes, as the server does after one — for the first `drop` of them, and
// forwarded to the server after that. Every other connection is piped both ways to the server unchanged.
//
// Use from a task on the loop; await stop() before the proxy goes.

#include <corio/corio.hpp>
#include <corio/net/tcp.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace corio_test {

class PgCancelDroppingProxy {
public:
    /// Listens on 127.0.0.1 (a free port) for the server on 127.0.0.1:`upstream_port`; drops the first
    /// `drop` cancel requests (-1: all of them).
    PgCancelDroppingProxy(std::uint16_t upstream_port, int drop)
        : m_upstream(upstream_port), m_drop(drop), m_listener(corio::net::TcpListener::bind("127.0.0.1:0")) {
        m_port = m_listener.local_address().port();
        m_accepting = corio::spawn(accept_loop());
    }
    PgCancelDroppingProxy(const PgCancelDroppingProxy&) = delete;
    PgCancelDroppingProxy& operator=(const PgCancelDroppingProxy&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
    [[nodiscard]] int cancels_dropped() const noexcept { return m_dropped; }
    [[nodiscard]] int cancels_forwarded() const noexcept { return m_forwarded; }

    /// Stops accepting and ends every connection still piped.
    corio::Task<void> stop() {
        m_accepting.cancel();
        co_await settled(std::move(m_accepting));
        m_listener.close();
        for (auto& c : m_connections) c.cancel();
        for (auto& c : m_connections) co_await settled(std::move(c));
        m_connections.clear();
    }

private:
    static constexpr std::uint32_t k_cancel_request_code = 80877102;  // PostgreSQL's CancelRequest

    template <class T>
    static corio::Task<void> settled(corio::JoinHandle<T> h) {
        try {
            co_await h;
        } catch (...) {  // cancelled, or a peer that went away: the proxy's end either way
        }
    }

    static std::uint32_t be32(const std::byte* p) {
        return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
               std::uint32_t(p[3]);
    }

    corio::Task<void> accept_loop() {
        for (;;) {
            corio::net::TcpStream client = co_await m_listener.accept();
            m_connections.push_back(corio::spawn(serve(std::move(client))));
        }
    }

    /// Copies `from` to `to` until `from` ends, then ends `to`'s writing side.
    static corio::Task<void> pipe(corio::net::TcpStream& from, corio::net::TcpStream& to) {
        std::array<std::byte, 16384> buf;
        try {
            for (;;) {
                std::size_t n = co_await from.read(buf);
                if (n == 0) {
                    break;
                }
                co_await to.write_all(std::span<const std::byte>(buf.data(), n));
            }
            to.shutdown();
        } catch (const corio::IoError&) {  // a reset: end the other side too
            to.close();
        }
    }

    corio::Task<void> serve(corio::net::TcpStream client) {
        std::array<std::byte, 8> head;  // length, then the protocol version or a request code
        co_await client.read_exact(head);
        if (be32(head.data()) == 16 && be32(head.data() + 4) == k_cancel_request_code) {
            std::array<std::byte, 8> key;  // the backend's pid and secret
            co_await client.read_exact(key);
            if (m_drop < 0 || m_dropped < m_drop) {
                ++m_dropped;
                client.close();  // unanswered, as the server ends every cancel request (now: the task's frame,
                co_return;       // which owns `client`, lives until stop() joins it)
            }
            ++m_forwarded;
            auto server = co_await corio::net::TcpStream::connect("127.0.0.1", m_upstream);
            co_await server.write_all(head);
            co_await server.write_all(key);
            co_await pipe(server, client);  // until the server closes it
            client.close();
            co_return;
        }
        auto server = co_await corio::net::TcpStream::connect("127.0.0.1", m_upstream);
        co_await server.write_all(head);
        (void)co_await corio::gather(pipe(client, server), pipe(server, client));
        client.close();
        server.close();
    }

    std::uint16_t m_upstream;
    int m_drop;
    int m_dropped = 0;
    int m_forwarded = 0;
    corio::net::TcpListener m_listener;
    std::uint16_t m_port = 0;
    corio::JoinHandle<void> m_accepting;
    std::vector<corio::JoinHandle<void>> m_connections;
};

}  // namespace corio_test
