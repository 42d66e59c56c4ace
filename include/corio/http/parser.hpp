#pragma once
// Sans-I/O HTTP/1.1 parsing: responses (the client's side) and requests (the server's side), incremental
// and zero-copy over the caller's read buffer.

#include <corio/http/error.hpp>
#include <corio/http/headers.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace corio::http {

/// How much a peer may send; going beyond raises RemoteProtocolError.
struct ParserLimits {
    /// The request or status line, without its line end.
    std::size_t max_start_line = 8 * 1024;
    /// The header section (start line, fields, blank line); the trailer section has the same limit.
    std::size_t max_header_bytes = 64 * 1024;
    /// Fields in the header section; the trailer section has the same limit.
    std::size_t max_headers = 100;
    /// A chunk-size line with its extensions, without its CRLF.
    std::size_t max_chunk_line = 4 * 1024;
};

/// Why a parser raised RemoteProtocolError (a server picks its status from it: 414, 431, 501, 505...).
enum class ParseError : std::uint8_t {
    none,
    start_line_too_long,
    header_section_too_large,
    too_many_headers,
    invalid_method,
    invalid_target,
    invalid_version,
    unsupported_version,  ///< well-formed, but not HTTP/1.x
    invalid_status,
    invalid_reason,
    invalid_header_name,  ///< includes whitespace before the colon
    invalid_header_value,
    obs_fold,             ///< a field line starting with whitespace (folding is not supported)
    bare_cr,              ///< CR not followed by LF
    bare_lf,              ///< LF without CR where chunk framing requires CRLF
    invalid_content_length,
    conflicting_content_length,
    conflicting_framing,  ///< a request with both Content-Length and Transfer-Encoding
    unsupported_transfer_encoding,
    invalid_chunk_size,
    invalid_chunk_extension,
    chunk_line_too_long,
    invalid_chunk_end,    ///< chunk data not followed by CRLF
    truncated,            ///< the connection closed inside a message
};

/// What one feed() found.
enum class Event : std::uint8_t {
    need_data,  ///< nothing more to report: append bytes and call feed() again with everything unconsumed
    head,       ///< the start line and header fields are parsed (accessors valid)
    body,       ///< Step::data holds body bytes (chunk framing removed)
    complete,   ///< the message ended (trailers() valid); the next feed() starts the next message
};

/// The result of one feed(): what happened, and how many bytes of the input are finished with.
struct Step {
    Event event = Event::need_data;
    /// Bytes the caller may drop from the front of its buffer. The views of Event::head (and trailers) point
    /// into these bytes: keep them until done with the views.
    std::size_t consumed = 0;
    /// Event::body: the body bytes, a view into the input.
    std::string_view data;
};

/// How the message's body is delimited (RFC 9112 §6.3). Known from Event::head.
enum class BodyKind : std::uint8_t { none, length, chunked, until_close };

/// What requests and responses share: feeding, framing, header access. Use RequestParser or ResponseParser.
class MessageParser {
public:
    /// Parses as much of `data` as makes one event. `data` starts at the first byte not yet consumed: the
    /// bytes a previous call left unconsumed, then the new ones (the buffer may have moved meanwhile).
    /// Nothing of a header section, chunk-size line or trailer section is consumed until it is complete.
    /// Errors: RemoteProtocolError, naming the offset from the message's first byte; the parser is then
    /// unusable (reset() it for another connection; feed() raises std::logic_error until then).
    [[nodiscard]] Step feed(std::string_view data);
    /// The peer closed the connection (everything it sent has been fed). Returns true when that ended a
    /// body delimited by the close (the message is complete), false when no message was in progress.
    /// Errors: RemoteProtocolError (ParseError::truncated) when the close cut a message short.
    [[nodiscard]] bool finish();
    /// Forgets everything: ready for a new connection.
    void reset() noexcept;

    /// The minor version of HTTP/1.x (0 or 1; larger digits are parsed as sent). Valid from Event::head.
    [[nodiscard]] int version_minor() const noexcept { return m_minor; }
    /// The header fields: views into the input of Event::head.
    [[nodiscard]] Headers headers() const noexcept { return Headers({m_fields.data(), m_header_count}); }
    /// The trailer fields of a chunked body: views into the input of Event::complete.
    [[nodiscard]] Headers trailers() const noexcept {
        return Headers({m_fields.data() + m_header_count, m_fields.size() - m_header_count});
    }
    /// How the body is delimited. Valid from Event::head.
    [[nodiscard]] BodyKind body_kind() const noexcept { return m_body_kind; }
    /// The Content-Length when body_kind() is BodyKind::length.
    [[nodiscard]] std::uint64_t content_length() const noexcept { return m_content_length; }
    /// Whether the connection may carry another message after this one: HTTP/1.1 unless "Connection:
    /// close", HTTP/1.0 only with "Connection: keep-alive", never after a close-delimited body, an upgrade
    /// or ambiguous framing. Valid from Event::head.
    [[nodiscard]] bool keep_alive() const noexcept { return m_keep_alive; }
    /// The message switched protocols (101 response, CONNECT request): after Event::complete the bytes
    /// that follow on the connection are not HTTP, and feed() must not be called.
    [[nodiscard]] bool upgrade() const noexcept { return m_upgrade; }
    /// Why the last feed() or finish() raised, or ParseError::none.
    [[nodiscard]] ParseError error() const noexcept { return m_error; }

protected:
    MessageParser(bool request, const ParserLimits& limits);

    // Start line: views like the header fields.
    std::string_view m_method;
    std::string_view m_target;
    std::string_view m_reason;
    int m_status = 0;
    bool m_expect_no_body = false;  // sticky until a final response completes

private:
    enum class State : std::uint8_t { head, length, chunk_line, chunk_data, chunk_end, trailers, until_close,
                                      done, upgraded, failed };
    Step parse_section(const char* base, std::size_t size, std::size_t before, std::uint64_t at);
    void parse_start_line(const char* line, std::size_t len);
    void parse_field(const char* line, std::size_t len, std::uint64_t at);
    void parse_chunk_size(const char* line, std::size_t len, std::uint64_t at);
    void end_of_head();
    void begin_message() noexcept;
    Step complete(std::size_t consumed) noexcept;
    void rebase(const char* base) noexcept;
    // Raises RemoteProtocolError; `c` is the offending byte (a CR makes it ParseError::bare_cr).
    [[noreturn]] void fail(ParseError code, std::string_view what, std::uint64_t offset = UINT64_MAX, int c = -1);
    [[noreturn]] void fail_limit(ParseError code, std::uint64_t offset = UINT64_MAX);

    ParserLimits m_limits;
    std::vector<Header> m_fields;      // the header fields, then the trailer fields
    std::size_t m_header_count = 0;
    std::uint64_t m_content_length = 0;
    std::uint64_t m_remaining = 0;     // bytes left in the body or the current chunk
    std::uint64_t m_offset = 0;        // bytes of this message before the current input (for error offsets)
    std::uintptr_t m_base = 0;         // where the current section began in the last input (views are rebased)
    std::size_t m_scanned = 0;         // bytes of the current section parsed (whole lines)
    std::size_t m_searched = 0;        // bytes of the current section known to hold no further line end
    std::uint32_t m_lines = 0;         // lines of the current section parsed
    State m_state = State::head;
    BodyKind m_body_kind = BodyKind::none;
    ParseError m_error = ParseError::none;
    std::uint8_t m_minor = 1;
    bool m_request;
    bool m_keep_alive = false;
    bool m_upgrade = false;
    bool m_has_length = false;         // Content-Length seen
    bool m_has_te = false;             // Transfer-Encoding seen
    bool m_te_chunked = false;         // ... and its last coding is chunked
    bool m_te_other = false;           // ... and it lists another coding, or chunked twice
    bool m_conn_close = false;
    bool m_conn_keep_alive = false;
};

/// Parses the requests a client sends, one after another (keep-alive, pipelining).
///
///     http::RequestParser parser;                  // ParserLimits{}: 64 KiB of header bytes, 100 fields
///     http::Step step = parser.feed(buf);          // buf: bytes read and not yet consumed
///     // Event::head: parser.method(), .target(), .headers() (views into buf); Event::body: step.data;
///     // Event::complete: respond; Event::need_data: read more and append.
///     buf.erase(0, step.consumed);                 // once the views are no longer needed
///
/// A request has a body only with Content-Length or `Transfer-Encoding: chunked`; another transfer coding,
/// or both headers, is rejected (request smuggling). CONNECT ends the HTTP exchange after its head.
/// Errors: RemoteProtocolError ("malformed HTTP request: invalid character in header name at offset 17").
/// Thread safety: none; one parser per connection.
class RequestParser : public MessageParser {
public:
    explicit RequestParser(const ParserLimits& limits = {}) : MessageParser(true, limits) {}

    /// The method ("GET"), case-sensitive as sent. Valid from Event::head.
    [[nodiscard]] std::string_view method() const noexcept { return m_method; }
    /// The request target as sent ("/search?q=1", "*", "example.com:443", "http://x/y").
    [[nodiscard]] std::string_view target() const noexcept { return m_target; }
};

/// Parses the responses on one client connection. Interim (1xx) responses complete on their own and the
/// final response follows; call expect_no_body() before the response to a HEAD request.
///
///     http::ResponseParser parser;
///     http::Step step = parser.feed(buf);          // Event::head: parser.status(), parser.headers().get(...)
///
/// Body framing (RFC 9112 §6.3): none for HEAD, 1xx, 204 and 304; `Transfer-Encoding: chunked` wins over
/// Content-Length (and the connection is not reused); another transfer coding, or neither header, means
/// the body lasts until the server closes the connection (finish()). A 101 response ends the exchange.
/// Errors: RemoteProtocolError ("malformed HTTP response: invalid chunk size at offset 212").
/// Thread safety: none; one parser per connection.
class ResponseParser : public MessageParser {
public:
    explicit ResponseParser(const ParserLimits& limits = {}) : MessageParser(false, limits) {}

    /// The next final response answers a HEAD request: it has no body whatever its headers say.
    void expect_no_body() noexcept { m_expect_no_body = true; }

    /// The status code (100-999). Valid from Event::head.
    [[nodiscard]] int status() const noexcept { return m_status; }
    /// The reason phrase ("OK"), possibly empty.
    [[nodiscard]] std::string_view reason() const noexcept { return m_reason; }
    /// An interim (1xx) response other than 101: another response follows for the same request.
    [[nodiscard]] bool interim() const noexcept { return m_status >= 100 && m_status < 200 && m_status != 101; }
};

}  // namespace corio::http
