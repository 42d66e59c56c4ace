#pragma once
// fs/'s system calls as awaitables. Under io_uring those the core has as kernel operations (open, read,
// write, fsync) are submitted to the ring; the rest (fstat, rename, unlink, close of a written file) and,
// under epoll, all of them run on the loop's thread pool: epoll cannot wait for a disk, and the epoll
// backend would otherwise do a regular file's read on the loop thread. One exception under epoll: a read
// of data in the page cache is copied at once with RWF_NOWAIT (within a per-turn time share), which is
// what io_uring does inline too, and what keeps epoll's throughput at the page cache's.
//
// Each raises FileError naming `path`; CancelledError passes through untouched. The string arguments are
// referenced until the Task finishes: callers await at once.
#include <corio/fs/file.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/stat.h>

namespace corio::fs::detail {

/// The offset that means "at the file position".
inline constexpr std::uint64_t k_position = ~0ull;

/// open(2) relative to the working directory; O_CLOEXEC is always added.
Task<int> open_file(const std::string& path, int flags, unsigned mode);
/// One read(2)/pread(2) of at most `len` bytes (capped near 2 GiB): may return fewer.
Task<std::size_t> read_some(int fd, void* buf, std::size_t len, std::uint64_t offset, const std::string& path);
/// One write(2)/pwrite(2) of at most `len` bytes (capped near 2 GiB): may write fewer.
Task<std::size_t> write_some(int fd, const void* buf, std::size_t len, std::uint64_t offset,
                             const std::string& path);
Task<void> sync_file(int fd, bool data_only, const std::string& path);
Task<struct stat> stat_file(int fd, const std::string& path);
/// Closes `fd`. A descriptor open for writing is closed on the thread pool (close(2) may flush, on a network
/// file system); a read-only one in place. The descriptor is closed even when the wait is cancelled.
Task<void> close_file(int fd, bool writable, const std::string& path);
Task<void> rename_file(const std::string& from, const std::string& to);
/// unlink(2), errors ignored (cleanup of a temporary file).
Task<void> discard_file(std::string path);

}  // namespace corio::fs::detail
