// Must not compile: a result type with no serializer (no serialize() member, no corio::Serializer
// specialization) cannot come back from a worker process.
#include <corio/corio.hpp>

struct Handle {
    int fd;
    Handle() = default;
    Handle(const Handle&) = delete;
    Handle(Handle&&) = default;
};

Handle make() { return Handle{}; }

corio::Task<void> call(corio::ProcessPool& pool) { (void)co_await pool.submit(make); }
