// The database workloads of bench/compare_db.sh on corio. Same workloads and output format as the Python
// peers (bench/peers/db_asyncpg.py, bench/peers/db_aiosqlite.py): one `<workload> <value> <unit>` line each
// on stdout, diagnostics on stderr. Every result is checked (the row asked for, every row of the table, the
// inserted count); a wrong one is an error (exit 1), not a number.
//
//   pg_select        N point selects `select id, name, price, created from items where id = $1` with random
//                    ids in 1..10,000, 8 tasks on a pool of 8 connections: queries/s
//   pg_select_pipe   the same with PoolOptions::pipeline = true and 64 tasks on 8 connections: queries/s
//   pg_select_held   pg_select with each task holding one connection (pool.acquire()) for all its queries,
//                    instead of one acquire per query: queries/s
//   pg_select_2loops pg_select on two threads, one loop each (DESIGN.md: one loop per thread), each with a
//                    pool of 4 connections and 4 tasks doing half the queries: queries/s. The like of
//                    pgbench -j 2 (8 clients on 2 threads); pg_select is the like of pgbench -j 1.
//   pg_fetch_all     every row of items (10,000), 50 times one after the other: rows/s
//   sqlite_insert    N rows inserted into a fresh SQLite file in transactions of 1,000: rows/s
//   sqlite_select    N point selects of those rows by random id, one after the other: queries/s
//
// Every column of every row is read (int4, text, numeric, timestamptz), as the peers decode them. After each
// workload's line comes `<workload>_cpu <µs> us/op`: the process's CPU time (all threads) per query or row.
//
//   db_compare [--pg URL] [--sqlite FILE] [-n N | --quick] [--only WORKLOAD] [--stats]
//
// N defaults to 100,000 (--quick: 10,000). Without --pg the PostgreSQL workloads are skipped, without
// --sqlite the SQLite ones. The items table must exist (bench/compare_db.sh creates it). --stats prints the
// loop's counters per query (kernel waits, I/O operations, turns) to stderr after each workload.
#include <corio/corio.hpp>
#include <corio/db/db.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <sys/resource.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <barrier>
#include <exception>

using Clock = std::chrono::steady_clock;
namespace db = corio::db;

namespace {

constexpr const char* k_select = "select id, name, price, created from items where id = $1";
constexpr std::int32_t k_pg_rows = 10'000;
constexpr int k_fetch_rounds = 50;
constexpr std::size_t k_tx_rows = 1'000;

struct Options {
    std::string pg;
    std::string sqlite;
    std::size_t n = 100'000;
    std::string only;
    bool stats = false;
};

/// xorshift64: ids in [1, max], a different stream per task.
struct Ids {
    std::uint64_t x;
    explicit Ids(std::uint64_t seed) : x(seed * 0x9E3779B97F4A7C15ull + 1) {}
    std::int32_t next(std::int32_t max) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        return static_cast<std::int32_t>(x % static_cast<std::uint64_t>(max)) + 1;
    }
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Reads every column of an items row; returns its id. Errors: std::runtime_error for a row that is not
/// the one asked for (want > 0) or has an empty name.
std::int64_t read_item(const db::Row& row, std::int64_t want) {
    auto id = row.get<std::int64_t>(0);
    auto name = row.get<std::string>(1);
    auto price = row.get<db::Numeric>(2);
    auto created = row.get<db::TimestampTz>(3);
    if ((want > 0 && id != want) || name.empty() || price.str().empty() ||
        created.time_since_epoch().count() == 0)
        throw std::runtime_error("wrong row for id " + std::to_string(want) + ": got id " + std::to_string(id));
    return id;
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return sec(u.ru_utime) + sec(u.ru_stime);
}

/// From its construction: wall time, the process's CPU time (every thread: the loop's and SQLite's) and the
/// loop's counters. report() prints `<workload> <rate> <unit>` and `<workload>_cpu <CPU per op> us/op` (with
/// --stats, the loop's counters per operation on stderr).
class Meter {
public:
    explicit Meter(bool stats) : m_stats(stats), m_loop(corio::loop_statistics()), m_cpu(cpu_seconds()), m_t0(Clock::now()) {}

    void report(const char* workload, std::size_t ops, const char* unit) const {
        double s = seconds_since(m_t0);
        double cpu = cpu_seconds() - m_cpu;
        auto n = static_cast<double>(ops);
        std::printf("%s %.1f %s\n%s_cpu %.2f us/op\n", workload, n / s, unit, workload, cpu / n * 1e6);
        std::fflush(stdout);
        if (!m_stats) return;
        auto now = corio::loop_statistics();
        auto per = [&](std::uint64_t a, std::uint64_t b) { return static_cast<double>(a - b) / n; };
        std::fprintf(stderr, "%s: per operation: %.2f kernel waits, %.2f I/O ops, %.2f loop turns, %.2f resumes\n",
                     workload, per(now.kernel_waits, m_loop.kernel_waits), per(now.io_submitted, m_loop.io_submitted),
                     per(now.turns, m_loop.turns), per(now.resumes, m_loop.resumes));
    }

private:
    bool m_stats;
    corio::LoopStatistics m_loop;
    double m_cpu;
    Clock::time_point m_t0;
};

template <class Db>
corio::Task<std::size_t> selects_on(const Db& db, std::size_t count, std::uint64_t seed) {
    Ids ids(seed);
    std::size_t found = 0;
    for (std::size_t i = 0; i < count; ++i) {
        std::int32_t id = ids.next(k_pg_rows);
        db::Row row = co_await db.query_one(k_select, id);
        read_item(row, id);
        ++found;
    }
    co_return found;
}

/// One task's share of the point selects: through the pool (a connection acquired per query), or on one
/// connection it holds throughout (held).
corio::Task<std::size_t> select_worker(db::Pool pool, std::size_t count, std::uint64_t seed, bool held) {
    if (!held) co_return co_await selects_on(pool, count, seed);
    db::Connection conn = co_await pool.acquire();
    co_return co_await selects_on(conn, count, seed);
}

/// `tasks` tasks share n point selects on `pool`; prints the rate as `workload`.
corio::Task<void> point_selects(db::Pool pool, const char* workload, std::size_t n, std::size_t tasks, bool held,
                                bool stats) {
    // Warm-up: every connection opened and its statement prepared.
    {
        std::vector<corio::Task<std::size_t>> warm;
        for (std::size_t t = 0; t < tasks; ++t) warm.push_back(select_worker(pool, 4, 1000 + t, held));
        (void)co_await corio::gather(std::move(warm));
    }
    std::vector<corio::Task<std::size_t>> workers;
    for (std::size_t t = 0; t < tasks; ++t)
        workers.push_back(select_worker(pool, n / tasks + (t < n % tasks ? 1 : 0), t + 1, held));
    Meter m(stats);
    auto found = co_await corio::gather(std::move(workers));
    std::size_t all = 0;
    for (std::size_t f : found) all += f;
    if (all != n) throw std::runtime_error("point selects: " + std::to_string(all) + " rows for " + std::to_string(n) + " queries");
    m.report(workload, n, "q/s");
}

/// One thread's half of pg_select_2loops: warms its pool up, meets the others at `start`, runs its selects,
/// meets them at `done` (before the pool closes: closing is not timed).
corio::Task<int> loop_half(std::string url, std::size_t n, std::uint64_t seed, std::barrier<>& start,
                           std::barrier<>& done) {
    db::Pool pool = co_await db::connect(url, {.min_size = 4, .max_size = 4});
    std::vector<corio::Task<std::size_t>> warm;
    for (std::size_t t = 0; t < 4; ++t) warm.push_back(select_worker(pool, 4, seed + 1000 + t, false));
    (void)co_await corio::gather(std::move(warm));
    co_await corio::to_thread([&start] { start.arrive_and_wait(); });
    std::vector<corio::Task<std::size_t>> workers;
    for (std::size_t t = 0; t < 4; ++t) workers.push_back(select_worker(pool, n / 4 + (t < n % 4 ? 1 : 0), seed + t, false));
    auto found = co_await corio::gather(std::move(workers));
    co_await corio::to_thread([&done] { done.arrive_and_wait(); });
    co_await pool.close();
    std::size_t all = 0;
    for (std::size_t f : found) all += f;
    if (all != n) throw std::runtime_error("point selects: " + std::to_string(all) + " rows for " + std::to_string(n) + " queries");
    co_return 0;
}

/// pg_select_2loops: two threads, one loop and one pool of 4 each, n queries between them. Runs outside any loop.
void two_loops(const std::string& url, std::size_t n) {
    std::barrier<> start(3), done(3);
    std::exception_ptr failed[2];
    auto half = [&](int i) {
        try {
            corio::run(loop_half(url, n / 2 + (i == 0 ? n % 2 : 0), 1 + 100 * static_cast<std::uint64_t>(i), start, done));
        } catch (...) {
            failed[i] = std::current_exception();
            start.arrive_and_drop();  // the others neither wait for this one nor hang
            done.arrive_and_drop();
        }
    };
    std::thread a(half, 0), b(half, 1);
    start.arrive_and_wait();
    double cpu0 = cpu_seconds();
    auto t0 = Clock::now();
    done.arrive_and_wait();
    double s = seconds_since(t0), cpu = cpu_seconds() - cpu0;
    a.join();
    b.join();
    for (auto& e : failed) {
        if (e) std::rethrow_exception(e);
    }
    auto ops = static_cast<double>(n);
    std::printf("pg_select_2loops %.1f q/s\npg_select_2loops_cpu %.2f us/op\n", ops / s, cpu / ops * 1e6);
    std::fflush(stdout);
}

corio::Task<void> fetch_all(db::Pool pool, bool stats) {
    (void)co_await pool.query("select id, name, price, created from items");  // warm-up
    std::size_t rows = 0;
    Meter m(stats);
    for (int r = 0; r < k_fetch_rounds; ++r) {
        db::Rows all = co_await pool.query("select id, name, price, created from items");
        std::int64_t sum = 0;
        for (const db::Row& row : all) sum += read_item(row, 0);
        if (all.size() != static_cast<std::size_t>(k_pg_rows) || sum != std::int64_t{k_pg_rows} * (k_pg_rows + 1) / 2)
            throw std::runtime_error("fetch all: " + std::to_string(all.size()) + " rows");
        rows += all.size();
    }
    m.report("pg_fetch_all", rows, "rows/s");
}

corio::Task<void> postgres(const Options& o) {
    auto want = [&](const char* w) { return o.only.empty() || o.only == w; };
    if (want("pg_select") || want("pg_select_held") || want("pg_fetch_all")) {
        db::Pool pool = co_await db::connect(o.pg, {.min_size = 8, .max_size = 8});
        if (want("pg_select")) co_await point_selects(pool, "pg_select", o.n, 8, false, o.stats);
        if (want("pg_select_held")) co_await point_selects(pool, "pg_select_held", o.n, 8, true, o.stats);
        if (want("pg_fetch_all")) co_await fetch_all(pool, o.stats);
        co_await pool.close();
    }
    if (want("pg_select_pipe")) {
        db::Pool pool = co_await db::connect(o.pg, {.min_size = 8, .max_size = 8, .pipeline = true});
        co_await point_selects(pool, "pg_select_pipe", o.n, 64, false, o.stats);
        if (o.stats) {
            auto st = pool.statistics();
            std::fprintf(stderr, "pg_select_pipe: %llu of the statements joined a busy connection (pipelined)\n",
                         static_cast<unsigned long long>(st.pipelined));
        }
        co_await pool.close();
    }
}

corio::Task<void> sqlite(const Options& o) {
    auto want = [&](const char* w) { return o.only.empty() || o.only == w; };
    if (!want("sqlite_insert") && !want("sqlite_select")) co_return;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(o.sqlite + suffix);
    std::string url = "sqlite:///" + std::filesystem::absolute(o.sqlite).string();  // sqlite:////abs/path
    db::Pool pool = co_await db::connect(url, {.min_size = 1, .max_size = 1});
    co_await pool.execute("create table items (id integer primary key, name text not null, price text not null, "
                          "created text not null)");
    const auto created = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    {
        Meter m(o.stats);
        for (std::size_t base = 0; base < o.n; base += k_tx_rows) {
            auto tx = co_await pool.begin();
            for (std::size_t i = base; i < std::min(o.n, base + k_tx_rows); ++i) {
                auto id = static_cast<std::int64_t>(i + 1);
                (void)co_await tx.execute("insert into items (id, name, price, created) values ($1, $2, $3, $4)", id,
                                          "item " + std::to_string(id), db::Numeric(std::to_string(id % 1000) + ".99"),
                                          db::TimestampTz(created - std::chrono::minutes(id)));
            }
            co_await tx.commit();
        }
        if (want("sqlite_insert")) m.report("sqlite_insert", o.n, "rows/s");
        auto count = (co_await pool.query_one("select count(*) from items")).get<std::int64_t>(0);
        if (count != static_cast<std::int64_t>(o.n))
            throw std::runtime_error("sqlite insert: " + std::to_string(count) + " rows for " + std::to_string(o.n));
    }
    if (want("sqlite_select")) {
        Ids ids(7);
        auto max = static_cast<std::int32_t>(o.n);
        Meter m(o.stats);
        for (std::size_t i = 0; i < o.n; ++i) {
            std::int32_t id = ids.next(max);
            read_item(co_await pool.query_one(k_select, id), id);
        }
        m.report("sqlite_select", o.n, "q/s");
    }
    co_await pool.close();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(o.sqlite + suffix);
}

corio::Task<int> main_task(Options o) {
    if (!o.pg.empty()) co_await postgres(o);
    if (!o.sqlite.empty()) co_await sqlite(o);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        bool more = i + 1 < argc;
        if (a == "--pg" && more) o.pg = argv[++i];
        else if (a == "--sqlite" && more) o.sqlite = argv[++i];
        else if (a == "--quick") o.n = 10'000;
        else if (a == "-n" && more) o.n = std::stoul(argv[++i]);
        else if (a == "--only" && more) o.only = argv[++i];
        else if (a == "--stats") o.stats = true;
        else {
            std::fprintf(stderr, "usage: %s [--pg URL] [--sqlite FILE] [-n N | --quick] [--only WORKLOAD] [--stats]\n",
                         argv[0]);
            return 2;
        }
    }
    if (o.n < 64) o.n = 64;
    try {
        if (!o.pg.empty() && (o.only.empty() || o.only == "pg_select_2loops")) two_loops(o.pg, o.n);
        if (o.only == "pg_select_2loops") return 0;
        return corio::run(main_task(std::move(o)));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "db_compare: %s\n", e.what());
        return 1;
    }
}
