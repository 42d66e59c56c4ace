#pragma once
// A private nginx for the HTTP tests: its own prefix directory, loopback ports, one worker, started with
// posix_spawn and stopped by pid. Serves a JSON file, a large file, a chunked (sub_filter) response, gzip,
// a redirect chain and loop, a keep-alive-limited server, HTTPS with test-made certificates, and a forward
// proxy for plain http.

#include "ports.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

extern char** environ;

namespace corio_test {

/// Where nginx is, or empty.
inline std::string nginx_binary() {
    for (const char* p : {"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"})
        if (::access(p, X_OK) == 0) return p;
    return {};
}

/// The 200-byte JSON document nginx serves at /json (and benchmarks fetch).
inline std::string json_200() {
    std::string s = R"({"id":12345,"name":"corio","tags":["async","io","http"],"ok":true,"pad":")";
    while (s.size() < 198) s += 'x';
    return s + "\"}";
}

struct NginxOptions {
    /// HTTPS on a second port with these files (PEM); empty: no HTTPS.
    std::string tls_cert{};
    std::string tls_key{};
    /// Size of /large.bin.
    std::size_t large_size = 8 << 20;
    int worker_connections = 4096;
};

/// nginx running on 127.0.0.1. port(): the main server; limited_port(): keepalive_requests 3,
/// keepalive_timeout 1s; tls_port(): HTTPS (when configured); proxy_port(): a forward proxy for http://.
class Nginx {
public:
    explicit Nginx(NginxOptions options = {}) : m_options(std::move(options)) {
        m_bin = nginx_binary();
        if (m_bin.empty()) return;
        char tmpl[] = "/tmp/corio_nginx_XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        m_dir = tmpl;
        std::filesystem::create_directories(m_dir + "/html");
        std::filesystem::create_directories(m_dir + "/logs");
        write(m_dir + "/html/json", json_200());
        std::string text;
        for (int i = 0; i < 2000; ++i) text += "line " + std::to_string(i) + " of a compressible text file\n";
        write(m_dir + "/html/text.txt", text);
        write(m_dir + "/html/chunked.txt", "chunked body: MARK and the rest of it\n" + text);
        std::string large(m_options.large_size, '\0');
        for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
        write(m_dir + "/html/large.bin", large);

        m_port = free_port();
        m_limited = free_port();
        m_proxy = free_port();
        if (!m_options.tls_cert.empty()) m_tls = free_port();
        write_config();
        start();
    }
    ~Nginx() { stop(); }
    Nginx(const Nginx&) = delete;
    Nginx& operator=(const Nginx&) = delete;

    [[nodiscard]] bool available() const { return m_pid > 0; }
    [[nodiscard]] std::uint16_t port() const { return m_port; }
    [[nodiscard]] std::uint16_t limited_port() const { return m_limited; }
    [[nodiscard]] std::uint16_t tls_port() const { return m_tls; }
    [[nodiscard]] std::uint16_t proxy_port() const { return m_proxy; }
    [[nodiscard]] std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(m_port) + path;
    }
    [[nodiscard]] const std::string& dir() const { return m_dir; }
    [[nodiscard]] std::string file(const std::string& name) const {
        std::ifstream in(m_dir + "/html/" + name, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    void stop() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_pid = -1;
        }
        if (!m_dir.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(m_dir, ignored);
            m_dir.clear();
        }
    }

private:
    static void write(const std::string& path, const std::string& data) {
        std::ofstream out(path, std::ios::binary);
        out << data;
    }

    void write_config() {
        std::string c;
        c += "worker_processes 1;\nuser root;\npid " + m_dir + "/nginx.pid;\nerror_log " + m_dir + "/logs/error.log;\n";
        c += "events { worker_connections " + std::to_string(m_options.worker_connections) + "; }\n";
        c += "http {\n  access_log off;\n  default_type application/octet-stream;\n";
        c += "  client_body_temp_path " + m_dir + "/tmp_body;\n  proxy_temp_path " + m_dir + "/tmp_proxy;\n";
        c += "  fastcgi_temp_path " + m_dir + "/tmp_fcgi;\n  uwsgi_temp_path " + m_dir + "/tmp_uwsgi;\n";
        c += "  scgi_temp_path " + m_dir + "/tmp_scgi;\n";
        c += "  types { application/json json; text/plain txt; }\n";
        c += "  keepalive_requests 100000;\n";
        std::string locations;
        locations += "    root " + m_dir + "/html;\n";
        locations += "    gzip on; gzip_min_length 20; gzip_types text/plain application/json;\n";
        locations += "    location = /json { default_type application/json; }\n";
        locations += "    location = /chunked.txt { gzip off; sub_filter_types text/plain; sub_filter MARK marked; sub_filter_once on; }\n";
        locations += "    location = /r3 { return 302 /r2; }\n";
        locations += "    location = /r2 { return 301 http://127.0.0.1:" + std::to_string(m_port) + "/r1; }\n";
        locations += "    location = /r1 { return 307 /json; }\n";
        locations += "    location = /loop { return 302 /loop; }\n";
        locations += "    location = /see-other { return 303 /json; }\n";
        locations += "    location = /status/404 { return 404 '{\"error\": \"no such thing\"}'; }\n";
        locations += "    location = /status/500 { return 500 'server broke'; }\n";
        locations += "    location = /echo-headers { return 200 '$http_user_agent|$http_x_test|$http_accept_encoding|$args'; }\n";
        // Any number of distinct pages (corio-fetch's tests): an HTML page with two links.
        locations += "    location /items/ { default_type text/html; return 200 '<html><a href=\"/items/a\">a</a> <a href=\"/items/b\">b</a> $uri</html>'; }\n";
        c += "  server {\n    listen 127.0.0.1:" + std::to_string(m_port) + " backlog=4096;\n" + locations + "  }\n";
        c += "  server {\n    listen 127.0.0.1:" + std::to_string(m_limited) +
             ";\n    keepalive_requests 3;\n    keepalive_timeout 1s;\n" + locations + "  }\n";
        c += "  server {\n    listen 127.0.0.1:" + std::to_string(m_proxy) +
             ";\n    location / { proxy_pass http://$http_host$request_uri; add_header X-Via-Proxy yes; }\n  }\n";
        if (m_tls) {
            c += "  server {\n    listen 127.0.0.1:" + std::to_string(m_tls) + " ssl;\n    ssl_certificate " +
                 m_options.tls_cert + ";\n    ssl_certificate_key " + m_options.tls_key + ";\n" + locations + "  }\n";
        }
        c += "}\n";
        write(m_dir + "/nginx.conf", c);
    }

    void start() {
        std::string conf = m_dir + "/nginx.conf";
        std::string daemon = "daemon off; master_process on;";
        const char* argv[] = {m_bin.c_str(), "-p", m_dir.c_str(), "-c", conf.c_str(), "-g", daemon.c_str(), nullptr};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        std::string log = m_dir + "/logs/stderr.log";
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int rc = posix_spawn(&m_pid, m_bin.c_str(), &fa, nullptr, const_cast<char**>(argv), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            m_pid = -1;
            throw std::runtime_error("cannot start nginx");
        }
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!port_open(m_port) || (m_tls && !port_open(m_tls))) {
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = -1;
                std::ifstream in(log);
                std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                throw std::runtime_error("nginx exited: " + err);
            }
            if (std::chrono::steady_clock::now() > until) throw std::runtime_error("nginx did not start in 10 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    NginxOptions m_options;
    std::string m_bin;
    std::string m_dir;
    pid_t m_pid = -1;
    std::uint16_t m_port = 0;
    std::uint16_t m_limited = 0;
    std::uint16_t m_proxy = 0;
    std::uint16_t m_tls = 0;
};

}  // namespace corio_test
