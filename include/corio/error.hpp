#pragma once
// The root of corio's exception hierarchy, and the core's own errors.

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace corio {

/// Every error corio raises derives from this.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Raised at a suspension point of a task that has been cancelled. Let it propagate: swallowing it
/// keeps a cancelled task alive, and the next corio await raises it again (cancellation is level-triggered).
class CancelledError : public Error {
public:
    CancelledError() : Error("task was cancelled") {}
    using Error::Error;
};

/// Raised by `corio::timeout` when the deadline passed; the inner task was cancelled and has finished.
class TimeoutError : public Error {
public:
    using Error::Error;
};

/// Raised by `corio::run` when called on a thread whose loop is already running.
class NestedLoopError : public Error {
public:
    using Error::Error;
};

/// Raised by operations that need a running loop when there is none, or when the loop has ended.
class LoopClosedError : public Error {
public:
    using Error::Error;
};

/// Raised by `Queue` operations after `close()`.
class QueueClosedError : public Error {
public:
    using Error::Error;
};

/// Raised by `TaskGroup::join` when one or more children failed: holds every child's error.
class ExceptionGroup : public Error {
public:
    explicit ExceptionGroup(std::vector<std::exception_ptr> errors);
    [[nodiscard]] const std::vector<std::exception_ptr>& exceptions() const noexcept { return m_errors; }

private:
    std::vector<std::exception_ptr> m_errors;
};

/// Raised by a low-level I/O operation that failed in the kernel: names the operation, the fd and errno.
class IoError : public Error {
public:
    IoError(const char* op, int fd, int err);
    [[nodiscard]] int code() const noexcept { return m_errno; }

private:
    int m_errno;
};

/// The text of an exception_ptr's exception ("unknown exception" for non-std ones).
[[nodiscard]] std::string describe(const std::exception_ptr& e);

}  // namespace corio
