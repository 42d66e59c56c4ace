#pragma once
// PostgreSQL's binary wire formats for the types corio maps, sans-I/O: values in, bytes out, and back.
// Internal to the PostgreSQL driver (namespace corio::db::pg); the public db API converts its own types
// (db::Uuid, db::Numeric...) to and from the plain representations used here.
//
// Representations:
//   bool, int2/int4/int8, float4/float8   bool, std::int16_t/int32_t/int64_t, float/double
//   numeric                               its text ("-12.340", "NaN", "Infinity"): encode_numeric/decode_numeric
//   text, varchar, bpchar, name           std::string (bytes as stored; the connection's encoding is UTF8)
//   bytea                                 std::vector<std::byte>
//   date                                  std::chrono::sys_days; 'infinity'/'-infinity' are sys_days::max()/min()
//   timestamp                             Timestamp (local_time: a wall clock), microseconds
//   timestamptz                           TimestampTz (sys_time: an instant), microseconds; either reads
//                                         the other's values; 'infinity'/'-infinity' are ::max()/::min()
//   uuid                                  UuidBytes (16 bytes, network order)
//   json, jsonb                           nlohmann::json (jsonb: a version byte, 1, before the text)
//   one-dimensional arrays                std::vector<T> (of the above), std::vector<std::optional<T>> for NULLs

#include <corio/db/error.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

namespace corio::db::pg {

using Oid = unsigned int;  // libpq's Oid
using TimestampTz = std::chrono::sys_time<std::chrono::microseconds>;  // as db::TimestampTz
using Timestamp = std::chrono::local_time<std::chrono::microseconds>;   // as db::Timestamp
using UuidBytes = std::array<std::uint8_t, 16>;

/// The built-in types' OIDs: fixed by PostgreSQL's catalog (pg_type.dat), the same on every server since 9.x;
/// db_pg_codec_test checks each against a live server's pg_type.
namespace oid {
inline constexpr Oid unspecified = 0;  // a parameter whose type the server infers
inline constexpr Oid boolean = 16, bytea = 17, char_ = 18, name = 19, int8 = 20, int2 = 21, int4 = 23, text = 25,
                     oid = 26, json = 114, float4 = 700, float8 = 701, unknown = 705, bpchar = 1042,
                     varchar = 1043, date = 1082, timestamp = 1114, timestamptz = 1184, numeric = 1700,
                     uuid = 2950, jsonb = 3802;
inline constexpr Oid json_array = 199, bool_array = 1000, bytea_array = 1001, name_array = 1003,
                     int2_array = 1005, int4_array = 1007, text_array = 1009, bpchar_array = 1014,
                     varchar_array = 1015, int8_array = 1016, float4_array = 1021, float8_array = 1022,
                     timestamp_array = 1115, date_array = 1182, timestamptz_array = 1185, numeric_array = 1231,
                     uuid_array = 2951, jsonb_array = 3807;
}  // namespace oid

/// The array type of a built-in element type, or 0.
[[nodiscard]] Oid array_of(Oid element) noexcept;
/// The element type of a built-in array type, or 0.
[[nodiscard]] Oid element_of(Oid array) noexcept;
/// The SQL name of a built-in type ("int4", "_text"), or "oid <n>".
[[nodiscard]] std::string type_name(Oid type);

/// A value whose bytes do not have the shape its type requires (a server bug or a desynchronized stream), or a
/// parameter its type cannot hold (a numeric text that is not a number).
class CodecError : public db::TypeError {
public:
    using db::TypeError::TypeError;
};

/// A field of SQL type `sql_type` asked for as the C++ type `cpp_type` (or NULL into a non-optional). The db
/// layer adds the column.
class TypeMismatch : public db::TypeError {
public:
    TypeMismatch(Oid sql_type, std::string cpp_type, bool null = false);
    [[nodiscard]] Oid sql_type() const noexcept { return m_sql_type; }
    [[nodiscard]] const std::string& cpp_type() const noexcept { return m_cpp_type; }
    [[nodiscard]] bool null() const noexcept { return m_null; }

private:
    Oid m_sql_type;
    std::string m_cpp_type;
    bool m_null;
};

// ---- scalar encoders: append the binary form to `out` ----------------------------------------------------

void encode_bool(std::string& out, bool v);
void encode_int2(std::string& out, std::int16_t v);
void encode_int4(std::string& out, std::int32_t v);
void encode_int8(std::string& out, std::int64_t v);
void encode_float4(std::string& out, float v);
void encode_float8(std::string& out, double v);
/// From a decimal text: [+-]digits[.digits][e[+-]digits], "NaN", "Infinity", "-Infinity" (case-insensitive).
/// Errors: CodecError for anything else, or beyond numeric's range.
void encode_numeric(std::string& out, std::string_view text);
void encode_date(std::string& out, std::chrono::sys_days v);
void encode_timestamp(std::string& out, TimestampTz v);
void encode_uuid(std::string& out, const UuidBytes& v);
void encode_jsonb(std::string& out, const nlohmann::json& v);

// ---- scalar decoders: a whole field's bytes; CodecError when the size is wrong ------------------------------

[[nodiscard]] bool decode_bool(std::string_view b);
[[nodiscard]] std::int16_t decode_int2(std::string_view b);
[[nodiscard]] std::int32_t decode_int4(std::string_view b);
[[nodiscard]] std::int64_t decode_int8(std::string_view b);
[[nodiscard]] float decode_float4(std::string_view b);
[[nodiscard]] double decode_float8(std::string_view b);
/// The canonical text of a binary numeric, with its display scale ("1.50", "-0.001", "NaN", "Infinity").
[[nodiscard]] std::string decode_numeric(std::string_view b);
[[nodiscard]] std::chrono::sys_days decode_date(std::string_view b);
[[nodiscard]] TimestampTz decode_timestamp(std::string_view b);
[[nodiscard]] UuidBytes decode_uuid(std::string_view b);
/// json (its text) or jsonb (a version byte, then its text). Errors: CodecError for text that is not JSON.
[[nodiscard]] nlohmann::json decode_json(Oid type, std::string_view b);

/// A uuid's canonical text, "123e4567-e89b-12d3-a456-426614174000".
[[nodiscard]] std::string uuid_text(const UuidBytes& v);
/// Parses a uuid's text (hyphens optional, either case, optional braces). Errors: CodecError.
[[nodiscard]] UuidBytes parse_uuid(std::string_view text);

// ---- one-dimensional arrays ----------------------------------------------------------------------------

/// Writes an array header for `count` elements of type `element` (which must be followed by `count`
/// elements, each written by encode_array_element or encode_array_null). `has_null` is the header's flag.
void encode_array_header(std::string& out, Oid element, std::size_t count, bool has_null);
/// Starts an element: reserves its length word; finish it with end_array_element(out, start).
[[nodiscard]] std::size_t begin_array_element(std::string& out);
void end_array_element(std::string& out, std::size_t start);
void encode_array_null(std::string& out);

/// A decoded array's shape: its element type and each element's bytes (nullopt for NULL).
struct ArrayView {
    Oid element = 0;
    std::vector<std::optional<std::string_view>> items;
};
/// Parses an array's binary form. Errors: CodecError for a malformed array or more than one dimension.
[[nodiscard]] ArrayView decode_array(std::string_view b);

// ---- parameters -----------------------------------------------------------------------------------------

/// The parameters of one query, in libpq's shape (types, values, lengths, formats). Values are binary, except
/// strings and JSON, sent as text with an unspecified type so that the server gives them the type the query
/// needs (a text column, a varchar, an enum, a json or jsonb column, a number compared to a string).
///
///     Params p;
///     p.add(42).add("name").add(std::optional<double>{});
///     co_await conn.exec("insert into t values ($1, $2, $3)", p);
class Params {
public:
    Params() = default;
    /// Each argument added in order.
    template <class... A>
    static Params of(const A&... args) {
        Params p;
        (p.add(args), ...);
        return p;
    }

    Params& add_null(Oid type = oid::unspecified);
    /// A value already in binary form (binary = true) or text form, of type `type`.
    Params& add_raw(Oid type, std::string_view bytes, bool binary);

    Params& add(bool v);
    Params& add(std::int16_t v);
    Params& add(std::int32_t v);
    Params& add(std::int64_t v);
    Params& add(long long v) { return add(static_cast<std::int64_t>(v)); }
    Params& add(std::uint32_t v) { return add(static_cast<std::int64_t>(v)); }
    Params& add(float v);
    Params& add(double v);
    Params& add(std::string_view v);
    Params& add(const std::string& v) { return add(std::string_view(v)); }
    Params& add(const char* v) { return add(std::string_view(v)); }
    Params& add(const std::vector<std::byte>& v);
    Params& add(std::span<const std::byte> v);
    Params& add(std::chrono::sys_days v);
    Params& add(TimestampTz v);  ///< as timestamptz (an instant)
    Params& add(std::chrono::local_time<std::chrono::microseconds> v);  ///< as timestamp (a wall clock)
    Params& add(const UuidBytes& v);
    Params& add(const nlohmann::json& v);
    /// A numeric from its text, sent in binary. Errors: CodecError (see encode_numeric).
    Params& add_numeric(std::string_view text);
    template <class T>
    Params& add(const std::optional<T>& v) {
        if (v) return add(*v);
        return add_null(null_type<T>());
    }
    template <class T>
    Params& add(const std::vector<T>& v)
        requires(!std::is_same_v<T, std::byte>)
    {
        return add_array(v);
    }

    [[nodiscard]] int size() const noexcept { return static_cast<int>(m_types.size()); }
    [[nodiscard]] bool empty() const noexcept { return m_types.empty(); }
    [[nodiscard]] const Oid* types() const noexcept { return m_types.data(); }
    [[nodiscard]] const int* lengths() const noexcept { return m_lengths.data(); }
    [[nodiscard]] const int* formats() const noexcept { return m_formats.data(); }
    /// Pointers into the value buffer (valid until the next add or clear); null for NULL.
    [[nodiscard]] const char* const* values() const;
    void clear() noexcept;
    /// True when its value buffer has grown beyond what is worth keeping for reuse (64 KiB).
    [[nodiscard]] bool large() const noexcept { return m_buffer.capacity() > (std::size_t{64} << 10); }

private:
    template <class T>
    static Oid null_type();
    template <class T>
    Params& add_array(const std::vector<T>& v);
    template <class T>
    static void encode_element(std::string& out, const T& v);
    void push(Oid type, std::size_t start, bool binary);

    std::vector<Oid> m_types;
    std::vector<int> m_lengths;
    std::vector<int> m_formats;
    std::vector<std::ptrdiff_t> m_offsets;  // into m_buffer; -1 for NULL
    std::string m_buffer;
    mutable std::vector<const char*> m_values;
};

// ---- field decoding by C++ type -------------------------------------------------------------------------

/// A human name for a C++ type, for TypeMismatch ("std::int32_t", "std::vector<std::string>").
template <class T>
std::string cpp_type_name();

/// Reads a field of SQL type `type` (binary format unless `text`) as a T. T is one of the representations
/// above, std::optional<T> (NULL is nullopt), or std::vector<T> / std::vector<std::optional<T>> for arrays;
/// std::string reads any type sent as text and numeric, json, jsonb and uuid as their text. Integer and
/// float types widen (an int2 reads as std::int64_t), never narrow. `null`: the field is NULL.
/// Errors: TypeMismatch (with `null` set for a NULL into a non-optional); CodecError for malformed bytes.
template <class T>
T decode_field(Oid type, std::string_view bytes, bool null, bool text = false);

// ---- templates ------------------------------------------------------------------------------------------

namespace codec_detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

/// The SQL type a C++ value is sent as (0 for strings and JSON: sent as text, the server infers).
template <class T>
constexpr Oid sql_type_of() {
    if constexpr (std::is_same_v<T, bool>) return oid::boolean;
    else if constexpr (std::is_same_v<T, std::int16_t>) return oid::int2;
    else if constexpr (std::is_same_v<T, std::int32_t>) return oid::int4;
    else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, long long> ||
                       std::is_same_v<T, std::uint32_t>)
        return oid::int8;
    else if constexpr (std::is_same_v<T, float>) return oid::float4;
    else if constexpr (std::is_same_v<T, double>) return oid::float8;
    else if constexpr (std::is_same_v<T, std::vector<std::byte>>) return oid::bytea;
    else if constexpr (std::is_same_v<T, std::chrono::sys_days>) return oid::date;
    else if constexpr (std::is_same_v<T, TimestampTz>) return oid::timestamptz;
    else if constexpr (std::is_same_v<T, Timestamp>) return oid::timestamp;
    else if constexpr (std::is_same_v<T, UuidBytes>) return oid::uuid;
    else return oid::unspecified;
}

/// The element type of an array parameter of T (strings are text, JSON jsonb: arrays are sent binary).
template <class T>
constexpr Oid element_type_of() {
    if constexpr (is_optional<T>::value) return element_type_of<typename T::value_type>();
    else if constexpr (std::is_convertible_v<const T&, std::string_view>) return oid::text;
    else if constexpr (std::is_same_v<T, nlohmann::json>) return oid::jsonb;
    else return sql_type_of<T>();
}

[[noreturn]] void throw_mismatch(Oid type, std::string cpp, bool null);
}  // namespace codec_detail

template <class T>
std::string cpp_type_name() {
    using namespace std::chrono;
    if constexpr (std::is_same_v<T, bool>) return "bool";
    else if constexpr (std::is_same_v<T, std::int16_t>) return "std::int16_t";
    else if constexpr (std::is_same_v<T, std::int32_t>) return "std::int32_t";
    else if constexpr (std::is_same_v<T, std::int64_t>) return "std::int64_t";
    else if constexpr (std::is_same_v<T, float>) return "float";
    else if constexpr (std::is_same_v<T, double>) return "double";
    else if constexpr (std::is_same_v<T, std::string>) return "std::string";
    else if constexpr (std::is_same_v<T, std::vector<std::byte>>) return "std::vector<std::byte>";
    else if constexpr (std::is_same_v<T, sys_days>) return "std::chrono::sys_days";
    else if constexpr (std::is_same_v<T, TimestampTz>) return "std::chrono::sys_time<microseconds>";
    else if constexpr (std::is_same_v<T, Timestamp>) return "std::chrono::local_time<microseconds>";
    else if constexpr (std::is_same_v<T, UuidBytes>) return "uuid bytes";
    else if constexpr (std::is_same_v<T, nlohmann::json>) return "nlohmann::json";
    else if constexpr (codec_detail::is_optional<T>::value)
        return "std::optional<" + cpp_type_name<typename T::value_type>() + ">";
    else if constexpr (codec_detail::is_vector<T>::value)
        return "std::vector<" + cpp_type_name<typename T::value_type>() + ">";
    else return typeid(T).name();
}

template <class T>
Oid Params::null_type() {
    if constexpr (codec_detail::is_vector<T>::value && !std::is_same_v<T, std::vector<std::byte>>)
        return array_of(codec_detail::element_type_of<typename T::value_type>());
    else return codec_detail::sql_type_of<T>();
}

template <class T>
void Params::encode_element(std::string& out, const T& v) {
    if constexpr (std::is_same_v<T, bool>) encode_bool(out, v);
    else if constexpr (std::is_same_v<T, std::int16_t>) encode_int2(out, v);
    else if constexpr (std::is_same_v<T, std::int32_t>) encode_int4(out, v);
    else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, long long>)
        encode_int8(out, static_cast<std::int64_t>(v));
    else if constexpr (std::is_same_v<T, float>) encode_float4(out, v);
    else if constexpr (std::is_same_v<T, double>) encode_float8(out, v);
    else if constexpr (std::is_convertible_v<const T&, std::string_view>) out.append(std::string_view(v));
    else if constexpr (std::is_same_v<T, std::vector<std::byte>>)
        out.append(reinterpret_cast<const char*>(v.data()), v.size());
    else if constexpr (std::is_same_v<T, std::chrono::sys_days>) encode_date(out, v);
    else if constexpr (std::is_same_v<T, TimestampTz>) encode_timestamp(out, v);
    else if constexpr (std::is_same_v<T, Timestamp>) encode_timestamp(out, TimestampTz(v.time_since_epoch()));
    else if constexpr (std::is_same_v<T, UuidBytes>) encode_uuid(out, v);
    else if constexpr (std::is_same_v<T, nlohmann::json>) encode_jsonb(out, v);
    else static_assert(sizeof(T) == 0, "no PostgreSQL array element encoding for this type");
}

template <class T>
Params& Params::add_array(const std::vector<T>& v) {
    constexpr Oid element = codec_detail::element_type_of<T>();
    static_assert(element != 0, "no PostgreSQL array type for this element type");
    std::size_t start = m_buffer.size();
    bool has_null = false;
    if constexpr (codec_detail::is_optional<T>::value)
        for (const T& e : v) has_null = has_null || !e;
    encode_array_header(m_buffer, element, v.size(), has_null);
    for (const T& e : v) {
        if constexpr (codec_detail::is_optional<T>::value) {
            if (!e) {
                encode_array_null(m_buffer);
                continue;
            }
            std::size_t at = begin_array_element(m_buffer);
            encode_element(m_buffer, *e);
            end_array_element(m_buffer, at);
        } else {
            std::size_t at = begin_array_element(m_buffer);
            encode_element(m_buffer, e);
            end_array_element(m_buffer, at);
        }
    }
    push(array_of(element), start, true);
    return *this;
}

template <class T>
T decode_field(Oid type, std::string_view b, bool null, bool text) {
    using namespace codec_detail;
    if constexpr (is_optional<T>::value) {
        if (null) return std::nullopt;
        return T(decode_field<typename T::value_type>(type, b, false, text));
    } else {
        if (null) throw_mismatch(type, cpp_type_name<T>(), true);
        if constexpr (std::is_same_v<T, std::string>) {
            if (text) return std::string(b);
            switch (type) {
                case oid::numeric: return decode_numeric(b);
                case oid::uuid: return uuid_text(decode_uuid(b));
                case oid::jsonb:
                    if (b.empty() || b[0] != 1) throw CodecError("pg: unsupported jsonb version");
                    return std::string(b.substr(1));
                case oid::text: case oid::varchar: case oid::bpchar: case oid::name: case oid::json:
                case oid::unknown: case oid::char_:
                    return std::string(b);
                default: break;
            }
        } else if (!text) {
            if constexpr (std::is_same_v<T, bool>) {
                if (type == oid::boolean) return decode_bool(b);
            } else if constexpr (std::is_same_v<T, std::int16_t>) {
                if (type == oid::int2) return decode_int2(b);
            } else if constexpr (std::is_same_v<T, std::int32_t>) {
                if (type == oid::int4) return decode_int4(b);
                if (type == oid::int2) return decode_int2(b);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                if (type == oid::int8) return decode_int8(b);
                if (type == oid::int4) return decode_int4(b);
                if (type == oid::int2) return decode_int2(b);
                if (type == oid::oid) return static_cast<std::uint32_t>(decode_int4(b));
            } else if constexpr (std::is_same_v<T, float>) {
                if (type == oid::float4) return decode_float4(b);
            } else if constexpr (std::is_same_v<T, double>) {
                if (type == oid::float8) return decode_float8(b);
                if (type == oid::float4) return decode_float4(b);
            } else if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
                if (type == oid::bytea) {
                    const auto* p = reinterpret_cast<const std::byte*>(b.data());
                    return std::vector<std::byte>(p, p + b.size());
                }
            } else if constexpr (std::is_same_v<T, std::chrono::sys_days>) {
                if (type == oid::date) return decode_date(b);
            } else if constexpr (std::is_same_v<T, TimestampTz>) {
                if (type == oid::timestamptz || type == oid::timestamp) return decode_timestamp(b);
            } else if constexpr (std::is_same_v<T, Timestamp>) {
                if (type == oid::timestamptz || type == oid::timestamp)
                    return Timestamp(decode_timestamp(b).time_since_epoch());
            } else if constexpr (std::is_same_v<T, UuidBytes>) {
                if (type == oid::uuid) return decode_uuid(b);
            } else if constexpr (std::is_same_v<T, nlohmann::json>) {
                if (type == oid::json || type == oid::jsonb) return decode_json(type, b);
            } else if constexpr (is_vector<T>::value) {
                using E = typename T::value_type;
                if (element_of(type) != 0) {
                    ArrayView a = decode_array(b);
                    T out;
                    out.reserve(a.items.size());
                    for (const auto& item : a.items)
                        out.push_back(decode_field<E>(a.element, item ? *item : std::string_view(), !item));
                    return out;
                }
            } else {
                static_assert(sizeof(T) == 0, "no PostgreSQL decoding for this C++ type");
            }
        }
        throw_mismatch(type, cpp_type_name<T>(), false);
    }
}

}  // namespace corio::db::pg
