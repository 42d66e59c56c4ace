// fs/'s system calls: kernel operations under io_uring, thread-pool jobs otherwise (see ops.hpp).
#include "fs/ops.hpp"

#include <corio/io.hpp>
#include <corio/offload/thread_pool.hpp>
#include <corio/run.hpp>
#include <corio/time.hpp>

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace corio::fs::detail {
namespace {

// Linux transfers at most this much in one read or write; the I/O awaiters cap there too.
constexpr std::size_t k_max_io = 0x7ffff000;

bool on_uring() { return current_backend() == Backend::io_uring; }

/// Runs `call` on the thread pool, retrying EINTR; its result, or -errno.
template <class F>
Task<long> blocking(F call) {
    return to_thread([call]() -> long {
        long r;
        do r = static_cast<long>(call());
        while (r < 0 && errno == EINTR);
        return r < 0 ? -errno : r;
    });
}

// The loop-thread time inline reads (epoll) spent in the current turn of the loop: past k_inline_per_turn,
// reads wait for the thread pool instead, and the loop gets to turn (fire timers, poll) meanwhile.
constexpr std::chrono::nanoseconds k_inline_per_turn = std::chrono::milliseconds(2);
struct InlineShare {
    std::uint64_t turn = ~0ull;
    std::chrono::nanoseconds spent{0};
};
thread_local InlineShare t_inline;

bool inline_allowed() {
    std::uint64_t turn = loop_statistics().turns;
    if (turn != t_inline.turn) t_inline = {turn, std::chrono::nanoseconds(0)};
    return t_inline.spent < k_inline_per_turn;
}

// A kernel operation that failed: EINTR is retried by the caller, anything else becomes a FileError.
void check_kernel_error(const IoError& e, const char* op, const std::string& path) {
    if (e.code() != EINTR) throw FileError(op, path, e.code());
}

}  // namespace

Task<int> open_file(const std::string& path, int flags, unsigned mode) {
    flags |= O_CLOEXEC;
    if (on_uring()) {
        for (;;) {
            try {
                co_return co_await corio::openat(AT_FDCWD, path.c_str(), flags, mode);
            } catch (const IoError& e) {
                check_kernel_error(e, "open", path);
            }
        }
    }
    const char* p = path.c_str();
    long r = co_await blocking([p, flags, mode] { return ::open(p, flags, static_cast<mode_t>(mode)); });
    if (r < 0) throw FileError("open", path, static_cast<int>(-r));
    co_return static_cast<int>(r);
}

Task<std::size_t> read_some(int fd, void* buf, std::size_t len, std::uint64_t offset, const std::string& path) {
    if (len > k_max_io) len = k_max_io;
    if (on_uring()) {
        for (;;) {
            try {
                co_return co_await corio::read(fd, buf, len, offset);
            } catch (const IoError& e) {
                check_kernel_error(e, "read", path);
            }
        }
    }
    // Data in the page cache is copied at once, on the loop thread: RWF_NOWAIT never waits for a device (it
    // fails with EAGAIN instead, or returns what is cached). The rest goes to the thread pool, and so does
    // every read once this turn of the loop has spent its inline share copying. The yield keeps this a
    // cancellation point before anything is read, and lets the other ready tasks run between reads.
    co_await corio::yield();
    if (inline_allowed()) {
        auto t0 = std::chrono::steady_clock::now();
        iovec iov{buf, len};
        ssize_t now = ::preadv2(fd, &iov, 1, offset == k_position ? -1 : static_cast<off_t>(offset), RWF_NOWAIT);
        int err = now < 0 ? errno : 0;
        t_inline.spent += std::chrono::steady_clock::now() - t0;
        if (now >= 0) co_return static_cast<std::size_t>(now);
        if (err != EAGAIN && err != EOPNOTSUPP && err != EINVAL && err != EINTR) throw FileError("read", path, err);
    }
    long r = co_await blocking([fd, buf, len, offset] {
        return offset == k_position ? ::read(fd, buf, len) : ::pread(fd, buf, len, static_cast<off_t>(offset));
    });
    if (r < 0) throw FileError("read", path, static_cast<int>(-r));
    co_return static_cast<std::size_t>(r);
}

Task<std::size_t> write_some(int fd, const void* buf, std::size_t len, std::uint64_t offset,
                             const std::string& path) {
    if (len > k_max_io) len = k_max_io;
    if (on_uring()) {
        for (;;) {
            try {
                co_return co_await corio::write(fd, buf, len, offset);
            } catch (const IoError& e) {
                check_kernel_error(e, "write", path);
            }
        }
    }
    long r = co_await blocking([fd, buf, len, offset] {
        return offset == k_position ? ::write(fd, buf, len) : ::pwrite(fd, buf, len, static_cast<off_t>(offset));
    });
    if (r < 0) throw FileError("write", path, static_cast<int>(-r));
    co_return static_cast<std::size_t>(r);
}

Task<void> sync_file(int fd, bool data_only, const std::string& path) {
    if (on_uring()) {
        for (;;) {
            try {
                co_await corio::fsync(fd, data_only);
                co_return;
            } catch (const IoError& e) {
                check_kernel_error(e, data_only ? "fdatasync" : "fsync", path);
            }
        }
    }
    long r = co_await blocking([fd, data_only] { return data_only ? ::fdatasync(fd) : ::fsync(fd); });
    if (r < 0) throw FileError(data_only ? "fdatasync" : "fsync", path, static_cast<int>(-r));
}

Task<struct stat> stat_file(int fd, const std::string& path) {
    struct Result {
        struct stat st;
        int err;
    };
    Result res = co_await to_thread([fd] {
        Result out{};
        out.err = ::fstat(fd, &out.st) < 0 ? errno : 0;
        return out;
    });
    if (res.err) throw FileError("stat", path, res.err);
    co_return res.st;
}

Task<void> close_file(int fd, bool writable, const std::string& path) {
    if (!writable) {
        corio::close(fd);  // nothing to flush: close(2) of a read-only descriptor does not wait for a device
        co_return;
    }
    int err = 0;
    try {
        err = co_await to_thread([fd] { return ::close(fd) < 0 ? errno : 0; });
    } catch (...) {
        ::close(fd);  // the job cannot throw: it never ran (cancelled before a worker took it)
        throw;
    }
    if (err != 0 && err != EINTR) throw FileError("close", path, err);  // after EINTR the fd is closed too
}

Task<void> rename_file(const std::string& from, const std::string& to) {
    const char* f = from.c_str();
    const char* t = to.c_str();
    long r = co_await blocking([f, t] { return ::rename(f, t); });
    if (r < 0) throw FileError("rename", to, static_cast<int>(-r));
}

Task<void> discard_file(std::string path) {
    const char* p = path.c_str();
    (void)co_await blocking([p] { return ::unlink(p); });
}

}  // namespace corio::fs::detail
