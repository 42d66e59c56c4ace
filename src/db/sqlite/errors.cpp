// SQLite result codes -> SQLSTATE. The primary code picks the class; SQLITE_ERROR (everything the SQL
// compiler rejects) is told apart by its message. Codes without a fitting condition get "HY000" (the
// SQL/CLI "general error"), which no PostgreSQL class claims: a plain DatabaseError.

#include "errors.hpp"

#include <sqlite3.h>

namespace corio::db::sqlite {

namespace {

bool contains(std::string_view s, std::string_view p) noexcept { return s.find(p) != std::string_view::npos; }

const char* sqlstate_of_message(std::string_view m) noexcept {
    if (contains(m, "syntax error") || contains(m, "incomplete input") || contains(m, "unrecognized token"))
        return "42601";
    if (m.starts_with("no such table")) return "42P01";
    if (m.starts_with("no such column")) return "42703";
    if (m.starts_with("no such function") || m.starts_with("wrong number of arguments")) return "42883";
    if (m.starts_with("no such index") || m.starts_with("no such view") || m.starts_with("no such trigger"))
        return "42704";
    if (m.starts_with("table ") && contains(m, "already exists")) return "42P07";
    if ((m.starts_with("index ") || m.starts_with("view ") || m.starts_with("trigger ")) &&
        contains(m, "already exists"))
        return "42P07";
    if (m.starts_with("ambiguous column name")) return "42702";
    if (contains(m, "no transaction is active")) return "25P01";
    if (m.starts_with("cannot start a transaction within a transaction")) return "25001";
    if (m.starts_with("no such savepoint")) return "3B001";
    if (m.starts_with("too many SQL variables")) return "54023";
    if (m.starts_with("integer overflow")) return "22003";
    if (m.starts_with("datatype mismatch")) return "42804";
    if (contains(m, "malformed JSON")) return "22032";  // invalid_json_text
    return "HY000";
}

/// "UNIQUE constraint failed: t.a, t.b" -> constraint "t.a, t.b", table "t", column "a" (the first).
void constraint_parts(std::string_view message, DatabaseErrorInfo& info) {
    std::size_t colon = message.find("constraint failed: ");
    if (colon == std::string_view::npos) return;
    std::string_view what = message.substr(colon + 19);
    info.constraint.assign(what);
    std::string_view first = what.substr(0, what.find(','));
    std::size_t dot = first.find('.');
    if (dot != std::string_view::npos && first.find(' ') == std::string_view::npos) {
        info.table.assign(first.substr(0, dot));
        info.column.assign(first.substr(dot + 1));
    }
}

}  // namespace

std::string code_name(int code) {
    switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE: return "SQLITE_CONSTRAINT_UNIQUE";
    case SQLITE_CONSTRAINT_PRIMARYKEY: return "SQLITE_CONSTRAINT_PRIMARYKEY";
    case SQLITE_CONSTRAINT_ROWID: return "SQLITE_CONSTRAINT_ROWID";
    case SQLITE_CONSTRAINT_NOTNULL: return "SQLITE_CONSTRAINT_NOTNULL";
    case SQLITE_CONSTRAINT_FOREIGNKEY: return "SQLITE_CONSTRAINT_FOREIGNKEY";
    case SQLITE_CONSTRAINT_CHECK: return "SQLITE_CONSTRAINT_CHECK";
    case SQLITE_CONSTRAINT_TRIGGER: return "SQLITE_CONSTRAINT_TRIGGER";
    case SQLITE_CONSTRAINT_DATATYPE: return "SQLITE_CONSTRAINT_DATATYPE";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_BUSY_SNAPSHOT: return "SQLITE_BUSY_SNAPSHOT";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_ABORT: return "SQLITE_ABORT";
    case SQLITE_ABORT_ROLLBACK: return "SQLITE_ABORT_ROLLBACK";
    default: break;
    }
    if ((code & 0xff) == SQLITE_IOERR) return "SQLITE_IOERR (extended code " + std::to_string(code) + ")";
    return "SQLite result code " + std::to_string(code);
}

bool breaks_connection(int code) noexcept {
    switch (code & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_MISUSE: return true;
    default: return false;
    }
}

DatabaseErrorInfo error_info(int code, std::string message, int offset, std::string_view sql) {
    DatabaseErrorInfo info;
    info.severity = "ERROR";
    info.detail = code_name(code);
    info.query.assign(sql);
    if (offset >= 0) info.position = offset + 1;
    const char* state = "HY000";
    switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID: state = "23505"; break;
    case SQLITE_CONSTRAINT_NOTNULL: state = "23502"; break;
    case SQLITE_CONSTRAINT_FOREIGNKEY: state = "23503"; break;
    case SQLITE_CONSTRAINT_CHECK: state = "23514"; break;
    case SQLITE_CONSTRAINT_DATATYPE: state = "42804"; break;
    case SQLITE_CONSTRAINT_TRIGGER: state = "P0001"; break;  // RAISE(ABORT, '…') in a trigger
    case SQLITE_BUSY_SNAPSHOT: state = "40001"; break;
    case SQLITE_ABORT_ROLLBACK: state = "40000"; break;
    default:
        switch (code & 0xff) {
        case SQLITE_CONSTRAINT: state = "23000"; break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_PROTOCOL: state = "55P03"; break;
        case SQLITE_ERROR: state = sqlstate_of_message(message); break;
        case SQLITE_READONLY: state = "25006"; break;
        case SQLITE_INTERRUPT: state = "57014"; break;
        case SQLITE_FULL: state = "53100"; break;
        case SQLITE_NOMEM: state = "53200"; break;
        case SQLITE_IOERR:
        case SQLITE_CANTOPEN: state = "58030"; break;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: state = "XX001"; break;
        case SQLITE_TOOBIG: state = "54000"; break;
        case SQLITE_MISMATCH: state = "42804"; break;
        case SQLITE_RANGE: state = "42P02"; break;
        case SQLITE_AUTH:
        case SQLITE_PERM: state = "42501"; break;
        case SQLITE_ABORT: state = "40000"; break;
        case SQLITE_MISUSE: state = "XX000"; break;
        default: break;
        }
    }
    info.sqlstate = state;
    if ((code & 0xff) == SQLITE_CONSTRAINT) constraint_parts(message, info);
    info.message = std::move(message);
    return info;
}

}  // namespace corio::db::sqlite
