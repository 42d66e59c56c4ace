#pragma once
// SQLite result codes as db errors: the SQLSTATE of the PostgreSQL condition that fits.

#include <corio/db/error.hpp>

#include <string>
#include <string_view>

namespace corio::db::sqlite {

/// The error info for an SQLite failure (`code` the extended result code, `message` sqlite3_errmsg,
/// `offset` sqlite3_error_offset or -1).
DatabaseErrorInfo error_info(int code, std::string message, int offset, std::string_view sql);

/// The failure leaves the connection unusable (I/O error, corrupt file, not a database).
bool breaks_connection(int code) noexcept;

/// "SQLITE_CONSTRAINT_UNIQUE" for the common codes, else "SQLite result code N".
std::string code_name(int code);

}  // namespace corio::db::sqlite
