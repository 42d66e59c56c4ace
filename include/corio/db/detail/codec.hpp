#pragma once
// C++ type <-> Param/Cell: one Traits specialization per supported C++ type. Not part of the public API.
//
// Traits<T>::type      the Type a parameter of T is sent as (and the Want when reading T)
// Traits<T>::encode    T -> Param
// Traits<T>::decode    Cell -> T; false (with an optional reason) when the cell does not fit
// Traits<T>::name()    the C++ type's name in messages

#include <corio/db/detail/value.hpp>
#include <corio/db/error.hpp>
#include <corio/db/types.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <ratio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio::db::detail {

template <class T>
struct Traits;  // not defined: the type is not supported

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
concept Encodable = requires(const T& v, Param& p) { Traits<T>::encode(v, p); };
template <class T>
concept Decodable = requires(const Cell& c, T& v, std::string& why) {
    { Traits<T>::decode(c, v, why) } -> std::same_as<bool>;
};

[[noreturn]] void throw_param_range(std::string_view cxx, std::string value);
[[nodiscard]] std::string integer_name(bool is_signed, std::size_t bytes);
[[nodiscard]] bool is_integer(Type t) noexcept;

template <>
struct Traits<bool> {
    static constexpr Type type = Type::boolean;
    static void encode(bool v, Param& p) noexcept {
        p.type = type;
        p.b = v;
    }
    static bool decode(const Cell& c, bool& v, std::string&) noexcept {
        if (c.type != Type::boolean) return false;
        v = c.b;
        return true;
    }
    static std::string name() { return "bool"; }
};

template <class T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
                  !std::same_as<T, wchar_t> && !std::same_as<T, char8_t> && !std::same_as<T, char16_t> &&
                  !std::same_as<T, char32_t>;

template <Integer T>
struct Traits<T> {
    // The smallest SQL integer holding every T.
    static constexpr Type type = (std::is_signed_v<T> ? sizeof(T) <= 2 : sizeof(T) < 2)   ? Type::int16
                                 : (std::is_signed_v<T> ? sizeof(T) <= 4 : sizeof(T) < 4) ? Type::int32
                                                                                           : Type::int64;
    static void encode(T v, Param& p) {
        if (!std::in_range<std::int64_t>(v)) throw_param_range(name(), std::to_string(v));
        p.type = type;
        p.i = static_cast<std::int64_t>(v);
    }
    static bool decode(const Cell& c, T& v, std::string& why) {
        if (!is_integer(c.type)) return false;
        if (!std::in_range<T>(c.i)) {
            why = "the value " + std::to_string(c.i) + " is out of its range";
            return false;
        }
        v = static_cast<T>(c.i);
        return true;
    }
    static std::string name() { return integer_name(std::is_signed_v<T>, sizeof(T)); }
};

template <std::floating_point T>
struct Traits<T> {
    static constexpr Type type = sizeof(T) <= 4 ? Type::float32 : Type::float64;
    static void encode(T v, Param& p) noexcept {
        p.type = type;
        p.f = static_cast<double>(v);
    }
    static bool decode(const Cell& c, T& v, std::string& why) {
        if (c.type == Type::float32 || c.type == Type::float64) {
            if (std::isfinite(c.f) && std::abs(c.f) > static_cast<double>(std::numeric_limits<T>::max())) {
                why = "the value is out of the range of " + name();  // (the cast would be undefined)
                return false;
            }
            v = static_cast<T>(c.f);
        } else if (is_integer(c.type)) {
            v = static_cast<T>(c.i);
        } else {
            return false;
        }
        return true;
    }
    static std::string name() { return sizeof(T) <= 4 ? "float" : sizeof(T) == 8 ? "double" : "long double"; }
};

template <>
struct Traits<Numeric> {
    static constexpr Type type = Type::numeric;
    static void encode(const Numeric& v, Param& p) {
        p.type = type;
        p.text = v.str();
    }
    static bool decode(const Cell& c, Numeric& v, std::string&) {
        if (c.type == Type::numeric) v = Numeric(std::string(c.str()));
        else if (is_integer(c.type)) v = Numeric(std::to_string(c.i));
        else return false;
        return true;
    }
    static std::string name() { return "corio::db::Numeric"; }
};

template <>
struct Traits<std::string> {
    static constexpr Type type = Type::text;
    static void encode(const std::string& v, Param& p) {
        p.type = type;
        p.text = v;
    }
    static bool decode(const Cell& c, std::string& v, std::string&) {
        if (c.type == Type::text || c.type == Type::numeric || c.type == Type::json) v.assign(c.str());
        else if (c.type == Type::uuid) v = c.uuid.to_string();
        else return false;
        return true;
    }
    static std::string name() { return "std::string"; }
};
template <>
struct Traits<std::string_view> {
    static constexpr Type type = Type::text;
    static void encode(std::string_view v, Param& p) {
        p.type = type;
        p.text.assign(v);
    }
    static std::string name() { return "std::string_view"; }
};
template <>
struct Traits<const char*> {
    static constexpr Type type = Type::text;
    static void encode(const char* v, Param& p) {
        if (!v) {
            p.type = Type::null;
            return;
        }
        p.type = type;
        p.text.assign(v);
    }
    static std::string name() { return "const char*"; }
};
template <>
struct Traits<char*> : Traits<const char*> {};

template <>
struct Traits<Bytes> {
    static constexpr Type type = Type::bytes;
    static void encode(const Bytes& v, Param& p) {
        p.type = type;
        p.text.assign(reinterpret_cast<const char*>(v.data()), v.size());
    }
    static bool decode(const Cell& c, Bytes& v, std::string&) {
        if (c.type != Type::bytes) return false;
        auto s = c.str();
        const auto* b = reinterpret_cast<const std::byte*>(s.data());
        v.assign(b, b + s.size());
        return true;
    }
    static std::string name() { return "std::vector<std::byte>"; }
};

template <>
struct Traits<Date> {
    static constexpr Type type = Type::date;
    static void encode(Date v, Param& p) noexcept {
        p.type = type;
        p.i = v.time_since_epoch().count();
    }
    static bool decode(const Cell& c, Date& v, std::string&) noexcept {
        if (c.type != Type::date) return false;
        v = Date(std::chrono::days(c.i));
        return true;
    }
    static std::string name() { return "std::chrono::sys_days"; }
};
template <>
struct Traits<std::chrono::local_days> {
    static constexpr Type type = Type::date;
    static void encode(std::chrono::local_days v, Param& p) noexcept {
        p.type = type;
        p.i = v.time_since_epoch().count();
    }
    static bool decode(const Cell& c, std::chrono::local_days& v, std::string&) noexcept {
        if (c.type != Type::date) return false;
        v = std::chrono::local_days(std::chrono::days(c.i));
        return true;
    }
    static std::string name() { return "std::chrono::local_days"; }
};
template <>
struct Traits<std::chrono::year_month_day> {
    static constexpr Type type = Type::date;
    static void encode(std::chrono::year_month_day v, Param& p) {
        if (!v.ok()) throw_param_range(name(), "an invalid date");
        Traits<Date>::encode(Date(v), p);
    }
    static bool decode(const Cell& c, std::chrono::year_month_day& v, std::string& why) {
        Date d;
        if (!Traits<Date>::decode(c, d, why)) return false;
        v = std::chrono::year_month_day(d);
        return true;
    }
    static std::string name() { return "std::chrono::year_month_day"; }
};

/// Time points of microsecond precision or finer (timestamp, timestamptz).
template <class D>
concept SubDay = !std::same_as<D, std::chrono::days> && std::ratio_less_equal_v<typename D::period, std::ratio<1>>;
template <class D>
concept MicroOrFiner = std::ratio_less_equal_v<typename D::period, std::micro>;

template <class Clock, class D, Type K>
struct TimePointTraits {
    using TP = std::chrono::time_point<Clock, D>;
    static constexpr Type type = K;
    static void encode(TP v, Param& p) {
        if constexpr (!MicroOrFiner<D>) {  // a coarser unit: its extremes do not fit in microseconds
            if (v.time_since_epoch() > std::chrono::floor<D>(std::chrono::microseconds::max()) ||
                v.time_since_epoch() < std::chrono::ceil<D>(std::chrono::microseconds::min())) {
                throw_param_range("std::chrono::time_point", "a time beyond the microsecond range");
            }
        }
        p.type = type;
        p.i = std::chrono::floor<std::chrono::microseconds>(v).time_since_epoch().count();
    }
    static bool decode(const Cell& c, TP& v, std::string& why) {
        std::int64_t us;
        if (c.type == K) {
            us = c.i;
        } else if (K == Type::timestamp && c.type == Type::date) {
            constexpr std::int64_t us_per_day = 86'400'000'000;
            if (c.i > std::numeric_limits<std::int64_t>::max() / us_per_day ||
                c.i < std::numeric_limits<std::int64_t>::min() / us_per_day) {
                why = "the date is out of the range of a time point in microseconds";
                return false;
            }
            us = c.i * us_per_day;
        } else {
            return false;
        }
        if constexpr (MicroOrFiner<D>) {
            constexpr auto per_us = std::chrono::duration_cast<D>(std::chrono::microseconds(1)).count();
            if (us > std::numeric_limits<typename D::rep>::max() / per_us ||
                us < std::numeric_limits<typename D::rep>::min() / per_us) {
                why = "the time is out of the range of its duration";
                return false;
            }
            v = TP(std::chrono::duration_cast<D>(std::chrono::microseconds(us)));
        } else {
            v = TP(std::chrono::floor<D>(std::chrono::microseconds(us)));
        }
        return true;
    }
};
template <SubDay D>
struct Traits<std::chrono::sys_time<D>> : TimePointTraits<std::chrono::system_clock, D, Type::timestamptz> {
    static std::string name() {
        return std::is_same_v<D, std::chrono::microseconds> ? "std::chrono::sys_time<std::chrono::microseconds>"
                                                            : "std::chrono::sys_time<...>";
    }
};
template <SubDay D>
struct Traits<std::chrono::local_time<D>> : TimePointTraits<std::chrono::local_t, D, Type::timestamp> {
    static std::string name() {
        return std::is_same_v<D, std::chrono::microseconds> ? "std::chrono::local_time<std::chrono::microseconds>"
                                                            : "std::chrono::local_time<...>";
    }
};

template <>
struct Traits<Uuid> {
    static constexpr Type type = Type::uuid;
    static void encode(const Uuid& v, Param& p) noexcept {
        p.type = type;
        p.uuid = v;
    }
    static bool decode(const Cell& c, Uuid& v, std::string&) noexcept {
        if (c.type != Type::uuid) return false;
        v = c.uuid;
        return true;
    }
    static std::string name() { return "corio::db::Uuid"; }
};

bool decode_json(const Cell& c, nlohmann::json& v, std::string& why);

template <>
struct Traits<nlohmann::json> {
    static constexpr Type type = Type::json;
    static void encode(const nlohmann::json& v, Param& p) {
        p.type = type;
        p.text = v.dump();
    }
    static bool decode(const Cell& c, nlohmann::json& v, std::string& why) { return decode_json(c, v, why); }
    static std::string name() { return "nlohmann::json"; }
};

template <class T>
struct Traits<std::optional<T>> {
    static constexpr Type type = Traits<T>::type;
    static void encode(const std::optional<T>& v, Param& p) {
        if (v) Traits<T>::encode(*v, p);
        else p.type = Type::null;
    }
    static bool decode(const Cell& c, std::optional<T>& v, std::string& why)
        requires Decodable<T>
    {
        if (c.type == Type::null) {
            v.reset();
            return true;
        }
        T inner{};
        if (!Traits<T>::decode(c, inner, why)) return false;
        v = std::move(inner);
        return true;
    }
    static std::string name() { return "std::optional<" + Traits<T>::name() + ">"; }
};

template <>
struct Traits<std::nullopt_t> {
    static constexpr Type type = Type::null;
    static void encode(std::nullopt_t, Param& p) noexcept { p.type = Type::null; }
    static std::string name() { return "std::nullopt_t"; }
};
template <>
struct Traits<std::nullptr_t> {
    static constexpr Type type = Type::null;
    static void encode(std::nullptr_t, Param& p) noexcept { p.type = Type::null; }
    static std::string name() { return "std::nullptr_t"; }
};

/// One-dimensional arrays (std::vector<std::byte> is bytea, not an array).
template <class T>
    requires(!std::same_as<T, std::byte>)
struct Traits<std::vector<T>> {
    static_assert(Traits<T>::type != Type::array, "corio::db: arrays are one-dimensional");
    static constexpr Type type = Type::array;
    static constexpr Type elem = Traits<T>::type;
    static void encode(const std::vector<T>& v, Param& p) {
        p.type = type;
        p.elem = elem;
        p.elems.resize(v.size());
        for (std::size_t k = 0; k < v.size(); ++k) Traits<T>::encode(v[k], p.elems[k]);
    }
    static bool decode(const Cell& c, std::vector<T>& v, std::string& why)
        requires Decodable<T>
    {
        if (c.type != Type::array) return false;
        v.clear();
        v.reserve(c.elems.size());
        for (std::size_t k = 0; k < c.elems.size(); ++k) {
            const Cell& e = c.elems[k];
            if (e.type == Type::null && !is_optional<T>::value) {
                why = "element " + std::to_string(k) + " is NULL (read the elements as std::optional)";
                return false;
            }
            T x{};
            if (!e.problem.empty() || !Traits<T>::decode(e, x, why)) {
                why = "element " + std::to_string(k) + (why.empty() ? std::string() : ": " + why) +
                      (e.problem.empty() ? std::string() : ": " + e.problem);
                return false;
            }
            v.push_back(std::move(x));
        }
        return true;
    }
    static std::string name() { return "std::vector<" + Traits<T>::name() + ">"; }
};

/// A parameter list, encoded.
template <class... P>
std::vector<Param> encode_params(const P&... params) {
    static_assert((Encodable<std::decay_t<P>> && ...), "corio::db: a parameter's type is not supported");
    std::vector<Param> out(sizeof...(P));
    std::size_t k = 0;
    ((Traits<std::decay_t<P>>::encode(params, out[k++])), ...);
    return out;
}

[[noreturn]] void throw_null(const ResultSet& rs, std::size_t row, std::size_t col, std::string_view cxx);
[[noreturn]] void throw_mismatch(const ResultSet& rs, std::size_t row, std::size_t col, std::string_view cxx,
                                 const Cell& cell, const std::string& why);

/// The value at (row, col) as a T.
template <class T>
T read_value(const ResultSet& rs, std::size_t row, std::size_t col) {
    static_assert(Decodable<T>, "corio::db: this type cannot be read from a row");
    if (rs.is_null(row, col)) {
        if constexpr (is_optional<T>::value) return T{};
        else throw_null(rs, row, col, Traits<T>::name());
    }
    using Inner = std::conditional_t<is_optional<T>::value, T, std::optional<T>>;
    using Base = typename Inner::value_type;
    Want want;
    if constexpr (Traits<Base>::type == Type::array) want = {Type::array, Traits<Base>::elem};
    else want = {Traits<Base>::type, Type::null};
    Cell cell;
    rs.read(row, col, want, cell);
    T out{};
    std::string why;
    if (!cell.problem.empty() || !Traits<T>::decode(cell, out, why)) throw_mismatch(rs, row, col, Traits<T>::name(), cell, why);
    return out;
}

}  // namespace corio::db::detail
