// corio-fetch's job: read the URLs, fetch them under the concurrency, per-host and rate limits, analyse each
// body off the loop, and write the results to the database in batches, one transaction each.
//
// The tasks: a feeder spawns one fetch task per URL once the Semaphore gives a permit (so at most -c exist);
// fetch tasks put their Result on a bounded Queue; one writer drains it into the database; a watcher turns
// SIGINT/SIGTERM into the cancellation of the feeder's TaskGroup, after which the writer saves what had
// finished and the summary is printed. With --queue the feeder claims URLs from a PostgreSQL queue table
// (FOR UPDATE SKIP LOCKED, with a lease), and a batch's results and its "done" marks commit together.

#include "fetch.hpp"

#include <corio/db/db.hpp>
#include <corio/fs/whole_file.hpp>
#include <corio/http/client.hpp>
#include <corio/http/url.hpp>
#include <corio/offload/process_pool.hpp>
#include <corio/offload/thread_pool.hpp>
#include <corio/signal.hpp>
#include <corio/spawn.hpp>
#include <corio/sync/queue.hpp>
#include <corio/sync/semaphore.hpp>
#include <corio/task_group.hpp>
#include <corio/time.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>
#include <iterator>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <unistd.h>

namespace fetch {
namespace {

using namespace std::chrono_literals;
namespace http = corio::http;
namespace db = corio::db;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds seconds_ms(double s) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0));
}

struct Host {
    std::unique_ptr<corio::Semaphore> in_flight;  // --per-host
    Clock::time_point next_start{};               // --rate
};

struct Job {
    Options opt;
    db::Pool db;
    bool postgres = false;
    std::unique_ptr<http::Client> client;
    std::unique_ptr<corio::ProcessPool> workers;
    corio::Semaphore permits;
    corio::Queue<Result> results{1024};
    std::unordered_map<std::string, Host> hosts;
    Stats stats;
    // --queue
    bool queue = false;
    std::string worker_id;
    std::size_t fetching = 0;   // fetch tasks running
    std::ptrdiff_t unsaved = 0; // results not yet committed
    std::exception_ptr write_error;
    corio::JoinHandle<void>* feeder = nullptr;

    explicit Job(Options o) : opt(std::move(o)), permits(static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, opt.concurrency))) {}

    Host& host(const std::string& name) {
        auto [it, fresh] = hosts.try_emplace(name);
        if (fresh && opt.per_host > 0)
            it->second.in_flight = std::make_unique<corio::Semaphore>(static_cast<std::ptrdiff_t>(opt.per_host));
        return it->second;
    }
};

/// The exception's class, for the summary's error counts.
std::string error_type(const std::exception& e) {
    if (dynamic_cast<const http::ConnectTimeout*>(&e)) return "ConnectTimeout";
    if (dynamic_cast<const http::ReadTimeout*>(&e)) return "ReadTimeout";
    if (dynamic_cast<const http::WriteTimeout*>(&e)) return "WriteTimeout";
    if (dynamic_cast<const http::PoolTimeout*>(&e)) return "PoolTimeout";
    if (dynamic_cast<const http::TimeoutError*>(&e)) return "Timeout";
    if (dynamic_cast<const http::ConnectError*>(&e)) return "ConnectError";
    if (dynamic_cast<const http::NetworkError*>(&e)) return "NetworkError";
    if (dynamic_cast<const http::RemoteProtocolError*>(&e)) return "RemoteProtocolError";
    if (dynamic_cast<const http::TooManyRedirects*>(&e)) return "TooManyRedirects";
    if (dynamic_cast<const http::ResponseTooLarge*>(&e)) return "ResponseTooLarge";
    if (dynamic_cast<const http::DecodeError*>(&e)) return "DecodeError";
    if (dynamic_cast<const http::InvalidUrl*>(&e)) return "InvalidUrl";
    if (dynamic_cast<const http::HttpError*>(&e)) return "HttpError";
    if (dynamic_cast<const corio::RemoteError*>(&e) || dynamic_cast<const corio::WorkerCrashedError*>(&e))
        return "AnalyzeError";
    return "Error";
}

/// A transport failure worth another try (a refused or reset connection, a timeout) — not a bad URL, a
/// redirect loop or an oversized body, which would fail the same way again.
bool retryable(const std::exception& e) {
    return dynamic_cast<const http::TimeoutError*>(&e) || dynamic_cast<const http::ConnectError*>(&e) ||
           dynamic_cast<const http::NetworkError*>(&e) || dynamic_cast<const http::RemoteProtocolError*>(&e);
}

corio::Task<void> backoff(int attempt) {
    static thread_local std::minstd_rand rng{std::random_device{}()};
    auto base = 200ms * (1 << std::min(attempt, 6));
    co_await corio::sleep(base + std::chrono::milliseconds(rng() % 100));
}

/// Waits for this host's --per-host permit and --rate slot.
corio::Task<std::optional<corio::Semaphore::Permit>> host_turn(Job& job, const std::string& name) {
    Host& h = job.host(name);
    std::optional<corio::Semaphore::Permit> permit;
    if (h.in_flight) permit.emplace(co_await h.in_flight->acquire());
    if (job.opt.rate > 0) {
        auto now = Clock::now();
        auto start = std::max(now, h.next_start);
        h.next_start = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / job.opt.rate));
        if (start > now) co_await corio::sleep(start - now);
    }
    co_return permit;
}

corio::Task<void> fetch_one(Job& job, std::string url, [[maybe_unused]] corio::Semaphore::Permit permit) {
    ++job.fetching;
    struct Count {
        std::size_t& n;
        ~Count() { --n; }
    } count{job.fetching};
    Result r;
    r.url = url;
    auto t0 = Clock::now();
    try {
        auto parsed = http::Url::parse(url);
        r.host = parsed.authority();
        auto host_permit = co_await host_turn(job, r.host);
        t0 = Clock::now();  // latency is the request's, not the wait for a turn
        for (int attempt = 0;; ++attempt) {
            std::optional<http::Response> response;
            try {
                response.emplace(co_await job.client->get(url));
            } catch (const http::HttpError& e) {
                if (attempt >= job.opt.retries || !retryable(e)) throw;
            }
            if (response) {
                int status = response->status();
                if ((status == 429 || status >= 500) && attempt < job.opt.retries) {
                    co_await backoff(attempt);
                    continue;
                }
                r.status = status;
                r.bytes = static_cast<std::int64_t>(response->body().size());
                r.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
                std::string type(response->headers().get("content-type").value_or(""));
                // The CPU-bound step goes off the loop, as the seed says: a thread, or a worker process.
                std::tuple<std::string, std::int64_t, std::string> a;
                if (job.workers)
                    a = co_await job.workers->submit(analyze, std::string(response->body()), std::move(type));
                else
                    a = co_await corio::to_thread(analyze, std::string(response->body()), std::move(type));
                r.sha256 = std::move(std::get<0>(a));
                r.links = std::get<1>(a);
                r.kind = std::move(std::get<2>(a));
                break;
            }
            co_await backoff(attempt);
        }
    } catch (const corio::CancelledError&) {
        throw;
    } catch (const std::exception& e) {
        r.status = 0;
        r.error = e.what();
        r.error_type = error_type(e);
        r.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    }
    Result saved = r;
    co_await job.results.put(std::move(saved));  // a cancelled put leaves nothing behind: count after it
    ++job.unsaved;
    job.stats.add(r);
}

// ---- the database -----------------------------------------------------------------------------------

std::string now_sql(const Job& job) {
    return job.postgres ? "now()" : "strftime('%Y-%m-%dT%H:%M:%fZ','now')";
}

corio::Task<void> create_tables(Job& job) {
    if (job.postgres) {
        // Several workers may start at once: CREATE TABLE IF NOT EXISTS races on the catalog, so take a lock.
        auto tx = co_await job.db.begin();
        co_await tx.execute("select pg_advisory_xact_lock(7307354)");
        co_await tx.execute(
            "create table if not exists fetches(url text primary key, status integer, bytes bigint, "
            "elapsed_ms double precision, sha256 text, links bigint, error text, "
            "fetched_at timestamptz not null default now())");
        if (job.queue) {
            co_await tx.execute(
                "create table if not exists fetch_queue(url text primary key, done boolean not null default false, "
                "claimed_by text, lease_until timestamptz, claims integer not null default 0)");
            co_await tx.execute("create index if not exists fetch_queue_todo on fetch_queue(url) where not done");
        }
        co_await tx.commit();
    } else {
        co_await job.db.execute(
            "create table if not exists fetches(url text primary key, status integer, bytes integer, "
            "elapsed_ms real, sha256 text, links integer, error text, "
            "fetched_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ','now')))");
    }
}

/// The batch as one JSON array of rows (the last result of a URL wins): one statement writes them all, on
/// either database, instead of a round trip per row.
std::string rows_json(const std::vector<Result>& batch) {
    std::unordered_map<std::string_view, std::size_t> last;
    for (std::size_t i = 0; i < batch.size(); ++i) last[batch[i].url] = i;
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const Result& r = batch[i];
        if (last[r.url] != i) continue;
        nlohmann::json row = {{"url", r.url}, {"elapsed_ms", r.elapsed_ms}};
        if (r.error.empty()) {
            row["status"] = r.status;
            row["bytes"] = r.bytes;
            row["sha256"] = r.sha256;
            row["links"] = r.links;
        } else {
            row["error"] = r.error;
        }
        rows.push_back(std::move(row));
    }
    // Invalid UTF-8 in a URL or an error text is replaced, never a failed batch.
    return rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

corio::Task<void> save(Job& job, std::vector<Result>& batch) {
    static const std::string columns = "url, status, bytes, elapsed_ms, sha256, links, error";
    std::string source =
        job.postgres
            ? "select " + columns + " from json_to_recordset($1::json) as r(url text, status integer, bytes bigint, "
                                    "elapsed_ms double precision, sha256 text, links bigint, error text)"
            : "select value ->> 'url', value ->> 'status', value ->> 'bytes', value ->> 'elapsed_ms', "
              "value ->> 'sha256', value ->> 'links', value ->> 'error' from json_each($1) where true";
    std::string upsert = "insert into fetches(" + columns + ") " + source +
                         " on conflict(url) do update set status = excluded.status, bytes = excluded.bytes, "
                         "elapsed_ms = excluded.elapsed_ms, sha256 = excluded.sha256, links = excluded.links, "
                         "error = excluded.error, fetched_at = " + now_sql(job);
    std::string rows = rows_json(batch);
    auto tx = co_await job.db.begin();
    co_await tx.execute(upsert, rows);
    if (job.queue) {
        std::vector<std::string> urls;
        for (auto& r : batch) urls.push_back(r.url);
        co_await tx.execute("update fetch_queue set done = true, lease_until = null where url = any($1)", urls);
    }
    co_await tx.commit();
}

/// Drains the results queue into the database, a transaction per batch (up to 500 results, or what is there).
corio::Task<void> write_results(Job& job) {
    std::vector<Result> batch;
    try {
        for (;;) {
            batch.clear();
            try {
                batch.push_back(co_await job.results.get());
            } catch (const corio::QueueClosedError&) {
                co_return;
            }
            while (batch.size() < 500) {
                auto more = job.results.try_get();
                if (!more) break;
                batch.push_back(std::move(*more));
            }
            co_await save(job, batch);
            job.unsaved -= static_cast<std::ptrdiff_t>(batch.size());
        }
    } catch (const corio::CancelledError&) {
        throw;
    } catch (...) {
        // The results cannot be saved: stop fetching (puts now fail) and report it.
        job.write_error = std::current_exception();
        job.results.close();
        if (job.feeder) job.feeder->cancel();
    }
}

// ---- the URLs -----------------------------------------------------------------------------------------

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + at, end - at);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (!line.empty() && line.front() != '#') out.emplace_back(line);
        at = end + 1;
    }
    return out;
}

/// `urls` without those in `have`, in order.
std::vector<std::string> without(std::vector<std::string> urls, std::vector<std::string> have) {
    std::unordered_set<std::string_view> done(have.begin(), have.end());
    std::erase_if(urls, [&](const std::string& u) { return done.count(u) > 0; });
    return urls;
}

std::string read_stdin() {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

/// Splits the texts into lines and drops blank lines, comments and duplicates, keeping the first of each: a
/// CPU-bound step for a long list, so it runs on a thread.
std::vector<std::string> url_list(std::vector<std::string> given, std::vector<std::string> texts) {
    for (auto& t : texts) {
        auto lines = split_lines(t);
        given.insert(given.end(), std::make_move_iterator(lines.begin()), std::make_move_iterator(lines.end()));
    }
    std::unordered_set<std::string_view> seen;
    seen.reserve(given.size());
    std::vector<std::string> out;
    out.reserve(given.size());
    for (auto& u : given)
        if (seen.insert(u).second) out.push_back(u);
    return out;
}

/// The URLs of the command line, -i FILE (or -), stdin, in that order, without duplicates.
corio::Task<std::vector<std::string>> gather_urls(const Options& opt, DemoServer* demo) {
    std::vector<std::string> given = opt.urls;
    if (demo) {
        auto d = demo->urls();
        given.insert(given.end(), d.begin(), d.end());
    }
    // A queue worker reads no stdin unless told (-i -): only a run that fills the queue does.
    bool from_stdin = opt.input == "-" || (opt.input.empty() && given.empty() && (opt.queue.empty() || opt.enqueue_only) &&
                                           !::isatty(STDIN_FILENO));
    std::vector<std::string> texts;
    if (!opt.input.empty() && opt.input != "-") texts.push_back(co_await corio::fs::read_file(opt.input));
    if (from_stdin) texts.push_back(co_await corio::to_thread(read_stdin));  // a blocking read: off the loop
    co_return co_await corio::to_thread(url_list, std::move(given), std::move(texts));
}

/// Spawns a fetch for each URL as the Semaphore gives permits (at most -c fetches exist at once).
corio::Task<void> feed_list(Job& job, corio::TaskGroup& group, std::vector<std::string> urls) {
    for (auto& u : urls) {
        auto permit = co_await job.permits.acquire();
        group.spawn(fetch_one(job, std::move(u), std::move(permit)));
    }
}

// ---- --queue ------------------------------------------------------------------------------------------

corio::Task<std::size_t> enqueue(Job& job, const std::vector<std::string>& urls) {
    std::size_t added = 0;
    for (std::size_t at = 0; at < urls.size(); at += 1000) {
        std::vector<std::string> chunk(urls.begin() + static_cast<std::ptrdiff_t>(at),
                                       urls.begin() + static_cast<std::ptrdiff_t>(std::min(urls.size(), at + 1000)));
        added += co_await job.db.execute("insert into fetch_queue(url) select unnest($1::text[]) on conflict do nothing", chunk);
    }
    co_return added;
}

corio::Task<std::vector<std::string>> claim(Job& job, std::size_t n) {
    auto rows = co_await job.db.query(
        "update fetch_queue set claimed_by = $1, lease_until = now() + $2 * interval '1 millisecond', "
        "claims = claims + 1 "
        "where url in (select url from fetch_queue where not done and (lease_until is null or lease_until < now()) "
        "order by url limit $3 for update skip locked) returning url",
        job.worker_id, static_cast<std::int64_t>(job.opt.lease * 1000), static_cast<std::int64_t>(n));
    std::vector<std::string> out;
    for (auto row : rows) out.push_back(row.get<std::string>(0));
    co_return out;
}

/// Claims batches from the queue table until no URL is left undone (waiting out other workers' leases, which
/// come back to the pool when a worker died).
corio::Task<void> feed_queue(Job& job, corio::TaskGroup& group) {
    std::size_t batch = job.opt.batch ? job.opt.batch : std::max<std::size_t>(job.opt.concurrency, 1);
    std::deque<std::string> local;
    for (;;) {
        if (local.empty()) {
            // Claim more only when what this worker holds uncommitted is at most a batch: a worker that dies
            // leaves at most two batches (and its fetches in flight) for the others to fetch again, and what
            // it claims is committed well within the lease.
            while (static_cast<std::ptrdiff_t>(job.fetching) + job.unsaved > static_cast<std::ptrdiff_t>(batch))
                co_await corio::sleep(2ms);
            auto claimed = co_await claim(job, batch);
            if (claimed.empty()) {
                if (job.fetching == 0 && job.unsaved <= 0) {
                    auto left = co_await job.db.query_one("select count(*) from fetch_queue where not done");
                    if (left.get<std::int64_t>(0) == 0) co_return;
                }
                co_await corio::sleep(std::min(seconds_ms(job.opt.lease / 4), std::chrono::milliseconds(500)));
                continue;
            }
            local.assign(claimed.begin(), claimed.end());
        }
        auto permit = co_await job.permits.acquire();
        group.spawn(fetch_one(job, std::move(local.front()), std::move(permit)));
        local.pop_front();
    }
}

corio::Task<void> feed(Job& job, std::vector<std::string> urls) {
    corio::TaskGroup group;
    if (job.queue) group.spawn(feed_queue(job, group));
    else group.spawn(feed_list(job, group, std::move(urls)));
    co_await group.join();
}

corio::Task<void> watch_signals(corio::JoinHandle<void>& feeder, bool& interrupted) {
    corio::SignalSet signals{SIGINT, SIGTERM};
    int sig = co_await signals.wait();
    interrupted = true;
    std::fprintf(stderr, "\ncorio-fetch: %s: stopping (finished results are saved; Ctrl-C again to quit at once)\n",
                 sig == SIGINT ? "interrupted" : "terminated");
    feeder.cancel();
    // The set ends here: a second Ctrl-C has its default action.
}

std::string what_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown error";
    }
}

}  // namespace

corio::Task<int> run(Options opt) {
    Job job(std::move(opt));
    const Options& o = job.opt;
    if (!o.queue.empty()) {
        job.queue = true;
        if (o.db_given && o.db != o.queue) {
            std::fprintf(stderr, "corio-fetch: with --queue the results go to the queue's database; drop --db\n");
            co_return 2;
        }
        job.opt.db = o.queue;
        char host[256] = "?";
        ::gethostname(host, sizeof host - 1);
        job.worker_id = std::string(host) + ":" + std::to_string(::getpid());
    }

    // The database first: an unreachable one fails before any fetch.
    try {
        db::PoolOptions po;
        po.min_size = 1;
        po.max_size = 4;
        po.connect_timeout = 5s;
        po.acquire_timeout = 60s;
        job.db = co_await db::connect(job.opt.db, po);
        job.postgres = job.db.backend() == "postgresql";
        if (job.queue && !job.postgres) {
            std::fprintf(stderr, "corio-fetch: --queue needs a postgresql:// database\n");
            co_return 2;
        }
        co_await create_tables(job);
    } catch (const corio::CancelledError&) {
        throw;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "corio-fetch: cannot use the database: %s\n", e.what());
        co_return 2;
    }

    std::unique_ptr<DemoServer> demo;
    if (o.demo > 0) demo = std::make_unique<DemoServer>(o.demo, o.demo_port);

    std::vector<std::string> urls;
    try {
        urls = co_await gather_urls(o, demo.get());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "corio-fetch: cannot read the URLs: %s\n", e.what());
        co_return 2;
    }
    std::size_t skipped = 0;
    if (job.queue) {
        std::size_t added = 0;
        if (!urls.empty()) {
            added = co_await enqueue(job, urls);
            if (!o.quiet && !o.enqueue_only)
                std::fprintf(stderr, "corio-fetch: queued %zu new URLs (%zu given)\n", added, urls.size());
        }
        if (o.enqueue_only) {
            std::fprintf(stdout, "corio-fetch: queued %zu new URLs (%zu given)\n", added, urls.size());
            co_await job.db.close();
            co_return 0;
        }
        auto left = co_await job.db.query_one("select count(*) from fetch_queue where not done");
        urls.clear();
        job.stats.start(static_cast<std::size_t>(left.get<std::int64_t>(0)), 0);
    } else {
        if (urls.empty()) {
            std::fprintf(stderr, "corio-fetch: no URLs: give them as arguments, with -i FILE, on stdin, or use --demo N\n");
            co_return 2;
        }
        if (o.resume) {
            std::vector<std::string> have;
            for (auto row : co_await job.db.query("select url from fetches where error is null"))
                have.push_back(row.get<std::string>(0));
            std::size_t before = urls.size();
            urls = co_await corio::to_thread(without, std::move(urls), std::move(have));  // CPU work: off the loop
            skipped = before - urls.size();
        }
        job.stats.start(urls.size(), skipped);
    }

    http::ClientOptions co;
    co.user_agent = "corio-fetch/0.1";
    co.follow_redirects = o.follow_redirects;
    co.timeout.connect = seconds_ms(o.connect_timeout);
    co.timeout.read = seconds_ms(o.timeout);
    co.timeout.write = seconds_ms(o.timeout);
    co.timeout.pool = seconds_ms(o.timeout);
    co.timeout.total = seconds_ms(o.timeout);
    co.limits.max_connections = std::max<std::size_t>(o.concurrency, 1);
    co.limits.max_connections_per_host = o.per_host;
    co.limits.max_keepalive = std::max<std::size_t>(o.concurrency, 1);
    co.max_response_size = o.max_bytes;
    job.client = std::make_unique<http::Client>(co);
    if (o.workers > 0) job.workers = std::make_unique<corio::ProcessPool>(o.workers);

    bool interrupted = false;
    auto writer = corio::spawn(write_results(job));
    auto feeder = corio::spawn(feed(job, std::move(urls)));
    job.feeder = &feeder;
    auto watcher = corio::spawn(watch_signals(feeder, interrupted));
    auto progress = corio::spawn(show_progress(job.stats, o.quiet ? "off" : o.progress));

    std::exception_ptr feed_error;
    try {
        co_await feeder;
    } catch (const corio::CancelledError&) {
    } catch (...) {
        feed_error = std::current_exception();
    }
    job.feeder = nullptr;
    watcher.cancel();
    try {
        co_await watcher;
    } catch (const corio::CancelledError&) {
    }
    job.results.close();
    co_await writer;  // saves what is left in the queue
    progress.cancel();
    try {
        co_await progress;
    } catch (const corio::CancelledError&) {
    }

    if (job.queue) {
        // Give back what this worker claimed and did not finish, so that others need not wait for the lease.
        try {
            co_await job.db.execute(
                "update fetch_queue set claimed_by = null, lease_until = null where claimed_by = $1 and not done",
                job.worker_id);
        } catch (const std::exception&) {
        }
    }
    if (job.workers) co_await job.workers->close();
    if (demo) co_await demo->stop();

    std::string where = job.db.url() + " (table fetches)";
    std::string summary = o.json ? job.stats.summary_json(interrupted, where) : job.stats.summary_text(interrupted, where);
    std::fputs(summary.c_str(), stdout);
    std::fflush(stdout);
    co_await job.db.close();

    if (job.write_error) {
        std::fprintf(stderr, "corio-fetch: cannot save the results: %s\n", what_of(job.write_error).c_str());
        co_return 1;
    }
    if (feed_error) {
        std::fprintf(stderr, "corio-fetch: %s\n", what_of(feed_error).c_str());
        co_return 1;
    }
    co_return interrupted ? 130 : 0;
}

}  // namespace fetch
