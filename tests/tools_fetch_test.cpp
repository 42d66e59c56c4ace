// End-to-end tests of corio-fetch, the built binary: against its own demo server, against nginx, into SQLite
// and PostgreSQL, with --resume, a Ctrl-C mid-run, and three --queue workers with one killed.

#include <corio/corio.hpp>

#include "support/nginx.hpp"
#include "support/ports.hpp"
#include "support/postgres.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace std::chrono_literals;

namespace {

struct Outcome {
    int status = -1;  // exit status, or 128 + signal
    std::string out, err;
    [[nodiscard]] nlohmann::json json() const {
        auto j = nlohmann::json::parse(out, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "stdout is not JSON: " << out << "\nstderr: " << err;
        return j;
    }
};

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/corio_fetch_XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
        m_path = tmpl;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    [[nodiscard]] std::string operator/(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

/// corio-fetch running in the background, its output in files.
class Fetch {
public:
    Fetch(const TempDir& dir, std::vector<std::string> args, const std::string& stdin_text = "") {
        static int n = 0;
        std::string tag = std::to_string(::getpid()) + "_" + std::to_string(++n);
        m_out = dir / ("out" + tag);
        m_err = dir / ("err" + tag);
        std::string in = dir / ("in" + tag);
        std::ofstream(in) << stdin_text;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, m_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&fa, 2, m_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        args.insert(args.begin(), CORIO_FETCH_BIN);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawn(&m_pid, CORIO_FETCH_BIN, &fa, nullptr, argv.data(), environ) != 0)
            throw std::runtime_error("cannot start corio-fetch");
        posix_spawn_file_actions_destroy(&fa);
    }
    ~Fetch() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }
    [[nodiscard]] pid_t pid() const { return m_pid; }
    void signal(int sig) const { ::kill(m_pid, sig); }
    /// Waits for the exit (at most `limit`: then it is killed and the test fails).
    Outcome wait(std::chrono::seconds limit = 60s) {
        Outcome o;
        auto deadline = std::chrono::steady_clock::now() + limit;
        int status = 0;
        for (;;) {
            pid_t r = ::waitpid(m_pid, &status, WNOHANG);
            if (r == m_pid) break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(m_pid, SIGKILL);
                ::waitpid(m_pid, &status, 0);
                ADD_FAILURE() << "corio-fetch did not finish within " << limit.count() << " s";
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        m_pid = -1;
        o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        o.out = slurp(m_out);
        o.err = slurp(m_err);
        return o;
    }

private:
    pid_t m_pid = -1;
    std::string m_out, m_err;
};

Outcome fetch(const TempDir& dir, std::vector<std::string> args, const std::string& stdin_text = "",
              std::chrono::seconds limit = 60s) {
    return Fetch(dir, std::move(args), stdin_text).wait(limit);
}

/// The first column of the first row of `sql` on the database at `url`, through corio's own db layer.
std::int64_t scalar(const std::string& url, const std::string& sql) {
    auto body = [](std::string url, std::string sql) -> corio::Task<std::int64_t> {
        auto db = co_await corio::db::connect(url);
        auto row = co_await db.query_one(sql);
        auto v = row.get<std::optional<std::int64_t>>(0);
        co_await db.close();
        co_return v.value_or(-1);
    };
    return corio_test::run_bounded(body(url, sql));
}

std::string sqlite_url(const std::string& path) { return "sqlite:///" + path; }  // path is absolute: 4 slashes

TEST(CorioFetch, TheDemoFetchesEveryPageAndRecordsEachInTheDatabase) {
    TempDir dir;
    std::string db = sqlite_url(dir / "demo.db");
    auto o = fetch(dir, {"--demo", "200", "-c", "20", "--db", db, "--json", "-q"});
    ASSERT_EQ(o.status, 0) << o.err;
    auto j = o.json();
    EXPECT_EQ(j["urls"], 200);
    EXPECT_EQ(j["errors"], 0);
    EXPECT_EQ(j["status"]["404"], 10);   // pages 3, 23, ..., 183
    EXPECT_EQ(j["status"]["200"], 190);  // redirects (page 2, 22, ...) were followed
    EXPECT_GT(j["links"].get<int>(), 0);
    EXPECT_EQ(scalar(db, "select count(*) from fetches"), 200);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where status = 200 and length(sha256) = 64"), 190);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where error is not null"), 0);
    // gzip pages (4, 5, 6 of every 20) were decoded: they all hash alike, and not like the gzip bytes.
    EXPECT_EQ(scalar(db, "select count(distinct sha256) from fetches where url like '%/page/4' or url like '%/page/5' "
                         "or url like '%/page/24'"),
              1);
}

TEST(CorioFetch, WithoutFollowingRedirectsTheRedirectIsRecorded) {
    TempDir dir;
    std::string db = sqlite_url(dir / "r.db");
    auto o = fetch(dir, {"--demo", "40", "--no-follow-redirects", "--db", db, "--json", "-q", "--workers", "2"});
    ASSERT_EQ(o.status, 0) << o.err;
    auto j = o.json();
    EXPECT_EQ(j["status"]["302"], 2);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where status = 302"), 2);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where length(sha256) = 64"), 40);  // hashed by workers
}

class CorioFetchNginx : public ::testing::Test {
protected:
    void SetUp() override {
        if (corio_test::nginx_binary().empty()) GTEST_SKIP() << "nginx is not installed";
        nginx = std::make_unique<corio_test::Nginx>();
    }
    [[nodiscard]] std::vector<std::string> items(int from, int to) const {
        std::vector<std::string> out;
        for (int i = from; i < to; ++i) out.push_back(nginx->url("/items/" + std::to_string(i)));
        return out;
    }
    static std::string lines(const std::vector<std::string>& urls) {
        std::string s;
        for (auto& u : urls) s += u + "\n";
        return s;
    }
    std::unique_ptr<corio_test::Nginx> nginx;
    TempDir dir;
};

TEST_F(CorioFetchNginx, UrlsFromAFileWithCommentsDuplicatesAndABadLine) {
    auto urls = items(0, 50);
    std::string text = "# a comment\n\n" + lines(urls) + urls[3] + "\nnot a url\n  " + nginx->url("/status/404") +
                       "  \n" + nginx->url("/r3") + "\n";
    std::ofstream(dir / "urls.txt") << text;
    std::string db = sqlite_url(dir / "n.db");
    auto o = fetch(dir, {"-i", dir / "urls.txt", "--db", db, "--json", "-q", "-c", "8"});
    ASSERT_EQ(o.status, 0) << o.err;
    auto j = o.json();
    EXPECT_EQ(j["urls"], 53);  // 50 items, the bad line, 404, the redirect chain; the duplicate once
    EXPECT_EQ(j["error_types"]["InvalidUrl"], 1);
    EXPECT_EQ(scalar(db, "select count(*) from fetches"), 53);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where url = 'not a url' and error like '%scheme%'"), 1);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where url like '%/items/%' and status = 200 and links = 2"), 50);
    EXPECT_EQ(scalar(db, "select status from fetches where url like '%/status/404'"), 404);
    EXPECT_EQ(scalar(db, "select status from fetches where url like '%/r3'"), 200);  // 302 -> 301 -> 307 -> /json
}

TEST_F(CorioFetchNginx, UrlsFromStdin) {
    std::string db = sqlite_url(dir / "s.db");
    auto o = fetch(dir, {"--db", db, "--json", "-q"}, lines(items(0, 25)));
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.json()["urls"], 25);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where status = 200"), 25);
}

TEST_F(CorioFetchNginx, ResumeSkipsTheUrlsAlreadyFetched) {
    std::string db = sqlite_url(dir / "resume.db");
    auto first = fetch(dir, {"--db", db, "--json", "-q"}, lines(items(0, 30)) + "http://127.0.0.1:1/refused\n");
    ASSERT_EQ(first.status, 0) << first.err;
    EXPECT_EQ(first.json()["errors"], 1);
    auto second = fetch(dir, {"--db", db, "--json", "-q", "--resume"}, lines(items(0, 60)) + "http://127.0.0.1:1/refused\n");
    ASSERT_EQ(second.status, 0) << second.err;
    auto j = second.json();
    EXPECT_EQ(j["skipped"], 30);  // the failed one is tried again
    EXPECT_EQ(j["urls"], 31);
    EXPECT_EQ(scalar(db, "select count(*) from fetches"), 61);
}

TEST(CorioFetch, CtrlCMidRunSavesWhatFinishedAndLeavesAConsistentDatabase) {
    TempDir dir;
    std::string db = sqlite_url(dir / "int.db");
    std::string port = std::to_string(corio_test::free_port());  // fixed, so that --resume sees the same URLs
    // 2,000 pages, 10% of them slow, two at a time: about 20 s of work, interrupted after 1.5 s.
    Fetch run(dir, {"--demo", "2000", "--demo-port", port, "-c", "2", "--db", db, "--json", "--progress", "off",
                    "--workers", "2"});
    std::this_thread::sleep_for(1500ms);
    run.signal(SIGINT);
    auto o = run.wait(30s);
    EXPECT_EQ(o.status, 130) << o.err;
    EXPECT_NE(o.err.find("interrupted"), std::string::npos) << o.err;
    auto j = o.json();
    EXPECT_TRUE(j["interrupted"].get<bool>());
    auto done = j["urls"].get<std::int64_t>();
    EXPECT_GT(done, 0);
    EXPECT_LT(done, 2000);
    // Every result counted was saved, whole, and nothing else.
    EXPECT_EQ(scalar(db, "select count(*) from fetches"), done);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where (status is null) = (error is null)"), 0);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where status is not null and length(sha256) <> 64"), 0);
    // And a resumed run does the rest.
    auto rest = fetch(dir, {"--demo", "2000", "--demo-port", port, "-c", "50", "--db", db, "--json", "-q", "--resume"});
    ASSERT_EQ(rest.status, 0) << rest.err;
    auto k = rest.json();
    EXPECT_EQ(k["skipped"].get<std::int64_t>(), done);
    EXPECT_EQ(k["urls"].get<std::int64_t>(), 2000 - done);
    EXPECT_EQ(scalar(db, "select count(*) from fetches"), 2000);
}

/// A server in a thread of the test: counts requests in flight and when each started; /flaky/N answers 503
/// the first time it is asked.
class WatchedServer {
public:
    WatchedServer() {
        std::promise<std::uint16_t> port;
        auto ready = port.get_future();
        m_thread = std::thread([this, &port] {
            corio::run([](WatchedServer* self, std::promise<std::uint16_t>& port) -> corio::Task<void> {
                corio::Event quit;
                corio::http::Server server;
                auto page = [self](corio::http::Request& req) -> corio::Task<corio::http::Response> {
                    std::string path(req.path());
                    int attempt;
                    {
                        std::lock_guard lock(self->m_mutex);
                        self->m_starts.push_back(std::chrono::steady_clock::now());
                        attempt = ++self->m_attempts[path];
                    }
                    int now = ++self->m_in_flight;
                    int seen = self->max_in_flight.load();
                    while (now > seen && !self->max_in_flight.compare_exchange_weak(seen, now)) {
                    }
                    co_await corio::sleep(20ms);
                    --self->m_in_flight;
                    if (path.starts_with("/flaky/") && attempt == 1) co_return corio::http::Response::text("busy", 503);
                    co_return corio::http::Response::html("<a href=\"/x\">x</a>");
                };
                server.route("GET", "/p/{id}", page).route("GET", "/flaky/{id}", page);
                server.route("POST", "/quit", [&quit](corio::http::Request&) -> corio::Task<corio::http::Response> {
                    quit.set();
                    co_return corio::http::Response::text("bye");
                });
                server.listen("127.0.0.1:0");
                port.set_value(server.port());
                server.start();
                co_await quit.wait();
                co_await server.shutdown(1s);
            }(this, port));
        });
        m_port = ready.get();
    }
    ~WatchedServer() {
        corio::run([](std::uint16_t port) -> corio::Task<void> {
            corio::http::Client client;
            co_await client.post("http://127.0.0.1:" + std::to_string(port) + "/quit");
        }(m_port));
        m_thread.join();
    }
    [[nodiscard]] std::string urls(const std::string& kind, int n) const {
        std::string s;
        for (int i = 0; i < n; ++i) s += "http://127.0.0.1:" + std::to_string(m_port) + "/" + kind + "/" + std::to_string(i) + "\n";
        return s;
    }
    [[nodiscard]] std::vector<std::chrono::steady_clock::time_point> starts() {
        std::lock_guard lock(m_mutex);
        auto s = m_starts;
        std::sort(s.begin(), s.end());
        return s;
    }
    [[nodiscard]] std::size_t requests() {
        std::lock_guard lock(m_mutex);
        return m_starts.size();
    }
    void reset() {
        std::lock_guard lock(m_mutex);
        m_starts.clear();
        m_attempts.clear();
        max_in_flight = 0;
    }
    std::atomic<int> max_in_flight{0};

private:
    std::thread m_thread;
    std::uint16_t m_port = 0;
    std::atomic<int> m_in_flight{0};
    std::mutex m_mutex;
    std::vector<std::chrono::steady_clock::time_point> m_starts;
    std::map<std::string, int> m_attempts;
};

TEST(CorioFetchLimits, PerHostCapsTheRequestsInFlightToOneHost) {
    TempDir dir;
    WatchedServer server;
    auto free = fetch(dir, {"-c", "20", "--db", sqlite_url(dir / "a.db"), "-q"}, server.urls("p", 60));
    ASSERT_EQ(free.status, 0) << free.err;
    EXPECT_GE(server.max_in_flight.load(), 5) << "without --per-host, -c 20 runs many at once";
    server.reset();
    auto capped = fetch(dir, {"-c", "20", "--per-host", "3", "--db", sqlite_url(dir / "b.db"), "--json", "-q"},
                        server.urls("p", 60));
    ASSERT_EQ(capped.status, 0) << capped.err;
    EXPECT_EQ(capped.json()["status"]["200"], 60);
    EXPECT_LE(server.max_in_flight.load(), 3);
    EXPECT_GE(server.max_in_flight.load(), 2);
}

TEST(CorioFetchLimits, RateSpacesTheRequestsToAHost) {
    TempDir dir;
    WatchedServer server;
    auto o = fetch(dir, {"-c", "10", "--rate", "20", "--db", sqlite_url(dir / "r.db"), "--json", "-q"},
                   server.urls("p", 11));
    ASSERT_EQ(o.status, 0) << o.err;
    auto starts = server.starts();
    ASSERT_EQ(starts.size(), 11u);
    // 20 per second: the 11th starts at least 10 x 50 ms after the first (some slack for timer granularity).
    EXPECT_GE(starts.back() - starts.front(), 480ms);
}

TEST(CorioFetchLimits, RetriesTryAgainAfterA503) {
    TempDir dir;
    WatchedServer server;
    auto once = fetch(dir, {"--db", sqlite_url(dir / "once.db"), "--json", "-q"}, server.urls("flaky", 10));
    ASSERT_EQ(once.status, 0) << once.err;
    EXPECT_EQ(once.json()["status"]["503"], 10) << "without --retries the 503 is the result";
    server.reset();
    auto again = fetch(dir, {"--retries", "2", "--db", sqlite_url(dir / "again.db"), "--json", "-q"},
                       server.urls("flaky", 10));
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.json()["status"]["200"], 10);
    EXPECT_EQ(server.requests(), 20u);
    EXPECT_EQ(scalar(sqlite_url(dir / "again.db"), "select count(*) from fetches where status = 200"), 10);
}

class CorioFetchPostgres : public ::testing::Test {
protected:
    void SetUp() override {
        if (corio_test::postgres_bin_dir().empty()) GTEST_SKIP() << "PostgreSQL's server binaries are not installed";
        pg = &corio_test::shared_postgres();
        if (!pg->running()) pg->start();
    }
    [[nodiscard]] std::string url(const std::string& database) const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(pg->port()) + "/" + database + "?sslmode=disable";
    }
    void fresh_database(const std::string& name) const {
        pg->sql("drop database if exists " + name);
        pg->sql("create database " + name);
    }
    corio_test::Postgres* pg = nullptr;
    TempDir dir;
};

TEST_F(CorioFetchPostgres, ResultsGoToPostgresql) {
    fresh_database("fetch_pg");
    auto o = fetch(dir, {"--demo", "100", "--db", url("fetch_pg"), "--json", "-q"});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.json()["urls"], 100);
    EXPECT_EQ(scalar(url("fetch_pg"), "select count(*) from fetches"), 100);
    EXPECT_EQ(scalar(url("fetch_pg"), "select count(*) from fetches where status = 404"), 5);
    EXPECT_EQ(scalar(url("fetch_pg"), "select count(*) from fetches where fetched_at > now() - interval '5 minutes'"), 100);
}

TEST_F(CorioFetchPostgres, CtrlCMidRunThenResumeOnPostgresql) {
    fresh_database("fetch_int");
    std::string db = url("fetch_int");
    std::string port = std::to_string(corio_test::free_port());
    Fetch run(dir, {"--demo", "2000", "--demo-port", port, "-c", "2", "--db", db, "--json", "--progress", "off"});
    std::this_thread::sleep_for(1500ms);
    run.signal(SIGINT);
    auto o = run.wait(30s);
    EXPECT_EQ(o.status, 130) << o.err;
    auto done = o.json()["urls"].get<std::int64_t>();
    EXPECT_GT(done, 0);
    EXPECT_LT(done, 2000);
    EXPECT_EQ(scalar(db, "select count(*) from fetches"), done);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where (status is null) = (error is null)"), 0);
    auto rest = fetch(dir, {"--demo", "2000", "--demo-port", port, "-c", "50", "--db", db, "--json", "-q", "--resume"});
    ASSERT_EQ(rest.status, 0) << rest.err;
    EXPECT_EQ(rest.json()["skipped"].get<std::int64_t>(), done);
    EXPECT_EQ(scalar(db, "select count(*) from fetches"), 2000);
    EXPECT_EQ(scalar(db, "select count(*) from fetches where status = 404"), 100);
}

TEST_F(CorioFetchPostgres, AnUnreachableDatabaseFailsBeforeAnyFetch) {
    auto t0 = std::chrono::steady_clock::now();
    auto o = fetch(dir, {"--demo", "10", "--db", "postgresql://postgres@127.0.0.1:1/none", "-q"});
    EXPECT_EQ(o.status, 2);
    EXPECT_NE(o.err.find("cannot use the database"), std::string::npos) << o.err;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    auto bad = fetch(dir, {"--demo", "10", "--db", "mysql://x/y", "-q"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("unknown scheme"), std::string::npos) << bad.err;
}

TEST_F(CorioFetchPostgres, ThreeQueueWorkersShareTheListAndOneKilledHalfwayLosesNothing) {
    if (corio_test::nginx_binary().empty()) GTEST_SKIP() << "nginx is not installed";
    corio_test::Nginx nginx;
    fresh_database("fetch_q");
    std::string q = url("fetch_q");
    std::string text;
    constexpr int n = 10'000;
    for (int i = 0; i < n; ++i) text += nginx.url("/items/" + std::to_string(i)) + "\n";
    auto fill = fetch(dir, {"--queue", q, "--enqueue-only", "-q"}, text);
    ASSERT_EQ(fill.status, 0) << fill.err;
    EXPECT_EQ(scalar(q, "select count(*) from fetch_queue"), n);

    std::vector<std::string> worker = {"--queue", q, "-c", "16", "--batch", "40", "--lease", "2", "--json",
                                       "--progress", "off"};
    std::vector<std::unique_ptr<Fetch>> workers;
    for (int i = 0; i < 3; ++i) workers.push_back(std::make_unique<Fetch>(dir, worker));
    // Kill the first worker once the job is about half done.
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (scalar(q, "select count(*) from fetches") < n / 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    workers[0]->signal(SIGKILL);
    auto killed = workers[0]->wait(10s);
    EXPECT_EQ(killed.status, 128 + SIGKILL);
    auto b = workers[1]->wait(120s);
    auto c = workers[2]->wait(120s);
    ASSERT_EQ(b.status, 0) << b.err;
    ASSERT_EQ(c.status, 0) << c.err;

    EXPECT_EQ(scalar(q, "select count(*) from fetches"), n);
    EXPECT_EQ(scalar(q, "select count(*) from fetches where status = 200"), n);
    EXPECT_EQ(scalar(q, "select count(*) from fetch_queue where not done"), 0);
    // Only what the killed worker held uncommitted (at most two batches and its fetches in flight) was claimed
    // again; the killed worker's claims are the only ones that went back to the queue.
    auto again = scalar(q, "select count(*) from fetch_queue where claims > 1");
    EXPECT_LE(again, 2 * 40 + 16) << "URLs claimed more than once";
    // The survivors' summaries add up with what the killed worker had saved.
    auto saved_by_survivors = b.json()["urls"].get<std::int64_t>() + c.json()["urls"].get<std::int64_t>();
    EXPECT_GE(saved_by_survivors, n / 3);
}

}  // namespace
