#pragma once
// How the SQLite driver stores the types SQLite lacks: ISO-8601 text for dates and timestamps, canonical
// text for uuids, JSON text for arrays (see include/corio/db/types.hpp), and how it reads them back.

#include <corio/db/detail/value.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corio::db::sqlite {

/// "2024-05-06" from days since 1970-01-01 (years outside 0000-9999 get a sign: "+12345-01-01").
std::string format_date(std::int64_t days);
/// "2024-05-06 07:08:09" plus ".123456" (trailing zeros trimmed) when there are microseconds.
std::string format_timestamp(std::int64_t micros);

/// Days since 1970-01-01 from "YYYY-MM-DD".
std::optional<std::int64_t> parse_date(std::string_view text);
/// Microseconds since 1970-01-01 from "YYYY-MM-DD[( |T)HH:MM[:SS[.fraction]]][offset]". With `with_zone`,
/// an offset ("Z", "+02:00", "-0530", "+02") is applied (none means UTC); without, an offset is an error.
std::optional<std::int64_t> parse_timestamp(std::string_view text, bool with_zone);

/// The text a scalar parameter of a type SQLite lacks is stored as (date, timestamp(tz), uuid).
std::string scalar_text(const detail::Param& p);
/// An array parameter's JSON text. Errors: db::TypeError (text that is not UTF-8).
std::string array_json(const detail::Param& p);

/// A float from SQLite text: "NaN", "Infinity", "-Infinity" (how NaN is stored, and PostgreSQL's words).
std::optional<double> special_float(std::string_view text) noexcept;

/// Fills `out` with the array stored as JSON `text`, elements of type `elem`; sets out.problem when the
/// text is not such an array.
void read_array(std::string_view text, Type elem, detail::Cell& out);

/// Fills `out` from text for a wanted scalar type (date, timestamp, uuid…); sets out.problem when the text
/// does not hold one.
void read_text(std::string_view text, Type want, detail::Cell& out);

}  // namespace corio::db::sqlite
