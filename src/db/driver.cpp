// The driver interface's defaults (what a database without notifications or COPY, SQLite, answers) and the
// check every statement's SQL text passes before a driver sees it.

#include "driver.hpp"

#include <corio/db/error.hpp>

namespace corio::db::driver {

namespace {
[[noreturn]] void unsupported(const char* what) {
    DatabaseErrorInfo info;
    info.sqlstate = "0A000";
    info.severity = "ERROR";
    info.message = std::string(what) + " is not supported by this database (PostgreSQL only)";
    throw_database_error(std::move(info));
}
}  // namespace

void check_sql_text(const std::string& sql) {
    if (auto at = sql.find('\0'); at != std::string::npos) {
        DatabaseErrorInfo info;
        info.sqlstate = "42601";
        info.severity = "ERROR";
        info.message = "the SQL text contains a NUL byte (at offset " + std::to_string(at) + ")";
        info.query = sql;
        throw_database_error(std::move(info));
    }
}

Task<void> Connection::listen(std::string) {
    unsupported("LISTEN");
    co_return;
}
Task<void> Connection::unlisten(std::string) {
    unsupported("UNLISTEN");
    co_return;
}
Task<Notification> Connection::next_notification() {
    unsupported("waiting for a notification");
    co_return Notification{};
}
Task<std::unique_ptr<CopyIn>> Connection::copy_in(std::string) {
    unsupported("COPY ... FROM STDIN");
    co_return nullptr;
}
Task<std::unique_ptr<CopyOut>> Connection::copy_out(std::string) {
    unsupported("COPY ... TO STDOUT");
    co_return nullptr;
}

}  // namespace corio::db::driver
