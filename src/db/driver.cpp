// The driver interface's defaults: what a database without notifications (SQLite) answers.

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

}  // namespace corio::db::driver
