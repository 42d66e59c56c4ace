// The driver interface's defaults: what a database without notifications or COPY (SQLite) answers.

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
Task<std::unique_ptr<CopyIn>> Connection::copy_in(std::string) {
    unsupported("COPY ... FROM STDIN");
    co_return nullptr;
}
Task<std::unique_ptr<CopyOut>> Connection::copy_out(std::string) {
    unsupported("COPY ... TO STDOUT");
    co_return nullptr;
}

}  // namespace corio::db::driver
