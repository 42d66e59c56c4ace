#pragma once
// Unix-domain stream sockets: the same stream API as TCP, addressed by a path.

#include <corio/net/stream.hpp>
#include <corio/task.hpp>

#include <string>
#include <string_view>

namespace corio::net {

/// A Unix-domain stream connection.
class UnixStream : public StreamSocket {
public:
    using StreamSocket::StreamSocket;

    /// Connects to the socket at `path` ('@name': the abstract namespace). While the listener's backlog is
    /// full it waits for room, as a blocking connect(2) does (wrap it in corio::timeout to bound that).
    /// Cancellation: the attempt is cancelled and the socket closed.
    /// Errors: ConnectError naming the path and reason (ENOENT, ECONNREFUSED...).
    ///
    ///     auto s = co_await net::UnixStream::connect("/run/app.sock");
    [[nodiscard]] static Task<UnixStream> connect(std::string path);

    /// A connected pair (socketpair(2)). Errors: IoError.
    [[nodiscard]] static std::pair<UnixStream, UnixStream> pair();
};

/// Options of UnixListener::bind.
struct UnixListenOptions {
    int backlog = 1024;
    /// Remove a stale socket file at the path first (only a socket; any other file is an error).
    bool remove_existing = true;
    /// Unlink the socket file when the listener is closed (as asyncio's cleanup_socket).
    bool unlink_on_close = true;
};

/// A listening Unix-domain socket.
class UnixListener : public ListenerSocket {
public:
    UnixListener() noexcept = default;
    UnixListener(UnixListener&&) noexcept = default;
    UnixListener& operator=(UnixListener&& o) noexcept;
    ~UnixListener();

    /// Binds and listens at `path`. Errors: std::invalid_argument (path too long); IoError (EADDRINUSE
    /// when a live or non-socket file is there...).
    [[nodiscard]] static UnixListener bind(std::string_view path, UnixListenOptions options = {});

    /// Waits for the next connection. Cancellation and errors: as TcpListener::accept.
    [[nodiscard]] Task<UnixStream> accept();

    /// Closes the listener (and unlinks its file when asked to).
    void close() noexcept;

private:
    std::string m_unlink;
};

}  // namespace corio::net
