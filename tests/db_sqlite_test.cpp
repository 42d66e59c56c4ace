// The database API against SQLite files in a temporary directory: the pool, queries, every value type,
// transactions and savepoints, errors, concurrency, timeouts and cancellation.

#include <corio/corio.hpp>
#include <corio/db/db.hpp>

#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

using namespace std::chrono_literals;
using namespace corio;
using corio_test::run_bounded;
using corio_test::error_of;
using corio_test::contains;
using corio_test::joined;

namespace {

/// A private directory for the test's database files, removed afterwards.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/corio-db-test-XXXXXX";
        const char* made = ::mkdtemp(tmpl);
        if (!made) throw std::runtime_error("mkdtemp failed");
        path = made;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    [[nodiscard]] std::string url(const std::string& name = "app.db", const std::string& query = "") const {
        return "sqlite:///" + (path / name).string() + query;
    }
};

constexpr const char* k_slow_query =
    "with recursive c(x) as (select 1 union all select x + 1 from c where x < 4000000000) select count(*) from c";

/// Stores `v` in an untyped column and reads it back as a T.
template <class T>
Task<T> round_trip(db::Pool db, T v) {
    co_await db.execute("delete from vals");
    co_await db.execute("insert into vals(v) values ($1)", v);
    auto row = co_await db.query_one("select v from vals");
    co_return row.template get<T>(0);
}

Task<db::Pool> open_vals(const TempDir& dir) {
    auto db = co_await db::connect(dir.url());
    co_await db.execute("create table vals(v)");
    co_return db;
}

// ---------------------------------------------------------------------------------------------------------
// connect, and the query family

TEST(DbSqlite, ConnectCreatesTheFileInWalModeWithForeignKeys) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        EXPECT_EQ(db.backend(), "sqlite");
        EXPECT_TRUE(std::filesystem::exists(dir.path / "app.db"));
        auto mode = co_await db.query_one("pragma journal_mode");
        EXPECT_EQ(mode.get<std::string>(0), "wal");
        auto fk = co_await db.query_one("pragma foreign_keys");
        EXPECT_EQ(fk.get<int>(0), 1);
        auto st = db.statistics();
        EXPECT_EQ(st.size, 1u);  // min_size
        EXPECT_EQ(st.idle, 1u);
        EXPECT_EQ(st.max_size, 10u);
        co_await db.close();
        EXPECT_EQ(db.statistics().size, 0u);
        auto err = co_await error_of<db::Error>(db.query("select 1"));
        EXPECT_TRUE(contains(err, "closed")) << err;
    }());
}

TEST(DbSqlite, RelativePathsAreRelativeToTheWorkingDirectory) {
    TempDir dir;
    auto old = std::filesystem::current_path();
    std::filesystem::current_path(dir.path);
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect("sqlite:///rel.db");
        co_await db.execute("create table t(x)");
        co_await db.close();
        auto odd = co_await db::connect("sqlite:///file:odd.db?mode=rwc");  // a file name, not an SQLite URI
        co_await odd.close();
    }());
    std::filesystem::current_path(old);
    EXPECT_TRUE(std::filesystem::exists(dir.path / "rel.db"));
    EXPECT_TRUE(std::filesystem::exists(dir.path / "file:odd.db"));
}

TEST(DbSqlite, QueryQueryOneQueryOptAndExecute) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        EXPECT_EQ(co_await db.execute("create table items(id integer primary key, name text not null, price real)"), 0u);
        EXPECT_EQ(co_await db.execute("insert into items(name, price) values ($1, $2), ($3, $4)", "apple", 1.5, "pear",
                                      std::optional<double>()),
                  2u);
        auto rows = co_await db.query("select id, name, price from items order by id");
        EXPECT_EQ(rows.size(), 2u);
        EXPECT_EQ(rows.rows_affected(), 2u);  // a SELECT: the rows returned
        EXPECT_EQ(rows.column_names(), (std::vector<std::string>{"id", "name", "price"}));
        EXPECT_EQ(rows[0].get<std::string>("name"), "apple");
        EXPECT_EQ(rows[1].get<std::optional<double>>("price"), std::nullopt);
        EXPECT_TRUE(rows[1].is_null(2));
        EXPECT_TRUE(rows[1].is_null("price"));
        std::vector<std::string> names;
        for (const auto& row : rows) names.push_back(row.get<std::string>(1));
        EXPECT_EQ(names, (std::vector<std::string>{"apple", "pear"}));

        auto one = co_await db.query_one("select name from items where id = $1", 1);
        EXPECT_EQ(one.get<std::string>(0), "apple");
        auto none = co_await db.query_opt("select name from items where id = $1", 99);
        EXPECT_FALSE(none);
        auto some = co_await db.query_opt("select name from items where id = $1", 2);
        EXPECT_TRUE(some && some->get<std::string>(0) == "pear");
        auto no_rows = co_await error_of<db::NoRowsError>(db.query_one("select 1 where 0"));
        EXPECT_TRUE(contains(no_rows, "no rows")) << no_rows;
        auto many = co_await error_of<db::TooManyRowsError>(db.query_one("select * from items"));
        EXPECT_TRUE(contains(many, "2 rows")) << many;
        many = co_await error_of<db::TooManyRowsError>(db.query_opt("select * from items"));
        EXPECT_TRUE(contains(many, "2 rows")) << many;

        EXPECT_EQ(co_await db.execute("update items set price = $1", 2.0), 2u);
        EXPECT_EQ(co_await db.execute("delete from items where id = $1", 1), 1u);
        EXPECT_EQ(co_await db.execute("delete from items where id = $1", 1), 0u);
        auto returning = co_await db.query("insert into items(name) values ($1) returning id", "plum");
        EXPECT_EQ(returning.size(), 1u);
        EXPECT_EQ(returning.rows_affected(), 1u);
        EXPECT_EQ(returning[0].get<std::int64_t>(0), 3);
        // Several statements without parameters run in turn; the last one's rows come back.
        auto script = co_await db.query("create table a(x); insert into a values (1); insert into a values (2);"
                                        " select count(*) from a;");
        EXPECT_EQ(script[0].get<int>(0), 2);
        auto multi = co_await error_of<db::SyntaxError>(db.query("select $1; select 2", 1));
        EXPECT_TRUE(contains(multi, "multiple commands")) << multi;
        EXPECT_EQ((co_await db.query_one("select $1; -- a trailing comment", 5)).get<int>(0), 5);
        auto empty = co_await db.query("  -- nothing but a comment");
        EXPECT_TRUE(empty.empty());
    }());
}

TEST(DbSqlite, ParametersAreDollarNumbered) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        auto r = co_await db.query_one("select $2, $1, $2 || $1", "a", "b");
        EXPECT_EQ((r.as<std::tuple<std::string, std::string, std::string>>()),
                  (std::make_tuple(std::string("b"), std::string("a"), std::string("ba"))));
        auto q = co_await db.query_one("select ?2, ?1", 1, 2);  // SQLite's own numbered form works too
        EXPECT_EQ(q.get<int>(0), 2);
        auto few = co_await error_of<db::UndefinedParameter>(db.query("select $1, $2", 1));
        EXPECT_TRUE(contains(few, "no parameter $2")) << few;
        auto many = co_await error_of<db::ProtocolViolation>(db.query("select $1", 1, 2));
        EXPECT_TRUE(contains(many, "supplies 2 parameters")) << many;
        auto named = co_await error_of<db::SyntaxError>(db.query("select :name", 1));
        EXPECT_TRUE(contains(named, ":name")) << named;
        auto too_big = co_await error_of<db::TypeError>(db.query("select $1", std::numeric_limits<std::uint64_t>::max()));
        EXPECT_TRUE(contains(too_big, "std::uint64_t")) << too_big;
    }());
}

// ---------------------------------------------------------------------------------------------------------
// Types

TEST(DbSqlite, IntegersBooleansAndFloatsRoundTripWithExtremes) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await open_vals(dir);
        EXPECT_EQ(co_await round_trip(db, true), true);
        EXPECT_EQ(co_await round_trip(db, false), false);
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<std::int64_t>::min()), std::numeric_limits<std::int64_t>::min());
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<std::int64_t>::max()), std::numeric_limits<std::int64_t>::max());
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<std::int32_t>::min()), std::numeric_limits<std::int32_t>::min());
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<std::int16_t>::max()), std::numeric_limits<std::int16_t>::max());
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<std::uint32_t>::max()), std::numeric_limits<std::uint32_t>::max());
        EXPECT_EQ(co_await round_trip(db, 0.0), 0.0);
        EXPECT_TRUE(std::signbit(co_await round_trip(db, -0.0)));
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<double>::max()), std::numeric_limits<double>::max());
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<double>::lowest()), std::numeric_limits<double>::lowest());
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<double>::denorm_min()), std::numeric_limits<double>::denorm_min());
        EXPECT_EQ(co_await round_trip(db, std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
        EXPECT_EQ(co_await round_trip(db, -std::numeric_limits<double>::infinity()), -std::numeric_limits<double>::infinity());
        EXPECT_TRUE(std::isnan(co_await round_trip(db, std::numeric_limits<double>::quiet_NaN())));
        EXPECT_TRUE(std::isnan(co_await round_trip(db, std::numeric_limits<float>::quiet_NaN())));
        EXPECT_EQ(co_await round_trip(db, 1.1f), 1.1f);
        EXPECT_EQ(co_await round_trip(db, 0.1 + 0.2), 0.1 + 0.2);
        // How SQLite stores them.
        auto stored = co_await db.query_one("select typeof($1), typeof($2), $2", true, std::nan(""));
        EXPECT_EQ(stored.get<std::string>(0), "integer");
        EXPECT_EQ(stored.get<std::string>(1), "text");
        EXPECT_EQ(stored.get<std::string>(2), "NaN");
        // Integers read as wider or narrower types, range-checked.
        auto small = co_await db.query_one("select 70000, 12");
        EXPECT_EQ(small.get<std::int16_t>(1), 12);
        EXPECT_EQ(small.get<double>(0), 70000.0);
        EXPECT_EQ(small.get<std::uint64_t>(0), 70000u);
    }());
}

TEST(DbSqlite, ValuesAtTheEdgesOfTheirCppTypeAreReadOrRefusedNeverOverflowed) {
    // Each of these overflowed a signed or a float conversion before (undefined behaviour: UBSan stops here).
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        using namespace std::chrono;
        auto db = co_await open_vals(dir);
        // A REAL beyond float's range read as a float: a TypeError naming it, not a cast out of range.
        auto big = co_await db.query_one("select 1e300 as big, 3.5 as small, -1e39 as neg");
        auto err = co_await error_of<db::TypeError>([&]() -> Task<void> {
            (void)big.get<float>("big");
            co_return;
        }());
        EXPECT_TRUE(contains(err, "big") && contains(err, "out of the range of float")) << err;
        EXPECT_NE(co_await error_of<db::TypeError>([&]() -> Task<void> {
            (void)big.get<float>("neg");
            co_return;
        }()), "<no error>");
        EXPECT_EQ(big.get<float>("small"), 3.5f);
        EXPECT_EQ(big.get<double>("big"), 1e300);
        EXPECT_EQ(big.get<long double>("big"), static_cast<long double>(1e300));
        // The extremes of a microsecond time point are written and read back.
        db::TimestampTz lowest = db::TimestampTz(microseconds::min());
        db::TimestampTz highest = db::TimestampTz(microseconds::max());
        EXPECT_EQ(co_await round_trip(db, lowest), lowest);
        EXPECT_EQ(co_await round_trip(db, highest), highest);
        // A time point in whole seconds beyond the microsecond range is refused as a parameter.
        auto far = sys_seconds(seconds::min());
        err = co_await error_of<db::TypeError>(db.execute("insert into vals(v) values ($1)", far));
        EXPECT_TRUE(contains(err, "microsecond range")) << err;
        EXPECT_EQ(co_await round_trip(db, sys_seconds(seconds(-62135596800))), sys_seconds(seconds(-62135596800)));
    }());
}

TEST(DbSqlite, TextNumericAndBytesRoundTrip) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await open_vals(dir);
        EXPECT_EQ(co_await round_trip(db, std::string()), "");
        EXPECT_FALSE((co_await db.query_one("select $1", std::string())).is_null(0));  // empty is not NULL
        std::string unicode = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89";
        EXPECT_EQ(co_await round_trip(db, unicode), unicode);
        std::string with_nul("a\0b", 3);
        EXPECT_EQ(co_await round_trip(db, with_nul), with_nul);
        std::string long_text(100'000, 'x');
        EXPECT_EQ(co_await round_trip(db, long_text), long_text);
        auto view = (co_await db.query_one("select $1, $2", std::string_view("view"), "literal"));
        EXPECT_EQ(view.get<std::string>(0), "view");
        EXPECT_EQ(view.get<std::string>(1), "literal");
        db::Numeric exact("12345678901234567890.000000000000000001");
        EXPECT_EQ(co_await round_trip(db, exact), exact);
        EXPECT_EQ((co_await db.query_one("select 42")).get<db::Numeric>(0).str(), "42");
        EXPECT_DOUBLE_EQ(db::Numeric("2.5").to_double(), 2.5);
        EXPECT_TRUE(std::isinf(db::Numeric("1e400").to_double()));
        EXPECT_TRUE(std::isnan(db::Numeric("NaN").to_double()));
        EXPECT_THROW((void)db::Numeric("12abc").to_double(), std::invalid_argument);

        EXPECT_EQ(co_await round_trip(db, db::Bytes{}), db::Bytes{});
        EXPECT_FALSE((co_await db.query_one("select $1", db::Bytes{})).is_null(0));
        db::Bytes big(1 << 20);
        std::mt19937 gen(7);
        for (auto& b : big) b = static_cast<std::byte>(gen());
        EXPECT_EQ(co_await round_trip(db, big), big);
        auto kind = co_await db.query_one("select typeof(v), length(v) from vals");
        EXPECT_EQ(kind.get<std::string>(0), "blob");
        EXPECT_EQ(kind.get<int>(1), 1 << 20);
    }());
}

TEST(DbSqlite, DatesTimestampsUuidsAndJsonRoundTripAsText) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        using namespace std::chrono;
        auto db = co_await open_vals(dir);
        std::vector<db::Date> dates;  // built before the loop: GCC 12 rejects an initializer_list here
        dates.push_back(sys_days(1970y / January / 1));
        dates.push_back(sys_days(2024y / February / 29));
        dates.push_back(sys_days(1y / January / 1));
        dates.push_back(sys_days(9999y / December / 31));
        dates.push_back(sys_days(year(-44) / March / 15));
        dates.push_back(sys_days(year(12345) / June / 1));
        for (db::Date d : dates) {
            EXPECT_EQ(co_await round_trip(db, d), d);
        }
        EXPECT_EQ(co_await round_trip(db, year_month_day(2024y / May / 6)), year_month_day(2024y / May / 6));
        auto text = co_await db.query_one("select $1, $2", sys_days(2024y / May / 6), sys_days(year(-44) / March / 15));
        EXPECT_EQ(text.get<std::string>(0), "2024-05-06");
        EXPECT_EQ(text.get<std::string>(1), "-0044-03-15");

        db::Timestamp ts = local_days(2024y / May / 6) + 7h + 8min + 9s + 123456us;
        EXPECT_EQ(co_await round_trip(db, ts), ts);
        db::Timestamp before_epoch = local_days(1969y / December / 31) + 23h + 59min + 59s + 999999us;
        EXPECT_EQ(co_await round_trip(db, before_epoch), before_epoch);
        db::TimestampTz tz = sys_days(2024y / May / 6) + 7h + 8min + 9s + 500000us;
        EXPECT_EQ(co_await round_trip(db, tz), tz);
        db::TimestampTz first = sys_days(1y / January / 1) + 0us;
        EXPECT_EQ(co_await round_trip(db, first), first);
        db::TimestampTz last = sys_days(9999y / December / 31) + 23h + 59min + 59s + 999999us;
        EXPECT_EQ(co_await round_trip(db, last), last);
        auto ts_text = co_await db.query_one("select $1, $2", ts, sys_days(2024y / May / 6) + 0us);
        EXPECT_EQ(ts_text.get<std::string>(0), "2024-05-06 07:08:09.123456");
        EXPECT_EQ(ts_text.get<std::string>(1), "2024-05-06 00:00:00");
        // SQLite's own timestamps, and ISO text with offsets, read as time points.
        auto now = co_await db.query_one("select current_timestamp, '2024-05-06T09:08:09+02:00', '2024-05-06', "
                                         "'2024-05-06 07:08:09.5Z'");
        auto current = now.get<db::TimestampTz>(0);
        EXPECT_LT(abs(current - time_point_cast<microseconds>(system_clock::now())), 5s);
        EXPECT_EQ(now.get<db::TimestampTz>(1), sys_days(2024y / May / 6) + 7h + 8min + 9s + 0us);
        EXPECT_EQ(now.get<db::Timestamp>(2), local_days(2024y / May / 6) + 0us);
        EXPECT_EQ(now.get<db::TimestampTz>(3), sys_days(2024y / May / 6) + 7h + 8min + 9s + 500ms);
        EXPECT_EQ(now.get<std::chrono::system_clock::time_point>(3), sys_days(2024y / May / 6) + 7h + 8min + 9500ms);

        auto id = db::Uuid::random();
        EXPECT_EQ(co_await round_trip(db, id), id);
        EXPECT_EQ((co_await db.query_one("select $1", id)).get<std::string>(0), id.to_string());
        auto parsed = db::Uuid::parse("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");
        EXPECT_EQ(parsed.to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        EXPECT_EQ((co_await db.query_one("select x'a0eebc999c0b4ef8bb6d6bb9bd380a11'")).get<db::Uuid>(0),
                  parsed);

        nlohmann::json doc = {{"name", "ada"}, {"tags", {"x", "y"}}, {"n", 1.5}, {"none", nullptr}};
        EXPECT_EQ(co_await round_trip(db, doc), doc);
        EXPECT_EQ((co_await db.query_one("select json_extract($1, '$.tags[1]')", doc)).get<std::string>(0), "y");
        EXPECT_EQ((co_await db.query_one("select json_extract($1, '$.n')", doc)).get<nlohmann::json>(0), 1.5);
    }());
}

TEST(DbSqlite, ArraysAreJsonTextAndNullsAreOptionals) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        using namespace std::chrono;
        auto db = co_await open_vals(dir);
        std::vector<std::int64_t> ints = {1, -2, std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()};
        EXPECT_EQ(co_await round_trip(db, ints), ints);
        std::vector<int> three = {1, 2, 3};  // not inside co_await: GCC 12 rejects an initializer_list there
        EXPECT_EQ((co_await db.query_one("select $1", three)).get<std::string>(0), "[1,2,3]");
        EXPECT_EQ(co_await round_trip(db, std::vector<std::string>{}), std::vector<std::string>{});
        std::vector<std::string> strings = {"a", "", "\xE2\x82\xAC", "quote\"back\\slash"};
        EXPECT_EQ(co_await round_trip(db, strings), strings);
        std::vector<std::optional<int>> holes = {1, std::nullopt, 3};
        EXPECT_EQ(co_await round_trip(db, holes), holes);
        std::vector<double> specials = {0.5, std::numeric_limits<double>::infinity(), std::nan("")};
        auto doubles = co_await round_trip(db, specials);
        EXPECT_EQ(doubles.size(), 3u);
        if (doubles.size() == 3) {
            EXPECT_EQ(doubles[0], 0.5);
            EXPECT_TRUE(std::isinf(doubles[1]));
            EXPECT_TRUE(std::isnan(doubles[2]));
        }
        std::vector<db::Bytes> blobs = {db::Bytes{std::byte{0}, std::byte{0xff}}, db::Bytes{}};
        EXPECT_EQ(co_await round_trip(db, blobs), blobs);
        std::vector<db::Date> dates = {sys_days(2024y / May / 6), sys_days(1999y / December / 31)};
        EXPECT_EQ(co_await round_trip(db, dates), dates);
        std::vector<db::Uuid> ids = {db::Uuid::random(), db::Uuid()};
        EXPECT_EQ(co_await round_trip(db, ids), ids);
        std::vector<bool> flags = {true, false};
        EXPECT_EQ(co_await round_trip(db, flags), flags);
        std::vector<db::Numeric> amounts = {db::Numeric("1.10"), db::Numeric("-0.000001")};
        EXPECT_EQ(co_await round_trip(db, amounts), amounts);
        // NULL <-> std::optional, for every kind.
        EXPECT_EQ(co_await round_trip(db, std::optional<std::int64_t>()), std::nullopt);
        EXPECT_EQ(co_await round_trip(db, std::optional<std::string>("x")), "x");
        EXPECT_EQ(co_await round_trip(db, std::optional<std::vector<int>>()), std::nullopt);
        EXPECT_EQ(co_await round_trip(db, std::optional<db::TimestampTz>()), std::nullopt);
        auto nulls = co_await db.query_one("select $1, $2, $3", std::nullopt, nullptr, std::optional<db::Uuid>());
        EXPECT_TRUE(nulls.is_null(0) && nulls.is_null(1) && nulls.is_null(2));
        co_await db.execute("delete from vals");
        co_await db.execute("insert into vals(v) values ($1)", holes);
        auto row = co_await db.query_one("select v from vals");
        std::string msg;
        try {
            (void)row.get<std::vector<int>>(0);
        } catch (const db::TypeError& e) {
            msg = e.what();
        }
        EXPECT_TRUE(contains(msg, "element 1 is NULL")) << msg;
    }());
}

TEST(DbSqlite, TypeErrorNamesTheColumnItsSqlTypeAndTheCppType) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table people(id integer primary key, name text, born date)");
        co_await db.execute("insert into people(name, born) values ($1, $2), (NULL, 'someday')", "ada",
                            std::chrono::sys_days(std::chrono::year(1815) / 12 / 10));
        auto rows = co_await db.query("select id, name, born from people order by id");
        auto message = [](auto&& read) { return corio_test::message_of<db::TypeError>(read); };
        std::string m = message([&] { (void)rows[0].get<std::int64_t>("name"); });
        EXPECT_TRUE(contains(m, "column 1 \"name\"")) << m;
        EXPECT_TRUE(contains(m, "SQL type TEXT")) << m;  // SQLite upper-cases the standard type names
        EXPECT_TRUE(contains(m, "std::int64_t")) << m;
        m = message([&] { (void)rows[1].get<std::string>("name"); });
        EXPECT_TRUE(contains(m, "is NULL")) << m;
        EXPECT_TRUE(contains(m, "std::optional<std::string>")) << m;
        m = message([&] { (void)rows[1].get<db::Date>("born"); });
        EXPECT_TRUE(contains(m, "column 2 \"born\" (SQL type date)")) << m;
        EXPECT_TRUE(contains(m, "std::chrono::sys_days")) << m;
        EXPECT_TRUE(contains(m, "\"someday\" is not an ISO-8601 date")) << m;
        auto big = co_await db.query_one("select 70000 as n");
        m = message([&] { (void)big.get<std::int16_t>("n"); });
        EXPECT_TRUE(contains(m, "std::int16_t")) << m;
        EXPECT_TRUE(contains(m, "70000 is out of its range")) << m;
        EXPECT_TRUE(contains(m, "SQL type INTEGER")) << m;  // an expression: the value's storage class
        m = message([&] { (void)rows[0].as<std::tuple<int, std::string>>(); });
        EXPECT_TRUE(contains(m, "3 columns")) << m;
        EXPECT_EQ(rows[0].get<db::Date>(2), std::chrono::sys_days(std::chrono::year(1815) / 12 / 10));
        EXPECT_THROW((void)rows[0].get<int>("nope"), db::Error);
        EXPECT_THROW((void)rows[0].get<int>(3), db::Error);
        EXPECT_THROW((void)rows.at(2), db::Error);
    }());
}

struct Item {
    std::int64_t id;
    std::string name;
    std::optional<double> price;
    std::vector<std::string> tags;
};

TEST(DbSqlite, RowsReadAsTuplesAndStructs) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table items(id integer primary key, name text, price real, tags text)");
        std::vector<std::string> tags = {"red", "round"};
        co_await db.execute("insert into items(name, price, tags) values ($1, $2, $3), ($4, NULL, '[]')", "apple", 1.25,
                            tags, "pear");
        auto items = co_await db.query_as<Item>("select id, name, price, tags from items order by id");
        EXPECT_EQ(items.size(), 2u);
        if (items.size() == 2) {
            EXPECT_EQ(items[0].id, 1);
            EXPECT_EQ(items[0].name, "apple");
            EXPECT_EQ(items[0].price, 1.25);
            EXPECT_EQ(items[0].tags, tags);
            EXPECT_EQ(items[1].price, std::nullopt);
            EXPECT_TRUE(items[1].tags.empty());
        }
        auto pairs = co_await db.query_as<std::pair<std::int64_t, std::string>>("select id, name from items order by id");
        EXPECT_EQ(pairs.size(), 2u);
        auto row = co_await db.query_one("select id, name from items where id = $1", 2);
        auto [id, name] = row.as<std::tuple<int, std::string>>();
        EXPECT_EQ(id, 2);
        EXPECT_EQ(name, "pear");
        EXPECT_EQ(row.size(), 2u);
        EXPECT_EQ(row.column_name(1), "name");
        EXPECT_EQ(row.index_of("name"), 1u);
        auto arity = co_await error_of<db::TypeError>(db.query_as<Item>("select id, name from items"));
        EXPECT_TRUE(contains(arity, "2 columns but the struct has 4 fields")) << arity;
    }());
}

// ---------------------------------------------------------------------------------------------------------
// Transactions

Task<std::int64_t> count(db::Pool db, std::string table) {
    auto row = co_await db.query_one("select count(*) from " + table);
    co_return row.get<std::int64_t>(0);
}

TEST(DbSqlite, TransactionsCommitAndRollBack) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table t(x integer)");
        {
            auto tx = co_await db.begin();
            EXPECT_TRUE(tx.active());
            EXPECT_EQ(tx.depth(), 1u);
            co_await tx.execute("insert into t values ($1)", 1);
            EXPECT_EQ((co_await tx.query_one("select count(*) from t")).get<int>(0), 1);
            co_await tx.commit();
            EXPECT_FALSE(tx.active());
            auto late = co_await error_of<db::Error>(tx.execute("insert into t values (9)"));
            EXPECT_TRUE(contains(late, "no longer active")) << late;
        }
        EXPECT_EQ(co_await count(db, "t"), 1);
        {
            auto tx = co_await db.begin();
            co_await tx.execute("insert into t values ($1)", 2);
            co_await tx.rollback();
        }
        EXPECT_EQ(co_await count(db, "t"), 1);
        EXPECT_EQ(db.statistics().in_use, 0u);
    }());
}

TEST(DbSqlite, AnUncommittedTransactionIsRolledBackBeforeItsConnectionIsReused) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 1});
        co_await db.execute("create table t(x integer)");
        {
            auto tx = co_await db.begin();
            co_await tx.execute("insert into t values (1)");
        }  // dropped: rolled back
        EXPECT_EQ(co_await count(db, "t"), 0);
        {
            auto conn = co_await db.acquire();
            co_await conn.execute("begin");  // raw SQL: the pool still notices the open transaction
            co_await conn.execute("insert into t values (2)");
        }
        EXPECT_EQ(co_await count(db, "t"), 0);
        auto tx = co_await db.begin();  // the connection is clean: a new transaction starts
        co_await tx.execute("insert into t values (3)");
        co_await tx.commit();
        EXPECT_EQ(co_await count(db, "t"), 1);
        EXPECT_EQ(db.statistics().opened, 1u);  // the same connection throughout
    }());
}

TEST(DbSqlite, NestedTransactionsAreSavepoints) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table t(x integer)");
        auto tx = co_await db.begin();
        co_await tx.execute("insert into t values (1)");
        {
            auto sp = co_await tx.begin();
            EXPECT_EQ(sp.depth(), 2u);
            co_await sp.execute("insert into t values (2)");
            co_await sp.commit();  // RELEASE
        }
        {
            auto sp = co_await tx.begin();
            co_await sp.execute("insert into t values (3)");
            co_await sp.rollback();  // ROLLBACK TO
        }
        {
            auto sp = co_await tx.begin();
            co_await sp.execute("insert into t values (4)");
            auto inner = co_await sp.begin();
            co_await inner.execute("insert into t values (5)");
        }  // both dropped: rolled back before the next statement
        co_await tx.execute("insert into t values (6)");
        auto sp = co_await tx.begin();
        co_await tx.commit();  // the parent's end ends the savepoint
        EXPECT_FALSE(sp.active());
        auto dead = co_await error_of<db::Error>(sp.commit());
        EXPECT_TRUE(contains(dead, "no longer active")) << dead;
        auto rows = co_await db.query("select x from t order by x");
        std::vector<int> xs;
        for (const auto& r : rows) xs.push_back(r.get<int>(0));
        EXPECT_EQ(xs, (std::vector<int>{1, 2, 6}));
    }());
}

TEST(DbSqlite, TransactionsOnAHeldConnection) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table t(x integer)");
        auto conn = co_await db.acquire();
        EXPECT_TRUE(conn.valid());
        {
            auto tx = co_await conn.begin();
            co_await tx.execute("insert into t values (1)");
            auto twice = co_await error_of<db::Error>(conn.begin());
            EXPECT_TRUE(contains(twice, "already has an open transaction")) << twice;
        }  // dropped: rolled back before the connection's next statement
        EXPECT_EQ((co_await conn.query_one("select count(*) from t")).get<int>(0), 0);
        auto tx = co_await conn.begin();
        co_await tx.execute("insert into t values (2)");
        co_await tx.commit();
        conn.release();
        EXPECT_FALSE(conn.valid());
        EXPECT_EQ(co_await count(db, "t"), 1);
    }());
}

Task<void> second_writer(db::Pool db, bool* done) {
    auto tx = co_await db.begin();  // BEGIN IMMEDIATE: waits for the first writer's lock
    co_await tx.execute("insert into t values (2)");
    co_await tx.commit();
    *done = true;
}

TEST(DbSqlite, ConcurrentWritersQueueOnTheLockInsteadOfFailing) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table t(x integer)");
        auto tx = co_await db.begin();
        (void)co_await tx.query("select count(*) from t");
        bool done = false;
        auto other = corio::spawn(second_writer(db, &done));
        co_await corio::sleep(50ms);
        EXPECT_FALSE(done);
        co_await tx.execute("insert into t values (1)");
        co_await tx.commit();
        co_await other;
        EXPECT_TRUE(done);
        EXPECT_EQ(co_await count(db, "t"), 2);
    }());
}

// ---------------------------------------------------------------------------------------------------------
// Errors

TEST(DbSqlite, ConstraintViolationsMapToTheirSqlstateClasses) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table users(id integer primary key, email text unique not null,"
                            " age integer check (age >= 0))");
        co_await db.execute("create table orders(id integer primary key, user_id integer references users(id))");
        co_await db.execute("insert into users(email, age) values ($1, $2)", "a@x", 30);
        std::string state;
        std::string constraint;
        bool as_class = false;
        try {
            co_await db.execute("insert into users(email, age) values ($1, $2)", "a@x", 31);
        } catch (const db::UniqueViolation& e) {
            state = e.sqlstate();
            constraint = e.constraint();
            EXPECT_TRUE(contains(e.what(), "UNIQUE constraint failed: users.email")) << e.what();
            EXPECT_TRUE(contains(e.what(), "SQLSTATE 23505")) << e.what();
            EXPECT_EQ(e.detail(), "SQLITE_CONSTRAINT_UNIQUE");
            EXPECT_EQ(e.info().table, "users");
            EXPECT_EQ(e.info().column, "email");
        }
        EXPECT_EQ(state, "23505");
        EXPECT_EQ(db::UniqueViolation::k_sqlstate, "23505");
        EXPECT_EQ(constraint, "users.email");
        static_assert(std::is_base_of_v<db::IntegrityConstraintViolation, db::UniqueViolation>);
        try {
            co_await db.execute("insert into users(email) values ($1)", "a@x");
        } catch (const db::IntegrityConstraintViolation& e) {
            as_class = e.sqlstate() == "23505";
        }
        EXPECT_TRUE(as_class);
        auto pk = co_await error_of<db::UniqueViolation>(db.execute("insert into users(id, email) values (1, 'b')"));
        EXPECT_TRUE(contains(pk, "23505")) << pk;
        auto fk = co_await error_of<db::ForeignKeyViolation>(db.execute("insert into orders(user_id) values (42)"));
        EXPECT_TRUE(contains(fk, "23503")) << fk;
        auto nn = co_await error_of<db::NotNullViolation>(db.execute("insert into users(email) values (NULL)"));
        EXPECT_TRUE(contains(nn, "23502")) << nn;
        auto check = co_await error_of<db::CheckViolation>(db.execute("insert into users(email, age) values ('c', -1)"));
        EXPECT_TRUE(contains(check, "23514")) << check;
        auto syntax = co_await error_of<db::SyntaxError>(db.query("selec 1"));
        EXPECT_TRUE(contains(syntax, "42601")) << syntax;
        EXPECT_TRUE(contains(syntax, "query: selec 1")) << syntax;
        auto table = co_await error_of<db::UndefinedTable>(db.query("select * from nowhere"));
        EXPECT_TRUE(contains(table, "no such table")) << table;
        auto column = co_await error_of<db::UndefinedColumn>(db.query("select nope from users"));
        EXPECT_TRUE(contains(column, "42703")) << column;
        auto any = co_await error_of<db::DatabaseError>(db.execute("commit"));
        EXPECT_TRUE(contains(any, "25P01")) << any;
        // The pool is fine after all of them.
        EXPECT_EQ(co_await count(db, "users"), 1);
    }());
}

TEST(DbSqlite, OpeningWhatIsNotADatabaseIsAConnectionError) {
    TempDir dir;
    {
        std::ofstream junk(dir.path / "junk.db");
        junk << std::string(4096, 'j');
    }
    run_bounded([&]() -> Task<void> {
        auto junk = co_await error_of<db::ConnectionError>(db::connect(dir.url("junk.db")));
        EXPECT_TRUE(contains(junk, "junk.db")) << junk;
        auto missing = co_await error_of<db::ConnectionError>(db::connect(dir.url("no/such/dir/x.db")));
        EXPECT_TRUE(contains(missing, "cannot open")) << missing;
        auto rw = co_await error_of<db::ConnectionError>(db::connect(dir.url("absent.db", "?mode=rw")));
        EXPECT_TRUE(contains(rw, "absent.db")) << rw;
        auto bad_options = co_await error_of<db::ConfigError>(db::connect(dir.url(), {.max_size = 0}));
        EXPECT_TRUE(contains(bad_options, "max_size")) << bad_options;
        bad_options = co_await error_of<db::ConfigError>(db::connect(dir.url(), {.acquire_timeout = 0ms}));
        EXPECT_TRUE(contains(bad_options, "acquire_timeout")) << bad_options;
        bad_options = co_await error_of<db::ConfigError>(db::connect(dir.url(), {.cleanup_timeout = 0ms}));
        EXPECT_TRUE(contains(bad_options, "cleanup_timeout")) << bad_options;
        auto url = co_await error_of<db::ConfigError>(db::connect("sqlite://host/x.db"));
        EXPECT_TRUE(contains(url, "no host")) << url;
        // Read-only: reads work, writes are ReadOnlySqlTransaction.
        auto db = co_await db::connect(dir.url("ro.db"));
        co_await db.execute("create table t(x)");
        co_await db.close();
        auto ro = co_await db::connect(dir.url("ro.db", "?mode=ro"));
        EXPECT_EQ(co_await count(ro, "t"), 0);
        auto write = co_await error_of<db::ReadOnlySqlTransaction>(ro.execute("insert into t values (1)"));
        EXPECT_TRUE(contains(write, "25006")) << write;
    }());
}

// ---------------------------------------------------------------------------------------------------------
// Concurrency, timeouts, cancellation

Task<void> hit(db::Pool db, int i) {
    co_await db.execute("insert into hits(task) values ($1)", i);
    auto row = co_await db.query_one("select count(*) from hits where task = $1", i);
    EXPECT_EQ(row.get<int>(0), 1);
}

TEST(DbSqlite, AThousandTasksShareAPoolOfTen) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.min_size = 2, .max_size = 10});
        co_await db.execute("create table hits(task integer)");
        std::vector<Task<void>> tasks;
        for (int i = 0; i < 1000; ++i) tasks.push_back(hit(db, i));
        co_await corio::gather(std::move(tasks));
        EXPECT_EQ(co_await count(db, "hits"), 1000);
        EXPECT_EQ((co_await db.query_one("select count(distinct task) from hits")).get<int>(0), 1000);
        auto st = db.statistics();
        EXPECT_LE(st.size, 10u);
        EXPECT_LE(st.opened, 10u);
        EXPECT_GE(st.acquired, 2001u);
        EXPECT_EQ(st.in_use, 0u);
        EXPECT_EQ(st.waiting, 0u);
    }());
}

TEST(DbSqlite, AcquireGivesUpAfterAcquireTimeout) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 1, .acquire_timeout = 100ms});
        auto held = co_await db.acquire();
        auto start = Clock::now();
        auto err = co_await error_of<db::PoolTimeout>(db.query("select 1"));
        auto waited = Clock::now() - start;
        EXPECT_TRUE(contains(err, "100 ms")) << err;
        EXPECT_GE(waited, 90ms);
        EXPECT_LT(waited, 2s);
        EXPECT_EQ(db.statistics().timeouts, 1u);
        EXPECT_EQ(db.statistics().waiting, 0u);
        held.release();
        EXPECT_EQ((co_await db.query_one("select 1")).get<int>(0), 1);
    }());
}

Task<void> ticker(const bool* stop, Clock::duration* worst) {
    auto last = Clock::now();
    while (!*stop) {
        co_await corio::sleep(1ms);
        auto now = Clock::now();
        *worst = std::max(*worst, now - last);
        last = now;
    }
}

TEST(DbSqlite, CancellingAQueryInterruptsItAndKeepsThePoolUsable) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 1});
        bool stop = false;
        Clock::duration worst{};
        auto tick = corio::spawn(ticker(&stop, &worst));
        auto start = Clock::now();
        bool timed_out = false;
        try {
            (void)co_await corio::timeout(200ms, db.query(k_slow_query));
        } catch (const corio::TimeoutError&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_LT(Clock::now() - start, 3s);
        EXPECT_EQ((co_await db.query_one("select 41 + 1")).get<int>(0), 42);
        // Cancelling the task that awaits.
        auto h = corio::spawn(db.query(k_slow_query));
        co_await corio::sleep(50ms);
        h.cancel();
        bool cancelled = false;
        try {
            (void)co_await h;
        } catch (const corio::CancelledError&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        // A statement queued behind another on a held connection is dropped from the queue.
        auto conn = co_await db.acquire();
        auto running = corio::spawn(conn.query(k_slow_query));
        auto queued = corio::spawn(conn.query("select 1"));
        co_await corio::sleep(20ms);
        queued.cancel();
        auto err = co_await error_of<corio::CancelledError>(joined(std::move(queued)));
        EXPECT_TRUE(contains(err, "cancelled")) << err;
        running.cancel();
        err = co_await error_of<corio::CancelledError>(joined(std::move(running)));
        EXPECT_TRUE(contains(err, "cancelled")) << err;
        EXPECT_EQ((co_await conn.query_one("select 7")).get<int>(0), 7);
        conn.release();
        stop = true;
        co_await tick;
        // The loop turned all along: the query ran on the connection's thread.
        EXPECT_LT(worst, 100ms);
        auto st = db.statistics();
        EXPECT_EQ(st.opened, 1u);  // never discarded
        EXPECT_EQ(st.closed, 0u);
    }());
}

TEST(DbSqlite, StatementTimeoutRaisesQueryCanceled) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 1, .statement_timeout = 100ms});
        std::string state;
        try {
            (void)co_await db.query(k_slow_query);
        } catch (const db::QueryCanceled& e) {
            state = e.sqlstate();
        }
        EXPECT_EQ(state, "57014");
        EXPECT_EQ((co_await db.query_one("select 1")).get<int>(0), 1);
    }());
}

TEST(DbSqlite, BusyTimeoutBoundsTheWaitForAnotherWritersLock) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 2, .busy_timeout = 100ms});
        co_await db.execute("create table t(x)");
        auto a = co_await db.acquire();
        auto b = co_await db.acquire();
        co_await a.execute("begin immediate");
        auto start = Clock::now();
        auto err = co_await error_of<db::LockNotAvailable>(b.execute("insert into t values (1)"));
        EXPECT_TRUE(contains(err, "55P03")) << err;
        EXPECT_GE(Clock::now() - start, 90ms);
        // A cancelled wait for the lock ends at once.
        start = Clock::now();
        auto waiting = corio::spawn(b.execute("insert into t values (2)"));
        co_await corio::sleep(20ms);
        waiting.cancel();
        auto cancelled = co_await error_of<corio::CancelledError>(joined(std::move(waiting)));
        EXPECT_TRUE(contains(cancelled, "cancelled")) << cancelled;
        EXPECT_LT(Clock::now() - start, 90ms);
        co_await a.execute("commit");
        EXPECT_EQ(co_await b.execute("insert into t values (3)"), 1u);
    }());
}

TEST(DbSqlite, MemoryPoolsShareOneDatabase) {
    run_bounded([]() -> Task<void> {
        auto db = co_await db::connect("sqlite://:memory:", {.max_size = 8});
        EXPECT_EQ(db.statistics().max_size, 1u);
        co_await db.execute("create table t(x)");
        std::vector<Task<std::uint64_t>> inserts;
        for (int i = 0; i < 20; ++i) inserts.push_back(db.execute("insert into t values ($1)", i));
        co_await corio::gather(std::move(inserts));
        EXPECT_EQ(co_await count(db, "t"), 20);
        auto other = co_await db::connect("sqlite://:memory:");  // another pool: another database
        auto err = co_await error_of<db::UndefinedTable>(other.query("select * from t"));
        EXPECT_TRUE(contains(err, "no such table")) << err;
    }());
}

TEST(DbSqlite, ExpiredAndIdleConnectionsAreReplaced) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.min_size = 0, .max_size = 2, .max_lifetime = 50ms,
                                                   .health_check_after = 0ms});
        EXPECT_EQ(db.statistics().size, 0u);
        EXPECT_EQ((co_await db.query_one("select 1")).get<int>(0), 1);
        co_await corio::sleep(80ms);
        EXPECT_EQ((co_await db.query_one("select 2")).get<int>(0), 2);
        auto st = db.statistics();
        EXPECT_EQ(st.opened, 2u);
        EXPECT_EQ(st.closed, 1u);
        auto idle = co_await db::connect(dir.url(), {.min_size = 1, .max_size = 3, .max_idle = 30ms});
        {
            auto a = co_await idle.acquire();
            auto b = co_await idle.acquire();
            auto c = co_await idle.acquire();
        }
        EXPECT_EQ(idle.statistics().idle, 3u);
        co_await corio::sleep(60ms);
        EXPECT_EQ((co_await idle.query_one("select 3")).get<int>(0), 3);
        EXPECT_EQ(idle.statistics().size, 1u);  // swept down to min_size
    }());
}

TEST(DbSqlite, StatementCacheOfAnySize) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        for (std::size_t size : {std::size_t(0), std::size_t(2), std::size_t(100)}) {
            auto db = co_await db::connect(dir.url("cache" + std::to_string(size) + ".db"),
                                           {.statement_cache_size = size});
            co_await db.execute("create table t(x)");
            for (int round = 0; round < 3; ++round) {
                for (int k = 0; k < 5; ++k) {
                    co_await db.execute("insert into t values ($1 + " + std::to_string(k) + ")", round);
                }
            }
            EXPECT_EQ(co_await count(db, "t"), 15);
            // A cached statement sees schema changes.
            co_await db.execute("alter table t add column y default 7");
            EXPECT_EQ((co_await db.query_one("select sum(y) from t")).get<int>(0), 105);
        }
    }());
}

TEST(DbSqlite, NotificationsAreNotSupported) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        auto conn = co_await db.acquire();
        auto err = co_await error_of<db::FeatureNotSupported>(conn.listen("jobs"));
        EXPECT_TRUE(contains(err, "0A000")) << err;
        err = co_await error_of<db::FeatureNotSupported>(conn.next_notification());
        EXPECT_TRUE(contains(err, "not supported")) << err;
        conn.release();
        EXPECT_EQ((co_await db.query_one("select 1")).get<int>(0), 1);  // the connection was not spoiled
        EXPECT_EQ(db.statistics().closed, 0u);
    }());
}

TEST(DbSqlite, CopyIsNotSupported) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url());
        co_await db.execute("create table t(x)");
        auto err = co_await error_of<db::FeatureNotSupported>(db.copy_in("copy t from stdin"));
        EXPECT_TRUE(contains(err, "COPY")) << err;
        EXPECT_TRUE(contains(err, "not supported")) << err;
        auto conn = co_await db.acquire();
        err = co_await error_of<db::FeatureNotSupported>(conn.copy_out("copy t to stdout"));
        EXPECT_TRUE(contains(err, "0A000")) << err;
        EXPECT_EQ((co_await conn.query_one("select 1")).get<int>(0), 1);  // the connection was not spoiled
        conn.release();
        auto tx = co_await db.begin();
        err = co_await error_of<db::FeatureNotSupported>(tx.copy_in("copy t from stdin"));
        EXPECT_TRUE(contains(err, "COPY")) << err;
        co_await tx.commit();
        EXPECT_EQ(db.statistics().closed, 0u);
    }());
}

TEST(DbSqlite, IdleConnectionsCloseWhenThePoolIsNotUsed) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.min_size = 1, .max_size = 4, .max_idle = 50ms});
        {
            std::vector<db::Connection> held;
            for (int k = 0; k < 4; ++k) held.push_back(co_await db.acquire());
        }
        EXPECT_EQ(db.statistics().idle, 4u);
        co_await corio::sleep(300ms);  // nothing uses the pool meanwhile
        auto st = db.statistics();
        EXPECT_EQ(st.size, 1u);
        EXPECT_EQ(st.closed, 3u);
        co_await db.close();
    }());
}

// A task waiting for a connection is cancelled; before it runs again, the connection it waits for is
// discarded (expired: max_lifetime), which grants the waiter the freed place (`open` counts it again), and
// then the pool is closed. The cancelled waiter gives the place back: close() must see the pool drained
// (it waited for ever: the waiter's cancellation path lowered `open` to 0 without setting `drained`).
TEST(DbSqlite, ClosingWhileACancelledWaiterHoldsAGrantedPlaceDoesNotHang) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.min_size = 0, .max_size = 1, .acquire_timeout = 10s,
                                                   .max_lifetime = 60ms});
        auto held = co_await db.acquire();
        auto waiter = corio::spawn(db.acquire());
        co_await corio::sleep(100ms);  // the waiter is in line, and the held connection has expired
        EXPECT_EQ(db.statistics().waiting, 1u);
        waiter.cancel();  // its wait ends with CancelledError, but the task has not run yet
        held.release();   // expired: closed, and its place granted to the head waiter (the cancelled one)
        bool closed = true;
        try {
            co_await corio::timeout(3s, db.close());
        } catch (const corio::TimeoutError&) {
            closed = false;
        }
        EXPECT_TRUE(closed) << "close() still waits for a place the cancelled waiter gave back";
        auto err = co_await error_of<corio::CancelledError>(joined(std::move(waiter)));
        EXPECT_NE(err, "<no error>");
        EXPECT_EQ(db.statistics().size, 0u);
    }());
}

// A savepoint outlives the transaction that owned the connection (declared after it, it is destroyed first
// at the end of a scope, but after the parent's commit gave the connection back). Given back expired
// (max_lifetime), the connection is closed and its slot freed: the savepoint must not look at it again.
// (It did: active() and the destructor read the freed slot — a heap-use-after-free under AddressSanitizer;
// in a plain build, when the next connection's slot is allocated at the same address, the stale savepoint
// took the new owner's savepoint for its own and rolled it back from under it.)
TEST(DbSqlite, ASavepointOutlivingItsParentsConnectionDoesNotTouchItsFreedSlot) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.min_size = 0, .max_size = 1, .max_lifetime = 100ms});
        co_await db.execute("create table sp(v integer)");
        std::optional<db::Transaction> stale;
        {
            auto tx = co_await db.begin();
            stale = co_await tx.begin();  // left open: it ends with its parent
            co_await stale->execute("insert into sp values (1)");
            co_await corio::sleep(150ms);  // the connection expires
            co_await tx.commit();          // given back, expired: closed
            EXPECT_EQ(db.statistics().closed, 1u);
        }
        EXPECT_FALSE(stale->active());  // read the freed slot
        // A new connection (its slot may reuse the freed one's memory), in a transaction with a savepoint.
        auto tx2 = co_await db.begin();
        auto sp2 = co_await tx2.begin();
        co_await sp2.execute("insert into sp values (2)");
        EXPECT_FALSE(stale->active());
        stale.reset();  // the stale savepoint's destructor must leave the new one alone
        EXPECT_TRUE(sp2.active());
        co_await sp2.commit();
        co_await tx2.commit();
        EXPECT_EQ((co_await db.query_one("select count(*) from sp")).get<int>(0), 2);
        EXPECT_EQ(db.statistics().closed, 1u);
        co_await db.close();
    }());
}

TEST(DbSqlite, HandlesCopyAndEmptyHandlesFail) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        db::Pool empty;
        EXPECT_FALSE(empty.valid());
        auto err = co_await error_of<db::Error>(empty.query("select 1"));
        EXPECT_TRUE(contains(err, "empty handle")) << err;
        auto db = co_await db::connect(dir.url("copy.db"));
        db::Pool copy = db;
        co_await copy.execute("create table t(x)");
        EXPECT_EQ(co_await count(db, "t"), 0);
        EXPECT_EQ(copy.url(), db.url());
    }());
}

// A NUL byte in the SQL text: SQLite's parser stops there, leaving its tail at the NUL for ever; the script
// loop prepared "nothing" at the same place again and again (the connection's thread spun for good, and the
// awaiting task hung). It is a clear SyntaxError, at once, and the connection stays usable.
TEST(DbSqlite, ANulByteInTheSqlTextIsAnErrorNotAHang) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 1});
        std::string sql("select 1;\0select 2", 18);
        std::string trailing("select 3", 8);
        trailing.push_back('\0');
        std::vector<std::string> texts;  // not an initializer_list in a coroutine (GCC 12)
        texts.push_back(sql);
        texts.push_back(trailing);
        for (const std::string& text : texts) {
            std::string err = "<hung>";
            try {
                err = co_await error_of<db::SyntaxError>(corio::timeout(2s, db.query(text)));
            } catch (const corio::TimeoutError&) {
            } catch (const std::exception& e) {
                err = std::string("other: ") + e.what();
            }
            EXPECT_TRUE(contains(err, "NUL")) << err;
        }
        EXPECT_EQ((co_await db.query_one("select 4")).get<int>(0), 4);
    }());
}

TEST(DbSqlite, AScriptsRowCountIsItsLastStatementsAsOnPostgres) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 1});
        co_await db.execute("create table sc(x int)");
        EXPECT_EQ(co_await db.execute("insert into sc values (1), (2), (3); insert into sc values (4)"), 1u);
        EXPECT_EQ(co_await db.execute("update sc set x = x + 1; delete from sc where x > 3;  -- two"), 2u);
        auto rows = co_await db.query("insert into sc values (9); select x from sc order by x");
        EXPECT_EQ(rows.size(), 3u);
        EXPECT_EQ(rows.rows_affected(), 3u);
    }());
}

constexpr const char* k_slow_insert =
    "insert into t with recursive c(x) as (select 1 union all select x + 1 from c where x < 4000000000) "
    "select count(*) from c";

// SQLite rolls the whole transaction back when a write inside it is interrupted (statement_timeout or a
// cancelled task). The transaction must not carry on in autocommit mode: its next statements were committed
// one by one, and its rollback() failed ("no transaction is active") with those rows kept.
TEST(DbSqlite, AWriteInterruptedInsideATransactionAbortsItInsteadOfAutocommitting) {
    TempDir dir;
    run_bounded([&]() -> Task<void> {
        auto db = co_await db::connect(dir.url(), {.max_size = 1, .statement_timeout = 100ms});
        co_await db.execute("create table t(x integer)");
        {
            auto tx = co_await db.begin();
            co_await tx.execute("insert into t values (1)");
            auto timed_out = co_await error_of<db::QueryCanceled>(tx.execute(k_slow_insert));
            EXPECT_TRUE(contains(timed_out, "57014")) << timed_out;
            auto after = co_await error_of<db::DatabaseError>(tx.execute("insert into t values (2)"));
            EXPECT_TRUE(contains(after, "25P02")) << after;
            auto rolled = co_await error_of<db::Error>(tx.rollback());
            EXPECT_EQ(rolled, "<no error>");
        }
        EXPECT_EQ(co_await count(db, "t"), 0);
        {
            // The same after a cancelled task, with the transaction dropped: its connection comes back clean.
            auto tx = co_await db.begin();
            co_await tx.execute("insert into t values (3)");
            auto h = corio::spawn(tx.execute(k_slow_insert));
            co_await corio::sleep(30ms);
            h.cancel();
            auto err = co_await error_of<corio::CancelledError>(joined(std::move(h)));
            EXPECT_NE(err, "<no error>");
            auto commit = co_await error_of<db::DatabaseError>(tx.commit());
            EXPECT_NE(commit, "<no error>");
        }
        EXPECT_EQ(co_await count(db, "t"), 0);
        auto tx = co_await db.begin();  // the connection is usable
        co_await tx.execute("insert into t values (4)");
        co_await tx.commit();
        EXPECT_EQ(co_await count(db, "t"), 1);
        EXPECT_EQ(db.statistics().closed, 0u);
    }());
}

}  // namespace
