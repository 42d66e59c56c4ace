#pragma once
// db::Rows and db::Row: a query's result, read with get<T>(), as<T>() or by iterating.
//
//     for (const auto& row : co_await db.query("select id, name from users")) {
//         auto id = row.get<std::int64_t>(0);
//         auto name = row.get<std::optional<std::string>>("name");
//     }

#include <corio/db/detail/aggregate.hpp>
#include <corio/db/detail/codec.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio::db {

namespace detail {
template <class T>
concept TupleLike = requires { std::tuple_size<T>::value; };
[[noreturn]] void throw_arity(std::size_t columns, std::size_t fields, std::string_view cxx);
}  // namespace detail

/// One row of a result. Cheap to copy; keeps its result alive. Thread safety: loop thread only.
class Row {
public:
    Row() = default;
    Row(std::shared_ptr<const detail::ResultSet> set, std::size_t row) noexcept : m_set(std::move(set)), m_row(row) {}

    /// Number of columns.
    [[nodiscard]] std::size_t size() const noexcept { return m_set ? m_set->column_count() : 0; }
    /// The name of column `index` (db::Error when out of range).
    [[nodiscard]] std::string_view column_name(std::size_t index) const;
    /// Every column's name, in order.
    [[nodiscard]] std::vector<std::string> column_names() const;
    /// The index of the first column named `name` (db::Error when none is).
    [[nodiscard]] std::size_t index_of(std::string_view name) const;
    /// The SQL type of a column ("int8", "TEXT"...), as TypeError messages show it.
    [[nodiscard]] std::string column_type(std::size_t index) const;

    [[nodiscard]] bool is_null(std::size_t index) const;
    [[nodiscard]] bool is_null(std::string_view name) const { return is_null(index_of(name)); }

    /// The value of column `index` as a T (see types.hpp for the types). Errors: db::TypeError when the
    /// value does not fit T, or is NULL and T is not std::optional; db::Error for an index out of range.
    template <class T>
    [[nodiscard]] T get(std::size_t index) const {
        check(index);
        return detail::read_value<T>(*m_set, m_row, index);
    }
    /// The value of the column named `name` as a T.
    template <class T>
    [[nodiscard]] T get(std::string_view name) const {
        return get<T>(index_of(name));
    }

    /// The whole row as a tuple (std::tuple<std::int64_t, std::string>) or a plain struct (an aggregate of
    /// up to 16 fields, default-constructible), column k into element or field k. Errors: db::TypeError,
    /// also when the number of columns differs from the number of fields.
    template <class T>
    [[nodiscard]] T as() const {
        if constexpr (detail::TupleLike<T>) {
            constexpr std::size_t n = std::tuple_size_v<T>;
            if (size() != n) detail::throw_arity(size(), n, "std::tuple");
            return [&]<std::size_t... I>(std::index_sequence<I...>) {
                return T{get<std::tuple_element_t<I, T>>(I)...};
            }(std::make_index_sequence<n>{});
        } else {
            static_assert(detail::Aggregate<T>,
                          "Row::as<T>: T must be a tuple or an aggregate of at most 16 fields");
            constexpr std::size_t n = detail::field_count<T>();
            if (size() != n) detail::throw_arity(size(), n, "the struct");
            T out{};
            detail::for_each_field(out, [&](auto& field, std::size_t k) {
                field = get<std::remove_cvref_t<decltype(field)>>(k);
            });
            return out;
        }
    }

private:
    void check(std::size_t index) const;
    std::shared_ptr<const detail::ResultSet> m_set;
    std::size_t m_row = 0;
};

/// The rows a query returned (possibly none), and how many rows it affected.
class Rows {
public:
    class iterator {
    public:
        using iterator_category = std::random_access_iterator_tag;
        using value_type = Row;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Row;

        iterator() = default;
        iterator(const Rows* rows, std::size_t k) noexcept : m_rows(rows), m_k(k) {}
        Row operator*() const { return (*m_rows)[m_k]; }
        iterator& operator++() noexcept { return ++m_k, *this; }
        iterator operator++(int) noexcept { return {m_rows, m_k++}; }
        iterator& operator--() noexcept { return --m_k, *this; }
        iterator operator--(int) noexcept { return {m_rows, m_k--}; }
        iterator& operator+=(difference_type d) noexcept { return m_k += static_cast<std::size_t>(d), *this; }
        iterator& operator-=(difference_type d) noexcept { return m_k -= static_cast<std::size_t>(d), *this; }
        friend iterator operator+(iterator i, difference_type d) noexcept { return i += d; }
        friend iterator operator+(difference_type d, iterator i) noexcept { return i += d; }
        friend iterator operator-(iterator i, difference_type d) noexcept { return i -= d; }
        friend difference_type operator-(const iterator& a, const iterator& b) noexcept {
            return static_cast<difference_type>(a.m_k) - static_cast<difference_type>(b.m_k);
        }
        Row operator[](difference_type d) const { return (*m_rows)[m_k + static_cast<std::size_t>(d)]; }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.m_k == b.m_k; }
        friend auto operator<=>(const iterator& a, const iterator& b) noexcept { return a.m_k <=> b.m_k; }

    private:
        const Rows* m_rows = nullptr;
        std::size_t m_k = 0;
    };

    Rows();
    Rows(std::shared_ptr<const detail::ResultSet> set, std::uint64_t affected);

    [[nodiscard]] std::size_t size() const noexcept { return m_set->row_count(); }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    /// Row k (unchecked: use at() to check).
    [[nodiscard]] Row operator[](std::size_t k) const noexcept { return Row(m_set, k); }
    /// Row k; db::Error when out of range.
    [[nodiscard]] Row at(std::size_t k) const;
    [[nodiscard]] iterator begin() const noexcept { return {this, 0}; }
    [[nodiscard]] iterator end() const noexcept { return {this, size()}; }
    /// The columns' names (also when there are no rows).
    [[nodiscard]] std::vector<std::string> column_names() const;
    /// Rows inserted, updated or deleted by the statement (for a SELECT: rows returned). For several statements
    /// in one text, the last one's count (as PostgreSQL reports it), on both drivers.
    [[nodiscard]] std::uint64_t rows_affected() const noexcept { return m_affected; }

    /// Every row as a T (see Row::as).
    template <class T>
    [[nodiscard]] std::vector<T> as() const {
        std::vector<T> out;
        out.reserve(size());
        for (std::size_t k = 0; k < size(); ++k) out.push_back((*this)[k].as<T>());
        return out;
    }

private:
    std::shared_ptr<const detail::ResultSet> m_set;
    std::uint64_t m_affected = 0;
};

}  // namespace corio::db
