// URL parsing and resolution (RFC 3986), restricted to what HTTP requests need.

#include <corio/http/url.hpp>

#include <corio/net/address.hpp>

#include <algorithm>
#include <charconv>

namespace corio::http {

namespace {

constexpr char k_hex[] = "0123456789ABCDEF";

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_unreserved(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/// Encodes what may not appear in a path or query as sent (controls, space, non-ASCII, '"', '<', '>',
/// '\\', '^', '`', '{', '|', '}'); keeps valid %XX escapes and every other character.
void append_target_chars(std::string& out, std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        bool ok = c > 0x20 && c < 0x7f && c != '"' && c != '<' && c != '>' && c != '\\' && c != '^' &&
                  c != '`' && c != '{' && c != '|' && c != '}';
        if (c == '%') ok = i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0;
        if (ok) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(k_hex[c >> 4]);
            out.push_back(k_hex[c & 15]);
        }
    }
}

[[noreturn]] void invalid(std::string_view why, std::string_view text) {
    std::string shown(text.substr(0, 200));
    throw InvalidUrl(std::string(why) + ": \"" + shown + "\"");
}

/// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view path) {
    std::vector<std::string_view> out;
    bool absolute = !path.empty() && path.front() == '/';
    bool trailing = false;
    std::size_t i = absolute ? 1 : 0;
    while (i <= path.size()) {
        std::size_t slash = path.find('/', i);
        if (slash == std::string_view::npos) slash = path.size();
        std::string_view seg = path.substr(i, slash - i);
        bool last = slash == path.size();
        trailing = false;
        if (seg == ".") {
            trailing = true;
        } else if (seg == "..") {
            if (!out.empty()) out.pop_back();
            trailing = true;
        } else {
            out.push_back(seg);
        }
        if (last) break;
        i = slash + 1;
    }
    std::string result;
    if (absolute) result.push_back('/');
    for (std::size_t k = 0; k < out.size(); ++k) {
        if (k) result.push_back('/');
        result.append(out[k]);
    }
    if (trailing && !result.empty() && result.back() != '/') result.push_back('/');
    return result;
}

}  // namespace

Url Url::parse(std::string_view text) {
    // Surrounding whitespace is what browsers and httpx forgive; inside, it is encoded.
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\n' || text.front() == '\r'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
    if (text.empty()) invalid("URL is empty", text);
    std::string_view original = text;

    std::size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || !is_alpha(text[0]))
        invalid("URL has no scheme (expected http:// or https://)", original);
    Url url;
    for (char c : text.substr(0, colon)) {
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') invalid("URL has an invalid scheme", original);
        url.m_scheme.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    }
    if (url.m_scheme != "http" && url.m_scheme != "https")
        invalid("unsupported URL scheme \"" + url.m_scheme + "\" (expected http or https)", original);
    text.remove_prefix(colon + 1);
    if (text.substr(0, 2) != "//") invalid("URL has no host (expected " + url.m_scheme + "://host/...)", original);
    text.remove_prefix(2);

    std::size_t end = text.find_first_of("/?#");
    std::string_view authority = text.substr(0, end);
    std::string_view rest = end == std::string_view::npos ? std::string_view{} : text.substr(end);

    if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        url.m_userinfo.assign(authority.substr(0, at));
        authority.remove_prefix(at + 1);
    }
    std::string_view host;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) invalid("URL has an unterminated IPv6 address", original);
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') invalid("URL has junk after its IPv6 address", original);
            port = after.substr(1);
        }
        std::string literal(host);
        if (auto pct = literal.find("%25"); pct != std::string::npos) {  // a zone (RFC 6874): "%25" then unreserved
            literal.erase(pct + 1, 2);
            if (pct + 1 == literal.size() ||
                !std::all_of(literal.begin() + static_cast<std::ptrdiff_t>(pct) + 1, literal.end(), is_unreserved))
                invalid("URL has an invalid IPv6 zone", original);
        }
        if (literal.find(':') == std::string::npos || !net::SocketAddress::try_ip(literal))
            invalid("URL has an invalid IPv6 address", original);
        url.m_host = literal;
    } else {
        std::size_t pc = authority.rfind(':');
        host = authority.substr(0, pc);
        if (pc != std::string_view::npos) port = authority.substr(pc + 1);
        for (char c : host) {
            auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u == 0x7f || c == '/' || c == '\\' || c == '@' || c == '[' || c == ']' || c == '%' ||
                c == '<' || c == '>' || c == '^' || c == '|' || c == '"')
                invalid("URL has an invalid character in its host", original);
            url.m_host.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
        }
    }
    if (url.m_host.empty()) invalid("URL has no host", original);
    if (port.empty()) {
        url.m_port = url.is_https() ? 443 : 80;
    } else {
        unsigned value = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || p != port.data() + port.size() || value == 0 || value > 65535)
            invalid("URL has an invalid port", original);
        url.m_port = static_cast<std::uint16_t>(value);
    }

    if (std::size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
    url.m_target.clear();
    if (rest.empty() || rest.front() == '?') url.m_target.push_back('/');
    std::size_t q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    if (path.find("/.") != std::string_view::npos) {
        append_target_chars(url.m_target, remove_dot_segments(path));
    } else {
        append_target_chars(url.m_target, path);
    }
    if (q != std::string_view::npos) append_target_chars(url.m_target, rest.substr(q));
    return url;
}

Url Url::join(std::string_view reference) const {
    while (!reference.empty() && (reference.front() == ' ' || reference.front() == '\t')) reference.remove_prefix(1);
    while (!reference.empty() && (reference.back() == ' ' || reference.back() == '\t')) reference.remove_suffix(1);
    if (std::size_t hash = reference.find('#'); hash != std::string_view::npos) reference = reference.substr(0, hash);
    // An absolute reference has a scheme: letters up to ':' before any '/', '?'.
    std::size_t colon = reference.find(':');
    if (colon != std::string_view::npos && colon > 0 && is_alpha(reference[0]) &&
        reference.find_first_of("/?") > colon) {
        bool scheme_chars = std::all_of(reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(colon),
                                        [](char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'; });
        if (scheme_chars) return parse(reference);
    }
    if (reference.substr(0, 2) == "//") return parse(m_scheme + ":" + std::string(reference));
    Url url = *this;
    if (reference.empty()) return url;
    std::string_view path = this->path();
    std::string merged;
    if (reference.front() == '?') {
        merged.assign(path).append(reference);
    } else if (reference.front() == '/') {
        merged.assign(reference);
    } else {
        std::size_t slash = path.rfind('/');
        merged.assign(path.substr(0, slash == std::string_view::npos ? 0 : slash + 1)).append(reference);
    }
    std::size_t q = merged.find('?');
    std::string cleaned = remove_dot_segments(std::string_view(merged).substr(0, q));
    if (cleaned.empty() || cleaned.front() != '/') cleaned.insert(cleaned.begin(), '/');
    url.m_target.clear();
    append_target_chars(url.m_target, cleaned);
    if (q != std::string::npos) append_target_chars(url.m_target, std::string_view(merged).substr(q));
    return url;
}

std::string_view Url::path() const noexcept {
    std::string_view t = m_target;
    return t.substr(0, t.find('?'));
}

std::string_view Url::query() const noexcept {
    std::string_view t = m_target;
    std::size_t q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

namespace {
/// The host as a URL writes it: IPv6 in brackets, a zone's '%' as "%25".
void append_host(std::string& s, const std::string& host) {
    if (host.find(':') == std::string::npos) {
        s.append(host);
        return;
    }
    s.push_back('[');
    std::size_t pct = host.find('%');
    if (pct == std::string::npos) {
        s.append(host);
    } else {
        s.append(host, 0, pct).append("%25").append(host, pct + 1);
    }
    s.push_back(']');
}
}  // namespace

std::string Url::authority() const {
    std::string s;
    append_host(s, m_host);
    if (!default_port()) s.append(":").append(std::to_string(m_port));
    return s;
}

std::string Url::origin() const {
    std::string s = m_scheme + "://";
    append_host(s, m_host);
    s.append(":").append(std::to_string(m_port));
    return s;
}

std::string Url::to_string() const { return m_scheme + "://" + authority() + m_target; }

void Url::add_params(const Params& params) {
    if (params.empty()) return;
    std::string encoded = encode_params(params);
    if (m_target.find('?') == std::string::npos) {
        m_target.push_back('?');
    } else if (m_target.back() != '?' && m_target.back() != '&') {
        m_target.push_back('&');
    }
    m_target.append(encoded);
}

std::string form_encode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (is_unreserved(ch)) {
            out.push_back(ch);
        } else if (c == ' ') {
            out.push_back('+');
        } else {
            out.push_back('%');
            out.push_back(k_hex[c >> 4]);
            out.push_back(k_hex[c & 15]);
        }
    }
    return out;
}

std::string encode_params(const Params& params) {
    std::string out;
    for (const auto& [name, value] : params) {
        if (!out.empty()) out.push_back('&');
        out.append(form_encode(name)).append("=").append(form_encode(value));
    }
    return out;
}

std::string percent_decode(std::string_view text, bool plus_as_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace corio::http
