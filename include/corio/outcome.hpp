#pragma once
// corio::Outcome<T>: a finished task's value or exception (gather_settled's element).

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace corio {

/// The value a task produced, or the exception it raised.
template <class T>
class [[nodiscard]] Outcome {
public:
    static Outcome success(T v) { return Outcome(std::move(v)); }
    static Outcome failure(std::exception_ptr e) { return Outcome(std::move(e)); }

    [[nodiscard]] bool ok() const noexcept { return m_value.has_value(); }
    /// The value; rethrows the exception if the task failed.
    T& value() & {
        if (!m_value) std::rethrow_exception(m_error);
        return *m_value;
    }
    T value() && {
        if (!m_value) std::rethrow_exception(m_error);
        return std::move(*m_value);
    }
    /// The exception (null when ok()).
    [[nodiscard]] const std::exception_ptr& error() const noexcept { return m_error; }

private:
    explicit Outcome(T v) : m_value(std::move(v)) {}
    explicit Outcome(std::exception_ptr e) : m_error(std::move(e)) {}
    std::optional<T> m_value;
    std::exception_ptr m_error;
};

template <>
class [[nodiscard]] Outcome<void> {
public:
    static Outcome success() { return Outcome(nullptr); }
    static Outcome failure(std::exception_ptr e) { return Outcome(std::move(e)); }
    [[nodiscard]] bool ok() const noexcept { return !m_error; }
    void value() const {
        if (m_error) std::rethrow_exception(m_error);
    }
    [[nodiscard]] const std::exception_ptr& error() const noexcept { return m_error; }

private:
    explicit Outcome(std::exception_ptr e) : m_error(std::move(e)) {}
    std::exception_ptr m_error;
};

}  // namespace corio
