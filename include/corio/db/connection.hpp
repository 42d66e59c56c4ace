#pragma once
// db::Connection: one connection taken from a Pool, held until the guard is destroyed.

#include <corio/db/copy.hpp>
#include <corio/db/detail/queries.hpp>
#include <corio/task.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corio::db {

namespace impl {
struct PoolState;
struct Slot;
struct Access;
}  // namespace impl

class Transaction;

/// A NOTIFY received on a channel the connection LISTENs to (PostgreSQL).
struct Notification {
    std::string channel;
    std::string payload;
    int backend_pid = 0;  ///< the notifying session's server process
};

/// A connection of the pool, reserved for its holder (Pool::acquire). Statements on it run in the order
/// they were issued, in one session: use it for session state (temporary tables, SET) or several
/// statements that must see each other without a transaction.
///
/// Destroying the guard (or release()) gives the connection back. The release cannot be interrupted by
/// cancellation: a transaction left open on it is rolled back (in a background task) before anyone else
/// gets the connection, and a broken connection is closed instead of reused.
///
/// Errors of every query: as Pool::query. Thread safety: loop thread only.
///
///     auto conn = co_await db.acquire();
///     co_await conn.execute("create temp table t(x int)");
///     co_await conn.execute("insert into t values ($1)", 1);
class Connection : public detail::Queries<Connection> {
public:
    Connection() noexcept;
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    /// Starts a transaction on this connection (BEGIN; SQLite: BEGIN IMMEDIATE). See Transaction.
    /// Cancellation: BEGIN is not interrupted; a cancellation is raised at the next await.
    /// Errors: db::Error when the connection already has a transaction open through corio.
    [[nodiscard]] Task<Transaction> begin();

    /// LISTEN on `channel` (PostgreSQL; any name, quoted by the driver). The pool runs UNLISTEN * before
    /// the connection is reused. Errors: db::FeatureNotSupported on SQLite.
    ///
    ///     auto conn = co_await db.acquire();
    ///     co_await conn.listen("jobs");
    ///     auto n = co_await conn.next_notification();  // n.channel == "jobs", n.payload
    [[nodiscard]] Task<void> listen(std::string channel);
    /// UNLISTEN `channel`.
    [[nodiscard]] Task<void> unlisten(std::string channel);
    /// The next notification on a channel this connection listens to, waiting for one (received while
    /// other statements ran, they were queued). Cancellation: CancelledError, nothing lost.
    /// Errors: db::ConnectionError; db::FeatureNotSupported on SQLite.
    [[nodiscard]] Task<Notification> next_notification();

    /// Starts `COPY ... FROM STDIN` (PostgreSQL) on this connection: see CopyWriter.
    /// Cancellation: the connection is left broken (it is closed when it goes back).
    /// Errors: the server's (no such table…); db::Error when `sql` is not a COPY FROM STDIN;
    /// db::FeatureNotSupported on SQLite.
    [[nodiscard]] Task<CopyWriter> copy_in(std::string sql);
    /// Starts `COPY ... TO STDOUT` (PostgreSQL; also `COPY (select …) TO STDOUT`): see CopyReader. As copy_in.
    [[nodiscard]] Task<CopyReader> copy_out(std::string sql);

    /// Gives the connection back to the pool now (the guard becomes empty).
    void release() noexcept;
    /// True while the guard holds a connection.
    [[nodiscard]] bool valid() const noexcept { return m_slot != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    /// The connection can no longer be used (lost, closed, or in an unknown state); it will be discarded.
    [[nodiscard]] bool broken() const noexcept;

private:
    friend class detail::Queries<Connection>;
    friend class Transaction;
    friend struct impl::Access;
    Connection(std::shared_ptr<impl::PoolState> pool, impl::Slot* slot) noexcept;
    Task<Rows> run(std::string sql, std::vector<detail::Param> params) const;

    std::shared_ptr<impl::PoolState> m_pool;
    impl::Slot* m_slot = nullptr;
};

}  // namespace corio::db

#include <corio/db/transaction.hpp>
