#pragma once
// Reading a row into an aggregate (a plain struct): its fields are counted by brace-initialization and
// reached through a structured binding, for up to 16 fields. Not part of the public API.

#include <corio/db/detail/codec.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>

namespace corio::db::detail {

constexpr std::size_t k_max_fields = 16;

/// Converts to any field type (never called: only for counting). Not to std::optional, which also
/// constructs from it: the two paths would be ambiguous.
struct AnyField {
    template <class T>
        requires(!is_optional<T>::value)
    operator T() const;  // NOLINT(google-explicit-constructor)
};

template <class T, std::size_t N>
constexpr bool brace_constructible() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
        return requires { T{((void)I, AnyField{})...}; };
    }(std::make_index_sequence<N>{});
}

template <class T, std::size_t N = k_max_fields>
constexpr std::size_t field_count() {
    if constexpr (N == 0) return 0;
    else if constexpr (brace_constructible<T, N>()) return N;
    else return field_count<T, N - 1>();
}

template <class T>
concept Aggregate = std::is_aggregate_v<T> && std::is_default_constructible_v<T> && !std::is_array_v<T> &&
                    (field_count<T>() > 0) && !brace_constructible<T, k_max_fields + 1>();

/// Calls put(field, index) for every field of `out`, in declaration order.
template <class T, class Put>
void for_each_field(T& out, Put&& put) {
    constexpr std::size_t N = field_count<T>();
    if constexpr (N == 1) {
        auto& [f0] = out;
        put(f0, 0);
    } else if constexpr (N == 2) {
        auto& [f0, f1] = out;
        put(f0, 0); put(f1, 1);
    } else if constexpr (N == 3) {
        auto& [f0, f1, f2] = out;
        put(f0, 0); put(f1, 1); put(f2, 2);
    } else if constexpr (N == 4) {
        auto& [f0, f1, f2, f3] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3);
    } else if constexpr (N == 5) {
        auto& [f0, f1, f2, f3, f4] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4);
    } else if constexpr (N == 6) {
        auto& [f0, f1, f2, f3, f4, f5] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5);
    } else if constexpr (N == 7) {
        auto& [f0, f1, f2, f3, f4, f5, f6] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6);
    } else if constexpr (N == 8) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7);
    } else if constexpr (N == 9) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8);
    } else if constexpr (N == 10) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8); put(f9, 9);
    } else if constexpr (N == 11) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8); put(f9, 9); put(f10, 10);
    } else if constexpr (N == 12) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8); put(f9, 9); put(f10, 10); put(f11, 11);
    } else if constexpr (N == 13) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8); put(f9, 9); put(f10, 10); put(f11, 11); put(f12, 12);
    } else if constexpr (N == 14) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8); put(f9, 9); put(f10, 10); put(f11, 11); put(f12, 12); put(f13, 13);
    } else if constexpr (N == 15) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8); put(f9, 9); put(f10, 10); put(f11, 11); put(f12, 12); put(f13, 13); put(f14, 14);
    } else if constexpr (N == 16) {
        auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15] = out;
        put(f0, 0); put(f1, 1); put(f2, 2); put(f3, 3); put(f4, 4); put(f5, 5); put(f6, 6); put(f7, 7); put(f8, 8); put(f9, 9); put(f10, 10); put(f11, 11); put(f12, 12); put(f13, 13); put(f14, 14); put(f15, 15);
    }
}

}  // namespace corio::db::detail
