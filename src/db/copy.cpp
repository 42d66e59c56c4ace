// db::CopyWriter and db::CopyReader over the driver's CopyIn/CopyOut, and the copy_in/copy_out entry points of
// Connection and Pool.
//
// A CopyState lives on the heap, owned by its writer or reader; while the COPY runs, its slot points at it
// (Slot::copy), so that a connection given back in the middle of a COPY detaches it (the driver's unfinished
// COPY breaks the session, and the pool closes the connection) and the writer then fails cleanly instead of
// touching a connection someone else holds.

#include "pool_state.hpp"

#include <corio/db/transaction.hpp>

#include <corio/db/error.hpp>

#include <utility>

namespace corio::db {

namespace impl {

CopyState::~CopyState() {
    end();
    owned.reset();  // gives back the connection Pool::copy_in took
}

void CopyState::end() noexcept {
    if (slot) slot->copy = nullptr;
    slot = nullptr;
    in.reset();
    out.reset();
}

namespace {

[[noreturn]] void throw_over(const char* what) {
    throw Error(std::string("corio::db: ") + what +
                " on a COPY that is over (finished, aborted, or abandoned when its connection went back)");
}

/// Starts a COPY on a slot; the state points at it. `tx_active` is false for a Transaction no longer active.
Task<std::unique_ptr<CopyState>> start(std::shared_ptr<PoolState> pool, Slot* s, std::string sql, bool in,
                                       bool tx_active) {
    const char* what = in ? "copy_in" : "copy_out";
    if (!tx_active) throw Error(std::string("corio::db: ") + what + " on a transaction that is no longer active");
    if (!s) throw Error(std::string("corio::db: ") + what + " on a released Connection");
    if (s->poisoned) throw ConnectionError("the connection is unusable after a failed cleanup");
    if (s->copy) throw Error("corio::db: a COPY is already in progress on this connection");
    driver::check_sql_text(sql);
    if (!s->pending.empty()) co_await flush_pending(s);
    auto state = std::make_unique<CopyState>();
    state->pool = std::move(pool);
    if (in) state->in = co_await s->conn->copy_in(std::move(sql));
    else state->out = co_await s->conn->copy_out(std::move(sql));
    if (s->copy) {  // two tasks started a COPY on one guard: the session cannot tell them apart
        state->in.reset();
        state->out.reset();
        throw Error("corio::db: a COPY is already in progress on this connection");
    }
    state->slot = s;
    s->copy = state.get();
    co_return state;
}

/// Connection::copy_in/copy_out, and Transaction's (on its connection while it is active).
Task<CopyWriter> writer_on(std::shared_ptr<PoolState> pool, Slot* s, std::string sql, bool tx_active = true) {
    co_return Access::writer(co_await start(std::move(pool), s, std::move(sql), true, tx_active));
}

Task<CopyReader> reader_on(std::shared_ptr<PoolState> pool, Slot* s, std::string sql, bool tx_active = true) {
    co_return Access::reader(co_await start(std::move(pool), s, std::move(sql), false, tx_active));
}

/// Pool::copy_in/copy_out: the COPY takes a connection of its own.
Task<CopyWriter> pool_writer(Pool db, std::string sql) {
    if (!db.valid()) throw Error("corio::db: copy_in on an empty Pool handle");
    Connection conn = co_await db.acquire();
    CopyWriter w = co_await conn.copy_in(std::move(sql));
    Access::own(w, std::move(conn));
    co_return w;
}

Task<CopyReader> pool_reader(Pool db, std::string sql) {
    if (!db.valid()) throw Error("corio::db: copy_out on an empty Pool handle");
    Connection conn = co_await db.acquire();
    CopyReader r = co_await conn.copy_out(std::move(sql));
    Access::own(r, std::move(conn));
    co_return r;
}

}  // namespace
}  // namespace impl

// ---------------------------------------------------------------------------------------------------------
// CopyWriter

CopyWriter::CopyWriter() noexcept = default;
CopyWriter::CopyWriter(std::unique_ptr<impl::CopyState> state) noexcept : m_state(std::move(state)) {}
CopyWriter::CopyWriter(CopyWriter&&) noexcept = default;
CopyWriter& CopyWriter::operator=(CopyWriter&&) noexcept = default;
CopyWriter::~CopyWriter() = default;

bool CopyWriter::active() const noexcept { return m_state && m_state->in; }

Task<void> CopyWriter::write(std::string_view data) {
    if (!active()) impl::throw_over("write()");
    co_await m_state->in->write(data);
}

Task<std::uint64_t> CopyWriter::finish() {
    if (!active()) impl::throw_over("finish()");
    impl::CopyState* s = m_state.get();
    std::exception_ptr error;
    try {
        s->rows = co_await s->in->finish();
    } catch (...) {
        error = std::current_exception();
    }
    s->end();  // over either way: finished, refused by the server (the session is ready), or broken
    s->owned.reset();
    if (error) std::rethrow_exception(error);
    co_return s->rows;
}

Task<void> CopyWriter::abort(std::string reason) {
    if (!active()) impl::throw_over("abort()");
    impl::CopyState* s = m_state.get();
    std::exception_ptr error;
    try {
        co_await s->in->abort(std::move(reason));
    } catch (...) {
        error = std::current_exception();
    }
    s->end();
    s->owned.reset();
    if (error) std::rethrow_exception(error);
}

// ---------------------------------------------------------------------------------------------------------
// CopyReader

CopyReader::CopyReader() noexcept = default;
CopyReader::CopyReader(std::unique_ptr<impl::CopyState> state) noexcept : m_state(std::move(state)) {}
CopyReader::CopyReader(CopyReader&&) noexcept = default;
CopyReader& CopyReader::operator=(CopyReader&&) noexcept = default;
CopyReader::~CopyReader() = default;

bool CopyReader::active() const noexcept { return m_state && m_state->out; }

std::uint64_t CopyReader::rows() const noexcept {
    if (!m_state) return 0;
    return m_state->out ? m_state->out->rows() : m_state->rows;
}

Task<std::string_view> CopyReader::read_chunk() {
    if (!m_state) impl::throw_over("read_chunk()");
    impl::CopyState* s = m_state.get();
    if (!s->out) co_return std::string_view();  // the end was read
    std::optional<std::string_view> chunk;
    std::exception_ptr error;
    try {
        chunk = co_await s->out->next();
    } catch (...) {
        error = std::current_exception();
    }
    if (chunk && !error) co_return *chunk;
    s->rows = s->out->rows();
    s->end();
    s->owned.reset();
    if (error) std::rethrow_exception(error);
    co_return std::string_view();
}

// ---------------------------------------------------------------------------------------------------------
// Entry points

Task<CopyWriter> Connection::copy_in(std::string sql) { return impl::writer_on(m_pool, m_slot, std::move(sql)); }

Task<CopyReader> Connection::copy_out(std::string sql) { return impl::reader_on(m_pool, m_slot, std::move(sql)); }

Task<CopyWriter> Transaction::copy_in(std::string sql) {
    return impl::writer_on(m_pool, m_slot, std::move(sql), active());
}

Task<CopyReader> Transaction::copy_out(std::string sql) {
    return impl::reader_on(m_pool, m_slot, std::move(sql), active());
}

Task<CopyWriter> Pool::copy_in(std::string sql) const { return impl::pool_writer(*this, std::move(sql)); }

Task<CopyReader> Pool::copy_out(std::string sql) const { return impl::pool_reader(*this, std::move(sql)); }

}  // namespace corio::db
