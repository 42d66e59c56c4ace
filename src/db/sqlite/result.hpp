#pragma once
// An SQLite statement's rows, copied out on the connection's thread and read on the loop's.

#include <corio/db/detail/value.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

namespace corio::db::sqlite {

/// Values in row-major order; text and blobs in one arena, addressed by offset.
class Result final : public detail::ResultSet {
public:
    struct Value {
        int storage = SQLITE_NULL;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
        std::int64_t i = 0;
        double f = 0;
        std::size_t offset = 0;  // text, blob: into m_arena
        std::size_t size = 0;
    };

    /// Takes the statement's column names and declared types (worker thread).
    void describe(sqlite3_stmt* stmt);
    /// Appends the current row of `stmt` (worker thread).
    void add_row(sqlite3_stmt* stmt);

    std::size_t row_count() const noexcept override { return m_rows; }
    std::size_t column_count() const noexcept override { return m_names.size(); }
    std::string_view column_name(std::size_t col) const noexcept override { return m_names[col]; }
    std::string column_type(std::size_t row, std::size_t col) const override;
    bool is_null(std::size_t row, std::size_t col) const noexcept override {
        return at(row, col).storage == SQLITE_NULL;
    }
    void read(std::size_t row, std::size_t col, detail::Want want, detail::Cell& out) const override;

private:
    const Value& at(std::size_t row, std::size_t col) const noexcept { return m_values[row * m_names.size() + col]; }
    std::string_view bytes(const Value& v) const noexcept { return std::string_view(m_arena).substr(v.offset, v.size); }

    std::vector<std::string> m_names;
    std::vector<std::string> m_decltypes;  // empty: an expression (no declared type)
    std::vector<Value> m_values;
    std::string m_arena;
    std::size_t m_rows = 0;
};

}  // namespace corio::db::sqlite
