#pragma once
// The SQLSTATE -> exception table (generated into errors_generated.cpp by tools/gen_db_errors.py).

#include <corio/db/error.hpp>

#include <cstddef>

namespace corio::db::detail {

struct ErrorFactory {
    char sqlstate[6];
    void (*raise)(DatabaseErrorInfo&&);  // throws
};

extern const ErrorFactory k_error_factories[];  // sorted by sqlstate
extern const std::size_t k_error_factory_count;

}  // namespace corio::db::detail
