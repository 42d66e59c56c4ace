#pragma once
// The built-in corio::Serializer specializations (see <corio/offload/serialize.hpp>). Not included directly.

#include <corio/offload/serialize.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace corio {

namespace detail {
template <class T>
inline constexpr bool is_plain_v = (std::is_arithmetic_v<T> || std::is_enum_v<T>)&&!std::is_same_v<T, bool>;
}  // namespace detail

template <class T>
    requires std::is_arithmetic_v<T> || std::is_enum_v<T>
struct Serializer<T> {
    static void write(SerialWriter& w, T v) { w.bytes(&v, sizeof v); }
    static T read(SerialReader& r) {
        if constexpr (std::is_same_v<T, bool>) {
            return *r.take(1) != 0;  // never an invalid bool
        } else {
            T v;
            r.bytes(&v, sizeof v);
            return v;
        }
    }
};

template <class C, class Tr, class A>
    requires std::is_trivially_copyable_v<C>
struct Serializer<std::basic_string<C, Tr, A>> {
    using S = std::basic_string<C, Tr, A>;
    static void write(SerialWriter& w, const S& s) {
        w.size(s.size());
        w.bytes(s.data(), s.size() * sizeof(C));
    }
    static S read(SerialReader& r) {
        std::size_t n = r.size(sizeof(C));
        S s(n, C{});
        r.bytes(s.data(), n * sizeof(C));
        return s;
    }
};

template <serializable T, class A>
struct Serializer<std::vector<T, A>> {
    static void write(SerialWriter& w, const std::vector<T, A>& v) {
        w.size(v.size());
        if constexpr (detail::is_plain_v<T>) {
            w.bytes(v.data(), v.size() * sizeof(T));
        } else {
            for (const auto& e : v) Serializer<T>::write(w, e);  // vector<bool> too (its proxies convert)
        }
    }
    static std::vector<T, A> read(SerialReader& r) {
        std::vector<T, A> v;
        if constexpr (detail::is_plain_v<T>) {
            v.resize(r.size(sizeof(T)));
            r.bytes(v.data(), v.size() * sizeof(T));
        } else {
            std::size_t n = r.size();
            v.reserve(n < r.remaining() ? n : r.remaining());
            for (std::size_t i = 0; i < n; ++i) v.push_back(Serializer<T>::read(r));
        }
        return v;
    }
};

template <serializable T, std::size_t N>
    requires std::is_default_constructible_v<T>
struct Serializer<std::array<T, N>> {
    static void write(SerialWriter& w, const std::array<T, N>& a) {
        if constexpr (detail::is_plain_v<T>) w.bytes(a.data(), sizeof a);
        else
            for (const auto& e : a) Serializer<T>::write(w, e);
    }
    static std::array<T, N> read(SerialReader& r) {
        std::array<T, N> a;
        if constexpr (detail::is_plain_v<T>) r.bytes(a.data(), sizeof a);
        else
            for (auto& e : a) e = Serializer<T>::read(r);
        return a;
    }
};

template <serializable A, serializable B>
struct Serializer<std::pair<A, B>> {
    static void write(SerialWriter& w, const std::pair<A, B>& p) { w(p.first, p.second); }
    static std::pair<A, B> read(SerialReader& r) {
        A a = Serializer<A>::read(r);  // in order: the arguments of a call have none
        return std::pair<A, B>(std::move(a), Serializer<B>::read(r));
    }
};

template <serializable... T>
struct Serializer<std::tuple<T...>> {
    static void write(SerialWriter& w, const std::tuple<T...>& t) {
        std::apply([&w](const T&... e) { w(e...); }, t);
    }
    static std::tuple<T...> read(SerialReader& r) {
        return std::tuple<T...>{Serializer<T>::read(r)...};  // braced: evaluated left to right
    }
};

template <serializable T>
struct Serializer<std::optional<T>> {
    static void write(SerialWriter& w, const std::optional<T>& o) {
        w(o.has_value());
        if (o) Serializer<T>::write(w, *o);
    }
    static std::optional<T> read(SerialReader& r) {
        if (!r.read<bool>()) return std::nullopt;
        return Serializer<T>::read(r);
    }
};

template <>
struct Serializer<std::monostate> {
    static void write(SerialWriter&, std::monostate) {}
    static std::monostate read(SerialReader&) { return {}; }
};

template <serializable... T>
struct Serializer<std::variant<T...>> {
    using V = std::variant<T...>;
    static void write(SerialWriter& w, const V& v) {
        w.size(v.index());
        std::visit([&w](const auto& e) { w(e); }, v);
    }
    static V read(SerialReader& r) {
        std::size_t i = r.size();
        if (i >= sizeof...(T))
            throw SerializationError("corio: a serialized std::variant has no alternative " + std::to_string(i));
        return read_at(r, i, std::index_sequence_for<T...>{});
    }
    template <std::size_t... I>
    static V read_at(SerialReader& r, std::size_t i, std::index_sequence<I...>) {
        using Read = V (*)(SerialReader&);
        static constexpr Read table[] = {+[](SerialReader& rr) -> V {
            return V(std::in_place_index<I>, Serializer<std::variant_alternative_t<I, V>>::read(rr));
        }...};
        return table[i](r);
    }
};

namespace detail {
template <class M>
struct MapSerializer {  // std::map, std::unordered_map, std::set: a count and the elements
    static void write(SerialWriter& w, const M& m) {
        w.size(m.size());
        for (const auto& e : m) {
            if constexpr (requires { typename M::mapped_type; }) w(e.first, e.second);
            else w(e);
        }
    }
    static M read(SerialReader& r) {
        M m;
        std::size_t n = r.size();
        for (std::size_t i = 0; i < n; ++i) {
            if constexpr (requires { typename M::mapped_type; }) {
                auto k = Serializer<typename M::key_type>::read(r);
                m.emplace(std::move(k), Serializer<typename M::mapped_type>::read(r));
            } else {
                m.insert(Serializer<typename M::key_type>::read(r));
            }
        }
        return m;
    }
};
}  // namespace detail

template <serializable K, serializable V, class C, class A>
struct Serializer<std::map<K, V, C, A>> : detail::MapSerializer<std::map<K, V, C, A>> {};
template <serializable K, serializable V, class H, class E, class A>
struct Serializer<std::unordered_map<K, V, H, E, A>> : detail::MapSerializer<std::unordered_map<K, V, H, E, A>> {};
template <serializable K, class C, class A>
struct Serializer<std::set<K, C, A>> : detail::MapSerializer<std::set<K, C, A>> {};

template <class Rep, class Period>
    requires std::is_arithmetic_v<Rep>
struct Serializer<std::chrono::duration<Rep, Period>> {
    using D = std::chrono::duration<Rep, Period>;
    static void write(SerialWriter& w, D d) { w(d.count()); }
    static D read(SerialReader& r) { return D(r.read<Rep>()); }
};

/// nlohmann::json (and ordered_json), found by its CBOR functions so that this header need not include it.
template <class J>
    requires requires(const J& j, const std::vector<std::uint8_t>& bytes) {
        { J::to_cbor(j) } -> std::same_as<std::vector<std::uint8_t>>;
        J::from_cbor(bytes);
    }
struct Serializer<J> {
    static void write(SerialWriter& w, const J& j) {
        std::vector<std::uint8_t> b = J::to_cbor(j);
        w.size(b.size());
        w.bytes(b.data(), b.size());
    }
    static J read(SerialReader& r) {
        std::size_t n = r.size(1);
        const auto* p = reinterpret_cast<const std::uint8_t*>(r.take(n));
        try {
            return J::from_cbor(p, p + n);
        } catch (const std::exception& e) {
            throw SerializationError(std::string("corio: a serialized JSON value did not decode: ") + e.what());
        }
    }
};

namespace detail {
struct WriteArchive {  // what a member serialize(ar) gets when writing
    SerialWriter* w;
    template <class... T>
    void operator()(const T&... v) {
        (*w)(v...);
    }
};
struct ReadArchive {
    SerialReader* r;
    template <class... T>
    void operator()(T&... v) {
        (*r)(v...);
    }
};
}  // namespace detail

/// User types with `template <class Ar> void serialize(Ar& ar) { ar(fields...); }`.
template <class T>
    requires std::is_class_v<T> && std::is_default_constructible_v<T> &&
             requires(T& t, detail::WriteArchive& w, detail::ReadArchive& r) {
                 t.serialize(w);
                 t.serialize(r);
             }
struct Serializer<T> {
    static void write(SerialWriter& w, const T& v) {
        detail::WriteArchive ar{&w};
        const_cast<T&>(v).serialize(ar);  // serialize() only reads the fields when given a WriteArchive
    }
    static T read(SerialReader& r) {
        T v{};
        detail::ReadArchive ar{&r};
        v.serialize(ar);
        return v;
    }
};

}  // namespace corio
