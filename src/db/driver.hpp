#pragma once
// The driver interface: what the pool needs from a database connection. The SQLite driver (src/db/sqlite/)
// and the PostgreSQL driver (src/db/pg/) implement it; the pool, Connection and Transaction
// (src/db/pool.cpp) are written against it only.
//
// A driver provides:
//   * a connect function, declared below, that opens one connection and returns it ready for statements;
//   * a driver::Connection subclass;
//   * a detail::ResultSet subclass (include/corio/db/detail/value.hpp) holding a statement's rows, whose
//     read(row, col, want, cell) turns a stored value into a Cell of the wanted Type (or the closest it
//     has, with Cell::problem saying why not); the generic layer turns the Cell into the C++ type.
//
// Parameters arrive encoded once as detail::Param (type tag + value; conventions in value.hpp), bound to
// $1, $2… in the SQL text. Errors the database reports are raised with db::throw_database_error(info)
// (the SQLSTATE picks the subclass); a connection that is lost or in an unknown state raises
// db::ConnectionError and reports is_broken() from then on.
//
// Everything here runs on the loop thread that opened the connection; a driver must never block that
// thread (libpq in non-blocking mode on the loop; SQLite on a thread of its own per connection).

#include <corio/db/detail/value.hpp>
#include <corio/db/pool.hpp>
#include <corio/db/url.hpp>
#include <corio/task.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corio::db::driver {

/// What a statement produced.
struct Result {
    /// Its rows (never null: a statement without rows gives an EmptyResultSet or a set with columns and
    /// no rows).
    std::shared_ptr<const detail::ResultSet> rows;
    /// Rows inserted, updated or deleted; for a statement returning rows, the number returned (as
    /// PostgreSQL's command tag "SELECT 5").
    std::uint64_t affected = 0;
};

/// COPY ... FROM STDIN in progress on a Connection (the session is reserved for it until finish() or abort()).
/// Destroyed unfinished, it leaves the session broken (the pool discards it).
class CopyIn {
public:
    virtual ~CopyIn() = default;
    /// Sends `data` (any split of the COPY stream); `data` is copied before the task first suspends.
    /// Cancellation: the session is broken. Errors: db::ConnectionError.
    virtual Task<void> write(std::string_view data) = 0;
    /// Ends the data; the rows copied. Errors: the server's (bad data: db::DatabaseError).
    virtual Task<std::uint64_t> finish() = 0;
    /// Ends the COPY with an error: nothing is copied.
    virtual Task<void> abort(std::string reason) = 0;
};

/// COPY ... TO STDOUT in progress: next() until nullopt. Destroyed unfinished: the session is broken.
class CopyOut {
public:
    virtual ~CopyOut() = default;
    /// The next chunk (a row in text format), valid until the next call; nullopt at the end.
    /// Cancellation: the session is broken. Errors: the server's; db::ConnectionError.
    virtual Task<std::optional<std::string_view>> next() = 0;
    /// Rows copied so far (the server's count at the end).
    [[nodiscard]] virtual std::uint64_t rows() const noexcept = 0;
};

/// One open database session. Owned by the pool; used by one task at a time, except that exec() may be
/// called again while a previous exec() is still running (tasks sharing a Connection guard, or the pool's
/// pipelining): the driver runs them in the order of the calls (or pipelines them, PostgreSQL).
class Connection {
public:
    virtual ~Connection() = default;

    /// Runs one statement (or, without parameters, several separated by ';', the last one's rows
    /// returned) with `params` bound to $1, $2…, the prepared statement cached per connection when
    /// PoolOptions::statement_cache_size allows.
    ///
    /// Cancellation (the contract the pool relies on): when the awaiting task is cancelled, interrupt
    /// the statement (PostgreSQL: a cancel request; SQLite: sqlite3_interrupt), wait until the connection
    /// is idle again, then raise CancelledError — or return the result if the statement finished first.
    /// Never return while other threads or the server still write into this call's frame. If the
    /// connection cannot be brought back to idle, mark it broken.
    /// Errors: db::DatabaseError subclasses; db::ConnectionError (broken afterwards); CancelledError;
    /// db::QueryCanceled when PoolOptions::statement_timeout passed.
    virtual Task<Result> exec(std::string sql, std::vector<detail::Param> params) = 0;

    /// Runs a transaction-control statement without parameters (BEGIN, COMMIT, ROLLBACK, SAVEPOINT x,
    /// RELEASE SAVEPOINT x, ROLLBACK TO SAVEPOINT x). Not interrupted by cancellation: the statement runs
    /// to its end (a cancellation is raised at the caller's next await).
    virtual Task<void> control(std::string sql) = 0;

    /// A round trip proving the connection works (health check on acquire). Errors: ConnectionError.
    virtual Task<void> ping() = 0;

    /// Closes gracefully (PostgreSQL: Terminate; SQLite: sqlite3_close on its thread). Never throws. The
    /// destructor of a connection not closed this way must close it without blocking the loop.
    virtual Task<void> close() = 0;

    /// The connection is lost or in an unknown state: the pool discards it.
    [[nodiscard]] virtual bool is_broken() const noexcept = 0;
    /// A transaction is open on the session (PQtransactionStatus; sqlite3_get_autocommit), as of the last
    /// statement: the pool rolls it back before handing the connection to someone else.
    [[nodiscard]] virtual bool in_transaction() const noexcept = 0;
    /// The statement that opens a transaction ("BEGIN"; SQLite: "BEGIN IMMEDIATE", so that two writers
    /// queue on the lock instead of failing on the upgrade from reader to writer).
    [[nodiscard]] virtual std::string_view begin_sql() const noexcept { return "BEGIN"; }

    /// LISTEN on `channel` (any name: the driver quotes it). The pool runs "UNLISTEN *" (through control())
    /// before the connection is reused. Default: db::FeatureNotSupported (SQLite has no notifications).
    virtual Task<void> listen(std::string channel);
    /// UNLISTEN `channel`.
    virtual Task<void> unlisten(std::string channel);
    /// The next notification on a channel this session listens to, waiting for one. Cancellation:
    /// CancelledError, nothing lost. Errors: db::ConnectionError.
    virtual Task<Notification> next_notification();
    /// Drops the notifications received and not yet read (the pool, after "UNLISTEN *" on a connection
    /// given back: they belong to its previous user), and may_listen() is false again. Default: nothing queued.
    virtual void discard_notifications() noexcept {}
    /// The session may listen on channels without listen(): a LISTEN ran as SQL (its command tag was seen), or
    /// a notification arrived (a LISTEN hidden in a function). The pool then runs "UNLISTEN *" too before the
    /// connection is reused. Default: false (no notifications).
    [[nodiscard]] virtual bool may_listen() const noexcept { return false; }

    /// Starts COPY ... FROM STDIN / TO STDOUT. Default: db::FeatureNotSupported (SQLite has no COPY).
    /// Errors: the server's (no such table, not a COPY of that direction).
    virtual Task<std::unique_ptr<CopyIn>> copy_in(std::string sql);
    virtual Task<std::unique_ptr<CopyOut>> copy_out(std::string sql);
};

/// Opens a PostgreSQL connection (src/db/pg/). Cancellation: a connection being opened is closed.
/// Errors: db::ConnectionError (unreachable, refused, authentication, connect_timeout), db::ConfigError.
Task<std::unique_ptr<Connection>> connect_postgres(PgConfig config, PoolOptions options);

/// Checks SQL text before any driver sees it: a NUL byte is a db::SyntaxError (42601) naming its offset.
/// libpq takes SQL as a C string and would run only the text before it; SQLite's parser stops at it.
void check_sql_text(const std::string& sql);

/// Opens an SQLite connection (src/db/sqlite/): its thread, the file, WAL, busy timeout, foreign keys.
/// Errors: db::ConnectionError (cannot open the file, not a database).
Task<std::unique_ptr<Connection>> connect_sqlite(SqliteConfig config, PoolOptions options);

}  // namespace corio::db::driver
