// corio's side of bench/compare_http.sh.
//
//   http_client json URL [--connections 50] [--requests 100000]
//       keep-alive connections fetching URL (a small JSON document) as fast as they can, each body parsed
//       as JSON; prints "corio client_json <requests/s> req/s".
//   http_client idle URL [--connections 10000]
//       opens that many keep-alive connections (one request each, all at once) and leaves them idle in the
//       pool; prints the process's RSS: "corio idle_rss <MiB> MiB" (and the growth for the connections).

#include <corio/corio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <sys/resource.h>
#include <string>

using namespace std::chrono_literals;

namespace {

/// "corio", or "corio-epoll" under CORIO_BACKEND=epoll.
const char* runtime_name() {
    const char* b = std::getenv("CORIO_BACKEND");
    return b && std::strcmp(b, "epoll") == 0 ? "corio-epoll" : "corio";
}

/// CPU time (user + system) this process has used, in seconds.
double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double rss_mib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

corio::Task<void> json_bench(std::string url, int connections, long requests) {
    corio::http::ClientOptions o;
    o.limits.max_connections = static_cast<std::size_t>(connections);
    o.limits.max_keepalive = static_cast<std::size_t>(connections);
    o.decompress = false;  // as wrk: no Accept-Encoding
    corio::http::Client client(o);
    long next = 0;
    long failed = 0;
    long checksum = 0;
    auto worker = [&]() -> corio::Task<void> {
        while (next < requests) {
            ++next;
            auto r = co_await client.get(url);
            if (r.status() != 200) {
                ++failed;
                continue;
            }
            nlohmann::json doc = r.json();
            checksum += doc.size();
        }
    };
    // Warm-up: open the connections.
    {
        std::vector<corio::Task<corio::http::Response>> warm;
        for (int i = 0; i < connections; ++i) warm.push_back(client.get(url));
        (void)co_await corio::gather(std::move(warm));
    }
    auto t0 = std::chrono::steady_clock::now();
    double cpu0 = cpu_seconds();
    std::vector<corio::Task<void>> workers;
    for (int i = 0; i < connections; ++i) workers.push_back(worker());
    co_await corio::gather(std::move(workers));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = cpu_seconds() - cpu0;
    if (failed || checksum == 0) std::fprintf(stderr, "http_client: %ld requests failed\n", failed);
    auto st = client.statistics();
    std::fprintf(stderr, "http_client: %ld requests in %.3f s over %llu connections\n", requests, s,
                 static_cast<unsigned long long>(st.connections_created));
    std::printf("%s client_json %.0f req/s\n", runtime_name(), static_cast<double>(requests) / s);
    std::printf("%s client_cpu %.2f us/req\n", runtime_name(), cpu * 1e6 / static_cast<double>(requests));
}

corio::Task<void> idle_bench(std::string url, int connections) {
    double before = rss_mib();
    corio::http::ClientOptions o;
    o.limits.max_connections = static_cast<std::size_t>(connections);
    o.limits.max_keepalive = static_cast<std::size_t>(connections);
    o.limits.keepalive_expiry = std::chrono::minutes(10);
    o.timeout.pool = 60s;
    o.timeout.connect = 60s;
    o.timeout.read = 60s;
    corio::http::Client client(o);
    std::vector<corio::Task<corio::http::Response>> all;
    for (int i = 0; i < connections; ++i) all.push_back(client.get(url));
    auto responses = co_await corio::gather(std::move(all));
    responses.clear();
    responses.shrink_to_fit();
    auto st = client.statistics();
    double after = rss_mib();
    std::fprintf(stderr, "http_client: %zu connections idle (%llu created); RSS %.1f MiB before, %.1f MiB after\n",
                 st.connections_idle, static_cast<unsigned long long>(st.connections_created), before, after);
    struct mallinfo2 mi = mallinfo2();
    std::fprintf(stderr, "http_client: malloc: %.1f MiB in use, %.1f MiB free in the heap, %.1f MiB mmapped\n",
                 static_cast<double>(mi.uordblks) / 1048576.0, static_cast<double>(mi.fordblks) / 1048576.0,
                 static_cast<double>(mi.hblkhd) / 1048576.0);
    std::printf("%s idle_rss_%d %.1f MiB\n", runtime_name(), connections, after);
    std::printf("%s idle_growth_%d %.1f MiB\n", runtime_name(), connections, after - before);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: http_client json|idle URL [--connections N] [--requests N]\n");
        return 2;
    }
    std::string mode = argv[1];
    std::string url = argv[2];
    int connections = mode == "idle" ? 10000 : 50;
    long requests = 100000;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--connections")) connections = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--requests")) requests = std::atol(argv[i + 1]);
    }
    try {
        if (mode == "json") corio::run(json_bench(url, connections, requests));
        else corio::run(idle_bench(url, connections));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "http_client: %s\n", e.what());
        return 1;
    }
}
