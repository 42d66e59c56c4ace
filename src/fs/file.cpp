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

namespace {

/// One operation in flight: holds the descriptor (the File may be closed or destroyed meanwhile); the last
/// one to end closes a descriptor whose File let go of it.
class Op {
public:
    Op(const std::shared_ptr<File::Shared>& s, const char* op) : m_s(s) {
        if (!m_s || m_s->fd < 0 || m_s->closing) throw FileError(op, m_s ? m_s->path : std::string(), EBADF);
        ++m_s->ops;
    }
    Op(const Op&) = delete;
    Op& operator=(const Op&) = delete;
    ~Op() {
        if (--m_s->ops == 0 && m_s->closing && m_s->fd >= 0) corio::close(std::exchange(m_s->fd, -1));
    }
    [[nodiscard]] int fd() const noexcept { return m_s->fd; }
    [[nodiscard]] const std::string& path() const noexcept { return m_s->path; }

private:
    std::shared_ptr<File::Shared> m_s;
};

Task<std::size_t> read_on(std::shared_ptr<File::Shared> s, std::span<std::byte> buf, std::uint64_t offset) {
    Op op(s, "read");
    std::size_t got = 0;
    while (got < buf.size()) {
        std::uint64_t at = offset == detail::k_position ? offset : offset + got;
        std::size_t n = co_await detail::read_some(op.fd(), buf.data() + got, buf.size() - got, at, op.path());
        if (n == 0) break;
        got += n;
    }
    co_return got;
}

Task<void> write_on(std::shared_ptr<File::Shared> s, std::span<const std::byte> data, std::uint64_t offset) {
    Op op(s, "write");
    std::size_t done = 0;
    while (done < data.size()) {
        std::uint64_t at = offset == detail::k_position ? offset : offset + done;
        std::size_t n = co_await detail::write_some(op.fd(), data.data() + done, data.size() - done, at, op.path());
        if (n == 0) throw FileError("write", op.path(), EIO);  // no progress and no error: do not spin
        done += n;
    }
}

}  // namespace

File::File(File&& o) noexcept : m_shared(std::move(o.m_shared)) {}

File& File::operator=(File&& o) noexcept {
    if (this != &o) {
        release();
        m_shared = std::move(o.m_shared);
    }
    return *this;
}

File::~File() { release(); }

void File::release() noexcept {
    if (!m_shared) return;
    if (m_shared->ops > 0) m_shared->closing = true;  // the last operation closes it
    else if (m_shared->fd >= 0) corio::close(std::exchange(m_shared->fd, -1));
    m_shared.reset();
}

const std::string& File::path() const noexcept {
    static const std::string none;
    return m_shared ? m_shared->path : none;
}

Task<File> File::open(std::string path, OpenMode mode) {
    int flags = mode.flags();
    auto s = std::make_shared<Shared>();
    s->path = std::move(path);
    s->writable = mode.write;
    s->fd = co_await detail::open_file(s->path, flags, mode.permissions);
    co_return File(std::move(s));
}

Task<File> File::open(std::string path, std::string_view mode) {
    return open(std::move(path), OpenMode::parse(mode));  // parsed now: the Task does not keep `mode`
}

Task<std::size_t> File::read_at(std::span<std::byte> buf, std::uint64_t offset) { return read_on(m_shared, buf, offset); }

Task<std::size_t> File::read(std::span<std::byte> buf) { return read_on(m_shared, buf, detail::k_position); }

Task<void> File::write_at(std::span<const std::byte> data, std::uint64_t offset) {
    return write_on(m_shared, data, offset);
}

Task<void> File::write_at(std::string_view data, std::uint64_t offset) {
    return write_at(std::as_bytes(std::span(data.data(), data.size())), offset);
}

Task<void> File::write(std::span<const std::byte> data) { return write_on(m_shared, data, detail::k_position); }

Task<void> File::write(std::string_view data) { return write(std::as_bytes(std::span(data.data(), data.size()))); }

Task<std::uint64_t> File::size() {
    std::shared_ptr<Shared> s = m_shared;
    Op op(s, "stat");
    struct stat st = co_await detail::stat_file(op.fd(), op.path());
    co_return static_cast<std::uint64_t>(st.st_size);
}

Task<void> File::fsync(bool data_only) {
    std::shared_ptr<Shared> s = m_shared;
    Op op(s, data_only ? "fdatasync" : "fsync");
    co_await detail::sync_file(op.fd(), data_only, op.path());
}

Task<void> File::close() {
    std::shared_ptr<Shared> s = m_shared;
    if (!s || s->fd < 0 || s->closing) co_return;
    if (s->ops > 0) {  // the last operation in flight closes it
        s->closing = true;
        co_return;
    }
    int fd = std::exchange(s->fd, -1);
    co_await detail::close_file(fd, s->writable, s->path);
}

}  // namespace corio::fs
