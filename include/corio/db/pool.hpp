#pragma once
// db::Pool: a pool of database connections, PostgreSQL or SQLite, with one API (db::connect makes one).

#include <corio/db/connection.hpp>
#include <corio/db/detail/queries.hpp>
#include <corio/db/transaction.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace corio::db {

/// Options of a pool: `db::connect(url, {.max_size = 20, .acquire_timeout = 5s})`.
struct PoolOptions {
    /// Connections opened by connect() and kept open when idle (max_idle spares them).
    std::size_t min_size = 1;
    /// Connections open at once, busy and idle. An sqlite://:memory: pool has exactly one.
    std::size_t max_size = 10;
    /// How long acquire (and every query, which acquires) waits for a connection: db::PoolTimeout after
    /// it. Must be positive: a pool never waits forever.
    std::chrono::milliseconds acquire_timeout = std::chrono::seconds(30);
    /// A connection older than this is closed when it comes back instead of being reused. 0: no limit.
    std::chrono::milliseconds max_lifetime = std::chrono::minutes(30);
    /// An idle connection unused for this long is closed, down to min_size, by a timer of the pool (also
    /// when the pool is not used). 0: no limit.
    std::chrono::milliseconds max_idle = std::chrono::minutes(10);
    /// Check a connection that has been idle for health_check_after before handing it out (a round trip;
    /// a dead one is discarded and another taken).
    bool health_check = true;
    std::chrono::milliseconds health_check_after = std::chrono::seconds(1);
    /// Prepared statements cached per connection, keyed by SQL text (LRU). 0: none (pgbouncer in
    /// transaction pooling mode).
    std::size_t statement_cache_size = 100;
    /// A statement running longer is cancelled and raises db::QueryCanceled (SQLSTATE 57014). 0: no limit.
    std::chrono::milliseconds statement_timeout = std::chrono::milliseconds(0);
    /// PostgreSQL: the pool's own statements (pool.query, execute… — not acquire() or begin(), which stay
    /// exclusive) share connections: concurrent ones go out together on one connection in libpq pipeline
    /// mode, up to pipeline_depth at once on each, each with its own Sync (an error fails only its own
    /// statement). Such statements run in autocommit: use begin() for transactions. SQLite: ignored.
    bool pipeline = false;
    /// With pipeline: statements in flight at once on one shared connection.
    std::size_t pipeline_depth = 32;
    /// Opening one connection (a URL's connect_timeout wins).
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
    /// SQLite: how long a statement waits for another connection's lock before SQLITE_BUSY
    /// (db::LockNotAvailable). A URL's busy_timeout wins. PostgreSQL: ignored.
    std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);
    /// How long the cleanup of a connection given back may take (the ROLLBACK of a transaction left open,
    /// UNLISTEN * after LISTEN): past it the connection is closed instead of reused, so a server that stops
    /// answering (a stopped backend, a dead network path) costs that connection, never the pool's place or a
    /// close() that waits for ever. Must be positive. (SQLite: a statement running on the connection's thread
    /// cannot be abandoned: past the limit the connection is closed once that statement ends.)
    std::chrono::milliseconds cleanup_timeout = std::chrono::seconds(5);
};

/// Counters of a pool.
struct PoolStatistics {
    std::size_t size = 0;      ///< connections open (busy, idle, and being opened)
    std::size_t idle = 0;
    std::size_t in_use = 0;
    std::size_t waiting = 0;   ///< tasks waiting in acquire
    std::size_t max_size = 0;
    std::uint64_t opened = 0;  ///< connections opened, in all
    std::uint64_t closed = 0;  ///< connections closed (expired, idle, broken, pool closed)
    std::uint64_t acquired = 0;
    std::uint64_t timeouts = 0;  ///< acquires that raised PoolTimeout
    /// Statements that joined a connection already running others (PoolOptions::pipeline).
    std::uint64_t pipelined = 0;
};

/// A pool of connections to one database, shared by every task of the loop (a copy is another handle to
/// the same pool). Every statement method acquires a connection, runs, and gives it back; hold one with
/// acquire(), or a transaction with begin().
///
/// Parameters are $1, $2… for both drivers; see types.hpp for the C++ types of values.
///
/// Cancellation: a cancelled query is interrupted (PostgreSQL: a cancel request; SQLite: sqlite3_interrupt),
/// the task waits until its connection is idle again, and CancelledError is raised (a statement that
/// finished first returns its result); the connection stays in the pool. A cancelled acquire gives back
/// a connection it was handed.
/// Errors: db::DatabaseError subclasses (db::UniqueViolation…) for what the database rejects;
/// db::ConnectionError when the connection broke (it is discarded); db::PoolTimeout; db::TypeError for a
/// parameter that cannot be sent; db::QueryCanceled for statement_timeout.
/// Thread safety: a pool belongs to the loop that created it; use it from that thread only.
///
///     auto db = co_await corio::db::connect("sqlite:///app.db");
///     co_await db.execute("insert into users(name) values ($1)", name);
///     auto user = co_await db.query_one("select id, name from users where id = $1", id);
///     auto users = co_await db.query_as<User>("select id, name from users");
class Pool : public detail::Queries<Pool> {
public:
    /// An empty handle (assign one from db::connect).
    Pool() noexcept;
    Pool(const Pool&) noexcept;
    Pool(Pool&&) noexcept;
    Pool& operator=(const Pool&) noexcept;
    Pool& operator=(Pool&&) noexcept;
    /// The last handle closes the idle connections (busy ones close when they come back).
    ~Pool();

    /// Reserves a connection until the guard is destroyed.
    /// Errors: db::PoolTimeout after acquire_timeout; db::ConnectionError when opening one failed;
    /// db::Error when the pool is closed.
    [[nodiscard]] Task<Connection> acquire() const;
    /// Acquires a connection and starts a transaction on it; the connection is given back when the
    /// Transaction is destroyed.
    [[nodiscard]] Task<Transaction> begin() const;
    /// COPY ... FROM STDIN / TO STDOUT on a connection of the pool, held until the COPY ends (or its
    /// writer/reader is destroyed): as Connection::copy_in and copy_out.
    [[nodiscard]] Task<CopyWriter> copy_in(std::string sql) const;
    [[nodiscard]] Task<CopyReader> copy_out(std::string sql) const;
    /// Closes the pool: new acquires fail, idle connections close now, and this waits until every busy
    /// connection has come back and closed.
    [[nodiscard]] Task<void> close() const;

    [[nodiscard]] PoolStatistics statistics() const noexcept;
    [[nodiscard]] const PoolOptions& options() const noexcept;
    /// "postgresql" or "sqlite".
    [[nodiscard]] std::string_view backend() const noexcept;
    /// The pool's URL with the password hidden.
    [[nodiscard]] const std::string& url() const noexcept;
    [[nodiscard]] bool valid() const noexcept { return m_state != nullptr; }

private:
    friend class detail::Queries<Pool>;
    friend Task<Pool> connect(std::string url, PoolOptions options);
    explicit Pool(std::shared_ptr<impl::PoolState> state) noexcept;
    Task<Rows> run(std::string sql, std::vector<detail::Param> params) const;

    std::shared_ptr<impl::PoolState> m_state;
};

/// Opens a pool for `url` (see url.hpp): min_size connections are opened before it returns.
///
/// Cancellation: connections being opened are closed, and CancelledError is raised.
/// Errors: db::ConfigError for a malformed URL or invalid options (never echoing the password);
/// db::ConnectionError when the database cannot be reached or opened.
/// Thread safety: the pool belongs to the calling loop.
///
///     auto db = co_await corio::db::connect("postgresql://app@localhost/shop", {.max_size = 20});
[[nodiscard]] Task<Pool> connect(std::string url, PoolOptions options = {});

}  // namespace corio::db
