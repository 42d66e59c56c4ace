#pragma once
// ProcessPool's calls: how arguments travel, the trampoline a worker runs, and the compile-time checks.
// Not part of the public API.

#include <corio/offload/serialize.hpp>
#include <corio/offload/shared_array.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio::detail {

/// A std::span<const T> or std::string_view argument as it travels: its elements; in the worker, a view of
/// the received bytes (characters and bytes: no copy) or of a vector holding them (other types, for alignment).
template <class T>
struct SpanWire {
    std::span<const T> view;
    std::vector<T> owned;
};
template <class T>
inline constexpr bool is_byte_like_v = sizeof(T) == 1 && std::is_trivially_copyable_v<T>;

}  // namespace corio::detail

namespace corio {

template <class T>
struct Serializer<detail::SpanWire<T>> {
    static void write(SerialWriter& w, const detail::SpanWire<T>& s) {
        w.size(s.view.size());
        if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T> || detail::is_byte_like_v<T>) {
            w.bytes(s.view.data(), s.view.size_bytes());
        } else {
            for (const T& e : s.view) Serializer<T>::write(w, e);
        }
    }
    static detail::SpanWire<T> read(SerialReader& r) {
        detail::SpanWire<T> s;
        if constexpr (detail::is_byte_like_v<T>) {
            std::size_t n = r.size(1);
            s.view = std::span<const T>(reinterpret_cast<const T*>(r.take(n)), n);
        } else {
            s.owned = Serializer<std::vector<T>>::read(r);
            s.view = s.owned;
        }
        return s;
    }
};

}  // namespace corio

namespace corio::detail {

/// How an argument of type A travels: as itself, except character pointers (as std::string, handed to the
/// function as a pointer into the worker's copy), std::string_view and std::span<const T> (as SpanWire).
template <class A>
struct Wire {
    using type = A;
    static const A& to(const A& a) noexcept { return a; }
    static A&& unwire(A& a) noexcept { return std::move(a); }
};
template <>
struct Wire<const char*> {
    using type = std::string;
    static std::string to(const char* s) { return s ? std::string(s) : std::string(); }
    static const char* unwire(std::string& s) noexcept { return s.c_str(); }
};
template <>
struct Wire<char*> : Wire<const char*> {
    static char* unwire(std::string& s) noexcept { return s.data(); }
};
template <>
struct Wire<std::string_view> {
    using type = SpanWire<char>;
    static SpanWire<char> to(std::string_view s) { return {std::span<const char>(s.data(), s.size()), {}}; }
    static std::string_view unwire(SpanWire<char>& s) noexcept { return {s.view.data(), s.view.size()}; }
};
template <class T, std::size_t N>
struct Wire<std::span<T, N>> {
    static_assert(std::is_const_v<T>,
                  "corio::ProcessPool::submit: a std::span<T> of non-const T cannot travel (what the worker writes "
                  "into it would not come back): pass std::span<const T>, and return the values instead");
    using E = std::remove_const_t<T>;
    using type = SpanWire<E>;
    static SpanWire<E> to(std::span<T, N> s) { return {std::span<const E>(s.data(), s.size()), {}}; }
    static std::span<T, N> unwire(SpanWire<E>& s) noexcept { return std::span<T, N>(s.view.data(), s.view.size()); }
};
/// A SharedView or SharedArray travels as its place in the pool's shared heap and reaches the function as a
/// std::span<const T> of the worker's (read-only) map of the same bytes.
template <class T>
struct Wire<SharedView<T>> {
    using type = SharedRef;
    static SharedRef to(const SharedView<T>& v) noexcept { return v.ref(); }
    static std::span<const T> unwire(SharedRef& r) noexcept {
        return {static_cast<const T*>(r.at), static_cast<std::size_t>(r.bytes / sizeof(T))};
    }
};
template <class T>
struct Wire<SharedArray<T>> : Wire<SharedView<T>> {
    static SharedRef to(const SharedArray<T>& a) noexcept { return a.view().ref(); }
};
template <class A>
using wire_t = typename Wire<A>::type;

/// The value a call of F with arguments A... produces, as the awaiting task receives it.
template <class F, class... A>
using process_result_t =
    std::remove_cvref_t<std::invoke_result_t<F&, decltype(Wire<A>::unwire(std::declval<wire_t<A>&>()))...>>;

/// F is something a worker can call knowing only the program: a function pointer (free function, static
/// member) or a class without state that it can make on its own (a capture-less lambda).
template <class F>
inline constexpr bool is_function_pointer_v = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;
template <class F>
inline constexpr bool is_stateless_v =
    std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F> && std::is_trivially_copyable_v<F>;

/// Instantiated for each argument and result type, so that a compiler error names the type that cannot travel.
template <class T, bool Ok = serializable<T>>
struct check_travel {
    static_assert(Ok,
                  "corio::ProcessPool: this type (T of check_travel<T> above) cannot travel between processes. "
                  "Use arithmetic types, std::string, std::vector, std::array, std::pair, std::tuple, "
                  "std::optional, std::variant, std::map, nlohmann::json..., or give the type a member "
                  "`template <class Ar> void serialize(Ar& ar) { ar(field1, field2); }` or a "
                  "corio::Serializer<T> specialization (see <corio/offload/serialize.hpp>). Pointers, references "
                  "to the caller's memory, handles and std::function cannot travel.");
    static constexpr bool value = Ok;
};
template <class F, bool Ok = is_function_pointer_v<F> || is_stateless_v<F>>
struct check_callable {
    static_assert(Ok,
                  "corio::ProcessPool::submit: f must be a function, a static member function or a capture-less "
                  "lambda: a worker process finds it in its own copy of the program, so captured state and "
                  "std::function objects cannot travel. Pass what the lambda captured as arguments instead.");
    static constexpr bool value = Ok;
};

/// Runs in the worker: reads the arguments, calls the function, writes the result (exceptions propagate
/// to the worker's loop, which sends them back).
using Trampoline = void (*)(const void* fn, SerialReader& in, SerialWriter& out);

template <class F, class... A, std::size_t... I>
decltype(auto) call_unwired(F& f, std::tuple<wire_t<A>...>& args, std::index_sequence<I...>) {
    return std::invoke(f, Wire<A>::unwire(std::get<I>(args))...);
}

template <class F>
F make_callable(const void* fn) noexcept {
    if constexpr (is_function_pointer_v<F>) {
        return reinterpret_cast<F>(const_cast<void*>(fn));
    } else {
        (void)fn;
        return F{};
    }
}

template <class F, class... A>
void trampoline(const void* fn, SerialReader& in, SerialWriter& out) {
    std::tuple<wire_t<A>...> args{Serializer<wire_t<A>>::read(in)...};  // braced: read left to right
    F f = make_callable<F>(fn);
    using R = process_result_t<F, A...>;
    if constexpr (std::is_void_v<R>) {
        call_unwired<F, A...>(f, args, std::index_sequence_for<A...>{});
    } else {
        R r = call_unwired<F, A...>(f, args, std::index_sequence_for<A...>{});
        Serializer<R>::write(out, r);
    }
}

/// Writes the arguments (a std::tuple<A&...>) when a worker is ready for them.
template <class... A>
void write_args(const void* refs, SerialWriter& w) {
    std::apply([&w](const A&... a) {
                   (void)w;  // no arguments: nothing to write
                   (Serializer<wire_t<A>>::write(w, Wire<A>::to(a)), ...);
               },
               *static_cast<const std::tuple<A&...>*>(refs));
}

/// Reads the result into a std::optional<R>.
template <class R>
void read_result(void* out, SerialReader& r) {
    static_cast<std::optional<R>*>(out)->emplace(Serializer<R>::read(r));
    if (r.remaining() != 0)
        throw SerializationError("corio::ProcessPool: a worker's result has " + std::to_string(r.remaining()) +
                                 " bytes more than its type reads (a Serializer that writes and reads differently?)");
}

/// Calls `each(ctx, ref)` for each SharedView or SharedArray argument (a std::tuple<A&...>): the places in the
/// shared heap a worker reads in place while it runs the call.
template <class... A>
void shared_args(const void* refs, void (*each)(void* ctx, const SharedRef& r), void* ctx) {
    auto one = [&]<class T>(const T& a) {
        if constexpr (std::is_same_v<wire_t<T>, SharedRef>) each(ctx, Wire<T>::to(a));
    };
    std::apply([&](const A&... a) { (one(a), ...); }, *static_cast<const std::tuple<A&...>*>(refs));
}
template <class... A>
inline constexpr bool has_shared_args_v = (std::is_same_v<wire_t<A>, SharedRef> || ...);

/// One call as submit() describes it to the pool; everything it points to lives in submit()'s frame.
struct CallSpec {
    Trampoline tramp;
    const void* fn;                                 // null for a lambda (the trampoline makes one)
    void (*write_args)(const void* args, SerialWriter& w);
    const void* args;
    void (*read_result)(void* result, SerialReader& r);  // null for void
    void* result;
    void (*shared_args)(const void* args, void (*each)(void* ctx, const SharedRef& r), void* ctx);  // null: none
};

template <class F>
const void* function_address(const F& f) noexcept {
    if constexpr (is_function_pointer_v<F>) return reinterpret_cast<const void*>(f);
    else return nullptr;
}

template <class R>
using result_slot_t = std::conditional_t<std::is_void_v<R>, char, std::optional<R>>;

}  // namespace corio::detail
