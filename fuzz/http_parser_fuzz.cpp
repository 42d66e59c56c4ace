// libFuzzer target, differential: corio's HTTP/1.1 parser against Debian's libhttp-parser (nodejs
// http-parser 2.9) on the same bytes.
//
// Input: byte 0 chooses the mode (bit 0: responses, else requests; bit 1: responses answer HEAD requests;
// bits 2-7: how corio's side splits the rest into reads, 0 = one read); the rest is the connection's bytes.
// corio parses them read by read from a buffer that drops consumed bytes (so unconsumed bytes move, as in a
// real connection), http_parser in one call; both then see the end of the stream.
//
// Both parsers yield messages, then end cleanly, inside a message (truncated), or with an error. Message by
// message, they must agree on the method, target, status, reason, version, header and trailer fields
// (http_parser's values with trailing whitespace trimmed, as corio strips it), body bytes and keep-alive;
// then on how the stream ended, except for the deliberate differences below. For the message a stream
// ended in, where both parsed its head, the heads must agree and one body must be the start of the other.
// Comparison stops after a message that ends the HTTP exchange for either side (an upgrade). Besides,
// corio must give the same result whether it reads the input in one piece or in many.
//
// The oracle is Debian's build, which is not strict (HTTP_PARSER_STRICT=0): it takes spaces in header
// names, any byte after a CR, any two bytes after chunk data, HTAB/FF and bytes above 0x7F in targets, and
// goes on parsing after "Connection: close". corio follows RFC 9112 strictly, so most deliberate
// differences are corio rejecting what the oracle accepts:
//   - obs-fold (a field line starting with whitespace): RFC 9112 §5.2 lets a recipient reject it (and
//     corio may first reject the field it continues: "Content-Length:" then " 3").
//   - whitespace in or after a header name (RFC 9112 §5.1: must be rejected).
//   - a CR not followed by LF (for http_parser, any byte after a CR passes for LF: after a bare CR, the
//     parsers split lines differently, and how the stream ends is not compared); chunk data not
//     followed by CRLF; a chunk-size line ended by a bare LF.
//   - a status code not exactly three digits from 100, or more than one space before it; control
//     characters in the reason phrase; a status line not starting with "HTTP/".
//   - versions other than HTTP/1.x (HTTP/2.0, request lines without a version: HTTP/0.9, "ICE/1.0"), or
//     not spelled "HTTP/" (http_parser checks only the 'H').
//   - request targets with bytes outside visible ASCII, or more than one space around them.
//   - anything but BWS and ';' after a chunk size ("5 junk"), control characters in chunk extensions,
//     chunk sizes of 2^63 or more, bytes above 0x7F in a chunk size (http_parser reads them as 0).
//   - the limits: header and trailer fields (100), start line (8 KiB), chunk-size line (4 KiB).
//   - a control character as the first byte of a field value (http_parser checks the bytes after it).
//   - a transfer coding that is not a token (http_parser stops looking for "chunked" at such a byte).
//   - a request whose transfer codings are not just one "chunked" ("gzip, chunked", "chunked, chunked"):
//     nothing decodes the others, so their bytes would pass for the body (the server answers 501).
// http_parser rejects, corio accepts:
//   - methods outside http_parser's list (corio takes any token; the server answers 501).
//   - request targets outside http_parser's URL grammar (corio takes any visible ASCII; routing decides).
//   - repeated identical Content-Length fields (RFC 9110 §8.6 allows them), and Content-Length together
//     with `Transfer-Encoding: chunked` in a response (chunked wins, RFC 9112 §6.3; no keep-alive).
//   - Content-Length in the trailers: corio does not interpret trailer fields (RFC 9110 §6.5.1).
//   - HTAB around a Content-Length, Transfer-Encoding or Connection value, or after a chunk size (it is
//     OWS or BWS; http_parser takes only SP there): framing and keep-alive of such messages not compared.
//   - an error in the unterminated last line of a section: corio parses a line once it is complete.
// Framing:
//   - 1xx, 204 and 304 responses with Content-Length or Transfer-Encoding: http_parser reads a body,
//     corio does not (RFC 9112 §6.3); comparison stops after their heads.
//   - a 101 response ends the exchange for corio even without Upgrade/Connection fields.
//   - empty elements in a Transfer-Encoding list (",chunked"): http_parser misses the "chunked" (and in
//     a Connection list, the "close" or "keep-alive": keep-alive not compared).
//   - a field whose name starts with "Transfer-Encoding" ("Transfer-Encoding0") makes http_parser read
//     the body until the connection closes.
// Keep-alive: http_parser also obeys Proxy-Connection, and framing fields in the trailers; corio refuses
// keep-alive for Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1). Such messages are not compared on it.
#include <corio/http/parser.hpp>

#include <http_parser.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

namespace http = corio::http;
using Fields = std::vector<std::pair<std::string, std::string>>;

struct Message {
    std::string method, target, reason;
    int status = 0;
    int major = 1, minor = 0;
    Fields headers, trailers;
    std::string body;
    bool keep_alive = false;
    bool upgrade = false;
    bool head_seen = false;  // the head is parsed (for the message a stream ended in)
};

enum class End { clean, truncated, error };

struct Outcome {
    std::vector<Message> messages;
    End end = End::clean;
    http::ParseError error = http::ParseError::none;  // corio
    http_errno hp_error = HPE_OK;                     // http_parser
    std::size_t error_at = 0;                         // http_parser: the byte it stopped at
    std::size_t next_start = 0;                       // corio: where the message after the last one began
    Message partial;                                  // the message the stream ended in, as far as it got
};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) { return http::iequals(a, b); }

std::size_t count(const Fields& f, std::string_view name) {
    std::size_t n = 0;
    for (const auto& [k, v] : f) n += iequals(k, name);
    return n;
}

// Fields whose name starts with "Transfer-Encoding" and goes on: http_parser takes them for one.
bool te_lookalike(const Fields& f) {
    for (const auto& [k, v] : f)
        if (k.size() > 17 && iequals(std::string_view(k).substr(0, 17), "transfer-encoding")) return true;
    return false;
}

// ---- corio ----

template <typename Parser>
Outcome run_corio(std::string_view input, unsigned split, bool head_mode) {
    Outcome out;
    Parser p;
    Message cur;
    std::string buf;
    std::uint32_t rng = split * 2654435761u + 1;
    bool stop = false;
    std::size_t consumed = 0;
    auto drain = [&] {
        while (!stop) {
            if constexpr (std::is_same_v<Parser, http::ResponseParser>)
                if (head_mode) p.expect_no_body();
            http::Step s = p.feed(buf);
            consumed += s.consumed;
            switch (s.event) {
            case http::Event::need_data:
                buf.erase(0, s.consumed);
                return;
            case http::Event::head:
                if constexpr (std::is_same_v<Parser, http::ResponseParser>) {
                    cur.status = p.status();
                    cur.reason = p.reason();
                } else {
                    cur.method = p.method();
                    cur.target = p.target();
                }
                cur.minor = p.version_minor();
                for (const http::Header& h : p.headers()) cur.headers.emplace_back(h.name, h.value);
                cur.keep_alive = p.keep_alive();
                cur.upgrade = p.upgrade();
                cur.head_seen = true;
                break;
            case http::Event::body:
                cur.body += s.data;
                break;
            case http::Event::complete:
                for (const http::Header& h : p.trailers()) cur.trailers.emplace_back(h.name, h.value);
                out.messages.push_back(std::exchange(cur, Message{}));
                out.next_start = consumed;
                stop = p.upgrade();
                break;
            }
            buf.erase(0, s.consumed);
        }
    };
    try {
        std::size_t fed = 0;
        while (fed < input.size() && !stop) {
            std::size_t n = input.size() - fed;
            if (split != 0) {
                rng = rng * 1103515245u + 12345u;
                n = std::min<std::size_t>(n, 1 + (rng >> 16) % (split * 4));
            }
            buf.append(input.substr(fed, n));
            fed += n;
            drain();
        }
        if (!stop && p.finish()) out.messages.push_back(std::exchange(cur, Message{}));
    } catch (const http::RemoteProtocolError&) {
        out.error = p.error();
        out.end = out.error == http::ParseError::truncated ? End::truncated : End::error;
    }
    out.partial = std::move(cur);
    return out;
}

// ---- http_parser ----

struct HpState {
    Outcome out;
    Message cur;
    bool in_trailers = false;
    bool last_was_value = true;
    bool head_mode = false;
};

HpState& state(http_parser* p) { return *static_cast<HpState*>(p->data); }

int hp_begin(http_parser* p) {
    state(p).cur = Message{};
    state(p).in_trailers = false;
    state(p).last_was_value = true;
    return 0;
}
int hp_url(http_parser* p, const char* at, std::size_t n) {
    state(p).cur.target.append(at, n);
    return 0;
}
int hp_status(http_parser* p, const char* at, std::size_t n) {
    state(p).cur.reason.append(at, n);
    return 0;
}
int hp_field(http_parser* p, const char* at, std::size_t n) {
    HpState& s = state(p);
    Fields& f = s.in_trailers ? s.cur.trailers : s.cur.headers;
    if (s.last_was_value) f.emplace_back();
    f.back().first.append(at, n);
    s.last_was_value = false;
    return 0;
}
int hp_value(http_parser* p, const char* at, std::size_t n) {
    HpState& s = state(p);
    Fields& f = s.in_trailers ? s.cur.trailers : s.cur.headers;
    f.back().second.append(at, n);
    s.last_was_value = true;
    return 0;
}
int hp_headers_complete(http_parser* p) {
    HpState& s = state(p);
    s.cur.status = static_cast<int>(p->status_code);
    if (p->type == HTTP_REQUEST) s.cur.method = http_method_str(static_cast<http_method>(p->method));
    s.cur.major = p->http_major;
    s.cur.minor = p->http_minor;
    s.cur.upgrade = p->upgrade != 0;
    s.cur.head_seen = true;
    s.in_trailers = true;
    s.last_was_value = true;
    return s.head_mode ? 1 : 0;
}
int hp_body(http_parser* p, const char* at, std::size_t n) {
    state(p).cur.body.append(at, n);
    return 0;
}
void trim_values(Message& m) {
    for (auto* f : {&m.headers, &m.trailers})
        for (auto& [k, v] : *f) v = std::string(trim(v));
}

int hp_complete(http_parser* p) {
    HpState& s = state(p);
    s.cur.keep_alive = http_should_keep_alive(p) != 0;  // here, it knows about F_SKIPBODY (HEAD)
    trim_values(s.cur);
    s.out.messages.push_back(std::move(s.cur));
    s.cur = Message{};
    return 0;
}

Outcome run_http_parser(std::string_view input, bool response, bool head_mode) {
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_message_begin = hp_begin;
    settings.on_url = hp_url;
    settings.on_status = hp_status;
    settings.on_header_field = hp_field;
    settings.on_header_value = hp_value;
    settings.on_headers_complete = hp_headers_complete;
    settings.on_body = hp_body;
    settings.on_message_complete = hp_complete;
    HpState s;
    s.head_mode = head_mode && response;
    http_parser p;
    http_parser_init(&p, response ? HTTP_RESPONSE : HTTP_REQUEST);
    p.data = &s;
    auto finish = [&] {
        trim_values(s.cur);
        s.out.partial = std::move(s.cur);
        return std::move(s.out);
    };
    std::size_t n = http_parser_execute(&p, &settings, input.data(), input.size());
    if (HTTP_PARSER_ERRNO(&p) != HPE_OK) {
        s.out.end = End::error;
        s.out.hp_error = HTTP_PARSER_ERRNO(&p);
        s.out.error_at = n;
        return finish();
    }
    if (p.upgrade) return finish();  // stopped after the message: the rest is another protocol
    (void)http_parser_execute(&p, &settings, input.data(), 0);
    if (HTTP_PARSER_ERRNO(&p) == HPE_INVALID_EOF_STATE) s.out.end = End::truncated;
    else if (HTTP_PARSER_ERRNO(&p) != HPE_OK) s.out.end = End::error, s.out.hp_error = HTTP_PARSER_ERRNO(&p);
    return finish();
}

// ---- comparison ----

[[noreturn]] void mismatch(const char* what, std::size_t index) {
    std::fprintf(stderr, "http_parser_fuzz: %s (message %zu)\n", what, index);
    std::abort();
}

void expect(bool ok, const char* what, std::size_t index) {
    if (!ok) mismatch(what, index);
}

bool is_hp_method(std::string_view m) {
    for (int i = 0; i <= HTTP_SOURCE; ++i)
        if (m == http_method_str(static_cast<http_method>(i))) return true;
    return false;
}

// Whether a line of the input (CR and LF stripped from its ends) satisfies `pred`.
template <typename Pred>
bool any_line(std::string_view input, Pred pred) {
    while (!input.empty()) {
        std::size_t lf = input.find('\n');
        std::string_view line = input.substr(0, lf);
        input = lf == std::string_view::npos ? std::string_view() : input.substr(lf + 1);
        while (!line.empty() && line.front() == '\r') line.remove_prefix(1);
        while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (pred(line)) return true;
    }
    return false;
}

// How many lines of the input are fields named `name` (or, with `prefix`, a name starting with it).
std::size_t field_lines(std::string_view input, std::string_view name, bool prefix = false) {
    std::size_t n = 0;
    any_line(input, [&](std::string_view line) {
        std::string_view field = line.substr(0, line.find(':'));
        n += iequals(prefix ? field.substr(0, name.size()) : field, name);
        return false;
    });
    return n;
}

// Whether a field line named `name` holds an HTAB (OWS, which http_parser takes only as SP when it looks
// at the value: Content-Length, Transfer-Encoding, Connection).
bool tab_in_field(std::string_view input, std::string_view name) {
    return any_line(input, [&](std::string_view line) {
        return iequals(line.substr(0, line.find(':')), name) && line.find('\t') != std::string_view::npos;
    });
}

// Whether a field line named `name` has an empty list element (",chunked"), which RFC 9110 §5.6.1 tells
// recipients to accept and http_parser mishandles.
bool empty_element(std::string_view input, std::string_view name) {
    return any_line(input, [&](std::string_view line) {
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || !iequals(line.substr(0, colon), name)) return false;
        std::string_view list = line.substr(colon + 1);
        if (list.find(',') == std::string_view::npos) return false;
        for (std::size_t b = 0;;) {
            std::size_t e = list.find(',', b);
            std::string_view element = list.substr(b, e == std::string_view::npos ? e : e - b);
            if (element.find_first_not_of(" \t") == std::string_view::npos) return true;
            if (e == std::string_view::npos) return false;
            b = e + 1;
        }
    });
}

// Calls `pred(element)` for each comma-separated element of every Transfer-Encoding field line, in order, until
// it returns true; whether one did.
template <class Pred>
bool any_coding_element(std::string_view input, Pred pred) {
    return any_line(input, [&](std::string_view line) {
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || !iequals(line.substr(0, colon), "transfer-encoding")) return false;
        std::string_view list = line.substr(colon + 1);
        while (true) {
            std::size_t comma = list.find(',');
            if (pred(list.substr(0, comma))) return true;
            if (comma == std::string_view::npos) return false;
            list.remove_prefix(comma + 1);
        }
    });
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Whether a Transfer-Encoding field line holds a coding that is not a token ("g@zip", "a b").
bool bad_coding(std::string_view input) {
    auto tchar = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    };
    return any_coding_element(input, [&](std::string_view element) {
        std::string_view coding = trim_ows(element.substr(0, element.find(';')));
        if (!std::all_of(coding.begin(), coding.end(), tchar)) return true;
        return coding.empty() && element.find(';') != std::string_view::npos;  // ";chunked"
    });
}

// Whether the Transfer-Encoding field lines list anything but one "chunked" coding (all lines together).
bool not_just_chunked(std::string_view input) {
    int codings = 0;
    bool chunked = false;
    any_coding_element(input, [&](std::string_view element) {
        element = trim_ows(element);
        if (!element.empty()) {
            ++codings;
            chunked = iequals(element, "chunked");
        }
        return false;
    });
    return codings != 1 || !chunked;
}

// Where corio's stricter rules reject what http_parser accepts (see the list at the top); `theirs` is
// http_parser's message at that point, if it has one.
bool corio_stricter(http::ParseError e, std::string_view input, std::string_view rest, bool response,
                    const Message* theirs, bool theirs_truncated) {
    using E = http::ParseError;
    switch (e) {
    case E::obs_fold:
    case E::bare_cr:
    case E::bare_lf:
    case E::invalid_chunk_end:
    case E::invalid_status:
    case E::invalid_reason:
    case E::unsupported_version:
    case E::invalid_chunk_extension:
    case E::too_many_headers:
    case E::start_line_too_long:
    case E::header_section_too_large:
    case E::chunk_line_too_long:
        return true;
    case E::invalid_content_length:  // an empty value: continued by obs-fold, or http_parser waits to see
        return theirs_truncated || input.find("\n ") != std::string_view::npos ||
               input.find("\n\t") != std::string_view::npos;
    case E::invalid_header_name:  // whitespace in or after the name
        return any_line(input, [](std::string_view line) {
            std::string_view name = line.substr(0, line.find(':'));
            return name.find_first_of(" \t") != std::string_view::npos;
        });
    case E::invalid_header_value:  // a control character first
        return any_line(input, [](std::string_view line) {
            std::size_t colon = line.find(':');
            if (colon == std::string_view::npos) return false;
            std::size_t v = line.find_first_not_of(" \t", colon + 1);
            if (v == std::string_view::npos) return false;
            auto c = static_cast<unsigned char>(line[v]);
            return c < 0x20 || c == 0x7f;
        });
    case E::invalid_target:
        return !response;
    case E::unsupported_transfer_encoding:  // a coding that is not a token; a request not just chunked
        return bad_coding(input) || (!response && not_just_chunked(input));
    case E::invalid_version:
        // Request lines: spaces around the target, no version (HTTP/0.9), ICE/1.0. Both: http_parser only
        // checks the 'H' of "HTTP/".
        if (!response && (theirs == nullptr || theirs->major != 1 || input.find("  ") != std::string_view::npos))
            return true;
        rest.remove_prefix(std::min(rest.find_first_not_of("\r\n"), rest.size()));
        if (response && !rest.empty() && rest[0] == 'H' && rest.substr(0, 5) != "HTTP/") return true;
        return any_line(input, [](std::string_view line) {
            for (std::size_t at = 0; at < line.size(); at = line.find(' ', at) + 1) {
                if (line[at] == 'H' && line.substr(at, 5) != "HTTP/") return true;
                if (line.find(' ', at) == std::string_view::npos) break;
            }
            return false;
        });
    case E::invalid_chunk_size: {  // 16 hex digits or more; bytes above 0x7F (http_parser reads them as 0)
        if (std::any_of(input.begin(), input.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
            return true;
        std::size_t run = 0;
        for (char c : input) {
            run = std::isxdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
            if (run >= 16) return true;
        }
        return false;
    }
    default:
        return false;
    }
}

// Where http_parser rejects what corio accepts; `ours` is corio's message at that point, if it has one.
bool http_parser_stricter(const Outcome& theirs, const Outcome& corio, const Message* ours, std::string_view input) {
    // The error is in the unterminated last line, which corio has not parsed yet.
    const std::size_t last_lf = input.rfind('\n');
    if (ours == nullptr && corio.end == End::truncated && (last_lf == std::string_view::npos || theirs.error_at > last_lf))
        return true;
    switch (theirs.hp_error) {
    case HPE_INVALID_METHOD: return ours == nullptr || !is_hp_method(ours->method);
    case HPE_INVALID_URL: return true;
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH: {
        // Repeated Content-Length, with Transfer-Encoding, in the trailers (corio leaves trailers alone), or
        // with HTAB around the value (OWS, but http_parser takes only SP).
        if (tab_in_field(input, "content-length")) return true;
        if (ours != nullptr)
            return count(ours->headers, "content-length") > 1 || count(ours->headers, "transfer-encoding") > 0 ||
                   count(ours->trailers, "content-length") > 0;
        const std::string_view rest = input.substr(corio.next_start);
        return field_lines(rest, "content-length") > 1 || field_lines(rest, "transfer-encoding", true) > 0;
    }
    case HPE_INVALID_TRANSFER_ENCODING:  // in a request: "chunked," or HTAB after it, or "Transfer-Encoding0"
        return empty_element(input, "transfer-encoding") || tab_in_field(input, "transfer-encoding") ||
               field_lines(input, "transfer-encoding", true) > field_lines(input, "transfer-encoding");
    case HPE_INVALID_CHUNK_SIZE:  // HTAB after the chunk size (BWS; http_parser takes only SP)
        return any_line(input, [](std::string_view line) {
            std::size_t i = 0;
            while (i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i]))) ++i;
            return i > 0 && i < line.size() && line[i] == '\t';
        });
    default: return false;
    }
}

// Messages whose body http_parser frames differently on purpose (see the list at the top).
bool framing_differs(const Message& a, bool response, std::string_view input) {
    if (count(a.headers, "transfer-encoding") && (tab_in_field(input, "transfer-encoding") || empty_element(input, "transfer-encoding")))
        return true;
    const bool no_body_status = response && (a.status < 200 || a.status == 204 || a.status == 304);
    if (no_body_status && (count(a.headers, "content-length") || count(a.headers, "transfer-encoding"))) return true;
    return te_lookalike(a.headers);
}

void compare_heads(const Message& a, const Message& b, std::size_t i) {
    expect(a.method == b.method, "method", i);
    expect(a.target == b.target, "target", i);
    expect(a.status == b.status, "status", i);
    expect(a.reason == b.reason, "reason", i);
    expect(a.major == b.major && a.minor == b.minor, "version", i);
    expect(a.headers == b.headers, "header fields", i);
}

void compare(const Outcome& ours, const Outcome& theirs, std::string_view input, bool response) {
    const std::size_t n = std::min(ours.messages.size(), theirs.messages.size());
    for (std::size_t i = 0; i < n; ++i) {
        const Message& a = ours.messages[i];
        const Message& b = theirs.messages[i];
        compare_heads(a, b, i);
        if (framing_differs(a, response, input)) return;
        if (a.upgrade || b.upgrade) return;
        expect(a.body == b.body, "body", i);
        expect(a.trailers == b.trailers, "trailer fields", i);
        const bool ka_differs_by_design = count(a.headers, "proxy-connection") ||
                                          (a.minor == 0 && count(a.headers, "transfer-encoding")) ||
                                          (count(a.headers, "connection") && (tab_in_field(input, "connection") ||
                                                                              empty_element(input, "connection"))) ||
                                          count(a.trailers, "connection") || count(a.trailers, "transfer-encoding") ||
                                          count(a.trailers, "content-length") || te_lookalike(a.trailers);
        if (!ka_differs_by_design) expect(a.keep_alive == b.keep_alive, "keep-alive", i);
    }
    const bool a_has = n < ours.messages.size();
    const bool b_has = n < theirs.messages.size();
    const Message* a_next = a_has ? &ours.messages[n] : nullptr;
    const Message* b_next = b_has ? &theirs.messages[n] : nullptr;
    // Message n, as far as each side got: where both parsed its head, the heads agree and one body is the
    // start of the other, whatever the end.
    const Message* a_n = a_has ? a_next : ours.partial.head_seen ? &ours.partial : nullptr;
    const Message* b_n = b_has ? b_next : theirs.partial.head_seen ? &theirs.partial : nullptr;
    if (a_n != nullptr && b_n != nullptr) {
        compare_heads(*a_n, *b_n, n);
        if (!framing_differs(*a_n, response, input) && !a_n->upgrade && !b_n->upgrade) {
            const std::size_t k = std::min(a_n->body.size(), b_n->body.size());
            expect(a_n->body.compare(0, k, b_n->body, 0, k) == 0, "body of the last message", n);
        }
    }
    if (a_has && b_has) return;  // unreachable
    if (!a_has && !b_has && ours.end == theirs.end) return;
    if (ours.end == End::error && !a_has && corio_stricter(ours.error, input, input.substr(ours.next_start), response, b_next,
                                                   theirs.end == End::truncated)) return;
    if (theirs.end == End::error && !b_has && http_parser_stricter(theirs, ours, a_next, input)) return;
    // For http_parser, any byte after a CR passes for LF, so a CR not followed by LF splits lines where
    // corio sees none (and corio rejects bare CRs): after one, how the stream ends is not compared.
    for (std::size_t cr = input.find('\r', ours.next_start); cr != std::string_view::npos; cr = input.find('\r', cr + 1))
        if (cr + 1 == input.size() || input[cr + 1] != '\n') return;
    if ((a_has && framing_differs(*a_next, response, input)) ||
        (b_next != nullptr && framing_differs(*b_next, response, input)))
        return;
    std::fprintf(stderr, "corio: %zu messages, end %d (error %d); http_parser: %zu messages, end %d (%s at %zu)\n",
                 ours.messages.size(), static_cast<int>(ours.end), static_cast<int>(ours.error),
                 theirs.messages.size(), static_cast<int>(theirs.end), http_errno_name(theirs.hp_error),
                 theirs.error_at);
    mismatch("the parsers disagree on how the stream ends", n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool response = data[0] & 1;
    const bool head_mode = (data[0] & 2) != 0;
    const unsigned split = data[0] >> 2;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    Outcome ours = response ? run_corio<http::ResponseParser>(input, split, head_mode)
                            : run_corio<http::RequestParser>(input, split, false);
    Outcome theirs = run_http_parser(input, response, head_mode);
    // Splitting must not change corio's own result.
    if (split != 0) {
        Outcome whole = response ? run_corio<http::ResponseParser>(input, 0, head_mode)
                                 : run_corio<http::RequestParser>(input, 0, false);
        expect(whole.messages.size() == ours.messages.size() && whole.end == ours.end && whole.error == ours.error &&
                   whole.partial.head_seen == ours.partial.head_seen && whole.partial.body == ours.partial.body,
               "corio's result depends on how the input is split", 0);
        for (std::size_t i = 0; i < whole.messages.size(); ++i) {
            const Message& a = whole.messages[i];
            const Message& b = ours.messages[i];
            expect(a.headers == b.headers && a.body == b.body && a.trailers == b.trailers && a.target == b.target &&
                       a.reason == b.reason,
                   "corio's messages depend on how the input is split", i);
        }
    }
    compare(ours, theirs, input, response);
    return 0;
}
