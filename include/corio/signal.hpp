#pragma once
// corio::SignalSet and corio::ctrl_c: Unix signals received on the loop (asyncio's loop.add_signal_handler,
// Tokio's tokio::signal).

#include <corio/task.hpp>

#include <initializer_list>

namespace corio {

/// Receives some Unix signals on the loop instead of their default action. While a set exists, its signals
/// are caught (in whichever thread the kernel picks) and queued for wait(); a signal that arrives again
/// before it is waited for is counted once, as the kernel does. Destroying the set gives the signals back
/// their previous disposition (when no other set holds them).
///
/// Limits: SIGKILL, SIGSTOP and the signals the program's own code sends synchronously (SIGSEGV...) cannot
/// be caught; at most 32 sets exist at once. Each set owns a pipe the signal handler writes to; the pipe is
/// kept (two descriptors) and reused by the next set, so a handler still running in another thread never
/// writes to a descriptor that was closed.
///
/// Errors: std::invalid_argument for a signal that cannot be caught; std::runtime_error when 32 sets exist.
/// Thread safety: wait() from the loop thread that made the set; one waiter at a time.
///
///     corio::SignalSet signals{SIGINT, SIGTERM};
///     int sig = co_await signals.wait();   // Ctrl-C or kill: stop cleanly
class SignalSet {
public:
    SignalSet(std::initializer_list<int> signals);
    SignalSet(const SignalSet&) = delete;
    SignalSet& operator=(const SignalSet&) = delete;
    ~SignalSet();

    /// Waits for the next signal of the set (one received since the set was made and not yet returned
    /// counts) and returns its number. Cancellation: CancelledError; the signal, if any arrives, stays queued.
    [[nodiscard]] Task<int> wait();

private:
    int m_slot = -1;
};

/// Waits for Ctrl-C (SIGINT), as Tokio's `tokio::signal::ctrl_c()`: SIGINT is caught from the first
/// resumption of the task until it returns or is cancelled, then gets its previous disposition back.
[[nodiscard]] Task<void> ctrl_c();

}  // namespace corio
