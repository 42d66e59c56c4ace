// A standalone corio HTTP server for load generators (wrk): GET /json answers a 200-byte JSON body, as the
// nginx peer serves a 200-byte JSON file. Runs until SIGINT or SIGTERM, then shuts down gracefully.
//
//   http_server --port 8080 [--address 127.0.0.1]
//   wrk -t1 -c50 -d10s http://127.0.0.1:8080/json
#include <corio/corio.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using corio::Task;
namespace http = corio::http;

namespace {

volatile std::sig_atomic_t g_stop = 0;

/// {"id":1,"name":"corio","items":[...],"pad":"xxx"} padded to exactly 200 bytes.
std::string json_body() {
    std::string s = R"({"id":1,"name":"corio","message":"Hello, World!","items":[1,2,3,4,5],"pad":")";
    const std::string end = "\"}";
    s.append(200 - s.size() - end.size(), 'x');
    s += end;
    return s;
}

Task<void> serve(std::string address) {
    http::Server server;
    const std::string body = json_body();
    server.route("GET", "/json", [&body](http::Request&) -> Task<http::Response> {
        co_return http::Response(200, body, {{"Content-Type", "application/json"}});
    });
    auto bound = server.listen(address);
    std::printf("listening on %s\n", bound.to_string().c_str());
    std::fflush(stdout);
    server.start();
    while (!g_stop) co_await corio::sleep(std::chrono::milliseconds(50));
    co_await server.shutdown(std::chrono::seconds(1));
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::string port = "8080";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--port") && i + 1 < argc) port = argv[++i];
        else if (!std::strcmp(argv[i], "--address") && i + 1 < argc) host = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--port N] [--address IP]\n", argv[0]);
            return 2;
        }
    }
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGTERM, [](int) { g_stop = 1; });
    corio::run(serve(host + ":" + port));
    return 0;
}
