// corio-fetch: fetch URLs concurrently and politely, record what came back in a database, show progress.
//
//     corio-fetch --demo 1000                       # no network needed: corio's own server, in-process
//     corio-fetch -c 50 --per-host 8 -i urls.txt --db sqlite:///fetch.db
//     corio-fetch --queue postgresql://app@db/fetch  # one of many workers sharing a queue table

#include "fetch.hpp"

#include <corio/run.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
    fetch::Options o;
    CLI::App app{"corio-fetch: fetch URLs concurrently and politely, record the results in a database"};
    app.add_option("urls", o.urls, "URLs to fetch (also -i FILE, or stdin)");
    app.add_option("-i,--input", o.input, "a file of URLs, one per line ('-': stdin; '#' starts a comment)");
    app.add_option("--demo", o.demo, "serve N generated pages on 127.0.0.1 in this process and fetch them")
        ->check(CLI::Range(1, 10'000'000));
    app.add_option("--demo-port", o.demo_port, "the demo server's port (0: any free one; fix it to --resume a demo)")
        ->check(CLI::Range(0, 65535));
    app.add_option("-c,--concurrency", o.concurrency, "requests in flight at once (a Semaphore)")
        ->capture_default_str()->check(CLI::Range(1, 100'000));
    app.add_option("--per-host", o.per_host, "requests in flight per host (0: no limit)")->capture_default_str();
    app.add_option("--rate", o.rate, "requests per second per host (0: no limit)")
        ->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("--timeout", o.timeout, "seconds per request, redirects included")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--connect-timeout", o.connect_timeout, "seconds to connect")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--retries", o.retries, "more tries after a transport error, 429 or 5xx (with backoff)")
        ->capture_default_str()->check(CLI::Range(0, 20));
    app.add_flag("--follow-redirects,!--no-follow-redirects", o.follow_redirects, "follow redirects (default: on)");
    app.add_option("--max-bytes", o.max_bytes, "largest response body kept, after decoding")->capture_default_str();
    app.add_option("--workers", o.workers, "worker processes for hashing and parsing (0: threads, to_thread)")
        ->capture_default_str()->check(CLI::Range(0, 256));
    auto* db = app.add_option("--db", o.db, "where results go: sqlite:///file.db or postgresql://...")
                   ->capture_default_str();
    app.add_flag("--resume", o.resume, "skip URLs the database already holds a response for");
    app.add_option("--queue", o.queue,
                   "postgresql://...: share the URL list with other workers through a queue table (results go there)");
    app.add_flag("--enqueue-only", o.enqueue_only, "with --queue: add the URLs to the queue and exit (start workers after)");
    app.add_option("--batch", o.batch, "URLs claimed at once from the queue (default: the concurrency)");
    app.add_option("--lease", o.lease, "seconds a claimed URL stays this worker's before others may take it")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_flag("--json", o.json, "print the summary as JSON");
    app.add_option("--progress", o.progress, "auto (a bar on a terminal), bar, lines, off")
        ->capture_default_str()->check(CLI::IsMember({"auto", "bar", "lines", "off"}));
    app.add_flag("-q,--quiet", o.quiet, "no progress, no notes: only the summary");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    o.db_given = db->count() > 0;

    try {
        return corio::run(fetch::run(std::move(o)));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "corio-fetch: %s\n", e.what());
        return 1;
    }
}
