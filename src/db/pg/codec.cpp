// PostgreSQL's binary formats (src/backend/utils/adt/*.c, the *_send/*_recv functions): big-endian integers,
// IEEE floats, dates as days and timestamps as microseconds since 2000-01-01, numeric in base-10000 digits.
#include "db/pg/codec.hpp"

#include <corio/db/types.hpp>

#include <algorithm>
#include <bit>
#include <cctype>
#include <climits>
#include <limits>

namespace corio::db::pg {

namespace {

constexpr std::int32_t k_pg_epoch_days = 10957;                  // 2000-01-01 in days since 1970-01-01
constexpr std::int64_t k_pg_epoch_us = 946684800LL * 1000000LL;  // the same in microseconds

template <class U>
void put_be(std::string& out, U v) {
    static_assert(std::is_unsigned_v<U>);
    char buf[sizeof(U)];
    for (std::size_t i = 0; i < sizeof(U); ++i) buf[i] = static_cast<char>(v >> (8 * (sizeof(U) - 1 - i)));
    out.append(buf, sizeof(U));
}

template <class U>
U get_be(const char* p) noexcept {
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>((v << 8) | static_cast<unsigned char>(p[i]));
    return v;
}

void need(std::string_view b, std::size_t n, const char* what) {
    if (b.size() != n)
        throw CodecError(std::string("pg: a binary ") + what + " must be " + std::to_string(n) + " bytes, not " +
                         std::to_string(b.size()));
}

struct Reader {
    std::string_view b;
    std::size_t pos = 0;
    template <class U>
    U get(const char* what) {
        if (b.size() - pos < sizeof(U)) throw CodecError(std::string("pg: truncated ") + what);
        U v = get_be<U>(b.data() + pos);
        pos += sizeof(U);
        return v;
    }
};

}  // namespace

// ---- OIDs ---------------------------------------------------------------------------------------------------

namespace {
struct TypeRow {
    Oid type;
    Oid array;
    const char* name;
};
constexpr TypeRow k_types[] = {
    {oid::boolean, oid::bool_array, "bool"},       {oid::bytea, oid::bytea_array, "bytea"},
    {oid::char_, 1002, "char"},                    {oid::name, oid::name_array, "name"},
    {oid::int8, oid::int8_array, "int8"},          {oid::int2, oid::int2_array, "int2"},
    {oid::int4, oid::int4_array, "int4"},          {oid::text, oid::text_array, "text"},
    {oid::oid, 1028, "oid"},                       {oid::json, oid::json_array, "json"},
    {oid::float4, oid::float4_array, "float4"},    {oid::float8, oid::float8_array, "float8"},
    {oid::unknown, 0, "unknown"},                  {oid::bpchar, oid::bpchar_array, "bpchar"},
    {oid::varchar, oid::varchar_array, "varchar"}, {oid::date, oid::date_array, "date"},
    {oid::timestamp, oid::timestamp_array, "timestamp"},
    {oid::timestamptz, oid::timestamptz_array, "timestamptz"},
    {oid::numeric, oid::numeric_array, "numeric"}, {oid::uuid, oid::uuid_array, "uuid"},
    {oid::jsonb, oid::jsonb_array, "jsonb"},
};
}  // namespace

Oid array_of(Oid element) noexcept {
    for (const TypeRow& t : k_types)
        if (t.type == element) return t.array;
    return 0;
}

Oid element_of(Oid array) noexcept {
    if (array == 0) return 0;
    for (const TypeRow& t : k_types)
        if (t.array == array) return t.type;
    return 0;
}

std::string type_name(Oid type) {
    for (const TypeRow& t : k_types) {
        if (t.type == type) return t.name;
        if (t.array == type && t.array != 0) return std::string("_") + t.name;
    }
    return "oid " + std::to_string(type);
}

TypeMismatch::TypeMismatch(Oid sql_type, std::string cpp_type, bool null)
    : db::TypeError(null ? "pg: NULL cannot be read as " + cpp_type + " (use std::optional)"
                 : "pg: a " + type_name(sql_type) + " cannot be read as " + cpp_type),
      m_sql_type(sql_type),
      m_cpp_type(std::move(cpp_type)),
      m_null(null) {}

void codec_detail::throw_mismatch(Oid type, std::string cpp, bool null) { throw TypeMismatch(type, std::move(cpp), null); }

// ---- scalars ----------------------------------------------------------------------------------------------

void encode_bool(std::string& out, bool v) { out.push_back(v ? 1 : 0); }
void encode_int2(std::string& out, std::int16_t v) { put_be(out, static_cast<std::uint16_t>(v)); }
void encode_int4(std::string& out, std::int32_t v) { put_be(out, static_cast<std::uint32_t>(v)); }
void encode_int8(std::string& out, std::int64_t v) { put_be(out, static_cast<std::uint64_t>(v)); }
void encode_float4(std::string& out, float v) { put_be(out, std::bit_cast<std::uint32_t>(v)); }
void encode_float8(std::string& out, double v) { put_be(out, std::bit_cast<std::uint64_t>(v)); }

bool decode_bool(std::string_view b) {
    need(b, 1, "bool");
    return b[0] != 0;
}
std::int16_t decode_int2(std::string_view b) {
    need(b, 2, "int2");
    return static_cast<std::int16_t>(get_be<std::uint16_t>(b.data()));
}
std::int32_t decode_int4(std::string_view b) {
    need(b, 4, "int4");
    return static_cast<std::int32_t>(get_be<std::uint32_t>(b.data()));
}
std::int64_t decode_int8(std::string_view b) {
    need(b, 8, "int8");
    return static_cast<std::int64_t>(get_be<std::uint64_t>(b.data()));
}
float decode_float4(std::string_view b) {
    need(b, 4, "float4");
    return std::bit_cast<float>(get_be<std::uint32_t>(b.data()));
}
double decode_float8(std::string_view b) {
    need(b, 8, "float8");
    return std::bit_cast<double>(get_be<std::uint64_t>(b.data()));
}

// date: int32 days since 2000-01-01, INT32_MAX/MIN for +/-infinity.
void encode_date(std::string& out, std::chrono::sys_days v) {
    using Days = std::chrono::sys_days;
    if (v == Days::max()) return encode_int4(out, INT32_MAX);
    if (v == Days::min()) return encode_int4(out, INT32_MIN);
    std::int64_t d = static_cast<std::int64_t>(v.time_since_epoch().count()) - k_pg_epoch_days;
    if (d >= INT32_MAX || d <= INT32_MIN) throw CodecError("pg: date out of range");
    encode_int4(out, static_cast<std::int32_t>(d));
}

std::chrono::sys_days decode_date(std::string_view b) {
    using Days = std::chrono::sys_days;
    std::int32_t d = decode_int4(b);
    if (d == INT32_MAX) return Days::max();
    if (d == INT32_MIN) return Days::min();
    return Days(std::chrono::days(static_cast<std::int64_t>(d) + k_pg_epoch_days));
}

// timestamp[tz]: int64 microseconds since 2000-01-01 00:00 UTC, INT64_MAX/MIN for +/-infinity.
void encode_timestamp(std::string& out, TimestampTz v) {
    if (v == TimestampTz::max()) return encode_int8(out, INT64_MAX);
    if (v == TimestampTz::min()) return encode_int8(out, INT64_MIN);
    std::int64_t us = v.time_since_epoch().count();
    if (us < INT64_MIN + k_pg_epoch_us + 1) throw CodecError("pg: timestamp out of range");
    encode_int8(out, us - k_pg_epoch_us);
}

TimestampTz decode_timestamp(std::string_view b) {
    std::int64_t us = decode_int8(b);
    if (us == INT64_MAX) return TimestampTz::max();
    if (us == INT64_MIN) return TimestampTz::min();
    if (us > INT64_MAX - k_pg_epoch_us) throw CodecError("pg: timestamp out of range");
    return TimestampTz(std::chrono::microseconds(us + k_pg_epoch_us));
}

void encode_uuid(std::string& out, const UuidBytes& v) { out.append(reinterpret_cast<const char*>(v.data()), v.size()); }

UuidBytes decode_uuid(std::string_view b) {
    need(b, 16, "uuid");
    UuidBytes u;
    std::memcpy(u.data(), b.data(), 16);
    return u;
}

std::string uuid_text(const UuidBytes& v) { return db::Uuid(v).to_string(); }

UuidBytes parse_uuid(std::string_view text) {
    std::string_view t = text;
    if (t.size() >= 2 && t.front() == '{' && t.back() == '}') t = t.substr(1, t.size() - 2);
    UuidBytes u{};
    std::size_t n = 0;
    int half = -1;
    for (char c : t) {
        if (c == '-') continue;
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0 || n >= 16) throw CodecError("pg: not a uuid: '" + std::string(text) + "'");
        if (half < 0) {
            half = v;
        } else {
            u[n++] = static_cast<std::uint8_t>(half << 4 | v);
            half = -1;
        }
    }
    if (n != 16 || half >= 0) throw CodecError("pg: not a uuid: '" + std::string(text) + "'");
    return u;
}

void encode_jsonb(std::string& out, const nlohmann::json& v) {
    out.push_back(1);
    out += v.dump();
}

nlohmann::json decode_json(Oid type, std::string_view b) {
    if (type == oid::jsonb) {
        if (b.empty() || b[0] != 1) throw CodecError("pg: unsupported jsonb version");
        b.remove_prefix(1);
    }
    try {
        return nlohmann::json::parse(b);
    } catch (const nlohmann::json::exception& e) {
        throw CodecError(std::string("pg: malformed json from the server: ") + e.what());
    }
}

// ---- numeric ------------------------------------------------------------------------------------------------
// int16 ndigits, int16 weight, uint16 sign, uint16 dscale, then ndigits base-10000 digits; the value is
// sum(digit[i] * 10000^(weight - i)); dscale is the number of decimal digits after the point to display.

namespace {
constexpr std::uint16_t k_pos = 0x0000, k_neg = 0x4000, k_nan = 0xC000, k_pinf = 0xD000, k_ninf = 0xF000;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

void numeric_header(std::string& out, std::int16_t ndigits, std::int16_t weight, std::uint16_t sign,
                    std::uint16_t dscale) {
    put_be(out, static_cast<std::uint16_t>(ndigits));
    put_be(out, static_cast<std::uint16_t>(weight));
    put_be(out, sign);
    put_be(out, dscale);
}
}  // namespace

void encode_numeric(std::string& out, std::string_view text) {
    auto bad = [&]() -> CodecError { return CodecError("pg: not a numeric: '" + std::string(text) + "'"); };
    std::string_view t = text;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    if (iequals(t, "nan")) return numeric_header(out, 0, 0, k_nan, 0);
    if (iequals(t, "infinity") || iequals(t, "+infinity") || iequals(t, "inf") || iequals(t, "+inf"))
        return numeric_header(out, 0, 0, k_pinf, 0);
    if (iequals(t, "-infinity") || iequals(t, "-inf")) return numeric_header(out, 0, 0, k_ninf, 0);

    bool negative = false;
    if (!t.empty() && (t.front() == '+' || t.front() == '-')) {
        negative = t.front() == '-';
        t.remove_prefix(1);
    }
    std::string digits;  // every decimal digit, without the point
    std::int64_t frac = 0;  // digits after the point
    bool point = false, any = false;
    std::size_t i = 0;
    for (; i < t.size(); ++i) {
        char c = t[i];
        if (c >= '0' && c <= '9') {
            digits.push_back(c);
            any = true;
            if (point) ++frac;
        } else if (c == '.' && !point) {
            point = true;
        } else {
            break;
        }
    }
    if (!any) throw bad();
    std::int64_t exponent = 0;
    if (i < t.size()) {
        if (t[i] != 'e' && t[i] != 'E') throw bad();
        ++i;
        bool eneg = false;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) eneg = t[i++] == '-';
        if (i >= t.size()) throw bad();
        for (; i < t.size(); ++i) {
            if (t[i] < '0' || t[i] > '9') throw bad();
            exponent = exponent * 10 + (t[i] - '0');
            if (exponent > 1000000) throw CodecError("pg: numeric exponent out of range: '" + std::string(text) + "'");
        }
        if (eneg) exponent = -exponent;
    }
    // value = digits * 10^(exponent - frac); the display scale is the count of digits after the point.
    std::int64_t scale = frac - exponent;  // digits after the point (negative: zeros to append)
    if (scale < 0) {
        digits.append(static_cast<std::size_t>(-scale), '0');
        scale = 0;
    }
    if (scale > 16383) throw CodecError("pg: numeric scale out of range: '" + std::string(text) + "'");
    std::int64_t int_len = static_cast<std::int64_t>(digits.size()) - scale;
    if (int_len < 0) {  // more fraction digits than digits: leading zeros after the point
        digits.insert(0, static_cast<std::size_t>(-int_len), '0');
        int_len = 0;
    }
    if (int_len > 131072) throw CodecError("pg: numeric out of range: '" + std::string(text) + "'");
    // Align on base-10000 groups: pad the integer part on the left, the fraction on the right.
    std::size_t lead = static_cast<std::size_t>((4 - int_len % 4) % 4);
    std::string padded(lead, '0');
    padded += digits;
    padded.append((4 - (padded.size() % 4)) % 4, '0');
    std::int64_t int_groups = (int_len + static_cast<std::int64_t>(lead)) / 4;
    std::vector<std::uint16_t> groups;
    groups.reserve(padded.size() / 4);
    for (std::size_t g = 0; g < padded.size(); g += 4)
        groups.push_back(static_cast<std::uint16_t>((padded[g] - '0') * 1000 + (padded[g + 1] - '0') * 100 +
                                                    (padded[g + 2] - '0') * 10 + (padded[g + 3] - '0')));
    std::int64_t weight = int_groups - 1;
    std::size_t first = 0;
    while (first < groups.size() && groups[first] == 0) {
        ++first;
        --weight;
    }
    std::size_t last = groups.size();
    while (last > first && groups[last - 1] == 0) --last;
    if (first == last) {  // zero
        numeric_header(out, 0, 0, k_pos, static_cast<std::uint16_t>(scale));
        return;
    }
    numeric_header(out, static_cast<std::int16_t>(last - first), static_cast<std::int16_t>(weight),
                   negative ? k_neg : k_pos, static_cast<std::uint16_t>(scale));
    for (std::size_t g = first; g < last; ++g) put_be(out, groups[g]);
}

std::string decode_numeric(std::string_view b) {
    Reader r{b};
    auto ndigits = static_cast<std::int16_t>(r.get<std::uint16_t>("numeric"));
    auto weight = static_cast<std::int16_t>(r.get<std::uint16_t>("numeric"));
    auto sign = r.get<std::uint16_t>("numeric");
    auto dscale = r.get<std::uint16_t>("numeric");
    if (sign == k_nan) return "NaN";
    if (sign == k_pinf) return "Infinity";
    if (sign == k_ninf) return "-Infinity";
    if (ndigits < 0 || (sign != k_pos && sign != k_neg) || dscale > 0x3fff)
        throw CodecError("pg: malformed binary numeric");
    std::vector<std::uint16_t> d(static_cast<std::size_t>(ndigits));
    for (auto& x : d) {
        x = r.get<std::uint16_t>("numeric");
        if (x > 9999) throw CodecError("pg: malformed binary numeric digit");
    }
    if (r.pos != b.size()) throw CodecError("pg: trailing bytes after a binary numeric");
    auto digit = [&](std::int64_t i) -> std::uint16_t {
        return i >= 0 && i < ndigits ? d[static_cast<std::size_t>(i)] : 0;
    };
    std::string s;
    if (sign == k_neg && ndigits > 0) s.push_back('-');
    if (weight < 0) {
        s.push_back('0');
    } else {
        for (std::int64_t i = 0; i <= weight; ++i) {
            std::string g = std::to_string(digit(i));
            if (i > 0) g.insert(0, 4 - g.size(), '0');
            s += g;
        }
    }
    if (dscale > 0) {
        s.push_back('.');
        std::string f;
        for (std::int64_t i = weight + 1; static_cast<std::int64_t>(f.size()) < dscale; ++i) {
            std::string g = std::to_string(digit(i));
            g.insert(0, 4 - g.size(), '0');
            f += g;
        }
        f.resize(dscale);
        s += f;
    }
    return s;
}

// ---- arrays ---------------------------------------------------------------------------------------------
// int32 ndim, int32 has_null, uint32 element oid, per dimension int32 size and int32 lower bound (1), then per
// element int32 length (-1: NULL) and its bytes. An empty array has no dimension.

void encode_array_header(std::string& out, Oid element, std::size_t count, bool has_null) {
    if (count > static_cast<std::size_t>(INT32_MAX)) throw CodecError("pg: array too large");
    put_be(out, static_cast<std::uint32_t>(count > 0 ? 1 : 0));
    put_be(out, static_cast<std::uint32_t>(has_null ? 1 : 0));
    put_be(out, static_cast<std::uint32_t>(element));
    if (count > 0) {
        put_be(out, static_cast<std::uint32_t>(count));
        put_be(out, static_cast<std::uint32_t>(1));
    }
}

std::size_t begin_array_element(std::string& out) {
    std::size_t at = out.size();
    out.append(4, '\0');
    return at;
}

void end_array_element(std::string& out, std::size_t start) {
    std::size_t len = out.size() - start - 4;
    if (len > static_cast<std::size_t>(INT32_MAX)) throw CodecError("pg: array element too large");
    for (int i = 0; i < 4; ++i) out[start + static_cast<std::size_t>(i)] = static_cast<char>(len >> (8 * (3 - i)));
}

void encode_array_null(std::string& out) { put_be(out, static_cast<std::uint32_t>(0xffffffffu)); }

ArrayView decode_array(std::string_view b) {
    Reader r{b};
    auto ndim = static_cast<std::int32_t>(r.get<std::uint32_t>("array"));
    r.get<std::uint32_t>("array");  // has_null
    ArrayView a;
    a.element = r.get<std::uint32_t>("array");
    if (ndim == 0) return a;
    if (ndim != 1) {
        if (ndim < 0 || ndim > 6) throw CodecError("pg: malformed array");
        throw CodecError("pg: arrays of " + std::to_string(ndim) + " dimensions are not supported (only one)");
    }
    auto count = static_cast<std::int32_t>(r.get<std::uint32_t>("array"));
    r.get<std::uint32_t>("array");  // lower bound
    if (count < 0 || static_cast<std::size_t>(count) > (b.size() - r.pos) / 4) throw CodecError("pg: malformed array");
    a.items.reserve(static_cast<std::size_t>(count));
    for (std::int32_t i = 0; i < count; ++i) {
        auto len = static_cast<std::int32_t>(r.get<std::uint32_t>("array"));
        if (len == -1) {
            a.items.emplace_back(std::nullopt);
            continue;
        }
        if (len < 0 || static_cast<std::size_t>(len) > b.size() - r.pos) throw CodecError("pg: truncated array element");
        a.items.emplace_back(b.substr(r.pos, static_cast<std::size_t>(len)));
        r.pos += static_cast<std::size_t>(len);
    }
    if (r.pos != b.size()) throw CodecError("pg: trailing bytes after an array");
    return a;
}

// ---- Params -------------------------------------------------------------------------------------------------

void Params::push(Oid type, std::size_t start, bool binary) {
    std::size_t len = m_buffer.size() - start;
    if (len > static_cast<std::size_t>(INT32_MAX)) throw CodecError("pg: parameter too large");
    m_types.push_back(type);
    m_offsets.push_back(static_cast<std::ptrdiff_t>(start));
    m_lengths.push_back(static_cast<int>(len));
    m_formats.push_back(binary ? 1 : 0);
    if (!binary) m_buffer.push_back('\0');  // libpq reads text parameters as C strings
}

Params& Params::add_null(Oid type) {
    m_types.push_back(type);
    m_offsets.push_back(-1);
    m_lengths.push_back(0);
    m_formats.push_back(1);
    return *this;
}

Params& Params::add_raw(Oid type, std::string_view bytes, bool binary) {
    if (!binary && bytes.find('\0') != std::string_view::npos)
        throw CodecError("pg: a text parameter cannot contain a NUL character");
    std::size_t start = m_buffer.size();
    m_buffer.append(bytes);
    push(type, start, binary);
    return *this;
}

#define CORIO_PG_ADD(T, type, encode)        \
    Params& Params::add(T v) {                 \
        std::size_t start = m_buffer.size();   \
        encode(m_buffer, v);                   \
        push(type, start, true);               \
        return *this;                          \
    }
CORIO_PG_ADD(bool, oid::boolean, encode_bool)
CORIO_PG_ADD(std::int16_t, oid::int2, encode_int2)
CORIO_PG_ADD(std::int32_t, oid::int4, encode_int4)
CORIO_PG_ADD(std::int64_t, oid::int8, encode_int8)
CORIO_PG_ADD(float, oid::float4, encode_float4)
CORIO_PG_ADD(double, oid::float8, encode_float8)
CORIO_PG_ADD(std::chrono::sys_days, oid::date, encode_date)
CORIO_PG_ADD(TimestampTz, oid::timestamptz, encode_timestamp)
CORIO_PG_ADD(const UuidBytes&, oid::uuid, encode_uuid)
#undef CORIO_PG_ADD

Params& Params::add(Timestamp v) {
    std::size_t start = m_buffer.size();
    encode_timestamp(m_buffer, TimestampTz(v.time_since_epoch()));
    push(oid::timestamp, start, true);
    return *this;
}

Params& Params::add(std::string_view v) { return add_raw(oid::unspecified, v, false); }

Params& Params::add(const std::vector<std::byte>& v) { return add(std::span<const std::byte>(v)); }

Params& Params::add(std::span<const std::byte> v) {
    return add_raw(oid::bytea, std::string_view(reinterpret_cast<const char*>(v.data()), v.size()), true);
}

Params& Params::add(const nlohmann::json& v) { return add_raw(oid::unspecified, v.dump(), false); }

Params& Params::add_numeric(std::string_view text) {
    std::size_t start = m_buffer.size();
    encode_numeric(m_buffer, text);
    push(oid::numeric, start, true);
    return *this;
}

const char* const* Params::values() const {
    m_values.resize(m_offsets.size());
    for (std::size_t i = 0; i < m_offsets.size(); ++i)
        m_values[i] = m_offsets[i] < 0 ? nullptr : m_buffer.data() + m_offsets[i];
    return m_values.data();
}

void Params::clear() noexcept {
    m_types.clear();
    m_lengths.clear();
    m_formats.clear();
    m_offsets.clear();
    m_buffer.clear();
    m_values.clear();
}

}  // namespace corio::db::pg
