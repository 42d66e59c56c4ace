// fs::read_file and fs::write_file.
#include <corio/fs/whole_file.hpp>

#include "fs/ops.hpp"

#include <corio/spawn.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <fcntl.h>
#include <random>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace corio::fs {
namespace {

// read_file reads at most this much per operation (about a millisecond from the page cache): the loop runs
// other tasks between chunks, and a cancellation waits for one chunk at most.
constexpr std::size_t k_chunk = 4u << 20;
// The first buffer for a file whose size is unknown (st_size 0: /proc, pipes, devices).
constexpr std::size_t k_unknown_size_start = 64u << 10;

std::string random_suffix() {
    thread_local std::mt19937_64 rng{[] {
        std::uint64_t seed = 0;  // getrandom(2) without waiting; the clock if it has nothing to give yet
        if (::getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
            seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                   static_cast<std::uint64_t>(::getpid());
        return seed;
    }()};
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string s(10, '0');
    for (char& c : s) c = digits[rng() % 36];
    return s;
}

/// The directory holding `path` ("." for a bare name).
std::string parent_of(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

Task<void> sync_directory(const std::string& dir) {
    File d = co_await File::open(dir, {.read = true, .extra_flags = O_DIRECTORY});
    try {
        co_await d.fsync();
    } catch (const FileError& e) {
        if (e.code() != EINVAL) throw;  // a file system that cannot sync directories: nothing more to do
    }
    co_await d.close();
}

Task<void> replace_atomically(std::string path, std::string_view data, const WriteOptions& options) {
    auto slash = path.find_last_of('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") throw FileError("open", path, EISDIR);
    std::string prefix = path.substr(0, path.size() - name.size()) + "." + name + ".tmp.";

    // The temporary file: new (O_EXCL), next to the target so that rename(2) can replace it.
    OpenMode mode{.read = false, .write = true, .create = true, .exclusive = true, .permissions = options.mode};
    File tmp;
    std::string tmp_path;
    for (int attempt = 0;; ++attempt) {
        tmp_path = prefix + random_suffix();
        bool taken = false;
        try {
            tmp = co_await File::open(tmp_path, mode);
        } catch (const FileError& e) {
            if (e.code() != EEXIST || attempt == 100) throw;
            taken = true;
        }
        if (!taken) break;
    }

    std::exception_ptr failure;
    try {
        co_await tmp.write_at(data, 0);
        co_await tmp.fsync();
        co_await tmp.close();
        co_await detail::rename_file(tmp_path, path);
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        // The target is untouched. Remove the temporary file even when this task is cancelled.
        tmp = File();
        co_await shield(detail::discard_file(tmp_path));
        std::rethrow_exception(failure);
    }
    co_await sync_directory(parent_of(path));  // makes the rename itself durable
}

}  // namespace

Task<std::string> read_file(std::string path) {
    File f = co_await File::open(std::move(path), OpenMode{});
    struct stat st = co_await detail::stat_file(f.fd(), f.path());
    // A regular file's size says how much to expect; one byte more lets the last read show the end.
    std::size_t expected = S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) : 0;
    std::string out;
    out.reserve(expected > 0 ? expected + 1 : k_unknown_size_start);  // allocated once, touched chunk by chunk
    std::size_t got = 0;
    for (;;) {
        if (got == out.capacity()) out.reserve(out.capacity() * 2);  // it grew (or its size was unknown)
        std::size_t want = std::min(out.capacity() - got, k_chunk);
        out.resize(got + want);
        std::size_t n = co_await detail::read_some(f.fd(), out.data() + got, want, detail::k_position, f.path());
        got += n;
        out.resize(got);
        if (n == 0) break;
        // A short read of a regular file once its expected size is in: its end, without one more read.
        if (n < want && expected > 0 && got >= expected) break;
    }
    co_await f.close();
    co_return out;
}

Task<void> write_file(std::string path, std::string_view data, WriteOptions options) {
    if (options.atomic) {
        co_await replace_atomically(std::move(path), data, options);
        co_return;
    }
    File f = co_await File::open(std::move(path), {.read = false, .write = true, .create = true, .truncate = true,
                                                   .permissions = options.mode});
    co_await f.write_at(data, 0);
    if (options.fsync) co_await f.fsync();
    co_await f.close();
}

}  // namespace corio::fs
