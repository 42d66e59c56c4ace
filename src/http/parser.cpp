// HTTP/1.1 message parsing (RFC 9112, with RFC 9110's field syntax).
//
// A message is a head (start line, field lines, blank line), then a body framed by Content-Length, by
// chunks (chunk-size line, data, CRLF; a zero size, then trailer field lines and a blank line), or by the
// end of the connection. The line-oriented sections (the head, each chunk-size line, the trailers) are
// parsed a line at a time as their line ends arrive, but consumed only once the whole section is there,
// so the views into them stay in the caller's buffer. Between calls the parser keeps, per section:
//   m_scanned   bytes of whole lines already parsed (from the section's first byte),
//   m_searched  bytes known to hold no further LF, so a line trickling in is searched once,
//   m_base      the address the section began at: when the caller's buffer moved, stored views are
//               shifted by the same distance (rebase()).
// Nothing is allocated per field: m_fields keeps its capacity from message to message.
#include <corio/http/parser.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>

namespace corio::http {
namespace {

// Character classes: token (RFC 9110 §5.6.2), field value bytes (field-vchar, SP, HTAB, obs-text),
// request-target bytes (visible ASCII), digits, hex digits, optional whitespace.
enum : std::uint8_t { c_token = 1, c_value = 2, c_target = 4, c_digit = 8, c_hex = 16, c_ows = 32 };

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> t{};
    constexpr std::string_view token_marks = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; ++c) {
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        std::uint8_t f = 0;
        if (alpha || digit || (c < 128 && token_marks.find(static_cast<char>(c)) != std::string_view::npos))
            f |= c_token;
        if (c == '\t' || (c >= 0x20 && c != 0x7f)) f |= c_value;
        if (c > 0x20 && c < 0x7f) f |= c_target;
        if (digit) f |= c_digit;
        if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) f |= c_hex;
        if (c == ' ' || c == '\t') f |= c_ows;
        t[static_cast<std::size_t>(c)] = f;
    }
    return t;
}
constexpr std::array<std::uint8_t, 256> k_class = make_classes();

inline bool is(char c, std::uint8_t cls) noexcept { return (k_class[static_cast<unsigned char>(c)] & cls) != 0; }

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// Whether a field name (token characters only) is `name`, given in lower case: for token characters,
// setting bit 5 lowers letters and maps no other token character onto a letter or '-'.
inline bool name_is(std::string_view field, std::string_view name) noexcept {
    if (field.size() != name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if ((field[i] | 0x20) != name[i]) return false;
    return true;
}

// Eight bytes at a time (SWAR): masks with the high bit of a byte set where that byte matches; exact in
// whether any bit is set. Used on little-endian machines only.
constexpr bool k_swar = std::endian::native == std::endian::little;
constexpr std::uint64_t k_ones = 0x0101010101010101ull;
constexpr std::uint64_t k_highs = 0x8080808080808080ull;
inline std::uint64_t load8(const char* p) noexcept {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    return x;
}
inline std::uint64_t zero_bytes(std::uint64_t x) noexcept { return (x - k_ones) & ~x & k_highs; }
inline std::uint64_t bytes_below(std::uint64_t x, std::uint8_t n) noexcept { return (x - k_ones * n) & ~x & k_highs; }

// The first LF in [p, p + n), or nullptr. Lines are short: a word at a time, then memchr for long ones.
inline const char* find_lf(const char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    if constexpr (k_swar) {
        for (; i + 8 <= n && i < 128; i += 8)
            if (std::uint64_t m = zero_bytes(load8(p + i) ^ (k_ones * '\n')))
                return p + i + (std::countr_zero(m) >> 3);
    }
    if (n - i >= 16) return static_cast<const char*>(std::memchr(p + i, '\n', n - i));
    for (; i < n; ++i)
        if (p[i] == '\n') return p + i;
    return nullptr;
}

// The index of the first byte of [p, p + n) that a field value may not hold (controls but HTAB, DEL), or n.
inline std::size_t invalid_value_byte(const char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    if constexpr (k_swar) {
        while (i + 8 <= n) {
            const std::uint64_t x = load8(p + i);
            if ((bytes_below(x, 0x20) | zero_bytes(x ^ (k_ones * 0x7f))) == 0) {
                i += 8;
                continue;
            }
            for (const std::size_t end = i + 8; i < end; ++i)  // a HTAB, or the culprit
                if (!is(p[i], c_value)) return i;
        }
    }
    for (; i < n; ++i)
        if (!is(p[i], c_value)) return i;
    return n;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is(s.front(), c_ows)) s.remove_prefix(1);
    while (!s.empty() && is(s.back(), c_ows)) s.remove_suffix(1);
    return s;
}

// Calls f(element) for each non-empty element of a comma-separated list, without surrounding whitespace
// (and without its parameters, ";q=1", if `strip_parameters`); stops when f returns true, and returns
// whether it did.
template <typename F>
bool any_element(std::string_view list, bool strip_parameters, F&& f) {
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view element = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        element = trim(strip_parameters ? element.substr(0, element.find(';')) : element);
        if (!element.empty() && f(element)) return true;
    }
    return false;
}

const char* rebased(const char* p, std::uintptr_t delta) noexcept {
    return reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(p) + delta);
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
    for (const Header& h : m_fields)
        if (iequals(h.name, name)) return h.value;
    return std::nullopt;
}

bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is(c, c_token); });
}

bool list_has_token(std::string_view list, std::string_view token) noexcept {
    return any_element(list, true, [&](std::string_view e) { return iequals(e, token); });
}

bool Headers::has_token(std::string_view name, std::string_view token) const noexcept {
    for (const Header& h : m_fields)
        if (iequals(h.name, name) && list_has_token(h.value, token)) return true;
    return false;
}

MessageParser::MessageParser(bool request, const ParserLimits& limits) : m_limits(limits), m_request(request) {
    m_fields.reserve(std::min<std::size_t>(limits.max_headers, 16));
}

void MessageParser::reset() noexcept {
    m_state = State::head;
    m_scanned = m_searched = 0;
    m_expect_no_body = false;
    m_error = ParseError::none;
    begin_message();
}

void MessageParser::begin_message() noexcept {
    m_fields.clear();
    m_header_count = 0;
    m_method = m_target = m_reason = {};
    m_status = 0;
    m_minor = 1;
    m_content_length = m_remaining = m_offset = 0;
    m_lines = 0;
    m_body_kind = BodyKind::none;
    m_keep_alive = m_upgrade = m_has_length = m_has_te = m_te_chunked = m_te_other = m_conn_close =
        m_conn_keep_alive = false;
}

void MessageParser::fail(ParseError code, std::string_view what, std::uint64_t offset, int c) {
    if (c == '\r') {
        code = ParseError::bare_cr;
        what = "CR not followed by LF";
    }
    m_error = code;
    m_state = State::failed;
    std::string message = m_request ? "malformed HTTP request: " : "malformed HTTP response: ";
    message += what;
    if (offset != UINT64_MAX) message.append(" at offset ").append(std::to_string(offset));
    throw RemoteProtocolError(message);
}

void MessageParser::fail_limit(ParseError code, std::uint64_t offset) {
    const bool trailers = m_state == State::trailers;
    switch (code) {
    case ParseError::start_line_too_long:
        fail(code, "start line longer than " + std::to_string(m_limits.max_start_line) + " bytes", offset);
    case ParseError::header_section_too_large:
        fail(code, std::string(trailers ? "trailer" : "header") + " section larger than " +
                       std::to_string(m_limits.max_header_bytes) + " bytes", offset);
    case ParseError::too_many_headers:
        fail(code, "more than " + std::to_string(m_limits.max_headers) + (trailers ? " trailer" : " header") + " fields",
             offset);
    default:
        fail(code, "chunk-size line longer than " + std::to_string(m_limits.max_chunk_line) + " bytes", offset);
    }
}

Step MessageParser::complete(std::size_t consumed) noexcept {
    m_state = m_upgrade ? State::upgraded : State::head;
    if (!m_request && m_status >= 200) m_expect_no_body = false;
    return {Event::complete, consumed, {}};
}

Step MessageParser::feed(std::string_view data) {
    const char* p = data.data();
    const std::size_t n = data.size();
    std::size_t pos = 0;
    auto body = [&](std::size_t k) {
        Step s{Event::body, pos + k, {p + pos, k}};
        m_offset += s.consumed;
        return s;
    };
    auto need = [&] {
        m_offset += pos;
        return Step{Event::need_data, pos, {}};
    };
    for (;;) {
        switch (m_state) {
        case State::head:
            if (m_scanned == 0 && m_searched == 0) {
                // A new message. Empty lines before it are skipped (RFC 9112 §2.2).
                while (pos < n && (p[pos] == '\r' || p[pos] == '\n')) ++pos;
                begin_message();
                if (pos == n) return {Event::need_data, pos, {}};
            }
            return parse_section(p + pos, n - pos, pos, 0);
        case State::done:
            return complete(pos);
        case State::length: {
            if (m_remaining == 0) return complete(pos);
            if (pos == n) return need();
            std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, n - pos));
            m_remaining -= k;
            return body(k);
        }
        case State::chunk_data: {
            if (m_remaining == 0) {
                m_state = State::chunk_end;
                break;
            }
            if (pos == n) return need();
            std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, n - pos));
            m_remaining -= k;
            return body(k);
        }
        case State::chunk_end:
            if (pos == n) return need();
            if (p[pos] != '\r') fail(ParseError::invalid_chunk_end, "chunk data not followed by CRLF", m_offset + pos);
            if (pos + 1 == n) return need();
            if (p[pos + 1] != '\n')
                fail(ParseError::invalid_chunk_end, "chunk data not followed by CRLF", m_offset + pos + 1, p[pos + 1]);
            pos += 2;
            m_state = State::chunk_line;
            break;
        case State::chunk_line: {
            const char* base = p + pos;
            const std::size_t size = n - pos;
            const char* lf = m_searched < size ? find_lf(base + m_searched, size - m_searched) : nullptr;
            if (lf == nullptr) {
                m_searched = size;
                if (size > m_limits.max_chunk_line + 1) fail_limit(ParseError::chunk_line_too_long, m_offset + pos);
                return need();
            }
            const std::size_t end = static_cast<std::size_t>(lf - base);
            m_searched = 0;
            if (end == 0 || base[end - 1] != '\r') {
                if (const void* cr = std::memchr(base, '\r', end))
                    fail(ParseError::bare_cr, "", m_offset + pos + static_cast<std::size_t>(static_cast<const char*>(cr) - base), '\r');
                fail(ParseError::bare_lf, "chunk-size line not ended by CRLF", m_offset + pos + end);
            }
            if (end - 1 > m_limits.max_chunk_line) fail_limit(ParseError::chunk_line_too_long, m_offset + pos);
            parse_chunk_size(base, end - 1, m_offset + pos);
            pos += end + 1;
            if (m_remaining == 0) {
                m_state = State::trailers;
                m_scanned = m_searched = 0;
                m_lines = 0;
            } else {
                m_state = State::chunk_data;
            }
            break;
        }
        case State::trailers: {
            std::uint64_t at = m_offset + pos;
            Step s = parse_section(p + pos, n - pos, pos, at);
            if (s.event == Event::need_data) m_offset += pos;
            return s;
        }
        case State::until_close:
            if (pos == n) return need();
            return body(n - pos);
        case State::upgraded:
            throw std::logic_error("corio::http parser: feed() after the connection was upgraded");
        case State::failed:
            throw std::logic_error("corio::http parser: feed() after a protocol error");
        }
    }
}

bool MessageParser::finish() {
    switch (m_state) {
    case State::head:
        if (m_scanned == 0 && m_searched == 0) return false;
        fail(ParseError::truncated, "connection closed inside the header section");
    case State::length:
        if (m_remaining != 0) fail(ParseError::truncated, "connection closed before the end of the body");
        [[fallthrough]];
    case State::until_close:
    case State::done:
        complete(0);
        return true;
    case State::upgraded:
        return false;
    case State::failed:
        throw std::logic_error("corio::http parser: finish() after a protocol error");
    default:
        fail(ParseError::truncated, "connection closed before the end of the body");
    }
}

void MessageParser::rebase(const char* base) noexcept {
    const std::uintptr_t delta = reinterpret_cast<std::uintptr_t>(base) - m_base;
    auto shift = [delta](std::string_view& v) {
        if (v.data() != nullptr) v = {rebased(v.data(), delta), v.size()};
    };
    const bool head = m_state == State::head;
    for (std::size_t i = head ? 0 : m_header_count; i < m_fields.size(); ++i) {
        shift(m_fields[i].name);
        shift(m_fields[i].value);
    }
    if (head) {
        shift(m_method);
        shift(m_target);
        shift(m_reason);
    }
}

// The head or the trailers, starting at `base`; `before` bytes of this input precede it, and `at` is its
// offset in the message.
Step MessageParser::parse_section(const char* base, std::size_t size, std::size_t before, std::uint64_t at) {
    const bool head = m_state == State::head;
    if (m_lines > 0 && reinterpret_cast<std::uintptr_t>(base) != m_base) rebase(base);
    m_base = reinterpret_cast<std::uintptr_t>(base);
    const std::size_t limit = m_limits.max_header_bytes;
    for (;;) {
        const std::size_t from = std::max(m_scanned, m_searched);
        const char* lf = from < size ? find_lf(base + from, size - from) : nullptr;
        if (lf == nullptr) {
            m_searched = size;
            if (head && m_lines == 0 && size > m_limits.max_start_line + 1) fail_limit(ParseError::start_line_too_long);
            if (size > limit) fail_limit(ParseError::header_section_too_large);
            return {Event::need_data, before, {}};
        }
        const std::size_t end = static_cast<std::size_t>(lf - base);
        const std::size_t begin = m_scanned;
        m_scanned = m_searched = end + 1;
        if (end + 1 > limit) fail_limit(ParseError::header_section_too_large);
        std::size_t len = end - begin;
        if (len > 0 && base[end - 1] == '\r') --len;
        if (head && m_lines == 0) {
            if (len > m_limits.max_start_line) fail_limit(ParseError::start_line_too_long);
            parse_start_line(base, len);
        } else if (len == 0) {
            const std::size_t section = end + 1;
            m_scanned = m_searched = 0;
            m_lines = 0;
            if (!head) return complete(before + section);
            m_header_count = m_fields.size();
            m_offset = section;
            end_of_head();
            return {Event::head, before + section, {}};
        } else {
            parse_field(base + begin, len, at + begin);
        }
        ++m_lines;
    }
}

// request-line = method SP request-target SP HTTP-version; status-line = HTTP-version SP 3DIGIT SP reason.
void MessageParser::parse_start_line(const char* line, std::size_t len) {
    auto version = [&](std::size_t i) {
        const char* v = line + i;
        if (len - i < 8 || std::memcmp(v, "HTTP/", 5) != 0 || !is(v[5], c_digit) || v[6] != '.' || !is(v[7], c_digit))
            fail(ParseError::invalid_version, "invalid HTTP version", i);
        if (v[5] != '1') fail(ParseError::unsupported_version, "unsupported HTTP version (not HTTP/1.x)", i);
        m_minor = static_cast<std::uint8_t>(v[7] - '0');
    };
    std::size_t i = 0;
    if (m_request) {
        while (i < len && is(line[i], c_token)) ++i;
        if (i == 0 || i == len || line[i] != ' ')
            fail(ParseError::invalid_method, "invalid character in method", i, i < len ? line[i] : -1);
        m_method = {line, i};
        const std::size_t t = ++i;
        while (i < len && is(line[i], c_target)) ++i;
        if (i == t || (i < len && line[i] != ' '))
            fail(ParseError::invalid_target, "invalid character in request target", i, i < len ? line[i] : -1);
        if (i == len) fail(ParseError::invalid_version, "missing HTTP version", i);
        m_target = {line + t, i - t};
        version(++i);
        if (len - i != 8) fail(ParseError::invalid_version, "invalid HTTP version", i + 8, line[i + 8]);
        return;
    }
    version(0);
    if (len < 12 || line[8] != ' ' || !is(line[9], c_digit) || line[9] == '0' || !is(line[10], c_digit) ||
        !is(line[11], c_digit) || (len > 12 && line[12] != ' '))
        fail(ParseError::invalid_status, "invalid status code", 8);
    m_status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    i = len > 12 ? 13 : 12;
    m_reason = {line + i, len - i};
    for (; i < len; ++i)
        if (!is(line[i], c_value)) fail(ParseError::invalid_reason, "invalid character in reason phrase", i, line[i]);
}

// field-line = field-name ":" OWS field-value OWS
void MessageParser::parse_field(const char* line, std::size_t len, std::uint64_t at) {
    if (is(line[0], c_ows))
        fail(ParseError::obs_fold, m_lines == 1 ? "whitespace before the first header field" : "obs-fold (folded header line)",
             at);
    std::size_t i = 0;
    while (i < len && is(line[i], c_token)) ++i;
    if (i == len || line[i] != ':') {
        std::size_t j = i;
        while (j < len && is(line[j], c_ows)) ++j;
        if (j > i && j < len && line[j] == ':')
            fail(ParseError::invalid_header_name, "whitespace between header name and colon", at + i);
        if (i == len) fail(ParseError::invalid_header_name, "header line without a colon", at + i);
        fail(ParseError::invalid_header_name, "invalid character in header name", at + i, line[i]);
    }
    if (i == 0) fail(ParseError::invalid_header_name, "empty header name", at);
    const std::string_view name(line, i);
    ++i;
    while (i < len && is(line[i], c_ows)) ++i;
    const std::size_t v = i;
    i = v + invalid_value_byte(line + v, len - v);
    if (i < len) fail(ParseError::invalid_header_value, "invalid character in header value", at + i, line[i]);
    std::size_t e = len;
    while (e > v && is(line[e - 1], c_ows)) --e;
    const std::string_view value(line + v, e - v);

    const std::size_t count = m_state == State::head ? m_fields.size() : m_fields.size() - m_header_count;
    if (count >= m_limits.max_headers)
        fail_limit(ParseError::too_many_headers, at);
    m_fields.push_back({name, value});
    if (m_state != State::head) return;

    if (name_is(name, "content-length")) {
        if (value.empty()) fail(ParseError::invalid_content_length, "empty Content-Length", at);
        std::uint64_t n = 0;
        for (char c : value) {
            if (!is(c, c_digit)) fail(ParseError::invalid_content_length, "invalid Content-Length", at);
            const auto d = static_cast<std::uint64_t>(c - '0');
            if (n > (UINT64_MAX - 1 - d) / 10) fail(ParseError::invalid_content_length, "Content-Length too large", at);
            n = n * 10 + d;
        }
        if (m_has_length && n != m_content_length)
            fail(ParseError::conflicting_content_length, "conflicting Content-Length values", at);
        m_has_length = true;
        m_content_length = n;
    } else if (name_is(name, "transfer-encoding")) {
        // The codings of every Transfer-Encoding field form one list; what matters is whether the last is
        // exactly "chunked" (which takes no parameters). A coding that is not a token makes the framing
        // ambiguous: rejected.
        m_has_te = true;
        any_element(value, false, [this, at](std::string_view coding) {
            const std::string_view name = trim(coding.substr(0, coding.find(';')));
            if (!is_token(name))
                fail(ParseError::unsupported_transfer_encoding, "invalid Transfer-Encoding", at);
            const bool chunked = iequals(coding, "chunked");
            m_te_other = m_te_other || m_te_chunked || !chunked;
            m_te_chunked = chunked;
            return false;
        });
    } else if (name_is(name, "connection")) {
        any_element(value, false, [this](std::string_view option) {
            if (iequals(option, "close")) m_conn_close = true;
            else if (iequals(option, "keep-alive")) m_conn_keep_alive = true;
            return false;
        });
    }
}

// Decides the body's framing (RFC 9112 §6.3) and whether the connection can be reused.
void MessageParser::end_of_head() {
    if (m_request) {
        if (m_method == "CONNECT") {
            m_upgrade = true;
        } else if (m_has_te) {
            if (m_has_length)
                fail(ParseError::conflicting_framing, "both Content-Length and Transfer-Encoding in a request");
            if (!m_te_chunked)
                fail(ParseError::unsupported_transfer_encoding, "unsupported Transfer-Encoding (chunked must come last)");
            // Nothing here decodes another coding (gzip...): its bytes would pass for the body.
            if (m_te_other)
                fail(ParseError::unsupported_transfer_encoding, "unsupported Transfer-Encoding (only chunked, once)");
            m_body_kind = BodyKind::chunked;
        } else if (m_has_length) {
            m_body_kind = BodyKind::length;
        }
    } else if (m_status < 200) {
        m_upgrade = m_status == 101;
    } else if (!m_expect_no_body && m_status != 204 && m_status != 304) {
        if (m_has_te) m_body_kind = m_te_chunked ? BodyKind::chunked : BodyKind::until_close;
        else if (m_has_length) m_body_kind = BodyKind::length;
        else m_body_kind = BodyKind::until_close;
    }
    m_keep_alive = m_minor >= 1 ? !m_conn_close : m_conn_keep_alive;
    // Transfer-Encoding in HTTP/1.0, or with Content-Length, means the framing is suspect: do not reuse.
    if (m_body_kind == BodyKind::until_close || m_upgrade || (m_has_te && (m_has_length || m_minor == 0)))
        m_keep_alive = false;
    switch (m_body_kind) {
    case BodyKind::none: m_state = State::done; break;
    case BodyKind::length:
        m_remaining = m_content_length;
        m_state = State::length;
        break;
    case BodyKind::chunked: m_state = State::chunk_line; break;
    case BodyKind::until_close: m_state = State::until_close; break;
    }
}

// chunk-size [ BWS ";" chunk-ext ], without its CRLF.
void MessageParser::parse_chunk_size(const char* line, std::size_t len, std::uint64_t at) {
    std::size_t i = 0;
    std::uint64_t size = 0;
    for (; i < len && is(line[i], c_hex); ++i) {
        if (size >> 59) fail(ParseError::invalid_chunk_size, "chunk size too large", at);
        const char c = lower(line[i]);
        size = size * 16 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (i == 0) fail(ParseError::invalid_chunk_size, "invalid chunk size", at, len > 0 ? line[0] : -1);
    while (i < len && is(line[i], c_ows)) ++i;
    if (i < len && line[i] != ';')
        fail(ParseError::invalid_chunk_extension, "invalid chunk extension", at + i, line[i]);
    for (; i < len; ++i)
        if (!is(line[i], c_value))
            fail(ParseError::invalid_chunk_extension, "invalid character in chunk extension", at + i, line[i]);
    m_remaining = size;
}

}  // namespace corio::http
