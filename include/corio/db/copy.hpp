#pragma once
// db::CopyWriter and db::CopyReader: PostgreSQL's COPY ... FROM STDIN and COPY ... TO STDOUT, streamed.

#include <corio/task.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace corio::db {

namespace impl {
struct CopyState;
struct Access;
}  // namespace impl

/// A COPY ... FROM STDIN in progress (Connection::copy_in, Pool::copy_in): write() the data in the COPY's
/// format (text: tab-separated columns, a row a line; csv; binary) in pieces of any size, then finish().
/// The connection is reserved for the COPY until then: another statement on it raises db::Error.
///
/// Abandoned — destroyed before finish() or abort(), its connection given back, or cancelled in the middle —
/// the COPY copies nothing (the server rolls it back when the session ends), and the connection is closed
/// instead of being reused: a session in the middle of a COPY cannot serve anyone else.
/// Cancellation: write() and finish() abandon the COPY as above and raise CancelledError.
/// Errors: bad data is the server's db::DatabaseError subclass with its SQLSTATE (22P02…), raised by finish();
/// db::ConnectionError; db::Error when used after it ended. It must not outlive the Connection it came from,
/// nor be used by two tasks at once. Thread safety: loop thread only.
///
///     auto conn = co_await db.acquire();
///     auto copy = co_await conn.copy_in("copy items(id, name) from stdin");
///     co_await copy.write("1\tapple\n2\tpear\n");
///     std::uint64_t rows = co_await copy.finish();  // 2
class CopyWriter {
public:
    CopyWriter() noexcept;
    CopyWriter(CopyWriter&&) noexcept;
    CopyWriter& operator=(CopyWriter&&) noexcept;
    CopyWriter(const CopyWriter&) = delete;
    CopyWriter& operator=(const CopyWriter&) = delete;
    /// Abandons an unfinished COPY (see the class comment).
    ~CopyWriter();

    /// Sends `data` (it must stay valid until the task completes), waiting only when much is unsent.
    [[nodiscard]] Task<void> write(std::string_view data);
    /// Ends the data and waits for the server; returns the rows copied.
    [[nodiscard]] Task<std::uint64_t> finish();
    /// Ends the COPY with an error instead: nothing is copied and the connection stays usable.
    [[nodiscard]] Task<void> abort(std::string reason = {});
    /// True until finish(), abort() or abandonment.
    [[nodiscard]] bool active() const noexcept;

private:
    friend struct impl::Access;
    explicit CopyWriter(std::unique_ptr<impl::CopyState> state) noexcept;
    std::unique_ptr<impl::CopyState> m_state;
};

/// A COPY ... TO STDOUT in progress (Connection::copy_out, Pool::copy_out): read_chunk() until it returns an
/// empty view. Reserved connection, abandonment, cancellation and errors: as CopyWriter.
///
///     auto copy = co_await db.copy_out("copy items to stdout with (format csv)");
///     for (auto chunk = co_await copy.read_chunk(); !chunk.empty(); chunk = co_await copy.read_chunk())
///         out.append(chunk);  // text and csv: one row per chunk, with its newline
class CopyReader {
public:
    CopyReader() noexcept;
    CopyReader(CopyReader&&) noexcept;
    CopyReader& operator=(CopyReader&&) noexcept;
    CopyReader(const CopyReader&) = delete;
    CopyReader& operator=(const CopyReader&) = delete;
    /// Abandons an unfinished COPY.
    ~CopyReader();

    /// The next piece of the output, valid until the next call; empty at the end (and after it).
    [[nodiscard]] Task<std::string_view> read_chunk();
    /// Rows read so far; the server's count once read_chunk() returned the end.
    [[nodiscard]] std::uint64_t rows() const noexcept;
    /// True until the end was read, or abandonment.
    [[nodiscard]] bool active() const noexcept;

private:
    friend struct impl::Access;
    explicit CopyReader(std::unique_ptr<impl::CopyState> state) noexcept;
    std::unique_ptr<impl::CopyState> m_state;
};

}  // namespace corio::db
