// Database URLs: postgresql:// (libpq's URI form) and sqlite:// (SQLAlchemy's form).

#include <corio/db/error.hpp>
#include <corio/db/url.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace corio::db {

namespace {

// libpq's connection keywords (PostgreSQL 15/16) that the URL may carry and corio passes on untouched.
constexpr std::array<std::string_view, 34> k_libpq_keywords = {
    "hostaddr", "passfile", "channel_binding", "client_encoding", "options", "fallback_application_name",
    "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
    "replication", "gssencmode", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslrootcert", "sslcrl",
    "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
    "krbsrvname", "gsslib", "service", "target_session_attrs", "load_balance_hosts", "gssdelegation",
    "require_auth", "sslcertmode", "sslnegotiation", "sslkeylogfile",
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

int hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// What a ConfigError says: "invalid database URL "<redacted>": <why>".
[[noreturn]] void fail(std::string_view url, const std::string& why) {
    throw ConfigError("invalid database URL \"" + redact_url(url) + "\": " + why);
}

/// Strict percent-decoding: a '%' must start a valid escape. `part` names what is decoded, for the error
/// (the password's text is never quoted).
std::string decode(std::string_view text, std::string_view url, std::string_view part, bool quote = true) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        if (i + 2 >= text.size() || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0) {
            std::string why = "bad percent-encoding in the " + std::string(part);
            if (quote) why += " \"" + std::string(text) + "\"";
            fail(url, why);
        }
        out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
        i += 2;
    }
    return out;
}

std::uint64_t parse_number(std::string_view text, std::uint64_t max, std::string_view url, std::string_view what) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v > max) {
        fail(url, std::string(what) + " \"" + std::string(text) + "\" is not a number from 0 to " +
                      std::to_string(max));
    }
    return v;
}

std::uint16_t parse_port(std::string_view text, std::string_view url) {
    auto v = parse_number(text, 65535, url, "port");
    if (v == 0) fail(url, "port \"0\" is not a number from 1 to 65535");
    return static_cast<std::uint16_t>(v);
}

struct QueryParam {
    std::string key;
    std::string value;
};

std::vector<QueryParam> parse_query(std::string_view query, std::string_view url) {
    std::vector<QueryParam> out;
    std::size_t start = 0;
    while (start <= query.size() && !query.empty()) {
        std::size_t amp = query.find('&', start);
        std::string_view item = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!item.empty()) {
            std::size_t eq = item.find('=');
            if (eq == std::string_view::npos || eq == 0) {
                fail(url, "query parameter \"" + std::string(item.substr(0, eq)) + "\" has no value (expected name=value)");
            }
            std::string key = decode(item.substr(0, eq), url, "parameter name");
            bool secret = key == "password" || key == "sslpassword";
            std::string value = decode(item.substr(eq + 1), url, "value of " + key, !secret);
            out.push_back({std::move(key), std::move(value)});
        }
        if (amp == std::string_view::npos) break;
        start = amp + 1;
    }
    return out;
}

SslMode parse_sslmode(std::string_view v, std::string_view url) {
    for (SslMode m : {SslMode::disable, SslMode::allow, SslMode::prefer, SslMode::require, SslMode::verify_ca,
                      SslMode::verify_full}) {
        if (v == to_string(m)) return m;
    }
    fail(url, "sslmode \"" + std::string(v) +
                  "\" is not one of disable, allow, prefer, require, verify-ca, verify-full");
}

PgConfig parse_pg(std::string_view rest, std::string_view query, std::string_view url) {
    PgConfig c;
    std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) c.database = decode(rest.substr(slash + 1), url, "database name");
    if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        std::size_t colon = userinfo.find(':');
        c.user = decode(userinfo.substr(0, colon), url, "user name");
        if (colon != std::string_view::npos) c.password = decode(userinfo.substr(colon + 1), url, "password", false);
    }
    if (authority.find(',') != std::string_view::npos) {
        fail(url, "several hosts (\"" + std::string(authority) + "\") are not supported: give one host");
    }
    std::string_view host = authority;
    std::string_view port;
    if (!host.empty() && host.front() == '[') {
        std::size_t close = host.find(']');
        if (close == std::string_view::npos) fail(url, "the IPv6 host \"" + std::string(host) + "\" has no closing ']'");
        std::string_view after = host.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') fail(url, "unexpected \"" + std::string(after) + "\" after the IPv6 host");
            port = after.substr(1);
        }
        host = host.substr(1, close - 1);
        if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.%") != std::string_view::npos) {
            fail(url, "\"" + std::string(host) + "\" is not an IPv6 address");
        }
    } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
        port = host.substr(colon + 1);
        host = host.substr(0, colon);
        if (port.empty()) fail(url, "the port after ':' is empty");
    }
    c.host = decode(host, url, "host");
    if (c.host.find_first_of(" \t\r\n@") != std::string::npos) fail(url, "the host \"" + c.host + "\" is not valid");
    if (!port.empty()) c.port = parse_port(port, url);

    for (auto& p : parse_query(query, url)) {
        const std::string& k = p.key;
        if (k == "host") c.host = p.value;
        else if (k == "port") c.port = parse_port(p.value, url);
        else if (k == "user") c.user = p.value;
        else if (k == "password") c.password = p.value;
        else if (k == "dbname") c.database = p.value;
        else if (k == "sslmode") c.sslmode = parse_sslmode(p.value, url);
        else if (k == "application_name") c.application_name = p.value;
        else if (k == "connect_timeout")
            c.connect_timeout = std::chrono::seconds(parse_number(p.value, 86'400, url, "connect_timeout"));
        else if (std::find(k_libpq_keywords.begin(), k_libpq_keywords.end(), k) != k_libpq_keywords.end())
            c.extra.emplace_back(k, p.value);
        else fail(url, "unknown parameter \"" + k + "\" (not a libpq connection keyword)");
    }
    return c;
}

SqliteConfig parse_sqlite(std::string_view rest, std::string_view query, std::string_view url) {
    SqliteConfig c;
    if (rest.empty() || rest == ":memory:" || rest == "/:memory:") {
        c.memory = true;
    } else if (rest.front() == '/') {
        c.path = decode(rest.substr(1), url, "path");
        if (c.path.empty() || c.path == "/") fail(url, "the path is empty");
        if (c.path.find('\0') != std::string::npos) fail(url, "the path contains a NUL byte");
    } else {
        std::size_t end = rest.find('/');
        fail(url, "an sqlite URL has no host (got \"" + std::string(rest.substr(0, end)) +
                      "\"): use sqlite:///relative.db, sqlite:////absolute.db or sqlite://:memory:");
    }
    for (auto& p : parse_query(query, url)) {
        if (p.key == "mode") {
            if (p.value == "ro") c.mode = SqliteMode::read_only;
            else if (p.value == "rw") c.mode = SqliteMode::read_write;
            else if (p.value == "rwc") c.mode = SqliteMode::read_write_create;
            else fail(url, "mode \"" + p.value + "\" is not one of ro, rw, rwc");
        } else if (p.key == "busy_timeout") {
            c.busy_timeout = std::chrono::milliseconds(parse_number(p.value, 86'400'000, url, "busy_timeout"));
        } else {
            fail(url, "unknown parameter \"" + p.key + "\" (an sqlite URL takes mode and busy_timeout)");
        }
    }
    if (c.memory && c.mode == SqliteMode::read_only) fail(url, "an in-memory database cannot be read-only");
    return c;
}

}  // namespace

std::string redact_url(std::string_view url) {
    std::string out(url);
    std::size_t scheme = out.find("://");
    if (scheme != std::string::npos) {
        std::size_t start = scheme + 3;
        std::size_t end = out.find_first_of("/?#", start);
        if (end == std::string::npos) end = out.size();
        std::size_t at = out.rfind('@', end == 0 ? 0 : end - 1);
        if (at != std::string::npos && at >= start) {
            std::size_t colon = out.find(':', start);
            if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
        }
    }
    // password= and sslpassword= parameters.
    for (std::string_view key : {"password=", "sslpassword="}) {
        std::size_t pos = 0;
        while ((pos = out.find(key, pos)) != std::string::npos) {
            bool at_param = pos > 0 && (out[pos - 1] == '?' || out[pos - 1] == '&');
            std::size_t value = pos + key.size();
            if (!at_param) {
                pos = value;
                continue;
            }
            std::size_t end = out.find_first_of("&#", value);
            if (end == std::string::npos) end = out.size();
            out.replace(value, end - value, "***");
            pos = value + 3;
        }
    }
    return out;
}

DatabaseUrl parse_url(std::string_view url) {
    DatabaseUrl out;
    out.redacted = redact_url(url);
    std::size_t sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        fail(url, "no scheme (expected postgresql://, postgres:// or sqlite://)");
    }
    std::string scheme = lower(url.substr(0, sep));
    std::string_view rest = url.substr(sep + 3);
    if (std::size_t hash = rest.find('#'); hash != std::string_view::npos) {
        fail(url, "a database URL has no fragment (\"#…\"): percent-encode '#' as %23");
    }
    std::string_view query;
    if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    if (scheme == "postgresql" || scheme == "postgres") {
        out.pg = parse_pg(rest, query, url);
    } else if (scheme == "sqlite") {
        out.sqlite = parse_sqlite(rest, query, url);
    } else {
        fail(url, "unknown scheme \"" + scheme + "\" (expected postgresql://, postgres:// or sqlite://)");
    }
    return out;
}

std::string_view to_string(SslMode mode) noexcept {
    switch (mode) {
    case SslMode::disable: return "disable";
    case SslMode::allow: return "allow";
    case SslMode::prefer: return "prefer";
    case SslMode::require: return "require";
    case SslMode::verify_ca: return "verify-ca";
    case SslMode::verify_full: return "verify-full";
    }
    return "prefer";
}

}  // namespace corio::db
