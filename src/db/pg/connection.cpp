// PgConnection: libpq in non-blocking pipeline mode on the corio loop.
//
// Invariants:
//   * Requests in m_head..m_tail are exactly the Syncs libpq still expects answers for, in order. A Request
//     lives in its exec() frame; exec() never returns while its Request is linked (a cancelled exec waits,
//     shielded, until its answer has been read).
//   * Every result PQgetResult returns before a PGRES_PIPELINE_SYNC belongs to m_head. A NULL ends one
//     query's results (Request::step counts them); the last non-error result is the statement's.
//   * Only dispatch() (after PQconsumeInput in the reader, or after a libpq call that may read) pulls
//     results, so nothing sits unread in libpq's buffer while a waiter sleeps.
//   * m_holds > 0 or m_exclusive: nothing new is sent. A cancel request is only sent for a Request that is
//     alone in flight, and nothing is sent until it is answered and the cancel request delivered (no COPY or
//     script starts while m_abandoning > 0): a cancel must not hit another query.
#include "db/pg/connection.hpp"

#include <corio/db/error.hpp>
#include <corio/io.hpp>
#include <corio/net/address.hpp>
#include <corio/net/dns.hpp>
#include <corio/offload/thread_pool.hpp>
#include <corio/spawn.hpp>
#include <corio/strict.hpp>
#include <corio/time.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace corio::db::pg {

namespace {

constexpr std::size_t k_copy_flush_every = 256 * 1024;  // COPY IN: bytes queued in libpq before waiting for the socket
constexpr std::uint32_t k_copy_rows_per_turn = 512;        // COPY OUT: rows returned without suspending

std::string trimmed(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    std::string out;
    out.reserve(s.size());
    bool space = false;
    for (char c : s) {  // libpq's messages span lines: one line in ours
        if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out.push_back(' ');
        space = false;
        out.push_back(c);
    }
    return out;
}

/// The row count of a command tag ("INSERT 0 5", "COPY 3"); 0 when it has none.
std::uint64_t command_rows(PGresult* r) noexcept {
    const char* t = PQcmdTuples(r);
    std::uint64_t v = 0;
    std::from_chars(t, t + std::strlen(t), v);
    return v;
}

std::string error_field(const PGresult* r, int code) {
    const char* v = PQresultErrorField(r, code);
    return v ? v : "";
}

DatabaseErrorInfo error_info(const PGresult* r, std::string_view sql) {
    DatabaseErrorInfo i;
    i.sqlstate = error_field(r, PG_DIAG_SQLSTATE);
    i.severity = error_field(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (i.severity.empty()) i.severity = error_field(r, PG_DIAG_SEVERITY);
    i.message = error_field(r, PG_DIAG_MESSAGE_PRIMARY);
    if (i.message.empty()) i.message = trimmed(PQresultErrorMessage(r));  // libpq's own errors have no fields
    i.detail = error_field(r, PG_DIAG_MESSAGE_DETAIL);
    i.hint = error_field(r, PG_DIAG_MESSAGE_HINT);
    i.constraint = error_field(r, PG_DIAG_CONSTRAINT_NAME);
    i.table = error_field(r, PG_DIAG_TABLE_NAME);
    i.column = error_field(r, PG_DIAG_COLUMN_NAME);
    i.schema = error_field(r, PG_DIAG_SCHEMA_NAME);
    i.position = std::atoi(error_field(r, PG_DIAG_STATEMENT_POSITION).c_str());
    i.query = std::string(sql);
    return i;
}

bool fatal(const DatabaseErrorInfo& i) { return i.severity == "FATAL" || i.severity == "PANIC"; }

std::string with_sqlstate(std::string message, std::string_view sqlstate) {
    if (!sqlstate.empty()) message += " (SQLSTATE " + std::string(sqlstate) + ")";
    return message;
}

/// libpq's connection-failure text in verbose mode: 'connection to server at "h" (a), port p failed: FATAL:
/// 28P01: password authentication failed for user "u"\nLOCATION: ...' -> the text without LOCATION lines and
/// without the code, and the code.
std::pair<std::string, std::string> connect_failure(std::string_view text) {
    std::string kept;
    while (!text.empty()) {
        auto eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        std::string_view bare = line;
        while (!bare.empty() && (bare.front() == ' ' || bare.front() == '\t')) bare.remove_prefix(1);
        if (bare.starts_with("LOCATION:")) continue;
        kept += line;
        kept += '\n';
    }
    std::string code;
    for (const char* severity : {"FATAL:  ", "ERROR:  "}) {
        auto at = kept.find(severity);
        if (at == std::string::npos) continue;
        std::size_t c = at + std::strlen(severity);
        if (kept.size() >= c + 7 && kept[c + 5] == ':' && kept[c + 6] == ' ' &&
            std::all_of(kept.begin() + static_cast<std::ptrdiff_t>(c), kept.begin() + static_cast<std::ptrdiff_t>(c + 5),
                        [](char x) { return std::isdigit(static_cast<unsigned char>(x)) || std::isupper(static_cast<unsigned char>(x)); })) {
            code = kept.substr(c, 5);
            kept.erase(c, 7);
        }
        break;
    }
    return {trimmed(kept), code};
}

[[noreturn]] void throw_connect_error(PGconn* conn, const std::string& where) {
    auto [message, code] = connect_failure(conn ? PQerrorMessage(conn) : "out of memory");
    throw ConnectionError(with_sqlstate("PostgreSQL " + where + ": cannot connect: " + message, code));
}

std::string quote_ident(std::string_view name) {
    std::string q = "\"";
    for (char c : name) {
        if (c == '"') q += '"';
        q += c;
    }
    return q + '"';
}

struct FreeCancel {
    void operator()(PGcancel* c) const noexcept { PQfreeCancel(c); }
};
/// A cancel request's connection data (PQgetCancel), freed with PQfreeCancel.
using CancelHandle = std::unique_ptr<PGcancel, FreeCancel>;

/// Our dup() of libpq's socket, replaced whenever libpq moves to another socket (a next address, an SSL
/// retry): compared by identity (device and inode), since the new socket may reuse the old number.
class SocketDup {
public:
    SocketDup() = default;
    SocketDup(const SocketDup&) = delete;
    SocketDup& operator=(const SocketDup&) = delete;
    ~SocketDup() { reset(); }

    void track(int sock) {
        struct stat st {};
        if (::fstat(sock, &st) != 0) throw corio::IoError("fstat", sock, errno);
        if (m_fd >= 0 && sock == m_of && st.st_dev == m_dev && st.st_ino == m_ino) return;
        reset();
        m_fd = ::fcntl(sock, F_DUPFD_CLOEXEC, 0);
        if (m_fd < 0) throw corio::IoError("dup", sock, errno);
        m_of = sock;
        m_dev = st.st_dev;
        m_ino = st.st_ino;
    }
    void reset() noexcept {
        if (m_fd >= 0) corio::close(m_fd);
        m_fd = -1;
    }
    [[nodiscard]] int get() const noexcept { return m_fd; }
    int release() noexcept { return std::exchange(m_fd, -1); }

private:
    int m_fd = -1;
    int m_of = -1;
    dev_t m_dev = 0;
    ino_t m_ino = 0;
};

}  // namespace

// ---- internal types ------------------------------------------------------------------------------------------

/// One exec() in flight: the Syncs it awaits and what came back. Lives in the exec() frame.
struct PgConnection::Request {
    PgConnection* conn;
    Request* next = nullptr;
    detail::TaskNode* waiter = nullptr;  // the task parked on it
    PGresult* result = nullptr;          // the statement's (last non-error) result
    PGresult* error = nullptr;           // the first error
    int syncs = 1;                       // Syncs still expected (2 when evicted statements are deallocated first)
    int step = 0;                        // queries of the last segment whose results ended
    int error_step = -1;
    int prepare_step = -1;               // the step that prepared its statement (-1: none)
    std::uint64_t statement = 0;         // the cached statement's id (0: the unnamed statement)
    bool linked = false;
    bool done = false;
    bool lost = false;       // the session failed before the answer
    bool want_head = false;  // the waiter wants to know when it reaches the head

    explicit Request(PgConnection* c) noexcept : conn(c) {}
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    ~Request() {
        if (linked) conn->fail("internal error: a query left the connection while in flight");
        if (result) PQclear(result);
        if (error) PQclear(error);
    }
};

/// Waits until a Request is answered (or reaches the head of the FIFO).
struct PgConnection::RequestWait final : detail::CancelHook {
    Request* m_r;
    bool m_until_head;
    detail::TaskNode* m_node = nullptr;
    bool m_interrupted = false;

    RequestWait(Request* r, bool until_head) noexcept : m_r(r), m_until_head(until_head) {}
    bool ready() const noexcept { return m_r->done || (m_until_head && m_r->conn->m_head == m_r); }
    bool await_ready() const noexcept { return ready(); }
    template <detail::CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        m_node = h.promise().m_node;
        if (m_node->cancelled()) {
            m_interrupted = true;
            return false;
        }
        m_node->m_resume = h;
        m_node->m_wait = this;
        m_r->waiter = m_node;
        m_r->want_head = m_until_head;
        return true;
    }
    void await_resume() const {
        if (m_interrupted) detail::throw_cancelled();
    }
    void cancel() noexcept override {
        m_r->waiter = nullptr;
        m_interrupted = true;
        detail::t_loop->wake(m_node);
    }
};

/// A task parked in one of the connection's lists until woken (or cancelled).
struct PgConnection::ListWait final : detail::Waiter {
    detail::WaiterList* m_list;
    bool m_woken = false;

    explicit ListWait(detail::WaiterList* list) noexcept : m_list(list) {}
    bool await_ready() const noexcept { return false; }
    template <detail::CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        detail::TaskNode* n = h.promise().m_node;
        if (n->cancelled()) return false;
        detail::park(*m_list, this, n, h);
        return true;
    }
    void await_resume() const {
        if (!m_woken) detail::throw_cancelled();
    }
    void cancel() noexcept override {
        m_list->remove(this);
        detail::t_loop->wake(m_node);
    }

    static void wake_one(detail::WaiterList& list) noexcept {
        auto* w = static_cast<ListWait*>(list.pop_front());
        w->m_woken = true;
        detail::t_loop->wake(w->m_node);
    }
    static void wake_all(detail::WaiterList& list) noexcept {
        while (!list.empty()) wake_one(list);
    }
};

/// What the reader task shares with its connection; `conn` is nulled when the connection goes first.
struct PgConnection::ReaderLink {
    PgConnection* conn = nullptr;
    detail::IoOp* op = nullptr;  // the reader's poll, while it waits in it
};

// ---- PgResult -----------------------------------------------------------------------------------------------

std::string_view PgResult::column_name(int col) const noexcept {
    const char* n = m_res ? PQfname(m_res, col) : nullptr;
    return n ? n : "";
}

int PgResult::column_index(std::string_view name) const noexcept {
    for (int c = 0, n = columns(); c < n; ++c)
        if (column_name(c) == name) return c;
    return -1;
}

std::uint64_t PgResult::affected() const noexcept { return m_res ? command_rows(m_res) : 0; }

// ---- connecting -------------------------------------------------------------------------------------------------

PgConnection::PgConnection(PGconn* conn, int fd, PgOptions options, std::string where)
    : m_conn(conn), m_fd(fd), m_options(options), m_where(std::move(where)), m_link(std::make_shared<ReaderLink>()) {
    m_link->conn = this;
    PQsetNoticeReceiver(m_conn, &PgConnection::on_notice, this);
    m_corker.conn = this;
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    m_tcp = ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
            (a.ss_family == AF_INET || a.ss_family == AF_INET6);
}

PgConnection::~PgConnection() {
    if (detail::t_loop) detail::t_loop->cancel_turn_end(&m_corker);
    close();
}

void PgConnection::note_send() noexcept {
    if (!m_options.pipeline || !m_tcp || !detail::t_loop) return;
    if (!m_sent_in_turn) {
        m_sent_in_turn = true;
        detail::t_loop->at_turn_end(&m_corker);
    } else if (!m_corked) {
        int on = 1;
        m_corked = ::setsockopt(m_fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0;
        if (m_corked) ++m_stats.corked;
    }
}

void PgConnection::Corker::turn_end() noexcept {
    PgConnection* c = conn;
    c->m_sent_in_turn = false;
    if (!c->m_corked) return;
    c->m_corked = false;
    int off = 0;
    if (c->m_fd >= 0) ::setsockopt(c->m_fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);  // pushes what is queued
}

void PgConnection::on_notice(void* self, const PGresult* notice) noexcept {
    // An idle session's FATAL (a server shutting down) arrives as a notice: keep it to explain the break.
    std::string severity = error_field(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity != "FATAL" && severity != "PANIC") return;
    auto* c = static_cast<PgConnection*>(self);
    try {
        c->m_last_notice = with_sqlstate(error_field(notice, PG_DIAG_MESSAGE_PRIMARY), error_field(notice, PG_DIAG_SQLSTATE));
        c->m_broken_sqlstate = error_field(notice, PG_DIAG_SQLSTATE);
    } catch (...) {
    }
}

Task<std::unique_ptr<PgConnection>> PgConnection::connect(PgConfig config, PgOptions options) {
    if (config.host.empty()) {
        if (const char* env = std::getenv("PGHOST")) config.host = env;  // resolved here, not by libpq
    }
    std::string port = std::to_string(config.port ? config.port : 5432);
    std::string where = config.host.empty() ? "(default socket), port " + port
                        : config.unix_socket() ? config.host + ", port " + port
                                               : config.host + ":" + port;
    std::chrono::milliseconds limit = options.connect_timeout;
    if (config.connect_timeout) limit = std::chrono::duration_cast<std::chrono::milliseconds>(*config.connect_timeout);
    if (limit.count() <= 0) co_return co_await open(std::move(config), options, where);
    bool timed_out = false;
    std::unique_ptr<PgConnection> c;
    try {
        c = co_await corio::timeout(limit, open(std::move(config), options, where));
    } catch (const TimeoutError&) {
        timed_out = true;
    }
    if (timed_out)
        throw ConnectionError("PostgreSQL " + where + ": cannot connect: timed out after " +
                              std::to_string(limit.count()) + " ms");
    co_return c;
}

Task<std::unique_ptr<PgConnection>> PgConnection::open(PgConfig config, PgOptions options, std::string where) {
    std::vector<std::string> keys, values;
    auto set = [&](const char* key, std::string value) {
        keys.emplace_back(key);
        values.push_back(std::move(value));
    };
    std::string port = std::to_string(config.port ? config.port : 5432);
    if (config.host.empty() || config.unix_socket() || config.host.front() == '@') {
        if (!config.host.empty()) set("host", config.host);
        set("port", port);
    } else if (std::optional<net::SocketAddress> ip = net::SocketAddress::try_ip(config.host)) {
        set("host", ip->ip());
        set("hostaddr", ip->ip());
        set("port", port);
    } else {
        // libpq's own lookup would block the loop: resolve here and give libpq every address (it tries each
        // in turn), the name kept as `host` for TLS verification and messages.
        std::vector<net::SocketAddress> addrs = co_await net::resolve(config.host, config.port ? config.port : 5432);
        std::string hosts, hostaddrs, ports;
        for (const net::SocketAddress& a : addrs) {
            if (!hostaddrs.empty()) {
                hosts += ',';
                hostaddrs += ',';
                ports += ',';
            }
            hosts += config.host;
            hostaddrs += a.ip();
            ports += port;
        }
        set("host", hosts);
        set("hostaddr", hostaddrs);
        set("port", ports);
    }
    if (!config.user.empty()) set("user", config.user);
    if (!config.password.empty()) set("password", config.password);
    if (!config.database.empty()) set("dbname", config.database);
    set("sslmode", std::string(db::to_string(config.sslmode)));
    if (!config.application_name.empty()) set("application_name", config.application_name);
    set("client_encoding", "UTF8");
    for (const auto& [k, v] : config.extra) {
        if (k == "host" || k == "hostaddr" || k == "port" || k == "connect_timeout") continue;
        keys.push_back(k);
        values.push_back(v);
    }
    std::vector<const char*> k, v;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        k.push_back(keys[i].c_str());
        v.push_back(values[i].c_str());
    }
    k.push_back(nullptr);
    v.push_back(nullptr);

    PGconn* raw;
    {
        // libpq reads ~/.pgpass and the service file (small local files) and parses the numeric hostaddr.
        allow_blocking local_files;
        raw = PQconnectStartParams(k.data(), v.data(), 0);
    }
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(raw, &PQfinish);
    if (!raw) throw std::bad_alloc();
    PQsetNoticeReceiver(raw, [](void*, const PGresult*) {}, nullptr);
    if (PQstatus(raw) == CONNECTION_BAD) throw_connect_error(raw, where);
    PQsetErrorVerbosity(raw, PQERRORS_VERBOSE);  // the failure text then carries the SQLSTATE

    SocketDup fd;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;  // as libpq says to start
    for (;;) {
        if (st == PGRES_POLLING_FAILED) throw_connect_error(raw, where);
        int sock = PQsocket(raw);
        if (sock < 0) throw_connect_error(raw, where);
        fd.track(sock);  // re-read after every step: libpq may have moved to another socket
        if (st == PGRES_POLLING_OK) break;
        co_await ::corio::detail::RawPoll(fd.get(), st == PGRES_POLLING_READING ? POLLIN : POLLOUT);
        allow_blocking tls_files;  // an SSL handshake may read certificate files
        st = PQconnectPoll(raw);
    }
    if (PQsetnonblocking(raw, 1) != 0 || PQenterPipelineMode(raw) != 1) throw_connect_error(raw, where);
    PQsetErrorVerbosity(raw, PQERRORS_DEFAULT);
    co_return std::unique_ptr<PgConnection>(new PgConnection(conn.release(), fd.release(), options, std::move(where)));
}

// ---- state ------------------------------------------------------------------------------------------------------

bool PgConnection::can_send() const noexcept {
    return m_conn && !m_broken && m_holds == 0 && !m_exclusive && (m_options.pipeline || m_in_flight == 0);
}

bool PgConnection::wants_input() const noexcept { return m_head || !m_note.empty() || !m_input.empty(); }

void PgConnection::check_usable() const {
    if (m_broken || !m_conn) throw_broken();
}

void PgConnection::throw_broken() const {
    throw ConnectionError("PostgreSQL " + m_where + ": " +
                          (m_broken_reason.empty() ? std::string("the connection is closed") : m_broken_reason));
}

void PgConnection::wake_admit() noexcept {
    if (!m_admit.empty() && (can_send() || m_broken)) {
        if (m_broken) ListWait::wake_all(m_admit);
        else ListWait::wake_one(m_admit);  // it sends, then wakes the next (pipeline mode)
    }
}

void PgConnection::wake_idle() noexcept {
    if ((m_in_flight == 0 && !m_exclusive && m_abandoning == 0) || m_broken) ListWait::wake_all(m_idle);
}

PGTransactionStatusType PgConnection::transaction_status() const noexcept {
    return m_conn ? PQtransactionStatus(m_conn) : PQTRANS_UNKNOWN;
}

PgStatistics PgConnection::statistics() const noexcept {
    PgStatistics s = m_stats;
    s.cached = m_lru.size();
    s.in_flight = m_in_flight;
    return s;
}

void PgConnection::fail(std::string reason, std::string sqlstate) noexcept {
    if (m_broken) return;
    m_broken = true;
    try {
        if (sqlstate.empty() && m_head && m_head->error) {  // the server said why (57P01: terminated)
            DatabaseErrorInfo i = error_info(m_head->error, {});
            if (fatal(i)) {
                reason = "connection lost: " + with_sqlstate(i.message, i.sqlstate);
                sqlstate = i.sqlstate;
            }
        }
        if (sqlstate.empty() && !m_last_notice.empty()) {
            reason += " (the server said: " + m_last_notice + ")";
            sqlstate = m_broken_sqlstate;
        }
        m_broken_reason = std::move(reason);
        m_broken_sqlstate = sqlstate.empty() ? "08006" : sqlstate;
    } catch (...) {
    }
    while (Request* r = m_head) {
        m_head = r->next;
        r->next = nullptr;
        r->linked = false;
        r->done = true;
        if (!r->error) r->lost = true;
        if (r->waiter) detail::t_loop->wake(std::exchange(r->waiter, nullptr));
    }
    m_tail = nullptr;
    m_in_flight = 0;
    ListWait::wake_all(m_admit);
    ListWait::wake_all(m_idle);
    ListWait::wake_all(m_note);
    ListWait::wake_all(m_input);
    if (m_link->op && m_link->op->m_state == detail::IoOp::pending) detail::io_cancel(m_link->op);
}

void PgConnection::close() noexcept {
    if (!m_conn) return;
    fail("the connection was closed");
    m_link->conn = nullptr;  // a reader still running ends without touching us
    if (m_link->op && m_link->op->m_state == detail::IoOp::pending) detail::io_cancel(m_link->op);
    if (m_fd >= 0) corio::close(m_fd);  // cancels what still polls it
    m_fd = -1;
    PQfinish(m_conn);  // sends Terminate without blocking (libpq makes the socket non-blocking for it)
    m_conn = nullptr;
}

bool PgConnection::check_alive() {
    if (m_broken || !m_conn) return false;
    if (m_exclusive) return true;
    if (!PQconsumeInput(m_conn)) {
        fail("connection lost: " + trimmed(PQerrorMessage(m_conn)));
        return false;
    }
    dispatch();
    return !m_broken;
}

// ---- the reader -----------------------------------------------------------------------------------------------

void PgConnection::ensure_reader() {
    if (m_reader || m_broken || !m_conn) return;
    corio::spawn(reader_loop(m_link)).detach();
    m_reader = true;
}

Task<void> PgConnection::reader_loop(std::shared_ptr<ReaderLink> link) {
    for (;;) {
        PgConnection* c = link->conn;
        if (!c) co_return;
        if (c->m_broken || !c->wants_input()) {  // nobody waits for input: end (a new query starts another)
            c->m_reader = false;
            co_return;
        }
        ::corio::detail::RawPoll ready(c->m_fd, POLLIN);
        link->op = &ready.m_io.m_op;
        int res = 0;
        bool stopped = false, refused = false;
        try {
            res = co_await ready;
        } catch (const CancelledError&) {  // run() is ending
            stopped = true;
        } catch (...) {  // the backend refused the descriptor
            refused = true;
        }
        link->op = nullptr;
        c = link->conn;
        if (!c) co_return;  // the connection was closed meanwhile
        if (stopped) {
            c->m_reader = false;
            co_return;
        }
        if (refused) {
            c->fail("connection lost: the socket cannot be polled");
            continue;
        }
        if (res == -ECANCELED) continue;  // woken to look at the state again
        if (res < 0) {
            c->fail("connection lost: polling the socket failed: " + std::string(std::strerror(-res)));
            continue;
        }
        c->on_readable();
    }
}

void PgConnection::on_readable() noexcept {
    // Over TLS, libpq reads one record at most per call, into the room its buffer has (8 KiB or more). A record
    // larger than that room (PostgreSQL's hold 8 KiB at most; other servers' and proxies' up to 16 KiB) leaves
    // its rest decrypted inside OpenSSL, where polling the socket never sees it: the answer's end would wait
    // there forever. So read on while OpenSSL holds such bytes (each call takes 8 KiB or more of them).
    for (int reads = 0;; ++reads) {
        if (!PQconsumeInput(m_conn)) {
            fail("connection lost: " + trimmed(PQerrorMessage(m_conn)));
            return;
        }
        if (reads == 8 || !tls_pending()) break;
    }
    dispatch();
}

bool PgConnection::tls_pending() const noexcept {
    if (!m_conn || !PQsslInUse(m_conn)) return false;
    auto* ssl = static_cast<SSL*>(PQsslStruct(m_conn, "OpenSSL"));
    return ssl && SSL_pending(ssl) > 0;
}

void PgConnection::dispatch() noexcept {
    if (!m_conn || m_broken) return;
    if (m_exclusive) {
        ListWait::wake_all(m_input);  // a COPY or a script reads its own results
    } else {
        int ends = 0;  // NULLs in a row: two mean libpq and the FIFO disagree
        while (m_head && !m_broken) {
            if (PQstatus(m_conn) == CONNECTION_BAD || PQisBusy(m_conn)) break;
            PGresult* r = PQgetResult(m_conn);
            if (!r) {
                if (++ends > 1) {
                    fail("internal error: lost track of the pipeline");
                    return;
                }
                ++m_head->step;
                continue;
            }
            ends = 0;
            deliver(r);
        }
    }
    while (PGnotify* n = PQnotifies(m_conn)) {
        try {
            m_may_listen = true;
            m_notes.push_back(Notification{n->relname, n->extra ? n->extra : "", n->be_pid});
            ++m_stats.notifications;
        } catch (...) {
        }
        PQfreemem(n);
    }
    for (std::size_t i = 0; i < m_notes.size() && !m_note.empty(); ++i) ListWait::wake_one(m_note);
    if (PQstatus(m_conn) == CONNECTION_BAD) fail("connection lost: " + trimmed(PQerrorMessage(m_conn)));
    else if (!m_last_notice.empty()) fail("connection lost: the server ended the session");  // a FATAL while idle
}

void PgConnection::deliver(PGresult* res) noexcept {
    Request* r = m_head;
    switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(res);
            if (--r->syncs > 0) {  // the end of the deallocations before the statement: their outcome is moot
                r->step = 0;
                if (r->error) PQclear(std::exchange(r->error, nullptr));
                r->error_step = -1;
                return;
            }
            complete_head();
            return;
        case PGRES_FATAL_ERROR:
            if (!r->error) {
                r->error = res;
                r->error_step = r->step;
            } else {
                PQclear(res);
            }
            return;
        case PGRES_PIPELINE_ABORTED: PQclear(res); return;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            PQclear(res);
            fail("COPY cannot run through exec(): use copy_in()/copy_out()");
            return;
        default:
            if (r->syncs > 1) {
                PQclear(res);
                return;
            }
            if (r->result) PQclear(r->result);
            r->result = res;  // the statement's own result comes last (after DEALLOCATE and Parse)
            note_listen(res);
            return;
    }
}

void PgConnection::note_listen(PGresult* res) noexcept {
    // A LISTEN run as SQL rather than by listen(): the pool must still UNLISTEN before someone else uses the
    // session. (A comparison of the command tag per result: cheaper than asking the server at every release.)
    if (std::strcmp(PQcmdStatus(res), "LISTEN") == 0) m_may_listen = true;
}

void PgConnection::complete_head() noexcept {
    Request* r = m_head;
    m_head = r->next;
    if (!m_head) m_tail = nullptr;
    r->next = nullptr;
    r->linked = false;
    r->done = true;
    --m_in_flight;
    if (r->error) statement_failed(*r, error_field(r->error, PG_DIAG_SQLSTATE));
    if (r->prepare_step >= 0) statement_prepared(*r);
    if (r->waiter) detail::t_loop->wake(std::exchange(r->waiter, nullptr));
    if (Request* h = m_head; h && h->want_head && h->waiter) detail::t_loop->wake(std::exchange(h->waiter, nullptr));
    if (m_in_flight == 0) wake_idle();
    wake_admit();
}

void PgConnection::statement_prepared(const Request& r) noexcept {
    for (Statement& st : m_lru) {  // still cached unless statement_failed removed it (or it was evicted)
        if (st.id == r.statement) {
            st.ready = true;
            return;
        }
    }
}

void PgConnection::statement_failed(const Request& r, std::string_view sqlstate) noexcept {
    if (!r.statement) return;
    bool unprepared = r.prepare_step >= 0 && r.error_step <= r.prepare_step;  // its Parse failed or never ran
    bool missing = sqlstate == "26000";  // invalid_sql_statement_name: gone (DISCARD ALL, another backend)
    bool stale = sqlstate == "0A000";    // "cached plan must not change result type"
    if (!unprepared && !missing && !stale) return;
    for (auto it = m_lru.begin(); it != m_lru.end(); ++it) {
        if (it->id != r.statement) continue;
        try {
            if (stale) m_deallocate.push_back(it->name);
        } catch (...) {
        }
        m_cache.erase(std::string_view(it->key));
        m_lru.erase(it);
        return;
    }
}

// ---- exec -----------------------------------------------------------------------------------------------------

void PgConnection::send(Request& r, std::string_view sql, const Params* params, bool cache) {
    const int n = params ? params->size() : 0;
    const Oid* types = n ? params->types() : nullptr;
    const char* const* values = n ? params->values() : nullptr;
    const int* lengths = n ? params->lengths() : nullptr;
    const int* formats = n ? params->formats() : nullptr;

    const Statement* st = nullptr;
    bool prepare = false;
    if (cache && m_options.statement_cache_size > 0) {
        m_key.assign(sql);
        m_key.push_back('\0');
        m_key.append(reinterpret_cast<const char*>(types), static_cast<std::size_t>(n) * sizeof(Oid));
        if (auto it = m_cache.find(std::string_view(m_key)); it != m_cache.end()) {
            m_lru.splice(m_lru.begin(), m_lru, it->second);
            // Its Parse still in flight may fail: then this statement must fail (or not) on its own, so it
            // goes through the unnamed statement until the Parse is answered.
            if (it->second->ready) {
                st = &*it->second;
                ++m_stats.cache_hits;
            }
        } else {
            while (m_lru.size() >= m_options.statement_cache_size) {
                Statement& old = m_lru.back();
                m_deallocate.push_back(old.name);
                m_cache.erase(std::string_view(old.key));
                m_lru.pop_back();
                ++m_stats.evicted;
            }
            std::uint64_t id = m_next_statement++;
            m_lru.push_front(Statement{m_key, "corio_" + std::to_string(id), id, false});
            try {
                m_cache.emplace(std::string_view(m_lru.front().key), m_lru.begin());
            } catch (...) {
                m_lru.pop_front();
                throw;
            }
            st = &m_lru.front();
            prepare = true;
            ++m_stats.prepared;
        }
        if (st) r.statement = st->id;
    }

    note_send();
    bool ok = true;
    if (!m_deallocate.empty()) {  // in a segment of their own: a statement already gone must not fail ours
        for (const std::string& name : m_deallocate) {
            m_sql = "DEALLOCATE " + name;
            ok = ok && PQsendQueryParams(m_conn, m_sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1);
        }
        m_deallocate.clear();
        ok = ok && PQpipelineSync(m_conn);
        r.syncs = 2;
    }
    if (!st) {
        m_sql.assign(sql);  // libpq wants a C string
        ok = ok && PQsendQueryParams(m_conn, m_sql.c_str(), n, types, values, lengths, formats, 1);
    } else {
        if (prepare) {
            r.prepare_step = 0;
            ok = ok && PQsendPrepare(m_conn, st->name.c_str(), st->key.c_str(), n, types);
        }
        ok = ok && PQsendQueryPrepared(m_conn, st->name.c_str(), n, values, lengths, formats, 1);
    }
    ok = ok && PQpipelineSync(m_conn);
    if (!ok) {
        fail("cannot send a query: " + trimmed(PQerrorMessage(m_conn)));
        throw_broken();
    }
    r.linked = true;
    if (m_tail) m_tail->next = &r;
    else m_head = &r;
    m_tail = &r;
    ++m_in_flight;
    m_stats.max_in_flight = std::max(m_stats.max_in_flight, m_in_flight);
    ++m_stats.queries;
    dispatch();  // sending may have read input (libpq reads when the socket is full)
}

Task<void> PgConnection::flush() {
    for (;;) {
        check_usable();
        int rc = PQflush(m_conn);
        if (rc < 0) {
            fail("connection lost: " + trimmed(PQerrorMessage(m_conn)));
            throw_broken();
        }
        dispatch();
        if (rc == 0) co_return;
        co_await ::corio::detail::RawPoll(m_fd, POLLOUT);
    }
}

Task<PgResult> PgConnection::exec(std::string_view sql, const Params& params) { return run(sql, &params, true); }
Task<PgResult> PgConnection::exec(std::string_view sql) { return run(sql, nullptr, true); }
Task<PgResult> PgConnection::exec_once(std::string_view sql, const Params& params) { return run(sql, &params, false); }
Task<PgResult> PgConnection::exec_once(std::string_view sql) { return run(sql, nullptr, false); }

Task<PgResult> PgConnection::run(std::string_view sql, const Params* params, bool cache) {
    check_usable();
    if (!can_send() || !m_admit.empty()) {
        for (;;) {  // woken first in line: send if the state still allows it
            ListWait w(&m_admit);
            co_await w;
            check_usable();
            if (can_send()) break;
        }
    }
    Request r(this);
    send(r, sql, params, cache);
    wake_admit();
    bool cancelled = false;
    try {
        ensure_reader();  // before flushing: a server blocked on sending results must be read from
        co_await flush();
        while (!r.done) co_await RequestWait(&r, false);
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {
        if (r.linked) co_await corio::shield(abandon(r));
        if (!(r.done && !r.error && !r.lost && r.result)) detail::throw_cancelled();
        // It finished first: its result stands (the cancellation is raised at the caller's next await).
    }
    co_return take(r, sql);
}

PgResult PgConnection::take(Request& r, std::string_view sql) {
    if (r.error) {
        DatabaseErrorInfo info = error_info(r.error, sql);
        if (fatal(info) || r.lost || m_broken)
            throw ConnectionError("PostgreSQL " + m_where + ": " + with_sqlstate("connection lost: " + info.message, info.sqlstate));
        throw_database_error(std::move(info));
    }
    if (r.lost) throw_broken();
    if (!r.result) throw ConnectionError("PostgreSQL " + m_where + ": internal error: a query got no result");
    return PgResult(std::exchange(r.result, nullptr));
}

Task<void> PgConnection::wait_done(Request& r) {
    while (!r.done) co_await RequestWait(&r, false);
}

Task<void> PgConnection::abandon(Request& r) {
    ++m_holds;  // nothing new goes out until this query is over
    ++m_abandoning;  // nor does a COPY or script start (its cancel request may still be on its way)
    struct Release {
        PgConnection* c;
        ~Release() {
            --c->m_holds;
            --c->m_abandoning;
            c->wake_idle();
            c->wake_admit();
        }
    } release{this};
    try {
        co_await flush();  // its messages may still sit in libpq's buffer
    } catch (const Error&) {
    }
    ensure_reader();
    while (!r.done && m_head != &r) co_await RequestWait(&r, true);  // the queries before it run to their end
    // A cancel request hits whatever the backend runs when it lands: sent only while this query is alone in
    // flight (m_holds keeps the others from going out).
    auto alone = [&] { return !r.done && m_head == &r && !r.next && m_conn && !m_broken; };
    bool cancel_sent = false;
    if (alone()) cancel_sent = co_await send_cancel();
    if (r.done) co_return;
    ensure_reader();
    if (!cancel_sent || m_options.cancel_timeout.count() <= 0) {  // not interruptible: it runs to its end
        co_await wait_done(r);
        co_return;
    }
    // The server drops a cancel request that reaches the backend before it begins the query (while it still
    // reads the query's messages: in a pipeline, right after the query before it ended): asked again each
    // second, until the query ends or cancel_timeout has passed since the first request.
    constexpr auto k_again = std::chrono::seconds(1);
    const auto deadline = std::chrono::steady_clock::now() + m_options.cancel_timeout;
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());  // no request at the deadline
        if (left.count() <= 0) break;
        bool ended = true;
        try {
            co_await corio::timeout(std::min<std::chrono::milliseconds>(left, k_again), wait_done(r));
        } catch (const TimeoutError&) {
            ended = false;
        }
        if (ended || r.done) co_return;
        if (std::chrono::steady_clock::now() >= deadline) break;
        if (alone()) (void)co_await send_cancel();
        if (r.done) co_return;
    }
    fail("a cancelled query did not end within " + std::to_string(m_options.cancel_timeout.count()) + " ms");
}

Task<bool> PgConnection::send_cancel() {
    // Owned by the job: freed whether it runs or not (to_thread may fail before it starts: no thread, no
    // memory; the raw pointer leaked then).
    CancelHandle pc{PQgetCancel(m_conn)};
    if (!pc) co_return false;
    ++m_stats.cancels_sent;
    auto job = [pc = std::move(pc)]() mutable {
        char err[256];
        PQcancel(pc.get(), err, sizeof err);  // blocks: connects to the postmaster and waits for it
        pc.reset();
    };
    try {
        co_await corio::to_thread(std::move(job));
    } catch (...) {  // no thread: the query then runs to its end, or to cancel_timeout
    }
    co_return true;
}

// ---- exclusive use: scripts and COPY ---------------------------------------------------------------------------

Task<void> PgConnection::acquire_exclusive() {
    check_usable();
    ++m_holds;  // nothing new is sent meanwhile
    try {
        while (m_in_flight > 0 || m_exclusive || m_abandoning > 0) {
            ListWait w(&m_idle);
            co_await w;
            check_usable();
        }
    } catch (...) {
        --m_holds;
        wake_admit();
        throw;
    }
    m_exclusive = true;
    if (PQexitPipelineMode(m_conn) != 1) {
        fail("cannot leave pipeline mode: " + trimmed(PQerrorMessage(m_conn)));
        release_exclusive();
        throw_broken();
    }
}

void PgConnection::release_exclusive() noexcept {
    if (!m_exclusive) return;
    if (m_conn && !m_broken && PQenterPipelineMode(m_conn) != 1)
        fail("cannot enter pipeline mode: " + trimmed(PQerrorMessage(m_conn)));
    m_exclusive = false;
    --m_holds;
    wake_idle();
    wake_admit();
}

Task<void> PgConnection::wait_input() {
    ensure_reader();  // it runs after we park
    ListWait w(&m_input);
    co_await w;
}

Task<PGresult*> PgConnection::next_result() {
    for (;;) {
        check_usable();
        if (PQstatus(m_conn) == CONNECTION_BAD) {
            fail("connection lost: " + trimmed(PQerrorMessage(m_conn)));
            throw_broken();
        }
        if (!PQisBusy(m_conn)) co_return PQgetResult(m_conn);
        co_await wait_input();
    }
}

void PgConnection::abandon_exclusive() {
    try {
        throw;
    } catch (const CancelledError&) {
        fail("a COPY or script was cancelled");
        release_exclusive();
        throw;
    } catch (...) {
        release_exclusive();
        throw;
    }
}

Task<PGresult*> PgConnection::start_exclusive(std::string_view sql, bool simple) {
    co_await acquire_exclusive();
    PGresult* first = nullptr;
    try {
        m_sql.assign(sql);
        int ok = simple ? PQsendQuery(m_conn, m_sql.c_str())
                        : PQsendQueryParams(m_conn, m_sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
        if (!ok) {
            fail("cannot send a query: " + trimmed(PQerrorMessage(m_conn)));
            throw_broken();
        }
        ++m_stats.queries;
        co_await flush();
        first = co_await next_result();
    } catch (...) {
        abandon_exclusive();
    }
    co_return first;
}

/// Reads the rest of an exclusive command's results (ending any COPY the script starts), leaves exclusive
/// use, and returns the last result or raises the first error.
Task<PgResult> PgConnection::finish_exclusive(PGresult* first, std::string_view sql) {
    PgResult last, error;
    try {
        PGresult* r = first;
        while (r) {
            switch (PQresultStatus(r)) {
                case PGRES_FATAL_ERROR:
                    if (!error) error = PgResult(r);
                    else PQclear(r);
                    break;
                case PGRES_COPY_IN:
                    PQclear(r);
                    PQputCopyEnd(m_conn, "COPY FROM STDIN is not supported here: use copy_in()");
                    co_await flush();
                    break;
                case PGRES_COPY_OUT: {
                    PQclear(r);
                    for (;;) {
                        char* buf = nullptr;
                        int n = PQgetCopyData(m_conn, &buf, 1);
                        if (buf) PQfreemem(buf);
                        if (n == -1) break;
                        if (n == -2) {
                            fail("connection lost during COPY: " + trimmed(PQerrorMessage(m_conn)));
                            throw_broken();
                        }
                        if (n == 0) co_await wait_input();
                    }
                    break;
                }
                default:
                    note_listen(r);
                    last = PgResult(r);
                    break;
            }
            r = co_await next_result();
        }
    } catch (...) {
        abandon_exclusive();
    }
    release_exclusive();
    if (error) {
        DatabaseErrorInfo info = error_info(error.native(), sql);
        if (fatal(info) || m_broken)
            throw ConnectionError("PostgreSQL " + m_where + ": " + with_sqlstate("connection lost: " + info.message, info.sqlstate));
        throw_database_error(std::move(info));
    }
    co_return last;
}

Task<PgResult> PgConnection::exec_script(std::string_view sql) {
    PGresult* first = co_await start_exclusive(sql, true);
    co_return co_await finish_exclusive(first, sql);
}

Task<PgCopyIn> PgConnection::copy_in(std::string_view sql) {
    PGresult* first = co_await start_exclusive(sql, false);
    if (first && PQresultStatus(first) == PGRES_COPY_IN) {
        PQclear(first);
        co_return PgCopyIn(this);
    }
    PgResult r = co_await finish_exclusive(first, sql);
    throw Error("pg: copy_in: not a COPY ... FROM STDIN statement: " + std::string(sql));
}

Task<PgCopyOut> PgConnection::copy_out(std::string_view sql) {
    PGresult* first = co_await start_exclusive(sql, false);
    if (first && PQresultStatus(first) == PGRES_COPY_OUT) {
        PQclear(first);
        co_return PgCopyOut(this);
    }
    PgResult r = co_await finish_exclusive(first, sql);
    throw Error("pg: copy_out: not a COPY ... TO STDOUT statement: " + std::string(sql));
}

// ---- LISTEN/NOTIFY ------------------------------------------------------------------------------------------------

Task<void> PgConnection::listen(std::string_view channel) {
    std::string sql = "LISTEN " + quote_ident(channel);
    PgResult r = co_await exec_once(sql);
}

Task<void> PgConnection::unlisten(std::string_view channel) {
    std::string sql = "UNLISTEN " + quote_ident(channel);
    PgResult r = co_await exec_once(sql);
}

std::optional<Notification> PgConnection::try_next_notification() {
    if (m_notes.empty()) return std::nullopt;
    Notification n = std::move(m_notes.front());
    m_notes.pop_front();
    return n;
}

Task<Notification> PgConnection::next_notification() {
    for (;;) {
        if (std::optional<Notification> n = try_next_notification()) co_return std::move(*n);
        check_usable();
        ensure_reader();  // it runs after we park
        ListWait w(&m_note);
        co_await w;
    }
}

// ---- COPY ----------------------------------------------------------------------------------------------------------

PgCopyIn::PgCopyIn(PgCopyIn&& o) noexcept : m_conn(std::exchange(o.m_conn, nullptr)), m_unflushed(o.m_unflushed) {}

PgCopyIn::~PgCopyIn() {
    if (!m_conn) return;
    m_conn->fail("a COPY FROM STDIN was abandoned unfinished");
    m_conn->release_exclusive();
}

Task<void> PgCopyIn::write(std::string_view data) {
    if (!m_conn) throw Error("pg: write() on a finished COPY");
    PgConnection* c = m_conn;
    try {
        while (!data.empty()) {
            c->check_usable();
            int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 1u << 30));
            int rc = PQputCopyData(c->m_conn, data.data(), chunk);
            if (rc < 0) {
                c->fail("connection lost during COPY: " + trimmed(PQerrorMessage(c->m_conn)));
                c->throw_broken();
            }
            if (rc == 0) {  // libpq's buffer is full: wait until the socket takes some
                co_await ::corio::detail::RawPoll(c->m_fd, POLLOUT);
                co_await c->flush();
                continue;
            }
            data.remove_prefix(static_cast<std::size_t>(chunk));
            m_unflushed += static_cast<std::size_t>(chunk);
        }
        if (m_unflushed >= k_copy_flush_every) {  // keep libpq's buffer bounded: wait for the socket now and then
            m_unflushed = 0;
            co_await c->flush();
        }
    } catch (const CancelledError&) {
        c->fail("a COPY FROM STDIN was cancelled");
        throw;
    }
}

Task<void> PgCopyIn::end(const char* error, std::uint64_t* rows) {
    if (!m_conn) throw Error("pg: COPY already finished");
    PgConnection* c = m_conn;
    PGresult* first = nullptr;
    try {
        for (;;) {
            c->check_usable();
            int rc = PQputCopyEnd(c->m_conn, error);
            if (rc < 0) {
                c->fail("connection lost during COPY: " + trimmed(PQerrorMessage(c->m_conn)));
                c->throw_broken();
            }
            if (rc == 1) break;
            co_await ::corio::detail::RawPoll(c->m_fd, POLLOUT);
        }
        co_await c->flush();
        first = co_await c->next_result();
    } catch (const CancelledError&) {
        c->fail("a COPY FROM STDIN was cancelled");
        throw;
    }
    m_conn = nullptr;  // finish_exclusive releases the session
    if (rows && first && PQresultStatus(first) == PGRES_COMMAND_OK) *rows = command_rows(first);
    PgResult last = co_await c->finish_exclusive(first, "COPY");
}

Task<std::uint64_t> PgCopyIn::finish() {
    std::uint64_t rows = 0;
    co_await end(nullptr, &rows);
    co_return rows;
}

Task<void> PgCopyIn::abort(std::string_view reason) {
    std::string why(reason.empty() ? "aborted by the client" : reason);
    try {
        co_await end(why.c_str(), nullptr);
    } catch (const QueryCanceled&) {  // 57014 "COPY from stdin failed: <reason>": what was asked for
    }
}

PgCopyOut::PgCopyOut(PgCopyOut&& o) noexcept
    : m_conn(std::exchange(o.m_conn, nullptr)), m_row(std::exchange(o.m_row, nullptr)), m_rows(o.m_rows) {}

PgCopyOut::~PgCopyOut() {
    free_row();
    if (!m_conn) return;
    m_conn->fail("a COPY TO STDOUT was abandoned unfinished");
    m_conn->release_exclusive();
}

void PgCopyOut::free_row() noexcept {
    if (m_row) PQfreemem(m_row);
    m_row = nullptr;
}

Task<std::optional<std::string_view>> PgCopyOut::next() {
    free_row();
    if (!m_conn) co_return std::nullopt;
    PgConnection* c = m_conn;
    PGresult* end = nullptr;
    try {
        for (;;) {
            c->check_usable();
            char* buf = nullptr;
            int n = PQgetCopyData(c->m_conn, &buf, 1);
            if (n > 0) {
                m_row = buf;
                ++m_rows;
                if (++m_streak >= k_copy_rows_per_turn) {  // a long COPY lets the loop's other tasks run
                    m_streak = 0;
                    co_await corio::yield();
                }
                co_return std::string_view(buf, static_cast<std::size_t>(n));
            }
            if (n == 0) {
                m_streak = 0;
                co_await c->wait_input();
                continue;
            }
            if (n == -2) {
                c->fail("connection lost during COPY: " + trimmed(PQerrorMessage(c->m_conn)));
                c->throw_broken();
            }
            end = co_await c->next_result();  // -1: the COPY is over; its result follows
            break;
        }
    } catch (const CancelledError&) {
        free_row();
        c->fail("a COPY TO STDOUT was cancelled");
        throw;
    }
    m_conn = nullptr;
    if (end && PQresultStatus(end) == PGRES_COMMAND_OK) m_rows = command_rows(end);
    PgResult last = co_await c->finish_exclusive(end, "COPY");
    co_return std::nullopt;
}

}  // namespace corio::db::pg
