// db::Pool, db::Connection, db::Transaction over the driver interface, and db::connect.
//
// Invariants: `open` counts every slot alive or being opened (idle + in use + being cleaned up);
// open <= options.max_size. A waiter is handed a connection directly by release(), or granted a place to
// open one by destroy()/a failed open, so a freed place never skips the queue.
//
// Pipelining (PoolOptions::pipeline): the pool's own statements lease connections shared. A shared slot is in
// `sharing` with Slot::shared statements on it (1..pipeline_depth); the driver pipelines them. A statement
// joins the least busy shared slot when nothing is idle, no place is free to open one and nobody queues;
// otherwise it takes a whole connection like acquire() (a waiter marked `shared`). When a shared statement
// ends, its place goes to the shared waiters at the head of the queue (never past an exclusive waiter, who
// would otherwise starve); the last one out gives the connection back (release()).

#include "pool_state.hpp"

#include <corio/db/error.hpp>
#include <corio/spawn.hpp>
#include <corio/time.hpp>

#include <algorithm>
#include <optional>
#include <type_traits>
#include <utility>

namespace corio::db {

namespace impl {


/// Before any statement on a slot: a COPY in progress owns the session.
void check_no_copy(const Slot* s) {
    if (s->copy) throw Error("corio::db: a COPY is in progress on this connection: finish() or abort() it first");
}
namespace {
std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

std::string savepoint_name(std::size_t level) { return "corio_sp_" + std::to_string(level); }

bool unusable(const Slot* s) noexcept { return s->poisoned || s->conn->is_broken(); }

/// The watchdog of a cleanup: closes the connection when the cleanup overruns `limit`. Closing fails what the
/// driver has in flight (PostgreSQL: at once), so the cleanup ends and the connection is discarded.
Task<void> close_when_overrun(Slot* s, std::chrono::milliseconds limit, const bool& cleaned, bool& overran) {
    try {
        co_await corio::sleep(limit);
    } catch (const CancelledError&) {
        if (cleaned) co_return;
        // Cancelled by the end of the loop, which then waits for the cleanup: close now rather than let that
        // wait on the server.
    }
    overran = true;
    co_await s->conn->close();
}

/// A Transaction destroyed while open, or a connection given back inside one (or after LISTEN): roll back
/// (UNLISTEN *), then give the connection back to the pool (or close it). Bounded by cleanup_timeout: the
/// statements go through control(), which no cancellation interrupts (a timeout() around them would wait
/// for them just the same), so a watchdog closes the connection instead — a server that stops answering
/// would otherwise keep the pool's place, and close(), waiting for ever.
Task<void> clean_then_release(std::shared_ptr<PoolState> pool, Slot* s) {
    bool cleaned = false, overran = false;
    std::optional<JoinHandle<void>> watchdog;
    try {
        watchdog.emplace(corio::spawn(close_when_overrun(s, pool->options.cleanup_timeout, cleaned, overran)));
        s->tx.clear();
        co_await flush_pending(s);
        if (s->conn->in_transaction()) co_await s->conn->control("ROLLBACK");
    } catch (...) {
        s->poisoned = true;
    }
    cleaned = true;
    if (watchdog) {
        watchdog->cancel();
        try {
            co_await *watchdog;  // it must not outlive the slot
        } catch (...) {
        }
    }
    if (overran) s->poisoned = true;  // even if the cleanup ended meanwhile: the connection may be closed
    pool->release(s);
}
}  // namespace

PoolState::~PoolState() {
    stop_reaper();
    for (Slot* s : idle) delete s;  // the drivers close without blocking
    idle.clear();
}

bool PoolState::expired(const Slot* s, Clock::time_point now) const noexcept {
    return options.max_lifetime.count() > 0 && now - s->created >= options.max_lifetime;
}

void PoolState::link(Waiter* w) noexcept {
    w->prev = wait_tail;
    w->next = nullptr;
    if (wait_tail) wait_tail->next = w;
    else wait_head = w;
    wait_tail = w;
    w->linked = true;
    ++waiting;
}

void PoolState::unlink(Waiter* w) noexcept {
    if (!w->linked) return;
    if (w->prev) w->prev->next = w->next;
    else wait_head = w->next;
    if (w->next) w->next->prev = w->prev;
    else wait_tail = w->prev;
    w->prev = w->next = nullptr;
    w->linked = false;
    --waiting;
}

void PoolState::grant_waiters() noexcept {
    while (wait_head && open < options.max_size) {
        Waiter* w = wait_head;
        unlink(w);
        w->granted = true;
        ++open;
        w->ready.set();
    }
}

void PoolState::destroy(Slot* s) noexcept {
    delete s;
    ++stats.closed;
    unopened();
}

void PoolState::unopened() noexcept {
    --open;
    if (closed) {
        if (open == 0) drained.set();
        return;
    }
    grant_waiters();
}

void PoolState::sweep(Clock::time_point now) noexcept {
    if (idle.empty()) return;
    std::size_t k = 0;
    while (k < idle.size() && open > options.min_size) {
        Slot* s = idle[k];
        bool idle_too_long = options.max_idle.count() > 0 && now - s->idle_since >= options.max_idle;
        if (!idle_too_long && !expired(s, now)) {
            ++k;
            continue;
        }
        idle.erase(idle.begin() + static_cast<std::ptrdiff_t>(k));
        destroy(s);
    }
}

void PoolState::release(Slot* s) noexcept {
    if (s->copy) s->copy->end();  // abandoned: an unfinished COPY breaks the session
    const auto now = Clock::now();
    if (closed || s->poisoned || s->conn->is_broken() || expired(s, now)) {
        destroy(s);
        return;
    }
    if (s->listening || s->conn->may_listen()) {  // listen(), or LISTEN run as SQL
        s->listening = false;
        s->pending.push_back("UNLISTEN *");
    }
    if (!s->pending.empty() || !s->tx.empty() || s->conn->in_transaction()) {
        try {
            // Not interruptible by the releasing task's cancellation: a task of its own.
            corio::spawn(clean_then_release(shared_from_this(), s)).detach();
        } catch (...) {
            destroy(s);  // no running loop: the session cannot be cleaned, so it is closed
        }
        return;
    }
    s->idle_since = now;
    if (Waiter* w = wait_head) {
        unlink(w);
        w->handed = s;
        w->ready.set();
        return;
    }
    idle.push_back(s);
}

Task<Slot*> PoolState::open_one() {
    std::unique_ptr<driver::Connection> c;
    if (url.sqlite) c = co_await driver::connect_sqlite(*url.sqlite, options);
    else c = co_await driver::connect_postgres(*url.pg, options);
    auto* s = new Slot;
    s->conn = std::move(c);
    s->created = s->idle_since = Clock::now();
    ++stats.opened;
    co_return s;
}

Task<Slot*> PoolState::acquire(std::shared_ptr<PoolState> self, bool shared) {
    auto now = Clock::now();
    const auto deadline = now + self->options.acquire_timeout;
    for (bool first = true;; first = false) {
        if (!first) now = Clock::now();  // one clock read per round (27 ns each here; a query's path had several)
        if (self->closed) throw Error("the database pool (" + self->url.redacted + ") is closed");
        self->sweep(now);
        bool may_open = false;
        if (!self->idle.empty()) {
            Slot* s = self->idle.back();  // the most recently used: warm caches, and the others may expire
            self->idle.pop_back();
            if (self->expired(s, now)) {
                self->destroy(s);
                continue;
            }
            if (self->options.health_check && now - s->idle_since >= self->options.health_check_after) {
                std::exception_ptr failed;
                try {
                    co_await s->conn->ping();
                } catch (const CancelledError&) {
                    self->release(s);
                    throw;
                } catch (...) {
                    failed = std::current_exception();
                }
                if (failed || s->conn->is_broken()) {
                    self->destroy(s);
                    continue;
                }
            }
            ++self->stats.acquired;
            co_return s;
        }
        if (self->open < self->options.max_size) {
            ++self->open;
            may_open = true;
        } else {
            auto left = deadline - Clock::now();
            Waiter w;
            w.shared = shared;
            std::exception_ptr error;
            if (left > Clock::duration::zero()) {
                self->link(&w);
                try {
                    co_await corio::timeout(left, w.ready.wait());
                } catch (const corio::TimeoutError&) {
                    // Judged below: a timeout is a wait that ended with nothing handed over or granted.
                } catch (...) {
                    error = std::current_exception();
                }
                self->unlink(&w);
            }
            if (error) {  // cancelled: give back what the pool handed over meanwhile
                if (w.handed && w.handed->shared > 0) self->unshare(w.handed);  // a place on a shared one
                else if (w.handed) self->release(w.handed);
                if (w.granted) self->unopened();  // also when close() waits for it meanwhile
                std::rethrow_exception(error);
            }
            if (w.pool_closed) continue;  // raises "closed"
            if (w.handed) {  // also when the deadline passed as it was handed over: it is free now
                ++self->stats.acquired;
                co_return w.handed;
            }
            if (!w.granted) {
                ++self->stats.timeouts;
                throw PoolTimeout("no database connection became free within " +
                                  ms_text(self->options.acquire_timeout) + " (pool of " +
                                  std::to_string(self->options.max_size) + ", " + self->url.redacted + ")");
            }
            may_open = true;
        }
        if (may_open) {
            Slot* s = nullptr;
            try {
                s = co_await self->open_one();
            } catch (...) {
                self->unopened();
                throw;
            }
            if (self->closed) {
                self->destroy(s);
                continue;
            }
            ++self->stats.acquired;
            co_return s;
        }
    }
}

void PoolState::offer_shared(Slot* s) noexcept {
    while (wait_head && wait_head->shared && s->shared < options.pipeline_depth && !closed && !unusable(s)) {
        Waiter* w = wait_head;
        unlink(w);
        ++s->shared;
        w->handed = s;
        w->ready.set();
    }
}

void PoolState::unshare(Slot* s) noexcept {
    --s->shared;
    offer_shared(s);
    if (s->shared > 0) return;
    sharing.erase(std::find(sharing.begin(), sharing.end(), s));
    release(s);
}

Task<Slot*> PoolState::acquire_shared(std::shared_ptr<PoolState> self) {
    if (self->idle.empty() && !self->wait_head && self->open >= self->options.max_size && !self->closed) {
        Slot* best = nullptr;
        for (Slot* s : self->sharing) {
            if (s->shared < self->options.pipeline_depth && !unusable(s) && (!best || s->shared < best->shared))
                best = s;
        }
        if (best) {
            ++best->shared;
            ++self->stats.acquired;
            ++self->stats.pipelined;
            co_return best;
        }
    }
    Slot* s = co_await acquire(self, true);
    if (s->shared > 0) {  // handed a place on a shared connection by offer_shared
        ++self->stats.pipelined;
        co_return s;
    }
    s->shared = 1;  // a whole connection: it becomes shared, and the statements queued behind us join it
    try {
        self->sharing.push_back(s);
    } catch (...) {
        s->shared = 0;
        self->release(s);
        throw;
    }
    self->offer_shared(s);
    co_return s;
}

namespace {
Task<void> reap(std::weak_ptr<PoolState> weak, std::chrono::milliseconds period) {
    try {
        for (;;) {
            co_await corio::sleep(period);
            std::shared_ptr<PoolState> self = weak.lock();
            if (!self || self->closed) co_return;
            self->sweep(Clock::now());
        }
    } catch (const CancelledError&) {  // the pool closed, or the loop ends
    }
}
}  // namespace

void PoolState::start_reaper() {
    using std::chrono::milliseconds;
    milliseconds limit{0};
    for (milliseconds d : {options.max_idle, options.max_lifetime})
        if (d.count() > 0 && (limit.count() == 0 || d < limit)) limit = d;
    if (limit.count() == 0) return;
    // A connection is closed at most a quarter of the limit late.
    milliseconds period = std::clamp(limit / 4, milliseconds(5), milliseconds(std::chrono::seconds(15)));
    reaper = corio::spawn(reap(weak_from_this(), period));
}

void PoolState::stop_reaper() noexcept {
    if (!reaper.done()) reaper.cancel();
    reaper.detach();
}

Task<void> flush_pending(Slot* s) {
    while (!s->pending.empty()) {
        std::vector<std::string> todo;
        todo.swap(s->pending);
        for (auto& sql : todo) {
            if (sql == "ROLLBACK" && !s->conn->in_transaction()) continue;
            try {
                co_await s->conn->control(sql);
                // What arrived before the UNLISTEN took effect is queued in the driver: not for the next user.
                if (sql == "UNLISTEN *") s->conn->discard_notifications();
            } catch (const CancelledError&) {
                throw;
            } catch (const std::exception& e) {
                s->poisoned = true;
                throw ConnectionError(std::string("could not roll back an abandoned transaction (") + sql +
                                      "), the connection will be closed: " + e.what());
            }
        }
    }
}

Task<Rows> exec_on(std::shared_ptr<PoolState> pool, Slot* s, std::string sql, std::vector<detail::Param> params) {
    if (s->poisoned) throw ConnectionError("the connection is unusable after a failed cleanup");
    check_no_copy(s);
    driver::check_sql_text(sql);
    if (!s->pending.empty()) co_await flush_pending(s);
    driver::Result r = co_await s->conn->exec(std::move(sql), std::move(params));
    (void)pool;  // keeps the pool (and the slot) alive while the statement runs
    co_return Rows(std::move(r.rows), r.affected);
}

namespace {
Task<Rows> pool_query(std::shared_ptr<PoolState> pool, std::string sql, std::vector<detail::Param> params) {
    Slot* s = co_await PoolState::acquire(pool);
    struct Lease {
        PoolState* pool;
        Slot* slot;
        ~Lease() { pool->release(slot); }
    } lease{pool.get(), s};
    co_return co_await exec_on(pool, s, std::move(sql), std::move(params));
}

Task<Rows> pool_query_shared(std::shared_ptr<PoolState> pool, std::string sql, std::vector<detail::Param> params) {
    Slot* s = co_await PoolState::acquire_shared(pool);
    struct Lease {
        PoolState* pool;
        Slot* slot;
        ~Lease() { pool->unshare(slot); }
    } lease{pool.get(), s};
    co_return co_await exec_on(pool, s, std::move(sql), std::move(params));
}

/// BEGIN or SAVEPOINT on a slot; the serial of the new level.
Task<std::uint64_t> open_level(Slot* s, std::size_t level) {
    if (s->poisoned) throw ConnectionError("the connection is unusable after a failed cleanup");
    check_no_copy(s);
    if (!s->pending.empty()) co_await flush_pending(s);
    if (level == 1) co_await s->conn->control(std::string(s->conn->begin_sql()));
    else co_await s->conn->control("SAVEPOINT " + savepoint_name(level));
    s->tx.push_back(++s->next_serial);
    co_return s->tx.back();
}

Task<Transaction> begin_owned(std::shared_ptr<PoolState> pool) {
    Slot* s = co_await PoolState::acquire(pool);
    Connection conn = Access::connection(pool, s);
    Transaction tx = co_await conn.begin();
    Access::own(tx, std::move(conn));
    co_return tx;
}
}  // namespace

}  // namespace impl

// ---------------------------------------------------------------------------------------------------------
// Pool

Pool::Pool() noexcept = default;
Pool::Pool(const Pool&) noexcept = default;
Pool::Pool(Pool&&) noexcept = default;
Pool& Pool::operator=(const Pool&) noexcept = default;
Pool& Pool::operator=(Pool&&) noexcept = default;
Pool::~Pool() = default;
Pool::Pool(std::shared_ptr<impl::PoolState> state) noexcept : m_state(std::move(state)) {}

namespace {
[[noreturn]] void throw_empty(const char* what) {
    throw Error(std::string("corio::db: ") + what + " on an empty handle (it was moved from, or never connected)");
}
template <class T>
Task<T> fail_with(std::exception_ptr e) {
    std::rethrow_exception(e);
    if constexpr (std::is_void_v<T>) co_return;
    else co_return T{};
}
template <class T>
Task<T> empty_handle(const char* what) {
    try {
        throw_empty(what);
    } catch (...) {
        return fail_with<T>(std::current_exception());
    }
}
Task<Connection> acquire_guard(std::shared_ptr<impl::PoolState> pool) {
    impl::Slot* s = co_await impl::PoolState::acquire(pool);
    co_return impl::Access::connection(std::move(pool), s);
}
Task<void> close_pool(std::shared_ptr<impl::PoolState> pool) {
    if (!pool->closed) {
        pool->closed = true;
        pool->stop_reaper();
        for (impl::Waiter* w = pool->wait_head; w;) {
            impl::Waiter* next = w->next;
            pool->unlink(w);
            w->pool_closed = true;
            w->ready.set();
            w = next;
        }
        std::vector<impl::Slot*> idle;
        idle.swap(pool->idle);
        for (impl::Slot* s : idle) {
            co_await corio::shield(s->conn->close());
            pool->destroy(s);
        }
    }
    while (pool->open > 0) {
        pool->drained.clear();
        co_await pool->drained.wait();
    }
}
}  // namespace

Task<Rows> Pool::run(std::string sql, std::vector<detail::Param> params) const {
    if (!m_state) return empty_handle<Rows>("query");
    if (m_state->options.pipeline && m_state->url.pg)
        return impl::pool_query_shared(m_state, std::move(sql), std::move(params));
    return impl::pool_query(m_state, std::move(sql), std::move(params));
}
Task<Connection> Pool::acquire() const {
    if (!m_state) return empty_handle<Connection>("acquire");
    return acquire_guard(m_state);
}
Task<Transaction> Pool::begin() const {
    if (!m_state) return empty_handle<Transaction>("begin");
    return impl::begin_owned(m_state);
}
Task<void> Pool::close() const {
    if (!m_state) return empty_handle<void>("close");
    return close_pool(m_state);
}

PoolStatistics Pool::statistics() const noexcept {
    if (!m_state) return {};
    PoolStatistics s = m_state->stats;
    s.size = m_state->open;
    s.idle = m_state->idle.size();
    s.in_use = m_state->open - m_state->idle.size();
    s.waiting = m_state->waiting;
    s.max_size = m_state->options.max_size;
    return s;
}
const PoolOptions& Pool::options() const noexcept {
    static const PoolOptions none{};
    return m_state ? m_state->options : none;
}
std::string_view Pool::backend() const noexcept {
    if (!m_state) return {};
    return m_state->url.sqlite ? "sqlite" : "postgresql";
}
const std::string& Pool::url() const noexcept {
    static const std::string none;
    return m_state ? m_state->url.redacted : none;
}

namespace {
void check_options(const PoolOptions& o, const std::string& url) {
    auto bad = [&](const std::string& why) { throw ConfigError("invalid PoolOptions for " + url + ": " + why); };
    if (o.max_size == 0) bad("max_size must be at least 1");
    if (o.min_size > o.max_size) {
        bad("min_size (" + std::to_string(o.min_size) + ") exceeds max_size (" + std::to_string(o.max_size) + ")");
    }
    if (o.pipeline_depth == 0) bad("pipeline_depth must be at least 1");
    if (o.acquire_timeout.count() <= 0) bad("acquire_timeout must be positive (a pool never waits forever)");
    if (o.cleanup_timeout.count() <= 0) bad("cleanup_timeout must be positive (a pool never waits forever)");
    if (o.max_lifetime.count() < 0 || o.max_idle.count() < 0 || o.statement_timeout.count() < 0 ||
        o.connect_timeout.count() < 0 || o.busy_timeout.count() < 0 || o.health_check_after.count() < 0) {
        bad("durations must not be negative");
    }
}
}  // namespace

Task<Pool> connect(std::string url, PoolOptions options) {
    DatabaseUrl parsed = parse_url(url);
    check_options(options, parsed.redacted);
    if (parsed.sqlite && parsed.sqlite->memory) {
        // One connection holds the in-memory database: the pool has exactly that one, kept forever.
        options.min_size = options.max_size = 1;
        options.max_idle = options.max_lifetime = std::chrono::milliseconds(0);
    }
    auto state = std::make_shared<impl::PoolState>(std::move(parsed), options);
    // One at a time: the first one creates an SQLite file and switches it to WAL; a wrong password fails once.
    while (state->open < state->options.min_size) {
        ++state->open;
        impl::Slot* s = nullptr;
        try {
            s = co_await state->open_one();
        } catch (...) {
            --state->open;
            throw;
        }
        state->idle.push_back(s);
    }
    state->start_reaper();
    co_return Pool(std::move(state));
}

// ---------------------------------------------------------------------------------------------------------
// Connection

Connection::Connection() noexcept = default;
Connection::Connection(std::shared_ptr<impl::PoolState> pool, impl::Slot* slot) noexcept
    : m_pool(std::move(pool)), m_slot(slot) {}
Connection::Connection(Connection&& o) noexcept : m_pool(std::move(o.m_pool)), m_slot(std::exchange(o.m_slot, nullptr)) {}
Connection& Connection::operator=(Connection&& o) noexcept {
    if (this != &o) {
        release();
        m_pool = std::move(o.m_pool);
        m_slot = std::exchange(o.m_slot, nullptr);
    }
    return *this;
}
Connection::~Connection() { release(); }

void Connection::release() noexcept {
    if (m_slot) m_pool->release(std::exchange(m_slot, nullptr));
    m_pool.reset();
}

bool Connection::broken() const noexcept { return m_slot && (m_slot->poisoned || m_slot->conn->is_broken()); }

Task<Rows> Connection::run(std::string sql, std::vector<detail::Param> params) const {
    if (!m_slot) return empty_handle<Rows>("query on a released Connection");
    return impl::exec_on(m_pool, m_slot, std::move(sql), std::move(params));
}

namespace {
Task<void> listen_on(std::shared_ptr<impl::PoolState> pool, impl::Slot* s, std::string channel) {
    impl::check_no_copy(s);
    if (!s->pending.empty()) co_await impl::flush_pending(s);
    bool was_listening = s->listening;
    s->listening = true;  // also if cancelled after the server took it
    try {
        co_await s->conn->listen(std::move(channel));
    } catch (const DatabaseError&) {
        s->listening = was_listening;  // refused: nothing more to undo (SQLite: not supported)
        throw;
    }
    (void)pool;
}
Task<void> unlisten_on(std::shared_ptr<impl::PoolState> pool, impl::Slot* s, std::string channel) {
    impl::check_no_copy(s);
    if (!s->pending.empty()) co_await impl::flush_pending(s);
    co_await s->conn->unlisten(std::move(channel));
    (void)pool;
}
Task<Notification> notification_on(std::shared_ptr<impl::PoolState> pool, impl::Slot* s) {
    Notification n = co_await s->conn->next_notification();
    (void)pool;
    co_return n;
}
}  // namespace

Task<void> Connection::listen(std::string channel) {
    if (!m_slot) return empty_handle<void>("listen on a released Connection");
    return listen_on(m_pool, m_slot, std::move(channel));
}
Task<void> Connection::unlisten(std::string channel) {
    if (!m_slot) return empty_handle<void>("unlisten on a released Connection");
    return unlisten_on(m_pool, m_slot, std::move(channel));
}
Task<Notification> Connection::next_notification() {
    if (!m_slot) return empty_handle<Notification>("next_notification on a released Connection");
    return notification_on(m_pool, m_slot);
}

namespace {
Task<Transaction> begin_on(std::shared_ptr<impl::PoolState> pool, impl::Slot* s) {
    if (!s->tx.empty()) {
        throw Error("corio::db: this connection already has an open transaction; use Transaction::begin() for a "
                    "savepoint");
    }
    std::uint64_t serial = co_await impl::open_level(s, 1);
    co_return impl::Access::transaction(std::move(pool), s, 1, serial);
}
}  // namespace

Task<Transaction> Connection::begin() {
    if (!m_slot) return empty_handle<Transaction>("begin on a released Connection");
    return begin_on(m_pool, m_slot);
}

// ---------------------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction() noexcept = default;
Transaction::Transaction(std::shared_ptr<impl::PoolState> pool, impl::Slot* slot, std::size_t level,
                         std::uint64_t serial) noexcept
    : m_pool(std::move(pool)), m_slot(slot), m_alive(slot->alive), m_level(level), m_serial(serial) {}
Transaction::Transaction(Transaction&& o) noexcept
    : m_owned(std::move(o.m_owned)), m_pool(std::move(o.m_pool)), m_slot(std::exchange(o.m_slot, nullptr)),
      m_alive(std::move(o.m_alive)), m_level(o.m_level), m_serial(o.m_serial) {
    o.m_owned.reset();
}
Transaction& Transaction::operator=(Transaction&& o) noexcept {
    if (this != &o) {
        abandon();
        m_owned = std::move(o.m_owned);
        o.m_owned.reset();
        m_pool = std::move(o.m_pool);
        m_slot = std::exchange(o.m_slot, nullptr);
        m_alive = std::move(o.m_alive);
        m_level = o.m_level;
        m_serial = o.m_serial;
    }
    return *this;
}
Transaction::~Transaction() { abandon(); }

bool Transaction::active() const noexcept {
    // A freed slot is not looked at (its memory may be another connection's slot by now); a slot that went
    // back to the pool and to someone else has other serials.
    return m_slot && !m_alive.expired() && m_slot->tx.size() >= m_level && m_slot->tx[m_level - 1] == m_serial;
}

void Transaction::abandon() noexcept {
    if (active()) {
        try {
            m_slot->tx.resize(m_level - 1);
            if (m_level == 1) {
                m_slot->pending.push_back("ROLLBACK");
            } else {
                m_slot->pending.push_back("ROLLBACK TO SAVEPOINT " + impl::savepoint_name(m_level));
                m_slot->pending.push_back("RELEASE SAVEPOINT " + impl::savepoint_name(m_level));
            }
        } catch (...) {
            m_slot->poisoned = true;  // out of memory: the connection is closed rather than reused
        }
    }
    m_slot = nullptr;
    m_alive.reset();
    m_owned.reset();  // gives the connection back (the pool runs the pending rollback first)
    m_pool.reset();
}

namespace {
Task<void> end_level(impl::Slot* s, std::size_t level, bool commit) {
    impl::check_no_copy(s);
    s->tx.resize(level - 1);  // over, whatever happens next
    if (!s->pending.empty()) co_await impl::flush_pending(s);
    if (level == 1) {
        try {
            co_await s->conn->control(commit ? "COMMIT" : "ROLLBACK");
        } catch (const DatabaseError&) {
            // A failed COMMIT may leave the transaction open (SQLite, on SQLITE_BUSY): close it.
            if (s->conn->in_transaction()) s->pending.push_back("ROLLBACK");
            throw;
        }
    } else if (commit) {
        co_await s->conn->control("RELEASE SAVEPOINT " + impl::savepoint_name(level));
    } else {
        co_await s->conn->control("ROLLBACK TO SAVEPOINT " + impl::savepoint_name(level));
        co_await s->conn->control("RELEASE SAVEPOINT " + impl::savepoint_name(level));
    }
}

[[noreturn]] void throw_inactive(const char* what) {
    throw Error(std::string("corio::db: ") + what +
                " on a transaction that is no longer active (committed, rolled back, or its parent ended)");
}
}  // namespace

Task<void> Transaction::commit() { return end(true); }

Task<void> Transaction::rollback() { return end(false); }

Task<void> Transaction::end(bool commit) {
    if (!active()) throw_inactive(commit ? "commit" : "rollback");
    std::exception_ptr error;
    try {
        co_await end_level(m_slot, m_level, commit);
    } catch (...) {
        error = std::current_exception();
    }
    m_owned.reset();
    if (error) std::rethrow_exception(error);
}

Task<Transaction> Transaction::begin() {
    if (!active()) throw_inactive("begin");
    std::uint64_t serial = co_await impl::open_level(m_slot, m_level + 1);
    co_return Transaction(m_pool, m_slot, m_level + 1, serial);
}

Task<Rows> Transaction::run(std::string sql, std::vector<detail::Param> params) const {
    if (!active()) {
        try {
            throw_inactive("a query");
        } catch (...) {
            return detail::failed_rows(std::current_exception());
        }
    }
    return impl::exec_on(m_pool, m_slot, std::move(sql), std::move(params));
}

}  // namespace corio::db
