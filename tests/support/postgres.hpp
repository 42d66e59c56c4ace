#pragma once
// A private PostgreSQL cluster for the database tests: initdb into a temporary directory, the server started
// directly (no pg_ctl: the test owns the postmaster's pid) on 127.0.0.1 and a free port, with its Unix socket
// in the same directory, and stopped by pid. Trust authentication for everyone except one password user
// (scram-sha-256 over TCP). fsync and synchronous_commit are off: a test cluster need not survive a crash.
//
// PostgreSQL refuses to run as root: when the tests do, initdb and the server run as the `postgres` user (else
// `nobody`), switched to in the forked child before exec. The SQL helper uses a blocking libpq connection:
// call it from test setup, never from a task on the loop.

#include <libpq-fe.h>

#include "ports.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace corio_test {

/// The directory of PostgreSQL's server binaries (initdb, postgres): $CORIO_PG_BIN, else the newest
/// /usr/lib/postgresql/<version>/bin; empty when there is none.
inline std::string postgres_bin_dir() {
    namespace fs = std::filesystem;
    if (const char* env = std::getenv("CORIO_PG_BIN"); env && *env) return env;
    std::string best;
    int best_version = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        std::string name = e.path().filename().string();
        int v = std::atoi(name.c_str());
        std::string bin = e.path().string() + "/bin";
        if (v > best_version && ::access((bin + "/postgres").c_str(), X_OK) == 0 &&
            ::access((bin + "/initdb").c_str(), X_OK) == 0) {
            best_version = v;
            best = bin;
        }
    }
    return best;
}

/// How a cluster is set up.
struct PostgresOptions {
    /// A certificate and its key (PEM files) to serve TLS with (ssl = on); empty: no TLS.
    std::string tls_cert{};
    std::string tls_key{};
};

class Postgres {
public:
    /// The password user (scram-sha-256 over TCP) and its password.
    static constexpr const char* k_password_user = "corio_pw";
    static constexpr const char* k_password = "s3cret pass";
    static constexpr const char* k_superuser = "postgres";

    /// Creates and starts the cluster; available() is false when PostgreSQL is not installed.
    /// Errors: std::runtime_error when initdb or the server fails (with its log).
    explicit Postgres(PostgresOptions options = {}) : m_options(std::move(options)) {
        m_bin = postgres_bin_dir();
        if (m_bin.empty()) return;
        if (::geteuid() == 0) pick_user();
        char tmpl[] = "/tmp/corio_pg_XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        m_dir = tmpl;
        if (m_uid >= 0 && ::chown(m_dir.c_str(), static_cast<uid_t>(m_uid), static_cast<gid_t>(m_gid)) != 0)
            throw std::runtime_error("cannot chown " + m_dir);
        m_port = free_port();
        initdb();
        start();
        sql(std::string("create role ") + k_password_user + " login password '" + k_password + "'");
    }
    ~Postgres() {
        try {
            stop();
        } catch (...) {
        }
        if (!m_dir.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(m_dir, ignored);
        }
    }
    Postgres(const Postgres&) = delete;
    Postgres& operator=(const Postgres&) = delete;

    [[nodiscard]] bool available() const { return !m_bin.empty(); }
    [[nodiscard]] bool running() const { return m_pid > 0; }
    [[nodiscard]] std::uint16_t port() const { return m_port; }
    [[nodiscard]] std::string host() const { return "127.0.0.1"; }
    /// The directory of the server's Unix socket (.s.PGSQL.<port>).
    [[nodiscard]] const std::string& socket_dir() const { return m_dir; }
    [[nodiscard]] pid_t pid() const { return m_pid; }
    /// The server's log so far.
    [[nodiscard]] std::string log() const {
        std::ifstream in(m_dir + "/server.log");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    /// Starts the server (after stop()); returns when it accepts connections.
    void start() {
        launch();
        wait_ready();
    }

    /// Starts the server process without waiting for it (fast: a fork). Call it on a thread that outlives the
    /// server, the main thread: the server gets SIGQUIT when the thread that started it ends (PDEATHSIG
    /// follows the forking thread), so never on a thread pool's thread.
    void launch() {
        if (m_pid > 0) return;
        std::string port = std::to_string(m_port);
        std::vector<std::string> args = {m_bin + "/postgres", "-D", m_dir + "/data", "-p", port,
                                         "-c", "listen_addresses=127.0.0.1",
                                         "-c", "unix_socket_directories=" + m_dir,
                                         "-c", "fsync=off", "-c", "synchronous_commit=off",
                                         "-c", "full_page_writes=off", "-c", "max_connections=200",
                                         "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning",
                                         "-c", "log_min_error_statement=panic"};
        if (!m_options.tls_cert.empty()) {
            for (const char* a : {"-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"})
                args.emplace_back(a);
        }
        m_pid = spawn(args, m_dir + "/server.log", true);
    }

    /// Waits until the launched server accepts connections (blocking: any thread, never the loop's).
    /// Errors: std::runtime_error when it exits or is not ready within 30 s.
    void wait_ready() {
        if (m_pid <= 0) throw std::runtime_error("wait_ready: the server was not launched");
        std::string port = std::to_string(m_port);
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        std::string info = "host=" + m_dir + " port=" + port + " user=postgres dbname=postgres";
        while (PQping(info.c_str()) != PQPING_OK) {
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = -1;
                throw std::runtime_error("postgres exited at start: " + log());
            }
            if (std::chrono::steady_clock::now() > until) throw std::runtime_error("postgres did not start in 30 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    /// Stops the server (fast shutdown: sessions are terminated, SQLSTATE 57P01) and waits for it to exit.
    void stop() {
        if (m_pid <= 0) return;
        ::kill(m_pid, SIGINT);
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        int status = 0;
        while (::waitpid(m_pid, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > until) {
                ::kill(m_pid, SIGKILL);
                ::waitpid(m_pid, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        m_pid = -1;
    }

    /// stop() then start(). On a task's loop, run stop() and wait_ready() on the thread pool and launch() on
    /// the loop's thread (see launch()).
    void restart() {
        stop();
        start();
    }

    /// Runs `query` as the superuser over the Unix socket (blocking: setup only, never on the loop) and
    /// returns the first column of the first row as text ("" when none). Errors: std::runtime_error.
    std::string sql(const std::string& query, const std::string& database = "postgres") const {
        std::string info = "host=" + m_dir + " port=" + std::to_string(m_port) + " user=postgres dbname=" + database;
        std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(info.c_str()), &PQfinish);
        if (PQstatus(conn.get()) != CONNECTION_OK)
            throw std::runtime_error(std::string("Postgres::sql: cannot connect: ") + PQerrorMessage(conn.get()));
        std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn.get(), query.c_str()), &PQclear);
        auto st = PQresultStatus(res.get());
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            throw std::runtime_error("Postgres::sql: " + query + ": " + PQresultErrorMessage(res.get()));
        if (st == PGRES_TUPLES_OK && PQntuples(res.get()) > 0 && PQnfields(res.get()) > 0)
            return PQgetvalue(res.get(), 0, 0);
        return {};
    }

private:
    void pick_user() {
        for (const char* name : {"postgres", "nobody"}) {
            if (passwd* pw = ::getpwnam(name)) {
                m_uid = static_cast<int>(pw->pw_uid);
                m_gid = static_cast<int>(pw->pw_gid);
                return;
            }
        }
        throw std::runtime_error("running as root and neither user postgres nor nobody exists");
    }

    void initdb() {
        std::vector<std::string> args = {m_bin + "/initdb", "-D", m_dir + "/data", "-U", k_superuser,
                                         "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"};
        pid_t pid = spawn(args, m_dir + "/initdb.log", false);
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::ifstream in(m_dir + "/initdb.log");
            throw std::runtime_error("initdb failed: " + std::string(std::istreambuf_iterator<char>(in), {}));
        }
        std::ofstream hba(m_dir + "/data/pg_hba.conf", std::ios::trunc);
        hba << "local all all trust\n"
            << "host all " << k_password_user << " 127.0.0.1/32 scram-sha-256\n"
            << "host all " << k_password_user << " ::1/128 scram-sha-256\n"
            << "host all all 127.0.0.1/32 trust\n"
            << "host all all ::1/128 trust\n";
        if (!m_options.tls_cert.empty()) {  // the server wants its key private to its own user
            copy_private(m_options.tls_cert, m_dir + "/data/server.crt");
            copy_private(m_options.tls_key, m_dir + "/data/server.key");
        }
    }

    void copy_private(const std::string& from, const std::string& to) const {
        std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
        if (::chmod(to.c_str(), 0600) != 0 ||
            (m_uid >= 0 && ::chown(to.c_str(), static_cast<uid_t>(m_uid), static_cast<gid_t>(m_gid)) != 0))
            throw std::runtime_error("cannot make " + to + " the server's own");
    }

    /// fork + exec with stdout/stderr to `log`, as the unprivileged user when running as root. Everything the
    /// child needs is prepared before fork (only async-signal-safe calls after it: the tests have threads).
    pid_t spawn(const std::vector<std::string>& args, const std::string& log, bool append) const {
        std::vector<char*> argv;
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
        if (out < 0) throw std::runtime_error("cannot open " + log);
        if (m_uid >= 0 && ::fchown(out, static_cast<uid_t>(m_uid), static_cast<gid_t>(m_gid)) != 0) {
            ::close(out);
            throw std::runtime_error("cannot chown " + log);
        }
        int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        pid_t pid = ::fork();
        if (pid < 0) {
            ::close(out);
            ::close(devnull);
            throw std::runtime_error("fork failed");
        }
        if (pid == 0) {
            ::dup2(devnull, 0);
            ::dup2(out, 1);
            ::dup2(out, 2);
            if (m_uid >= 0) {
                gid_t gid = static_cast<gid_t>(m_gid);
                if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(static_cast<uid_t>(m_uid)) != 0)
                    ::_exit(126);
            }
            // A test that dies (a crash, a ctest timeout) takes its server with it (set after setuid, which
            // clears it); the postmaster's immediate shutdown ends its backends.
            ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
            ::execve(argv[0], argv.data(), environ);
            ::_exit(127);
        }
        ::close(out);
        ::close(devnull);
        return pid;
    }

    PostgresOptions m_options;
    std::string m_bin;
    std::string m_dir;
    std::uint16_t m_port = 0;
    pid_t m_pid = -1;
    int m_uid = -1;  // the user the server runs as (when the tests run as root)
    int m_gid = -1;
};

/// The cluster shared by a test binary's tests: started on first use, stopped when the program exits.
inline Postgres& shared_postgres() {
    static Postgres pg;
    return pg;
}

}  // namespace corio_test
