#pragma once
// The coroutine promise behind corio::Task<T>. Not part of the public API.

#include <corio/detail/node.hpp>
#include <corio/error.hpp>

#include <concepts>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace corio {
template <class T>
class Task;
}

namespace corio::detail {

/// Every corio coroutine's promise: it is a TaskNode (used when the coroutine is a root), and knows the
/// node it runs in and the coroutine awaiting it.
struct PromiseBase : TaskNode {
    std::coroutine_handle<> m_continuation;  // the awaiter, resumed by symmetric transfer
    TaskNode* m_node = nullptr;              // the node this coroutine runs in (this, for a root)
    std::exception_ptr m_exception;

    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct FinalAwaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            PromiseBase& p = h.promise();
            if (p.m_node != &p) return p.m_continuation;
            node_finished(&p, p.m_exception);  // may free the frame (a detached task)
            return std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { m_exception = std::current_exception(); }

    void rethrow_if_failed() const {
        if (m_exception) std::rethrow_exception(m_exception);
    }
};

template <class T>
concept CorioPromise = std::derived_from<T, PromiseBase>;

template <class T>
struct Promise final : PromiseBase {
    union {
        T m_value;
    };
    bool m_has_value = false;

    Promise() noexcept {}
    ~Promise() {
        if (m_has_value) m_value.~T();
    }
    Task<T> get_return_object() noexcept;
    template <class U>
        requires std::convertible_to<U&&, T>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        ::new (static_cast<void*>(std::addressof(m_value))) T(std::forward<U>(v));
        m_has_value = true;
    }
    T take() {
        rethrow_if_failed();
        return std::move(m_value);
    }
};

template <class T>
struct Promise<T&> final : PromiseBase {
    T* m_value = nullptr;
    Task<T&> get_return_object() noexcept;
    void return_value(T& v) noexcept { m_value = std::addressof(v); }
    T& take() {
        rethrow_if_failed();
        return *m_value;
    }
};

template <>
struct Promise<void> final : PromiseBase {
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() { rethrow_if_failed(); }
};

/// Awaiting a Task: it runs in the awaiter's node, started by symmetric transfer.
template <class T, bool Move>
struct TaskAwaiter {
    std::coroutine_handle<Promise<T>> m_h;

    bool await_ready() const noexcept { return false; }
    template <CorioPromise P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
        Promise<T>& c = m_h.promise();
        c.m_continuation = parent;
        c.m_node = parent.promise().m_node;
        return m_h;
    }
    decltype(auto) await_resume() {
        if constexpr (std::is_void_v<T>) {
            m_h.promise().take();
        } else if constexpr (Move || std::is_reference_v<T>) {
            return m_h.promise().take();
        } else {
            m_h.promise().rethrow_if_failed();
            return static_cast<T&>(m_h.promise().m_value);
        }
    }
};

[[noreturn]] void throw_bad_await(bool moved_from);

}  // namespace corio::detail
