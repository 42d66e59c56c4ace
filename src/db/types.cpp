// db::Numeric, db::Uuid, and the names of value types.

#include <corio/db/types.hpp>

#include <charconv>
#include <cstdlib>
#include <limits>
#include <random>
#include <stdexcept>

namespace corio::db {

double Numeric::to_double() const {
    if (m_text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (m_text == "Infinity") return std::numeric_limits<double>::infinity();
    if (m_text == "-Infinity") return -std::numeric_limits<double>::infinity();
    double v = 0;
    const char* b = m_text.data();
    const char* e = b + m_text.size();
    if (b != e && *b == '+') ++b;
    auto [p, ec] = std::from_chars(b, e, v);
    if (m_text.empty() || ec != std::errc() || p != e) {
        if (ec == std::errc::result_out_of_range && p == e) return std::strtod(m_text.c_str(), nullptr);  // ±inf, 0
        throw std::invalid_argument("corio::db::Numeric: \"" + m_text + "\" is not a number");
    }
    return v;
}

namespace {
int hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::optional<Uuid> Uuid::try_parse(std::string_view t) noexcept {
    if (t.size() == 38 && t.front() == '{' && t.back() == '}') t = t.substr(1, 36);
    std::array<std::uint8_t, 16> b{};
    if (t.size() == 36) {
        if (t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-') return std::nullopt;
    } else if (t.size() != 32) {
        return std::nullopt;
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < t.size();) {
        if (t[i] == '-' && t.size() == 36) {
            ++i;
            continue;
        }
        int hi = hex(t[i]);
        int lo = i + 1 < t.size() ? hex(t[i + 1]) : -1;
        if (hi < 0 || lo < 0 || k >= 16) return std::nullopt;
        b[k++] = static_cast<std::uint8_t>(hi * 16 + lo);
        i += 2;
    }
    if (k != 16) return std::nullopt;
    return Uuid(b);
}

Uuid Uuid::parse(std::string_view text) {
    if (auto u = try_parse(text)) return *u;
    throw std::invalid_argument("corio::db::Uuid: \"" + std::string(text.substr(0, 64)) + "\" is not a UUID");
}

Uuid Uuid::random() {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < 16; i += 8) {
        std::uint64_t r = gen();
        for (std::size_t k = 0; k < 8; ++k) b[i + k] = static_cast<std::uint8_t>(r >> (8 * k));
    }
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    return Uuid(b);
}

std::string Uuid::to_string() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(digits[m_bytes[i] >> 4]);
        out.push_back(digits[m_bytes[i] & 15]);
    }
    return out;
}

std::string_view type_name(Type t) noexcept {
    switch (t) {
    case Type::null: return "null";
    case Type::boolean: return "boolean";
    case Type::int16: return "smallint";
    case Type::int32: return "integer";
    case Type::int64: return "bigint";
    case Type::float32: return "real";
    case Type::float64: return "double precision";
    case Type::numeric: return "numeric";
    case Type::text: return "text";
    case Type::bytes: return "bytea";
    case Type::date: return "date";
    case Type::timestamp: return "timestamp";
    case Type::timestamptz: return "timestamptz";
    case Type::uuid: return "uuid";
    case Type::json: return "json";
    case Type::array: return "array";
    }
    return "unknown";
}

}  // namespace corio::db
