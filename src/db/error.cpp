// DatabaseError's message, and the SQLSTATE lookup that picks its subclass.

#include "errors_table.hpp"

#include <corio/db/error.hpp>

#include <algorithm>
#include <cstring>

namespace corio::db {

namespace {
constexpr std::size_t k_query_shown = 200;  // characters of the query quoted in what()

std::string describe(const DatabaseErrorInfo& i) {
    std::string s = i.message.empty() ? std::string("database error") : i.message;
    s += " (SQLSTATE " + (i.sqlstate.empty() ? std::string("?????") : i.sqlstate) + ")";
    if (!i.detail.empty()) s += "; detail: " + i.detail;
    if (!i.hint.empty()) s += "; hint: " + i.hint;
    if (!i.query.empty()) {
        s += "; query: ";
        if (i.query.size() > k_query_shown) s += i.query.substr(0, k_query_shown) + "...";
        else s += i.query;
    }
    return s;
}

const detail::ErrorFactory* find(std::string_view code) noexcept {
    if (code.size() != 5) return nullptr;
    const auto* begin = detail::k_error_factories;
    const auto* end = begin + detail::k_error_factory_count;
    const auto* it = std::lower_bound(begin, end, code, [](const detail::ErrorFactory& f, std::string_view c) {
        return std::string_view(f.sqlstate, 5) < c;
    });
    if (it != end && std::string_view(it->sqlstate, 5) == code) return it;
    return nullptr;
}
}  // namespace

DatabaseError::DatabaseError(DatabaseErrorInfo info) : Error(describe(info)), m_info(std::move(info)) {}

void throw_database_error(DatabaseErrorInfo info) {
    if (const auto* f = find(info.sqlstate)) f->raise(std::move(info));
    if (info.sqlstate.size() == 5) {
        if (const auto* f = find(info.sqlstate.substr(0, 2) + "000")) f->raise(std::move(info));
    }
    throw DatabaseError(std::move(info));
}

}  // namespace corio::db
