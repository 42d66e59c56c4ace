// PgConnection against a private PostgreSQL cluster: connecting (TCP, Unix socket, a host name, passwords,
// timeouts), binary round trips of every mapped type, the statement cache, server errors, pipelining,
// cancellation, a terminated backend, LISTEN/NOTIFY, COPY both ways, and a server restart.
#include "db/pg/connection.hpp"
#include "support/dns_server.hpp"
#include "support/pg_fixture.hpp"
#include "support/pg_proxy.hpp"
#include "support/test_support.hpp"

#include <corio/db/error.hpp>
#include <corio/net/dns.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

using namespace corio::db::pg;
using namespace corio_test;
using namespace std::chrono;
using corio::Task;
namespace db = corio::db;

namespace {

class PgConn : public PgTest {
protected:
    /// tcp() through `proxy`.
    [[nodiscard]] db::PgConfig through(const PgCancelDroppingProxy& proxy) const {
        db::PgConfig c = tcp();
        c.port = proxy.port();
        return c;
    }
};

Task<std::string> scalar(PgConnection& c, std::string sql) {
    PgResult r = co_await c.exec_once(sql);
    co_return r.is_null(0, 0) ? std::string("NULL") : r.get<std::string>(0, 0);
}

/// Waits (at most 5 s) until the backend `pid` sleeps in pg_sleep, as `watcher` sees it in pg_stat_activity.
Task<bool> sleeping(PgConnection& watcher, int pid) {
    for (int i = 0; i < 500; ++i) {
        PgResult act = co_await watcher.exec("select count(*) from pg_stat_activity where pid = $1 and "
                                             "wait_event = 'PgSleep'", Params::of(pid));
        if (act.get<std::int64_t>(0, 0) == 1) {
            co_return true;
        }
        co_await corio::sleep(10ms);
    }
    co_return false;
}

/// Whether awaiting a spawned task raises CancelledError.
template <class T>
Task<bool> raises_cancelled(corio::JoinHandle<T>& task) {
    bool cancelled = false;
    try {
        (void)co_await task;
    } catch (const corio::CancelledError&) {
        cancelled = true;
    }
    co_return cancelled;
}

/// Runs `select pg_sleep(10)` on `c`, waits until `watcher` sees it sleeping, cancels it, and returns how long
/// the cancelled task took to end (expecting CancelledError).
Task<steady_clock::duration> cancel_a_sleep(PgConnection& c, PgConnection& watcher) {
    auto query = corio::spawn(c.exec("select pg_sleep(10)"));
    EXPECT_TRUE(co_await sleeping(watcher, c.backend_pid()));
    auto start = steady_clock::now();
    query.cancel();
    EXPECT_TRUE(co_await raises_cancelled(query));
    co_return steady_clock::now() - start;
}

/// `select $1::type` with `v`, read back as T.
template <class T>
Task<T> echo(PgConnection& c, std::string type, T v) {
    std::string sql = "select $1::" + type;
    Params p;
    p.add(v);
    PgResult r = co_await c.exec(sql, p);
    co_return r.get<T>(0, 0);
}

/// The server's text for `v` sent as `type`: checks the encoding against the server's own reading.
template <class T>
Task<std::string> server_text(PgConnection& c, std::string type, T v) {
    std::string sql = "select $1::" + type + "::text";
    Params p;
    p.add(v);
    PgResult r = co_await c.exec(sql, p);
    co_return r.is_null(0, 0) ? std::string("NULL") : r.get<std::string>(0, 0);
}

}  // namespace

TEST_F(PgConn, ConnectsOverTcpAndOverTheUnixSocket) {
    auto [over_tcp, over_unix, app] = run_bounded([&]() -> Task<std::tuple<std::string, std::string, std::string>> {
        auto a = co_await PgConnection::connect(tcp());
        auto b = co_await PgConnection::connect(unix_socket());
        std::string x = co_await scalar(*a, "select inet_server_addr()::text");
        std::string y = co_await scalar(*b, "select inet_server_addr()::text");
        std::string z = co_await scalar(*a, "select current_setting('application_name')");
        EXPECT_FALSE(a->is_broken());
        EXPECT_GT(a->backend_pid(), 0);
        EXPECT_NE(a->backend_pid(), b->backend_pid());
        co_return std::tuple(x, y, z);
    }());
    EXPECT_EQ(over_tcp, "127.0.0.1/32");
    EXPECT_EQ(over_unix, "NULL");  // a Unix-socket session has no server address
    EXPECT_EQ(app, "corio_test");
}

TEST_F(PgConn, AHostNameIsResolvedByCorioAndEachAddressTriedInTurn) {
    // "localhost" is ::1 then 127.0.0.1; the server listens on 127.0.0.1 only, so libpq's first socket is
    // refused and it moves to a second one (which may reuse the descriptor number).
    std::string addr = run_bounded([&]() -> Task<std::string> {
        db::PgConfig c = tcp();
        c.host = "localhost";
        auto conn = co_await PgConnection::connect(c);
        co_return co_await scalar(*conn, "select inet_server_addr()::text");
    }());
    EXPECT_EQ(addr, "127.0.0.1/32");
}

// A name that only a DNS server on loopback knows (not /etc/hosts, not the system's resolver): connecting
// works only if corio resolved it and gave libpq the addresses as hostaddr (libpq's own getaddrinfo would
// fail, and would block the loop). The server lists ::1 first, where the cluster does not listen, so libpq
// must also move on to the second address.
TEST_F(PgConn, ANameKnownOnlyToCoriosResolverConnectsThroughTheAddressesItFound) {
    corio_test::DnsServer dns;
    dns.add("pg.corio.test", {"::1", "127.0.0.1"});
    std::string addr = run_bounded([&]() -> Task<std::string> {
        corio::net::ResolverOptions o;
        o.servers = {dns.address()};
        o.attempt_timeout = 500ms;
        corio::net::set_default_resolver(o);
        db::PgConfig c = tcp();
        c.host = "pg.corio.test";
        auto conn = co_await PgConnection::connect(c);
        co_return co_await scalar(*conn, "select inet_server_addr()::text");
    }());
    EXPECT_EQ(addr, "127.0.0.1/32");
    EXPECT_GE(dns.queries(), 1u);
}

TEST_F(PgConn, APasswordUserAuthenticatesWithScram) {
    std::string who = run_bounded([&]() -> Task<std::string> {
        db::PgConfig c = tcp();
        c.user = Postgres::k_password_user;
        c.password = Postgres::k_password;
        auto conn = co_await PgConnection::connect(c);
        co_return co_await scalar(*conn, "select current_user::text");
    }());
    EXPECT_EQ(who, "corio_pw");
    EXPECT_EQ(pg->sql("select auth_method from pg_hba_file_rules where 'corio_pw' = any(user_name) limit 1"),
              "scram-sha-256");
    EXPECT_EQ(pg->sql("select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'corio_pw'"), "t");
}

TEST_F(PgConn, AWrongPasswordIsAClearConnectionError) {
    std::string what = run_bounded([&]() -> Task<std::string> {
        db::PgConfig c = tcp();
        c.user = Postgres::k_password_user;
        c.password = "not the password";
        try {
            auto conn = co_await PgConnection::connect(c);
        } catch (const db::ConnectionError& e) {
            co_return e.what();
        }
        co_return "connected";
    }());
    EXPECT_NE(what.find("password authentication failed for user \"corio_pw\""), std::string::npos) << what;
    EXPECT_NE(what.find("SQLSTATE 28P01"), std::string::npos) << what;
    EXPECT_EQ(what.find("not the password"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
}

TEST_F(PgConn, ARefusedPortAndAServerThatNeverAnswersFailWithinTheTimeout) {
    auto [refused, silent, took] = run_bounded([&]() -> Task<std::tuple<std::string, std::string, milliseconds>> {
        db::PgConfig c = tcp();
        c.port = free_port();
        std::string a, b;
        try {
            auto conn = co_await PgConnection::connect(c);
        } catch (const db::ConnectionError& e) {
            a = e.what();
        }
        // A listener that never accepts: the TCP handshake completes, the startup packet gets no answer.
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        EXPECT_EQ(::listen(fd, 4), 0);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
        c.port = ntohs(sa.sin_port);
        auto start = steady_clock::now();
        try {
            auto conn = co_await PgConnection::connect(c, PgOptions{.connect_timeout = 300ms});
        } catch (const db::ConnectionError& e) {
            b = e.what();
        }
        auto took = duration_cast<milliseconds>(steady_clock::now() - start);
        ::close(fd);
        co_return std::tuple(a, b, took);
    }());
    EXPECT_NE(refused.find("Connection refused"), std::string::npos) << refused;
    EXPECT_NE(silent.find("timed out after 300 ms"), std::string::npos) << silent;
    EXPECT_GE(took, 290ms);
    EXPECT_LT(took, 2000ms);
}

TEST_F(PgConn, TypeOidsMatchTheServersCatalog) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket());
        for (Oid o : {oid::boolean, oid::bytea, oid::int8, oid::int2, oid::int4, oid::text, oid::json, oid::float4,
                      oid::float8, oid::bpchar, oid::varchar, oid::date, oid::timestamp, oid::timestamptz,
                      oid::numeric, oid::uuid, oid::jsonb, oid::name, oid::oid, oid::char_}) {
            std::string sql = "select typname::text, typarray::int8 from pg_type where oid = " + std::to_string(o);
            PgResult r = co_await c->exec_once(sql);
            EXPECT_EQ(r.rows(), 1);
            if (r.rows() != 1) continue;
            EXPECT_EQ(r.get<std::string>(0, 0), type_name(o));
            EXPECT_EQ(r.get<std::int64_t>(0, 1), static_cast<std::int64_t>(array_of(o))) << type_name(o);
        }
    }());
}

TEST_F(PgConn, EveryMappedTypeRoundTripsInBinaryIncludingExtremes) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket());
        PgResult set = co_await c->exec_once("set timezone = 'UTC'");
        auto& conn = *c;

        EXPECT_EQ(co_await echo(conn, "bool", true), true);
        EXPECT_EQ(co_await echo(conn, "bool", false), false);
        for (std::int16_t v : {std::numeric_limits<std::int16_t>::min(), std::int16_t(0), std::numeric_limits<std::int16_t>::max()})
            EXPECT_EQ(co_await echo(conn, "int2", v), v);
        for (std::int32_t v : {std::numeric_limits<std::int32_t>::min(), -1, std::numeric_limits<std::int32_t>::max()})
            EXPECT_EQ(co_await echo(conn, "int4", v), v);
        for (std::int64_t v : {std::numeric_limits<std::int64_t>::min(), std::int64_t(42), std::numeric_limits<std::int64_t>::max()}) {
            EXPECT_EQ(co_await echo(conn, "int8", v), v);
            EXPECT_EQ(co_await server_text(conn, "int8", v), std::to_string(v));
        }
        EXPECT_EQ(co_await echo(conn, "float4", 1.5f), 1.5f);
        EXPECT_EQ(co_await echo(conn, "float4", std::numeric_limits<float>::max()), std::numeric_limits<float>::max());
        for (double v : {0.1, -1e308, std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::infinity(),
                         -std::numeric_limits<double>::infinity()})
            EXPECT_EQ(co_await echo(conn, "float8", v), v);
        EXPECT_TRUE(std::isnan(co_await echo(conn, "float8", std::nan(""))));
        EXPECT_TRUE(std::signbit(co_await echo(conn, "float8", -0.0)));
        EXPECT_EQ(co_await server_text(conn, "float8", 0.1), "0.1");

        // numeric: sent binary (add_numeric), read as text; the server's text agrees.
        for (const char* n : {"0", "-0.001", "12345.6789", "NaN", "Infinity", "-Infinity",
                              "123456789012345678901234567890.123456789012345678901234567890", "0.00"}) {
            Params p;
            p.add_numeric(n);
            PgResult r = co_await conn.exec("select $1::numeric, $1::numeric::text", p);
            EXPECT_EQ(r.get<std::string>(0, 0), n);
            EXPECT_EQ(r.get<std::string>(0, 1), n);
        }
        PgResult big = co_await conn.exec_once("select 2::numeric ^ 200, -1e-50::numeric");
        EXPECT_EQ(big.get<std::string>(0, 0).substr(0, 20), "16069380442589902755");
        EXPECT_EQ(big.get<std::string>(0, 1), "-0.00000000000000000000000000000000000000000000000001");

        for (std::string s : {std::string(), std::string("plain"), std::string("ünïcödé ✓ 日本"), std::string(5000, 'x')}) {
            EXPECT_EQ(co_await echo(conn, "text", s), s);
            EXPECT_EQ(co_await echo(conn, "varchar", s), s);
        }
        EXPECT_EQ(co_await echo(conn, "char(3)", std::string("ab")), "ab ");

        std::vector<std::byte> all;
        for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::byte>(i));
        EXPECT_EQ(co_await echo(conn, "bytea", all), all);
        EXPECT_EQ(co_await echo(conn, "bytea", std::vector<std::byte>{}), std::vector<std::byte>{});
        EXPECT_EQ(co_await server_text(conn, "bytea", std::vector<std::byte>(all.begin(), all.begin() + 3)), "\\x000102");

        sys_days leap = sys_days(year(2024) / 2 / 29);
        EXPECT_EQ(co_await echo(conn, "date", leap), leap);
        EXPECT_EQ(co_await server_text(conn, "date", leap), "2024-02-29");
        EXPECT_EQ(co_await server_text(conn, "date", sys_days(year(-4713) / 11 / 24)), "4714-11-24 BC");
        EXPECT_EQ(co_await server_text(conn, "date", sys_days::max()), "infinity");
        EXPECT_EQ(co_await echo(conn, "date", sys_days::min()), sys_days::min());
        sys_days last_day(days(2147483493 - 2440588));  // 5874897-12-31, PostgreSQL's last date (Julian day 2147483493)
        EXPECT_EQ(co_await echo(conn, "date", last_day), last_day);
        EXPECT_EQ(co_await server_text(conn, "date", last_day), "5874897-12-31");

        TimestampTz instant = sys_days(year(2024) / 5 / 6) + hours(7) + minutes(8) + seconds(9) + microseconds(123456);
        EXPECT_EQ(co_await echo(conn, "timestamptz", instant), instant);
        EXPECT_EQ(co_await server_text(conn, "timestamptz", instant), "2024-05-06 07:08:09.123456+00");
        Timestamp wall(instant.time_since_epoch());
        EXPECT_EQ(co_await echo(conn, "timestamp", wall), wall);
        EXPECT_EQ(co_await server_text(conn, "timestamp", wall), "2024-05-06 07:08:09.123456");
        EXPECT_EQ(co_await server_text(conn, "timestamptz", TimestampTz::max()), "infinity");
        EXPECT_EQ(co_await echo(conn, "timestamptz", TimestampTz::min()), TimestampTz::min());
        TimestampTz oldest = sys_days(year(-4713) / 11 / 24) + TimestampTz::duration(0);
        EXPECT_EQ(co_await server_text(conn, "timestamptz", oldest), "4714-11-24 00:00:00+00 BC");
        // std::chrono's 64-bit microseconds from 1970 end in 294247; PostgreSQL's timestamps in 294276.
        PgResult far = co_await conn.exec_once("select '294000-01-01 00:00:00.000001'::timestamp, "
                                               "'294276-12-31 23:59:59.999999'::timestamp");
        EXPECT_EQ(far.get<Timestamp>(0, 0).time_since_epoch(), microseconds(9215576668800000001LL));
        EXPECT_THROW((void)far.get<Timestamp>(0, 1), CodecError);

        UuidBytes u = parse_uuid("123e4567-e89b-12d3-a456-426614174000");
        EXPECT_EQ(co_await echo(conn, "uuid", u), u);
        EXPECT_EQ(co_await server_text(conn, "uuid", u), "123e4567-e89b-12d3-a456-426614174000");

        nlohmann::json doc = nlohmann::json::parse(R"({"a":[1,2.5,"x",null,true],"b":{"c":"ü"}})");
        EXPECT_EQ(co_await echo(conn, "json", doc), doc);
        EXPECT_EQ(co_await echo(conn, "jsonb", doc), doc);
        EXPECT_EQ(co_await server_text(conn, "jsonb", doc), R"({"a": [1, 2.5, "x", null, true], "b": {"c": "ü"}})");

        // Arrays (one dimension), with NULL elements.
        std::vector<std::int32_t> ints = {std::numeric_limits<std::int32_t>::min(), 0, 7};
        EXPECT_EQ(co_await echo(conn, "int4[]", ints), ints);
        std::vector<std::int64_t> longs = {1, std::numeric_limits<std::int64_t>::max()};
        EXPECT_EQ(co_await echo(conn, "int8[]", longs), longs);
        std::vector<std::optional<std::string>> texts = {"a", std::nullopt, "", "ü"};
        EXPECT_EQ(co_await echo(conn, "text[]", texts), texts);
        EXPECT_EQ(co_await server_text(conn, "text[]", texts), R"({a,NULL,"",ü})");
        std::vector<double> doubles = {1.5, -0.25};
        EXPECT_EQ(co_await echo(conn, "float8[]", doubles), doubles);
        std::vector<bool> bools = {true, false, true};
        EXPECT_EQ(co_await echo(conn, "bool[]", bools), bools);
        std::vector<sys_days> dates = {leap, sys_days::max()};
        EXPECT_EQ(co_await echo(conn, "date[]", dates), dates);
        std::vector<TimestampTz> instants = {instant, TimestampTz::min()};
        EXPECT_EQ(co_await echo(conn, "timestamptz[]", instants), instants);
        std::vector<UuidBytes> uuids = {u, UuidBytes{}};
        EXPECT_EQ(co_await echo(conn, "uuid[]", uuids), uuids);
        std::vector<nlohmann::json> docs = {doc, nlohmann::json(3)};
        EXPECT_EQ(co_await echo(conn, "jsonb[]", docs), docs);
        std::vector<std::vector<std::byte>> blobs = {all, {}};
        EXPECT_EQ(co_await echo(conn, "bytea[]", blobs), blobs);
        std::vector<std::int32_t> none;
        EXPECT_EQ(co_await echo(conn, "int4[]", none), none);
        PgResult nums = co_await conn.exec_once("select array[1.50, null, -2]::numeric[]");
        std::vector<std::optional<std::string>> nums_expected = {"1.50", std::nullopt, "-2"};
        EXPECT_EQ(nums.get<std::vector<std::optional<std::string>>>(0, 0), nums_expected);
        PgResult matrix = co_await conn.exec_once("select array[[1,2],[3,4]]");
        EXPECT_THROW((void)matrix.get<std::vector<std::int32_t>>(0, 0), CodecError);

        // NULL of every type: nullopt, and TypeMismatch without std::optional.
        Params nulls;
        nulls.add(std::optional<bool>{}).add(std::optional<std::int64_t>{}).add(std::optional<std::string>{});
        nulls.add(std::optional<TimestampTz>{}).add(std::optional<std::vector<std::int32_t>>{});
        PgResult r = co_await conn.exec("select $1::bool, $2::int8, $3::text, $4::timestamptz, $5::int4[]", nulls);
        EXPECT_EQ(r.get<std::optional<bool>>(0, 0), std::nullopt);
        EXPECT_EQ(r.get<std::optional<std::int64_t>>(0, 1), std::nullopt);
        EXPECT_EQ(r.get<std::optional<std::string>>(0, 2), std::nullopt);
        EXPECT_EQ(r.get<std::optional<TimestampTz>>(0, 3), std::nullopt);
        EXPECT_EQ((r.get<std::optional<std::vector<std::int32_t>>>(0, 4)), std::nullopt);
        EXPECT_THROW((void)r.get<std::int64_t>(0, 1), TypeMismatch);
        EXPECT_EQ(r.column_type(3), oid::timestamptz);

        // Reading the wrong C++ type names both types.
        PgResult one = co_await conn.exec_once("select 1::int8 as n");
        EXPECT_EQ(one.column_name(0), "n");
        EXPECT_EQ(one.column_index("n"), 0);
        try {
            (void)one.get<std::string>(0, 0);
            ADD_FAILURE() << "read an int8 as a string";
        } catch (const TypeMismatch& e) {
            EXPECT_NE(std::string(e.what()).find("int8"), std::string::npos);
            EXPECT_NE(std::string(e.what()).find("std::string"), std::string::npos);
        }
    }());
}

TEST_F(PgConn, LargeValuesGoOutAndComeBackWhileOtherQueriesArePipelined) {
    // 8 MiB each way: the send waits for the socket many times, the reader refills libpq's buffer.
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(tcp(), PgOptions{.pipeline = true});
        std::vector<std::byte> blob(8 << 20);
        for (std::size_t i = 0; i < 251; ++i) blob[i] = static_cast<std::byte>(i);
        for (std::size_t n = 251; n < blob.size(); n *= 2)  // the 251-byte pattern, doubled (a fast fill)
            std::memcpy(blob.data() + n, blob.data(), std::min(n, blob.size() - n));
        auto small = corio::spawn(c->exec("select 'small'"));
        Params p;
        p.add(blob);
        PgResult r = co_await c->exec("select length($1::bytea), $1::bytea", p);
        EXPECT_EQ(r.get<std::int32_t>(0, 0), 8 << 20);
        EXPECT_TRUE(r.value(0, 1) == std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()));
        PgResult s = co_await small;
        EXPECT_EQ(s.get<std::string>(0, 0), "small");
        PgResult text = co_await c->exec("select repeat('x', 10000000)");
        EXPECT_EQ(text.value(0, 0).size(), 10000000u);
    }());
}

TEST_F(PgConn, StatementsArePreparedOnceCachedByTextAndTypesAndEvictedLeastRecentlyUsed) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.statement_cache_size = 2});
        auto prepared = [&]() -> Task<std::int64_t> {
            PgResult r = co_await c->exec_once("select count(*) from pg_prepared_statements");
            co_return r.get<std::int64_t>(0, 0);
        };
        for (int i = 0; i < 3; ++i) {
            PgResult r = co_await c->exec("select $1::int4 + 1", Params::of(i));
            EXPECT_EQ(r.get<std::int32_t>(0, 0), i + 1);
        }
        EXPECT_EQ(c->statistics().prepared, 1u);
        EXPECT_EQ(c->statistics().cache_hits, 2u);
        EXPECT_EQ(co_await prepared(), 1);
        // The same text with other parameter types is another statement.
        PgResult r2 = co_await c->exec("select $1::int4 + 1", Params::of(std::int64_t(5)));
        EXPECT_EQ(r2.get<std::int32_t>(0, 0), 6);
        EXPECT_EQ(c->statistics().prepared, 2u);
        // A third statement evicts the least recently used: DEALLOCATEd with the next query.
        PgResult r3 = co_await c->exec("select 'third'");
        EXPECT_EQ(r3.get<std::string>(0, 0), "third");
        EXPECT_EQ(c->statistics().evicted, 1u);
        EXPECT_EQ(c->statistics().cached, 2u);
        EXPECT_EQ(co_await prepared(), 2);
        PgResult names = co_await c->exec_once("select string_agg(statement, '|' order by statement) from pg_prepared_statements");
        EXPECT_EQ(names.get<std::string>(0, 0).find("$1::int4 + 1") != std::string::npos, true);

        // Cache size 0: only the unnamed statement (pgbouncer's transaction pooling).
        auto u = co_await PgConnection::connect(unix_socket(), PgOptions{.statement_cache_size = 0});
        for (int i = 0; i < 3; ++i) PgResult x = co_await u->exec("select $1::text", Params::of("x"));
        PgResult none = co_await u->exec("select count(*) from pg_prepared_statements");
        EXPECT_EQ(none.get<std::int64_t>(0, 0), 0);
        EXPECT_EQ(u->statistics().prepared, 0u);

        // A statement that vanished (DISCARD ALL) is prepared again.
        PgResult d = co_await c->exec_once("discard all");
        bool failed_once = false;
        try {
            PgResult again = co_await c->exec("select 'third'");
        } catch (const db::DatabaseError& e) {
            failed_once = e.sqlstate() == "26000";
        }
        EXPECT_TRUE(failed_once);
        PgResult again = co_await c->exec("select 'third'");
        EXPECT_EQ(again.get<std::string>(0, 0), "third");
    }());
}

TEST_F(PgConn, ASyntaxErrorRaisesSqlstate42601AndLeavesTheConnectionUsable) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket());
        bool caught = false;
        try {
            PgResult r = co_await c->exec("selec 1");
        } catch (const db::SyntaxError& e) {
            caught = true;
            EXPECT_EQ(e.sqlstate(), "42601");
            EXPECT_EQ(e.info().position, 1);
            EXPECT_EQ(e.query(), "selec 1");
            EXPECT_NE(std::string(e.what()).find("syntax error at or near \"selec\""), std::string::npos) << e.what();
        }
        EXPECT_TRUE(caught);
        EXPECT_EQ(c->statistics().cached, 0u);  // the failed statement left the cache
        EXPECT_FALSE(c->is_broken());
        EXPECT_EQ(co_await scalar(*c, "select 'still fine'"), "still fine");
    }());
}

TEST_F(PgConn, AUniqueViolationRaises23505WithTheConstraintName) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket());
        PgResult t = co_await c->exec_once("create temp table users (email text constraint users_email_key unique)");
        PgResult i = co_await c->exec("insert into users values ($1)", Params::of("a@example.com"));
        EXPECT_EQ(i.affected(), 1u);
        EXPECT_EQ(i.command(), "INSERT 0 1");
        bool caught = false;
        try {
            PgResult again = co_await c->exec("insert into users values ($1)", Params::of("a@example.com"));
        } catch (const db::UniqueViolation& e) {
            caught = true;
            EXPECT_EQ(e.sqlstate(), "23505");
            EXPECT_EQ(e.constraint(), "users_email_key");
            EXPECT_EQ(e.info().table, "users");
            EXPECT_EQ(e.detail(), "Key (email)=(a@example.com) already exists.");
        }
        EXPECT_TRUE(caught);
        EXPECT_EQ(c->transaction_status(), PQTRANS_IDLE);
    }());
}

TEST_F(PgConn, HundredConcurrentQueriesFromTasksArePipelinedOnOneConnectionAndAnsweredInOrder) {
    auto stats = run_bounded([&]() -> Task<PgStatistics> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        std::vector<Task<std::int32_t>> tasks;
        for (std::int32_t i = 0; i < 100; ++i) {
            tasks.push_back([](PgConnection& conn, std::int32_t n) -> Task<std::int32_t> {
                if (n % 10 == 3) {  // errors in the middle of the pipeline touch no one else
                    try {
                        PgResult r = co_await conn.exec("select 1 / ($1::int4 - $1::int4)", Params::of(n));
                    } catch (const db::DivisionByZero&) {
                        co_return -n;
                    }
                    co_return 0;
                }
                PgResult r = co_await conn.exec("select $1::int4 * 2, pg_sleep(0.001)", Params::of(n));
                co_return r.get<std::int32_t>(0, 0);
            }(*c, i));
        }
        std::vector<std::int32_t> got = co_await corio::gather(std::move(tasks));
        for (std::int32_t i = 0; i < 100; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i % 10 == 3 ? -i : 2 * i);
        EXPECT_TRUE(c->idle());
        co_return c->statistics();
    }());
    EXPECT_GE(stats.max_in_flight, 50u);  // they were in flight together, not one after another
    EXPECT_EQ(stats.queries, 100u);
}

/// The socket's TCP_CORK setting (libpq's socket, which the connection corks through its own descriptor).
bool corked(PgConnection& c) {
    int v = 0;
    socklen_t len = sizeof v;
    EXPECT_EQ(::getsockopt(PQsocket(c.native()), IPPROTO_TCP, TCP_CORK, &v, &len), 0);
    return v != 0;
}

TEST_F(PgConn, PipelinedStatementsSentInOneTurnOverTcpLeaveTogetherAndTheSocketIsUncorkedAfter) {
    auto stats = run_bounded([&]() -> Task<PgStatistics> {
        auto c = co_await PgConnection::connect(tcp(), PgOptions{.pipeline = true});
        // Two statements sent by tasks of one turn: the second corks the socket until the turn's end.
        auto a = corio::spawn(c->exec("select 1"));
        auto b = corio::spawn(c->exec("select 2"));
        auto seen = corio::spawn([](PgConnection& conn) -> Task<bool> { co_return corked(conn); }(*c));
        EXPECT_TRUE(co_await seen);
        EXPECT_EQ((co_await a).get<std::int32_t>(0, 0), 1);
        EXPECT_EQ((co_await b).get<std::int32_t>(0, 0), 2);
        EXPECT_FALSE(corked(*c));
        // Rounds of 16 at once: each is answered at once (a socket left corked would hold each round's
        // statements for the kernel's 200 ms cork timer: 10 s in all).
        auto start = std::chrono::steady_clock::now();
        for (int round = 0; round < 50; ++round) {
            std::vector<Task<std::int32_t>> tasks;
            for (std::int32_t i = 0; i < 16; ++i)
                tasks.push_back([](PgConnection& conn, std::int32_t n) -> Task<std::int32_t> {
                    PgResult r = co_await conn.exec("select $1::int4 + 1", Params::of(n));
                    co_return r.get<std::int32_t>(0, 0);
                }(*c, round * 16 + i));
            std::vector<std::int32_t> got = co_await corio::gather(std::move(tasks));
            for (std::int32_t i = 0; i < 16; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], round * 16 + i + 1);
            EXPECT_FALSE(corked(*c));
        }
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
        co_return c->statistics();
    }());
    EXPECT_GE(stats.corked, 51u);  // the first turn, and each round's
    EXPECT_EQ(stats.queries, 2u + 50u * 16u);
}

TEST_F(PgConn, WithoutPipeliningConcurrentQueriesWaitTheirTurn) {
    auto stats = run_bounded([&]() -> Task<PgStatistics> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = false});
        std::vector<Task<std::int32_t>> tasks;
        for (std::int32_t i = 0; i < 20; ++i)
            tasks.push_back([](PgConnection& conn, std::int32_t n) -> Task<std::int32_t> {
                PgResult r = co_await conn.exec("select $1::int4", Params::of(n));
                co_return r.get<std::int32_t>(0, 0);
            }(*c, i));
        std::vector<std::int32_t> got = co_await corio::gather(std::move(tasks));
        for (std::int32_t i = 0; i < 20; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i);
        co_return c->statistics();
    }());
    EXPECT_EQ(stats.max_in_flight, 1u);
}

TEST_F(PgConn, CancellingAQueryMidSleepCancelsItOnTheServerAndTheConnectionIsReused) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket());
        auto watcher = co_await PgConnection::connect(unix_socket());
        int pid = c->backend_pid();
        auto start = steady_clock::now();
        bool timed_out = false;
        try {
            PgResult r = co_await corio::timeout(300ms, c->exec("select pg_sleep(10)"));
        } catch (const corio::TimeoutError&) {
            timed_out = true;
        }
        auto took = steady_clock::now() - start;
        EXPECT_TRUE(timed_out);
        EXPECT_LT(took, 3s);
        // One request; a second only if the first took over a second to end the query (a loaded machine).
        EXPECT_GE(c->statistics().cancels_sent, 1u);
        EXPECT_LE(c->statistics().cancels_sent, 2u);
        EXPECT_TRUE(c->idle());
        EXPECT_FALSE(c->is_broken());
        // The server saw the cancellation: the session is idle again, its last query the sleep.
        PgResult act = co_await watcher->exec("select state, query from pg_stat_activity where pid = $1", Params::of(pid));
        EXPECT_EQ(act.get<std::string>(0, 0), "idle");
        EXPECT_EQ(act.get<std::string>(0, 1), "select pg_sleep(10)");
        EXPECT_EQ(co_await scalar(*c, "select 'reused'"), "reused");
    }());
    EXPECT_NE(pg->log().find("canceling statement due to user request"), std::string::npos);
}

TEST_F(PgConn, CancellingAQueryPipelinedBehindAnotherLeavesTheOtherAlone) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        auto first = corio::spawn(c->exec("select 'first', pg_sleep(0.3)"));
        co_await settle();
        auto second = corio::spawn(c->exec("select pg_sleep(10)"));
        co_await settle();
        second.cancel();
        EXPECT_TRUE(co_await raises_cancelled(second));
        PgResult r = co_await first;
        EXPECT_EQ(r.get<std::string>(0, 0), "first");
        EXPECT_EQ(co_await scalar(*c, "select 'reused'"), "reused");
    }());
}

// The server drops a cancel request that reaches the backend before it begins the query (in a pipeline, right
// after the query before it ended: the backend is still reading). The request is sent again each second until
// the query ends. The proxy makes that loss at will: it drops the first cancel request and forwards the
// second. (Before: one request alone left the query running until cancel_timeout broke the connection.)
TEST_F(PgConn, ACancelRequestThatDoesNotEndTheQueryIsSentAgain) {
    run_bounded([&]() -> Task<void> {
        PgCancelDroppingProxy proxy(pg->port(), 1);
        auto c = co_await PgConnection::connect(through(proxy));
        auto watcher = co_await PgConnection::connect(unix_socket());
        auto took = co_await cancel_a_sleep(*c, *watcher);
        EXPECT_GE(took, 900ms);  // the second request, a second after the first
        EXPECT_LT(took, 4s);     // not cancel_timeout (5 s)
        EXPECT_EQ(c->statistics().cancels_sent, 2u);
        EXPECT_EQ(proxy.cancels_dropped(), 1);
        EXPECT_EQ(proxy.cancels_forwarded(), 1);
        EXPECT_FALSE(c->is_broken());
        EXPECT_EQ(co_await scalar(*c, "select 'reused'"), "reused");
        c->close();
        co_await proxy.stop();
    }());
}

// A query no cancel request reaches (the proxy drops them all): past cancel_timeout after the first request,
// the connection is given up as broken (the cancelled task is not held longer), never handed out as healthy.
TEST_F(PgConn, AQueryNoCancelRequestEndsBreaksTheConnectionAfterCancelTimeout) {
    run_bounded([&]() -> Task<void> {
        PgCancelDroppingProxy proxy(pg->port(), -1);
        auto c = co_await PgConnection::connect(through(proxy), PgOptions{.cancel_timeout = 2500ms});
        auto watcher = co_await PgConnection::connect(unix_socket());
        auto took = co_await cancel_a_sleep(*c, *watcher);
        EXPECT_GE(took, 2400ms);
        EXPECT_LT(took, 6s);
        EXPECT_GE(c->statistics().cancels_sent, 2u);  // at 0, 1 and 2 s (fewer if the loop was held up)
        EXPECT_LE(c->statistics().cancels_sent, 3u);
        EXPECT_EQ(proxy.cancels_dropped(), static_cast<int>(c->statistics().cancels_sent));
        EXPECT_TRUE(c->is_broken());
        int pid = c->backend_pid();
        c->close();
        co_await proxy.stop();
        (void)co_await watcher->exec("select pg_terminate_backend($1)", Params::of(pid));  // still sleeping
    }());
}

TEST_F(PgConn, AQueryCancelledWhileWaitingForItsTurnIsNeverSent) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = false});
        auto first = corio::spawn(c->exec("select 'first', pg_sleep(0.2)"));
        co_await settle();
        auto waiting = corio::spawn(c->exec("select pg_sleep(10)"));
        co_await settle();
        EXPECT_EQ(c->statistics().queries, 1u);
        waiting.cancel();
        EXPECT_TRUE(co_await raises_cancelled(waiting));
        PgResult r = co_await first;
        EXPECT_EQ(r.get<std::string>(0, 0), "first");
        EXPECT_EQ(c->statistics().queries, 1u);
        EXPECT_EQ(c->statistics().cancels_sent, 0u);
        EXPECT_EQ(co_await scalar(*c, "select 'next'"), "next");
    }());
}

TEST_F(PgConn, ACancelledConnectClosesTheHalfOpenConnection) {
    run_bounded([&]() -> Task<void> {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // accepts nothing: the startup never ends
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        EXPECT_EQ(::listen(fd, 4), 0);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
        db::PgConfig c = tcp();
        c.port = ntohs(sa.sin_port);
        bool timed_out = false;
        try {
            auto conn = co_await corio::timeout(100ms, PgConnection::connect(c));
        } catch (const corio::TimeoutError&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        // The client's end was closed: the queued connection reads end of stream once accepted.
        corio::allow_blocking test_socket;  // a local socket that already holds everything
        int peer = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        EXPECT_GE(peer, 0);
        char buf[256];
        ssize_t n = 0, got = 0;
        while ((n = ::recv(peer, buf, sizeof buf, 0)) > 0) got += n;  // the startup packet, then EOF
        EXPECT_EQ(n, 0);
        EXPECT_GT(got, 0);
        ::close(peer);
        ::close(fd);
    }());
}

TEST_F(PgConn, TerminatingTheBackendMidQueryBreaksTheConnectionWithAClearError) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket());
        auto killer = co_await PgConnection::connect(unix_socket());
        auto sleeper = corio::spawn(c->exec("select pg_sleep(10)"));
        co_await corio::sleep(100ms);
        PgResult k = co_await killer->exec("select pg_terminate_backend($1)", Params::of(c->backend_pid()));
        EXPECT_TRUE(k.get<bool>(0, 0));
        std::string what;
        try {
            PgResult r = co_await sleeper;
        } catch (const db::ConnectionError& e) {
            what = e.what();
        }
        EXPECT_NE(what.find("terminating connection due to administrator command"), std::string::npos) << what;
        EXPECT_NE(what.find("57P01"), std::string::npos) << what;
        EXPECT_TRUE(c->is_broken());
        bool refused = false;
        try {
            PgResult r = co_await c->exec("select 1");
        } catch (const db::ConnectionError&) {
            refused = true;
        }
        EXPECT_TRUE(refused);
    }());
}

TEST_F(PgConn, ClosingAConnectionFailsTheQueriesInFlight) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        auto a = corio::spawn(c->exec("select pg_sleep(10)"));
        auto b = corio::spawn(c->exec("select 1"));
        co_await settle();
        c->close();
        int failed = 0;
        try {
            PgResult r = co_await a;
        } catch (const db::ConnectionError&) {
            ++failed;
        }
        try {
            PgResult r = co_await b;
        } catch (const db::ConnectionError&) {
            ++failed;
        }
        EXPECT_EQ(failed, 2);
        EXPECT_TRUE(c->is_broken());
    }());
}

TEST_F(PgConn, ListenReceivesNotificationsAndAWaitCanBeCancelled) {
    run_bounded([&]() -> Task<void> {
        auto listener = co_await PgConnection::connect(unix_socket());
        auto sender = co_await PgConnection::connect(unix_socket());
        co_await listener->listen("chan \"x\"");
        auto next = corio::spawn(listener->next_notification());
        co_await corio::sleep(50ms);
        PgResult s = co_await sender->exec("select pg_notify($1, $2)", Params::of("chan \"x\"", "hello"));
        Notification n = co_await next;
        EXPECT_EQ(n.channel, "chan \"x\"");
        EXPECT_EQ(n.payload, "hello");
        EXPECT_EQ(n.backend_pid, sender->backend_pid());

        // Notifications arriving while queries run are queued.
        PgResult t = co_await sender->exec_once("notify \"chan \"\"x\"\"\", 'two'; ");
        co_await corio::sleep(50ms);
        EXPECT_EQ(co_await scalar(*listener, "select 'busy'"), "busy");
        std::optional<Notification> queued = listener->try_next_notification();
        if (!queued) queued = co_await listener->next_notification();
        EXPECT_EQ(queued->payload, "two");

        bool timed_out = false;
        try {
            Notification none = co_await corio::timeout(100ms, listener->next_notification());
        } catch (const corio::TimeoutError&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_FALSE(listener->is_broken());
        co_await listener->unlisten("chan \"x\"");
        EXPECT_EQ(listener->statistics().notifications, 2u);
    }());
}

TEST_F(PgConn, CopyStreamsAHundredThousandRowsInAndOut) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        PgResult t = co_await c->exec_once("create temp table items (id int8, name text)");
        PgCopyIn in = co_await c->copy_in("copy items from stdin");
        std::string chunk;
        for (int i = 1; i <= 100000; ++i) {
            chunk += std::to_string(i) + "\titem " + std::to_string(i) + "\n";
            if (chunk.size() > 8000 || i == 100000) {
                co_await in.write(chunk);
                chunk.clear();
            }
        }
        EXPECT_EQ(co_await in.finish(), 100000u);
        PgResult sum = co_await c->exec("select count(*), sum(id) from items");
        EXPECT_EQ(sum.get<std::int64_t>(0, 0), 100000);
        EXPECT_EQ(sum.get<std::string>(0, 1), "5000050000");

        PgCopyOut out = co_await c->copy_out("copy (select id, name from items order by id) to stdout");
        std::uint64_t rows = 0;
        std::string first, last;
        while (std::optional<std::string_view> row = co_await out.next()) {
            if (rows == 0) first = *row;
            last = *row;
            ++rows;
        }
        EXPECT_EQ(rows, 100000u);
        EXPECT_EQ(out.rows(), 100000u);
        EXPECT_EQ(first, "1\titem 1\n");
        EXPECT_EQ(last, "100000\titem 100000\n");

        // An aborted COPY copies nothing; a malformed row is the server's error; the session goes on.
        PgCopyIn aborted = co_await c->copy_in("copy items from stdin");
        co_await aborted.write("1\tnever\n");
        co_await aborted.abort("changed my mind");
        PgCopyIn bad = co_await c->copy_in("copy items from stdin");
        co_await bad.write("not a number\tx\n");
        std::string sqlstate;
        try {
            std::uint64_t n = co_await bad.finish();
            (void)n;
        } catch (const db::DatabaseError& e) {
            sqlstate = e.sqlstate();
        }
        EXPECT_EQ(sqlstate, "22P02");
        PgResult after = co_await c->exec("select count(*) from items");
        EXPECT_EQ(after.get<std::int64_t>(0, 0), 100000);
        EXPECT_TRUE(c->idle());
    }());
}

TEST_F(PgConn, AScriptRunsSeveralStatementsAndReturnsTheLastResult) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket());
        PgResult r = co_await c->exec_script(
            "create temp table s (a int); insert into s values (1), (2); select count(*) from s");
        EXPECT_TRUE(r.text_format(0));
        EXPECT_EQ(r.get<std::string>(0, 0), "2");
        std::string sqlstate;
        try {
            PgResult bad = co_await c->exec_script("select 1; select * from no_such_table; select 2");
        } catch (const db::DatabaseError& e) {
            sqlstate = e.sqlstate();
        }
        EXPECT_EQ(sqlstate, "42P01");
        PgResult begin = co_await c->exec_once("begin");
        EXPECT_EQ(c->transaction_status(), PQTRANS_INTRANS);
        PgResult commit = co_await c->exec_once("commit");
        EXPECT_EQ(c->transaction_status(), PQTRANS_IDLE);
        EXPECT_EQ(co_await scalar(*c, "select count(*)::text from s"), "2");
    }());
}

// Last: it restarts the shared server.
TEST_F(PgConn, ZZAServerRestartLeavesTheConnectionBroken) {
    std::unique_ptr<PgConnection> c = run_bounded([&]() -> Task<std::unique_ptr<PgConnection>> {
        auto conn = co_await PgConnection::connect(tcp());
        EXPECT_EQ(co_await scalar(*conn, "select 1::text"), "1");
        co_return conn;
    }());
    pg->restart();  // on the main thread: a loop must never block on it
    run_bounded([&]() -> Task<void> {
        co_await corio::sleep(50ms);
        EXPECT_FALSE(c->check_alive());
        EXPECT_TRUE(c->is_broken());
        EXPECT_NE(c->broken_reason().find("57P01"), std::string::npos) << c->broken_reason();
        bool refused = false;
        try {
            PgResult r = co_await c->exec("select 1");
        } catch (const db::ConnectionError&) {
            refused = true;
        }
        EXPECT_TRUE(refused);
        auto fresh = co_await PgConnection::connect(tcp());
        EXPECT_EQ(co_await scalar(*fresh, "select 'back'"), "back");
    }());
    c.reset();
}
