// fs::File, OpenMode and FileError.
#include <corio/fs/file.hpp>

#include "fs/ops.hpp"

#include <corio/io.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <utility>

namespace corio::fs {

FileError::FileError(std::string_view operation, std::string path, int err)
    : Error(std::string(operation) + " '" + path + "': " + std::strerror(err)),
      m_operation(operation),
      m_path(std::move(path)),
      m_errno(err) {}

// ---- OpenMode ----------------------------------------------------------------------------------------------

OpenMode OpenMode::parse(std::string_view mode) {
    char kind = 0;
    bool plus = false;
    bool binary = false;
    bool ok = !mode.empty();
    for (char c : mode) {
        switch (c) {
            case 'r':
            case 'w':
            case 'a':
            case 'x':
                ok = ok && kind == 0;
                kind = c;
                break;
            case '+':
                ok = ok && !plus;
                plus = true;
                break;
            case 'b':
                ok = ok && !binary;
                binary = true;
                break;
            default: ok = false;
        }
    }
    if (!ok || kind == 0)
        throw std::invalid_argument("corio::fs: '" + std::string(mode) +
                                    "' is not a file mode (r, w, a or x, optionally with + and b)");
    OpenMode m;
    m.read = kind == 'r' || plus;
    m.write = kind != 'r' || plus;
    m.create = kind != 'r';
    m.truncate = kind == 'w';
    m.append = kind == 'a';
    m.exclusive = kind == 'x';
    return m;
}

int OpenMode::flags() const {
    if (!read && !write) throw std::invalid_argument("corio::fs: an OpenMode must read, write, or both");
    int f = read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
    if (create) f |= O_CREAT;
    if (exclusive) f |= O_EXCL;
    if (truncate) f |= O_TRUNC;
    if (append) f |= O_APPEND;
    return f | extra_flags | O_CLOEXEC;
}

// ---- File --------------------------------------------------------------------------------------------------

File::File(File&& o) noexcept
    : m_fd(std::exchange(o.m_fd, -1)), m_path(std::move(o.m_path)), m_writable(o.m_writable) {}

File& File::operator=(File&& o) noexcept {
    if (this != &o) {
        if (m_fd >= 0) corio::close(m_fd);
        m_fd = std::exchange(o.m_fd, -1);
        m_path = std::move(o.m_path);
        m_writable = o.m_writable;
    }
    return *this;
}

File::~File() {
    if (m_fd >= 0) corio::close(m_fd);
}

void File::check_open(const char* op) const {
    if (m_fd < 0) throw FileError(op, m_path, EBADF);
}

Task<File> File::open(std::string path, OpenMode mode) {
    int flags = mode.flags();
    int fd = co_await detail::open_file(path, flags, mode.permissions);
    co_return File(fd, std::move(path), mode.write);
}

Task<File> File::open(std::string path, std::string_view mode) {
    return open(std::move(path), OpenMode::parse(mode));  // parsed now: the Task does not keep `mode`
}

Task<std::size_t> File::read_at(std::span<std::byte> buf, std::uint64_t offset) {
    check_open("read");
    std::size_t got = 0;
    while (got < buf.size()) {
        std::size_t n = co_await detail::read_some(m_fd, buf.data() + got, buf.size() - got, offset + got, m_path);
        if (n == 0) break;
        got += n;
    }
    co_return got;
}

Task<std::size_t> File::read(std::span<std::byte> buf) {
    check_open("read");
    std::size_t got = 0;
    while (got < buf.size()) {
        std::size_t n = co_await detail::read_some(m_fd, buf.data() + got, buf.size() - got, detail::k_position, m_path);
        if (n == 0) break;
        got += n;
    }
    co_return got;
}

namespace {
Task<void> write_all(int fd, std::span<const std::byte> data, std::uint64_t offset, const std::string& path) {
    if (fd < 0) throw FileError("write", path, EBADF);
    std::size_t done = 0;
    while (done < data.size()) {
        std::uint64_t at = offset == detail::k_position ? offset : offset + done;
        std::size_t n = co_await detail::write_some(fd, data.data() + done, data.size() - done, at, path);
        if (n == 0) throw FileError("write", path, EIO);  // no progress and no error: do not spin
        done += n;
    }
}
}  // namespace

Task<void> File::write_at(std::span<const std::byte> data, std::uint64_t offset) {
    return write_all(m_fd, data, offset, m_path);
}

Task<void> File::write_at(std::string_view data, std::uint64_t offset) {
    return write_at(std::as_bytes(std::span(data.data(), data.size())), offset);
}

Task<void> File::write(std::span<const std::byte> data) {
    return write_all(m_fd, data, detail::k_position, m_path);
}

Task<void> File::write(std::string_view data) { return write(std::as_bytes(std::span(data.data(), data.size()))); }

Task<std::uint64_t> File::size() {
    check_open("stat");
    struct stat st = co_await detail::stat_file(m_fd, m_path);
    co_return static_cast<std::uint64_t>(st.st_size);
}

Task<void> File::fsync(bool data_only) {
    check_open(data_only ? "fdatasync" : "fsync");
    co_await detail::sync_file(m_fd, data_only, m_path);
}

Task<void> File::close() {
    if (m_fd < 0) co_return;
    int fd = std::exchange(m_fd, -1);
    co_await detail::close_file(fd, m_writable, m_path);
}

}  // namespace corio::fs
