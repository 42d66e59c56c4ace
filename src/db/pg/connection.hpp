#pragma once
// One PostgreSQL session over libpq's non-blocking API, driven by the corio loop. Internal to the driver: the
// db::Pool's PostgreSQL connections are built on it.
//
// Shape of a connection:
//   * libpq always runs in pipeline mode. Each exec() sends [DEALLOCATE evicted...] [Parse] Bind/Execute and
//     a Sync, and becomes a Request in a FIFO; the server answers in order, and the results up to each Sync
//     belong to the Request at the head. With PgOptions::pipeline several Requests are in flight at once
//     (from different tasks); without it a Request waits until the one before it is answered.
//   * A reader task exists while someone waits for input (a Request, a notification, COPY): it polls the
//     socket, calls PQconsumeInput, and hands results, notifications and COPY data to the waiters. Every other
//     libpq call that may read (PQflush) is followed by the same dispatch, so no input is ever left buffered
//     in libpq while a waiter sleeps.
//   * The loop polls a dup() of libpq's socket, never libpq's own descriptor: libpq closes its socket when the
//     connection fails, and a poll on a closed (possibly reused) number would never end.
//   * COPY and multi-statement scripts leave pipeline mode for their duration (exclusive use of the session).
//
// Thread safety: a PgConnection belongs to the loop thread that opened it, during that run().

#include "db/pg/codec.hpp"

#include <corio/db/url.hpp>
#include <corio/detail/waiters.hpp>
#include <corio/task.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace corio::db::pg {

/// How a connection behaves (the parts of PoolOptions that concern one session).
struct PgOptions {
    /// Prepared statements kept per connection, keyed by SQL text and parameter types, least recently used
    /// evicted (DEALLOCATE). 0: every query uses the unnamed statement (pgbouncer's transaction pooling).
    std::size_t statement_cache_size = 100;
    /// Several queries in flight at once from different tasks (answered in order).
    bool pipeline = false;
    /// Opening the connection, DNS included (PgConfig::connect_timeout wins). 0: no limit.
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
    /// After a cancel request, how long the server has to end the query before the connection is declared
    /// broken.
    std::chrono::milliseconds cancel_timeout = std::chrono::seconds(5);
};

/// A PGresult (RAII). Values are in binary format (text for exec_script's results).
class PgResult {
public:
    PgResult() noexcept = default;
    explicit PgResult(PGresult* r) noexcept : m_res(r) {}
    PgResult(PgResult&& o) noexcept : m_res(o.m_res) { o.m_res = nullptr; }
    PgResult& operator=(PgResult&& o) noexcept {
        if (this != &o) {
            reset();
            m_res = o.m_res;
            o.m_res = nullptr;
        }
        return *this;
    }
    PgResult(const PgResult&) = delete;
    PgResult& operator=(const PgResult&) = delete;
    ~PgResult() { reset(); }

    [[nodiscard]] int rows() const noexcept { return m_res ? PQntuples(m_res) : 0; }
    [[nodiscard]] int columns() const noexcept { return m_res ? PQnfields(m_res) : 0; }
    [[nodiscard]] std::string_view column_name(int col) const noexcept;
    /// The column's index by exact name, or -1.
    [[nodiscard]] int column_index(std::string_view name) const noexcept;
    [[nodiscard]] Oid column_type(int col) const noexcept { return PQftype(m_res, col); }
    /// The column's values are text (exec_script) rather than binary.
    [[nodiscard]] bool text_format(int col) const noexcept { return PQfformat(m_res, col) == 0; }
    [[nodiscard]] bool is_null(int row, int col) const noexcept { return PQgetisnull(m_res, row, col) != 0; }
    /// The value's bytes (empty for NULL); valid while this result lives.
    [[nodiscard]] std::string_view value(int row, int col) const noexcept {
        return {PQgetvalue(m_res, row, col), static_cast<std::size_t>(PQgetlength(m_res, row, col))};
    }
    /// The value decoded as T (see decode_field). Errors: TypeMismatch, CodecError.
    template <class T>
    [[nodiscard]] T get(int row, int col) const {
        return decode_field<T>(column_type(col), value(row, col), is_null(row, col), text_format(col));
    }
    /// Rows affected (INSERT/UPDATE/DELETE/COPY...) or returned (SELECT), from the command tag; 0 if none.
    [[nodiscard]] std::uint64_t affected() const noexcept;
    /// The command tag: "INSERT 0 1", "SELECT 3".
    [[nodiscard]] std::string_view command() const noexcept { return m_res ? PQcmdStatus(m_res) : ""; }
    [[nodiscard]] PGresult* native() const noexcept { return m_res; }
    [[nodiscard]] explicit operator bool() const noexcept { return m_res != nullptr; }

private:
    void reset() noexcept {
        if (m_res) PQclear(m_res);
        m_res = nullptr;
    }
    PGresult* m_res = nullptr;
};

/// A NOTIFY received on a channel this session LISTENs to.
struct Notification {
    std::string channel;
    std::string payload;
    int backend_pid = 0;  ///< the notifying session's server process
};

/// Counters of one connection.
struct PgStatistics {
    std::uint64_t queries = 0;        ///< exec() calls sent
    std::uint64_t prepared = 0;       ///< statements prepared (cache misses)
    std::uint64_t cache_hits = 0;     ///< executions of an already prepared statement
    std::uint64_t evicted = 0;        ///< statements deallocated to make room
    std::uint64_t cancels_sent = 0;   ///< cancel requests sent to the server
    std::uint64_t notifications = 0;  ///< notifications received
    std::uint64_t corked = 0;         ///< loop turns whose statements left corked together (pipelining, TCP)
    std::size_t cached = 0;           ///< prepared statements now
    std::size_t in_flight = 0;        ///< queries sent and not yet answered
    std::size_t max_in_flight = 0;    ///< the most at once
};

class PgConnection;

/// COPY ... FROM STDIN in progress (from PgConnection::copy_in): write() the data in the COPY's format, then
/// finish(). The session is reserved for the COPY until then; destroying it unfinished breaks the connection.
class PgCopyIn {
public:
    PgCopyIn(PgCopyIn&& o) noexcept;
    PgCopyIn& operator=(PgCopyIn&&) = delete;
    ~PgCopyIn();

    /// Queues `data` (any split of the COPY stream), waiting only when too much is unsent.
    /// Cancellation: the connection is marked broken. Errors: db::ConnectionError.
    [[nodiscard]] Task<void> write(std::string_view data);
    /// Ends the data; returns the rows copied. Errors: the server's (a malformed row: db::DatabaseError).
    [[nodiscard]] Task<std::uint64_t> finish();
    /// Ends the COPY with an error: the server copies nothing. Errors: db::ConnectionError.
    [[nodiscard]] Task<void> abort(std::string_view reason);

private:
    friend class PgConnection;
    explicit PgCopyIn(PgConnection* c) noexcept : m_conn(c) {}
    Task<void> end(const char* error, std::uint64_t* rows);
    PgConnection* m_conn;
    std::size_t m_unflushed = 0;
};

/// COPY ... TO STDOUT in progress (from PgConnection::copy_out): next() until it returns nullopt.
class PgCopyOut {
public:
    PgCopyOut(PgCopyOut&& o) noexcept;
    PgCopyOut& operator=(PgCopyOut&&) = delete;
    ~PgCopyOut();

    /// The next row (one CopyData message; text format: a line with its newline), valid until the next call;
    /// nullopt at the end. Cancellation: the connection is marked broken. Errors: the server's.
    [[nodiscard]] Task<std::optional<std::string_view>> next();
    /// Rows copied (known at the end).
    [[nodiscard]] std::uint64_t rows() const noexcept { return m_rows; }

private:
    friend class PgConnection;
    explicit PgCopyOut(PgConnection* c) noexcept : m_conn(c) {}
    void free_row() noexcept;
    PgConnection* m_conn;
    char* m_row = nullptr;
    std::uint64_t m_rows = 0;
    std::uint32_t m_streak = 0;  // rows returned without suspending (the cooperative budget)
};

/// One PostgreSQL session on the loop.
///
///     auto conn = co_await PgConnection::connect(config, {});
///     PgResult r = co_await conn->exec("select $1::int + 1", Params::of(41));
///     int v = r.get<std::int32_t>(0, 0);  // 42
class PgConnection {
public:
    /// Opens a session: resolves a host name with corio's resolver (libpq gets `hostaddr`, every address in
    /// turn), or uses the Unix-socket directory; drives PQconnectPoll on the loop; then enters pipeline mode.
    ///
    /// Cancellation: the half-open connection is closed. Errors: db::ConnectionError naming the server and
    /// what failed (refused, "password authentication failed...", timed out after N ms); net::DnsError.
    [[nodiscard]] static Task<std::unique_ptr<PgConnection>> connect(PgConfig config, PgOptions options = {});

    /// Closes the session (Terminate, without waiting). Operations in flight must have ended.
    ~PgConnection();
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    /// Runs one statement with binary parameters and binary results, through the prepared-statement cache.
    /// `sql` and `params` must stay valid until the task completes.
    ///
    /// Cancellation: a query not yet sent is dropped. A sent one is interrupted: when it is the only query in
    /// flight a cancel request goes to the server (PQcancel, on the thread pool); then its results are
    /// drained, so the session is idle and healthy again (a query pipelined behind others runs to its end:
    /// a cancel request would hit whichever query the server runs when it lands). If it finished
    /// successfully meanwhile its result is returned (the cancellation is raised at the next await);
    /// otherwise CancelledError. A request the server drops (it landed before the backend began the query) is
    /// sent again each second; a server that does not end the query within cancel_timeout of the first cancel
    /// request breaks the connection. Errors: db::DatabaseError subclasses (the SQLSTATE's); db::ConnectionError when the
    /// session is lost (is_broken() from then on).
    [[nodiscard]] Task<PgResult> exec(std::string_view sql, const Params& params);
    [[nodiscard]] Task<PgResult> exec(std::string_view sql);
    /// As exec(), through the unnamed statement (never cached): one-off and utility statements.
    [[nodiscard]] Task<PgResult> exec_once(std::string_view sql, const Params& params);
    [[nodiscard]] Task<PgResult> exec_once(std::string_view sql);

    /// Runs several statements separated by ';' (the simple query protocol: no parameters, text results);
    /// returns the last statement's result. Cancellation: the connection is marked broken.
    [[nodiscard]] Task<PgResult> exec_script(std::string_view sql);

    /// LISTEN / UNLISTEN on a channel (quoted as an identifier: any name).
    [[nodiscard]] Task<void> listen(std::string_view channel);
    [[nodiscard]] Task<void> unlisten(std::string_view channel);
    /// The next notification, waiting for one. Notifications received while queries ran are queued.
    /// Cancellation: CancelledError, nothing lost. Errors: db::ConnectionError.
    [[nodiscard]] Task<Notification> next_notification();
    /// A queued notification, without waiting.
    [[nodiscard]] std::optional<Notification> try_next_notification();
    /// Drops the queued notifications and forgets may_listen() (a session handed to someone else after
    /// UNLISTEN *).
    void discard_notifications() noexcept {
        m_notes.clear();
        m_may_listen = false;
    }
    /// A LISTEN ran on this session (by listen(), or as SQL: its command tag was seen in any result, scripts
    /// included), or a notification arrived, since the last discard_notifications().
    [[nodiscard]] bool may_listen() const noexcept { return m_may_listen; }

    /// Starts COPY ... FROM STDIN. Waits for the queries in flight. Errors: the server's (bad table...).
    [[nodiscard]] Task<PgCopyIn> copy_in(std::string_view sql);
    /// Starts COPY ... TO STDOUT. As copy_in.
    [[nodiscard]] Task<PgCopyOut> copy_out(std::string_view sql);

    /// Reads what the server sent without waiting (notifications, or the end of the session): false when the
    /// connection is broken. A cheap health check for an idle connection.
    bool check_alive();
    /// The session is lost or in an unknown state (or closed): discard it.
    [[nodiscard]] bool is_broken() const noexcept { return m_broken; }
    /// Why it broke ("" while healthy).
    [[nodiscard]] const std::string& broken_reason() const noexcept { return m_broken_reason; }
    /// Nothing is in flight and no COPY or script runs.
    [[nodiscard]] bool idle() const noexcept { return m_in_flight == 0 && !m_exclusive && m_holds == 0; }
    /// libpq's transaction status as of the last answer (PQTRANS_IDLE, PQTRANS_INTRANS, PQTRANS_INERROR...).
    [[nodiscard]] PGTransactionStatusType transaction_status() const noexcept;
    /// The server process of this session (pg_stat_activity.pid).
    [[nodiscard]] int backend_pid() const noexcept { return m_conn ? PQbackendPID(m_conn) : 0; }
    [[nodiscard]] PgStatistics statistics() const noexcept;
    [[nodiscard]] const PgOptions& options() const noexcept { return m_options; }
    /// Closes now: operations in flight fail with db::ConnectionError. Never throws.
    void close() noexcept;
    [[nodiscard]] PGconn* native() const noexcept { return m_conn; }

    // Internal types, defined in connection.cpp.
    struct Request;
    struct RequestWait;
    struct ListWait;
    struct ReaderLink;

private:
    friend class PgCopyIn;
    friend class PgCopyOut;

    PgConnection(PGconn* conn, int fd, PgOptions options, std::string where);

    static Task<std::unique_ptr<PgConnection>> open(PgConfig config, PgOptions options, std::string where);
    static Task<void> reader_loop(std::shared_ptr<ReaderLink> link);
    static void on_notice(void* self, const PGresult* notice) noexcept;

    Task<PgResult> run(std::string_view sql, const Params* params, bool cache);
    bool can_send() const noexcept;
    bool wants_input() const noexcept;
    void send(Request& r, std::string_view sql, const Params* params, bool cache);
    Task<void> flush();
    Task<void> abandon(Request& r);
    /// Sends a cancel request for what the server runs now (PQcancel on the thread pool): false when libpq
    /// could make none.
    Task<bool> send_cancel();
    Task<void> wait_done(Request& r);
    PgResult take(Request& r, std::string_view sql);
    void wake_admit() noexcept;
    void wake_idle() noexcept;

    void ensure_reader();
    void on_readable() noexcept;
    /// TLS: OpenSSL holds decrypted bytes libpq has not read yet.
    [[nodiscard]] bool tls_pending() const noexcept;
    void dispatch() noexcept;
    void deliver(PGresult* res) noexcept;
    void complete_head() noexcept;
    void note_listen(PGresult* res) noexcept;
    void fail(std::string reason, std::string sqlstate = {}) noexcept;
    [[noreturn]] void throw_broken() const;
    void check_usable() const;

    Task<void> acquire_exclusive();
    void release_exclusive() noexcept;
    Task<PGresult*> next_result();
    Task<void> wait_input();
    Task<PGresult*> start_exclusive(std::string_view sql, bool simple);
    Task<PgResult> finish_exclusive(PGresult* first, std::string_view sql);
    /// In a handler of an exception during exclusive use: leaves it and rethrows (a cancelled COPY or script
    /// leaves the session in an unknown state: broken).
    [[noreturn]] void abandon_exclusive();
    void statement_failed(const Request& r, std::string_view sqlstate) noexcept;
    void statement_prepared(const Request& r) noexcept;

    struct Statement {
        std::string key;  // the SQL, a NUL, then the parameter types' bytes
        std::string name;
        std::uint64_t id;
        bool ready;  // its Parse was answered (a statement pipelined behind it may then use it)
    };

    PGconn* m_conn = nullptr;
    int m_fd = -1;  // our dup() of PQsocket: what the loop polls
    PgOptions m_options;
    std::string m_where;  // "127.0.0.1:5432", "/run/postgresql:5432": for messages

    Request* m_head = nullptr;  // the FIFO of requests in flight
    Request* m_tail = nullptr;
    std::size_t m_in_flight = 0;
    int m_holds = 0;           // > 0: nothing new may be sent (a cancellation or an exclusive user waits)
    bool m_exclusive = false;  // a COPY or a script owns the session (libpq is out of pipeline mode)
    int m_abandoning = 0;      // abandon()s running: no COPY or script may start
    bool m_broken = false;
    std::string m_broken_reason;
    std::string m_broken_sqlstate;
    std::string m_last_notice;  // an idle session's FATAL arrives as a notice: it explains a break

    detail::WaiterList m_admit;  // tasks waiting to send
    detail::WaiterList m_idle;   // exclusive users waiting for the session to be idle
    detail::WaiterList m_note;   // next_notification()
    detail::WaiterList m_input;  // an exclusive user (COPY, script) waiting for input
    std::deque<Notification> m_notes;
    bool m_may_listen = false;  // see may_listen()

    std::shared_ptr<ReaderLink> m_link;  // shared with the reader task (which outlives us if it must)
    bool m_reader = false;               // a reader task runs

    std::list<Statement> m_lru;  // most recently used first
    std::unordered_map<std::string_view, std::list<Statement>::iterator> m_cache;  // keys: views of Statement::key
    std::vector<std::string> m_deallocate;  // statement names to DEALLOCATE with the next query
    std::uint64_t m_next_statement = 1;
    std::string m_key;  // scratch: the cache key being looked up
    std::string m_sql;  // scratch: a NUL-terminated copy of SQL for libpq

    PgStatistics m_stats;

    // Pipelining over TCP: the first statement of a loop turn goes out at once; when a second one follows in
    // the same turn the socket is corked (TCP_CORK), and uncorked when the turn's batch of resumptions ends,
    // so that the statements tasks sent during the turn leave in one segment (libpq 15 writes each Sync with
    // its own send(): uncorked, each is a loopback transmission that wakes the server).
    struct Corker final : detail::TurnEndHook {
        PgConnection* conn = nullptr;
        void turn_end() noexcept override;
    };
    void note_send() noexcept;
    Corker m_corker;
    bool m_tcp = false;           // the socket is TCP (corking applies)
    bool m_sent_in_turn = false;  // a statement went out in this turn (the corker is registered)
    bool m_corked = false;
};

}  // namespace corio::db::pg
