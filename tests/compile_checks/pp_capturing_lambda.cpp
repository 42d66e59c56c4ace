// Must not compile: a lambda with captures cannot run in a worker process (the worker finds the function in
// its own copy of the program; captured state is in the caller's memory).
#include <corio/corio.hpp>

corio::Task<int> call(corio::ProcessPool& pool, int base) {
    co_return co_await pool.submit([base](int x) { return base + x; }, 1);
}
