// Unix-domain stream sockets.
#include <corio/net/error.hpp>
#include <corio/net/unix.hpp>
#include <corio/time.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace corio::net {

Task<UnixStream> UnixStream::connect(std::string path) {
    SocketAddress address = SocketAddress::unix_path(path);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw IoError("socket", -1, errno);
    UnixStream stream(fd);
    // A listener whose backlog is full refuses a non-blocking connect with EAGAIN (epoll) and tells nobody
    // when there is room again; a blocking connect (what io_uring does for us) waits for it. Do the same:
    // try again after a pause that grows to 50 ms, until it connects, fails otherwise, or is cancelled.
    for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
        int err = 0;
        try {
            co_await corio::connect(fd, address.data(), address.size());
            co_return stream;
        } catch (const IoError& e) {
            err = e.code();
        }
        if (err != EAGAIN) throw ConnectError("cannot connect to " + path + ": " + std::strerror(err), err);
        co_await corio::sleep(pause);
    }
}

std::pair<UnixStream, UnixStream> UnixStream::pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) throw IoError("socketpair", -1, errno);
    return {UnixStream(fds[0]), UnixStream(fds[1])};
}

UnixListener& UnixListener::operator=(UnixListener&& o) noexcept {
    if (this != &o) {
        close();
        ListenerSocket::operator=(std::move(o));
        m_unlink = std::move(o.m_unlink);
        o.m_unlink.clear();
    }
    return *this;
}

UnixListener::~UnixListener() { close(); }

void UnixListener::close() noexcept {
    if (is_open() && !m_unlink.empty()) ::unlink(m_unlink.c_str());
    m_unlink.clear();
    ListenerSocket::close();
}

UnixListener UnixListener::bind(std::string_view path, UnixListenOptions options) {
    SocketAddress address = SocketAddress::unix_path(path);
    bool abstract = path.front() == '@';
    std::string file(path);
    if (!abstract && options.remove_existing) {
        struct stat st;
        if (::lstat(file.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(file.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw IoError("socket", -1, errno);
    UnixListener l;
    l.m_fd = fd;
    if (::bind(fd, address.data(), address.size()) < 0) {
        std::string op = "bind to " + file;
        throw IoError(op.c_str(), fd, errno);
    }
    if (!abstract && options.unlink_on_close) l.m_unlink = file;
    if (::listen(fd, options.backlog) < 0) throw IoError("listen", fd, errno);
    return l;
}

Task<UnixStream> UnixListener::accept() { co_return UnixStream(co_await accept_fd()); }

}  // namespace corio::net
