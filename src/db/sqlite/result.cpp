// SQLite values to cells: the storage class, read as the type the caller wants (text.hpp's conventions).

#include "result.hpp"

#include "text.hpp"

#include <cstdio>

namespace corio::db::sqlite {

void Result::describe(sqlite3_stmt* stmt) {
    int n = sqlite3_column_count(stmt);
    m_names.resize(static_cast<std::size_t>(n));
    m_decltypes.resize(static_cast<std::size_t>(n));
    for (int k = 0; k < n; ++k) {
        const char* name = sqlite3_column_name(stmt, k);
        const char* type = sqlite3_column_decltype(stmt, k);
        m_names[static_cast<std::size_t>(k)] = name ? name : "";
        m_decltypes[static_cast<std::size_t>(k)] = type ? type : "";
    }
}

void Result::add_row(sqlite3_stmt* stmt) {
    for (std::size_t k = 0; k < m_names.size(); ++k) {
        int col = static_cast<int>(k);
        Value v;
        v.storage = sqlite3_column_type(stmt, col);
        switch (v.storage) {
        case SQLITE_INTEGER: v.i = sqlite3_column_int64(stmt, col); break;
        case SQLITE_FLOAT: v.f = sqlite3_column_double(stmt, col); break;
        case SQLITE_TEXT:
        case SQLITE_BLOB: {
            const void* p = v.storage == SQLITE_TEXT ? static_cast<const void*>(sqlite3_column_text(stmt, col))
                                                     : sqlite3_column_blob(stmt, col);
            v.size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, col));
            v.offset = m_arena.size();
            if (v.size) m_arena.append(static_cast<const char*>(p), v.size);
            break;
        }
        default: break;
        }
        m_values.push_back(v);
    }
    ++m_rows;
}

namespace {
const char* storage_name(int storage) noexcept {
    switch (storage) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
    }
}

std::string real_text(double f) {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.17g", f);
    return std::string(buf, static_cast<std::size_t>(n));
}
}  // namespace

std::string Result::column_type(std::size_t row, std::size_t col) const {
    if (!m_decltypes[col].empty()) return m_decltypes[col];
    if (row < m_rows) return storage_name(at(row, col).storage);
    return "NULL";
}

void Result::read(std::size_t row, std::size_t col, detail::Want want, detail::Cell& out) const {
    const Value& v = at(row, col);
    switch (v.storage) {
    case SQLITE_INTEGER:
        out.type = Type::int64;
        out.i = v.i;
        if (want.type == Type::boolean) {
            if (v.i == 0 || v.i == 1) {
                out.type = Type::boolean;
                out.b = v.i == 1;
            } else {
                out.problem = "the integer " + std::to_string(v.i) + " is not a boolean (0 or 1)";
            }
        } else if (want.type == Type::numeric) {
            out.type = Type::numeric;
            out.set_owned(std::to_string(v.i));
        }
        return;
    case SQLITE_FLOAT:
        out.type = Type::float64;
        out.f = v.f;
        if (want.type == Type::numeric) {
            out.type = Type::numeric;
            out.set_owned(real_text(v.f));
        }
        return;
    case SQLITE_TEXT:
        if (want.type == Type::array) read_array(bytes(v), want.elem, out);
        else read_text(bytes(v), want.type, out);
        return;
    case SQLITE_BLOB:
        out.type = Type::bytes;
        out.view = bytes(v);
        if (want.type == Type::uuid) {
            if (v.size == 16) {
                std::array<std::uint8_t, 16> b{};
                for (std::size_t k = 0; k < 16; ++k) b[k] = static_cast<std::uint8_t>(out.view[k]);
                out.type = Type::uuid;
                out.uuid = Uuid(b);
            } else {
                out.problem = "a " + std::to_string(v.size) + "-byte BLOB is not a UUID (16 bytes)";
            }
        }
        return;
    default: out.type = Type::null; return;
    }
}

}  // namespace corio::db::sqlite
