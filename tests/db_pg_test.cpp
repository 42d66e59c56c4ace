// The public database API (db::connect, Pool, Connection, Transaction, Row) against a private PostgreSQL
// cluster, through the PostgreSQL driver (src/db/pg/driver.cpp): URLs over TCP and a Unix socket, queries,
// every value type, transactions and savepoints, errors, concurrency, cancellation, a terminated backend,
// statement_timeout and LISTEN/NOTIFY.

#include <corio/corio.hpp>
#include <corio/db/db.hpp>

#include "support/postgres.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace std::chrono_literals;
using namespace corio;
using corio_test::run_bounded;
using corio_test::Postgres;

namespace {

class DbPg : public ::testing::Test {
protected:
    void SetUp() override {
        if (corio_test::postgres_bin_dir().empty()) GTEST_SKIP() << "PostgreSQL's server binaries are not installed";
        pg = &corio_test::shared_postgres();
        if (!pg->running()) pg->start();
    }
    [[nodiscard]] std::string url(const std::string& query = "") const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(pg->port()) + "/postgres?sslmode=disable" + query;
    }
    Postgres* pg = nullptr;
};

template <class E, class T>
Task<std::string> error_of(Task<T> task) {
    std::string what = "<no error>";
    try {
        (void)co_await std::move(task);
    } catch (const E& e) {
        what = e.what();
    }
    co_return what;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

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
            std::string("postgresql://") + Postgres::k_password_user + ":wrong@127.0.0.1:" +
            std::to_string(pg->port()) + "/postgres?sslmode=disable"));
        EXPECT_TRUE(contains(bad, "password")) << bad;
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
        auto null_err = co_await error_of<db::TypeError>([&]() -> Task<void> {
            auto r = co_await db.query_one("select null::int4");
            (void)r.get<int>(0);
        }());
        EXPECT_NE(null_err, "<no error>");
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

TEST_F(DbPg, ThousandTasksOnAPoolOfTen) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 10});
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

TEST_F(DbPg, CancellationMidQueryLeavesThePoolUsable) {
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(url(), {.min_size = 1, .max_size = 1});
        auto h = corio::spawn(db.query("select pg_sleep(10)"));
        co_await corio::sleep(200ms);
        h.cancel();
        auto err = co_await error_of<corio::CancelledError>([](JoinHandle<db::Rows> h) -> Task<db::Rows> {
            co_return co_await h;
        }(std::move(h)));
        EXPECT_NE(err, "<no error>");
        // The same (only) connection answers at once.
        auto start = std::chrono::steady_clock::now();
        EXPECT_EQ((co_await db.query_one("select 5")).get<int>(0), 5);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
        EXPECT_EQ(db.statistics().opened, 1u);
        co_await db.close();
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
