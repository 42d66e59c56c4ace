// Reads a file in fixed-size blocks through corio::fs::File::read_at and prints the throughput: one read at a
// time (sequential), and with several reads in flight (each of N tasks takes the next block in turn).
//
//   fs_read [--backend io_uring|epoll] [--block BYTES] [--inflight N] [--repeat R] FILE
//
// Prints `<mode> <MB/s> MB/s` lines (MB = 10^6 bytes): `sequential` and `inflight<N>` by default, only one of
// them with --inflight (1 is sequential). --repeat reads the file R times per mode and reports the best.
#include <corio/corio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
    std::string path;
    corio::Backend backend = corio::Backend::automatic;
    std::size_t block = 1 << 20;
    std::size_t inflight = 0;  // 0: both sequential and 4
    int repeat = 1;
};

// A page-aligned buffer, as dd uses: the kernel's copy into it runs at full speed.
struct Buffer {
    std::byte* data;
    std::size_t size;
    explicit Buffer(std::size_t n)
        : data(static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096))), size(n) {
        if (!data) throw std::bad_alloc();
    }
    ~Buffer() { std::free(data); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    std::span<std::byte> span() const noexcept { return {data, size}; }
};

corio::Task<std::uint64_t> sequential(corio::fs::File& f, std::size_t block) {
    Buffer buf(block);
    std::uint64_t off = 0;
    for (;;) {
        std::size_t n = co_await f.read_at(buf.span(), off);
        off += n;
        if (n < block) co_return off;
    }
}

// One of the tasks keeping reads in flight: takes the next unread block until one comes back short.
corio::Task<std::uint64_t> reader(corio::fs::File* f, std::size_t block, std::uint64_t* next, bool* end) {
    Buffer buf(block);
    std::uint64_t total = 0;
    while (!*end) {
        std::uint64_t off = *next;
        *next += block;
        std::size_t n = co_await f->read_at(buf.span(), off);
        total += n;
        if (n < block) *end = true;
    }
    co_return total;
}

corio::Task<std::uint64_t> parallel(corio::fs::File& f, std::size_t block, std::size_t inflight) {
    std::uint64_t next = 0;
    bool end = false;
    std::vector<corio::Task<std::uint64_t>> tasks;
    for (std::size_t i = 0; i < inflight; ++i) tasks.push_back(reader(&f, block, &next, &end));
    std::uint64_t total = 0;
    for (auto n : co_await corio::gather(std::move(tasks))) total += n;
    co_return total;
}

corio::Task<void> bench(Config cfg) {
    auto f = co_await corio::fs::File::open(cfg.path, "r");
    std::vector<std::size_t> modes;
    if (cfg.inflight) modes.push_back(cfg.inflight);
    else modes = {1, 4};
    for (std::size_t inflight : modes) {
        double best = 0;
        for (int r = 0; r < cfg.repeat; ++r) {
            auto t0 = Clock::now();
            std::uint64_t bytes = inflight == 1 ? co_await sequential(f, cfg.block)
                                                : co_await parallel(f, cfg.block, inflight);
            double s = std::chrono::duration<double>(Clock::now() - t0).count();
            double mbps = static_cast<double>(bytes) / 1e6 / s;
            if (mbps > best) best = mbps;
        }
        std::string mode = inflight == 1 ? "sequential" : "inflight" + std::to_string(inflight);
        std::printf("%s %.1f MB/s\n", mode.c_str(), best);
    }
    co_await f.close();
}

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: fs_read [--backend io_uring|epoll] [--block BYTES] [--inflight N] [--repeat R] FILE\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--backend") {
            std::string b = value();
            if (b == "io_uring") cfg.backend = corio::Backend::io_uring;
            else if (b == "epoll") cfg.backend = corio::Backend::epoll;
            else usage();
        } else if (a == "--block") {
            cfg.block = std::stoul(value());
        } else if (a == "--inflight") {
            cfg.inflight = std::stoul(value());
        } else if (a == "--repeat") {
            cfg.repeat = std::stoi(value());
        } else if (!a.empty() && a[0] != '-' && cfg.path.empty()) {
            cfg.path = a;
        } else {
            usage();
        }
    }
    if (cfg.path.empty() || cfg.block == 0 || cfg.repeat < 1) usage();
    try {
        corio::run(bench(cfg), {.backend = cfg.backend});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fs_read: %s\n", e.what());
        return 1;
    }
}
