// The PostgreSQL driver: driver::Connection over pg::PgConnection, and a detail::ResultSet over pg::PgResult.
//
// Parameters: each detail::Param becomes one pg::Params entry (binary, except text and json, sent as text of
// an unspecified type so that the server gives them the type the statement needs). Arrays are encoded in
// binary with the codec's array helpers; an array of text is text[], of json jsonb[].
//
// Several statements: SQL without parameters is scanned (quotes, "identifiers", $tag$ dollar quotes$tag$,
// E'' escapes, -- and /* nested */ comments skipped); when something other than blanks and comments follows
// a ';', it goes through PgConnection::exec_script (the simple query protocol), whose results are in TEXT
// format. The other option — try the prepared path and fall back on 42601 "cannot insert multiple commands
// into a prepared statement" — was rejected: inside a transaction that error aborts the transaction. The
// result set therefore decodes text format too, for the common types (bool, integers, floats, numeric, text,
// json, uuid, bytea in hex, date); other types read from a script's rows are text only.
//
// Dates and timestamps: the codec already converts PostgreSQL's 2000-01-01 epoch to std::chrono time points
// (counting from 1970), which is what Cell::i holds (days / microseconds since 1970-01-01).

// connection.hpp first: it names corio::detail::WaiterList as detail::, which must not find corio::db::detail.
#include "db/pg/connection.hpp"
#include "db/pg/codec.hpp"
#include "db/driver.hpp"

#include <corio/db/error.hpp>
#include <corio/spawn.hpp>

#include <charconv>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <cctype>
#include <limits>
#include <memory>
#include <vector>

namespace corio::db::driver {

namespace {

using detail::Cell;
using detail::Want;
using pg::Oid;
namespace oid = pg::oid;

// ---- parameters --------------------------------------------------------------------------------------------

Oid element_oid(Type t) {
    switch (t) {
    case Type::boolean: return oid::boolean;
    case Type::int16: return oid::int2;
    case Type::int32: return oid::int4;
    case Type::int64: return oid::int8;
    case Type::float32: return oid::float4;
    case Type::float64: return oid::float8;
    case Type::numeric: return oid::numeric;
    case Type::text: return oid::text;
    case Type::bytes: return oid::bytea;
    case Type::date: return oid::date;
    case Type::timestamp: return oid::timestamp;
    case Type::timestamptz: return oid::timestamptz;
    case Type::uuid: return oid::uuid;
    case Type::json: return oid::jsonb;
    case Type::null: return oid::text;  // an array of nothing but NULLs
    case Type::array: break;
    }
    throw TypeError("corio::db: arrays are one-dimensional (PostgreSQL driver)");
}

// The binary form of one array element of type `t`.
void encode_element(std::string& out, Type t, const detail::Param& p) {
    switch (t) {
    case Type::boolean: pg::encode_bool(out, p.b); return;
    case Type::int16: pg::encode_int2(out, static_cast<std::int16_t>(p.i)); return;
    case Type::int32: pg::encode_int4(out, static_cast<std::int32_t>(p.i)); return;
    case Type::int64: pg::encode_int8(out, p.i); return;
    case Type::float32: pg::encode_float4(out, static_cast<float>(p.f)); return;
    case Type::float64: pg::encode_float8(out, p.f); return;
    case Type::numeric: pg::encode_numeric(out, p.text); return;
    case Type::text:
    case Type::bytes: out.append(p.text); return;
    case Type::date: pg::encode_date(out, std::chrono::sys_days(std::chrono::days(p.i))); return;
    case Type::timestamp:
    case Type::timestamptz: pg::encode_timestamp(out, pg::TimestampTz(std::chrono::microseconds(p.i))); return;
    case Type::uuid: pg::encode_uuid(out, p.uuid.bytes()); return;
    case Type::json:
        out.push_back('\1');  // jsonb's version byte
        out.append(p.text);
        return;
    case Type::null:
    case Type::array: break;
    }
    throw TypeError("corio::db: arrays are one-dimensional (PostgreSQL driver)");
}

void add_param(pg::Params& out, const detail::Param& p) {
    switch (p.type) {
    case Type::null: out.add_null(); return;
    case Type::boolean: out.add(p.b); return;
    case Type::int16: out.add(static_cast<std::int16_t>(p.i)); return;
    case Type::int32: out.add(static_cast<std::int32_t>(p.i)); return;
    case Type::int64: out.add(p.i); return;
    case Type::float32: out.add(static_cast<float>(p.f)); return;
    case Type::float64: out.add(p.f); return;
    case Type::numeric: out.add_numeric(p.text); return;
    case Type::text: out.add(std::string_view(p.text)); return;
    case Type::bytes:
        out.add(std::span<const std::byte>(reinterpret_cast<const std::byte*>(p.text.data()), p.text.size()));
        return;
    case Type::date: out.add(std::chrono::sys_days(std::chrono::days(p.i))); return;
    case Type::timestamp: out.add(pg::Timestamp(std::chrono::microseconds(p.i))); return;
    case Type::timestamptz: out.add(pg::TimestampTz(std::chrono::microseconds(p.i))); return;
    case Type::uuid: out.add(p.uuid.bytes()); return;
    case Type::json: out.add_raw(oid::unspecified, p.text, false); return;
    case Type::array: {
        Oid element = element_oid(p.elem);
        bool has_null = false;
        for (const auto& e : p.elems) has_null = has_null || e.type == Type::null;
        std::string bytes;
        pg::encode_array_header(bytes, element, p.elems.size(), has_null);
        for (const auto& e : p.elems) {
            if (e.type == Type::null) {
                pg::encode_array_null(bytes);
                continue;
            }
            std::size_t at = pg::begin_array_element(bytes);
            encode_element(bytes, p.elem, e);
            pg::end_array_element(bytes, at);
        }
        out.add_raw(pg::array_of(element), bytes, true);
        return;
    }
    }
}

// ---- several statements? -----------------------------------------------------------------------------------

// True when `sql` holds more than one statement: after a ';' outside quotes and comments, something other
// than blanks, comments and further ';'.
bool several_statements(std::string_view s) {
    bool seen_semicolon = false;
    std::size_t i = 0, n = s.size();
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    while (i < n) {
        char c = s[i];
        if (blank(c)) {
            ++i;
            continue;
        }
        if (c == '-' && i + 1 < n && s[i + 1] == '-') {
            while (i < n && s[i] != '\n') ++i;
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            int depth = 1;
            i += 2;
            while (i < n && depth > 0) {
                if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
                    ++depth;
                    i += 2;
                } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
                    --depth;
                    i += 2;
                } else {
                    ++i;
                }
            }
            continue;
        }
        if (c == ';') {
            seen_semicolon = true;
            ++i;
            continue;
        }
        if (seen_semicolon) return true;
        if (c == '\'' || c == '"') {
            bool escapes = c == '\'' && i > 0 && (s[i - 1] == 'e' || s[i - 1] == 'E');
            ++i;
            while (i < n) {
                if (escapes && s[i] == '\\') {
                    i += 2;
                    continue;
                }
                if (s[i] == c) {
                    if (i + 1 < n && s[i + 1] == c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                ++i;
            }
            ++i;
            continue;
        }
        if (c == '$') {
            // $tag$ ... $tag$ (a tag: letters, digits, _, not starting with a digit); $1 is a parameter.
            std::size_t j = i + 1;
            while (j < n && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
            bool tag = j < n && s[j] == '$' && !(j > i + 1 && std::isdigit(static_cast<unsigned char>(s[i + 1])));
            if (tag) {
                std::string_view delim = s.substr(i, j - i + 1);
                std::size_t end = s.find(delim, j + 1);
                i = end == std::string_view::npos ? n : end + delim.size();
                continue;
            }
            i = j;
            continue;
        }
        ++i;
    }
    return false;
}

// ---- results -----------------------------------------------------------------------------------------------

bool parse_int(std::string_view t, std::int64_t& v) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return ec == std::errc() && p == t.data() + t.size();
}

bool parse_double(std::string_view t, double& v) {
    std::string s(t);
    if (s == "NaN") {
        v = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    if (s == "Infinity") {
        v = std::numeric_limits<double>::infinity();
        return true;
    }
    if (s == "-Infinity") {
        v = -std::numeric_limits<double>::infinity();
        return true;
    }
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size();
}

Type scalar_type(Oid t) {
    switch (t) {
    case oid::boolean: return Type::boolean;
    case oid::int2: return Type::int16;
    case oid::int4: return Type::int32;
    case oid::int8:
    case oid::oid: return Type::int64;
    case oid::float4: return Type::float32;
    case oid::float8: return Type::float64;
    case oid::numeric: return Type::numeric;
    case oid::bytea: return Type::bytes;
    case oid::date: return Type::date;
    case oid::timestamp: return Type::timestamp;
    case oid::timestamptz: return Type::timestamptz;
    case oid::uuid: return Type::uuid;
    case oid::json:
    case oid::jsonb: return Type::json;
    default: return Type::text;
    }
}

bool text_like(Oid t) {
    switch (t) {
    case oid::text:
    case oid::varchar:
    case oid::bpchar:
    case oid::name:
    case oid::unknown:
    case oid::char_: return true;
    default: return false;
    }
}

// Conversions a caller may ask for that the generic layer does not make: a numeric (sum(bigint)) read as an
// integer or a float, a timestamptz read as a timestamp and back (UTC wall clock), text read as a uuid.
void adapt(Cell& out, Want want) {
    if (out.type == Type::numeric) {
        if (want.type == Type::int16 || want.type == Type::int32 || want.type == Type::int64) {
            std::string_view t = out.str();
            std::size_t dot = t.find('.');
            std::string_view whole = t.substr(0, dot);
            bool integral = dot == std::string_view::npos || t.find_first_not_of('0', dot + 1) == std::string_view::npos;
            std::int64_t v = 0;
            if (integral && parse_int(whole, v)) {
                out.type = Type::int64;
                out.i = v;
            } else {
                out.problem = "the numeric " + std::string(t) + " is not an integer in the range of int64";
            }
        } else if (want.type == Type::float32 || want.type == Type::float64) {
            double f = 0;
            if (parse_double(out.str(), f)) {
                out.type = Type::float64;
                out.f = f;
            }
        }
    } else if ((out.type == Type::timestamptz && want.type == Type::timestamp) ||
               (out.type == Type::timestamp && want.type == Type::timestamptz)) {
        out.type = want.type;
    } else if (out.type == Type::text && want.type == Type::uuid) {
        if (auto u = Uuid::try_parse(out.str())) {
            out.uuid = *u;
            out.type = Type::uuid;
        } else {
            out.problem = "the text is not a UUID";
        }
    }
}

// A binary value of type `t` into `out`.
void read_binary(Oid t, std::string_view b, Want want, Cell& out) {
    switch (t) {
    case oid::boolean: out.type = Type::boolean; out.b = pg::decode_bool(b); break;
    case oid::int2: out.type = Type::int16; out.i = pg::decode_int2(b); break;
    case oid::int4: out.type = Type::int32; out.i = pg::decode_int4(b); break;
    case oid::int8: out.type = Type::int64; out.i = pg::decode_int8(b); break;
    case oid::oid: out.type = Type::int64; out.i = static_cast<std::uint32_t>(pg::decode_int4(b)); break;
    case oid::float4: out.type = Type::float32; out.f = pg::decode_float4(b); break;
    case oid::float8: out.type = Type::float64; out.f = pg::decode_float8(b); break;
    case oid::numeric: out.type = Type::numeric; out.set_owned(pg::decode_numeric(b)); break;
    case oid::bytea: out.type = Type::bytes; out.view = b; break;
    case oid::date: out.type = Type::date; out.i = pg::decode_date(b).time_since_epoch().count(); break;
    case oid::timestamp:
    case oid::timestamptz:
        out.type = t == oid::timestamp ? Type::timestamp : Type::timestamptz;
        out.i = pg::decode_timestamp(b).time_since_epoch().count();
        break;
    case oid::uuid: out.type = Type::uuid; out.uuid = Uuid(pg::decode_uuid(b)); break;
    case oid::json: out.type = Type::json; out.view = b; break;
    case oid::jsonb:
        if (b.empty() || b[0] != 1) throw pg::CodecError("pg: unsupported jsonb version");
        out.type = Type::json;
        out.view = b.substr(1);
        break;
    default:
        if (pg::element_of(t) != 0) {
            pg::ArrayView a = pg::decode_array(b);
            out.type = Type::array;
            out.elems.resize(a.items.size());
            Want inner{want.type == Type::array ? want.elem : Type::null, Type::null};
            for (std::size_t k = 0; k < a.items.size(); ++k) {
                if (a.items[k]) read_binary(a.element, *a.items[k], inner, out.elems[k]);
                else out.elems[k].type = Type::null;
            }
            return;
        }
        // Enums, and text-like types, are their text in binary too; other types cannot be decoded.
        out.type = Type::text;
        out.view = b;
        if (!text_like(t) && want.type != Type::text) {
            out.problem = "PostgreSQL type " + pg::type_name(t) +
                          " has no binary decoding in corio (cast it to text in the query)";
        }
        return;
    }
    adapt(out, want);
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A text-format value (exec_script's results) into `out`.
void read_text(Oid t, std::string_view s, Want want, Cell& out) {
    out.type = Type::text;
    out.view = s;
    Type k = scalar_type(t);
    switch (k) {
    case Type::boolean:
        out.type = Type::boolean;
        out.b = s == "t";
        break;
    case Type::int16:
    case Type::int32:
    case Type::int64:
        if (parse_int(s, out.i)) out.type = k;
        break;
    case Type::float32:
    case Type::float64:
        if (parse_double(s, out.f)) out.type = k;
        break;
    case Type::numeric:
    case Type::json: out.type = k; break;
    case Type::uuid:
        if (auto u = Uuid::try_parse(s)) {
            out.type = Type::uuid;
            out.uuid = *u;
        }
        break;
    case Type::bytes:
        if (s.size() >= 2 && s[0] == '\\' && s[1] == 'x' && s.size() % 2 == 0) {
            std::string bytes;
            bool ok = true;
            for (std::size_t k2 = 2; k2 < s.size(); k2 += 2) {
                int hi = hex(s[k2]), lo = hex(s[k2 + 1]);
                if (hi < 0 || lo < 0) ok = false;
                bytes.push_back(static_cast<char>(hi * 16 + lo));
            }
            if (ok) {
                out.type = Type::bytes;
                out.set_owned(std::move(bytes));
            }
        }
        break;
    case Type::date: {
        int y = 0;
        unsigned m = 0, d = 0;
        if (s.size() == 10 && std::sscanf(std::string(s).c_str(), "%d-%u-%u", &y, &m, &d) == 3) {
            std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m), std::chrono::day(d)};
            if (ymd.ok()) {
                out.type = Type::date;
                out.i = std::chrono::sys_days(ymd).time_since_epoch().count();
            }
        }
        break;
    }
    default: break;
    }
    if (out.type == Type::text && want.type != Type::text && !text_like(t) && want.type != Type::json) {
        out.problem = "a " + pg::type_name(t) +
                      " value of a multi-statement script arrives as text (run the query on its own)";
        return;
    }
    adapt(out, want);
}

class PgResultSet final : public detail::ResultSet {
public:
    explicit PgResultSet(pg::PgResult r) : m_res(std::move(r)) {}

    std::size_t row_count() const noexcept override { return static_cast<std::size_t>(m_res.rows()); }
    std::size_t column_count() const noexcept override { return static_cast<std::size_t>(m_res.columns()); }
    std::string_view column_name(std::size_t col) const noexcept override {
        return m_res.column_name(static_cast<int>(col));
    }
    std::string column_type(std::size_t, std::size_t col) const override {
        return pg::type_name(m_res.column_type(static_cast<int>(col)));
    }
    bool is_null(std::size_t row, std::size_t col) const noexcept override {
        return m_res.is_null(static_cast<int>(row), static_cast<int>(col));
    }
    void read(std::size_t row, std::size_t col, detail::Want want, detail::Cell& out) const override {
        int r = static_cast<int>(row), c = static_cast<int>(col);
        Oid t = m_res.column_type(c);
        std::string_view v = m_res.value(r, c);
        try {
            if (m_res.text_format(c)) read_text(t, v, want, out);
            else read_binary(t, v, want, out);
        } catch (const pg::CodecError& e) {
            out.type = Type::null;
            out.problem = e.what();
        }
    }

private:
    pg::PgResult m_res;
};

// ---- COPY ----------------------------------------------------------------------------------------------------

class PgCopyInDriver final : public CopyIn {
public:
    explicit PgCopyInDriver(pg::PgCopyIn c) : m_copy(std::move(c)) {}
    Task<void> write(std::string_view data) override { return m_copy.write(data); }
    Task<std::uint64_t> finish() override { return m_copy.finish(); }
    Task<void> abort(std::string reason) override { co_await m_copy.abort(reason); }

private:
    pg::PgCopyIn m_copy;
};

class PgCopyOutDriver final : public CopyOut {
public:
    explicit PgCopyOutDriver(pg::PgCopyOut c) : m_copy(std::move(c)) {}
    Task<std::optional<std::string_view>> next() override { return m_copy.next(); }
    std::uint64_t rows() const noexcept override { return m_copy.rows(); }

private:
    pg::PgCopyOut m_copy;
};

// ---- the connection ----------------------------------------------------------------------------------------

/// A pg::Params for one statement, from a per-thread free list: its five arrays and its buffer keep their
/// capacity from statement to statement (a fresh one cost five allocations and five frees per query).
class RecycledParams {
public:
    RecycledParams() {
        if (!spares().empty()) {
            m_p = std::move(spares().back());
            spares().pop_back();
        } else {
            m_p = std::make_unique<pg::Params>();
        }
    }
    RecycledParams(const RecycledParams&) = delete;
    RecycledParams& operator=(const RecycledParams&) = delete;
    ~RecycledParams() {
        m_p->clear();
        if (spares().size() < k_kept && !m_p->large()) {
            try {
                spares().push_back(std::move(m_p));
            } catch (...) {  // not kept: freed with m_p
            }
        }
    }
    pg::Params& operator*() noexcept { return *m_p; }

private:
    static constexpr std::size_t k_kept = 64;  // statements in flight at once on one thread, beyond which they are freed
    static std::vector<std::unique_ptr<pg::Params>>& spares() {
        static thread_local std::vector<std::unique_ptr<pg::Params>> list;
        return list;
    }
    std::unique_ptr<pg::Params> m_p;
};

class PgDriverConnection final : public Connection {
public:
    explicit PgDriverConnection(std::unique_ptr<pg::PgConnection> c) : m_conn(std::move(c)) {}

    Task<Result> exec(std::string sql, std::vector<detail::Param> params) override {
        pg::PgResult r;
        if (params.empty() && several_statements(sql)) {
            r = co_await m_conn->exec_script(sql);
        } else {
            RecycledParams p;  // lives in this frame until exec completes
            for (const auto& param : params) add_param(*p, param);
            r = co_await m_conn->exec(sql, *p);
        }
        Result out;
        out.affected = r.affected();
        out.rows = std::make_shared<PgResultSet>(std::move(r));
        co_return out;
    }

    Task<void> control(std::string sql) override {
        (void)co_await corio::shield(run_once(std::move(sql)));
    }

    Task<void> ping() override { (void)co_await m_conn->exec_once(""); }

    Task<void> close() override {
        m_conn->close();
        co_return;
    }

    bool is_broken() const noexcept override { return m_conn->is_broken(); }
    bool in_transaction() const noexcept override {
        auto s = m_conn->transaction_status();
        return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
    }

    Task<void> listen(std::string channel) override { co_await m_conn->listen(channel); }
    Task<void> unlisten(std::string channel) override { co_await m_conn->unlisten(channel); }
    Task<Notification> next_notification() override {
        pg::Notification n = co_await m_conn->next_notification();
        co_return Notification{std::move(n.channel), std::move(n.payload), n.backend_pid};
    }
    void discard_notifications() noexcept override { m_conn->discard_notifications(); }
    bool may_listen() const noexcept override { return m_conn->may_listen(); }

    Task<std::unique_ptr<CopyIn>> copy_in(std::string sql) override {
        pg::PgCopyIn c = co_await m_conn->copy_in(sql);
        co_return std::make_unique<PgCopyInDriver>(std::move(c));
    }
    Task<std::unique_ptr<CopyOut>> copy_out(std::string sql) override {
        pg::PgCopyOut c = co_await m_conn->copy_out(sql);
        co_return std::make_unique<PgCopyOutDriver>(std::move(c));
    }

private:
    // Owns the SQL for the shielded task (which may outlive the caller's frame only until it ends: shield
    // awaits it).
    Task<pg::PgResult> run_once(std::string sql) { co_return co_await m_conn->exec_once(sql); }

    std::unique_ptr<pg::PgConnection> m_conn;
};

}  // namespace

Task<std::unique_ptr<Connection>> connect_postgres(PgConfig config, PoolOptions options) {
    if (options.statement_timeout.count() > 0) {
        std::string setting = "-c statement_timeout=" + std::to_string(options.statement_timeout.count());
        bool merged = false;
        for (auto& [key, value] : config.extra) {
            if (key == "options") {
                value += " " + setting;
                merged = true;
            }
        }
        if (!merged) config.extra.emplace_back("options", setting);
    }
    pg::PgOptions po;
    po.statement_cache_size = options.statement_cache_size;
    po.pipeline = options.pipeline;
    po.connect_timeout = options.connect_timeout;
    auto conn = co_await pg::PgConnection::connect(std::move(config), po);
    co_return std::make_unique<PgDriverConnection>(std::move(conn));
}

}  // namespace corio::db::driver
