#pragma once
// db::Transaction: BEGIN … COMMIT/ROLLBACK on one connection; nested transactions are savepoints.

#include <corio/db/connection.hpp>
#include <corio/db/detail/queries.hpp>
#include <corio/task.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace corio::db {

/// An open transaction (Pool::begin, Connection::begin) or savepoint (Transaction::begin). Its statements run
/// on its connection. It ends with commit() or rollback(); one destroyed while still open is rolled back
/// (a savepoint: before the connection's next statement; a transaction: before the connection is reused).
/// A nested transaction ends with its parent: after the parent's commit or rollback it is no longer active.
///
/// Cancellation: commit() and rollback() are not interrupted (the statement finishes, and the cancellation
/// is raised at the next await); a query inside is cancelled as Pool::query says.
/// Errors: db::Error when used after it ended; as Pool::query otherwise. A failed commit (a deferred
/// constraint, a serialization failure) raises the database's error and the transaction is over.
/// Thread safety: loop thread only.
///
///     auto tx = co_await db.begin();
///     co_await tx.execute("update accounts set balance = balance - $1 where id = $2", amount, from);
///     {
///         auto sp = co_await tx.begin();  // SAVEPOINT
///         co_await sp.execute("insert into audit(note) values ($1)", note);
///         co_await sp.commit();           // RELEASE SAVEPOINT
///     }
///     co_await tx.commit();
class Transaction : public detail::Queries<Transaction> {
public:
    Transaction() noexcept;
    Transaction(Transaction&&) noexcept;
    Transaction& operator=(Transaction&&) noexcept;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    /// Rolls back if still active (see the class comment), then gives back a connection it owns.
    ~Transaction();

    /// COMMIT (a savepoint: RELEASE SAVEPOINT). The transaction is over afterwards, even if it failed.
    [[nodiscard]] Task<void> commit();
    /// ROLLBACK (a savepoint: ROLLBACK TO SAVEPOINT, then RELEASE SAVEPOINT).
    [[nodiscard]] Task<void> rollback();
    /// A nested transaction: SAVEPOINT.
    [[nodiscard]] Task<Transaction> begin();
    /// COPY inside the transaction (a bulk load that commits or rolls back with it): as Connection::copy_in
    /// and copy_out. Errors: db::Error when the transaction is over; db::FeatureNotSupported on SQLite.
    ///
    ///     auto tx = co_await db.begin();
    ///     auto copy = co_await tx.copy_in("copy items(id, name) from stdin");
    ///     co_await copy.write("1\tfirst\n2\tsecond\n");
    ///     co_await copy.finish();
    ///     co_await tx.commit();
    [[nodiscard]] Task<CopyWriter> copy_in(std::string sql);
    [[nodiscard]] Task<CopyReader> copy_out(std::string sql);

    /// True until commit(), rollback(), or the end of the parent transaction.
    [[nodiscard]] bool active() const noexcept;
    /// 1 for a transaction, 2 for a savepoint inside it, and so on.
    [[nodiscard]] std::size_t depth() const noexcept { return m_level; }

private:
    friend class detail::Queries<Transaction>;
    friend class Connection;
    friend struct impl::Access;
    Transaction(std::shared_ptr<impl::PoolState> pool, impl::Slot* slot, std::size_t level,
                std::uint64_t serial) noexcept;
    Task<Rows> run(std::string sql, std::vector<detail::Param> params) const;
    /// commit() or rollback(); gives back a connection it owns, whatever the outcome.
    Task<void> end(bool commit);
    void abandon() noexcept;

    std::optional<Connection> m_owned;  // the connection, when this transaction took it from the pool
    std::shared_ptr<impl::PoolState> m_pool;
    impl::Slot* m_slot = nullptr;
    std::weak_ptr<void> m_alive;  // expired once m_slot is freed (the pool closed its connection)
    std::size_t m_level = 0;
    std::uint64_t m_serial = 0;
};

}  // namespace corio::db
