// The core workloads of bench/compare_core.sh, run on corio. Same workloads and output format as the peers in
// bench/peers/ (one `<workload> <value> <unit>` line each; --quick divides the counts by 10).
#include <corio/corio.hpp>

#include <malloc.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double ns_per_op(Clock::time_point t0, std::size_t n) {
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / static_cast<double>(n);
}

long rss_bytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) * 1024;
    return 0;
}

corio::Task<void> trivial() { co_return; }

corio::Task<double> spawn_await(std::size_t n) {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) co_await corio::spawn(trivial());
    co_return ns_per_op(t0, n);
}

corio::Task<double> yield(std::size_t n) {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) co_await corio::yield();
    co_return ns_per_op(t0, n);
}

corio::Task<double> sleep_10k(std::size_t n) {
    auto t0 = Clock::now();
    corio::TaskGroup g;
    for (std::size_t i = 0; i < n; ++i) g.spawn(corio::sleep(10ms));
    co_await g.join();
    co_return ns_per_op(t0, n);
}

corio::Task<void> queue_echo(corio::Queue<int>* in, corio::Queue<int>* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) co_await out->put(co_await in->get());
}

corio::Task<double> queue_roundtrip(std::size_t n) {
    corio::Queue<int> q1(1), q2(1);
    auto t0 = Clock::now();
    auto b = corio::spawn(queue_echo(&q1, &q2, n));
    for (std::size_t i = 0; i < n; ++i) {
        co_await q1.put(static_cast<int>(i));
        (void)co_await q2.get();
    }
    co_await b;
    co_return ns_per_op(t0, n);
}

corio::Task<void> socket_echo(int fd, std::size_t n) {
    char c = 0;
    for (std::size_t i = 0; i < n; ++i) {
        auto k = co_await corio::read(fd, &c, 1);
        co_await corio::write(fd, &c, k);
    }
}

corio::Task<double> socketpair_pingpong(std::size_t n) {
    int fds[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
    auto t0 = Clock::now();
    auto b = corio::spawn(socket_echo(fds[1], n));
    char c = 'x';
    for (std::size_t i = 0; i < n; ++i) {
        co_await corio::write(fds[0], &c, 1);
        (void)co_await corio::read(fds[0], &c, 1);
    }
    co_await b;
    double r = ns_per_op(t0, n);
    corio::close(fds[0]);
    corio::close(fds[1]);
    co_return r;
}

corio::Task<void> semaphore_worker(corio::Semaphore* sem) {
    auto permit = co_await sem->acquire();
    co_await corio::yield();
}

corio::Task<double> semaphore_100k(std::size_t n) {
    corio::Semaphore sem(10);
    auto t0 = Clock::now();
    corio::TaskGroup g;
    for (std::size_t i = 0; i < n; ++i) g.spawn(semaphore_worker(&sem));
    co_await g.join();
    co_return ns_per_op(t0, n);
}

int trivial_fn() { return 1; }

corio::Task<double> to_thread_10k(std::size_t n) {
    int sum = co_await corio::to_thread(trivial_fn);  // warm-up: starts the pool
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) sum += co_await corio::to_thread(trivial_fn);
    double r = ns_per_op(t0, n);
    if (sum != static_cast<int>(n) + 1) throw std::logic_error("to_thread result mismatch");
    co_return r;
}

corio::Task<void> long_sleeper(std::size_t* started) {
    ++*started;
    co_await corio::sleep(2s);
}

corio::Task<double> rss_per_sleeping_task(std::size_t n) {
    std::size_t started = 0;
    malloc_trim(0);
    long before = rss_bytes();
    for (std::size_t i = 0; i < n; ++i) corio::spawn(long_sleeper(&started)).detach();
    co_await corio::yield();  // queued behind every new task: all of them are asleep when this returns
    if (started != n) throw std::runtime_error("not all sleepers started");
    long after = rss_bytes();
    co_return static_cast<double>(after - before) / static_cast<double>(n);
    // run() ends by cancelling the sleepers
}

struct Workload {
    const char* name;
    std::size_t count;
    corio::Task<double> (*fn)(std::size_t);
    const char* unit;
};

constexpr Workload k_workloads[] = {
    {"spawn_await", 100'000, spawn_await, "ns"},
    {"yield", 1'000'000, yield, "ns"},
    {"sleep_10k", 10'000, sleep_10k, "ns"},
    {"queue_roundtrip", 1'000'000, queue_roundtrip, "ns"},
    {"socketpair_pingpong", 200'000, socketpair_pingpong, "ns"},
    {"semaphore_100k", 100'000, semaphore_100k, "ns"},
    {"to_thread_10k", 10'000, to_thread_10k, "ns"},
    {"rss_per_sleeping_task", 1'000'000, rss_per_sleeping_task, "B"},
};

int usage(const char* argv0) {
    std::fprintf(stderr, "usage: %s [--quick] [--only WORKLOAD]\n", argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    const char* only = nullptr;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else return usage(argv[0]);
    }
    bool matched = false;
    try {
        for (const auto& w : k_workloads) {
            if (only && std::strcmp(only, w.name) != 0) continue;
            matched = true;
            double v = corio::run(w.fn(quick ? w.count / 10 : w.count));
            std::printf("%s %.1f %s\n", w.name, v, w.unit);
            std::fflush(stdout);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "core_compare: error: %s\n", e.what());
        return 1;
    }
    return matched ? 0 : usage(argv[0]);
}
