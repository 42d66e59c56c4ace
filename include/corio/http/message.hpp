#pragma once
// What the client and the server share: an owned, multi-valued header map, and Response (what a client
// receives, and what a server handler returns).

#include <corio/http/error.hpp>
#include <corio/http/headers.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corio::http {

/// One owned header field.
struct HeaderField {
    std::string name;
    std::string value;
};

/// Header fields owned by a request or response: case-insensitive lookup, repeated names kept in order
/// (Set-Cookie), names kept as given.
///
///     http::HeaderMap h{{"Accept", "application/json"}};
///     h.add("X-Tag", "a"); h.add("x-tag", "b");       // h.get_all("X-TAG") == {"a", "b"}
///     h.set("accept", "text/plain");                  // replaces every Accept field
///
/// Errors: std::invalid_argument for a name that is not an HTTP token or a value holding CR, LF or NUL
/// (header injection).
class HeaderMap {
public:
    HeaderMap() = default;
    HeaderMap(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

    /// The first value of `name`, or nullopt.
    [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
    /// Every value of `name`, in order.
    [[nodiscard]] std::vector<std::string_view> get_all(std::string_view name) const;
    [[nodiscard]] bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
    /// Whether the comma-separated values of `name` hold `token` (case-insensitive).
    [[nodiscard]] bool has_token(std::string_view name, std::string_view token) const noexcept;

    /// Appends a field (another value for a name already present).
    HeaderMap& add(std::string_view name, std::string_view value);
    /// Replaces every field named `name` with one.
    HeaderMap& set(std::string_view name, std::string_view value);
    /// Removes every field named `name`; returns how many.
    std::size_t remove(std::string_view name) noexcept;
    /// Adds every field of `other` whose name this map lacks (defaults under explicit values).
    void merge_missing(const HeaderMap& other);
    /// Adds parsed (viewed) fields, unchecked: they came through the parser.
    void assign_parsed(const Headers& fields);
    void clear() noexcept { m_fields.clear(); }

    [[nodiscard]] std::size_t size() const noexcept { return m_fields.size(); }
    [[nodiscard]] bool empty() const noexcept { return m_fields.empty(); }
    [[nodiscard]] auto begin() const noexcept { return m_fields.begin(); }
    [[nodiscard]] auto end() const noexcept { return m_fields.end(); }

private:
    std::vector<HeaderField> m_fields;
};

/// Where a server's chunked response body comes from: called until it returns an empty string (the end).
using BodySource = std::function<Task<std::string>()>;

/// An HTTP response. A client returns it with the whole body read (Client::get, request...); a server
/// handler builds one and returns it (Response::text, Response::json, or the constructor).
///
///     auto response = co_await client.get("https://api.example.com/users/1");
///     response.raise_for_status();
///     nlohmann::json user = response.json();
///
///     co_return http::Response::json({{"id", id}});          // in a server handler
class Response {
public:
    Response() = default;
    explicit Response(int status, std::string body = {}, HeaderMap headers = {});

    /// A text/plain; charset=utf-8 response.
    [[nodiscard]] static Response text(std::string body, int status = 200);
    /// An application/json response (the value serialized).
    [[nodiscard]] static Response json(const nlohmann::json& value, int status = 200);
    /// An text/html; charset=utf-8 response.
    [[nodiscard]] static Response html(std::string body, int status = 200);
    /// A response whose body is sent chunked, piece by piece from `source`, as it produces them.
    [[nodiscard]] static Response stream(BodySource source, int status = 200,
                                         std::string content_type = "application/octet-stream");

    /// The status code (200).
    [[nodiscard]] int status() const noexcept { return m_status; }
    /// The reason phrase as received, or the standard one ("Not Found").
    [[nodiscard]] std::string_view reason() const noexcept;
    [[nodiscard]] const HeaderMap& headers() const noexcept { return m_headers; }
    [[nodiscard]] HeaderMap& headers() noexcept { return m_headers; }
    /// The body's bytes (decoded from gzip/deflate when the client asked for it).
    [[nodiscard]] const std::string& body() const noexcept { return m_body; }
    [[nodiscard]] std::string& body() noexcept { return m_body; }
    /// The body as text (UTF-8 assumed; no transcoding).
    [[nodiscard]] std::string_view text() const noexcept { return m_body; }
    /// The body parsed as JSON. Errors: DecodeError naming the offset and the request.
    [[nodiscard]] nlohmann::json json() const;

    /// The URL this response came from (the last one, after redirects).
    [[nodiscard]] const std::string& url() const noexcept { return m_url; }
    /// The request's method.
    [[nodiscard]] const std::string& method() const noexcept { return m_method; }
    /// The redirect responses followed to get here, oldest first (bodies not kept).
    [[nodiscard]] const std::vector<Response>& history() const noexcept { return m_history; }
    /// From sending the request to the end of the body (the last hop's).
    [[nodiscard]] Clock::duration elapsed() const noexcept { return m_elapsed; }
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    [[nodiscard]] int version_minor() const noexcept { return m_version_minor; }

    [[nodiscard]] bool is_informational() const noexcept { return m_status >= 100 && m_status < 200; }
    [[nodiscard]] bool is_success() const noexcept { return m_status >= 200 && m_status < 300; }
    [[nodiscard]] bool is_redirect() const noexcept;
    [[nodiscard]] bool is_client_error() const noexcept { return m_status >= 400 && m_status < 500; }
    [[nodiscard]] bool is_server_error() const noexcept { return m_status >= 500 && m_status < 600; }
    [[nodiscard]] bool is_error() const noexcept { return m_status >= 400; }

    /// Raises StatusError for a 4xx or 5xx status (with the status, URL and the body's start); returns
    /// itself otherwise, so `co_await client.get(url)).raise_for_status().json()` reads naturally.
    const Response& raise_for_status() const;

    // Building one (servers, tests).
    Response& set_status(int status) noexcept {
        m_status = status;
        return *this;
    }
    Response& set_header(std::string_view name, std::string_view value) {
        m_headers.set(name, value);
        return *this;
    }
    Response& set_body(std::string body) {
        m_body = std::move(body);
        return *this;
    }
    /// The chunked body's source (Response::stream), or an empty function.
    [[nodiscard]] const BodySource& body_source() const noexcept { return m_source; }

    struct Access;  // the client's internals fill in what a received response carries

private:
    int m_status = 200;
    int m_version_minor = 1;
    std::string m_reason;
    HeaderMap m_headers;
    std::string m_body;
    std::string m_url;
    std::string m_method;
    std::vector<Response> m_history;
    Clock::duration m_elapsed{};
    BodySource m_source;
};

/// The standard reason phrase of a status code ("Not Found"), or "" when there is none.
[[nodiscard]] std::string_view reason_phrase(int status) noexcept;

}  // namespace corio::http
