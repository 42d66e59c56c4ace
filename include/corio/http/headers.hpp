#pragma once
// A parsed header (or trailer) section: name/value views into the buffer the message was parsed from.

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace corio::http {

/// One header field as received: the name as sent (case preserved), the value without surrounding
/// whitespace. Both view the caller's buffer.
struct Header {
    std::string_view name;
    std::string_view value;
};

/// ASCII case-insensitive equality, as header names and most tokens compare.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2): a method, a header name, a transfer coding.
[[nodiscard]] bool is_token(std::string_view s) noexcept;

/// Whether the comma-separated list `list` (a field value) holds `token`, case-insensitively, ignoring
/// whitespace and parameters after ';': list_has_token("keep-alive, Upgrade", "upgrade").
[[nodiscard]] bool list_has_token(std::string_view list, std::string_view token) noexcept;

/// The fields of a header or trailer section, in the order received (repeated names kept). Looking a name
/// up is case-insensitive and allocates nothing.
///
///     if (auto type = parser.headers().get("content-type")) ... *type == "application/json"
///     parser.headers().has_token("connection", "upgrade")
class Headers {
public:
    Headers() noexcept = default;
    explicit Headers(std::span<const Header> fields) noexcept : m_fields(fields) {}

    /// The value of the first field named `name`, or nullopt.
    [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
    /// Whether a field named `name` is present.
    [[nodiscard]] bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
    /// Whether the comma-separated lists of every field named `name` hold `token` (case-insensitive;
    /// parameters after ';' ignored): has_token("connection", "close"), has_token("transfer-encoding", "gzip").
    [[nodiscard]] bool has_token(std::string_view name, std::string_view token) const noexcept;

    [[nodiscard]] std::size_t size() const noexcept { return m_fields.size(); }
    [[nodiscard]] bool empty() const noexcept { return m_fields.empty(); }
    [[nodiscard]] const Header& operator[](std::size_t i) const noexcept { return m_fields[i]; }
    [[nodiscard]] auto begin() const noexcept { return m_fields.begin(); }
    [[nodiscard]] auto end() const noexcept { return m_fields.end(); }

private:
    std::span<const Header> m_fields;
};

}  // namespace corio::http
