// The offload workloads of bench/compare_offload.sh on corio, with 2 workers: a ProcessPool (default) or
// to_thread (--executor thread). Same workloads and output format as bench/peers/process_pool.py (one
// `<workload> <value> <unit>` line each; --quick divides the counts by 10, --only runs one workload).
//
//   trivial_seq   10,000 calls of a trivial function, one after the other: ns per round trip
//   trivial_10k   10,000 calls submitted at once (gather): wall time / calls, ns
//   sha256_1000   1,000 SHA-256 digests of 64 KiB buffers made in the parent, submitted at once, the function
//                 taking std::span<const unsigned char>: ns per digest
//   sha256_shared the same digests of buffers the parent makes in the pool's shared heap (corio::SharedArray,
//                 passed as a SharedView: the worker reads them in place); under to_thread, the same buffers
//                 as sha256_1000 (a thread reads the caller's memory anyway)
//   sha256_reuse  1,000 digests of 16 such buffers, each hashed again and again (a dataset the workers scan
//                 repeatedly): SharedArrays on a ProcessPool, vectors under to_thread
//   sha256_vec    the same with a function taking std::vector<unsigned char> (a copy into the worker's vector)
//   sha256_made   the same digests of buffers each job makes itself from a seed (no data to send): ns per digest
// and, under --executor thread only, on the loop's thread alone (no pool), what any process pool pays for its
// data on this machine, as ns per digest of 1,000 buffers of 64 KiB:
//   sha256_in_place     each buffer hashed where it is (what to_thread's threads do)
//   sha256_after_copy   each buffer first copied into one reused 64 KiB buffer (a pool that copies its
//                       arguments copies each at least once)
//   sha256_new_mapping  buffers in a memfd written through one mapping and hashed through a second one, mapped
//                       fresh (a worker process reading a SharedArray the parent wrote, for the first time)
#include <corio/corio.hpp>
#include <corio/offload/process_pool.hpp>

#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

using Digest = std::array<unsigned char, 32>;
constexpr std::size_t k_buffer = 64 * 1024;
constexpr std::size_t k_workers = 2;

int trivial(int x) { return x + 1; }

Digest sha256_of(const unsigned char* p, std::size_t n) {
    Digest d{};
    unsigned len = 0;
    EVP_Digest(p, n, d.data(), &len, EVP_sha256(), nullptr);
    return d;
}

Digest sha256(std::span<const unsigned char> data) { return sha256_of(data.data(), data.size()); }
Digest sha256_vec(std::vector<unsigned char> data) { return sha256_of(data.data(), data.size()); }

std::vector<unsigned char> make_buffer(std::uint64_t seed) {
    std::vector<unsigned char> b(k_buffer);
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < k_buffer; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
        std::memcpy(b.data() + i, &x, 8);
    }
    return b;
}

Digest sha256_made(std::uint64_t seed) {
    auto b = make_buffer(seed);
    return sha256_of(b.data(), b.size());
}

double ns_per_op(Clock::time_point t0, std::size_t n) {
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / static_cast<double>(n);
}

struct Runner {
    corio::ProcessPool* pool = nullptr;  // null: to_thread

    template <class F, class... A>
    auto call(F f, A... args) {
        if (pool) return pool->submit(f, std::move(args)...);
        return corio::to_thread(f, std::move(args)...);
    }

    corio::Task<double> trivial_seq(std::size_t n) {
        auto t0 = Clock::now();
        for (std::size_t i = 0; i < n; ++i) (void)co_await call(trivial, static_cast<int>(i));
        co_return ns_per_op(t0, n);
    }

    corio::Task<double> trivial_many(std::size_t n) {
        std::vector<corio::Task<int>> tasks;
        tasks.reserve(n);
        auto t0 = Clock::now();
        for (std::size_t i = 0; i < n; ++i) tasks.push_back(call(trivial, static_cast<int>(i)));
        auto out = co_await corio::gather(std::move(tasks));
        double ns = ns_per_op(t0, n);
        if (out.back() != static_cast<int>(n)) std::fprintf(stderr, "trivial: wrong result\n");
        co_return ns;
    }

    corio::Task<double> sha_sent(std::size_t n, bool as_vector) {
        std::vector<std::vector<unsigned char>> buffers;
        for (std::size_t i = 0; i < n; ++i) buffers.push_back(make_buffer(i));
        Digest expect = sha256_of(buffers.back().data(), k_buffer);
        std::vector<corio::Task<Digest>> tasks;
        tasks.reserve(n);
        auto t0 = Clock::now();
        for (auto& b : buffers) {
            if (as_vector) tasks.push_back(call(sha256_vec, std::move(b)));
            else tasks.push_back(call(sha256, std::span<const unsigned char>(b)));
        }
        auto out = co_await corio::gather(std::move(tasks));
        double ns = ns_per_op(t0, n);
        if (out.back() != expect) std::fprintf(stderr, "sha256: wrong digest\n");
        co_return ns;
    }

    // n digests of `distinct` buffers (buffer i % distinct): SharedArrays passed as views on a ProcessPool,
    // vectors passed as spans under to_thread.
    corio::Task<double> sha_shared(std::size_t n, std::size_t distinct) {
        std::vector<corio::SharedArray<unsigned char>> shared;
        std::vector<std::vector<unsigned char>> plain;
        for (std::size_t i = 0; i < distinct; ++i) {
            auto made = make_buffer(i);
            if (pool) {
                shared.push_back(pool->shared_array<unsigned char>(k_buffer));
                std::memcpy(shared.back().data(), made.data(), k_buffer);
            } else {
                plain.push_back(std::move(made));
            }
        }
        Digest expect = sha256_made((n - 1) % distinct);
        std::vector<corio::Task<Digest>> tasks;
        tasks.reserve(n);
        auto t0 = Clock::now();
        for (std::size_t i = 0; i < n; ++i) {
            if (pool) tasks.push_back(pool->submit(sha256, shared[i % distinct].view()));
            else tasks.push_back(corio::to_thread(sha256, std::span<const unsigned char>(plain[i % distinct])));
        }
        auto out = co_await corio::gather(std::move(tasks));
        double ns = ns_per_op(t0, n);
        if (out.back() != expect) std::fprintf(stderr, "sha256_shared: wrong digest\n");
        co_return ns;
    }

    /// The three sha256_in_place / _after_copy / _new_mapping figures (see the top of the file).
    static void data_costs(std::size_t n) {
        std::vector<std::vector<unsigned char>> buffers;
        for (std::size_t i = 0; i < n; ++i) buffers.push_back(make_buffer(i));
        std::vector<unsigned char> copy(k_buffer);
        Digest sum{};
        auto fold = [&](const Digest& d) { sum[0] ^= d[0]; };
        auto t0 = Clock::now();
        for (auto& b : buffers) fold(sha256_of(b.data(), k_buffer));
        double in_place = ns_per_op(t0, n);
        t0 = Clock::now();
        for (auto& b : buffers) {
            std::memcpy(copy.data(), b.data(), k_buffer);
            fold(sha256_of(copy.data(), k_buffer));
        }
        double after_copy = ns_per_op(t0, n);
        double new_mapping = 0;
        std::size_t bytes = n * k_buffer;
        int fd = ::memfd_create("offload_compare", MFD_CLOEXEC);
        if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(bytes)) == 0) {
            void* w = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            void* r = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
            if (w != MAP_FAILED && r != MAP_FAILED) {
                for (std::size_t i = 0; i < n; ++i)
                    std::memcpy(static_cast<unsigned char*>(w) + i * k_buffer, buffers[i].data(), k_buffer);
                t0 = Clock::now();
                for (std::size_t i = 0; i < n; ++i)
                    fold(sha256_of(static_cast<const unsigned char*>(r) + i * k_buffer, k_buffer));
                new_mapping = ns_per_op(t0, n);
            }
            if (w != MAP_FAILED) ::munmap(w, bytes);
            if (r != MAP_FAILED) ::munmap(r, bytes);
        }
        if (fd >= 0) ::close(fd);
        std::printf("sha256_in_place %.1f ns\nsha256_after_copy %.1f ns\n", in_place, after_copy);
        if (new_mapping > 0) std::printf("sha256_new_mapping %.1f ns\n", new_mapping);
        if (sum[0] == 0xff) std::fflush(stdout);  // keeps the digests
    }

    corio::Task<double> sha_made(std::size_t n) {
        std::vector<corio::Task<Digest>> tasks;
        tasks.reserve(n);
        auto t0 = Clock::now();
        for (std::size_t i = 0; i < n; ++i) tasks.push_back(call(sha256_made, static_cast<std::uint64_t>(i)));
        auto out = co_await corio::gather(std::move(tasks));
        double ns = ns_per_op(t0, n);
        if (out.back() != sha256_made(n - 1)) std::fprintf(stderr, "sha256_made: wrong digest\n");
        co_return ns;
    }
};

corio::Task<int> main_task(bool process, std::size_t div, std::string only) {
    std::optional<corio::ProcessPool> pool;
    // The shared heap holds sha256_shared's 1,000 buffers of 64 KiB.
    if (process) pool.emplace(k_workers, corio::ProcessPoolOptions{.shared_heap = std::size_t(80) << 20});
    Runner r{pool ? &*pool : nullptr};
    // Warm up: the workers are started and have answered, the threads exist.
    std::vector<corio::Task<int>> warm;
    for (int i = 0; i < 20; ++i) warm.push_back(r.call(trivial, i));
    (void)co_await corio::gather(std::move(warm));
    (void)co_await r.call(sha256_made, std::uint64_t{1});

    auto want = [&](const char* w) { return only.empty() || only == w; };
    if (want("trivial_seq")) std::printf("trivial_seq %.1f ns\n", co_await r.trivial_seq(10'000 / div));
    if (want("trivial_10k")) std::printf("trivial_10k %.1f ns\n", co_await r.trivial_many(10'000 / div));
    if (want("sha256_1000")) std::printf("sha256_1000 %.1f ns\n", co_await r.sha_sent(1'000 / div, false));
    if (want("sha256_shared"))
        std::printf("sha256_shared %.1f ns\n", co_await r.sha_shared(1'000 / div, 1'000 / div));
    if (want("sha256_reuse")) std::printf("sha256_reuse %.1f ns\n", co_await r.sha_shared(1'000 / div, 16));
    if (want("sha256_vec")) std::printf("sha256_vec %.1f ns\n", co_await r.sha_sent(1'000 / div, true));
    if (want("sha256_made")) std::printf("sha256_made %.1f ns\n", co_await r.sha_made(1'000 / div));
    if (!pool && want("sha256_data_costs")) Runner::data_costs(1'000 / div);
    std::fflush(stdout);
    if (pool) co_await pool->close();
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    bool process = true;
    std::size_t div = 1;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") div = 10;
        else if (a == "--executor" && i + 1 < argc) process = std::string(argv[++i]) != "thread";
        else if (a == "--only" && i + 1 < argc) only = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--executor process|thread] [--quick] [--only WORKLOAD]\n", argv[0]);
            return 2;
        }
    }
    // The 64 MiB of buffers are made on the loop before the clock starts: no stall reports for that.
    return corio::run(main_task(process, div, only),
                      corio::RunOptions{.threads = k_workers, .stall_threshold = std::chrono::seconds(10)});
}
