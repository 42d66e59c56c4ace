#pragma once
// The pool's internals: its connections (slots), the tasks waiting for one, the counters, and COPY state.

#include "driver.hpp"

#include <corio/db/pool.hpp>
#include <corio/spawn.hpp>
#include <corio/sync/event.hpp>
#include <corio/time.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace corio::db::impl {

struct CopyState;

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
    /// listen() was used: "UNLISTEN *" before the connection is reused (also when the driver's may_listen()
    /// says a LISTEN ran as SQL).
    bool listening = false;
    /// The COPY in progress on it (its writer's or reader's state), detached when the connection goes back.
    CopyState* copy = nullptr;
    /// Pipelining (PoolOptions::pipeline): the pool's statements running on it while it is shared; > 0
    /// exactly while it is in PoolState::sharing.
    std::size_t shared = 0;
    /// Expires when the slot is freed: a Transaction can outlive the connection it ran on (a savepoint
    /// destroyed after its parent gave the connection back), and must then never look at the slot again —
    /// its memory may already hold another connection's slot.
    std::shared_ptr<char> alive = std::make_shared<char>();
};

/// A task waiting in acquire: handed a connection, or granted the right to open one.
struct Waiter {
    Event ready;
    Slot* handed = nullptr;
    bool granted = false;
    bool linked = false;
    bool pool_closed = false;
    bool shared = false;  // a pool statement that will share what it is handed (pipelining)
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
};

struct PoolState : std::enable_shared_from_this<PoolState> {
    PoolState(DatabaseUrl u, PoolOptions o) : url(std::move(u)), options(o) {}
    ~PoolState();

    DatabaseUrl url;
    PoolOptions options;
    std::vector<Slot*> idle;  // least recently used first
    std::vector<Slot*> sharing;  // connections leased to the pool's statements (pipelining), unordered
    std::size_t open = 0;     // slots alive or being opened
    Waiter* wait_head = nullptr;
    Waiter* wait_tail = nullptr;
    std::size_t waiting = 0;
    bool closed = false;
    Event drained;  // set when closed and open == 0
    PoolStatistics stats{};
    JoinHandle<void> reaper;  // closes idle connections past max_idle/max_lifetime; cancelled on close

    /// A connection for the caller (idle, or newly opened), health-checked.
    static Task<Slot*> acquire(std::shared_ptr<PoolState> self, bool shared = false);
    /// Opens one connection; `open` already counts it.
    Task<Slot*> open_one();
    /// A connection comes back: reused (after rolling back what was left open), or closed.
    void release(Slot* s) noexcept;
    /// Closes a connection and frees its place (a waiter may open one instead).
    void destroy(Slot* s) noexcept;
    /// A place counted in `open` (granted, or taken to open a connection) is given back unused: a waiter may
    /// open one instead, or close() sees the pool drained.
    void unopened() noexcept;
    /// Closes idle connections past max_idle or max_lifetime, keeping min_size open.
    void sweep(Clock::time_point now) noexcept;
    /// Starts the reaper task (when max_idle or max_lifetime is set).
    void start_reaper();
    void stop_reaper() noexcept;
    /// A connection for one of the pool's statements under pipelining: shared with others (Slot::shared
    /// counts it). Give it back with unshare().
    static Task<Slot*> acquire_shared(std::shared_ptr<PoolState> self);
    /// A shared statement ended: its place goes to a waiting statement, or the connection goes back to the
    /// pool when it was the last.
    void unshare(Slot* s) noexcept;
    /// Hands a shared connection's free places to statements waiting at the head of the queue.
    void offer_shared(Slot* s) noexcept;
    [[nodiscard]] bool expired(const Slot* s, Clock::time_point now) const noexcept;
    void grant_waiters() noexcept;
    void link(Waiter* w) noexcept;
    void unlink(Waiter* w) noexcept;
};

/// A COPY's state, owned by its CopyWriter or CopyReader (heap: the slot points at it).
struct CopyState {
    std::shared_ptr<PoolState> pool;
    Slot* slot = nullptr;              // while the COPY holds the connection
    std::optional<Connection> owned;   // Pool::copy_in/copy_out: the connection the COPY took
    std::unique_ptr<driver::CopyIn> in;
    std::unique_ptr<driver::CopyOut> out;
    std::uint64_t rows = 0;
    CopyState() = default;
    CopyState(const CopyState&) = delete;
    CopyState& operator=(const CopyState&) = delete;
    ~CopyState();
    /// The COPY is over, or abandoned (an unfinished driver COPY breaks its connection): detach from the slot.
    void end() noexcept;
};

/// The pool's way into the guards' private parts.
struct Access {
    static Connection connection(std::shared_ptr<PoolState> pool, Slot* s) noexcept {
        return Connection(std::move(pool), s);
    }
    static Transaction transaction(std::shared_ptr<PoolState> pool, Slot* s, std::size_t level,
                                   std::uint64_t serial) noexcept {
        return Transaction(std::move(pool), s, level, serial);
    }
    static void own(Transaction& tx, Connection conn) noexcept { tx.m_owned.emplace(std::move(conn)); }
    static CopyWriter writer(std::unique_ptr<CopyState> s) noexcept { return CopyWriter(std::move(s)); }
    static CopyReader reader(std::unique_ptr<CopyState> s) noexcept { return CopyReader(std::move(s)); }
    static void own(CopyWriter& w, Connection conn) noexcept { w.m_state->owned.emplace(std::move(conn)); }
    static void own(CopyReader& r, Connection conn) noexcept { r.m_state->owned.emplace(std::move(conn)); }
};

/// Before any statement on a slot: raises db::Error while a COPY is in progress on it.
void check_no_copy(const Slot* s);

/// Runs the slot's pending cleanup statements. Errors: ConnectionError when one fails (the slot is
/// poisoned).
Task<void> flush_pending(Slot* s);
/// Runs a statement on a slot (after its pending cleanup).
Task<Rows> exec_on(std::shared_ptr<PoolState> pool, Slot* s, std::string sql, std::vector<detail::Param> params);

}  // namespace corio::db::impl
