#pragma once
// The errors of the HTTP layer. All derive from http::HttpError, itself a corio::Error; socket failures
// underneath keep their own types (net::ConnectError, net::TlsError, corio::IoError...).

#include <corio/error.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace corio::http {

/// Base of every HTTP error. When the request is known, the message ends with it:
/// "malformed HTTP response: invalid chunk size at offset 112 (GET https://example.com/feed)".
class HttpError : public Error {
public:
    explicit HttpError(const std::string& what) : Error(what) {}
    HttpError(const std::string& what, std::string_view method, std::string_view url)
        : Error(with_request(what, method, url)), m_method(method), m_url(url) {}

    /// The request's method ("GET"), or empty when the error is not tied to a request.
    [[nodiscard]] const std::string& method() const noexcept { return m_method; }
    /// The request's URL, or empty when the error is not tied to a request.
    [[nodiscard]] const std::string& url() const noexcept { return m_url; }

private:
    static std::string with_request(const std::string& what, std::string_view method, std::string_view url) {
        std::string s = what;
        s.append(" (").append(method).append(" ").append(url).append(")");
        return s;
    }

    std::string m_method;
    std::string m_url;
};

/// The peer broke HTTP/1.1: a malformed response (on the client's side) or request (on the server's side),
/// a framing error, a limit exceeded, or a connection closed in the middle of a message.
class RemoteProtocolError : public HttpError {
public:
    using HttpError::HttpError;
};

/// Connecting to the server failed (DNS, refused, unreachable, TLS handshake); the cause's message follows.
class ConnectError : public HttpError {
public:
    using HttpError::HttpError;
};

/// One of the client's timeouts passed. The subclasses say which.
class TimeoutError : public HttpError {
public:
    using HttpError::HttpError;
};
/// Connecting (with the TLS handshake) took longer than ClientOptions::timeouts.connect.
class ConnectTimeout : public TimeoutError {
public:
    using TimeoutError::TimeoutError;
};
/// The server sent nothing for ClientOptions::timeouts.read, or the request's overall deadline passed
/// while waiting for the response.
class ReadTimeout : public TimeoutError {
public:
    using TimeoutError::TimeoutError;
};
/// Sending the request took longer than ClientOptions::timeouts.write.
class WriteTimeout : public TimeoutError {
public:
    using TimeoutError::TimeoutError;
};
/// No connection of the pool became free within ClientOptions::timeouts.pool.
class PoolTimeout : public TimeoutError {
public:
    using TimeoutError::TimeoutError;
};

/// The connection failed after it was established (reset, closed before the response, a socket error).
class NetworkError : public HttpError {
public:
    using HttpError::HttpError;
};

/// follow_redirects went beyond max_redirects (or around a loop).
class TooManyRedirects : public HttpError {
public:
    using HttpError::HttpError;
};

/// The response body is larger than ClientOptions::max_response_size (or a request body larger than a
/// server's limit).
class ResponseTooLarge : public HttpError {
public:
    using HttpError::HttpError;
};

/// The body could not be decoded: invalid JSON (with the offset), or a corrupt gzip/deflate stream.
class DecodeError : public HttpError {
public:
    using HttpError::HttpError;
};

/// A URL that cannot be requested: malformed, an unsupported scheme, no host.
class InvalidUrl : public HttpError {
public:
    using HttpError::HttpError;
};

/// Raised by Response::raise_for_status() for a 4xx or 5xx response:
/// "HTTP 404 Not Found for GET http://127.0.0.1:8080/missing: {\"error\": \"no such item\"}".
class StatusError : public HttpError {
public:
    StatusError(const std::string& what, int status, std::string url, std::string body_excerpt)
        : HttpError(what), m_status(status), m_url(std::move(url)), m_excerpt(std::move(body_excerpt)) {}
    [[nodiscard]] int status() const noexcept { return m_status; }
    [[nodiscard]] const std::string& response_url() const noexcept { return m_url; }
    /// The body's first 200 bytes.
    [[nodiscard]] const std::string& body_excerpt() const noexcept { return m_excerpt; }

private:
    int m_status;
    std::string m_url;
    std::string m_excerpt;
};

}  // namespace corio::http
