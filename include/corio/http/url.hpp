#pragma once
// http:// and https:// URLs: parsing, resolving a reference against a base (redirects, base_url), and
// query encoding.

#include <corio/http/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corio::http {

/// Query parameters or form fields, in order (a name may repeat).
using Params = std::vector<std::pair<std::string, std::string>>;

/// An absolute http or https URL, split into the parts a request needs.
///
///     auto url = http::Url::parse("https://user@api.example.com:8443/v1/items?id=3#top");
///     url.scheme() == "https"; url.host() == "api.example.com"; url.port() == 8443;
///     url.target() == "/v1/items?id=3";                        // what the request line carries
///
/// The host is lower-cased; an IPv6 literal is kept without its brackets ("::1"). Characters that may not
/// appear in a request target (space, controls, non-ASCII) are percent-encoded; existing %XX are kept.
/// The fragment is dropped. Errors: InvalidUrl naming what is wrong ("URL has no host: http:///x").
class Url {
public:
    Url() = default;
    [[nodiscard]] static Url parse(std::string_view text);
    /// Resolves `reference` (absolute, "//host/x", "/x", "x", "?q") against this URL (RFC 3986 §5.2).
    [[nodiscard]] Url join(std::string_view reference) const;

    [[nodiscard]] const std::string& scheme() const noexcept { return m_scheme; }
    [[nodiscard]] const std::string& host() const noexcept { return m_host; }
    [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
    /// The userinfo ("user:password"), percent-encoded as given; empty when none.
    [[nodiscard]] const std::string& userinfo() const noexcept { return m_userinfo; }
    /// Path and query: "/v1/items?id=3" ("/" when the URL has no path).
    [[nodiscard]] const std::string& target() const noexcept { return m_target; }
    [[nodiscard]] std::string_view path() const noexcept;
    /// The query without '?', empty when none.
    [[nodiscard]] std::string_view query() const noexcept;
    [[nodiscard]] bool is_https() const noexcept { return m_scheme == "https"; }
    [[nodiscard]] bool default_port() const noexcept { return m_port == (is_https() ? 443 : 80); }
    /// "host" or "host:port" (non-default port; IPv6 in brackets): the Host header's value.
    [[nodiscard]] std::string authority() const;
    /// "https://host:443": what identifies a pool of connections.
    [[nodiscard]] std::string origin() const;
    /// The URL as text, without userinfo (safe to log).
    [[nodiscard]] std::string to_string() const;
    /// Appends encoded parameters to the query.
    void add_params(const Params& params);

private:
    std::string m_scheme;
    std::string m_userinfo;
    std::string m_host;
    std::uint16_t m_port = 0;
    std::string m_target = "/";
};

/// Percent-encodes `text` for a query component (application/x-www-form-urlencoded: space as '+').
[[nodiscard]] std::string form_encode(std::string_view text);
/// "a=1&b=x+y": encodes params as a query string or a form body.
[[nodiscard]] std::string encode_params(const Params& params);
/// Decodes %XX (and '+' as space when `plus_as_space`); an invalid escape is kept as is.
[[nodiscard]] std::string percent_decode(std::string_view text, bool plus_as_space = false);

}  // namespace corio::http
