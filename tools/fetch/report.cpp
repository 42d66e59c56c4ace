// corio-fetch's progress display and summary.

#include "fetch.hpp"

#include <corio/time.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <unistd.h>

namespace fetch {
namespace {

using namespace std::chrono_literals;

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    std::size_t k = static_cast<std::size_t>(std::ceil(p / 100.0 * double(sorted.size())));
    return sorted[std::min(sorted.size(), std::max<std::size_t>(k, 1)) - 1];
}

std::string human_bytes(std::int64_t b) {
    char buf[32];
    if (b < 1024) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
    else if (b < (1 << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024);
    else if (b < (1ll << 30)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1 << 20));
    else std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / (1ll << 30));
    return buf;
}

std::string clock_text(double seconds) {
    long s = std::lround(std::max(0.0, seconds));
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

}  // namespace

void Stats::start(std::size_t total, std::size_t skipped) {
    m_start = std::chrono::steady_clock::now();
    m_total = total;
    m_skipped = skipped;
}

void Stats::add(const Result& r) {
    ++m_done;
    m_latency.push_back(r.elapsed_ms);
    if (!r.error.empty()) {
        ++m_errors;
        ++m_by_error[r.error_type.empty() ? "error" : r.error_type];
    } else {
        ++m_by_status[r.status];
        m_bytes += r.bytes;
        m_links += r.links;
    }
    if (!r.host.empty()) {
        auto& h = m_hosts[r.host];
        ++h.count;
        h.total_ms += r.elapsed_ms;
    }
}

Stats::Tail Stats::latency_tail() const {
    auto sorted = m_latency;
    std::sort(sorted.begin(), sorted.end());
    return {percentile(sorted, 50), percentile(sorted, 90), percentile(sorted, 99),
            sorted.empty() ? 0.0 : sorted.back()};
}

std::vector<Stats::HostMean> Stats::slowest_hosts(std::size_t n) const {
    std::vector<HostMean> hosts;
    for (auto& [name, h] : m_hosts) hosts.push_back({name, h.total_ms / double(h.count), h.count});
    std::sort(hosts.begin(), hosts.end(), [](const HostMean& a, const HostMean& b) {
        return a.mean_ms != b.mean_ms ? a.mean_ms > b.mean_ms : a.name > b.name;
    });
    if (hosts.size() > n) hosts.resize(n);
    return hosts;
}

double Stats::seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

std::string Stats::progress_text() const {
    double s = seconds();
    double rate = s > 0 ? double(m_done) / s : 0;
    char buf[160];
    if (m_total > 0) {
        double eta = rate > 0 ? double(m_total - std::min(m_done, m_total)) / rate : 0;
        std::snprintf(buf, sizeof buf, "%zu/%zu %3.0f%%  %.0f/s  %zu errors  ETA %s", m_done, m_total,
                      100.0 * double(m_done) / double(m_total), rate, m_errors, clock_text(eta).c_str());
    } else {
        std::snprintf(buf, sizeof buf, "%zu done  %.0f/s  %zu errors", m_done, rate, m_errors);
    }
    return buf;
}

std::string Stats::summary_text(bool interrupted, const std::string& where) const {
    std::ostringstream o;
    double s = seconds();
    char line[256];
    std::snprintf(line, sizeof line, "corio-fetch: %zu URLs in %.2f s (%.0f/s), %s%s\n", m_done, s,
                  s > 0 ? double(m_done) / s : 0.0, human_bytes(m_bytes).c_str(),
                  interrupted ? " — interrupted" : "");
    o << line;
    if (m_skipped) o << "  skipped (already fetched, --resume): " << m_skipped << "\n";
    if (interrupted && m_total > m_done) o << "  not fetched: " << m_total - m_done << "\n";
    o << "  status:";
    if (m_by_status.empty()) o << " none";
    for (auto& [code, n] : m_by_status) o << "  " << code << " x" << n;
    o << "\n";
    if (m_errors) {
        o << "  errors: " << m_errors << " (";
        bool first = true;
        for (auto& [type, n] : m_by_error) {
            o << (first ? "" : ", ") << type << " x" << n;
            first = false;
        }
        o << ")\n";
    }
    Tail t = latency_tail();
    std::snprintf(line, sizeof line, "  latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", t.p50,
                  t.p90, t.p99, t.max);
    o << line;
    if (m_links) o << "  links found: " << m_links << "\n";
    auto hosts = slowest_hosts(3);
    if (!hosts.empty()) {
        o << "  slowest hosts:";
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            std::snprintf(line, sizeof line, "%s %s (mean %.1f ms over %zu)", i ? "," : "", hosts[i].name.c_str(),
                          hosts[i].mean_ms, hosts[i].count);
            o << line;
        }
        o << "\n";
    }
    o << "  results: " << where << "\n";
    return o.str();
}

std::string Stats::summary_json(bool interrupted, const std::string& where) const {
    nlohmann::json j;
    double s = seconds();
    j["urls"] = m_done;
    j["total"] = m_total;
    j["skipped"] = m_skipped;
    j["interrupted"] = interrupted;
    j["seconds"] = s;
    j["per_second"] = s > 0 ? double(m_done) / s : 0.0;
    j["bytes"] = m_bytes;
    j["links"] = m_links;
    j["errors"] = m_errors;
    auto& status = j["status"] = nlohmann::json::object();
    for (auto& [code, n] : m_by_status) status[std::to_string(code)] = n;
    auto& errors = j["error_types"] = nlohmann::json::object();
    for (auto& [type, n] : m_by_error) errors[type] = n;
    Tail t = latency_tail();
    j["latency_ms"] = {{"p50", t.p50}, {"p90", t.p90}, {"p99", t.p99}, {"max", t.max}};
    auto& slow = j["slowest_hosts"] = nlohmann::json::array();
    for (const HostMean& h : slowest_hosts(5))
        slow.push_back({{"host", h.name}, {"mean_ms", h.mean_ms}, {"count", h.count}});
    j["results"] = where;
    return j.dump(2) + "\n";
}

corio::Task<void> show_progress(const Stats& stats, std::string mode) {
    if (mode == "off") co_return;
    bool bar = mode == "bar" || (mode == "auto" && ::isatty(STDERR_FILENO));
    if (!bar) {
        // Plain lines for logs: one every 2 s, so a short run prints none.
        for (;;) {
            co_await corio::sleep(2s);
            std::fprintf(stderr, "progress: %s\n", stats.progress_text().c_str());
        }
    }
    try {
        for (;;) {
            constexpr int width = 30;
            std::size_t total = stats.total();
            int filled = total ? int(double(width) * double(std::min(stats.done(), total)) / double(total)) : 0;
            std::string line = "\r[" + std::string(std::size_t(filled), '#') + std::string(std::size_t(width - filled), '.') +
                               "] " + stats.progress_text() + "   ";
            std::fputs(line.c_str(), stderr);
            std::fflush(stderr);
            co_await corio::sleep(100ms);
        }
    } catch (...) {
        std::fputs("\r\033[K", stderr);  // the summary replaces the bar
        std::fflush(stderr);
        throw;
    }
}

}  // namespace fetch
