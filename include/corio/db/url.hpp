#pragma once
// Database URLs: db::parse_url turns "postgresql://…" or "sqlite:///…" into the settings a driver uses.
//
//   postgresql://[user[:password]@][host][:port][/database][?param=value&…]   (also postgres://)
//     host: a name, an IPv4 address, [an IPv6 address], or a percent-encoded socket directory (%2Frun%2Fpg);
//     params: host=/dir (Unix socket), port, user, password, dbname, sslmode, application_name,
//             connect_timeout (seconds), and libpq's other connection keywords (passed on as they are).
//   sqlite:///relative/path.db     sqlite:////absolute/path.db     sqlite://:memory:
//     params: mode=ro|rw|rwc (default rwc: create if missing), busy_timeout (milliseconds).
//
// Every part is percent-decoded. Errors are db::ConfigError naming the part; the password is never shown
// (URLs in messages come from redact_url).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corio::db {

/// libpq's sslmode.
enum class SslMode { disable, allow, prefer, require, verify_ca, verify_full };

/// PostgreSQL connection settings. Empty strings mean "libpq's default" (its PG* environment variables,
/// then its built-in defaults).
struct PgConfig {
    std::string host;        ///< a host name or address; a path (starts with '/') is a Unix-socket directory
    std::uint16_t port = 5432;
    std::string user;
    std::string password;
    std::string database;
    SslMode sslmode = SslMode::prefer;
    std::string application_name;
    std::optional<std::chrono::seconds> connect_timeout;  ///< from the URL; else PoolOptions::connect_timeout
    /// Other libpq keywords from the URL's query (sslrootcert, options, target_session_attrs…).
    std::vector<std::pair<std::string, std::string>> extra;

    /// True when `host` names a Unix-socket directory.
    [[nodiscard]] bool unix_socket() const noexcept { return !host.empty() && host.front() == '/'; }
};

/// How an SQLite database file is opened.
enum class SqliteMode { read_only, read_write, read_write_create };

/// SQLite connection settings.
struct SqliteConfig {
    std::string path;  ///< the file (relative to the working directory unless it starts with '/')
    bool memory = false;  ///< sqlite://:memory: (path is empty)
    SqliteMode mode = SqliteMode::read_write_create;
    std::optional<std::chrono::milliseconds> busy_timeout;  ///< from the URL; else PoolOptions::busy_timeout
};

/// A parsed database URL: exactly one of pg / sqlite is set.
struct DatabaseUrl {
    std::optional<PgConfig> pg;
    std::optional<SqliteConfig> sqlite;
    /// The URL with its password replaced by "***" (for logs and messages).
    std::string redacted;
};

/// Parses a database URL. Errors: db::ConfigError naming the part that is wrong (unknown scheme, bad
/// port, bad percent-encoding, unknown parameter, a host in an sqlite URL…), never echoing the password.
///
///     auto url = corio::db::parse_url("postgresql://app:s3cret@db.local:5433/shop?sslmode=require");
///     // url.pg->host == "db.local", url.pg->port == 5433, url.pg->sslmode == SslMode::require
[[nodiscard]] DatabaseUrl parse_url(std::string_view url);

/// `url` with any password (userinfo or password= parameter) replaced by "***". Works on malformed URLs.
[[nodiscard]] std::string redact_url(std::string_view url);

/// libpq's name of an SslMode ("verify-full").
[[nodiscard]] std::string_view to_string(SslMode mode) noexcept;

}  // namespace corio::db
