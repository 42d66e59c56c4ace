// ISO-8601 dates and timestamps, uuids and JSON arrays as SQLite text.

#include "text.hpp"

#include <corio/db/error.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace corio::db::sqlite {

namespace {

constexpr std::int64_t k_us_per_day = 86'400'000'000;

// Howard Hinnant's days_from_civil / civil_from_days, on 64-bit integers (any year a time point holds).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
    std::int64_t y;
    unsigned m;
    unsigned d;
};
Civil civil_from_days(std::int64_t z) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {y + (m <= 2), m, d};
}

bool leap(std::int64_t y) noexcept { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }
unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
    static constexpr unsigned n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : n[m - 1];
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

void append_digits(std::string& out, std::uint64_t v, int width) {
    char buf[24];
    int n = std::snprintf(buf, sizeof buf, "%0*llu", width, static_cast<unsigned long long>(v));
    out.append(buf, static_cast<std::size_t>(n));
}

/// A cursor over text being parsed.
struct Scan {
    std::string_view s;
    std::size_t i = 0;
    bool done() const noexcept { return i >= s.size(); }
    bool eat(char c) noexcept {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    /// Exactly `n` digits.
    bool digits(int n, unsigned& v) noexcept {
        v = 0;
        for (int k = 0; k < n; ++k) {
            if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
            v = v * 10 + static_cast<unsigned>(s[i++] - '0');
        }
        return true;
    }
};

/// "[+-]YYYY-MM-DD" at the cursor.
bool scan_date(Scan& sc, std::int64_t& days) noexcept {
    bool negative = false;
    bool sign = false;
    if (sc.eat('-')) negative = sign = true;
    else if (sc.eat('+')) sign = true;
    std::size_t start = sc.i;
    std::int64_t y = 0;
    while (!sc.done() && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' && sc.i - start < 7) {
        y = y * 10 + (sc.s[sc.i++] - '0');
    }
    std::size_t n = sc.i - start;
    if (n < 4 || (!sign && n != 4)) return false;
    if (negative) y = -y;
    unsigned m = 0;
    unsigned d = 0;
    if (!sc.eat('-') || !sc.digits(2, m) || !sc.eat('-') || !sc.digits(2, d)) return false;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return false;
    days = days_from_civil(y, m, d);
    return true;
}

}  // namespace

std::string format_date(std::int64_t days) {
    Civil c = civil_from_days(days);
    std::string out;
    if (c.y < 0) {
        out.push_back('-');
        append_digits(out, static_cast<std::uint64_t>(-c.y), 4);
    } else if (c.y > 9999) {
        out.push_back('+');
        append_digits(out, static_cast<std::uint64_t>(c.y), 4);
    } else {
        append_digits(out, static_cast<std::uint64_t>(c.y), 4);
    }
    out.push_back('-');
    append_digits(out, c.m, 2);
    out.push_back('-');
    append_digits(out, c.d, 2);
    return out;
}

std::string format_timestamp(std::int64_t micros) {
    std::int64_t days = floor_div(micros, k_us_per_day);
    std::int64_t rest = micros % k_us_per_day;  // not micros - days * k_us_per_day: overflows near INT64_MIN
    if (rest < 0) rest += k_us_per_day;         // [0, one day)
    std::string out = format_date(days);
    auto secs = static_cast<std::uint64_t>(rest / 1'000'000);
    auto frac = static_cast<std::uint64_t>(rest % 1'000'000);
    out.push_back(' ');
    append_digits(out, secs / 3600, 2);
    out.push_back(':');
    append_digits(out, secs / 60 % 60, 2);
    out.push_back(':');
    append_digits(out, secs % 60, 2);
    if (frac) {
        out.push_back('.');
        std::string f;
        append_digits(f, frac, 6);
        while (f.back() == '0') f.pop_back();
        out += f;
    }
    return out;
}

std::optional<std::int64_t> parse_date(std::string_view text) {
    Scan sc{text};
    std::int64_t days = 0;
    if (!scan_date(sc, days) || !sc.done()) return std::nullopt;
    return days;
}

std::optional<std::int64_t> parse_timestamp(std::string_view text, bool with_zone) {
    Scan sc{text};
    std::int64_t days = 0;
    if (!scan_date(sc, days)) return std::nullopt;
    std::int64_t us = 0;
    if (!sc.done()) {
        if (!sc.eat(' ') && !sc.eat('T')) return std::nullopt;
        unsigned h = 0;
        unsigned mi = 0;
        unsigned s = 0;
        if (!sc.digits(2, h) || !sc.eat(':') || !sc.digits(2, mi)) return std::nullopt;
        if (sc.eat(':') && !sc.digits(2, s)) return std::nullopt;
        if (h > 24 || mi > 59 || s > 60 || (h == 24 && (mi || s))) return std::nullopt;
        us = (static_cast<std::int64_t>(h) * 3600 + mi * 60 + s) * 1'000'000;
        if (sc.eat('.')) {
            std::int64_t scale = 100'000;
            std::size_t start = sc.i;
            while (!sc.done() && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9') {
                us += (sc.s[sc.i++] - '0') * scale;
                scale /= 10;
            }
            if (sc.i == start) return std::nullopt;
        }
    }
    std::int64_t offset_us = 0;
    if (!sc.done()) {
        if (!with_zone) return std::nullopt;
        if (sc.eat('Z') || sc.eat('z')) {
        } else {
            bool negative = sc.eat('-');
            if (!negative && !sc.eat('+')) return std::nullopt;
            unsigned oh = 0;
            unsigned om = 0;
            if (!sc.digits(2, oh)) return std::nullopt;
            if (sc.eat(':')) {
                if (!sc.digits(2, om)) return std::nullopt;
            } else if (!sc.done() && !sc.digits(2, om)) {
                return std::nullopt;
            }
            if (oh > 15 || om > 59) return std::nullopt;
            offset_us = (static_cast<std::int64_t>(oh) * 3600 + om * 60) * 1'000'000;
            if (negative) offset_us = -offset_us;
        }
        if (!sc.done()) return std::nullopt;
    }
    // Exact in 128 bits: the first and last days of the range hold only part of their microseconds.
    __int128 at = static_cast<__int128>(days) * k_us_per_day + us - offset_us;
    if (at > std::numeric_limits<std::int64_t>::max() || at < std::numeric_limits<std::int64_t>::min()) return std::nullopt;
    return static_cast<std::int64_t>(at);
}

std::string scalar_text(const detail::Param& p) {
    switch (p.type) {
    case Type::date: return format_date(p.i);
    case Type::timestamp:
    case Type::timestamptz: return format_timestamp(p.i);
    case Type::uuid: return p.uuid.to_string();
    default: return p.text;
    }
}

std::optional<double> special_float(std::string_view t) noexcept {
    if (t == "NaN" || t == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (t == "Infinity" || t == "inf" || t == "+Infinity") return std::numeric_limits<double>::infinity();
    if (t == "-Infinity" || t == "-inf") return -std::numeric_limits<double>::infinity();
    return std::nullopt;
}

namespace {

nlohmann::json element_json(const detail::Param& e) {
    static constexpr char digits[] = "0123456789abcdef";
    switch (e.type) {
    case Type::null: return nullptr;
    case Type::boolean: return e.b;
    case Type::int16:
    case Type::int32:
    case Type::int64: return e.i;
    case Type::float32:
    case Type::float64:
        if (std::isnan(e.f)) return "NaN";
        if (std::isinf(e.f)) return e.f > 0 ? "Infinity" : "-Infinity";
        return e.f;
    case Type::bytes: {
        std::string hex = "\\x";
        for (unsigned char c : e.text) {
            hex.push_back(digits[c >> 4]);
            hex.push_back(digits[c & 15]);
        }
        return hex;
    }
    case Type::json: return nlohmann::json::parse(e.text);
    case Type::numeric:
    case Type::text: return e.text;
    case Type::array: throw TypeError("corio::db: arrays are one-dimensional");
    default: return scalar_text(e);
    }
}

int hexval(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void element_cell(const nlohmann::json& j, Type elem, detail::Cell& c) {
    if (j.is_null()) {
        c.type = Type::null;
        return;
    }
    auto mismatch = [&] {
        c.type = elem;
        c.problem = "the JSON value " + j.dump() + " is not a " + std::string(type_name(elem));
    };
    switch (elem) {
    case Type::boolean:
        if (j.is_boolean()) c.b = j.get<bool>();
        else if (j.is_number_integer() && (j.get<std::int64_t>() == 0 || j.get<std::int64_t>() == 1)) c.b = j.get<std::int64_t>() == 1;
        else return mismatch();
        c.type = Type::boolean;
        return;
    case Type::int16:
    case Type::int32:
    case Type::int64:
        if (j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return mismatch();
        if (!j.is_number_integer()) return mismatch();
        c.type = Type::int64;
        c.i = j.get<std::int64_t>();
        return;
    case Type::float32:
    case Type::float64:
        if (j.is_number()) c.f = j.get<double>();
        else if (auto f = j.is_string() ? special_float(j.get_ref<const std::string&>()) : std::nullopt) c.f = *f;
        else return mismatch();
        c.type = Type::float64;
        return;
    case Type::numeric:
        if (j.is_string()) c.set_owned(j.get<std::string>());
        else if (j.is_number()) c.set_owned(j.dump());
        else return mismatch();
        c.type = Type::numeric;
        return;
    case Type::json:
        c.type = Type::json;
        c.set_owned(j.dump());
        return;
    default: break;
    }
    if (!j.is_string()) return mismatch();
    const std::string& s = j.get_ref<const std::string&>();
    if (elem == Type::bytes) {
        if (s.size() < 2 || s[0] != '\\' || s[1] != 'x' || s.size() % 2 != 0) return mismatch();
        std::string raw;
        raw.reserve(s.size() / 2 - 1);
        for (std::size_t k = 2; k < s.size(); k += 2) {
            int hi = hexval(s[k]);
            int lo = hexval(s[k + 1]);
            if (hi < 0 || lo < 0) return mismatch();
            raw.push_back(static_cast<char>(hi * 16 + lo));
        }
        c.type = Type::bytes;
        c.set_owned(std::move(raw));
        return;
    }
    if (elem == Type::text) {
        c.type = Type::text;
        c.set_owned(s);
        return;
    }
    read_text(s, elem, c);
    if (c.type == Type::text || c.type == Type::json || c.type == Type::numeric || c.type == Type::bytes) {
        c.set_owned(s);  // the view pointed into the parsed JSON, which does not outlive this call
    }
    c.view = {};
}

}  // namespace

std::string array_json(const detail::Param& p) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : p.elems) a.push_back(element_json(e));
    try {
        return a.dump();
    } catch (const nlohmann::json::exception& e) {
        throw TypeError(std::string("an array parameter cannot be stored as JSON text: ") + e.what());
    }
}

void read_array(std::string_view text, Type elem, detail::Cell& out) {
    out.type = Type::array;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
        out.type = Type::text;
        out.problem = "the text is not a JSON array";
        return;
    }
    if (!j.is_array()) {
        out.type = Type::text;
        out.problem = "the text is JSON but not an array";
        return;
    }
    out.elems.resize(j.size());
    for (std::size_t k = 0; k < j.size(); ++k) element_cell(j[k], elem, out.elems[k]);
}

void read_text(std::string_view text, Type want, detail::Cell& out) {
    out.view = text;
    auto fail = [&](const char* what) {
        out.type = Type::text;
        std::string shown(text.substr(0, 64));
        out.problem = "\"" + shown + (text.size() > 64 ? "..." : "") + "\" is not " + what;
    };
    switch (want) {
    case Type::date:
        if (auto d = parse_date(text)) {
            out.type = Type::date;
            out.i = *d;
        } else {
            fail("an ISO-8601 date (YYYY-MM-DD)");
        }
        return;
    case Type::timestamp:
    case Type::timestamptz:
        if (auto t = parse_timestamp(text, want == Type::timestamptz)) {
            out.type = want;
            out.i = *t;
        } else {
            fail(want == Type::timestamp ? "an ISO-8601 timestamp without a time zone (YYYY-MM-DD HH:MM:SS)"
                                         : "an ISO-8601 timestamp (YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM])");
        }
        return;
    case Type::uuid:
        if (auto u = Uuid::try_parse(text)) {
            out.type = Type::uuid;
            out.uuid = *u;
        } else {
            fail("a UUID");
        }
        return;
    case Type::float32:
    case Type::float64:
        if (auto f = special_float(text)) {
            out.type = Type::float64;
            out.f = *f;
        } else {
            fail("a number");
        }
        return;
    case Type::numeric: out.type = Type::numeric; return;
    case Type::json: out.type = Type::json; return;
    case Type::bytes: out.type = Type::bytes; return;
    default: out.type = Type::text; return;
    }
}

}  // namespace corio::db::sqlite
