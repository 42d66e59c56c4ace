// Must not compile: a pointer into the caller's memory cannot reach a worker process. The test expects
// corio's message (check_travel), not some error deep inside the serializer.
#include <corio/corio.hpp>

int deref(const int* p) { return *p; }

corio::Task<int> call(corio::ProcessPool& pool, const int* p) { co_return co_await pool.submit(deref, p); }
