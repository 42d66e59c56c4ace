#pragma once
// A tiny authoritative DNS server for tests, on its own thread: UDP and TCP on 127.0.0.1 (one ephemeral port
// for both). It answers A and AAAA questions from a table, NXDOMAIN for unknown names, and NOERROR with no
// answer (NODATA) for a known name without addresses of the asked family. It counts the questions it gets,
// can be told to stay silent (it reads queries and never answers) or to answer late, and can mark a name "truncated": over
// UDP it answers with the TC bit and nothing else, so the client must ask again over TCP.
//
// Wire format (RFC 1035 §4): a 12-byte header (id, flags, four counts), the question echoed back as it came,
// then one resource record per address: a pointer to the question's name (0xC00C), type, class IN, TTL,
// the data length, and the 4 or 16 address bytes.

#include <corio/net/address.hpp>

#include <arpa/inet.h>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace corio_test {

class DnsServer {
public:
    DnsServer() {
        for (int attempt = 0; attempt < 20 && m_udp < 0; ++attempt) open_sockets();
        if (m_udp < 0) throw std::runtime_error("DnsServer: cannot bind 127.0.0.1 (UDP and TCP on one port)");
        m_wake = ::eventfd(0, EFD_CLOEXEC);
        m_thread = std::thread([this] { serve(); });
    }
    ~DnsServer() {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(m_wake, &one, sizeof one);
        m_thread.join();
        for (Conn& c : m_conns) ::close(c.fd);
        ::close(m_udp);
        ::close(m_tcp);
        ::close(m_wake);
    }
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;

    /// Answers `name` with `addresses` (numeric IPv4 and IPv6), each with `ttl` seconds. `truncated`: over
    /// UDP only the TC bit, over TCP the answer.
    void add(const std::string& name, const std::vector<std::string>& addresses, std::uint32_t ttl = 60,
             bool truncated = false) {
        Entry e;
        e.ttl = ttl;
        e.truncated = truncated;
        for (const std::string& a : addresses) {
            std::uint8_t b[16];
            if (::inet_pton(AF_INET, a.c_str(), b) == 1) e.v4.emplace_back(b, b + 4);
            else if (::inet_pton(AF_INET6, a.c_str(), b) == 1) e.v6.emplace_back(b, b + 16);
            else throw std::invalid_argument("DnsServer::add: not an address: " + a);
        }
        std::lock_guard lock(m_mutex);
        m_table[lower(name)] = std::move(e);
    }
    /// Every answer waits `delay` first (the server answers one question at a time).
    void set_delay(std::chrono::milliseconds delay) {
        std::lock_guard lock(m_mutex);
        m_delay = delay;
    }
    /// Silent: questions are read and counted, never answered.
    void set_silent(bool silent) {
        std::lock_guard lock(m_mutex);
        m_silent = silent;
    }
    [[nodiscard]] std::uint16_t port() const { return m_port; }
    [[nodiscard]] corio::net::SocketAddress address() const { return corio::net::SocketAddress::ip("127.0.0.1", m_port); }
    /// Questions received so far (UDP and TCP).
    [[nodiscard]] std::size_t queries() const {
        std::lock_guard lock(m_mutex);
        return m_queries;
    }
    /// Questions received over TCP so far.
    [[nodiscard]] std::size_t tcp_queries() const {
        std::lock_guard lock(m_mutex);
        return m_tcp_queries;
    }

private:
    struct Entry {
        std::vector<std::vector<std::uint8_t>> v4, v6;
        std::uint32_t ttl = 60;
        bool truncated = false;
    };
    struct Conn {
        int fd;
        std::vector<std::uint8_t> in;
    };

    static std::string lower(std::string s) {
        for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }

    void open_sockets() {
        int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(tcp, 16) < 0 ||
            ::getsockname(tcp, reinterpret_cast<sockaddr*>(&a), &len) < 0) {
            ::close(tcp);
            return;
        }
        int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {  // the UDP port is taken: try again
            ::close(udp);
            ::close(tcp);
            return;
        }
        m_tcp = tcp;
        m_udp = udp;
        m_port = ntohs(a.sin_port);
    }

    void serve() {
        for (;;) {
            std::vector<pollfd> fds = {{m_wake, POLLIN, 0}, {m_udp, POLLIN, 0}, {m_tcp, POLLIN, 0}};
            for (const Conn& c : m_conns) fds.push_back({c.fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (fds[0].revents) return;
            if (fds[1].revents) serve_udp();
            if (fds[2].revents) {
                int c = ::accept4(m_tcp, nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0) m_conns.push_back({c, {}});
            }
            for (std::size_t i = 3; i < fds.size(); ++i)
                if (fds[i].revents) serve_tcp(fds[i].fd);
        }
    }

    void serve_udp() {
        std::uint8_t buf[1500];
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        ssize_t n = ::recvfrom(m_udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n <= 0) return;
        std::vector<std::uint8_t> reply = answer(buf, static_cast<std::size_t>(n), false);
        pause();
        if (!reply.empty())
            ::sendto(m_udp, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }

    // TCP: each message is preceded by its length (two bytes, big-endian).
    void serve_tcp(int fd) {
        auto it = m_conns.begin();
        while (it != m_conns.end() && it->fd != fd) ++it;
        std::uint8_t buf[1500];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
            ::close(fd);
            m_conns.erase(it);
            return;
        }
        it->in.insert(it->in.end(), buf, buf + n);
        while (it->in.size() >= 2) {
            std::size_t len = (std::size_t{it->in[0]} << 8) | it->in[1];
            if (it->in.size() < 2 + len) break;
            std::vector<std::uint8_t> reply = answer(it->in.data() + 2, len, true);
            it->in.erase(it->in.begin(), it->in.begin() + static_cast<std::ptrdiff_t>(2 + len));
            if (reply.empty()) continue;
            pause();
            std::vector<std::uint8_t> framed = {static_cast<std::uint8_t>(reply.size() >> 8),
                                                static_cast<std::uint8_t>(reply.size())};
            framed.insert(framed.end(), reply.begin(), reply.end());
            [[maybe_unused]] auto w = ::write(fd, framed.data(), framed.size());
        }
    }

    void pause() {
        std::chrono::milliseconds d;
        {
            std::lock_guard lock(m_mutex);
            d = m_delay;
        }
        if (d.count() > 0) std::this_thread::sleep_for(d);
    }

    static void put16(std::vector<std::uint8_t>& out, unsigned v) {
        out.push_back(static_cast<std::uint8_t>(v >> 8));
        out.push_back(static_cast<std::uint8_t>(v));
    }

    /// The reply to one query; empty when there is none to give (malformed, or silent).
    std::vector<std::uint8_t> answer(const std::uint8_t* q, std::size_t n, bool tcp) {
        if (n < 12) return {};
        unsigned flags = (unsigned{q[2]} << 8) | q[3];
        unsigned qdcount = (unsigned{q[4]} << 8) | q[5];
        if ((flags & 0x8000) || qdcount != 1) return {};  // a response, or not one question
        std::string name;
        std::size_t i = 12;
        while (i < n && q[i] != 0) {
            std::size_t label = q[i];
            if ((label & 0xC0) || i + 1 + label > n) return {};
            if (!name.empty()) name += '.';
            name.append(reinterpret_cast<const char*>(q + i + 1), label);
            i += 1 + label;
        }
        if (i + 5 > n) return {};
        i += 1;  // the root label
        unsigned qtype = (unsigned{q[i]} << 8) | q[i + 1];
        i += 4;  // type and class
        name = lower(name);

        std::lock_guard lock(m_mutex);
        ++m_queries;
        if (tcp) ++m_tcp_queries;
        if (m_silent) return {};
        auto it = m_table.find(name);
        const Entry* e = it == m_table.end() ? nullptr : &it->second;
        bool truncate = e && e->truncated && !tcp;
        const auto* records = !e || truncate ? nullptr : qtype == 1 ? &e->v4 : qtype == 28 ? &e->v6 : nullptr;

        std::vector<std::uint8_t> out;
        out.push_back(q[0]);  // the id
        out.push_back(q[1]);
        unsigned rflags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080;  // QR, opcode and RD echoed, AA, RA
        if (truncate) rflags |= 0x0200;                                  // TC
        if (!e) rflags |= 3;                                             // NXDOMAIN
        put16(out, rflags);
        put16(out, 1);
        put16(out, records ? static_cast<unsigned>(records->size()) : 0);
        put16(out, 0);
        put16(out, 0);
        out.insert(out.end(), q + 12, q + i);  // the question, as asked
        if (records) {
            for (const auto& rdata : *records) {
                put16(out, 0xC00C);  // the name: a pointer to the question's
                put16(out, qtype);
                put16(out, 1);  // class IN
                put16(out, e->ttl >> 16);
                put16(out, e->ttl & 0xffff);
                put16(out, static_cast<unsigned>(rdata.size()));
                out.insert(out.end(), rdata.begin(), rdata.end());
            }
        }
        return out;
    }

    int m_udp = -1;
    int m_tcp = -1;
    int m_wake = -1;
    std::uint16_t m_port = 0;
    std::vector<Conn> m_conns;  // server thread only
    mutable std::mutex m_mutex;  // guards what follows
    std::map<std::string, Entry> m_table;
    bool m_silent = false;
    std::chrono::milliseconds m_delay{0};
    std::size_t m_queries = 0;
    std::size_t m_tcp_queries = 0;
    std::thread m_thread;
};

}  // namespace corio_test
