#pragma once
// corio::fs::read_file and write_file: a whole file in one call (Python's Path.read_bytes/write_bytes),
// with an atomic replace.

#include <corio/fs/file.hpp>
#include <corio/task.hpp>

#include <string>
#include <string_view>

namespace corio::fs {

/// Reads the whole file at `path`. The size is asked first so the buffer is allocated once; a file that
/// grows or shrinks meanwhile is read to its actual end, and files whose size is unknown (/proc, pipes)
/// are read until the end of their data. Large files are read in chunks (several system calls).
///
/// Cancellation: CancelledError; the file is closed. Errors: FileError — "open" (ENOENT, EACCES...),
/// "read" (EISDIR for a directory, EIO...). Thread safety: loop thread only.
///
///     std::string config = co_await fs::read_file("/etc/app.conf");
[[nodiscard]] Task<std::string> read_file(std::string path);

/// Options for write_file.
struct WriteOptions {
    /// Replace the file atomically: write a temporary file in the same directory, fsync it, rename it over
    /// `path`, and fsync the directory. Readers see the old content or the new, never a mix, also after a
    /// crash. The new file gets `mode` (less the umask), not the permissions of the file it replaces, and a
    /// symbolic link at `path` is replaced by the file (not followed). Needs write access to the directory.
    bool atomic = false;
    /// Flush the data to the device before returning (implied by `atomic`).
    bool fsync = false;
    /// Permissions of a created file, less the umask.
    unsigned mode = 0644;
};

/// Writes `data` to `path`, creating it or truncating it first (or replacing it, with `.atomic`).
///
/// Cancellation: CancelledError. Without `atomic` the file may be left partly written; with it, a
/// cancellation before the rename leaves the old file untouched and removes the temporary one, and after
/// the rename the new content stands. Errors: FileError — "open" (EACCES, ENOENT for a missing directory,
/// EISDIR...), "write" (ENOSPC...), "fsync", "rename". Thread safety: loop thread only; `data` must stay
/// valid until the Task finishes.
///
///     co_await fs::write_file("state.json", json, {.atomic = true});
[[nodiscard]] Task<void> write_file(std::string path, std::string_view data, WriteOptions options = {});

}  // namespace corio::fs
