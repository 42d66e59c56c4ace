#pragma once
// The errors of the HTTP layer. All derive from http::HttpError, itself a corio::Error; socket failures
// underneath keep their own types (net::ConnectError, net::TlsError, corio::IoError...).

#include <corio/error.hpp>

#include <string>
#include <string_view>

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

}  // namespace corio::http
