// The public database API (db::connect, Pool, Connection, Transaction, Row) against a private PostgreSQL
// cluster, through the PostgreSQL driver (src/db/pg/driver.cpp): URLs over TCP and a Unix socket, queries,
// every value type, transactions and savepoints, errors, concurrency, cancellation, a terminated backend,
// statement_timeout and LISTEN/NOTIFY.

#include <corio/corio.hpp>
#include <corio/db/db.hpp>

#include "support/pg_fixture.hpp"
#include "support/pg_proxy.hpp"
#include "support/tls_certs.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

using namespace std::chrono_literals;
using namespace corio;
using corio_test::run_bounded;
using corio_test::error_of;
using corio_test::contains;
using corio_test::joined;
using corio_test::sqlstate_of;
using corio_test::Postgres;

namespace {

class DbPg : public corio_test::PgTest {};

template <class T>
Task<T> echo(db::Pool db, std::string type, T v) {
    auto row = co_await db.query_one("select $1::" + type, v);
    co_return row.template get<T>(0);
}

struct Item {
    std::int32_t id;
    std::string name;
    std::optional<double> price;
    std::vector<std::string> tags;
};

}  // namespace

TEST_F(DbPg, ConnectsByUrlOverTcpUnixSocketAndWithAPassword) {
    run_bounded([&]() -> Task<void> {
        auto a = co_await db::connect(url());
        EXPECT_EQ((co_await a.query_one("select 41 + 1")).get<int>(0), 42);
        auto b = co_await db::connect("postgresql:///postgres?host=" + pg->socket_dir() + "&port=" +
                                      std::to_string(pg->port()) + "&user=postgres");
        EXPECT_EQ((co_await b.query_one("select current_user")).get<std::string>(0), "postgres");
        auto c = co_await db::connect(std::string("postgresql://") + Postgres::k_password_user +
                                      ":s3cret%20pass@127.0.0.1:" + std::to_string(pg->port()) +
                                      "/postgres?sslmode=disable");
        EXPECT_EQ((co_await c.query_one("select current_user")).get<std::string>(0), Postgres::k_password_user);
        auto bad = co_await error_of<db::ConnectionError>(db::connect(
            std::string("postgresql://") + Postgres::k_password_user + ":Wr0ngPassw0rd@127.0.0.1:" +
            std::to_string(pg->port()) + "/postgres?sslmode=disable"));
        EXPECT_TRUE(contains(bad, "password")) << bad;
        EXPECT_FALSE(contains(bad, "Wr0ngPassw0rd")) << bad;  // never echoed
        co_await a.close();
        co_await b.close();
        co_await c.close();
    }());
}

TEST_F(DbPg, QueriesAndStructs) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url());
        co_await db.execute("drop table if exists items; create table items(id serial primary key, name text, "
                            "price float8, tags text[])");
        std::vector<std::string> tags = {"red", "round"};
        auto n = co_await db.execute("insert into items(name, price, tags) values ($1, $2, $3), ($4, NULL, '{}')",
                                     "apple", 1.25, tags, "pear");
        EXPECT_EQ(n, 2u);
        auto rows = co_await db.query("select id, name from items order by id");
        EXPECT_EQ(rows.size(), 2u);
        EXPECT_EQ(rows[1].get<std::string>("name"), "pear");
        auto opt = co_await db.query_opt("select id from items where name = $1", "plum");
        EXPECT_FALSE(opt.has_value());
        auto none = co_await error_of<db::NoRowsError>(db.query_one("select 1 where false"));
        EXPECT_NE(none, "<no error>");
        auto many = co_await error_of<db::TooManyRowsError>(db.query_one("select * from items"));
        EXPECT_NE(many, "<no error>");
        auto items = co_await db.query_as<Item>("select id, name, price, tags from items order by id");
        EXPECT_EQ(items.size(), 2u);
        if (items.size() == 2) {
            EXPECT_EQ(items[0].name, "apple");
            EXPECT_EQ(items[0].price, 1.25);
            EXPECT_EQ(items[0].tags, tags);
            EXPECT_FALSE(items[1].price.has_value());
            EXPECT_TRUE(items[1].tags.empty());
        }
        auto t = (co_await db.query_one("select id, name from items where id = $1", 1))
                     .as<std::tuple<std::int64_t, std::string>>();
        EXPECT_EQ(std::get<1>(t), "apple");
        // A script (several statements, text results): the last statement's rows.
        auto last = co_await db.query_one("select 1; select 'x;y' as s, 2::int8 as n, true as b -- done;");
        EXPECT_EQ(last.get<std::string>("s"), "x;y");
        EXPECT_EQ(last.get<std::int64_t>("n"), 2);
        EXPECT_TRUE(last.get<bool>("b"));
        // A type mismatch names the column and both types.
        auto mismatch = co_await error_of<db::TypeError>([&]() -> Task<void> {
            auto r = co_await db.query_one("select 'abc'::text as t");
            (void)r.get<int>(0);
        }());
        EXPECT_TRUE(contains(mismatch, "text")) << mismatch;
        co_await db.close();
    }());
}

TEST_F(DbPg, TypesRoundTrip) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url());
        EXPECT_EQ(co_await echo(db, "bool", true), true);
        EXPECT_EQ(co_await echo<std::int16_t>(db, "int2", -32768), -32768);
        EXPECT_EQ(co_await echo<std::int32_t>(db, "int4", std::numeric_limits<std::int32_t>::max()),
                  std::numeric_limits<std::int32_t>::max());
        EXPECT_EQ(co_await echo<std::int64_t>(db, "int8", std::numeric_limits<std::int64_t>::min()),
                  std::numeric_limits<std::int64_t>::min());
        EXPECT_EQ(co_await echo(db, "float4", 1.5f), 1.5f);
        EXPECT_EQ(co_await echo(db, "float8", 1e300), 1e300);
        EXPECT_TRUE(std::isnan(co_await echo(db, "float8", std::numeric_limits<double>::quiet_NaN())));
        EXPECT_EQ((co_await echo(db, "numeric", db::Numeric("-12345678901234567890.0012300"))).str(),
                  "-12345678901234567890.0012300");
        EXPECT_EQ((co_await echo(db, "numeric", db::Numeric("NaN"))).str(), "NaN");
        EXPECT_EQ(co_await echo(db, "text", std::string("héllo 'world'")), "héllo 'world'");
        EXPECT_EQ(co_await echo(db, "varchar", std::string("v")), "v");
        db::Bytes bytes = {std::byte{0}, std::byte{0xff}, std::byte{'\\'}};
        EXPECT_EQ(co_await echo(db, "bytea", bytes), bytes);
        db::Date d = std::chrono::sys_days(std::chrono::year(1969) / 12 / 31);
        EXPECT_EQ(co_await echo(db, "date", d), d);
        db::Date d2 = std::chrono::sys_days(std::chrono::year(2024) / 2 / 29);
        EXPECT_EQ(co_await echo(db, "date", d2), d2);
        db::Timestamp ts(std::chrono::sys_days(std::chrono::year(2024) / 5 / 6).time_since_epoch() + 7h + 8min +
                         9s + 123456us);
        EXPECT_EQ(co_await echo(db, "timestamp", ts), ts);
        db::TimestampTz tz(std::chrono::sys_days(std::chrono::year(1999) / 12 / 31).time_since_epoch() + 23h +
                           59min + 59s + 999999us);
        EXPECT_EQ(co_await echo(db, "timestamptz", tz), tz);
        // Dates and instants agree with the server's own arithmetic (the epochs are converted).
        EXPECT_EQ((co_await db.query_one("select '1970-01-02'::date")).get<db::Date>(0),
                  std::chrono::sys_days(std::chrono::days(1)));
        EXPECT_EQ((co_await db.query_one("select 'epoch'::timestamptz + interval '1 second'")).get<db::TimestampTz>(0),
                  db::TimestampTz(1s));
        auto u = db::Uuid::parse("123e4567-e89b-12d3-a456-426614174000");
        EXPECT_EQ(co_await echo(db, "uuid", u), u);
        nlohmann::json j = {{"a", 1}, {"b", {true, nullptr, "x"}}};
        EXPECT_EQ(co_await echo(db, "json", j), j);
        EXPECT_EQ(co_await echo(db, "jsonb", j), j);
        // NULLs.
        EXPECT_FALSE((co_await echo(db, "int4", std::optional<std::int32_t>())).has_value());
        EXPECT_FALSE((co_await echo(db, "text", std::optional<std::string>())).has_value());
        EXPECT_FALSE((co_await echo(db, "bool", std::optional<bool>())).has_value());
        EXPECT_FALSE((co_await echo(db, "int2", std::optional<std::int16_t>())).has_value());
        EXPECT_FALSE((co_await echo(db, "int8", std::optional<std::int64_t>())).has_value());
        EXPECT_FALSE((co_await echo(db, "float4", std::optional<float>())).has_value());
        EXPECT_FALSE((co_await echo(db, "float8", std::optional<double>())).has_value());
        EXPECT_FALSE((co_await echo(db, "numeric", std::optional<db::Numeric>())).has_value());
        EXPECT_FALSE((co_await echo(db, "varchar", std::optional<std::string>())).has_value());
        EXPECT_FALSE((co_await echo(db, "bytea", std::optional<db::Bytes>())).has_value());
        EXPECT_FALSE((co_await echo(db, "date", std::optional<db::Date>())).has_value());
        EXPECT_FALSE((co_await echo(db, "timestamp", std::optional<db::Timestamp>())).has_value());
        EXPECT_FALSE((co_await echo(db, "timestamptz", std::optional<db::TimestampTz>())).has_value());
        EXPECT_FALSE((co_await echo(db, "uuid", std::optional<db::Uuid>())).has_value());
        EXPECT_FALSE((co_await echo(db, "json", std::optional<nlohmann::json>())).has_value());
        EXPECT_FALSE((co_await echo(db, "jsonb", std::optional<nlohmann::json>())).has_value());
        EXPECT_FALSE((co_await echo(db, "text[]", std::optional<std::vector<std::string>>())).has_value());
        // A present value through an optional, and NULL read from the server's own NULL of each type.
        EXPECT_EQ(co_await echo(db, "uuid", std::optional<db::Uuid>(u)), std::optional<db::Uuid>(u));
        auto nulls = co_await db.query_one(
            "select null::float8, null::numeric, null::bytea, null::date, null::uuid, null::jsonb, null::int4[]");
        EXPECT_FALSE(nulls.get<std::optional<double>>(0).has_value());
        EXPECT_FALSE(nulls.get<std::optional<db::Numeric>>(1).has_value());
        EXPECT_FALSE(nulls.get<std::optional<db::Bytes>>(2).has_value());
        EXPECT_FALSE(nulls.get<std::optional<db::Date>>(3).has_value());
        EXPECT_FALSE(nulls.get<std::optional<db::Uuid>>(4).has_value());
        EXPECT_FALSE(nulls.get<std::optional<nlohmann::json>>(5).has_value());
        EXPECT_FALSE(nulls.get<std::optional<std::vector<std::int32_t>>>(6).has_value());
        auto null_err = co_await error_of<db::TypeError>([&]() -> Task<void> {
            auto r = co_await db.query_one("select null::int4");
            (void)r.get<int>(0);
        }());
        EXPECT_NE(null_err, "<no error>");
        // At the edges of the C++ type: refused with a TypeError, never a conversion that overflows.
        auto edges = co_await db.query_one("select 1e300::float8 as big, '5874897-12-31'::date as last_day");
        auto big_err = co_await error_of<db::TypeError>([&]() -> Task<void> {
            (void)edges.get<float>("big");
            co_return;
        }());
        EXPECT_TRUE(contains(big_err, "big") && contains(big_err, "out of the range of float")) << big_err;
        EXPECT_GT(edges.get<db::Date>("last_day").time_since_epoch().count(), 2'100'000'000);  // beyond chrono::year
        auto day_err = co_await error_of<db::TypeError>([&]() -> Task<void> {
            (void)edges.get<db::Timestamp>("last_day");
            co_return;
        }());
        EXPECT_TRUE(contains(day_err, "out of the range")) << day_err;
        auto far_err = co_await error_of<db::TypeError>(
            db.query("select $1::timestamptz", std::chrono::sys_seconds(std::chrono::seconds::min())));
        EXPECT_TRUE(contains(far_err, "microsecond range")) << far_err;
        // Arrays.
        std::vector<std::int64_t> ints = {1, -2, 3};
        EXPECT_EQ(co_await echo(db, "int8[]", ints), ints);
        std::vector<std::optional<std::int32_t>> holes = {1, std::nullopt, 3};
        EXPECT_EQ(co_await echo(db, "int4[]", holes), holes);
        std::vector<std::string> strs = {"a", "", "c,d"};
        EXPECT_EQ(co_await echo(db, "text[]", strs), strs);
        std::vector<bool> bools = {true, false};
        EXPECT_EQ(co_await echo(db, "bool[]", bools), bools);
        std::vector<double> doubles = {0.5, -1e10};
        EXPECT_EQ(co_await echo(db, "float8[]", doubles), doubles);
        std::vector<db::Uuid> uuids = {u, db::Uuid()};
        EXPECT_EQ(co_await echo(db, "uuid[]", uuids), uuids);
        std::vector<db::Date> dates = {d, d2};
        EXPECT_EQ(co_await echo(db, "date[]", dates), dates);
        std::vector<db::TimestampTz> tss = {tz};
        EXPECT_EQ(co_await echo(db, "timestamptz[]", tss), tss);
        std::vector<db::Numeric> nums = {db::Numeric("1.50"), db::Numeric("-3")};
        EXPECT_EQ(co_await echo(db, "numeric[]", nums), nums);
        std::vector<nlohmann::json> docs = {j, nlohmann::json(3)};
        EXPECT_EQ(co_await echo(db, "jsonb[]", docs), docs);
        std::vector<db::Bytes> blobs = {bytes, {}};
        EXPECT_EQ(co_await echo(db, "bytea[]", blobs), blobs);
        std::vector<std::int32_t> empty;
        EXPECT_EQ(co_await echo(db, "int4[]", empty), empty);
        // sum(bigint) is numeric: read as an integer.
        EXPECT_EQ((co_await db.query_one("select sum(x) from (values (1::int8), (2::int8)) v(x)")).get<std::int64_t>(0), 3);
        // Column metadata.
        auto row = co_await db.query_one("select 1::int4 as a, 'x'::text as b");
        EXPECT_EQ(row.column_type(0), "int4");
        EXPECT_EQ(row.column_name(1), "b");
        co_await db.close();
    }());
}

TEST_F(DbPg, ANulByteInTheSqlTextIsAnErrorNotATruncatedStatement) {
    // libpq takes the SQL as a C string: the server would have run only the text before the NUL.
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.max_size = 1});
        co_await db.execute("drop table if exists nul_t; create table nul_t(x int)");
        std::string cut("insert into nul_t values (1)\0; insert into nul_t values (2)", 59);
        auto err = co_await error_of<db::SyntaxError>(db.execute(cut));
        EXPECT_TRUE(contains(err, "NUL")) << err;
        std::string with_param("select $1::int\0", 15);
        err = co_await error_of<db::SyntaxError>(db.query(with_param, 7));
        EXPECT_TRUE(contains(err, "NUL")) << err;
        {
            auto conn = co_await db.acquire();
            err = co_await error_of<db::SyntaxError>(conn.copy_in(std::string("copy nul_t from stdin\0;", 23)));
            EXPECT_TRUE(contains(err, "offset 21")) << err;
            EXPECT_EQ((co_await conn.query_one("select 1")).get<int>(0), 1);  // still usable
        }
        EXPECT_EQ((co_await db.query_one("select count(*) from nul_t")).get<std::int64_t>(0), 0);
        co_await db.close();
    }());
}

TEST_F(DbPg, AScriptsRowCountIsItsLastStatements) {
    // What the SQLite driver matches (DbSqlite.AScriptsRowCountIsItsLastStatementsAsOnPostgres).
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.max_size = 1});
        co_await db.execute("drop table if exists sc; create table sc(x int)");
        EXPECT_EQ(co_await db.execute("insert into sc values (1), (2), (3); insert into sc values (4)"), 1u);
        EXPECT_EQ(co_await db.execute("update sc set x = x + 1; delete from sc where x > 3;  -- two"), 2u);
        auto rows = co_await db.query("insert into sc values (9); select x from sc order by x");
        EXPECT_EQ(rows.size(), 3u);
        EXPECT_EQ(rows.rows_affected(), 3u);
        co_await db.close();
    }());
}

TEST_F(DbPg, TransactionsSavepointsAndRollbackOnDrop) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        co_await db.execute("drop table if exists tx; create table tx(v int)");
        {
            auto tx = co_await db.begin();
            co_await tx.execute("insert into tx values (1)");
            {
                auto sp = co_await tx.begin();
                co_await sp.execute("insert into tx values (2)");
                co_await sp.rollback();
            }
            {
                auto sp = co_await tx.begin();
                co_await sp.execute("insert into tx values (3)");
                co_await sp.commit();
            }
            co_await tx.commit();
        }
        auto sum = (co_await db.query_one("select coalesce(sum(v), 0)::int8 from tx")).get<std::int64_t>(0);
        EXPECT_EQ(sum, 4);
        {
            auto tx = co_await db.begin();
            co_await tx.execute("insert into tx values (100)");
            // dropped without commit
        }
        sum = (co_await db.query_one("select coalesce(sum(v), 0)::int8 from tx")).get<std::int64_t>(0);
        EXPECT_EQ(sum, 4);
        // An error inside a transaction, then rollback: the connection is usable again.
        {
            auto tx = co_await db.begin();
            auto e = co_await error_of<db::DatabaseError>(tx.execute("select 1/0"));
            EXPECT_NE(e, "<no error>");
            co_await tx.rollback();
        }
        EXPECT_EQ((co_await db.query_one("select 7")).get<int>(0), 7);
        co_await db.close();
    }());
}

TEST_F(DbPg, UniqueViolation) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url());
        co_await db.execute("drop table if exists uv; create table uv(email text constraint uv_email unique)");
        co_await db.execute("insert into uv values ($1)", "a@b");
        bool caught = false;
        try {
            co_await db.execute("insert into uv values ($1)", "a@b");
        } catch (const db::UniqueViolation& e) {
            caught = true;
            EXPECT_EQ(e.sqlstate(), "23505");
            EXPECT_EQ(e.constraint(), "uv_email");
        }
        EXPECT_TRUE(caught);
        auto syntax = co_await error_of<db::DatabaseError>(db.query("selec 1"));
        EXPECT_NE(syntax, "<no error>");
        co_await db.close();
    }());
}

// The common error classes come as their own types, with every field the server sent: a foreign key
// (constraint, detail), a syntax error, an exception raised with a hint, a serialization failure (a row
// updated under a repeatable-read transaction's snapshot) and a deadlock (two transactions locking two rows in
// opposite orders): each caught as its generated class.
TEST_F(DbPg, TheCommonErrorClassesComeAsTheirOwnTypesWithTheirFields) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 2, .max_size = 3});
        co_await db.execute(
            "drop table if exists ec_child, ec_parent, ec_rows; "
            "create table ec_parent(id int primary key); "
            "create table ec_child(parent int constraint ec_child_parent references ec_parent(id)); "
            "create table ec_rows(id int primary key, v int); insert into ec_rows values (1, 0), (2, 0)");

        bool fk = false;
        try {
            co_await db.execute("insert into ec_child values ($1)", 7);
        } catch (const db::ForeignKeyViolation& e) {
            fk = true;
            EXPECT_EQ(e.sqlstate(), "23503");
            EXPECT_EQ(e.constraint(), "ec_child_parent");
            EXPECT_TRUE(contains(e.detail(), "(parent)=(7) is not present")) << e.detail();
        }
        EXPECT_TRUE(fk);
        EXPECT_EQ(co_await sqlstate_of<db::SyntaxError>(db.query("selec 1")), "42601");

        bool raised = false;
        try {
            co_await db.execute("do $$ begin raise exception 'stock is short' using detail = 'item 4', "
                                       "hint = 'order again tomorrow', errcode = 'P0001'; end $$");
        } catch (const db::RaiseException& e) {
            raised = true;
            EXPECT_EQ(e.sqlstate(), "P0001");
            EXPECT_EQ(e.detail(), "item 4");
            EXPECT_EQ(e.hint(), "order again tomorrow");
            EXPECT_TRUE(contains(e.what(), "stock is short")) << e.what();
        }
        EXPECT_TRUE(raised);

        // Serialization failure: the row changed after this transaction's snapshot was taken.
        {
            auto tx = co_await db.begin();
            co_await tx.execute("set transaction isolation level repeatable read");
            EXPECT_EQ((co_await tx.query_one("select v from ec_rows where id = 1")).get<int>(0), 0);
            co_await db.execute("update ec_rows set v = 1 where id = 1");  // another connection, committed
            EXPECT_EQ(co_await sqlstate_of<db::SerializationFailure>(
                          tx.execute("update ec_rows set v = 2 where id = 1")),
                      "40001");
            co_await tx.rollback();
        }

        // Deadlock: each transaction holds one row and asks for the other's; the server fails one of them.
        {
            auto a = co_await db.begin();
            auto b = co_await db.begin();
            co_await a.execute("set local deadlock_timeout = '100ms'");
            co_await b.execute("set local deadlock_timeout = '100ms'");
            co_await a.execute("update ec_rows set v = 10 where id = 1");
            co_await b.execute("update ec_rows set v = 20 where id = 2");
            // The victim rolls back at once, so that the other one gets the row it waits for.
            auto attempt = [](db::Transaction& tx, std::string sql) -> Task<std::string> {
                std::string state = co_await sqlstate_of<db::DeadlockDetected>(tx.execute(sql));
                if (state == "40P01") {
                    co_await tx.rollback();
                }
                co_return state;
            };
            auto a_waits = corio::spawn(attempt(a, "update ec_rows set v = 10 where id = 2"));
            co_await corio::sleep(50ms);  // a waits for b's row (either order ends in one deadlock)
            auto b_state = co_await attempt(b, "update ec_rows set v = 20 where id = 1");
            auto a_state = co_await a_waits;
            EXPECT_EQ((a_state == "40P01") + (b_state == "40P01"), 1) << a_state << " " << b_state;
            if (a_state != "40P01") {
                co_await a.rollback();
            }
            if (b_state != "40P01") {
                co_await b.rollback();
            }
        }
        EXPECT_EQ((co_await db.query_one("select 9")).get<int>(0), 9);
        co_await db.close();
    }());
}

// A task cancelled inside a transaction: the transaction is rolled back when its connection goes back (the
// release runs to its end although the task was cancelled), and the same connection serves the next query.
TEST_F(DbPg, ATaskCancelledInsideATransactionLeavesItRolledBackAndTheConnectionReused) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        co_await db.execute("drop table if exists ct; create table ct(v int)");
        auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        bool inserted = false;
        auto task = corio::spawn([](db::Pool db, bool& inserted) -> Task<void> {
            auto tx = co_await db.begin();
            co_await tx.execute("insert into ct values (1)");
            inserted = true;
            co_await tx.query("select pg_sleep(10)");
            co_await tx.commit();
        }(db, inserted));
        EXPECT_TRUE(co_await corio_test::eventually([&] { return inserted; }));
        co_await corio::sleep(50ms);  // into the sleep
        task.cancel();
        auto err = co_await error_of<corio::CancelledError>(joined(std::move(task)));
        EXPECT_NE(err, "<no error>");
        EXPECT_EQ((co_await db.query_one("select count(*)::int8 from ct")).get<std::int64_t>(0), 0);
        EXPECT_EQ((co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0), pid);
        EXPECT_EQ(db.statistics().opened, 1u);
        EXPECT_EQ(db.statistics().closed, 0u);
        co_await db.close();
    }());
}

// An idle connection whose backend died (terminated while the pool did not use it) is found by the health
// check on acquire and replaced: the caller sees no error. Without the check the caller gets the dead one.
TEST_F(DbPg, TheHealthCheckReplacesAnIdleConnectionWhoseBackendDied) {
    for (bool check : {true, false}) {
        SCOPED_TRACE(check ? "health check" : "no health check");
        run_bounded([&]() -> Task<void> {
            auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1, .health_check = check,
                                                   .health_check_after = 0ms});
            auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
            auto killer = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
            co_await killer.query("select pg_terminate_backend($1)", pid);
            bool gone = false;  // the backend has exited
            for (int i = 0; i < 200 && !gone; ++i) {
                auto left = co_await killer.query_one("select count(*)::int8 from pg_stat_activity where pid = $1", pid);
                gone = left.get<std::int64_t>(0) == 0;
                if (!gone) {
                    co_await corio::sleep(10ms);
                }
            }
            EXPECT_TRUE(gone);
            std::string state = "<no error>";
            int got = 0;
            try {
                got = (co_await db.query_one("select 11")).get<int>(0);
            } catch (const db::ConnectionError& e) {
                state = e.what();
            }
            if (check) {
                EXPECT_EQ(state, "<no error>");
                EXPECT_EQ(got, 11);
                EXPECT_EQ(db.statistics().opened, 2u);
                EXPECT_EQ(db.statistics().closed, 1u);
            } else {
                EXPECT_NE(state, "<no error>");
            }
            EXPECT_EQ((co_await db.query_one("select 12")).get<int>(0), 12);
            co_await killer.close();
            co_await db.close();
        }());
    }
}

// PoolOptions::statement_cache_size reaches the pool's connections: 0 prepares nothing (pgbouncer in
// transaction mode), the default keeps the pool's statements prepared on the server.
TEST_F(DbPg, ThePoolsStatementCacheSizeReachesItsConnections) {
    EXPECT_EQ(db::PoolOptions{}.acquire_timeout, 30s);  // never infinite by default
    for (std::size_t size : {std::size_t(0), std::size_t(100)}) {
        run_bounded([&]() -> Task<void> {
            auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1, .statement_cache_size = size});
            for (int i = 0; i < 3; ++i) {
                EXPECT_EQ((co_await db.query_one("select $1::int4 + 1", i)).get<int>(0), i + 1);
            }
            auto prepared = (co_await db.query_one("select count(*)::int8 from pg_prepared_statements")).get<std::int64_t>(0);
            if (size == 0) {
                EXPECT_EQ(prepared, 0);
            } else {
                EXPECT_GE(prepared, 1);
            }
            co_await db.close();
        }());
    }
}

// A value read as the wrong C++ type, or NULL into a non-optional, is a TypeError naming the column, its
// PostgreSQL type and the C++ type.
TEST_F(DbPg, TypeErrorNamesTheColumnItsSqlTypeAndTheCppType) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url());
        auto row = co_await db.query_one("select 'ada'::text as name, null::int4 as age, 70000::int4 as n");
        auto message = [](auto&& read) { return corio_test::message_of<db::TypeError>(read); };
        std::string m = message([&] { (void)row.get<std::int64_t>("name"); });
        EXPECT_TRUE(contains(m, "\"name\"")) << m;
        EXPECT_TRUE(contains(m, "text")) << m;
        EXPECT_TRUE(contains(m, "std::int64_t")) << m;
        m = message([&] { (void)row.get<int>("age"); });
        EXPECT_TRUE(contains(m, "\"age\"")) << m;
        EXPECT_TRUE(contains(m, "NULL")) << m;
        EXPECT_TRUE(contains(m, "std::optional")) << m;
        EXPECT_EQ(row.get<std::optional<int>>("age"), std::nullopt);
        m = message([&] { (void)row.get<std::int16_t>("n"); });
        EXPECT_TRUE(contains(m, "\"n\"")) << m;
        EXPECT_TRUE(contains(m, "int4")) << m;
        EXPECT_TRUE(contains(m, "std::int16_t")) << m;
        co_await db.close();
    }());
}

TEST_F(DbPg, ThousandTasksOnAPoolOfTen) {
    for (bool pipeline : {false, true}) {
        SCOPED_TRACE(pipeline ? "pipeline" : "no pipeline");
        run_bounded([&]() -> Task<void> {
            auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 10, .pipeline = pipeline});
            std::vector<JoinHandle<std::int64_t>> tasks;
            for (int k = 0; k < 1000; ++k) {
                tasks.push_back(corio::spawn([](db::Pool db, int k) -> Task<std::int64_t> {
                    auto row = co_await db.query_one("select $1::int8 * 2", static_cast<std::int64_t>(k));
                    co_return row.get<std::int64_t>(0);
                }(db, k)));
            }
            std::int64_t total = 0;
            for (auto& t : tasks) total += co_await t;
            EXPECT_EQ(total, 999 * 1000);
            EXPECT_LE(db.statistics().size, 10u);
            co_await db.close();
        }());
    }
}

TEST_F(DbPg, CancellationMidQueryLeavesThePoolUsable) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        auto h = corio::spawn(db.query("select pg_sleep(10)"));
        co_await corio::sleep(200ms);
        h.cancel();
        auto err = co_await error_of<corio::CancelledError>(joined(std::move(h)));
        EXPECT_NE(err, "<no error>");
        // The same (only) connection answers at once.
        auto start = std::chrono::steady_clock::now();
        EXPECT_EQ((co_await db.query_one("select 5")).get<int>(0), 5);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
        EXPECT_EQ(db.statistics().opened, 1u);
        co_await db.close();
    }());
}

// A query no cancel request reaches (a proxy drops them all): after cancel_timeout (5 s) its connection is
// broken, and the pool closes it instead of handing it out again: the next query gets a new connection.
TEST_F(DbPg, AConnectionBrokenByACancelThatNeverLandsIsNotHandedOutAgain) {
    run_bounded([&]() -> Task<void> {
        corio_test::PgCancelDroppingProxy proxy(pg->port(), -1);
        auto db = co_await db::connect("postgresql://postgres@127.0.0.1:" + std::to_string(proxy.port()) +
                                           "/postgres?sslmode=disable",
                                       {.min_size = 1, .max_size = 1});
        auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        auto query = corio::spawn(db.query("select pg_sleep(10)"));
        co_await corio::sleep(200ms);
        query.cancel();
        auto err = co_await error_of<corio::CancelledError>(joined(std::move(query)));
        EXPECT_NE(err, "<no error>");
        EXPECT_GE(proxy.cancels_dropped(), 5);  // one a second until cancel_timeout
        EXPECT_EQ(db.statistics().closed, 1u);
        auto pid2 = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        EXPECT_NE(pid2, pid);
        EXPECT_EQ(db.statistics().opened, 2u);
        co_await db.query("select pg_terminate_backend($1)", pid);  // still sleeping
        co_await db.close();
        co_await proxy.stop();
    }());
}

TEST_F(DbPg, TerminatedBackendFailsAndThePoolRecovers) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        auto killer = corio::spawn([](std::string u, std::int32_t pid) -> Task<void> {
            auto other = co_await db::connect(u, {.min_size = 1, .max_size = 1});
            co_await corio::sleep(200ms);
            co_await other.query("select pg_terminate_backend($1)", pid);
            co_await other.close();
        }(url(), pid));
        auto err = co_await error_of<db::Error>(db.query("select pg_sleep(10)"));
        EXPECT_NE(err, "<no error>");
        co_await killer;
        // A new connection replaces the dead one.
        auto pid2 = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        EXPECT_NE(pid, pid2);
        EXPECT_EQ((co_await db.query_one("select 1")).get<int>(0), 1);
        co_await db.close();
    }());
}

TEST_F(DbPg, StatementTimeoutIsQueryCanceled) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1, .statement_timeout = 200ms});
        bool caught = false;
        try {
            co_await db.query("select pg_sleep(5)");
        } catch (const db::QueryCanceled& e) {
            caught = true;
            EXPECT_EQ(e.sqlstate(), "57014");
        }
        EXPECT_TRUE(caught);
        EXPECT_EQ((co_await db.query_one("select 3")).get<int>(0), 3);
        co_await db.close();
    }());
}

TEST_F(DbPg, ListenNotify) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 2});
        auto conn = co_await db.acquire();
        co_await conn.listen("Events Channel");
        auto next = corio::spawn(conn.next_notification());
        co_await corio::sleep(50ms);
        co_await db.execute("select pg_notify($1, $2)", "Events Channel", "hello");
        auto n = co_await corio::timeout(5s, std::move(next));
        EXPECT_EQ(n.channel, "Events Channel");
        EXPECT_EQ(n.payload, "hello");
        EXPECT_NE(n.backend_pid, 0);
        co_await conn.unlisten("Events Channel");
        conn.release();  // close() waits for busy connections
        co_await db.close();
    }());
}

// A notification that arrives while nobody waits is kept for the next next_notification().
TEST_F(DbPg, ListenNotifyQueuedBeforeTheWait) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 2});
        auto conn = co_await db.acquire();
        co_await conn.listen("queued");
        co_await db.execute("select pg_notify($1, $2)", "queued", "early");
        co_await corio::sleep(50ms);
        auto n = co_await corio::timeout(5s, conn.next_notification());
        EXPECT_EQ(n.payload, "early");
        conn.release();
        co_await db.close();
    }());
}

// A connection given back while a notification is queued on it (received, never read) is cleaned with
// "UNLISTEN *"; its next user must not be handed that notification, which belongs to a channel it never
// listened to. (The driver kept it queued across the reuse: the next user's next_notification() returned it.)
TEST_F(DbPg, ANotificationQueuedWhenItsConnectionWentBackIsNotHandedToItsNextUser) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        {
            auto conn = co_await db.acquire();
            co_await conn.listen("first owner");
            co_await conn.execute("select pg_notify($1, $2)", "first owner", "stale");  // to itself
            co_await corio::sleep(50ms);
        }  // given back without reading it
        auto conn = co_await db.acquire();
        EXPECT_EQ(db.statistics().opened, 1u);  // the same connection
        co_await conn.listen("second owner");
        co_await conn.execute("select pg_notify($1, $2)", "second owner", "fresh");
        auto n = co_await corio::timeout(5s, conn.next_notification());
        EXPECT_EQ(n.channel, "second owner");
        EXPECT_EQ(n.payload, "fresh");
        conn.release();
        co_await db.close();
    }());
}

// LISTEN run as SQL (not through Connection::listen) is undone too when its connection goes back: the next user
// gets no notification of a channel it never listened to. (The pool knew only of listen(): the session kept
// listening, and the next user's next_notification() returned the other channels' notifications.)
TEST_F(DbPg, ListenRunAsSqlIsUndoneWhenItsConnectionGoesBack) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        co_await db.execute("LISTEN sql_channel");  // a pool statement
        {
            auto conn = co_await db.acquire();
            co_await conn.execute("listen \"Script Channel\"; select 1");  // in a script, not its last statement
        }
        auto conn = co_await db.acquire();
        EXPECT_EQ(db.statistics().opened, 1u);  // the same connection
        co_await conn.execute("select pg_notify('sql_channel', 'a'), pg_notify('Script Channel', 'b')");
        bool nothing = false;
        try {
            auto n = co_await corio::timeout(300ms, conn.next_notification());
            ADD_FAILURE() << "a notification of the previous user: " << n.channel << " " << n.payload;
        } catch (const corio::TimeoutError&) {
            nothing = true;
        }
        EXPECT_TRUE(nothing);
        // listen() still works on it.
        co_await conn.listen("mine");
        co_await conn.execute("select pg_notify('mine', 'c')");
        auto n = co_await corio::timeout(5s, conn.next_notification());
        EXPECT_EQ(n.channel, "mine");
        conn.release();
        co_await db.close();
    }());
}

// ---------------------------------------------------------------------------------------------------------
// COPY

namespace {
/// Rows "k\tname-k\n" for k in [from, to).
std::string copy_rows(int from, int to) {
    std::string s;
    for (int k = from; k < to; ++k) s += std::to_string(k) + "\tname-" + std::to_string(k) + "\n";
    return s;
}

Task<std::int64_t> count_rows(db::Pool db, std::string table) {
    co_return (co_await db.query_one("select count(*) from " + table)).get<std::int64_t>(0);
}
}  // namespace

TEST_F(DbPg, CopyInAndOutStreamAHundredThousandRows) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 2});
        co_await db.execute("drop table if exists cp; create table cp(a int primary key, b text)");
        constexpr int k_rows = 100000;
        {
            auto conn = co_await db.acquire();
            auto copy = co_await conn.copy_in("copy cp(a, b) from stdin");
            EXPECT_TRUE(copy.active());
            // A statement on the connection while its COPY runs is refused, not deadlocked.
            auto busy = co_await error_of<db::Error>(conn.query("select 1"));
            EXPECT_TRUE(contains(busy, "COPY is in progress")) << busy;
            for (int k = 0; k < k_rows; k += 1000) {
                std::string chunk = copy_rows(k, k + 1000);
                // Any split of the stream: a row cut in two pieces.
                std::size_t cut = chunk.size() / 2 + 3;
                co_await copy.write(std::string_view(chunk).substr(0, cut));
                co_await copy.write(std::string_view(chunk).substr(cut));
            }
            EXPECT_EQ(co_await copy.finish(), static_cast<std::uint64_t>(k_rows));
            EXPECT_FALSE(copy.active());
            EXPECT_EQ((co_await conn.query_one("select 1")).get<int>(0), 1);  // usable again
        }
        EXPECT_EQ(co_await count_rows(db, "cp"), k_rows);
        EXPECT_EQ((co_await db.query_one("select sum(a)::int8 from cp")).get<std::int64_t>(0),
                  std::int64_t(k_rows) * (k_rows - 1) / 2);
        // Out, through the pool (the COPY holds a connection of its own until its end).
        auto out = co_await db.copy_out("copy (select a, b from cp order by a) to stdout");
        std::int64_t lines = 0, sum = 0;
        bool in_order = true;
        for (auto chunk = co_await out.read_chunk(); !chunk.empty(); chunk = co_await out.read_chunk()) {
            auto tab = chunk.find('\t');
            std::int64_t a = std::stoll(std::string(chunk.substr(0, tab)));
            in_order = in_order && a == lines && chunk == "" + std::to_string(a) + "\tname-" + std::to_string(a) + "\n";
            sum += a;
            ++lines;
            if (lines > k_rows) break;
        }
        EXPECT_TRUE(in_order);
        EXPECT_EQ(lines, k_rows);
        EXPECT_EQ(sum, std::int64_t(k_rows) * (k_rows - 1) / 2);
        EXPECT_EQ(out.rows(), static_cast<std::uint64_t>(k_rows));
        EXPECT_FALSE(out.active());
        EXPECT_TRUE((co_await out.read_chunk()).empty());  // the end, again
        EXPECT_EQ(db.statistics().closed, 0u);
        co_await db.close();
    }());
}

TEST_F(DbPg, CopyInsideATransactionCommitsAndRollsBackWithIt) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 2});
        co_await db.execute("drop table if exists cptx; create table cptx(a int primary key, b text)");
        {
            auto tx = co_await db.begin();
            auto copy = co_await tx.copy_in("copy cptx(a, b) from stdin");
            co_await copy.write(copy_rows(0, 1000));
            EXPECT_EQ(co_await copy.finish(), 1000u);
            // Inside: the rows are there (a query, and a COPY out on the same connection); outside: not yet.
            EXPECT_EQ((co_await tx.query_one("select count(*) from cptx")).get<std::int64_t>(0), 1000);
            auto out = co_await tx.copy_out("copy (select a from cptx where a < 3 order by a) to stdout");
            std::string seen;
            for (auto chunk = co_await out.read_chunk(); !chunk.empty(); chunk = co_await out.read_chunk()) seen += chunk;
            EXPECT_EQ(seen, "0\n1\n2\n");
            EXPECT_EQ(co_await count_rows(db, "cptx"), 0);
            co_await tx.rollback();
            auto over = co_await error_of<db::Error>(tx.copy_in("copy cptx(a, b) from stdin"));
            EXPECT_TRUE(contains(over, "no longer active")) << over;
        }
        EXPECT_EQ(co_await count_rows(db, "cptx"), 0);  // rolled back with the transaction
        {
            auto tx = co_await db.begin();
            auto sp = co_await tx.begin();  // in a savepoint too
            auto copy = co_await sp.copy_in("copy cptx(a, b) from stdin");
            co_await copy.write(copy_rows(0, 500));
            EXPECT_EQ(co_await copy.finish(), 500u);
            co_await sp.commit();
            co_await tx.commit();
        }
        EXPECT_EQ(co_await count_rows(db, "cptx"), 500);
        {  // a COPY that fails inside a transaction fails the transaction, as any statement does
            auto tx = co_await db.begin();
            auto copy = co_await tx.copy_in("copy cptx(a, b) from stdin");
            co_await copy.write(copy_rows(499, 510));  // 499 is already there
            auto dup = co_await error_of<db::UniqueViolation>(copy.finish());
            EXPECT_TRUE(contains(dup, "23505")) << dup;
            auto failed = co_await error_of<db::DatabaseError>(tx.query("select 1"));
            EXPECT_TRUE(contains(failed, "25P02")) << failed;  // in failed SQL transaction
            co_await tx.rollback();
        }
        EXPECT_EQ(co_await count_rows(db, "cptx"), 500);
        EXPECT_EQ(db.statistics().closed, 0u);
        co_await db.close();
    }());
}

TEST_F(DbPg, CopyOfBadDataRaisesTheSqlstateAndKeepsTheConnection) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        co_await db.execute("drop table if exists cpbad; create table cpbad(a int, b text)");
        auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        {
            auto copy = co_await db.copy_in("copy cpbad(a, b) from stdin");
            co_await copy.write(copy_rows(0, 10));
            co_await copy.write("eleven\tx\n");
            co_await copy.write(copy_rows(12, 20));
            bool caught = false;
            try {
                co_await copy.finish();
            } catch (const db::InvalidTextRepresentation& e) {
                caught = true;
                EXPECT_EQ(e.sqlstate(), "22P02");
                EXPECT_TRUE(contains(e.what(), "eleven")) << e.what();
            }
            EXPECT_TRUE(caught);
            EXPECT_FALSE(copy.active());
            auto over = co_await error_of<db::Error>(copy.write("1\tx\n"));
            EXPECT_TRUE(contains(over, "over")) << over;
        }
        EXPECT_EQ(co_await count_rows(db, "cpbad"), 0);  // nothing of a failed COPY stays
        // abort(): nothing copied, and the connection stays.
        {
            auto copy = co_await db.copy_in("copy cpbad(a, b) from stdin");
            co_await copy.write(copy_rows(0, 10));
            co_await copy.abort("changed my mind");
        }
        EXPECT_EQ(co_await count_rows(db, "cpbad"), 0);
        // Not a COPY, or not one of that direction; a missing table.
        auto not_copy = co_await error_of<db::Error>(db.copy_in("select 1"));
        EXPECT_TRUE(contains(not_copy, "not a COPY")) << not_copy;
        auto wrong_way = co_await error_of<db::Error>(db.copy_out("copy cpbad from stdin"));
        EXPECT_TRUE(contains(wrong_way, "copy_in")) << wrong_way;
        auto missing = co_await error_of<db::UndefinedTable>(db.copy_in("copy no_such_table from stdin"));
        EXPECT_TRUE(contains(missing, "42P01")) << missing;
        // One connection all along.
        EXPECT_EQ((co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0), pid);
        EXPECT_EQ(db.statistics().opened, 1u);
        co_await db.close();
    }());
}

TEST_F(DbPg, AnAbandonedCopyLeavesNoBrokenConnectionInThePool) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        co_await db.execute("drop table if exists cpab; create table cpab(a int, b text)");
        // The writer destroyed midway: the connection it held is closed, not reused.
        {
            auto conn = co_await db.acquire();
            auto copy = co_await conn.copy_in("copy cpab(a, b) from stdin");
            co_await copy.write(copy_rows(0, 1000));
        }
        EXPECT_EQ(db.statistics().closed, 1u);
        EXPECT_EQ(co_await count_rows(db, "cpab"), 0);
        // The connection guard given back first: the COPY is detached, and its writer fails cleanly.
        {
            auto conn = co_await db.acquire();
            auto copy = co_await conn.copy_in("copy cpab(a, b) from stdin");
            co_await copy.write(copy_rows(0, 10));
            conn.release();
            EXPECT_FALSE(copy.active());
            auto err = co_await error_of<db::Error>(copy.finish());
            EXPECT_TRUE(contains(err, "over")) << err;
        }
        EXPECT_EQ(db.statistics().closed, 2u);
        // A task cancelled while it streams rows in.
        int written = 0;
        auto writer = corio::spawn([](db::Pool db, int& written) -> Task<void> {
            auto copy = co_await db.copy_in("copy cpab(a, b) from stdin");
            for (int k = 0; k < 100000; k += 100) {
                co_await copy.write(copy_rows(k, k + 100));
                ++written;
                co_await corio::sleep(1ms);
            }
            (void)co_await copy.finish();
        }(db, written));
        for (int k = 0; k < 1000 && written < 10; ++k) co_await corio::sleep(5ms);  // well into the COPY
        EXPECT_GE(written, 10);
        writer.cancel();
        auto cancelled = co_await error_of<corio::CancelledError>(joined(std::move(writer)));
        EXPECT_NE(cancelled, "<no error>");
        EXPECT_EQ(db.statistics().closed, 3u);
        // A reader abandoned after a few rows.
        {
            auto out = co_await db.copy_out("copy (select g from generate_series(1, 100000) g) to stdout");
            for (int k = 0; k < 5; ++k) EXPECT_FALSE((co_await out.read_chunk()).empty());
        }
        // Every query works afterwards: no broken connection was handed out.
        for (int k = 0; k < 5; ++k) EXPECT_EQ((co_await db.query_one("select $1::int4", k)).get<int>(0), k);
        EXPECT_EQ(co_await count_rows(db, "cpab"), 0);
        auto st = db.statistics();
        EXPECT_EQ(st.closed, 4u);
        EXPECT_EQ(st.size, 1u);
        co_await db.close();
    }());
}

// ---------------------------------------------------------------------------------------------------------
// Pipelining through the pool

TEST_F(DbPg, PipelinedPoolStatementsShareConnectionsAndStayIndependent) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 2, .pipeline = true});
        constexpr int k_tasks = 64, k_queries = 40;
        std::vector<JoinHandle<int>> tasks;
        for (int t = 0; t < k_tasks; ++t) {
            tasks.push_back(corio::spawn([](db::Pool db, int t) -> Task<int> {
                int wrong = 0;
                for (int q = 0; q < k_queries; ++q) {
                    if (q % 10 == 7) {  // an error fails its own statement only
                        bool failed = false;
                        try {
                            co_await db.query("select 1 / $1::int4", 0);
                        } catch (const db::DivisionByZero&) {
                            failed = true;
                        }
                        if (!failed) ++wrong;
                        continue;
                    }
                    auto row = co_await db.query_one("select $1::int8 * 1000 + $2::int8, pg_backend_pid()",
                                                     std::int64_t(t), std::int64_t(q));
                    if (row.get<std::int64_t>(0) != std::int64_t(t) * 1000 + q) ++wrong;
                }
                co_return wrong;
            }(db, t)));
        }
        // Meanwhile, statements cancelled in the middle of the pipeline (a timeout cancels them).
        auto canceller = corio::spawn([](db::Pool db) -> Task<int> {
            int cancelled = 0;
            for (int k = 0; k < 20; ++k) {
                try {
                    (void)co_await corio::timeout(3ms, db.query("select pg_sleep(0.02), $1::int4", k));
                } catch (const corio::TimeoutError&) {
                    ++cancelled;
                }
            }
            co_return cancelled;
        }(db));
        int wrong = 0;
        for (auto& t : tasks) wrong += co_await t;
        int cancelled = co_await canceller;
        EXPECT_EQ(wrong, 0);
        EXPECT_GT(cancelled, 0);
        auto st = db.statistics();
        EXPECT_LE(st.size, 2u);
        EXPECT_GT(st.pipelined, 0u);
        EXPECT_EQ(st.closed, 0u);  // no connection broke
        // Explicit acquire() and begin() stay exclusive while pipelined statements run.
        auto background = corio::spawn([](db::Pool db) -> Task<void> {
            for (int k = 0; k < 200; ++k) (void)co_await db.query_one("select $1::int4", k);
        }(db));
        {
            auto tx = co_await db.begin();
            co_await tx.execute("create temp table pl(v int) on commit drop");
            co_await tx.execute("insert into pl values (1), (2)");
            EXPECT_EQ((co_await tx.query_one("select sum(v)::int4 from pl")).get<int>(0), 3);
            co_await tx.commit();
        }
        co_await background;
        EXPECT_EQ(db.statistics().closed, 0u);
        co_await db.close();
    }());
}

// With pipelining, statements arriving while the pool's other connections are still being opened join the
// first one; once the others are open, each new statement goes to the least busy connection, so the load
// spreads over all of them (counted per backend pid, for statements started once every connection was open:
// the count depends on how fast each backend answers, so the bound is loose).
TEST_F(DbPg, PipelinedLoadSpreadsOverEveryConnectionOnceTheyAreOpen) {
    run_bounded([&]() -> Task<void> {
        constexpr std::size_t k_size = 4;
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = k_size, .pipeline = true});
        constexpr int k_tasks = 32, k_counted = 40;
        std::map<std::int32_t, int> per_pid;
        std::vector<JoinHandle<void>> tasks;
        for (int t = 0; t < k_tasks; ++t) {
            tasks.push_back(corio::spawn([](db::Pool db, std::map<std::int32_t, int>& per_pid) -> Task<void> {
                for (int counted = 0; counted < k_counted;) {
                    bool all_open = db.statistics().opened == k_size;
                    auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
                    if (all_open) {
                        ++per_pid[pid];
                        ++counted;
                    }
                }
            }(db, per_pid)));
        }
        for (auto& t : tasks) co_await t;
        // Every connection served statements once all were open: none stays idle while the first one takes
        // the load. (How evenly follows each backend's speed, which a loaded machine skews: 56 of 1,280 for one
        // of the four was seen in CI, so the share is not asserted.)
        EXPECT_EQ(per_pid.size(), k_size);
        EXPECT_EQ(db.statistics().closed, 0u);
        co_await db.close();
    }());
}

// The cleanup of a connection given back (the ROLLBACK of a transaction left open, UNLISTEN * after listen())
// is bounded by PoolOptions::cleanup_timeout: a server that stops answering (its backend stopped with SIGSTOP)
// costs that connection, which is closed, not the pool. (Unbounded before: the pool's only place stayed taken
// for ever, so the next query timed out in acquire, and close() never returned.)
TEST_F(DbPg, ACleanupTheServerNeverAnswersIsBoundedAndItsConnectionClosed) {
    struct Resume {
        std::vector<pid_t> pids;
        ~Resume() {
            for (pid_t p : pids) ::kill(p, SIGCONT);
        }
    };
    run_bounded([&]() -> Task<void> {
        // Resumed when this task ends, whatever happens: before the loop ends, which waits for the cleanups.
        Resume stopped;
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1, .acquire_timeout = 3s,
                                               .cleanup_timeout = 300ms});
        for (bool listening : {false, true}) {
            SCOPED_TRACE(listening ? "UNLISTEN *" : "ROLLBACK");
            pid_t pid = 0;
            {
                auto conn = co_await db.acquire();
                pid = (co_await conn.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
                std::optional<db::Transaction> tx;
                if (listening) co_await conn.listen("stopped");
                else tx = co_await conn.begin();
                EXPECT_EQ(::kill(pid, SIGSTOP), 0);
                stopped.pids.push_back(pid);
            }  // given back: the pool's cleanup is never answered
            auto start = std::chrono::steady_clock::now();
            std::int32_t next = 0;
            try {
                next = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
            } catch (const db::PoolTimeout& e) {
                ADD_FAILURE() << e.what();
            }
            EXPECT_NE(next, 0);
            EXPECT_NE(next, pid);  // a new connection
            EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
        }
        EXPECT_EQ(db.statistics().closed, 2u);
        bool closed = false;
        try {
            co_await corio::timeout(3s, db.close());
            closed = true;
        } catch (const corio::TimeoutError&) {
        }
        EXPECT_TRUE(closed);
    }());
}

// The end of the loop cancels and waits for a cleanup still running: its watchdog then closes the connection
// at once rather than let run() wait on a server that does not answer (here until the backend is resumed).
TEST_F(DbPg, TheLoopsEndDoesNotWaitForACleanupTheServerNeverAnswers) {
    std::atomic<pid_t> stopped{0};
    std::atomic<bool> returned{false};
    std::thread resumer([&] {  // the backend is resumed after 3 s at the latest, so that a failure ends
        for (int k = 0; k < 300 && !returned; ++k) std::this_thread::sleep_for(10ms);
        if (pid_t p = stopped) ::kill(p, SIGCONT);
    });
    auto start = std::chrono::steady_clock::now();
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1, .cleanup_timeout = 10s});
        auto tx = co_await db.begin();
        pid_t pid = (co_await tx.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        EXPECT_EQ(::kill(pid, SIGSTOP), 0);
        stopped = pid;
    }());  // the Transaction is dropped as the task ends: its ROLLBACK runs as the loop ends
    auto took = std::chrono::steady_clock::now() - start;
    returned = true;
    resumer.join();
    EXPECT_LT(took, 2s);
}

// ---------------------------------------------------------------------------------------------------------
// Adversity: a restart, a cancelled query on the server

TEST_F(DbPg, AServerRestartUnderLoadFailsInFlightQueriesAndLosesNothingCommitted) {
    for (bool pipeline : {false, true}) {
        SCOPED_TRACE(pipeline ? "pipeline" : "no pipeline");
        run_bounded([&]() -> Task<void> {
            auto db = co_await db::connect(url(), {.min_size = 2, .max_size = 4, .pipeline = pipeline});
            co_await db.execute("drop table if exists rs; create table rs(id int8 primary key)");
            struct Shared {
                bool stop = false;
                bool restarted = false;
                std::int64_t next = 0;
                std::vector<std::int64_t> acked;
                int connection_errors = 0;
                int acked_after_restart = 0;
                std::vector<std::string> unexpected;
            } sh;
            std::vector<JoinHandle<void>> writers;
            for (int w = 0; w < 8; ++w) {
                writers.push_back(corio::spawn([](db::Pool db, Shared& sh) -> Task<void> {
                    for (int k = 0; k < 100000 && !sh.stop; ++k) {
                        std::int64_t id = sh.next++;
                        bool failed = true;
                        try {
                            co_await db.execute("insert into rs(id) values ($1)", id);
                            sh.acked.push_back(id);
                            if (sh.restarted) ++sh.acked_after_restart;
                            failed = false;
                        } catch (const db::ConnectionError&) {
                            ++sh.connection_errors;
                        } catch (const std::exception& e) {
                            sh.unexpected.push_back(e.what());
                        }
                        if (failed) co_await corio::sleep(5ms);  // the server is away: do not spin
                    }
                }(db, sh)));
            }
            co_await corio::sleep(200ms);
            // The blocking parts off the loop; the fork on this (main) thread, which outlives the server.
            co_await corio::to_thread([this] { pg->stop(); });
            pg->launch();
            co_await corio::to_thread([this] { pg->wait_ready(); });
            sh.restarted = true;
            for (int k = 0; k < 300 && sh.acked_after_restart < 200; ++k) co_await corio::sleep(10ms);
            sh.stop = true;
            for (auto& w : writers) co_await w;
            EXPECT_GT(sh.connection_errors, 0);
            EXPECT_TRUE(sh.unexpected.empty()) << sh.unexpected.front();
            EXPECT_GE(sh.acked_after_restart, 200);  // the pool reconnected
            // Every acknowledged insert is in the table.
            auto present = (co_await db.query_one("select count(*) from rs where id = any($1)", sh.acked))
                               .get<std::int64_t>(0);
            EXPECT_EQ(present, static_cast<std::int64_t>(sh.acked.size()));
            co_await db.close();
        }());
    }
}

TEST_F(DbPg, ACancelledQueryIsCancelledOnTheServerAndItsConnectionServesTheNext) {
    auto cancels_logged = [&] {
        std::string log = pg->log();
        int n = 0;
        for (std::size_t at = 0; (at = log.find("canceling statement due to user request", at)) != std::string::npos; ++at) ++n;
        return n;
    };
    int logged_before = cancels_logged();
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url("&application_name=corio_cancel_test"), {.min_size = 1, .max_size = 1});
        auto watcher = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        auto start = std::chrono::steady_clock::now();
        bool timed_out = false;
        try {
            (void)co_await corio::timeout(100ms, db.query("select pg_sleep(10)"));
        } catch (const corio::TimeoutError&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
        // The server ended the query: its backend is idle, its last statement the sleep.
        auto activity = co_await watcher.query_one("select state, query from pg_stat_activity where pid = $1", pid);
        EXPECT_EQ(activity.get<std::string>("state"), "idle");
        EXPECT_EQ(activity.get<std::string>("query"), "select pg_sleep(10)");
        // The same backend serves the next query, at once.
        start = std::chrono::steady_clock::now();
        EXPECT_EQ((co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0), pid);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
        EXPECT_EQ(db.statistics().opened, 1u);
        co_await db.close();
        co_await watcher.close();
    }());
    EXPECT_EQ(cancels_logged(), logged_before + 1);
}

// ---------------------------------------------------------------------------------------------------------
// The reaper

TEST_F(DbPg, IdleConnectionsCloseWhenThePoolIsNotUsed) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url("&application_name=corio_reaper_test"),
                                       {.min_size = 1, .max_size = 5, .max_idle = 100ms});
        {
            std::vector<db::Connection> held;  // five at once, given back together
            for (int k = 0; k < 5; ++k) held.push_back(co_await db.acquire());
        }
        EXPECT_EQ(db.statistics().size, 5u);
        EXPECT_EQ(db.statistics().idle, 5u);
        co_await corio::sleep(400ms);  // the pool is not touched meanwhile
        auto st = db.statistics();
        EXPECT_EQ(st.size, 1u);
        EXPECT_EQ(st.closed, 4u);
        // The server agrees: one session of this application is left.
        auto sessions = (co_await db.query_one("select count(*) from pg_stat_activity where application_name = $1",
                                               "corio_reaper_test")).get<std::int64_t>(0);
        EXPECT_EQ(sessions, 1);
        co_await db.close();
    }());
}

// ---------------------------------------------------------------------------------------------------------
// TLS: a cluster of its own serving a certificate the test makes (sslmode, sslrootcert)

namespace {

struct TlsCluster {
    corio_test::TestPki pki;
    corio_test::TlsIdentity server = pki.issue("pg", {.common_name = "127.0.0.1", .alt_names = {"IP:127.0.0.1"}});
    Postgres pg{corio_test::PostgresOptions{.tls_cert = server.cert, .tls_key = server.key}};
};

class DbPgTls : public ::testing::Test {
protected:
    void SetUp() override {
        if (corio_test::postgres_bin_dir().empty()) GTEST_SKIP() << "PostgreSQL's server binaries are not installed";
        static TlsCluster cluster;
        c = &cluster;
        if (!c->pg.running()) c->pg.start();
    }
    [[nodiscard]] std::string url(const std::string& query) const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(c->pg.port()) + "/postgres?" + query;
    }
    TlsCluster* c = nullptr;
};

Task<bool> session_uses_tls(db::Pool& db) {
    auto row = co_await db.query_one("select ssl from pg_stat_ssl where pid = pg_backend_pid()");
    co_return row.get<bool>(0);
}

}  // namespace

TEST_F(DbPgTls, RequireEncryptsAndLargeResultsAndPipelinedStatementsComeThroughWhole) {
    for (bool pipeline : {false, true}) {
        SCOPED_TRACE(pipeline ? "pipeline" : "no pipeline");
        run_bounded([&]() -> Task<void> {
            auto db = co_await db::connect(url("sslmode=require"), {.min_size = 1, .max_size = 2, .pipeline = pipeline});
            EXPECT_TRUE(co_await session_uses_tls(db));
            // 20,000 rows of about 100 bytes: a result of many TLS records, read as they come.
            auto rows = co_await db.query("select g, repeat(md5(g::text), 3) from generate_series(1, 20000) g");
            EXPECT_EQ(rows.size(), 20000u);
            std::int64_t sum = 0;
            bool lengths_ok = true;
            for (const auto& row : rows) {
                sum += row.get<std::int32_t>(0);
                lengths_ok = lengths_ok && row.get<std::string>(1).size() == 96;
            }
            EXPECT_EQ(sum, std::int64_t{20000} * 20001 / 2);
            EXPECT_TRUE(lengths_ok);
            // 100 statements at once on 2 connections, each answered with 40,000 bytes (records split across
            // reads, answers back to back on one connection when pipelined).
            std::vector<JoinHandle<std::string>> tasks;
            for (int k = 0; k < 100; ++k) {
                tasks.push_back(corio::spawn([](db::Pool db, int k) -> Task<std::string> {
                    auto row = co_await db.query_one("select repeat(chr(65 + $1::int % 26), 40000)", k);
                    co_return row.get<std::string>(0);
                }(db, k)));
            }
            int whole = 0;
            for (int k = 0; k < 100; ++k) {
                std::string s = co_await tasks[static_cast<std::size_t>(k)];
                if (s == std::string(40000, static_cast<char>('A' + k % 26))) ++whole;
            }
            EXPECT_EQ(whole, 100);
            EXPECT_LE(db.statistics().size, 2u);
            co_await db.close();
        }());
    }
}

TEST_F(DbPgTls, VerifyFullAcceptsTheServersCertificateOnlyFromItsAuthority) {
    corio_test::TestPki other;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url("sslmode=verify-full&sslrootcert=" + c->pki.ca_file()));
        EXPECT_TRUE(co_await session_uses_tls(db));
        co_await db.close();
        // Another authority's root: the handshake fails, a ConnectionError that says why, and no hang.
        auto err = co_await error_of<db::ConnectionError>(
            db::connect(url("sslmode=verify-full&sslrootcert=" + other.ca_file())));
        EXPECT_TRUE(contains(err, "certificate")) << err;
        // sslmode=disable still connects in clear to the same server.
        auto clear = co_await db::connect(url("sslmode=disable"));
        EXPECT_FALSE(co_await session_uses_tls(clear));
        co_await clear.close();
    }());
}

TEST_F(DbPgTls, ACancelledQueryOverTlsIsCancelledAndItsConnectionServesTheNext) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url("sslmode=require"), {.min_size = 1, .max_size = 1});
        auto pid = (co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        auto h = corio::spawn(db.query("select pg_sleep(10)"));
        co_await corio::sleep(200ms);
        auto start = std::chrono::steady_clock::now();
        h.cancel();
        auto err = co_await error_of<corio::CancelledError>(joined(std::move(h)));
        EXPECT_NE(err, "<no error>");
        EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
        // The same encrypted session answers next.
        EXPECT_EQ((co_await db.query_one("select pg_backend_pid()")).get<std::int32_t>(0), pid);
        EXPECT_TRUE(co_await session_uses_tls(db));
        EXPECT_EQ(db.statistics().opened, 1u);
        co_await db.close();
    }());
}

namespace {

/// A TLS front for the cluster that sends each answer in records of 16 KiB, the TLS maximum, as some servers and
/// proxies do (PostgreSQL's own records hold 8 KiB at most). libpq then reads less than a record per call, and
/// the rest of the record waits decrypted inside OpenSSL. Blocking OpenSSL on threads of its own (one per
/// connection), never on the loop. It knows of the protocol only the SSLRequest that starts a session and the
/// framing of the server's messages: an answer goes out when its ReadyForQuery has come.
class BigRecordTlsProxy {
public:
    BigRecordTlsProxy(std::uint16_t pg_port, const corio_test::TlsIdentity& id) : m_pg_port(pg_port) {
        m_ctx = SSL_CTX_new(TLS_server_method());
        if (!m_ctx || SSL_CTX_use_certificate_chain_file(m_ctx, id.cert.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(m_ctx, id.key.c_str(), SSL_FILETYPE_PEM) != 1)
            throw std::runtime_error("proxy: bad certificate");
        m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(m_listen, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(m_listen, 16) != 0 ||
            ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("proxy: cannot listen");
        m_port = ntohs(a.sin_port);
        m_acceptor = std::thread([this] {
            for (;;) {
                int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0) return;  // shut down
                std::lock_guard lock(m_mutex);
                m_sessions.emplace_back([this, fd] { serve(fd); });
            }
        });
    }
    ~BigRecordTlsProxy() {
        m_stop = true;
        ::shutdown(m_listen, SHUT_RDWR);
        m_acceptor.join();
        ::close(m_listen);
        for (auto& t : m_sessions) t.join();
        SSL_CTX_free(m_ctx);
    }
    [[nodiscard]] std::uint16_t port() const { return m_port; }

private:
    void serve(int client) {
        int server = -1;
        SSL* ssl = nullptr;
        auto end = [&] {
            if (ssl) SSL_free(ssl);
            if (server >= 0) ::close(server);
            ::close(client);
        };
        // The SSLRequest (length 8, code 80877103) is answered 'S', then the handshake.
        unsigned char request[8];
        if (::recv(client, request, 8, MSG_WAITALL) != 8 || request[3] != 8 || request[4] != 0x04 ||
            request[5] != 0xd2 || request[6] != 0x16 || request[7] != 0x2f || ::send(client, "S", 1, 0) != 1) {
            end();
            return;
        }
        ssl = SSL_new(m_ctx);
        SSL_set_fd(ssl, client);
        server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(m_pg_port);
        int on = 1;
        if (SSL_accept(ssl) != 1 || ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0 ||
            ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
            end();
            return;
        }
        std::string answer;  // the server's bytes not yet sent on
        std::size_t parsed = 0;  // where the next message of `answer` starts
        char buf[65536];
        while (!m_stop) {
            pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
            if (SSL_pending(ssl) == 0 && ::poll(fds, 2, 100) <= 0) continue;
            if (SSL_pending(ssl) > 0 || (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                int n = SSL_read(ssl, buf, sizeof buf);
                if (n <= 0 || ::send(server, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
            }
            if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = ::recv(server, buf, sizeof buf, 0);
                if (n <= 0) break;
                answer.append(buf, static_cast<std::size_t>(n));
                std::size_t until = 0;  // the end of the last ReadyForQuery received whole
                while (answer.size() - parsed >= 5) {
                    std::uint32_t len = (std::uint32_t(std::uint8_t(answer[parsed + 1])) << 24) |
                                        (std::uint32_t(std::uint8_t(answer[parsed + 2])) << 16) |
                                        (std::uint32_t(std::uint8_t(answer[parsed + 3])) << 8) |
                                        std::uint32_t(std::uint8_t(answer[parsed + 4]));
                    if (answer.size() - parsed < 1 + std::size_t{len}) break;
                    bool ready = answer[parsed] == 'Z';
                    parsed += 1 + len;
                    if (ready) until = parsed;
                }
                bool ok = true;
                for (std::size_t at = 0; ok && at < until; at += 16384) {  // records of 16 KiB, the last shorter
                    int part = static_cast<int>(std::min<std::size_t>(16384, until - at));
                    ok = SSL_write(ssl, answer.data() + at, part) == part;
                }
                if (!ok) break;
                answer.erase(0, until);
                parsed -= until;
            }
        }
        end();
    }

    std::uint16_t m_pg_port;
    std::uint16_t m_port = 0;
    SSL_CTX* m_ctx = nullptr;
    int m_listen = -1;
    std::atomic<bool> m_stop{false};
    std::mutex m_mutex;
    std::thread m_acceptor;
    std::vector<std::thread> m_sessions;
};

}  // namespace

TEST_F(DbPgTls, AnswersInTlsRecordsLargerThanLibpqReadsAtOnceAreReadWhole) {
    BigRecordTlsProxy proxy(c->pg.port(), c->server);
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect("postgresql://postgres@127.0.0.1:" + std::to_string(proxy.port()) +
                                           "/postgres?sslmode=require",
                                       {.min_size = 1, .max_size = 1});
        // Answers of every size from 1 KiB to 60 KiB, one value or many rows: some end in a record that libpq
        // reads only in part. Without reading on, such an answer never completes.
        int whole = 0, asked = 0;
        for (int k = 1; k <= 60; ++k) {
            ++asked;
            try {
                auto row = co_await corio::timeout(2s, db.query_one("select repeat('x', $1::int)", k * 1013));
                if (row.get<std::string>(0).size() == static_cast<std::size_t>(k * 1013)) ++whole;
            } catch (const corio::TimeoutError&) {
            } catch (const db::Error&) {
            }
            ++asked;
            try {
                auto rows = co_await corio::timeout(2s, db.query("select g, md5(g::text) from generate_series(1, $1::int) g",
                                                                 k * 23));
                if (rows.size() == static_cast<std::size_t>(k * 23)) ++whole;
            } catch (const corio::TimeoutError&) {
            } catch (const db::Error&) {
            }
            if (asked - whole >= 2) break;  // one hang shows it; do not wait through each
        }
        EXPECT_EQ(whole, asked);
        EXPECT_EQ(db.statistics().opened, 1u);
        co_await db.close();
    }());
}
