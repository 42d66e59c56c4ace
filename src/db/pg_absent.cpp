// Built only while src/db/pg/ has no sources (CMakeLists.txt): postgresql:// URLs fail clearly.

#include "driver.hpp"

#include <corio/db/error.hpp>

namespace corio::db::driver {

Task<std::unique_ptr<Connection>> connect_postgres(PgConfig, PoolOptions) {
    throw ConfigError("this build of corio has no PostgreSQL driver (src/db/pg/ was not compiled)");
    co_return nullptr;
}

}  // namespace corio::db::driver
