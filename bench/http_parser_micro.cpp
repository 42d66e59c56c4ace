// Micro-benchmarks of the HTTP/1.1 parser (Google Benchmark): one message per iteration on a kept-alive
// parser, as a client or server sees them. Reports time per message and bytes per second.
#include <corio/http/parser.hpp>

#include <benchmark/benchmark.h>

#include <string>

namespace http = corio::http;

namespace {

// What nginx 1.22 sends for a 200-byte JSON file.
const std::string k_json_body = [] {
    std::string body = R"({"id": 12345, "name": "corio", "tags": ["async", "io_uring", "http"], "ok": true, "items": [)";
    while (body.size() < 197) body += "1,";
    body.resize(197);
    return body + "0]}";
}();
const std::string k_nginx_response =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 200\r\n"
    "Last-Modified: Sun, 31 Dec 2023 23:59:59 GMT\r\n"
    "Connection: keep-alive\r\n"
    "ETag: \"6591ffff-c8\"\r\n"
    "Accept-Ranges: bytes\r\n"
    "\r\n" + k_json_body;

// What wrk sends by default.
const std::string k_wrk_request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

const std::string k_chunked_response =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    "Connection: keep-alive\r\n\r\n"
    "64\r\n" + k_json_body.substr(0, 100) + "\r\n64\r\n" + k_json_body.substr(100) + "\r\n0\r\n\r\n";

template <typename Parser>
void parse_one(benchmark::State& state, const std::string& message) {
    Parser parser;
    std::size_t body = 0;
    for (auto _ : state) {
        std::string_view in = message;
        for (;;) {
            http::Step s = parser.feed(in);
            in.remove_prefix(s.consumed);
            if (s.event == http::Event::body) body += s.data.size();
            if (s.event == http::Event::complete) break;
            if (s.event == http::Event::need_data) state.SkipWithError("incomplete message");
        }
        benchmark::DoNotOptimize(parser.headers().get("content-type"));
    }
    benchmark::DoNotOptimize(body);
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}

void BM_nginx_json_response(benchmark::State& state) { parse_one<http::ResponseParser>(state, k_nginx_response); }
BENCHMARK(BM_nginx_json_response);

void BM_chunked_json_response(benchmark::State& state) { parse_one<http::ResponseParser>(state, k_chunked_response); }
BENCHMARK(BM_chunked_json_response);

void BM_wrk_request(benchmark::State& state) { parse_one<http::RequestParser>(state, k_wrk_request); }
BENCHMARK(BM_wrk_request);

// The same response arriving in 64-byte reads, with the buffer compacted after each event.
void BM_nginx_json_response_in_64_byte_reads(benchmark::State& state) {
    http::ResponseParser parser;
    std::string buf;
    buf.reserve(1024);
    for (auto _ : state) {
        std::size_t fed = 0;
        bool done = false;
        while (!done) {
            if (fed < k_nginx_response.size()) {
                buf.append(k_nginx_response, fed, 64);
                fed = std::min(fed + 64, k_nginx_response.size());
            }
            for (;;) {
                http::Step s = parser.feed(buf);
                buf.erase(0, s.consumed);
                if (s.event == http::Event::need_data) break;
                if (s.event == http::Event::complete) {
                    done = true;
                    break;
                }
            }
        }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k_nginx_response.size()));
}
BENCHMARK(BM_nginx_json_response_in_64_byte_reads);

}  // namespace

BENCHMARK_MAIN();
