#pragma once
// The machinery behind gather, gather_settled and when_any. Not part of the public API.

#include <corio/detail/join.hpp>
#include <corio/outcome.hpp>
#include <corio/task.hpp>

#include <array>
#include <tuple>
#include <variant>
#include <vector>

namespace corio::detail {

template <class T>
using unit_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
Task<T> to_task(Task<T>&& t) noexcept {
    return std::move(t);
}
template <class A>
    requires(!is_task<std::remove_cvref_t<A>>::value)
auto to_task(A&& a) -> decltype(as_task(std::forward<A>(a))) {
    return as_task(std::forward<A>(a));
}
template <class A>
using task_of_t = decltype(to_task(std::declval<A>()));

/// A Task, or a corio awaitable that converts to one.
template <class A>
concept TaskLike = is_task<std::remove_cvref_t<A>>::value ||
                   requires(std::remove_cvref_t<A>& a) { get_awaiter(a).await_resume(); };

template <class T>
void check_task(const Task<T>& t) {
    if (!t.valid()) throw_bad_await(true);
    if (t.started()) throw_bad_await(false);
}
template <class T>
void check_tasks(const std::vector<Task<T>>& tasks) {
    for (auto& t : tasks) check_task(t);
}

template <class T>
unit_t<T> take_unit(Promise<T>& p) {
    if constexpr (std::is_void_v<T>) {
        p.take();
        return {};
    } else {
        return p.take();
    }
}

template <class T>
Outcome<T> take_outcome(Promise<T>& p) {
    if (p.m_exception) return Outcome<T>::failure(p.m_exception);
    if constexpr (std::is_void_v<T>) return Outcome<T>::success();
    else return Outcome<T>::success(p.take());
}

/// Starts every task as a child of `w`, waits per its mode; the frames stay owned by the returned vector.
template <class T>
struct ChildVector {
    std::vector<ChildFrame<T>> frames;
    std::vector<PromiseBase*> nodes;
    void start(std::vector<Task<T>>& tasks, GroupAwaiter& w) {
        frames.reserve(tasks.size());
        nodes.reserve(tasks.size());
        for (auto& t : tasks) {
            frames.push_back(start_child(std::move(t), &w));
            nodes.push_back(&frames.back().promise());
        }
        w.m_children = nodes;
        w.m_remaining = nodes.size();
    }
    std::size_t index_of(const PromiseBase* p) const noexcept {
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (nodes[i] == p) return i;
        return nodes.size();
    }
};

template <class... T>
struct ChildTuple {
    std::tuple<ChildFrame<T>...> frames;
    std::array<PromiseBase*, sizeof...(T)> nodes{};
    ChildTuple(GroupAwaiter& w, Task<T>&&... tasks) : frames{start_child(std::move(tasks), &w)...} {
        std::apply([&](auto&... f) { nodes = {&f.promise()...}; }, frames);
        w.m_children = nodes;
        w.m_remaining = nodes.size();
    }
};

}  // namespace corio::detail
