#pragma once
// gather, gather_settled, when_any: run tasks concurrently and collect them (asyncio.gather / wait).

#include <corio/detail/gather.hpp>

#include <optional>
#include <stdexcept>
#include <utility>
#include <variant>

namespace corio {

template <class T>
using gather_vector_t = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;

/// Runs every task concurrently and returns their values in order. The first failure cancels the others,
/// waits for them, and is rethrown (as a TaskGroup does).
///
/// Cancellation: cancelling the caller cancels every task and waits for them. Errors: the first failure.
/// Thread safety: loop thread only.
///
///     std::vector<corio::Task<Response>> tasks;
///     for (auto& u : urls) tasks.push_back(client.get(u));
///     auto responses = co_await corio::gather(std::move(tasks));
template <class T>
[[nodiscard]] Task<gather_vector_t<T>> gather(std::vector<Task<T>> tasks) {
    detail::check_tasks(tasks);
    detail::GroupAwaiter w({}, detail::GroupAwaiter::Mode::all);
    detail::ChildVector<T> c;
    c.start(tasks, w);
    co_await w;
    if (w.m_first) std::rethrow_exception(w.m_first->m_exception);
    if constexpr (std::is_void_v<T>) {
        for (auto& f : c.frames) f.promise().take();
    } else {
        std::vector<T> out;
        out.reserve(c.frames.size());
        for (auto& f : c.frames) out.push_back(f.promise().take());
        co_return out;
    }
}

/// Runs the given tasks (or corio awaitables) concurrently; returns a tuple of their values (std::monostate
/// for void). Failure and cancellation as the vector form.
///
///     auto [user, orders] = co_await corio::gather(get_user(id), get_orders(id));
template <detail::TaskLike... A>
    requires(sizeof...(A) > 0)
[[nodiscard]] auto gather(A&&... tasks) -> Task<std::tuple<detail::unit_t<typename detail::task_of_t<A>::value_type>...>> {
    return [](detail::task_of_t<A>... ts) -> Task<std::tuple<detail::unit_t<typename detail::task_of_t<A>::value_type>...>> {
        (detail::check_task(ts), ...);
        detail::GroupAwaiter w({}, detail::GroupAwaiter::Mode::all);
        detail::ChildTuple<typename detail::task_of_t<A>::value_type...> c(w, std::move(ts)...);
        co_await w;
        if (w.m_first) std::rethrow_exception(w.m_first->m_exception);
        co_return std::apply([](auto&... f) { return std::tuple{detail::take_unit(f.promise())...}; }, c.frames);
    }(detail::to_task(std::forward<A>(tasks))...);
}

/// Runs every task to its end, cancelling none, and returns each one's Outcome (asyncio's
/// gather(..., return_exceptions=True)).
///
/// Cancellation: cancelling the caller cancels every task and waits for them; their outcomes are returned.
template <class T>
[[nodiscard]] Task<std::vector<Outcome<T>>> gather_settled(std::vector<Task<T>> tasks) {
    detail::check_tasks(tasks);
    detail::GroupAwaiter w({}, detail::GroupAwaiter::Mode::settle);
    detail::ChildVector<T> c;
    c.start(tasks, w);
    co_await w;
    std::vector<Outcome<T>> out;
    out.reserve(c.frames.size());
    for (auto& f : c.frames) out.push_back(detail::take_outcome(f.promise()));
    co_return out;
}

/// Tuple form of gather_settled.
template <detail::TaskLike... A>
    requires(sizeof...(A) > 0)
[[nodiscard]] auto gather_settled(A&&... tasks) -> Task<std::tuple<Outcome<typename detail::task_of_t<A>::value_type>...>> {
    return [](detail::task_of_t<A>... ts) -> Task<std::tuple<Outcome<typename detail::task_of_t<A>::value_type>...>> {
        (detail::check_task(ts), ...);
        detail::GroupAwaiter w({}, detail::GroupAwaiter::Mode::settle);
        detail::ChildTuple<typename detail::task_of_t<A>::value_type...> c(w, std::move(ts)...);
        co_await w;
        co_return std::apply([](auto&... f) { return std::tuple{detail::take_outcome(f.promise())...}; }, c.frames);
    }(detail::to_task(std::forward<A>(tasks))...);
}

/// when_any's result: which task finished first, and its value.
template <class T>
struct WhenAny {
    std::size_t index;
    T value;
};
template <>
struct WhenAny<void> {
    std::size_t index;
};

/// Runs the tasks concurrently; the first to finish wins (its value is returned, or its exception
/// rethrown), the others are cancelled and awaited.
///
/// Cancellation: cancelling the caller cancels every task and waits for them; CancelledError, unless a task
/// raised another error while being cancelled (that error is raised, as gather does).
/// Errors: std::invalid_argument for no tasks; the winner's exception.
template <class T>
[[nodiscard]] Task<WhenAny<T>> when_any(std::vector<Task<T>> tasks) {
    if (tasks.empty()) throw std::invalid_argument("corio::when_any: tasks is empty");
    detail::check_tasks(tasks);
    detail::GroupAwaiter w({}, detail::GroupAwaiter::Mode::first);
    detail::ChildVector<T> c;
    c.start(tasks, w);
    co_await w;
    std::size_t i = c.index_of(w.m_first);
    auto& p = c.frames[i].promise();
    if constexpr (std::is_void_v<T>) {
        p.take();
        co_return WhenAny<void>{i};
    } else {
        co_return WhenAny<T>{i, p.take()};
    }
}

/// Tuple form of when_any: returns a variant holding the winner's value at the winner's index
/// (std::monostate for void tasks). As the vector form otherwise.
///
///     auto first = co_await corio::when_any(fetch(primary), fetch(mirror));
///     auto& body = first.index() == 0 ? std::get<0>(first) : std::get<1>(first);
template <detail::TaskLike... A>
    requires(sizeof...(A) > 0)
[[nodiscard]] auto when_any(A&&... tasks)
    -> Task<std::variant<detail::unit_t<typename detail::task_of_t<A>::value_type>...>> {
    using V = std::variant<detail::unit_t<typename detail::task_of_t<A>::value_type>...>;
    return [](detail::task_of_t<A>... ts) -> Task<V> {
        (detail::check_task(ts), ...);
        detail::GroupAwaiter w({}, detail::GroupAwaiter::Mode::first);
        detail::ChildTuple<typename detail::task_of_t<A>::value_type...> c(w, std::move(ts)...);
        co_await w;
        std::size_t winner = 0;
        while (c.nodes[winner] != w.m_first) ++winner;
        std::optional<V> out;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((I == winner ? (out.emplace(std::in_place_index<I>, detail::take_unit(std::get<I>(c.frames).promise())), 0)
                          : 0),
             ...);
        }(std::index_sequence_for<A...>{});
        co_return std::move(*out);
    }(detail::to_task(std::forward<A>(tasks))...);
}

}  // namespace corio
