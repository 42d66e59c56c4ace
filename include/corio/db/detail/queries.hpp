#pragma once
// The query methods Pool, Connection and Transaction share (query, query_one, query_opt, execute,
// query_as): each encodes its parameters once and hands the statement to Self::run. Not part of the public
// API; the methods are documented on db::Pool.

#include <corio/db/detail/codec.hpp>
#include <corio/db/row.hpp>
#include <corio/task.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corio::db::detail {

[[nodiscard]] Task<Rows> failed_rows(std::exception_ptr error);
[[nodiscard]] Task<Row> exactly_one(Task<Rows> rows, std::string sql);
[[nodiscard]] Task<std::optional<Row>> at_most_one(Task<Rows> rows, std::string sql);
[[nodiscard]] Task<std::uint64_t> affected(Task<Rows> rows);

template <class T>
[[nodiscard]] Task<std::vector<T>> all_as(Task<Rows> rows) {
    Rows r = co_await std::move(rows);
    co_return r.as<T>();
}

template <class Self>
class Queries {
public:
    /// Runs `sql` with `params` bound to $1, $2…; returns every row.
    template <class... P>
    [[nodiscard]] Task<Rows> query(std::string_view sql, const P&... params) const {
        std::vector<Param> encoded;
        try {
            encoded = encode_params(params...);
        } catch (...) {
            return failed_rows(std::current_exception());
        }
        return static_cast<const Self&>(*this).run(std::string(sql), std::move(encoded));
    }

    /// Exactly one row: db::NoRowsError when there is none, db::TooManyRowsError when there are more.
    template <class... P>
    [[nodiscard]] Task<Row> query_one(std::string_view sql, const P&... params) const {
        return exactly_one(query(sql, params...), std::string(sql));
    }

    /// The row, or std::nullopt when there is none; db::TooManyRowsError when there are more.
    template <class... P>
    [[nodiscard]] Task<std::optional<Row>> query_opt(std::string_view sql, const P&... params) const {
        return at_most_one(query(sql, params...), std::string(sql));
    }

    /// Runs a statement; returns the number of rows it inserted, updated or deleted.
    template <class... P>
    [[nodiscard]] Task<std::uint64_t> execute(std::string_view sql, const P&... params) const {
        return affected(query(sql, params...));
    }

    /// Every row as a T: a plain struct (fields filled from the columns in order) or a tuple.
    template <class T, class... P>
    [[nodiscard]] Task<std::vector<T>> query_as(std::string_view sql, const P&... params) const {
        return all_as<T>(query(sql, params...));
    }
};

}  // namespace corio::db::detail
