#pragma once
// The fixture of the PostgreSQL tests: the binary's shared private cluster (support/postgres.hpp), started on
// first use, and the ways to reach it (TCP, the Unix socket, a URL). Skips when PostgreSQL is not installed.

#include "postgres.hpp"

#include <corio/db/db.hpp>

#include <gtest/gtest.h>

#include <string>

namespace corio_test {

class PgTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (postgres_bin_dir().empty()) GTEST_SKIP() << "PostgreSQL's server binaries are not installed";
        pg = &shared_postgres();
        if (!pg->running()) pg->start();
    }

    /// As user postgres over TCP to 127.0.0.1.
    [[nodiscard]] corio::db::PgConfig tcp() const {
        corio::db::PgConfig c;
        c.host = "127.0.0.1";
        c.port = pg->port();
        c.user = "postgres";
        c.database = "postgres";
        c.sslmode = corio::db::SslMode::disable;
        c.application_name = "corio_test";
        return c;
    }
    /// The same over the cluster's Unix socket.
    [[nodiscard]] corio::db::PgConfig unix_socket() const {
        corio::db::PgConfig c = tcp();
        c.host = pg->socket_dir();
        return c;
    }
    /// A URL for db::connect over TCP; `query` is appended ("&name=value...").
    [[nodiscard]] std::string url(const std::string& query = "") const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(pg->port()) + "/postgres?sslmode=disable" + query;
    }

    Postgres* pg = nullptr;
};

/// The SQLSTATE of the E a task raises, "" when it succeeds (another error propagates and fails the test).
template <class E = corio::db::DatabaseError, class T>
corio::Task<std::string> sqlstate_of(corio::Task<T> task) {
    std::string state;
    try {
        (void)co_await std::move(task);
    } catch (const E& e) {
        state = e.sqlstate();
    }
    co_return state;
}

}  // namespace corio_test
