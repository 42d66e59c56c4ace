// corio-fetch --demo N: corio's own HTTP server on 127.0.0.1, in the same process, serving N generated pages
// with the variety of the real web: slow pages, redirects, 404s, gzip, JSON and HTML with links.

#include "fetch.hpp"

#include <corio/http/server.hpp>
#include <corio/time.hpp>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <charconv>
#include <stdexcept>

namespace fetch {
namespace {

using namespace std::chrono_literals;
using corio::http::Request;
using corio::http::Response;

std::string gzip(const std::string& data) {
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2 failed");
    std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

std::string page_html(int i, int links) {
    std::string s = "<!doctype html><html><head><title>page " + std::to_string(i) + "</title></head><body>\n";
    s += "<h1>Demo page " + std::to_string(i) + "</h1>\n<p>";
    for (int k = 0; k < 20 + i % 30; ++k) s += "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ";
    s += "</p>\n<ul>\n";
    for (int k = 1; k <= links; ++k)
        s += "<li><a href=\"/page/" + std::to_string((i * 7 + k * 13) % 1000) + "\">link " + std::to_string(k) + "</a></li>\n";
    s += "</ul></body></html>\n";
    return s;
}

int page_number(const Request& req) {
    auto text = req.param("id");
    int i = -1;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (ec != std::errc{} || p != text.data() + text.size()) return -1;
    return i;
}

}  // namespace

struct DemoServer::Impl {
    corio::http::Server server;
    int pages = 0;
    std::string gzipped;  // one gzip body, made once

    corio::Task<Response> page(Request& req) {
        int i = page_number(req);
        if (i < 0 || i >= pages) co_return Response::text("no such page\n", 404);
        switch (i % 20) {
            case 0:
            case 1:  // slow: 100-300 ms
                co_await corio::sleep(std::chrono::milliseconds(100 + (i * 37) % 200));
                co_return Response::html(page_html(i, 3));
            case 2: {  // moved
                Response r(302);
                r.headers().set("Location", "/moved/" + std::to_string(i));
                co_return r;
            }
            case 3:
                co_return Response::text("page " + std::to_string(i) + " is gone\n", 404);
            case 4:
            case 5:
            case 6: {
                Response r(200, gzipped);
                r.headers().set("Content-Type", "text/html; charset=utf-8");
                r.headers().set("Content-Encoding", "gzip");
                co_return r;
            }
            case 7:
            case 8:
            case 9:
            case 10: {
                nlohmann::json j;
                j["id"] = i;
                j["name"] = "item " + std::to_string(i);
                j["price"] = double(i % 1000) / 10.0;
                j["tags"] = {"demo", "corio", i % 2 ? "odd" : "even"};
                co_return Response::json(j);
            }
            default:
                co_return Response::html(page_html(i, 2 + i % 7));
        }
    }
};

DemoServer::DemoServer(int pages, int port) : m_impl(std::make_unique<Impl>()) {
    m_impl->pages = pages;
    m_impl->gzipped = gzip(page_html(4, 5));
    Impl* impl = m_impl.get();
    impl->server.route("GET", "/page/{id}", [impl](Request& req) { return impl->page(req); });
    impl->server.route("GET", "/moved/{id}", [](Request& req) -> corio::Task<Response> {
        co_return Response::html("<html><body>moved here: <a href=\"/\">home</a></body></html>\n" +
                                 std::string(req.param("id")));
    });
    impl->server.listen("127.0.0.1:" + std::to_string(port));
    impl->server.start();
}

DemoServer::~DemoServer() = default;

std::vector<std::string> DemoServer::urls() const {
    std::vector<std::string> out;
    out.reserve(std::size_t(m_impl->pages));
    std::string base = "http://127.0.0.1:" + std::to_string(m_impl->server.port()) + "/page/";
    for (int i = 0; i < m_impl->pages; ++i) out.push_back(base + std::to_string(i));
    return out;
}

corio::Task<void> DemoServer::stop() { co_await m_impl->server.shutdown(std::chrono::seconds(1)); }

}  // namespace fetch
