#pragma once
// corio::fs::File: an open file read and written at offsets without blocking the loop (aiofiles), its open
// modes, and fs::FileError.

#include <corio/error.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace corio::fs {

/// A file operation failed: names the operation, the path and the system's reason, as in
/// "open '/etc/shadow': Permission denied". code() is the errno.
class FileError : public Error {
public:
    FileError(std::string_view operation, std::string path, int err);
    /// The path the operation was on.
    [[nodiscard]] const std::string& path() const noexcept { return m_path; }
    /// What failed: "open", "read", "write", "fsync", "stat", "close", "rename", ...
    [[nodiscard]] const std::string& operation() const noexcept { return m_operation; }
    /// The errno (ENOENT, EACCES, EISDIR, ENOSPC, ...).
    [[nodiscard]] int code() const noexcept { return m_errno; }

private:
    std::string m_operation;
    std::string m_path;
    int m_errno;
};

/// How File::open opens a file. Set fields by name, or parse Python's mode strings:
///
///     co_await fs::File::open(path, {.write = true, .create = true, .append = true});
///     co_await fs::File::open(path, "a");  // the same
struct OpenMode {
    bool read = true;             ///< open for reading
    bool write = false;           ///< open for writing
    bool create = false;          ///< create the file when it is missing (O_CREAT)
    bool exclusive = false;       ///< with create: fail with EEXIST when it exists (O_EXCL)
    bool truncate = false;        ///< cut the file to 0 bytes (O_TRUNC)
    bool append = false;          ///< every write goes to the end of the file, whatever its offset (O_APPEND)
    unsigned permissions = 0644;  ///< the permissions of a created file, less the umask
    int extra_flags = 0;          ///< more open(2) flags (O_NOATIME, O_DIRECT, O_SYNC, ...)

    /// Python's modes: "r", "w", "a", "x", each with an optional "+" (read and write) and "b" (ignored: files
    /// are always binary). Errors: std::invalid_argument for anything else.
    [[nodiscard]] static OpenMode parse(std::string_view mode);
    /// The open(2) flags (always with O_CLOEXEC). Errors: std::invalid_argument when neither read nor write.
    [[nodiscard]] int flags() const;
};

/// An open file. Reads and writes take explicit offsets (read_at/write_at, any number in flight at once) or
/// use the file position (read/write, one at a time). Under the io_uring backend open, read, write and fsync
/// are kernel operations. Under epoll the system calls run on the loop's thread pool (corio::to_thread), but
/// for reads of data already in the page cache, which are copied at once (preadv2 with RWF_NOWAIT, which
/// never waits for a device; about 2 ms of such copying per turn of the loop, then the pool takes over
/// until the loop has turned). fstat, rename, and closing a written file use the pool under both. The loop
/// never waits for a disk. Move-only; the destructor closes the file (in place; close() reports errors).
///
/// Cancellation: for every operation below, a cancelled wait raises CancelledError; an operation the kernel
/// (or a worker thread) had already started may still complete, and its effect stands (a write may have
/// written part of the data). The File stays usable.
/// Errors: FileError with the path and errno. Thread safety: one loop thread at a time.
/// Closing or destroying a File while operations on it are in flight is safe: they run to their end (each
/// holds the descriptor), and the last one to end closes it.
///
///     auto f = co_await fs::File::open("/var/log/app.log", "r");
///     std::vector<std::byte> block(1 << 20);
///     std::size_t n = co_await f.read_at(block, 0);  // < block.size() only at the end of the file
///     co_await f.close();
class File {
public:
    /// A File that is not open.
    File() noexcept = default;
    File(File&& o) noexcept;
    File& operator=(File&& o) noexcept;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    /// Closes the file if it is open (in place; errors are ignored).
    ~File();

    /// Opens `path`. Errors: FileError("open") — ENOENT, EACCES, EISDIR (a directory opened for writing),
    /// EEXIST (exclusive), ...; std::invalid_argument for a mode with neither read nor write.
    ///
    ///     auto f = co_await fs::File::open("data.bin", {.read = true, .write = true, .create = true});
    [[nodiscard]] static Task<File> open(std::string path, OpenMode mode = {});
    /// Opens `path` with a Python mode string ("r", "w", "a", "x", "r+", "w+", "a+", "x+", with "b" allowed).
    /// Errors: as above; std::invalid_argument for an unknown mode, raised by the call itself (the mode is
    /// parsed at once, so the Task does not refer to `mode`).
    ///
    ///     auto f = co_await fs::File::open("out.txt", "w");
    [[nodiscard]] static Task<File> open(std::string path, std::string_view mode);

    /// Reads into `buf` from `offset`; returns the count, which is less than buf.size() only at the end of
    /// the file (0 at or past it). Does not move the file position. Several may be in flight at once.
    ///
    ///     std::size_t n = co_await f.read_at(std::span(block), offset);
    [[nodiscard]] Task<std::size_t> read_at(std::span<std::byte> buf, std::uint64_t offset);
    /// Writes all of `data` at `offset` (at the end in append mode), in as many system calls as it takes.
    /// Does not move the file position. Errors: FileError("write") — ENOSPC, EBADF (not open for writing)...
    ///
    ///     co_await f.write_at(std::as_bytes(std::span(header)), 0);
    [[nodiscard]] Task<void> write_at(std::span<const std::byte> data, std::uint64_t offset);
    [[nodiscard]] Task<void> write_at(std::string_view data, std::uint64_t offset);

    /// Reads into `buf` at the file position and advances it; the count is short only at the end of the
    /// file. Not for concurrent use on one File (read_at is).
    [[nodiscard]] Task<std::size_t> read(std::span<std::byte> buf);
    /// Writes all of `data` at the file position (at the end in append mode) and advances it.
    [[nodiscard]] Task<void> write(std::span<const std::byte> data);
    [[nodiscard]] Task<void> write(std::string_view data);

    /// The file's size in bytes now (fstat(2)).
    [[nodiscard]] Task<std::uint64_t> size();
    /// Flushes the file's data and metadata to the device (fsync(2)); data and size only (fdatasync(2)) when
    /// `data_only`.
    [[nodiscard]] Task<void> fsync(bool data_only = false);
    /// Closes the file; close(2)'s error (EIO on a network file system, say) is raised. The File is closed
    /// afterwards whatever happens, even when the wait is cancelled. Does nothing when it is not open. With
    /// operations in flight, the last of them closes the descriptor when it ends (close(2)'s error unseen).
    [[nodiscard]] Task<void> close();

    /// True while the file is open (not closed, nor being closed).
    [[nodiscard]] bool is_open() const noexcept { return m_shared && m_shared->fd >= 0 && !m_shared->closing; }
    /// The descriptor (-1 when closed); the File still owns it.
    [[nodiscard]] int fd() const noexcept { return is_open() ? m_shared->fd : -1; }
    /// The path it was opened with.
    [[nodiscard]] const std::string& path() const noexcept;

    /// What a File and its operations in flight share.
    struct Shared {
        int fd = -1;
        std::string path;
        bool writable = false;
        int ops = 0;           // operations in flight
        bool closing = false;  // closed or destroyed while operations were in flight: the last one closes fd
    };

private:
    explicit File(std::shared_ptr<Shared> s) noexcept : m_shared(std::move(s)) {}
    void release() noexcept;

    std::shared_ptr<Shared> m_shared;
};

}  // namespace corio::fs
