// The PostgreSQL driver's concurrency paths against a private cluster: several tasks' statements pipelined on
// one PgConnection (the prepared-statement cache, errors, cancellation, a terminated backend, notifications),
// COPY and scripts waiting for cancellations, and a pipelined db::Pool (transactions, a terminated backend).
#include "db/pg/connection.hpp"
#include "support/pg_fixture.hpp"
#include "support/test_support.hpp"

#include <corio/corio.hpp>
#include <corio/db/db.hpp>

#include <gtest/gtest.h>

#include <thread>

using namespace corio::db::pg;
using namespace corio_test;
using namespace std::chrono;
using corio::Task;
namespace db = corio::db;

namespace {

class PgPipeline : public PgTest {};

Task<std::int64_t> count(PgConnection& c, std::string sql) {
    PgResult r = co_await c.exec_once(sql);
    co_return r.get<std::int64_t>(0, 0);
}

}  // namespace

// A statement pipelined behind the one that prepares it reuses its name; when that Parse fails, the second
// statement must get its own outcome, not "prepared statement corio_1 does not exist" (26000). (Before: it
// did, even when a statement pipelined between them created the missing table.)
TEST_F(PgPipeline, AStatementPipelinedBehindAFailedPrepareOfTheSameSqlGetsItsOwnOutcome) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        std::string bad = "select count(*) from pipeline_no_such_table";
        auto a = corio::spawn(sqlstate_of(c->exec(bad)));
        auto b = corio::spawn(sqlstate_of(c->exec(bad)));
        EXPECT_EQ(co_await a, "42P01");
        EXPECT_EQ(co_await b, "42P01");

        // The table appears between two pipelined uses of the statement: the second one sees it.
        std::string later = "select count(*) from pipeline_later";
        auto first = corio::spawn(sqlstate_of(c->exec(later)));
        auto create = corio::spawn(sqlstate_of(c->exec_once("create temp table pipeline_later (v int)")));
        auto second = corio::spawn(sqlstate_of(c->exec(later)));
        EXPECT_EQ(co_await first, "42P01");
        EXPECT_EQ(co_await create, "");
        EXPECT_EQ(co_await second, "");
        PgResult again = co_await c->exec(later);  // and then through the cache
        EXPECT_EQ(again.get<std::int64_t>(0, 0), 0);
        EXPECT_FALSE(c->is_broken());
        EXPECT_TRUE(c->idle());
    }());
}

// A cancel request is only sent while nothing else can run: a COPY or a script waiting for the session must
// not start before the cancel request of a query that ended first is delivered — it would cancel the script.
// The thread pool (one thread) is kept busy so that the cancel request goes out after the query's end.
TEST_F(PgPipeline, AScriptWaitingBehindACancelledQueryIsNotHitByItsLateCancelRequest) {
    for (bool pipeline : {false, true}) {
        run_bounded(
            [&]() -> Task<void> {
                auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = pipeline});
                auto busy = corio::spawn(corio::to_thread([] { std::this_thread::sleep_for(800ms); }));
                auto query = corio::spawn(c->exec("select 'query', pg_sleep(0.3)"));
                EXPECT_TRUE(co_await eventually([&] { return c->statistics().queries == 1; }));
                auto script = corio::spawn(sqlstate_of(c->exec_script("select pg_sleep(1); select 'script'")));
                co_await settle();  // the script waits for the session
                query.cancel();  // its cancel request waits for the busy thread
                bool finished = false;
                try {
                    PgResult r = co_await query;
                    finished = r.get<std::string>(0, 0) == "query";  // it ended before the cancel request
                } catch (const corio::CancelledError&) {
                }
                EXPECT_TRUE(finished);
                EXPECT_EQ(co_await script, "") << "pipeline " << pipeline;
                co_await busy;
                EXPECT_EQ(c->statistics().cancels_sent, 1u);
                EXPECT_FALSE(c->is_broken());
                EXPECT_EQ(co_await count(*c, "select 7::int8"), 7);
            }(),
            {.threads = 1});
    }
}

// A small cache under pipelined load: statements evict one another within one batch (the DEALLOCATE of a
// statement goes out after the statements already using it), errors among them touch no one else, and the
// server ends with no more statements than the cache holds. Size 0: only the unnamed statement.
TEST_F(PgPipeline, ASmallStatementCacheEvictsStatementsStillInTheSamePipelineBatch) {
    for (std::size_t size : {std::size_t(0), std::size_t(1), std::size_t(2)}) {
        run_bounded([&]() -> Task<void> {
            auto c = co_await PgConnection::connect(unix_socket(),
                                                    PgOptions{.statement_cache_size = size, .pipeline = true});
            std::vector<Task<std::int64_t>> tasks;
            for (std::int64_t i = 0; i < 90; ++i) {
                tasks.push_back([](PgConnection& conn, std::int64_t n) -> Task<std::int64_t> {
                    switch (n % 5) {
                        case 0: {
                            PgResult r = co_await conn.exec("select $1::int8 + 1", Params::of(n));
                            co_return r.get<std::int64_t>(0, 0) - 1;
                        }
                        case 1: {
                            PgResult r = co_await conn.exec("select $1::int8 * 2", Params::of(n));
                            co_return r.get<std::int64_t>(0, 0) / 2;
                        }
                        case 2: {
                            PgResult r = co_await conn.exec("select length($1::text)::int8", Params::of(std::string(static_cast<std::size_t>(n), 'x')));
                            co_return r.get<std::int64_t>(0, 0);
                        }
                        case 3: {  // fails at execution: its statement stays prepared
                            std::string state = co_await sqlstate_of(conn.exec("select 1 / ($1::int8 - $1::int8)", Params::of(n)));
                            co_return state == "22012" ? n : -1;
                        }
                        default: {  // fails to prepare
                            std::string state = co_await sqlstate_of(conn.exec("select $1::int8 from pipeline_missing", Params::of(n)));
                            co_return state == "42P01" ? n : -1;
                        }
                    }
                }(*c, i));
            }
            std::vector<std::int64_t> got = co_await corio::gather(std::move(tasks));
            for (std::int64_t i = 0; i < 90; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i) << "cache " << size;
            PgStatistics st = c->statistics();
            EXPECT_GE(st.max_in_flight, 10u);
            EXPECT_LE(st.cached, size);
            if (size == 0) {
                EXPECT_EQ(st.prepared, 0u);
            } else {
                EXPECT_GT(st.evicted, 0u);
            }
            EXPECT_FALSE(c->is_broken());
            EXPECT_TRUE(c->idle());
            // Every eviction reached the server: the next statement carries the last DEALLOCATEs.
            PgResult after = co_await c->exec("select 'after'");
            EXPECT_EQ(after.get<std::string>(0, 0), "after");
            EXPECT_LE(static_cast<std::size_t>(co_await count(*c, "select count(*) from pg_prepared_statements")), size);
        }());
    }
}

// Cancelling pipelined statements: the head with others behind it runs to its end (no cancel request: it
// could hit the others) and the others get their own results; a statement waiting to be sent while a cancel
// request is on its way is never sent; the connection stays usable.
TEST_F(PgPipeline, CancellingTheHeadOrAQueuedStatementLeavesTheOthersTheirResults) {
    run_bounded(
        [&]() -> Task<void> {
            auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
            auto head = corio::spawn(c->exec("select 'head', pg_sleep(0.3)"));
            std::vector<corio::JoinHandle<std::int32_t>> behind;
            for (std::int32_t i = 0; i < 5; ++i) {
                behind.push_back(corio::spawn([](PgConnection& conn, std::int32_t n) -> Task<std::int32_t> {
                    PgResult r = co_await conn.exec("select $1::int4", Params::of(n));
                    co_return r.get<std::int32_t>(0, 0);
                }(*c, i)));
            }
            EXPECT_TRUE(co_await eventually([&] { return c->statistics().queries == 6; }));
            head.cancel();
            std::string head_result;
            try {
                PgResult r = co_await head;
                head_result = r.get<std::string>(0, 0);
            } catch (const corio::CancelledError&) {
                head_result = "cancelled";
            }
            EXPECT_EQ(head_result, "head");  // it ran to its end: its result stands
            for (std::int32_t i = 0; i < 5; ++i) EXPECT_EQ(co_await behind[static_cast<std::size_t>(i)], i);
            EXPECT_EQ(c->statistics().cancels_sent, 0u);

            // Alone in flight: a cancel request, delayed by the busy thread pool; what comes meanwhile waits.
            auto busy = corio::spawn(corio::to_thread([] { std::this_thread::sleep_for(500ms); }));
            std::uint64_t before = c->statistics().queries;
            auto sleeper = corio::spawn(c->exec("select pg_sleep(10)"));
            EXPECT_TRUE(co_await eventually([&] { return c->statistics().queries == before + 1; }));
            sleeper.cancel();
            co_await settle();
            std::uint64_t sent = c->statistics().queries;
            auto queued = corio::spawn(c->exec("select 'never'"));
            auto next = corio::spawn(c->exec("select 'next'"));
            co_await settle();
            EXPECT_EQ(c->statistics().queries, sent);  // held back
            queued.cancel();
            bool queued_cancelled = false;
            try {
                PgResult r = co_await queued;
            } catch (const corio::CancelledError&) {
                queued_cancelled = true;
            }
            EXPECT_TRUE(queued_cancelled);
            bool sleeper_cancelled = false;
            try {
                PgResult r = co_await sleeper;
            } catch (const corio::CancelledError&) {
                sleeper_cancelled = true;
            }
            EXPECT_TRUE(sleeper_cancelled);
            PgResult n = co_await next;
            EXPECT_EQ(n.get<std::string>(0, 0), "next");
            co_await busy;
            EXPECT_EQ(c->statistics().queries, sent + 1);  // "next" only
            EXPECT_GE(c->statistics().cancels_sent, 1u);  // a second if the first took over a second to land
            EXPECT_LE(c->statistics().cancels_sent, 2u);
            EXPECT_FALSE(c->is_broken());
            EXPECT_EQ(co_await count(*c, "select 3::int8"), 3);
        }(),
        {.threads = 1});
}

// A terminated backend with several pipelined statements in flight: each fails with ConnectionError at once
// (none waits for an answer that never comes).
TEST_F(PgPipeline, TerminatingTheBackendFailsEveryPipelinedStatementWithAConnectionError) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        auto killer = co_await PgConnection::connect(unix_socket());
        std::vector<Task<std::string>> tasks;
        for (int i = 0; i < 8; ++i) {
            tasks.push_back([](PgConnection& conn, int n) -> Task<std::string> {
                std::string what = "<no error>";
                try {
                    PgResult r = co_await conn.exec(n == 0 ? "select pg_sleep(10)" : "select $1::int4", Params::of(n));
                } catch (const db::ConnectionError& e) {
                    what = e.what();
                }
                co_return what;
            }(*c, i));
        }
        auto all = corio::spawn(corio::gather(std::move(tasks)));
        EXPECT_TRUE(co_await eventually([&] { return c->statistics().in_flight == 8; }));
        PgResult k = co_await killer->exec("select pg_terminate_backend($1)", Params::of(c->backend_pid()));
        EXPECT_TRUE(k.get<bool>(0, 0));
        std::vector<std::string> got = co_await corio::timeout(5s, std::move(all));
        for (const std::string& what : got) EXPECT_NE(what.find("57P01"), std::string::npos) << what;
        EXPECT_TRUE(c->is_broken());
        EXPECT_EQ(c->statistics().in_flight, 0u);
    }());
}

// Notifications arriving while pipelined statements are in flight are all queued, in order, and the
// statements' results are their own.
TEST_F(PgPipeline, NotificationsArrivingAmongPipelinedStatementsAreAllDelivered) {
    run_bounded([&]() -> Task<void> {
        auto c = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        auto sender = co_await PgConnection::connect(unix_socket(), PgOptions{.pipeline = true});
        co_await c->listen("pipeline_chan");
        constexpr int k_notes = 30;
        auto receiver = corio::spawn([](PgConnection& conn) -> Task<std::vector<std::string>> {
            std::vector<std::string> got;
            while (got.size() < k_notes) {
                Notification n = co_await conn.next_notification();
                got.push_back(n.payload);
            }
            co_return got;
        }(*c));
        std::vector<Task<std::int32_t>> tasks;
        for (std::int32_t i = 0; i < 200; ++i) {
            tasks.push_back([](PgConnection& conn, std::int32_t n) -> Task<std::int32_t> {
                PgResult r = co_await conn.exec("select $1::int4 + 1, pg_sleep(0.001)", Params::of(n));
                co_return r.get<std::int32_t>(0, 0);
            }(*c, i));
        }
        for (int i = 0; i < k_notes; ++i) {
            tasks.push_back([](PgConnection& s, int n) -> Task<std::int32_t> {
                PgResult r = co_await s.exec("select pg_notify('pipeline_chan', $1)", Params::of(std::to_string(n)));
                co_return -1;
            }(*sender, i));
        }
        std::vector<std::int32_t> got = co_await corio::gather(std::move(tasks));
        for (std::int32_t i = 0; i < 200; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i + 1);
        std::vector<std::string> notes = co_await corio::timeout(5s, std::move(receiver));
        for (int i = 0; i < k_notes; ++i) EXPECT_EQ(notes[static_cast<std::size_t>(i)], std::to_string(i));
        EXPECT_FALSE(c->try_next_notification());
        EXPECT_TRUE(c->idle());
    }());
}

// A transaction on a pipelined pool keeps its connection to itself: the pool's statements neither join it
// (one connection: they wait for the commit) nor see its uncommitted state.
TEST_F(PgPipeline, PoolStatementsNeverRunInsideATransactionOfAPipelinedPool) {
    for (std::size_t size : {std::size_t(1), std::size_t(2)}) {
        run_bounded([&]() -> Task<void> {
            auto pool = co_await db::connect(url(), {.min_size = 1, .max_size = size, .pipeline = true});
            auto tx = co_await pool.begin();
            auto tx_pid = (co_await tx.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
            co_await tx.execute("create temp table pipeline_tx_marker (v int) on commit drop");
            bool committed = false;
            std::vector<corio::JoinHandle<int>> background;
            for (int t = 0; t < 16; ++t) {
                background.push_back(corio::spawn([](db::Pool p, std::int32_t pid, const bool& committed) -> Task<int> {
                    int inside = 0;
                    for (int q = 0; q < 10; ++q) {
                        auto row = co_await p.query_one(
                            "select pg_backend_pid(), to_regclass('pg_temp.pipeline_tx_marker') is not null");
                        if ((!committed && row.get<std::int32_t>(0) == pid) || row.get<bool>(1)) ++inside;
                    }
                    co_return inside;
                }(pool, tx_pid, committed)));
            }
            co_await corio::sleep(50ms);
            for (int q = 0; q < 5; ++q) {
                auto row = co_await tx.query_one("select pg_backend_pid(), count(*)::int4 from pipeline_tx_marker");
                EXPECT_EQ(row.get<std::int32_t>(0), tx_pid);
            }
            if (size == 1) {
                EXPECT_EQ(pool.statistics().waiting, 16u);  // none joined the transaction's connection
            }
            co_await tx.commit();
            committed = true;
            int inside = 0;
            for (auto& b : background) inside += co_await b;
            EXPECT_EQ(inside, 0) << "pool of " << size;
            EXPECT_EQ(pool.statistics().closed, 0u);
            co_await pool.close();
        }());
    }
}

// A pipelined pool's connection whose backend is terminated with several statements on it: each fails with
// ConnectionError, the pool closes that connection and the next statement gets a new one.
TEST_F(PgPipeline, APipelinedPoolReplacesAConnectionTerminatedUnderItsStatements) {
    run_bounded([&]() -> Task<void> {
        auto pool = co_await db::connect(url(), {.min_size = 1, .max_size = 1, .pipeline = true});
        auto pid = (co_await pool.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        std::vector<corio::JoinHandle<int>> tasks;
        for (int i = 0; i < 6; ++i) {
            tasks.push_back(corio::spawn([](db::Pool p, int n) -> Task<int> {
                try {
                    (void)co_await p.query(n == 0 ? "select pg_sleep(10), $1::int4" : "select $1::int4", n);
                } catch (const db::ConnectionError&) {
                    co_return 1;
                }
                co_return 0;
            }(pool, i)));
        }
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().pipelined > 0; }));
        auto killer = co_await PgConnection::connect(unix_socket());
        PgResult k = co_await killer->exec("select pg_terminate_backend($1)", Params::of(pid));
        EXPECT_TRUE(k.get<bool>(0, 0));
        int failed = 0;
        for (auto& t : tasks) failed += co_await corio::timeout(5s, std::move(t));
        EXPECT_EQ(failed, 6);
        auto pid2 = (co_await pool.query_one("select pg_backend_pid()")).get<std::int32_t>(0);
        EXPECT_NE(pid2, pid);
        EXPECT_EQ(pool.statistics().closed, 1u);
        co_await pool.close();
    }());
}
