// SocketAddress: parsing and formatting of IPv4, IPv6 and Unix-domain addresses.
#include <corio/net/address.hpp>

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <net/if.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/un.h>

namespace corio::net {

SocketAddress::SocketAddress() noexcept : m_storage{}, m_len(0) { m_storage.ss_family = AF_UNSPEC; }

std::optional<SocketAddress> SocketAddress::try_ip(std::string_view host, std::uint16_t port) noexcept {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    std::string_view scope;  // IPv6 zone: "%eth0" or "%2"
    if (auto pct = host.find('%'); pct != std::string_view::npos) {
        scope = host.substr(pct + 1);
        host = host.substr(0, pct);
        if (scope.empty() || scope.size() >= IF_NAMESIZE) return std::nullopt;
    }
    char buf[INET6_ADDRSTRLEN];
    if (host.empty() || host.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = '\0';
    SocketAddress a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.m_storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.m_storage);
    if (scope.empty() && ::inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.m_len = sizeof(sockaddr_in);
        return a;
    }
    if (::inet_pton(AF_INET6, buf, &v6->sin6_addr) != 1) return std::nullopt;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    if (!scope.empty()) {
        char name[IF_NAMESIZE];
        std::memcpy(name, scope.data(), scope.size());
        name[scope.size()] = '\0';
        unsigned index = ::if_nametoindex(name);
        if (index == 0) {
            unsigned v = 0;
            auto [p, ec] = std::from_chars(scope.data(), scope.data() + scope.size(), v);
            if (ec != std::errc{} || p != scope.data() + scope.size() || v == 0) return std::nullopt;
            index = v;
        }
        v6->sin6_scope_id = index;
    }
    a.m_len = sizeof(sockaddr_in6);
    return a;
}

SocketAddress SocketAddress::ip(std::string_view ip, std::uint16_t port) {
    if (auto a = try_ip(ip, port)) return *a;
    throw std::invalid_argument("not a numeric IP address: '" + std::string(ip) + "'");
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
    SocketAddress a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.m_storage);
    if (path.empty()) throw std::invalid_argument("empty Unix socket path");
    if (path.size() >= sizeof un->sun_path)
        throw std::invalid_argument("Unix socket path longer than " + std::to_string(sizeof un->sun_path - 1) +
                                    " bytes: '" + std::string(path) + "'");
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    if (path.front() == '@') {  // abstract: a leading NUL, and the length says where the name ends
        un->sun_path[0] = '\0';
        a.m_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    } else {
        un->sun_path[path.size()] = '\0';
        a.m_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    }
    return a;
}

SocketAddress SocketAddress::parse(std::string_view text, std::uint16_t default_port) {
    if (text.empty()) throw std::invalid_argument("empty socket address");
    if (text.front() == '/' || text.front() == '.' || text.front() == '@') return unix_path(text);
    auto bad = [&] { return std::invalid_argument("not a socket address (want ip:port, [ipv6]:port or a path): '" + std::string(text) + "'"); };
    std::string_view host = text;
    std::uint16_t port = default_port;
    std::string_view port_text;
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) throw bad();
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') throw bad();
            port_text = rest.substr(1);
        }
    } else if (text.find(':') == text.rfind(':') && text.find(':') != std::string_view::npos) {  // one colon: v4:port
        auto colon = text.find(':');
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (!port_text.empty() || (text.front() == '[' && text.find("]:") != std::string_view::npos)) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
        if (ec != std::errc{} || p != port_text.data() + port_text.size() || v > 65535) throw bad();
        port = static_cast<std::uint16_t>(v);
    }
    try {
        return ip(host, port);
    } catch (const std::invalid_argument&) {
        throw bad();
    }
}

SocketAddress SocketAddress::from(const sockaddr* addr, socklen_t len) noexcept {
    SocketAddress a;
    if (!addr || len == 0) return a;
    if (len > sizeof a.m_storage) len = sizeof a.m_storage;
    std::memcpy(&a.m_storage, addr, len);
    a.m_len = len;
    return a;
}

std::uint16_t SocketAddress::port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_port);
    return 0;
}

SocketAddress SocketAddress::with_port(std::uint16_t port) const noexcept {
    SocketAddress a = *this;
    if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&a.m_storage)->sin_port = htons(port);
    if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&a.m_storage)->sin6_port = htons(port);
    return a;
}

std::string SocketAddress::ip() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_addr, buf, sizeof buf);
    else if (family() == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&m_storage);
        ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
        if (v6->sin6_scope_id) {  // the zone by number: it parses back to the same address
            std::string s = buf;
            s += '%';
            s += std::to_string(v6->sin6_scope_id);
            return s;
        }
    }
    return buf;
}

std::string SocketAddress::path() const {
    if (family() != AF_UNIX) return {};
    const auto* un = reinterpret_cast<const sockaddr_un*>(&m_storage);
    std::size_t n = m_len > offsetof(sockaddr_un, sun_path) ? m_len - offsetof(sockaddr_un, sun_path) : 0;
    if (n == 0) return {};  // unnamed (a socketpair end, or an unbound client)
    if (un->sun_path[0] == '\0') {
        std::string s = "@";
        s.append(un->sun_path + 1, n - 1);
        return s;
    }
    return std::string(un->sun_path, strnlen(un->sun_path, n));
}

std::string SocketAddress::to_string() const {
    switch (family()) {
        case AF_INET: {
            std::string s = ip();
            s += ':';
            s += std::to_string(port());
            return s;
        }
        case AF_INET6: {
            std::string s = "[";
            s += ip();
            s += "]:";
            s += std::to_string(port());
            return s;
        }
        case AF_UNIX: {
            std::string p = path();
            return p.empty() ? std::string("(unnamed)") : p;
        }
        default: return "(none)";
    }
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
    return a.m_len == b.m_len && std::memcmp(&a.m_storage, &b.m_storage, a.m_len) == 0 &&
           a.family() == b.family();
}

}  // namespace corio::net
