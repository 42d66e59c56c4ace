// The SQLite driver: one dedicated thread per connection. The loop hands each statement to the
// connection's thread as a job embedded in the awaiting frame; the thread runs it, copies the rows out, and
// posts the job back to the loop through the loop's inbox (as the thread pool does). The loop never waits
// for SQLite, only for a mutex held for a few instructions.
//
// Cancellation: a job still queued is unlinked and the awaiter raises CancelledError at once; a running
// job is interrupted (sqlite3_interrupt, issued under the worker's mutex only while that very job is the
// running one, so it can never hit the next job), the busy handler gives up, and the awaiter waits for the
// thread to hand the job back before it returns: the thread never writes into a dead frame.
// Transaction-control jobs (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) are neither unlinked nor interrupted.

#include "../driver.hpp"
#include "core/loop.hpp"
#include "errors.hpp"
#include "result.hpp"
#include "text.hpp"

#include <corio/db/error.hpp>
#include <corio/detail/promise.hpp>
#include <corio/detail/remote.hpp>
#include <corio/strict.hpp>
#include <corio/time.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace corio::db::sqlite {

namespace {

using db::detail::Param;
using steady = std::chrono::steady_clock;
constexpr std::chrono::microseconds k_spin{50};  // a worker's wait for its next job before it sleeps

struct Worker;

/// A unit of work for a connection's thread. Lives in the awaiting coroutine's frame.
struct Job : corio::detail::RemoteItem {
    Job* m_qnext = nullptr;  // the worker's FIFO (guarded by Worker::mutex)
    Job* m_qprev = nullptr;
    bool m_queued = false;
    corio::detail::RemoteQueue* m_home = nullptr;
    /// Runs on the worker thread; must not throw.
    virtual void run(Worker& w) noexcept = 0;

protected:
    ~Job() = default;
};

/// Prepared statements of one connection, least recently used evicted (worker thread only).
class StatementCache {
public:
    explicit StatementCache(std::size_t capacity) : m_capacity(capacity) {}
    ~StatementCache() { clear(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
    sqlite3_stmt* get(const std::string& sql) {
        auto it = m_index.find(sql);
        if (it == m_index.end()) return nullptr;
        m_lru.splice(m_lru.begin(), m_lru, it->second);
        return it->second->stmt;
    }
    void put(std::string sql, sqlite3_stmt* stmt) {
        m_lru.push_front({std::move(sql), stmt});
        m_index.emplace(m_lru.front().sql, m_lru.begin());
        while (m_lru.size() > m_capacity) {
            m_index.erase(m_lru.back().sql);
            sqlite3_finalize(m_lru.back().stmt);
            m_lru.pop_back();
        }
    }
    void clear() noexcept {
        for (auto& e : m_lru) sqlite3_finalize(e.stmt);
        m_lru.clear();
        m_index.clear();
    }

private:
    struct Entry {
        std::string sql;
        sqlite3_stmt* stmt;
    };
    std::size_t m_capacity;
    std::list<Entry> m_lru;  // most recently used first
    std::unordered_map<std::string_view, std::list<Entry>::iterator> m_index;
};

/// State shared by a connection's loop side and its thread. `mutex` guards the queue, `running`,
/// `interrupt`, `stop` and `db` (as seen by the loop side); the rest belongs to the thread.
struct Worker {
    Worker(SqliteConfig c, const PoolOptions& o)
        : config(std::move(c)), cache(o.statement_cache_size),
          busy_timeout(config.busy_timeout.value_or(o.busy_timeout)) {}

    std::mutex mutex;
    std::condition_variable cv;
    Job* head = nullptr;
    Job* tail = nullptr;
    Job* running = nullptr;
    bool interrupt = false;  // the running job was cancelled: the busy handler stops waiting
    bool stop = false;
    bool sleeping = false;   // the thread waits on cv (else it is busy or spinning: no wake-up needed)
    sqlite3* db = nullptr;
    std::atomic<std::size_t> queued{0};  // jobs in the FIFO, readable without the mutex (the spin)

    // Thread only.
    SqliteConfig config;
    sqlite3* conn = nullptr;
    StatementCache cache;
    std::chrono::milliseconds busy_timeout;
    steady::time_point busy_since{};

    void push(Job* j) noexcept {
        j->m_qnext = nullptr;
        j->m_qprev = tail;
        if (tail) tail->m_qnext = j;
        else head = j;
        tail = j;
        j->m_queued = true;
        queued.fetch_add(1, std::memory_order_release);
    }
    void unlink(Job* j) noexcept {
        if (j->m_qprev) j->m_qprev->m_qnext = j->m_qnext;
        else head = j->m_qnext;
        if (j->m_qnext) j->m_qnext->m_qprev = j->m_qprev;
        else tail = j->m_qprev;
        j->m_qnext = j->m_qprev = nullptr;
        j->m_queued = false;
        queued.fetch_sub(1, std::memory_order_release);
    }

    void close_db() noexcept {
        cache.clear();
        {
            std::lock_guard lock(mutex);
            db = nullptr;
        }
        if (conn) sqlite3_close_v2(conn);
        conn = nullptr;
    }

    void main() noexcept {
        std::unique_lock lock(mutex);
        for (;;) {
            if (!head && !stop) {
                // A stream of short statements (point queries) arrives faster than a futex wake-up: wait for
                // the next one a little without sleeping, as the thread pool's workers do.
                lock.unlock();
                spin_for_work();
                lock.lock();
                sleeping = true;
                cv.wait(lock, [&] { return head || stop; });
                sleeping = false;
            }
            if (!head) break;  // stopping, and nothing left
            Job* j = head;
            unlink(j);
            running = j;
            interrupt = false;
            lock.unlock();
            j->run(*this);
            lock.lock();
            running = nullptr;
            interrupt = false;
            // Hand back last: from here the job may be freed by its loop at any moment.
            corio::detail::remote_push(j->m_home, j);
        }
        lock.unlock();
        close_db();
    }

    void spin_for_work() noexcept {
        auto until = steady::now() + k_spin;
        for (int i = 0; queued.load(std::memory_order_acquire) == 0; ++i) {
            corio::detail::cpu_relax();
            if ((i & 63) == 63 && steady::now() >= until) break;
        }
    }
};

/// SQLite's busy handler, on the worker thread: back off as sqlite's default handler does, up to
/// busy_timeout, but give up at once when the running job is cancelled.
int on_busy(void* arg, int count) {
    static constexpr int k_delays_ms[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    auto* w = static_cast<Worker*>(arg);
    auto now = steady::now();
    if (count == 0) w->busy_since = now;
    auto waited = now - w->busy_since;
    if (waited >= w->busy_timeout) return 0;
    auto delay = std::chrono::milliseconds(count < 12 ? k_delays_ms[count] : 100);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(w->busy_timeout - waited) +
                std::chrono::milliseconds(1);
    std::unique_lock lock(w->mutex);
    if (w->interrupt) return 0;
    w->cv.wait_for(lock, std::min(delay, left), [&] { return w->interrupt; });
    return w->interrupt ? 0 : 1;
}

/// A job as an awaiter: enqueued by await_suspend, resumed when the thread hands it back.
class Call : public Job, public corio::detail::CancelHook {
public:
    Call(Worker* w, bool interruptible) noexcept : m_worker(w), m_interruptible(interruptible) {}
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    bool await_ready() const noexcept { return false; }
    template <corio::detail::CorioPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start(h.promise().m_node, h);
    }
    void await_resume() const {
        if (m_removed) corio::detail::throw_cancelled();
    }
    /// The awaiting task was cancelled while this job ran (and it was interrupted).
    [[nodiscard]] bool cancel_requested() const noexcept { return m_cancel_requested; }

    void cancel() noexcept override {
        corio::allow_blocking internal;  // the worker's mutex is held for a few instructions only
        std::unique_lock lock(m_worker->mutex);
        if (!m_interruptible) return;  // runs to its end; the cancellation is raised at the next await
        if (m_queued) {
            m_worker->unlink(this);
            lock.unlock();
            m_removed = true;
            --corio::detail::t_loop->m_offloaded;
            corio::detail::t_loop->schedule(m_node);
            return;
        }
        if (m_worker->running == this) {
            m_cancel_requested = true;
            m_worker->interrupt = true;
            if (m_worker->db) sqlite3_interrupt(m_worker->db);
            lock.unlock();
            m_worker->cv.notify_all();  // out of the busy handler's wait
        }
        // else: finished, on its way back to the loop.
    }

protected:
    ~Call() = default;
    Worker* m_worker;

private:
    bool start(corio::detail::TaskNode* node, std::coroutine_handle<> h) {
        m_node = node;
        if (node->cancelled() && m_interruptible) {
            m_removed = true;
            return false;
        }
        m_home = corio::detail::current_remote();
        m_run = [](corio::detail::RemoteItem* item) {  // back on the loop thread
            auto* self = static_cast<Call*>(static_cast<Job*>(item));
            --corio::detail::t_loop->m_offloaded;
            corio::detail::t_loop->wake(self->m_node);
        };
        node->m_resume = h;
        bool wake;
        {
            corio::allow_blocking internal;
            std::lock_guard lock(m_worker->mutex);
            m_worker->push(this);
            wake = m_worker->sleeping;
        }
        if (wake) m_worker->cv.notify_one();
        ++corio::detail::t_loop->m_offloaded;
        node->m_wait = this;
        return true;
    }

    corio::detail::TaskNode* m_node = nullptr;
    bool m_interruptible;
    bool m_removed = false;
    bool m_cancel_requested = false;
};

// ---- the jobs ------------------------------------------------------------------------------------------

/// Opens the database on the worker thread.
struct OpenCall final : Call {
    using Call::Call;
    std::string error;  // empty: opened

    void run(Worker& w) noexcept override {
        try {
            open(w);
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (!error.empty()) w.close_db();
    }

private:
    void open(Worker& w) {
        const SqliteConfig& c = w.config;
        int flags = SQLITE_OPEN_NOMUTEX;
        if (c.memory) flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY;
        else if (c.mode == SqliteMode::read_only) flags |= SQLITE_OPEN_READONLY;
        else if (c.mode == SqliteMode::read_write) flags |= SQLITE_OPEN_READWRITE;
        else flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        // A relative name starting with "file:" would be taken for an SQLite URI where URIs are on by default.
        std::string name = c.memory ? ":memory:" : c.path.rfind("file:", 0) == 0 ? "./" + c.path : c.path;
        int rc = sqlite3_open_v2(name.c_str(), &w.conn, flags, nullptr);
        if (rc != SQLITE_OK) {
            error = w.conn ? sqlite3_errmsg(w.conn) : sqlite3_errstr(rc);
            return;
        }
        sqlite3_extended_result_codes(w.conn, 1);
        sqlite3_busy_handler(w.conn, &on_busy, &w);
        // WAL with synchronous=NORMAL: a commit is durable once the WAL is synced at a checkpoint; a crash of
        // the program loses nothing, a power failure may lose the last commits (SQLite's recommended setting).
        std::string setup = "PRAGMA foreign_keys = ON;";
        if (!c.memory && c.mode != SqliteMode::read_only) setup += "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
        setup += "SELECT count(*) FROM sqlite_schema;";  // fails on a file that is not a database
        char* msg = nullptr;
        rc = sqlite3_exec(w.conn, setup.c_str(), nullptr, nullptr, &msg);
        if (rc != SQLITE_OK) {
            error = msg ? msg : sqlite3_errstr(rc);
            sqlite3_free(msg);
            return;
        }
        std::lock_guard lock(w.mutex);
        w.db = w.conn;
    }
};

/// A statement: prepared (or taken from the cache), bound, stepped to the end, its rows copied out.
struct ExecCall final : Call {
    ExecCall(Worker* w, bool interruptible, std::string s, std::vector<Param> p) noexcept
        : Call(w, interruptible), sql(std::move(s)), params(std::move(p)) {}

    std::string sql;
    std::vector<Param> params;
    // Results, written by the thread, read on the loop once the job is back.
    std::shared_ptr<Result> result;
    std::uint64_t affected = 0;
    int rc = SQLITE_OK;        // extended result code of a failure
    std::string state;         // a failure corio detects itself: its SQLSTATE (rc stays OK)
    std::string message;
    int offset = -1;
    bool in_transaction = false;
    std::exception_ptr error;  // an exception while binding (TypeError) or copying (bad_alloc)

    void run(Worker& w) noexcept override {
        try {
            exec(w);
        } catch (...) {
            error = std::current_exception();
        }
        in_transaction = w.conn && !sqlite3_get_autocommit(w.conn);
    }

private:
    void fail(sqlite3* db, int code) {
        rc = sqlite3_extended_errcode(db);
        if (rc == SQLITE_OK) rc = code;
        message = sqlite3_errmsg(db);
        offset = sqlite3_error_offset(db);
    }
    void fail_state(const char* sqlstate, std::string why) {
        state = sqlstate;
        message = std::move(why);
    }

    static bool blank(const char* p, const char* end) noexcept {
        for (; p < end; ++p) {
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';') return false;
        }
        return true;
    }

    /// True when what follows the first statement holds no other statement (a trailing comment).
    bool only_comments(sqlite3* db, const char* tail) {
        const char* end = sql.data() + sql.size();
        sqlite3_stmt* next = nullptr;
        const char* after = nullptr;
        int prc = sqlite3_prepare_v3(db, tail, static_cast<int>(end - tail), 0, &next, &after);
        if (next) sqlite3_finalize(next);
        return prc == SQLITE_OK && !next && blank(after, end);
    }

    /// Binds params to the statement's $N / ?N / ? parameters. False after a failure.
    bool bind(sqlite3* db, sqlite3_stmt* st) {
        int n = sqlite3_bind_parameter_count(st);
        std::size_t required = 0;
        for (int i = 1; i <= n; ++i) {
            const char* name = sqlite3_bind_parameter_name(st, i);
            std::size_t number = static_cast<std::size_t>(i);
            if (name) {
                std::string_view s(name);
                bool numbered = s.size() > 1 && (s[0] == '$' || s[0] == '?') &&
                                s.find_first_not_of("0123456789", 1) == std::string_view::npos && s.size() < 8;
                if (!numbered) {
                    fail_state("42601", "the named parameter " + std::string(s) + " is not supported: use $1, $2…");
                    return false;
                }
                number = static_cast<std::size_t>(std::stoul(std::string(s.substr(1))));
            }
            if (number == 0 || number > params.size()) {
                fail_state("42P02", "there is no parameter $" + std::to_string(number) + " (" +
                                        std::to_string(params.size()) + " given)");
                return false;
            }
            required = std::max(required, number);
            int brc = bind_one(st, i, params[number - 1]);
            if (brc != SQLITE_OK) {
                fail(db, brc);
                return false;
            }
        }
        if (params.size() > required) {
            fail_state("08P01", "bind message supplies " + std::to_string(params.size()) +
                                    " parameters, but the statement requires " + std::to_string(required));
            return false;
        }
        return true;
    }

    static int bind_one(sqlite3_stmt* st, int i, const Param& p) {
        switch (p.type) {
        case Type::null: return sqlite3_bind_null(st, i);
        case Type::boolean: return sqlite3_bind_int64(st, i, p.b ? 1 : 0);
        case Type::int16:
        case Type::int32:
        case Type::int64: return sqlite3_bind_int64(st, i, p.i);
        case Type::float32:
        case Type::float64:
            if (std::isnan(p.f)) return sqlite3_bind_text(st, i, "NaN", 3, SQLITE_STATIC);
            return sqlite3_bind_double(st, i, p.f);
        case Type::numeric:
        case Type::text:
        case Type::json: return sqlite3_bind_text64(st, i, p.text.data(), p.text.size(), SQLITE_STATIC, SQLITE_UTF8);
        case Type::bytes:
            if (p.text.empty()) return sqlite3_bind_zeroblob(st, i, 0);
            return sqlite3_bind_blob64(st, i, p.text.data(), p.text.size(), SQLITE_STATIC);
        case Type::array: {
            std::string json = array_json(p);
            return sqlite3_bind_text64(st, i, json.data(), json.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        }
        default: {
            std::string text = scalar_text(p);
            return sqlite3_bind_text64(st, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        }
        }
    }

    /// Steps `st` to its end, its rows into a new Result. False after a failure.
    bool step_all(sqlite3* db, sqlite3_stmt* st, std::int64_t changes_before) {
        auto r = std::make_shared<Result>();
        r->describe(st);
        for (;;) {
            int s = sqlite3_step(st);
            if (s == SQLITE_ROW) {
                r->add_row(st);
                continue;
            }
            if (s == SQLITE_DONE) break;
            fail(db, s);
            return false;
        }
        if (sqlite3_column_count(st) > 0 && sqlite3_stmt_readonly(st)) affected = r->row_count();
        else if (sqlite3_total_changes64(db) != changes_before) affected = static_cast<std::uint64_t>(sqlite3_changes64(db));
        else affected = 0;
        result = std::move(r);
        return true;
    }

    void exec(Worker& w) {
        sqlite3* db = w.conn;
        if (!db) {
            fail_state("08003", "the SQLite connection is closed");
            return;
        }
        std::int64_t before = sqlite3_total_changes64(db);
        bool caching = w.cache.capacity() > 0;
        sqlite3_stmt* st = caching ? w.cache.get(sql) : nullptr;
        bool cached = st != nullptr;
        if (!st) {
            const char* tail = nullptr;
            int prc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                         caching ? SQLITE_PREPARE_PERSISTENT : 0, &st, &tail);
            if (prc != SQLITE_OK) return fail(db, prc);
            if (!blank(tail, sql.data() + sql.size()) && !only_comments(db, tail)) return exec_script(db, st, tail);
            if (!st) {  // only whitespace or comments
                result = std::make_shared<Result>();
                return;
            }
        }
        struct Done {  // the statement goes back to the cache (or is finalized), unbound
            Worker& w;
            sqlite3_stmt* st;
            bool cached;
            std::string* sql;
            ~Done() {
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
                if (cached) return;
                if (w.cache.capacity() > 0) w.cache.put(*sql, st);
                else sqlite3_finalize(st);
            }
        } done{w, st, cached, &sql};
        if (!bind(db, st)) return;
        step_all(db, st, before);
    }

    /// Several statements separated by ';' (no parameters): run in turn, the last one's rows and row count kept
    /// (as PostgreSQL reports a script: its last command's).
    void exec_script(sqlite3* db, sqlite3_stmt* first, const char* tail) {
        if (!params.empty()) {
            sqlite3_finalize(first);
            return fail_state("42601", "cannot insert multiple commands into a prepared statement");
        }
        const char* end = sql.data() + sql.size();
        sqlite3_stmt* st = first;
        for (;;) {
            if (st) {
                std::int64_t before = sqlite3_total_changes64(db);
                bool ok = step_all(db, st, before);
                sqlite3_finalize(st);
                if (!ok) return;
            }
            if (blank(tail, end)) break;
            const char* from = tail;
            int prc = sqlite3_prepare_v3(db, tail, static_cast<int>(end - tail), 0, &st, &tail);
            if (prc != SQLITE_OK) return fail(db, prc);
            if (!st && tail == from) break;  // nothing consumed: never loop on the same text
        }
        if (!result) result = std::make_shared<Result>();
    }
};

/// A round trip to the thread: the database is still open.
struct PingCall final : Call {
    using Call::Call;
    bool open = false;
    void run(Worker& w) noexcept override { open = w.conn != nullptr; }
};

/// Closes the database on its thread.
struct CloseCall final : Call {
    using Call::Call;
    void run(Worker& w) noexcept override { w.close_db(); }
};

// ---- the connection ------------------------------------------------------------------------------------

class SqliteConnection final : public driver::Connection {
public:
    SqliteConnection(SqliteConfig config, const PoolOptions& options)
        : m_label(config.memory ? std::string(":memory:") : config.path),
          m_read_only(config.mode == SqliteMode::read_only), m_statement_timeout(options.statement_timeout),
          m_worker(std::make_shared<Worker>(std::move(config), options)) {
        m_thread = std::thread([w = m_worker] { w->main(); });
    }

    /// Never blocks: the thread finishes what is queued, closes the database and exits by itself.
    ~SqliteConnection() override {
        {
            corio::allow_blocking internal;
            std::lock_guard lock(m_worker->mutex);
            m_worker->stop = true;
        }
        m_worker->cv.notify_all();
        m_thread.detach();
    }

    Task<void> open() {
        OpenCall call(m_worker.get(), false);
        co_await call;
        if (!call.error.empty()) {
            m_broken = true;
            throw ConnectionError("cannot open the SQLite database \"" + m_label + "\": " + call.error);
        }
    }

    Task<driver::Result> exec(std::string sql, std::vector<Param> params) override {
        if (m_statement_timeout.count() <= 0) co_return co_await run(std::move(sql), std::move(params), true);
        try {
            co_return co_await corio::timeout(m_statement_timeout, run(sql, std::move(params), true));
        } catch (const corio::TimeoutError&) {
            DatabaseErrorInfo info;
            info.sqlstate = "57014";
            info.severity = "ERROR";
            info.message = "canceling statement due to statement timeout (" +
                           std::to_string(m_statement_timeout.count()) + " ms)";
            info.query = std::move(sql);
            throw_database_error(std::move(info));
        }
    }

    Task<void> control(std::string sql) override {
        if (m_aborted) {
            // SQLite rolled the transaction back already: ROLLBACK ends the aborted state, anything else fails.
            bool rollback = sql == "ROLLBACK";
            bool commit = sql == "COMMIT";
            if (rollback || commit) m_aborted = false;
            if (rollback) co_return;
            throw_aborted(std::move(sql), commit ? "40000" : "25P02");
        }
        (void)co_await run(std::move(sql), {}, false);
    }

    Task<void> ping() override {
        if (m_broken) throw ConnectionError("the SQLite connection to \"" + m_label + "\" is broken");
        PingCall call(m_worker.get(), true);
        co_await call;
        if (!call.open) {
            m_broken = true;
            throw ConnectionError("the SQLite connection to \"" + m_label + "\" is closed");
        }
    }

    Task<void> close() override {
        if (m_closed) co_return;
        m_closed = m_broken = true;
        CloseCall call(m_worker.get(), false);
        co_await call;
    }

    bool is_broken() const noexcept override { return m_broken; }
    bool in_transaction() const noexcept override { return m_in_transaction || m_aborted; }
    std::string_view begin_sql() const noexcept override { return m_read_only ? "BEGIN" : "BEGIN IMMEDIATE"; }

private:
    Task<driver::Result> run(std::string sql, std::vector<Param> params, bool interruptible) {
        if (m_broken) {
            throw ConnectionError("the SQLite connection to \"" + m_label + "\" is " +
                                  (m_closed ? "closed" : "broken"));
        }
        if (m_aborted) {
            if (!is_rollback(sql)) throw_aborted(std::move(sql), "25P02");
            m_aborted = false;  // a ROLLBACK run as SQL: nothing is left to roll back
            co_return driver::Result{std::make_shared<Result>(), 0};
        }
        ExecCall call(m_worker.get(), interruptible, std::move(sql), std::move(params));
        co_await call;
        bool failed = call.error || !call.state.empty() || call.rc != SQLITE_OK;
        // A failure that ended the transaction (an interrupted write, SQLITE_FULL, IOERR, NOMEM...): SQLite
        // rolled it all back. The statements that follow must not run in autocommit mode as if still inside.
        if (failed && m_in_transaction && !call.in_transaction) m_aborted = true;
        m_in_transaction = call.in_transaction;
        if (call.error) std::rethrow_exception(call.error);
        if (!call.state.empty()) {
            DatabaseErrorInfo info;
            info.sqlstate = call.state;
            info.severity = "ERROR";
            info.message = std::move(call.message);
            info.query = std::move(call.sql);
            throw_database_error(std::move(info));
        }
        if (call.rc != SQLITE_OK) {
            int primary = call.rc & 0xff;
            if (call.cancel_requested() && (primary == SQLITE_INTERRUPT || primary == SQLITE_BUSY)) {
                corio::detail::throw_cancelled();
            }
            if (breaks_connection(call.rc)) m_broken = true;
            throw_database_error(error_info(call.rc, std::move(call.message), call.offset, call.sql));
        }
        co_return driver::Result{std::move(call.result), call.affected};
    }

    static bool is_rollback(std::string_view sql) noexcept {
        while (!sql.empty() && (sql.back() == ';' || sql.back() == ' ' || sql.back() == '\n' || sql.back() == '\t'))
            sql.remove_suffix(1);
        while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n' || sql.front() == '\t')) sql.remove_prefix(1);
        auto lower = [](std::string_view s) {
            std::string out(s);
            for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            return out;
        };
        std::string l = lower(sql);
        return l == "rollback" || l == "rollback transaction";
    }

    [[noreturn]] static void throw_aborted(std::string sql, const char* sqlstate) {
        DatabaseErrorInfo info;
        info.sqlstate = sqlstate;
        info.severity = "ERROR";
        info.message = std::string(sqlstate[0] == '4' ? "the transaction was rolled back: " : "") +
                       "current transaction is aborted (SQLite rolled it back when a statement in it failed), "
                       "commands ignored until end of transaction block";
        info.query = std::move(sql);
        throw_database_error(std::move(info));
    }

    std::string m_label;
    bool m_read_only;
    bool m_aborted = false;  // SQLite ended the transaction on a failure: only a ROLLBACK is accepted
    std::chrono::milliseconds m_statement_timeout;
    std::shared_ptr<Worker> m_worker;
    std::thread m_thread;
    bool m_broken = false;
    bool m_closed = false;
    bool m_in_transaction = false;
};

}  // namespace

}  // namespace corio::db::sqlite

namespace corio::db::driver {

Task<std::unique_ptr<Connection>> connect_sqlite(SqliteConfig config, PoolOptions options) {
    auto conn = std::make_unique<sqlite::SqliteConnection>(std::move(config), options);
    co_await conn->open();
    co_return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace corio::db::driver
