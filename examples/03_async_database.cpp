// Seed: "Async Database" — a query awaits the database while the loop runs other tasks; SQLite, the embedded
// default, so the program needs no server (postgresql://user@host/db works the same).
//
//   engine = create_async_engine("postgresql+asyncpg://...")
//   async def get_user(user_id: str) -> User:
//       async with AsyncSession(engine) as session:
//           result = await session.execute(select(User).where(User.id == user_id))
//           return result.scalar_one()
#include <corio/corio.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

struct User {
    std::int64_t id;
    std::string name;
};

corio::Task<User> get_user(corio::db::Pool db, std::int64_t user_id) {
    auto row = co_await db.query_one("select id, name from users where id = $1", user_id);  // exactly one row
    co_return row.as<User>();
}

corio::Task<int> main_task(std::string url) {
    auto engine = co_await corio::db::connect(url);  // a pool of connections
    co_await engine.execute("create table users(id integer primary key, name text not null)");
    co_await engine.execute("insert into users(id, name) values ($1, $2), ($3, $4)", 1, "ada", 2, "grace");

    User user = co_await get_user(engine, 2);
    std::printf("user %lld: %s\n", static_cast<long long>(user.id), user.name.c_str());

    // Both lookups at once: neither waits for the other on the loop.
    auto [a, b] = co_await corio::gather(get_user(engine, 1), get_user(engine, 2));
    std::printf("together: %s and %s\n", a.name.c_str(), b.name.c_str());

    try {
        (void)co_await get_user(engine, 99);
    } catch (const corio::db::NoRowsError& e) {  // scalar_one() on nothing raises too
        std::printf("user 99: %s\n", e.what());
    }
    co_await engine.close();
    co_return 0;
}

int main() {
    char dir[] = "/tmp/corio-example-db-XXXXXX";
    if (!::mkdtemp(dir)) return 1;
    int rc = corio::run(main_task(std::string("sqlite:///") + dir + "/app.db"));
    std::filesystem::remove_all(dir);
    return rc;
}
