// Rows and Row: column lookup, and the messages of the conversions' errors.

#include <corio/db/detail/queries.hpp>
#include <corio/db/error.hpp>
#include <corio/db/row.hpp>

namespace corio::db {

namespace detail {

void throw_param_range(std::string_view cxx, std::string value) {
    throw TypeError("parameter of type " + std::string(cxx) + " cannot be sent: " + value +
                    " does not fit any SQL type of its kind");
}

std::string integer_name(bool is_signed, std::size_t bytes) {
    return std::string(is_signed ? "std::int" : "std::uint") + std::to_string(bytes * 8) + "_t";
}

bool is_integer(Type t) noexcept { return t == Type::int16 || t == Type::int32 || t == Type::int64; }

bool decode_json(const Cell& c, nlohmann::json& v, std::string& why) {
    switch (c.type) {
    case Type::json:
    case Type::text:
        try {
            v = nlohmann::json::parse(c.str());
        } catch (const nlohmann::json::exception& e) {
            why = std::string("the text is not JSON: ") + e.what();
            return false;
        }
        return true;
    case Type::boolean: v = c.b; return true;
    case Type::int16:
    case Type::int32:
    case Type::int64: v = c.i; return true;
    case Type::float32:
    case Type::float64: v = c.f; return true;
    default: return false;
    }
}

namespace {
std::string column_text(const ResultSet& rs, std::size_t row, std::size_t col) {
    std::string s = "column " + std::to_string(col);
    auto name = rs.column_name(col);
    if (!name.empty()) s += " \"" + std::string(name) + "\"";
    s += " (SQL type " + rs.column_type(row, col) + ")";
    return s;
}
}  // namespace

void throw_null(const ResultSet& rs, std::size_t row, std::size_t col, std::string_view cxx) {
    throw TypeError(column_text(rs, row, col) + " is NULL and cannot be read as " + std::string(cxx) +
                    ": read it as std::optional<" + std::string(cxx) + ">");
}

void throw_mismatch(const ResultSet& rs, std::size_t row, std::size_t col, std::string_view cxx, const Cell& cell,
                    const std::string& why) {
    std::string s = column_text(rs, row, col) + " cannot be read as " + std::string(cxx);
    if (!why.empty()) s += ": " + why;
    if (!cell.problem.empty()) s += ": " + cell.problem;
    if (why.empty() && cell.problem.empty()) s += ": the value is " + std::string(type_name(cell.type));
    throw TypeError(s);
}

void throw_arity(std::size_t columns, std::size_t fields, std::string_view cxx) {
    throw TypeError("the row has " + std::to_string(columns) + " columns but " + std::string(cxx) + " has " +
                    std::to_string(fields) + " fields");
}

Task<Rows> failed_rows(std::exception_ptr error) {
    std::rethrow_exception(error);
    co_return Rows();
}

namespace {
std::string shorten(const std::string& sql) { return sql.size() > 200 ? sql.substr(0, 200) + "..." : sql; }
}  // namespace

Task<Row> exactly_one(Task<Rows> rows, std::string sql) {
    Rows r = co_await std::move(rows);
    if (r.empty()) throw NoRowsError("the query returned no rows, expected exactly one: " + shorten(sql));
    if (r.size() > 1) {
        throw TooManyRowsError("the query returned " + std::to_string(r.size()) +
                               " rows, expected exactly one: " + shorten(sql));
    }
    co_return r[0];
}

Task<std::optional<Row>> at_most_one(Task<Rows> rows, std::string sql) {
    Rows r = co_await std::move(rows);
    if (r.size() > 1) {
        throw TooManyRowsError("the query returned " + std::to_string(r.size()) + " rows, expected at most one: " +
                               shorten(sql));
    }
    if (r.empty()) co_return std::nullopt;
    co_return r[0];
}

Task<std::uint64_t> affected(Task<Rows> rows) {
    Rows r = co_await std::move(rows);
    co_return r.rows_affected();
}

}  // namespace detail

// ---- Row ---------------------------------------------------------------------------------------------------

void Row::check(std::size_t index) const {
    if (!m_set) throw Error("corio::db::Row: an empty row has no columns");
    if (index >= m_set->column_count()) {
        throw Error("corio::db::Row: no column " + std::to_string(index) + " (the row has " +
                    std::to_string(m_set->column_count()) + ")");
    }
}

std::string_view Row::column_name(std::size_t index) const {
    check(index);
    return m_set->column_name(index);
}

std::vector<std::string> Row::column_names() const {
    std::vector<std::string> out;
    for (std::size_t k = 0; k < size(); ++k) out.emplace_back(m_set->column_name(k));
    return out;
}

std::size_t Row::index_of(std::string_view name) const {
    for (std::size_t k = 0; k < size(); ++k) {
        if (m_set->column_name(k) == name) return k;
    }
    std::string names;
    for (std::size_t k = 0; k < size(); ++k) names += (k ? ", " : "") + std::string(m_set->column_name(k));
    throw Error("corio::db::Row: no column named \"" + std::string(name) + "\" (columns: " + names + ")");
}

std::string Row::column_type(std::size_t index) const {
    check(index);
    return m_set->column_type(m_row, index);
}

bool Row::is_null(std::size_t index) const {
    check(index);
    return m_set->is_null(m_row, index);
}

// ---- Rows --------------------------------------------------------------------------------------------------

Rows::Rows() : m_set(std::make_shared<detail::EmptyResultSet>()) {}
Rows::Rows(std::shared_ptr<const detail::ResultSet> set, std::uint64_t affected)
    : m_set(set ? std::move(set) : std::make_shared<detail::EmptyResultSet>()), m_affected(affected) {}

Row Rows::at(std::size_t k) const {
    if (k >= size()) {
        throw Error("corio::db::Rows: no row " + std::to_string(k) + " (there are " + std::to_string(size()) + ")");
    }
    return (*this)[k];
}

std::vector<std::string> Rows::column_names() const {
    std::vector<std::string> out;
    for (std::size_t k = 0; k < m_set->column_count(); ++k) out.emplace_back(m_set->column_name(k));
    return out;
}

}  // namespace corio::db
