#pragma once
// A stand-in for a remote JSON API, so the examples run on a machine with no network: corio's own
// http::Server on 127.0.0.1 (an ephemeral port). GET /anything answers {"path": "/anything", "ok": true}
// after `delay` (the "network").

#include <corio/corio.hpp>

#include <chrono>
#include <string>

namespace example {

using namespace std::chrono_literals;

class DemoApi {
public:
    /// Starts serving at once (call it inside the loop).
    explicit DemoApi(std::chrono::milliseconds delay) {
        m_server.route("GET", "/{a}", [delay](corio::http::Request& req) { return answer(req, delay); });
        m_server.route("GET", "/{a}/{b}", [delay](corio::http::Request& req) { return answer(req, delay); });
        m_server.listen("127.0.0.1:0");
        m_server.start();
    }
    /// "http://127.0.0.1:<port>/path".
    [[nodiscard]] std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(m_server.port()) + path;
    }
    /// Stops the server (in-flight requests finish first).
    corio::Task<void> stop() { co_await m_server.shutdown(1s); }

private:
    static corio::Task<corio::http::Response> answer(corio::http::Request& req, std::chrono::milliseconds delay) {
        co_await corio::sleep(delay);
        nlohmann::json body;
        body["path"] = std::string(req.path());
        body["ok"] = true;
        co_return corio::http::Response::json(body);
    }

    corio::http::Server m_server;
};

}  // namespace example
