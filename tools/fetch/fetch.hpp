#pragma once
// corio-fetch: fetch URLs concurrently and politely, record what came back in a database, show progress.
// The parts: main.cpp (command line), fetch.cpp (the job), demo.cpp (the --demo server), report.cpp
// (progress and summary), analyze.cpp (the CPU-bound step, run off the loop).

#include <corio/task.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace fetch {

struct Options {
    std::vector<std::string> urls;      // positional arguments
    std::string input;                  // -i: a file of URLs, "-" for stdin
    int demo = 0;                       // --demo N: serve N pages in-process and fetch them
    int demo_port = 0;                  // --demo-port: its port (0: any free one)
    std::size_t concurrency = 10;       // -c
    std::size_t per_host = 0;           // --per-host: requests in flight per host (0: no limit)
    double rate = 0;                    // --rate: requests per second per host (0: no limit)
    double timeout = 30;                // --timeout: seconds per request, redirects included
    double connect_timeout = 10;        // --connect-timeout
    int retries = 0;                    // --retries: on transport errors, 429 and 5xx
    bool follow_redirects = true;       // --follow-redirects / --no-follow-redirects
    std::size_t max_bytes = 64 << 20;   // --max-bytes: per response, after decoding
    std::size_t workers = 0;            // --workers N: a ProcessPool for the CPU-bound step (0: to_thread)
    std::string db = "sqlite:///fetch.db";
    bool db_given = false;
    bool resume = false;
    std::string queue;                  // --queue postgresql://...
    bool enqueue_only = false;          // --enqueue-only: fill the queue and exit
    std::size_t batch = 0;              // --batch: URLs claimed at once from the queue (0: 2 x concurrency)
    double lease = 60;                  // --lease: seconds a claimed URL stays claimed
    bool json = false;                  // --json summary
    std::string progress = "auto";      // --progress auto|bar|lines|off
    bool quiet = false;
};

/// What one fetch gave: a row of the fetches table.
struct Result {
    std::string url;
    std::string host;                   // "host:port" ("" for an invalid URL)
    int status = 0;                     // 0 when error
    std::int64_t bytes = 0;
    double elapsed_ms = 0;
    std::string sha256;
    std::int64_t links = 0;
    std::string kind;                   // html, json, text, other ("" on error)
    std::string error;                  // "" when a response came
    std::string error_type;             // ConnectTimeout, ConnectError, InvalidUrl...
};

/// The CPU-bound step (SHA-256 of the body, a parse of its links or its JSON), a free function so that a
/// ProcessPool worker can run it: returns {sha256 hex, links or JSON members, kind}.
std::tuple<std::string, std::int64_t, std::string> analyze(std::string body, std::string content_type);

/// The summary's numbers, fed one Result at a time.
class Stats {
public:
    void start(std::size_t total, std::size_t skipped);
    void add(const Result& r);
    void set_total(std::size_t total) { m_total = total; }
    [[nodiscard]] std::size_t done() const { return m_done; }
    [[nodiscard]] std::size_t total() const { return m_total; }
    [[nodiscard]] std::size_t errors() const { return m_errors; }
    [[nodiscard]] double seconds() const;
    /// One progress line: "523/1000 52% 812/s 3 errors ETA 0:01".
    [[nodiscard]] std::string progress_text() const;
    /// The summary as text (for a terminal) or JSON.
    [[nodiscard]] std::string summary_text(bool interrupted, const std::string& where) const;
    [[nodiscard]] std::string summary_json(bool interrupted, const std::string& where) const;

private:
    std::chrono::steady_clock::time_point m_start{};
    std::size_t m_total = 0, m_skipped = 0, m_done = 0, m_errors = 0;
    std::int64_t m_bytes = 0, m_links = 0;
    std::map<int, std::size_t> m_by_status;
    std::map<std::string, std::size_t> m_by_error;
    std::vector<double> m_latency;
    struct Host {
        std::size_t count = 0;
        double total_ms = 0;
    };
    std::map<std::string, Host> m_hosts;

    /// What both summaries show, computed once: the latency tail and the hosts by mean latency, slowest first.
    struct Tail {
        double p50 = 0, p90 = 0, p99 = 0, max = 0;
    };
    struct HostMean {
        std::string name;
        double mean_ms = 0;
        std::size_t count = 0;
    };
    [[nodiscard]] Tail latency_tail() const;
    [[nodiscard]] std::vector<HostMean> slowest_hosts(std::size_t n) const;
};

/// Draws progress on stderr while the job runs (a bar on a terminal, a line every few seconds otherwise).
corio::Task<void> show_progress(const Stats& stats, std::string mode);

/// corio's own HTTP server on 127.0.0.1 serving `pages` generated pages: some slow, some redirecting, some
/// 404, some gzip, JSON and HTML with links. Starts at once (inside the loop).
class DemoServer {
public:
    DemoServer(int pages, int port);
    ~DemoServer();
    [[nodiscard]] std::vector<std::string> urls() const;
    corio::Task<void> stop();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// The whole job; returns the exit status (0 done, 2 bad input or database, 130 interrupted).
corio::Task<int> run(Options options);

}  // namespace fetch
