#pragma once
// The errors of the database layer. All derive from db::Error, itself a corio::Error. Errors the database
// reports are db::DatabaseError, subclassed per SQLSTATE (generated from PostgreSQL's errcodes.txt, see
// errors_generated.hpp); SQLite's result codes map to the same classes where they fit.

#include <corio/error.hpp>

#include <string>
#include <string_view>

namespace corio::db {

/// Base of every database error.
class Error : public corio::Error {
public:
    using corio::Error::Error;
};

/// A database URL or PoolOptions is invalid: names the part that is wrong (never the password).
class ConfigError : public Error {
public:
    using Error::Error;
};

/// Connecting failed, or an established connection was lost or broke (the server went away, a terminated
/// backend, a closed file). The connection is discarded; a new query gets a fresh one.
class ConnectionError : public Error {
public:
    using Error::Error;
};

/// No connection of the pool became free within PoolOptions::acquire_timeout.
class PoolTimeout : public Error {
public:
    using Error::Error;
};

/// query_one() found no row.
class NoRowsError : public Error {
public:
    using Error::Error;
};

/// query_one() or query_opt() found more than one row.
class TooManyRowsError : public Error {
public:
    using Error::Error;
};

/// A value cannot be read as the C++ type asked for (or a parameter cannot be sent): names the column, its
/// SQL type and the C++ type. Reading NULL into a type that is not std::optional is a TypeError too.
class TypeError : public Error {
public:
    using Error::Error;
};

/// What a database said about an error it reports (PostgreSQL's error fields; SQLite fills what it has).
struct DatabaseErrorInfo {
    std::string sqlstate;    ///< five characters: "23505"
    std::string message;     ///< the primary message
    std::string detail;      ///< PostgreSQL DETAIL; SQLite: its extended result code ("SQLITE_CONSTRAINT_UNIQUE")
    std::string hint;        ///< PostgreSQL HINT
    std::string constraint;  ///< PostgreSQL: the constraint's name; SQLite: "table.column" for UNIQUE/NOT NULL
    std::string table;
    std::string column;
    std::string schema;
    std::string severity;    ///< "ERROR", "FATAL"... (PostgreSQL)
    int position = 0;        ///< 1-based character offset into the query of the error, 0: none
    std::string query;       ///< the SQL text that failed (never its parameters)
};

/// An error the database reported, with its SQLSTATE. Catch the generated subclass for one condition
/// (db::UniqueViolation) or for a whole class (db::IntegrityConstraintViolation).
///
///     try { co_await db.execute("insert into users(email) values ($1)", email); }
///     catch (const corio::db::UniqueViolation& e) { /* e.constraint() */ }
class DatabaseError : public Error {
public:
    explicit DatabaseError(DatabaseErrorInfo info);

    [[nodiscard]] const std::string& sqlstate() const noexcept { return m_info.sqlstate; }
    [[nodiscard]] const std::string& message() const noexcept { return m_info.message; }
    [[nodiscard]] const std::string& detail() const noexcept { return m_info.detail; }
    [[nodiscard]] const std::string& hint() const noexcept { return m_info.hint; }
    [[nodiscard]] const std::string& constraint() const noexcept { return m_info.constraint; }
    [[nodiscard]] const std::string& query() const noexcept { return m_info.query; }
    [[nodiscard]] const DatabaseErrorInfo& info() const noexcept { return m_info; }

private:
    DatabaseErrorInfo m_info;
};

/// Throws the DatabaseError subclass for `info.sqlstate` (its class's base for a code the table does not
/// know, DatabaseError for a class it does not know). Used by the drivers.
[[noreturn]] void throw_database_error(DatabaseErrorInfo info);

}  // namespace corio::db

#include <corio/db/errors_generated.hpp>
