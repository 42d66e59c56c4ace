#pragma once
// The driver-neutral forms of values: a parameter encoded once (Param), a value read back (Cell), and the
// interface a driver's result set offers the generic layer (ResultSet). Not part of the public API.
//
// Conventions shared by Param and Cell:
//   boolean                b
//   int16/int32/int64      i
//   float32/float64        f
//   numeric, text, json    the text (json: serialized)
//   bytes                  the raw bytes, in a string
//   date                   i = days since 1970-01-01
//   timestamp              i = microseconds since 1970-01-01 00:00:00 (wall clock)
//   timestamptz            i = microseconds since 1970-01-01 00:00:00 UTC
//   uuid                   uuid
//   array                  elems, each null or of type `elem`

#include <corio/db/types.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace corio::db::detail {

/// One query parameter, encoded from its C++ value before the query runs.
struct Param {
    Type type = Type::null;
    Type elem = Type::null;  // arrays: the elements' type
    bool b = false;
    std::int64_t i = 0;
    double f = 0;
    std::string text;
    Uuid uuid{};
    std::vector<Param> elems;
};

/// What a reader asks for: a scalar type, or an array of `elem`.
struct Want {
    Type type = Type::null;
    Type elem = Type::null;
};

/// One value as a driver hands it over. Its type is the driver's best match for what was wanted; the
/// generic layer converts it to the C++ type or raises TypeError.
struct Cell {
    Type type = Type::null;
    bool b = false;
    std::int64_t i = 0;
    double f = 0;
    Uuid uuid{};
    std::string_view view;  // text, numeric, json, bytes: into the result set (valid while it lives)...
    std::string owned;      // ...or owned here, when is_owned
    bool is_owned = false;
    std::vector<Cell> elems;
    std::string problem;  // why the driver could not produce the wanted type ("not an ISO-8601 date")

    [[nodiscard]] std::string_view str() const noexcept { return is_owned ? std::string_view(owned) : view; }
    void set_owned(std::string s) {
        owned = std::move(s);
        is_owned = true;
    }
};

/// A query's rows as its driver keeps them, read through this interface (the per-driver value accessor).
/// Immutable once made; read on the loop thread.
class ResultSet {
public:
    virtual ~ResultSet() = default;
    [[nodiscard]] virtual std::size_t row_count() const noexcept = 0;
    [[nodiscard]] virtual std::size_t column_count() const noexcept = 0;
    [[nodiscard]] virtual std::string_view column_name(std::size_t col) const noexcept = 0;
    /// The column's SQL type as the database names it ("int4", "timestamptz"; SQLite: the declared type,
    /// else the storage class of the value at `row`).
    [[nodiscard]] virtual std::string column_type(std::size_t row, std::size_t col) const = 0;
    [[nodiscard]] virtual bool is_null(std::size_t row, std::size_t col) const noexcept = 0;
    /// Fills `out` with the value at (row, col) (not NULL), as close to `want` as the driver can.
    virtual void read(std::size_t row, std::size_t col, Want want, Cell& out) const = 0;
};

/// The result set of a statement that returns no rows.
class EmptyResultSet final : public ResultSet {
public:
    std::size_t row_count() const noexcept override { return 0; }
    std::size_t column_count() const noexcept override { return 0; }
    std::string_view column_name(std::size_t) const noexcept override { return {}; }
    std::string column_type(std::size_t, std::size_t) const override { return {}; }
    bool is_null(std::size_t, std::size_t) const noexcept override { return true; }
    void read(std::size_t, std::size_t, Want, Cell&) const override {}
};

}  // namespace corio::db::detail
