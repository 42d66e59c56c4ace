#pragma once
// The pool's internals: its connections (slots), the tasks waiting for one, and the counters.

#include "driver.hpp"

#include <corio/db/pool.hpp>
#include <corio/sync/event.hpp>
#include <corio/time.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corio::db::impl {

/// One connection of the pool. Owned by the pool while idle, by a guard (Connection) while in use; freed
/// by PoolState::destroy.
struct Slot {
    std::unique_ptr<driver::Connection> conn;
    Clock::time_point created{};
    Clock::time_point idle_since{};
    /// The open transaction levels, outermost first: each Transaction's serial (active while its level is
    /// here with its serial).
    std::vector<std::uint64_t> tx;
    std::uint64_t next_serial = 0;
    /// Statements to run before the next one: the rollback of a Transaction destroyed while open.
    std::vector<std::string> pending;
    /// A cleanup failed: the session's state is unknown, so the slot is closed when it comes back.
    bool poisoned = false;
    /// LISTEN was used: "UNLISTEN *" before the connection is reused.
    bool listening = false;
};

/// A task waiting in acquire: handed a connection, or granted the right to open one.
struct Waiter {
    Event ready;
    Slot* handed = nullptr;
    bool granted = false;
    bool linked = false;
    bool pool_closed = false;
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
};

struct PoolState : std::enable_shared_from_this<PoolState> {
    PoolState(DatabaseUrl u, PoolOptions o) : url(std::move(u)), options(o) {}
    ~PoolState();

    DatabaseUrl url;
    PoolOptions options;
    std::vector<Slot*> idle;  // least recently used first
    std::size_t open = 0;     // slots alive or being opened
    Waiter* wait_head = nullptr;
    Waiter* wait_tail = nullptr;
    std::size_t waiting = 0;
    bool closed = false;
    Event drained;  // set when closed and open == 0
    PoolStatistics stats{};

    /// A connection for the caller (idle, or newly opened), health-checked.
    static Task<Slot*> acquire(std::shared_ptr<PoolState> self);
    /// Opens one connection; `open` already counts it.
    Task<Slot*> open_one();
    /// A connection comes back: reused (after rolling back what was left open), or closed.
    void release(Slot* s) noexcept;
    /// Closes a connection and frees its place (a waiter may open one instead).
    void destroy(Slot* s) noexcept;
    /// Closes idle connections past max_idle or max_lifetime, keeping min_size open.
    void sweep() noexcept;
    [[nodiscard]] bool expired(const Slot* s, Clock::time_point now) const noexcept;
    void grant_waiters() noexcept;
    void link(Waiter* w) noexcept;
    void unlink(Waiter* w) noexcept;
};

/// Runs the slot's pending cleanup statements. Errors: ConnectionError when one fails (the slot is
/// poisoned).
Task<void> flush_pending(Slot* s);
/// Runs a statement on a slot (after its pending cleanup).
Task<Rows> exec_on(std::shared_ptr<PoolState> pool, Slot* s, std::string sql, std::vector<detail::Param> params);

}  // namespace corio::db::impl
