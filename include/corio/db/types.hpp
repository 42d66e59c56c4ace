#pragma once
// The C++ types of SQL values: what parameters may be and what Row::get<T> reads.
//
//   SQL                         C++
//   boolean                     bool
//   smallint/integer/bigint     std::int16_t / std::int32_t / std::int64_t (any integer type, range-checked)
//   real / double precision     float / double
//   numeric                     db::Numeric (its exact text)
//   text, varchar               std::string (parameters: also std::string_view, const char*)
//   bytea                       db::Bytes (std::vector<std::byte>)
//   date                        db::Date (std::chrono::sys_days) or std::chrono::year_month_day
//   timestamp                   db::Timestamp (std::chrono::local_time<std::chrono::microseconds>)
//   timestamptz                 db::TimestampTz (std::chrono::sys_time<std::chrono::microseconds>)
//   uuid                        db::Uuid
//   json, jsonb                 nlohmann::json
//   T[] (one dimension)         std::vector<T>
//   NULL                        std::optional<T> (std::nullopt, or nullptr as a parameter)
//
// SQLite has no such types: corio stores dates and timestamps as ISO-8601 text ("2024-05-06",
// "2024-05-06 07:08:09.123456"; timestamptz in UTC without a suffix, as CURRENT_TIMESTAMP does, so that
// text order is time order), uuids as their canonical text, json as its text, arrays as JSON text
// ("[1,2,3]"; bytea elements as "\\x…" hex strings), booleans as 0/1, NaN as the text 'NaN', and reads
// them back from those forms (timestamptz also from text with an offset: "Z", "+02:00"). Declare exact
// numeric columns TEXT in SQLite: NUMERIC affinity turns "1.10" into the REAL 1.1.

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corio::db {

/// bytea.
using Bytes = std::vector<std::byte>;
/// date: days since 1970-01-01.
using Date = std::chrono::sys_days;
/// timestamp (without time zone): a wall-clock time, microsecond precision.
using Timestamp = std::chrono::local_time<std::chrono::microseconds>;
/// timestamptz: an instant in UTC, microsecond precision.
using TimestampTz = std::chrono::sys_time<std::chrono::microseconds>;

/// An arbitrary-precision decimal, kept as its exact text ("12345.6789", "NaN").
class Numeric {
public:
    Numeric() = default;
    explicit Numeric(std::string text) : m_text(std::move(text)) {}
    [[nodiscard]] const std::string& str() const noexcept { return m_text; }
    /// The nearest double (std::invalid_argument for text that is not a number).
    [[nodiscard]] double to_double() const;
    friend bool operator==(const Numeric&, const Numeric&) = default;

private:
    std::string m_text;
};

/// A 128-bit UUID.
class Uuid {
public:
    /// The nil UUID (all zero).
    constexpr Uuid() noexcept = default;
    constexpr explicit Uuid(const std::array<std::uint8_t, 16>& bytes) noexcept : m_bytes(bytes) {}
    /// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case; also without hyphens, or in braces).
    /// Errors: std::invalid_argument.
    [[nodiscard]] static Uuid parse(std::string_view text);
    /// As parse(), or nullopt for text that is not a UUID.
    [[nodiscard]] static std::optional<Uuid> try_parse(std::string_view text) noexcept;
    /// A random (version 4) UUID, from a fast generator seeded by std::random_device: unique, not secret.
    [[nodiscard]] static Uuid random();
    /// The canonical lower-case text.
    [[nodiscard]] std::string to_string() const;
    [[nodiscard]] const std::array<std::uint8_t, 16>& bytes() const noexcept { return m_bytes; }
    [[nodiscard]] bool is_nil() const noexcept { return *this == Uuid(); }
    friend constexpr auto operator<=>(const Uuid&, const Uuid&) = default;

private:
    std::array<std::uint8_t, 16> m_bytes{};
};

/// The kinds of value the drivers exchange with the generic layer (parameters and cells).
enum class Type : std::uint8_t {
    null,
    boolean,
    int16,
    int32,
    int64,
    float32,
    float64,
    numeric,
    text,
    bytes,
    date,
    timestamp,
    timestamptz,
    uuid,
    json,
    array,
};

/// The SQL name of a Type ("bigint", "timestamptz"...).
[[nodiscard]] std::string_view type_name(Type t) noexcept;

}  // namespace corio::db
