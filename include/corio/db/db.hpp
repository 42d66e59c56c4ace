#pragma once
// The database layer (SQLAlchemy's async engine, asyncpg, aiosqlite): #include <corio/db/db.hpp>.
//
//     auto db = co_await corio::db::connect("sqlite:///app.db");          // or postgresql://user@host/db
//     co_await db.execute("create table if not exists users(id integer primary key, name text)");
//     co_await db.execute("insert into users(name) values ($1)", "ada");
//     auto row = co_await db.query_one("select id, name from users where name = $1", "ada");
//     std::int64_t id = row.get<std::int64_t>("id");

#include <corio/db/connection.hpp>
#include <corio/db/copy.hpp>
#include <corio/db/error.hpp>
#include <corio/db/pool.hpp>
#include <corio/db/row.hpp>
#include <corio/db/transaction.hpp>
#include <corio/db/types.hpp>
#include <corio/db/url.hpp>
