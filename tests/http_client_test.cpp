// http::Client against real peers on loopback: nginx (started by the test support), scripted raw servers
// for the faults a real server will not produce on demand, and TLS with test-made certificates.

#include <corio/corio.hpp>
#include <corio/http/client.hpp>

#include "support/nginx.hpp"
#include "support/test_support.hpp"
#include "support/tls_certs.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <sys/socket.h>

#include <array>
#include <cstdlib>
#include <functional>

using namespace std::chrono_literals;
using namespace corio;
using corio_test::run_bounded;

namespace {

// ------------------------------------------------------------------------------------------------------------
// URLs

TEST(HttpUrl, ParsesTheParts) {
    auto u = http::Url::parse("HTTPS://user:pw@API.Example.com:8443/v1/items?id=3#frag");
    EXPECT_EQ(u.scheme(), "https");
    EXPECT_EQ(u.host(), "api.example.com");
    EXPECT_EQ(u.port(), 8443);
    EXPECT_EQ(u.userinfo(), "user:pw");
    EXPECT_EQ(u.target(), "/v1/items?id=3");
    EXPECT_EQ(u.path(), "/v1/items");
    EXPECT_EQ(u.query(), "id=3");
    EXPECT_EQ(u.authority(), "api.example.com:8443");
    EXPECT_EQ(u.to_string(), "https://api.example.com:8443/v1/items?id=3");
    auto v6 = http::Url::parse("http://[::1]:8080");
    EXPECT_EQ(v6.host(), "::1");
    EXPECT_EQ(v6.target(), "/");
    EXPECT_EQ(v6.authority(), "[::1]:8080");
    EXPECT_EQ(http::Url::parse("http://h/a b").target(), "/a%20b");
    EXPECT_EQ(http::Url::parse("http://h/a%20b").target(), "/a%20b");
    EXPECT_EQ(http::Url::parse("http://h/a/./b/../c").target(), "/a/c");
    EXPECT_EQ(http::Url::parse("http://h?q=1").target(), "/?q=1");
    EXPECT_TRUE(http::Url::parse("https://h").default_port());
    auto zoned = http::Url::parse("http://[fe80::1%25eth0]:8080/x");
    EXPECT_EQ(zoned.host(), "fe80::1%eth0");
    EXPECT_EQ(zoned.to_string(), "http://[fe80::1%25eth0]:8080/x");
    EXPECT_THROW((void)http::Url::parse("http://[fe80::1%25]/"), http::InvalidUrl);
    EXPECT_THROW((void)http::Url::parse("http://[fe80::1%25a::1%25b]/"), http::InvalidUrl);
}

TEST(HttpUrl, RejectsWhatCannotBeRequested) {
    for (const char* bad : {"", "example.com/x", "ftp://h/x", "http:///x", "http://h:0/", "http://h:99999/",
                            "http://h:12ab/", "http://[::1/", "http://[zz]/", "http://a b/"}) {
        EXPECT_THROW((void)http::Url::parse(bad), http::InvalidUrl) << bad;
    }
    try {
        (void)http::Url::parse("gopher://h/");
        FAIL();
    } catch (const http::InvalidUrl& e) {
        EXPECT_NE(std::string(e.what()).find("unsupported URL scheme \"gopher\""), std::string::npos) << e.what();
    }
}

TEST(HttpUrl, JoinsReferences) {
    auto base = http::Url::parse("http://a/b/c/d;p?q");
    EXPECT_EQ(base.join("g").to_string(), "http://a/b/c/g");
    EXPECT_EQ(base.join("./g").to_string(), "http://a/b/c/g");
    EXPECT_EQ(base.join("g/").to_string(), "http://a/b/c/g/");
    EXPECT_EQ(base.join("/g").to_string(), "http://a/g");
    EXPECT_EQ(base.join("//g").to_string(), "http://g/");
    EXPECT_EQ(base.join("?y").to_string(), "http://a/b/c/d;p?y");
    EXPECT_EQ(base.join("g?y").to_string(), "http://a/b/c/g?y");
    EXPECT_EQ(base.join("..").to_string(), "http://a/b/");
    EXPECT_EQ(base.join("../g").to_string(), "http://a/b/g");
    EXPECT_EQ(base.join("../../../g").to_string(), "http://a/g");
    EXPECT_EQ(base.join("https://other:444/x").to_string(), "https://other:444/x");
}

TEST(HttpUrl, EncodesParams) {
    EXPECT_EQ(http::encode_params({{"q", "a b&c"}, {"x", "ü/"}}), "q=a+b%26c&x=%C3%BC%2F");
    auto u = http::Url::parse("http://h/p?x=1");
    u.add_params({{"y", "2"}});
    EXPECT_EQ(u.target(), "/p?x=1&y=2");
    EXPECT_EQ(http::percent_decode("a+b%20c%zz", true), "a b c%zz");
}

TEST(HttpHeaderMap, CaseInsensitiveAndMultiValued) {
    http::HeaderMap h{{"Set-Cookie", "a=1"}};
    h.add("set-cookie", "b=2");
    EXPECT_EQ(h.get_all("SET-COOKIE").size(), 2u);
    EXPECT_EQ(*h.get("set-cookie"), "a=1");
    h.set("SET-cookie", "c=3");
    EXPECT_EQ(h.get_all("set-cookie").size(), 1u);
    EXPECT_EQ(h.remove("Set-Cookie"), 1u);
    EXPECT_TRUE(h.empty());
    EXPECT_THROW(h.add("X-Bad", "a\r\nInjected: yes"), std::invalid_argument);
    EXPECT_THROW(h.add("Bad Name", "v"), std::invalid_argument);
}

// ------------------------------------------------------------------------------------------------------------
// Scripted raw servers: they read a request head (and its Content-Length body) and answer what the test says.

struct Scripted {
    using Handler = std::function<Task<void>(net::TcpStream&, int)>;
    net::TcpListener listener = net::TcpListener::bind("127.0.0.1:0");
    Handler handler;
    TaskGroup connections;
    JoinHandle<void> acceptor;
    int accepted = 0;

    explicit Scripted(Handler h) : handler(std::move(h)) {}
    std::string url(const std::string& path = "/") const {
        return "http://127.0.0.1:" + std::to_string(listener.local_address().port()) + path;
    }
    Task<void> run() {
        for (;;) {
            auto s = co_await listener.accept();
            int index = accepted++;
            connections.spawn(serve(std::move(s), index));
        }
    }
    Task<void> serve(net::TcpStream s, int index) {
        try {
            co_await handler(s, index);
        } catch (const std::exception&) {
        }
    }
    void start() { acceptor = spawn(run()); }
    Task<void> stop() {
        acceptor.cancel();
        try {
            co_await acceptor;
        } catch (const CancelledError&) {
        }
        connections.cancel();
        try {
            co_await connections.join();
        } catch (const std::exception&) {
        }
    }
};

/// Reads one request (head and Content-Length body); empty when the client closed first. `Stream` is a
/// net::TcpStream or a net::TlsStream.
template <class Stream>
Task<std::string> read_request(Stream& s) {
    std::string req;
    std::array<std::byte, 4096> buf;
    auto append = [&](std::size_t n) { req.append(reinterpret_cast<const char*>(buf.data()), n); };
    std::size_t head_end = std::string::npos;
    while ((head_end = req.find("\r\n\r\n")) == std::string::npos) {
        std::size_t n = co_await s.read(buf);
        if (n == 0) co_return std::string();
        append(n);
        if (req.size() > (1 << 20)) throw std::runtime_error("request too large");
    }
    std::size_t length = 0;
    if (auto p = req.find("Content-Length: "); p != std::string::npos) length = std::stoul(req.substr(p + 16));
    while (req.size() < head_end + 4 + length) {
        std::size_t n = co_await s.read(buf);
        if (n == 0) break;
        append(n);
    }
    co_return req;
}

std::string gzip(const std::string& data) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, data.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

/// Awaits `task`, which must raise E: returns its message ("no exception" when it returned; another
/// exception propagates and fails the test).
template <class E, class T>
Task<std::string> error_of(Task<T> task) {
    try {
        (void)co_await std::move(task);
    } catch (const E& e) {
        co_return std::string(e.what());
    }
    co_return std::string("no exception");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ------------------------------------------------------------------------------------------------------------
// Against scripted servers

TEST(HttpClient, GetsFromAScriptedServerAndReusesTheConnection) {
    run_bounded([]() -> Task<void> {
        Scripted server([](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                std::string body = R"({"path": ")" + req.substr(4, req.find(' ', 4) - 4) + "\"}";
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\n\r\n" + body);
            }
        });
        server.start();
        http::Client client;
        for (int i = 0; i < 5; ++i) {
            auto r = co_await client.get(server.url("/items/" + std::to_string(i)));
            EXPECT_EQ(r.status(), 200);
            EXPECT_EQ(r.reason(), "OK");
            EXPECT_EQ(r.json()["path"], "/items/" + std::to_string(i));
            EXPECT_EQ(*r.headers().get("content-type"), "application/json");
            EXPECT_EQ(r.url(), server.url("/items/" + std::to_string(i)));
        }
        auto st = client.statistics();
        EXPECT_EQ(st.connections_created, 1u);
        EXPECT_EQ(st.requests, 5u);
        EXPECT_EQ(st.reused, 4u);
        EXPECT_EQ(st.connections_idle, 1u);
        co_await server.stop();
    }());
}

TEST(HttpClient, SendsJsonFormContentParamsAndHeaders) {
    run_bounded([]() -> Task<void> {
        std::vector<std::string> seen;
        Scripted server([&](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                seen.push_back(req);
                co_await s.write_all("HTTP/1.1 204 No Content\r\n\r\n");
            }
        });
        server.start();
        http::ClientOptions o;
        o.headers.add("X-Default", "d");
        o.user_agent = "tester/1";
        http::Client client(o);
        http::RequestOptions json_opts;
        json_opts.json = nlohmann::json{{"name", "x"}};
        json_opts.params = {{"q", "a b"}};
        auto r = co_await client.post(server.url("/j?z=1"), std::move(json_opts));
        EXPECT_EQ(r.status(), 204);
        EXPECT_TRUE(r.body().empty());
        http::RequestOptions form_opts;
        form_opts.form = {{"a", "1"}, {"b", "x&y"}};
        form_opts.headers.add("X-Default", "override");
        (void)co_await client.put(server.url("/f"), std::move(form_opts));
        http::RequestOptions raw;
        raw.content = std::string("raw bytes");
        raw.headers.add("Content-Type", "application/octet-stream");
        (void)co_await client.patch(server.url("/c"), std::move(raw));
        (void)co_await client.del(server.url("/d"));
        (void)co_await client.options(server.url("/o"));
        co_await server.stop();
        EXPECT_EQ(seen.size(), 5u);
        if (seen.size() != 5) co_return;
        EXPECT_TRUE(contains(seen[0], "POST /j?z=1&q=a+b HTTP/1.1\r\n")) << seen[0];
        EXPECT_TRUE(contains(seen[0], "Content-Type: application/json\r\n"));
        EXPECT_TRUE(contains(seen[0], "\r\n\r\n{\"name\":\"x\"}"));
        EXPECT_TRUE(contains(seen[0], "User-Agent: tester/1\r\n"));
        EXPECT_TRUE(contains(seen[0], "X-Default: d\r\n"));
        EXPECT_TRUE(contains(seen[0], "Host: 127.0.0.1:"));
        EXPECT_TRUE(contains(seen[1], "PUT /f HTTP/1.1"));
        EXPECT_TRUE(contains(seen[1], "application/x-www-form-urlencoded"));
        EXPECT_TRUE(contains(seen[1], "\r\n\r\na=1&b=x%26y"));
        EXPECT_TRUE(contains(seen[1], "X-Default: override\r\n"));
        EXPECT_FALSE(contains(seen[1], "X-Default: d\r\n"));
        EXPECT_TRUE(contains(seen[2], "PATCH /c HTTP/1.1") && contains(seen[2], "\r\n\r\nraw bytes"));
        EXPECT_TRUE(contains(seen[3], "DELETE /d HTTP/1.1"));
        EXPECT_TRUE(contains(seen[4], "OPTIONS /o HTTP/1.1"));
    }());
}

TEST(HttpClient, ReadsChunkedWithTrailersCloseDelimitedInterimAndNoBodyResponses) {
    run_bounded([]() -> Task<void> {
        Scripted server([](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                if (contains(req, "GET /chunked ")) {
                    co_await s.write_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                                         "7;ext=1\r\n, world\r\n0\r\nX-Checksum: 42\r\n\r\n");
                } else if (contains(req, "GET /interim ")) {
                    co_await s.write_all("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                                         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                } else if (contains(req, "GET /not-modified ")) {
                    co_await s.write_all("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n");
                } else if (contains(req, "HEAD /")) {
                    co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
                } else {  // close-delimited
                    co_await s.write_all("HTTP/1.1 200 OK\r\n\r\nuntil the end");
                    co_return;
                }
            }
        });
        server.start();
        http::Client client;
        auto chunked = co_await client.get(server.url("/chunked"));
        EXPECT_EQ(chunked.body(), "hello, world");
        auto interim = co_await client.get(server.url("/interim"));
        EXPECT_EQ(interim.status(), 200);
        EXPECT_EQ(interim.body(), "ok");
        auto nm = co_await client.get(server.url("/not-modified"));
        EXPECT_EQ(nm.status(), 304);
        EXPECT_TRUE(nm.body().empty());
        auto head = co_await client.head(server.url("/h"));
        EXPECT_EQ(head.status(), 200);
        EXPECT_EQ(*head.headers().get("content-length"), "5000");
        EXPECT_TRUE(head.body().empty());
        EXPECT_EQ(client.statistics().connections_created, 1u);  // all of them on one connection
        auto until_close = co_await client.get(server.url("/close"));
        EXPECT_EQ(until_close.body(), "until the end");
        EXPECT_EQ(client.statistics().connections_open, 0u);
        co_await server.stop();
    }());
}

TEST(HttpClient, DecodesGzipAndDeflateAndRejectsCorruptStreams) {
    run_bounded([]() -> Task<void> {
        std::string text;
        for (int i = 0; i < 3000; ++i) text += "gzip me " + std::to_string(i) + "\n";
        Scripted server([&](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                std::string body, enc = "gzip";
                if (contains(req, "GET /gzip ")) body = gzip(text);
                else if (contains(req, "GET /twice ")) body = gzip("first,") + gzip("second");
                else if (contains(req, "GET /deflate ")) {
                    enc = "deflate";
                    uLongf len = compressBound(static_cast<uLong>(text.size()));
                    body.resize(len);
                    compress(reinterpret_cast<Bytef*>(body.data()), &len, reinterpret_cast<const Bytef*>(text.data()),
                             static_cast<uLong>(text.size()));
                    body.resize(len);
                } else if (contains(req, "GET /truncated ")) {
                    body = gzip(text);
                    body.resize(body.size() / 2);
                } else {
                    body = "this is not gzip at all";
                }
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Encoding: " + enc + "\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\n\r\n" + body);
            }
        });
        server.start();
        http::Client client;
        EXPECT_EQ((co_await client.get(server.url("/gzip"))).body(), text);
        EXPECT_EQ((co_await client.get(server.url("/twice"))).body(), "first,second");
        EXPECT_EQ((co_await client.get(server.url("/deflate"))).body(), text);
        std::string what = co_await error_of<http::DecodeError>(client.get(server.url("/garbage")));
        EXPECT_TRUE(contains(what, "cannot decode the gzip body") && contains(what, "/garbage")) << what;
        what = co_await error_of<http::DecodeError>(client.get(server.url("/truncated")));
        EXPECT_TRUE(contains(what, "ends before its stream does")) << what;
        http::ClientOptions small;
        small.max_response_size = 10000;
        http::Client limited(small);
        what = co_await error_of<http::ResponseTooLarge>(limited.get(server.url("/gzip")));  // small on the wire, 40 KB decoded
        EXPECT_TRUE(contains(what, "once decoded")) << what;
        co_await server.stop();
    }());
}

TEST(HttpClient, FaultsRaiseTypedErrorsNamingTheRequest) {
    run_bounded([]() -> Task<void> {
        Scripted server([](net::TcpStream& s, int) -> Task<void> {
            std::string req = co_await read_request(s);
            if (contains(req, "GET /mid-body ")) {
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
            } else if (contains(req, "GET /reset ")) {
                linger l{1, 0};
                ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
            } else if (contains(req, "GET /garbage ")) {
                co_await s.write_all("SPDY/9 what is this\r\n\r\n");
            } else if (contains(req, "GET /huge-headers ")) {
                co_await s.write_all("HTTP/1.1 200 OK\r\n");
                std::string line = "X-Filler: " + std::string(1000, 'a') + "\r\n";
                for (int i = 0; i < 1024; ++i) co_await s.write_all(line);
                co_await s.write_all("\r\n");
            } else if (contains(req, "GET /stall ")) {
                co_await corio::sleep(10s);
            } else if (contains(req, "GET /nothing ")) {
                // close without a word
            }
        });
        server.start();
        http::ClientOptions o;
        o.timeout.read = 300ms;
        http::Client client(o);
        auto fetch = [&](std::string path) -> Task<std::string> {
            try {
                (void)co_await client.get(server.url(path));
            } catch (const http::RemoteProtocolError& e) {
                co_return std::string("RemoteProtocolError: ") + e.what();
            } catch (const http::NetworkError& e) {
                co_return std::string("NetworkError: ") + e.what();
            } catch (const http::ReadTimeout& e) {
                co_return std::string("ReadTimeout: ") + e.what();
            }
            co_return std::string("no error");
        };
        std::string e1 = co_await fetch("/mid-body");
        EXPECT_TRUE(contains(e1, "RemoteProtocolError: peer closed the connection without sending the complete body"))
            << e1;
        EXPECT_TRUE(contains(e1, "(GET " + server.url("/mid-body") + ")")) << e1;
        std::string e2 = co_await fetch("/reset");
        EXPECT_TRUE(contains(e2, "NetworkError") || contains(e2, "RemoteProtocolError: server disconnected")) << e2;
        std::string e3 = co_await fetch("/garbage");
        EXPECT_TRUE(contains(e3, "RemoteProtocolError: malformed HTTP response")) << e3;
        std::string e4 = co_await fetch("/huge-headers");
        EXPECT_TRUE(contains(e4, "RemoteProtocolError") && contains(e4, "header")) << e4;
        auto t0 = Clock::now();
        std::string e5 = co_await fetch("/stall");
        EXPECT_TRUE(contains(e5, "ReadTimeout: reading the response took longer than 300 ms")) << e5;
        EXPECT_LT(Clock::now() - t0, 5s);
        std::string e6 = co_await fetch("/nothing");
        EXPECT_TRUE(contains(e6, "RemoteProtocolError: server disconnected without sending a response")) << e6;
        // The overall deadline cuts a read the read timeout would allow.
        http::RequestOptions r;
        r.timeout = http::Timeouts{.read = 5s, .total = 200ms};
        std::string e7;
        try {
            (void)co_await client.get(server.url("/stall"), std::move(r));
        } catch (const http::ReadTimeout& e) {
            e7 = e.what();
        }
        EXPECT_TRUE(contains(e7, "the overall deadline of 200 ms passed")) << e7;
        EXPECT_EQ(client.statistics().connections_open, 0u);
        co_await server.stop();
    }());
}

TEST(HttpClient, ConnectErrorsAndRetries) {
    run_bounded([]() -> Task<void> {
        std::uint16_t port = corio_test::free_port();
        std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";
        http::Client plain;
        std::string what = co_await error_of<http::ConnectError>(plain.get(url));
        EXPECT_EQ(what, "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused (GET " + url + ")");
        // With retries, a server that comes up during the backoff is reached.
        http::ClientOptions o;
        o.retries = 4;
        o.retry_backoff = 50ms;
        http::Client retrying(o);
        auto late_server = [&]() -> Task<void> {
            co_await corio::sleep(120ms);
            auto listener = net::TcpListener::bind("127.0.0.1:" + std::to_string(port));
            auto s = co_await listener.accept();
            (void)co_await read_request(s);
            co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup");
        };
        auto server = spawn(late_server());
        auto r = co_await retrying.get(url);
        EXPECT_EQ(r.body(), "up");
        co_await server;
        // Under io_uring the listener's multishot accept is cancelled with the next submission; until then
        // the kernel still queues connections to it.
        co_await corio::sleep(10ms);
        // POST is not retried.
        what = co_await error_of<http::ConnectError>(retrying.post(url));
        EXPECT_FALSE(what.empty());
    }());
}

TEST(HttpClient, ConnectTimeoutCoversTheTlsHandshake) {
    run_bounded([]() -> Task<void> {
        // Accepts TCP, then never answers the ClientHello.
        Scripted server([](net::TcpStream&, int) -> Task<void> { co_await corio::sleep(10s); });
        server.start();
        http::ClientOptions o;
        o.timeout.connect = 200ms;
        http::Client client(o);
        std::string url = "https://127.0.0.1:" + std::to_string(server.listener.local_address().port()) + "/";
        auto t0 = Clock::now();
        std::string what = co_await error_of<http::ConnectTimeout>(client.get(url));
        EXPECT_TRUE(contains(what, "connecting took longer than 200 ms (GET " + url + ")")) << what;
        EXPECT_LT(Clock::now() - t0, 5s);
        EXPECT_EQ(client.statistics().connections_open, 0u);
        co_await server.stop();
    }());
}

TEST(HttpClient, PoolTimeoutAndWriteTimeout) {
    run_bounded([]() -> Task<void> {
        Scripted server([](net::TcpStream&, int) -> Task<void> { co_await corio::sleep(10s); });
        server.start();
        http::ClientOptions o;
        o.limits.max_connections = 1;
        o.timeout.pool = 100ms;
        o.timeout.read = 2s;
        o.timeout.write = 200ms;
        http::Client client(o);
        // The first request holds the only connection (its server never answers); the second waits for it.
        auto first = spawn(client.get(server.url("/a")));
        co_await corio::sleep(20ms);
        std::string what = co_await error_of<http::PoolTimeout>(client.get(server.url("/b")));
        EXPECT_TRUE(contains(what, "waiting for a free connection took longer than 100 ms")) << what;
        first.cancel();
        try {
            (void)co_await first;
        } catch (const CancelledError&) {
        }
        EXPECT_EQ(client.statistics().connections_open, 0u);
        EXPECT_EQ(client.statistics().pool_waiting, 0u);
        // A body the server never reads fills the socket buffers: the write times out.
        http::RequestOptions big;
        big.content = std::string(32 << 20, 'x');
        what = co_await error_of<http::WriteTimeout>(client.post(server.url("/upload"), std::move(big)));
        EXPECT_TRUE(contains(what, "sending the request took longer than 200 ms")) << what;
        co_await server.stop();
    }());
}

TEST(HttpClient, StaleKeptAliveConnectionIsRetriedForIdempotentRequests) {
    run_bounded([]() -> Task<void> {
        // Each connection serves one request, then closes without saying so (no Connection: close).
        Scripted server([](net::TcpStream& s, int) -> Task<void> {
            (void)co_await read_request(s);
            co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        });
        server.start();
        http::Client client;
        for (int i = 0; i < 3; ++i) {
            auto r = co_await client.get(server.url("/x"));
            EXPECT_EQ(r.body(), "ok");
            co_await corio::sleep(20ms);  // let the close arrive
        }
        EXPECT_EQ(client.statistics().connections_created, 3u);
        co_await server.stop();
    }());
}

TEST(HttpClient, StreamingReadsChunkByChunkAndDroppingClosesTheConnection) {
    run_bounded([]() -> Task<void> {
        std::string big(3 << 20, 'z');
        Scripted server([&](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n");
                co_await s.write_all(big);
            }
        });
        server.start();
        http::Client client;
        auto response = co_await client.stream("GET", server.url("/big"));
        EXPECT_EQ(response.status(), 200);
        std::size_t total = 0, chunks = 0;
        for (;;) {
            std::string chunk = co_await response.read_chunk();
            if (chunk.empty()) break;
            total += chunk.size();
            ++chunks;
        }
        EXPECT_EQ(total, big.size());
        EXPECT_GT(chunks, 10u);
        EXPECT_EQ(client.statistics().connections_idle, 1u);  // read to the end: back in the pool
        {
            auto dropped = co_await client.stream("GET", server.url("/big"));
            (void)co_await dropped.read_chunk();
        }
        auto st = client.statistics();
        EXPECT_EQ(st.connections_open, 0u);  // dropped half-read: closed, slot given back
        auto all = co_await (co_await client.stream("GET", server.url("/big"))).read_all();
        EXPECT_EQ(all.body().size(), big.size());
        co_await server.stop();
    }());
}

TEST(HttpClient, TenThousandRequestsOverAtMostTenConnections) {
    run_bounded([]() -> Task<void> {
        std::size_t open = 0, max_open = 0;
        Scripted server([&](net::TcpStream& s, int) -> Task<void> {
            ++open;
            max_open = std::max(max_open, open);
            try {
                for (;;) {
                    std::string req = co_await read_request(s);
                    if (req.empty()) break;
                    co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            } catch (...) {
            }
            --open;
        });
        server.start();
        http::ClientOptions o;
        o.limits.max_connections = 10;
        o.timeout.pool = 20s;
        http::Client client(o);
        Semaphore sem(100);
        std::size_t ok = 0;
        auto one = [&]() -> Task<void> {
            auto permit = co_await sem.acquire();
            auto r = co_await client.get(server.url("/n"));
            if (r.body() == "ok") ++ok;
        };
        std::vector<Task<void>> tasks;
        for (int i = 0; i < 10000; ++i) tasks.push_back(one());
        co_await gather(std::move(tasks));
        EXPECT_EQ(ok, 10000u);
        EXPECT_LE(max_open, 10u);
        EXPECT_LE(client.statistics().connections_created, 10u);
        co_await server.stop();
    }());
}

TEST(HttpClient, CancellingAThousandInFlightRequestsLeaksNoSlot) {
    run_bounded([]() -> Task<void> {
        int stalled = 0;
        Scripted server([&](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                if (contains(req, "GET /stall")) {
                    ++stalled;
                    co_await corio::sleep(30s);
                }
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        server.start();
        http::ClientOptions o;
        o.limits.max_connections = 10;
        o.timeout.pool = 30s;
        o.timeout.read = 30s;
        http::Client client(o);
        std::vector<JoinHandle<http::Response>> inflight;
        for (int i = 0; i < 1000; ++i) inflight.push_back(spawn(client.get(server.url("/stall"))));
        co_await corio::sleep(100ms);
        EXPECT_EQ(client.statistics().connections_open, 10u);
        EXPECT_EQ(client.statistics().pool_waiting, 990u);
        for (auto& h : inflight) h.cancel();
        int cancelled = 0;
        for (auto& h : inflight) {
            try {
                (void)co_await h;
            } catch (const CancelledError&) {
                ++cancelled;
            }
        }
        EXPECT_EQ(cancelled, 1000);
        auto st = client.statistics();
        EXPECT_EQ(st.connections_open, 0u);
        EXPECT_EQ(st.pool_waiting, 0u);
        // The pool still works, with its full size.
        std::vector<Task<http::Response>> again;
        for (int i = 0; i < 20; ++i) again.push_back(client.get(server.url("/ok")));
        auto rs = co_await gather(std::move(again));
        for (auto& r : rs) EXPECT_EQ(r.body(), "ok");
        EXPECT_LE(client.statistics().connections_open, 10u);
        co_await server.stop();
    }());
}

TEST(HttpClient, RaiseForStatusAndDecodeErrors) {
    run_bounded([]() -> Task<void> {
        Scripted server([](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                std::string body = contains(req, "GET /missing ") ? "{\"error\": \"no such item\"}\n" : "{\"a\": [1, 2";
                co_await s.write_all(std::string(contains(req, "GET /missing ") ? "HTTP/1.1 404 Not Found" : "HTTP/1.1 200 OK") +
                                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
            }
        });
        server.start();
        http::Client client;
        auto r = co_await client.get(server.url("/missing"));
        EXPECT_EQ(r.status(), 404);
        EXPECT_TRUE(r.is_client_error());
        try {
            r.raise_for_status();
            ADD_FAILURE();
        } catch (const http::StatusError& e) {
            EXPECT_EQ(e.status(), 404);
            EXPECT_EQ(e.response_url(), server.url("/missing"));
            std::string what = e.what();
            EXPECT_TRUE(contains(what, "HTTP 404 Not Found for GET " + server.url("/missing") + ": {\"error\"")) << what;
        }
        auto bad = co_await client.get(server.url("/bad-json"));
        try {
            (void)bad.raise_for_status().json();
            ADD_FAILURE();
        } catch (const http::DecodeError& e) {
            std::string what = e.what();
            EXPECT_TRUE(contains(what, "invalid JSON in the response body at offset 12")) << what;
        }
        co_await server.stop();
    }());
}

/// A CONNECT proxy: reads "CONNECT host:port", connects, answers 200, then copies bytes both ways.
Task<void> pump(net::TcpStream& from, net::TcpStream& to) {
    char buf[16384];
    for (;;) {
        std::size_t n = co_await from.read(buf, sizeof buf);
        if (n == 0) break;
        co_await to.write_all(std::string_view(buf, n));
    }
    to.shutdown();
}

// ------------------------------------------------------------------------------------------------------------
// Against nginx

class HttpNginx : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_pki = std::make_unique<corio_test::TestPki>();
        auto id = s_pki->issue("nginx", {.common_name = "localhost", .alt_names = {"DNS:localhost", "IP:127.0.0.1"}});
        s_nginx = std::make_unique<corio_test::Nginx>(corio_test::NginxOptions{.tls_cert = id.cert, .tls_key = id.key});
        // Read here, not on the loop (strict mode rejects blocking file reads there).
        s_text = s_nginx->file("text.txt");
        s_large = s_nginx->file("large.bin");
    }
    static void TearDownTestSuite() {
        s_nginx.reset();
        s_pki.reset();
    }
    void SetUp() override {
        if (!s_nginx || !s_nginx->available()) GTEST_SKIP() << "nginx is not installed";
    }
    static std::unique_ptr<corio_test::TestPki> s_pki;
    static std::unique_ptr<corio_test::Nginx> s_nginx;
    static std::string s_text;
    static std::string s_large;
};
std::string HttpNginx::s_text;
std::string HttpNginx::s_large;
std::unique_ptr<corio_test::TestPki> HttpNginx::s_pki;
std::unique_ptr<corio_test::Nginx> HttpNginx::s_nginx;

TEST_F(HttpNginx, JsonGzipChunkedHeadAndParams) {
    run_bounded([]() -> Task<void> {
        auto& n = *s_nginx;
        http::Client client;
        auto r = co_await client.get(n.url("/json"));
        EXPECT_EQ(r.status(), 200);
        EXPECT_EQ(r.json()["name"], "corio");
        EXPECT_EQ(r.body(), corio_test::json_200());
        auto text = co_await client.get(n.url("/text.txt"));
        EXPECT_EQ(*text.headers().get("content-encoding"), "gzip");
        EXPECT_EQ(text.body(), s_text);
        auto chunked = co_await client.get(n.url("/chunked.txt"));
        EXPECT_TRUE(chunked.headers().has_token("transfer-encoding", "chunked"));
        EXPECT_TRUE(contains(chunked.body(), "chunked body: marked and the rest"));
        auto head = co_await client.head(n.url("/large.bin"));
        EXPECT_EQ(*head.headers().get("content-length"), std::to_string(8 << 20));
        EXPECT_TRUE(head.body().empty());
        http::RequestOptions o;
        o.params = {{"q", "a b"}};
        o.headers.add("X-Test", "yes");
        auto echo = co_await client.get(n.url("/echo-headers?x=1"), std::move(o));
        EXPECT_EQ(echo.body(), "corio-http/0.1|yes|gzip, deflate|x=1&q=a+b");
        auto large = co_await client.get(n.url("/large.bin"));
        EXPECT_TRUE(large.body() == s_large);
        EXPECT_EQ(client.statistics().connections_created, 1u);
        EXPECT_EQ(client.statistics().reused, 5u);
        try {
            (void)text.json();
            ADD_FAILURE();
        } catch (const http::DecodeError& e) {
            EXPECT_TRUE(contains(e.what(), "at offset 1"));
        }
        http::ClientOptions small;
        small.max_response_size = 1 << 20;
        http::Client limited(small);
        std::string what = co_await error_of<http::ResponseTooLarge>(limited.get(n.url("/large.bin")));
        EXPECT_TRUE(contains(what, "exceeds max_response_size (1048576 bytes)")) << what;
    }());
}

TEST_F(HttpNginx, Redirects) {
    run_bounded([]() -> Task<void> {
        auto& n = *s_nginx;
        http::Client plain;
        auto not_followed = co_await plain.get(n.url("/r3"));
        EXPECT_EQ(not_followed.status(), 302);
        EXPECT_TRUE(not_followed.is_redirect());
        http::Client client({.follow_redirects = true});
        auto r = co_await client.get(n.url("/r3"));
        EXPECT_EQ(r.status(), 200);
        EXPECT_EQ(r.url(), n.url("/json"));
        EXPECT_EQ(r.history().size(), 3u);
        if (r.history().size() != 3) co_return;
        EXPECT_EQ(r.history()[0].status(), 302);
        EXPECT_EQ(r.history()[1].status(), 301);
        EXPECT_EQ(r.history()[2].status(), 307);
        EXPECT_EQ(r.history()[0].url(), n.url("/r3"));
        http::RequestOptions post_opts;
        post_opts.json = nlohmann::json::object();
        (*post_opts.json)["a"] = 1;
        auto post = co_await client.post(n.url("/see-other"), std::move(post_opts));
        EXPECT_EQ(post.status(), 200);
        EXPECT_EQ(post.method(), "GET");
        http::ClientOptions o;
        o.follow_redirects = true;
        o.max_redirects = 5;
        http::Client looping(o);
        std::string what = co_await error_of<http::TooManyRedirects>(looping.get(n.url("/loop")));
        EXPECT_TRUE(contains(what, "exceeded max_redirects (5)")) << what;
        // Per request.
        auto once = co_await plain.get(n.url("/r1"), {.follow_redirects = true});
        EXPECT_EQ(once.status(), 200);
    }());
}

TEST_F(HttpNginx, KeepAliveLimitsOfTheServerAreHonoured) {
    run_bounded([]() -> Task<void> {
        auto& n = *s_nginx;
        std::string url = "http://127.0.0.1:" + std::to_string(n.limited_port()) + "/json";
        http::Client client;
        for (int i = 0; i < 9; ++i) EXPECT_EQ((co_await client.get(url)).status(), 200);
        EXPECT_EQ(client.statistics().connections_created, 3u);  // keepalive_requests 3: "Connection: close"
        // keepalive_timeout 1s: the server closes the idle connection; the next request still works.
        co_await corio::sleep(1500ms);
        EXPECT_EQ((co_await client.get(url)).status(), 200);
        EXPECT_EQ(client.statistics().connections_created, 4u);
    }());
}

TEST_F(HttpNginx, Tls) {
    run_bounded([]() -> Task<void> {
        auto& n = *s_nginx;
        std::string url = "https://127.0.0.1:" + std::to_string(n.tls_port()) + "/json";
        http::ClientOptions o;
        o.ca_file = s_pki->ca_file();
        http::Client client(o);
        for (int i = 0; i < 3; ++i) EXPECT_EQ((co_await client.get(url)).json()["name"], "corio");
        auto text = co_await client.get("https://localhost:" + std::to_string(n.tls_port()) + "/text.txt");
        EXPECT_EQ(text.body(), s_text);
        EXPECT_EQ(client.statistics().connections_created, 2u);
        http::Client untrusting;  // the system store does not know the test CA
        std::string what = co_await error_of<http::ConnectError>(untrusting.get(url));
        EXPECT_TRUE(contains(what, "certificate verify failed")) << what;
        http::Client reckless({.verify = false});  // tests only: accepts any certificate
        EXPECT_EQ((co_await reckless.get(url)).status(), 200);
    }());
}

TEST_F(HttpNginx, Proxies) {
    run_bounded([]() -> Task<void> {
        auto& n = *s_nginx;
        // Plain http through nginx as a forward proxy (absolute-form request targets).
        http::Client via({.proxy = "http://127.0.0.1:" + std::to_string(n.proxy_port())});
        auto r = co_await via.get(n.url("/json"));
        EXPECT_EQ(r.status(), 200);
        EXPECT_EQ(*r.headers().get("x-via-proxy"), "yes");
        // https through a CONNECT tunnel.
        int tunnels = 0;
        Scripted proxy([&](net::TcpStream& s, int) -> Task<void> {
            std::string req = co_await read_request(s);
            if (req.rfind("CONNECT 127.0.0.1:" + std::to_string(n.tls_port()) + " HTTP/1.1\r\n", 0) != 0) {
                co_await s.write_all("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                co_return;
            }
            ++tunnels;
            auto upstream = co_await net::TcpStream::connect(net::SocketAddress::ip("127.0.0.1", n.tls_port()));
            co_await s.write_all("HTTP/1.1 200 Connection Established\r\n\r\n");
            co_await gather(pump(s, upstream), pump(upstream, s));
        });
        proxy.start();
        http::ClientOptions o;
        o.proxy = proxy.url("");
        o.ca_file = s_pki->ca_file();
        http::Client tunnelled(o);
        std::string url = "https://127.0.0.1:" + std::to_string(n.tls_port()) + "/json";
        EXPECT_EQ((co_await tunnelled.get(url)).json()["name"], "corio");
        EXPECT_EQ((co_await tunnelled.get(url)).status(), 200);
        EXPECT_EQ(tunnels, 1);
        tunnelled.close_idle();
        co_await proxy.stop();
        // A proxy that sends an interim answer (1xx) with its real one in the same segment: both are read from
        // the bytes in hand (the client read again first and waited for bytes the proxy never sends).
        Scripted chatty([&](net::TcpStream& s, int) -> Task<void> {
            (void)co_await read_request(s);
            auto upstream = co_await net::TcpStream::connect(net::SocketAddress::ip("127.0.0.1", n.tls_port()));
            co_await s.write_all("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection Established\r\n\r\n");
            co_await gather(pump(s, upstream), pump(upstream, s));
        });
        chatty.start();
        o.proxy = chatty.url("");
        o.timeout.connect = 3s;  // a hang fails here, well within the test's bound
        http::Client via_chatty(o);
        EXPECT_EQ((co_await via_chatty.get(url)).status(), 200);
        via_chatty.close_idle();
        co_await chatty.stop();
    }());
}

TEST(HttpClientEnv, ProxyEnvironmentAndNoProxy) {
    run_bounded([]() -> Task<void> {
        Scripted origin([](net::TcpStream& s, int) -> Task<void> {
            (void)co_await read_request(s);
            co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ndirect");
        });
        Scripted proxy([](net::TcpStream& s, int) -> Task<void> {
            (void)co_await read_request(s);
            co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied");
        });
        origin.start();
        proxy.start();
        ::setenv("http_proxy", proxy.url("").c_str(), 1);
        ::setenv("no_proxy", "example.invalid", 1);
        http::Client via_env;
        EXPECT_EQ((co_await via_env.get(origin.url("/x"))).body(), "proxied");
        ::setenv("no_proxy", "localhost, 127.0.0.1", 1);
        http::Client bypass;
        EXPECT_EQ((co_await bypass.get(origin.url("/x"))).body(), "direct");
        http::Client ignoring({.trust_env = false});
        ::setenv("no_proxy", "", 1);
        EXPECT_EQ((co_await ignoring.get(origin.url("/x"))).body(), "direct");
        ::unsetenv("http_proxy");
        ::unsetenv("no_proxy");
        co_await origin.stop();
        co_await proxy.stop();
    }());
}

TEST(HttpClient, BaseUrlAndInvalidUrls) {
    run_bounded([]() -> Task<void> {
        Scripted server([](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                std::string target = req.substr(4, req.find(' ', 4) - 4);
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(target.size()) + "\r\n\r\n" +
                                     target);
            }
        });
        server.start();
        http::Client client({.base_url = server.url("/api/v1")});
        EXPECT_EQ((co_await client.get("users/1")).body(), "/api/v1/users/1");
        EXPECT_EQ((co_await client.get("/users/2")).body(), "/api/v1/users/2");
        std::string what = co_await error_of<http::InvalidUrl>(client.get("ftp://x/"));
        EXPECT_TRUE(contains(what, "unsupported URL scheme")) << what;
        co_await server.stop();
    }());
}

// ------------------------------------------------------------------------------------------------------------
// Connections left in an unknown state: partly sent requests, failed or closed streams, unread bytes, and
// which idle connection makes room for whom

/// A scripted server over TLS: a certificate for 127.0.0.1 from a test CA that client_options() trusts.
struct ScriptedTls {
    using Handler = std::function<Task<void>(net::TlsStream&, int)>;
    corio_test::TestPki pki;
    net::TlsContext context;
    Handler handler;
    Scripted tcp;

    explicit ScriptedTls(Handler h)
        : context(server_context(pki)), handler(std::move(h)), tcp([this](net::TcpStream& s, int index) -> Task<void> {
              auto tls = co_await net::TlsStream::accept(std::move(s), context);
              co_await handler(tls, index);
          }) {}
    static net::TlsContext server_context(corio_test::TestPki& pki) {
        auto id = pki.issue("server", {.common_name = "127.0.0.1", .alt_names = {"IP:127.0.0.1"}});
        return net::TlsContext::server({.cert_file = id.cert, .key_file = id.key});
    }
    std::string url(const std::string& path = "/") const {
        return "https://127.0.0.1:" + std::to_string(tcp.listener.local_address().port()) + path;
    }
    http::ClientOptions client_options() const {
        http::ClientOptions o;
        o.ca_file = pki.ca_file();
        return o;
    }
    void start() { tcp.start(); }
    Task<void> stop() { return tcp.stop(); }
};

/// What `task` raised, named by its type ("NetworkError: ..."), or "no exception".
template <class T>
Task<std::string> failure_of(Task<T> task) {
    try {
        (void)co_await std::move(task);
    } catch (const http::NetworkError& e) {
        co_return "NetworkError: " + std::string(e.what());
    } catch (const http::RemoteProtocolError& e) {
        co_return "RemoteProtocolError: " + std::string(e.what());
    } catch (const http::ReadTimeout& e) {
        co_return "ReadTimeout: " + std::string(e.what());
    } catch (const http::HttpError& e) {
        co_return "HttpError: " + std::string(e.what());
    } catch (const corio::TimeoutError& e) {
        co_return "corio::TimeoutError: " + std::string(e.what());
    } catch (const std::logic_error& e) {
        co_return "std::logic_error: " + std::string(e.what());
    } catch (const std::exception& e) {
        co_return "other: " + std::string(e.what());
    }
    co_return "no exception";
}

/// The body of the response, or what failed ("failed: ...").
Task<std::string> body_of(Task<http::Response> task) {
    try {
        co_return (co_await std::move(task)).body();
    } catch (const std::exception& e) {
        co_return "failed: " + std::string(e.what());
    }
}

/// The first connection answers a GET, then reads the head and 256 KiB of the next request's body and
/// closes with the rest unread (a reset): the client fails in the middle of sending its body. Later
/// connections answer everything. `uploads` counts the requests with a body that reached the server.
template <class Stream>
Task<void> serve_one_upload_then_reset(Stream& s, int index, int& uploads) {
    if (index == 0) {
        (void)co_await read_request(s);
        co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        std::string got;
        std::array<std::byte, 4096> buf;
        while (got.find("\r\n\r\n") == std::string::npos || got.size() < (256 << 10)) {
            std::size_t n = co_await s.read(buf);
            if (n == 0) co_return;
            got.append(reinterpret_cast<const char*>(buf.data()), n);
        }
        ++uploads;
        co_return;
    }
    for (;;) {
        std::string req = co_await read_request(s);
        if (req.empty()) co_return;
        ++uploads;
        co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nreceived");
    }
}

TEST(HttpClient, ABodyPartlySentOnAReusedConnectionIsNotReplayedUnlessIdempotent) {
    run_bounded([]() -> Task<void> {
        int uploads = 0;
        auto serve = [&](auto& s, int index) { return serve_one_upload_then_reset(s, index, uploads); };
        Scripted plain([&](net::TcpStream& s, int index) { return serve(s, index); });
        ScriptedTls secure([&](net::TlsStream& s, int index) { return serve(s, index); });
        plain.start();
        secure.start();
        for (bool tls : {false, true}) {
            for (std::string method : {"POST", "PUT"}) {
                uploads = 0;
                int& accepted = tls ? secure.tcp.accepted : plain.accepted;
                accepted = 0;
                http::Client client(tls ? secure.client_options() : http::ClientOptions{});
                std::string url = tls ? secure.url("/upload") : plain.url("/upload");
                EXPECT_EQ(co_await body_of(client.get(url)), "ok");
                http::RequestOptions big;
                big.content = std::string(16 << 20, 'x');
                std::string outcome = co_await body_of(client.request(method, url, std::move(big)));
                if (method == "POST") {
                    // Part of the body reached the server: sending it again could do the action twice.
                    EXPECT_TRUE(contains(outcome, "failed: connection failed while sending the request")) << outcome;
                    EXPECT_EQ(uploads, 1) << tls;
                    EXPECT_EQ(accepted, 1) << tls;
                } else {
                    // PUT is idempotent: a kept-alive connection that fails is retried on a new one.
                    EXPECT_EQ(outcome, "received") << tls;
                    EXPECT_EQ(uploads, 2) << tls;
                    EXPECT_EQ(accepted, 2) << tls;
                }
                co_await corio::sleep(10ms);  // the reset connection's task ends before the next round
            }
        }
        co_await plain.stop();
        co_await secure.stop();
    }());
}

TEST(HttpClient, AStreamThatFailedOrWasCancelledClosesItsConnectionAndKeepsFailing) {
    run_bounded([]() -> Task<void> {
        Scripted server([](net::TcpStream& s, int) -> Task<void> {
            std::string req = co_await read_request(s);
            if (contains(req, "GET /bad-chunk ")) {
                co_await s.write_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n");
            } else {
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
            }
            co_await corio::sleep(10s);
        });
        server.start();
        http::Client client;
        {
            auto r = co_await client.stream("GET", server.url("/bad-chunk"));
            EXPECT_EQ(co_await r.read_chunk(), "hello");
            std::string first = co_await failure_of(r.read_chunk());
            EXPECT_TRUE(contains(first, "RemoteProtocolError: ")) << first;
            EXPECT_EQ(client.statistics().connections_open, 0u);  // closed at once, not when dropped
            EXPECT_EQ(co_await failure_of(r.read_chunk()), first);
            EXPECT_EQ(co_await failure_of(r.read_all()), first);
        }
        {
            auto r = co_await client.stream("GET", server.url("/stall"));
            EXPECT_EQ(co_await r.read_chunk(), "part");
            std::string cancelled = co_await failure_of(corio::timeout(50ms, r.read_chunk()));
            EXPECT_TRUE(contains(cancelled, "corio::TimeoutError")) << cancelled;
            EXPECT_EQ(client.statistics().connections_open, 0u);
            // The read that was cancelled may have taken bytes with it: the body cannot go on.
            std::string later = co_await failure_of(corio::timeout(1s, r.read_chunk()));
            EXPECT_TRUE(contains(later, "NetworkError: ") && contains(later, "cancelled")) << later;
        }
        {
            http::RequestOptions quick;
            quick.timeout = http::Timeouts{.read = 50ms};
            auto r = co_await client.stream("GET", server.url("/stall"), std::move(quick));
            EXPECT_EQ(co_await r.read_chunk(), "part");
            std::string timed_out = co_await failure_of(r.read_chunk());
            EXPECT_TRUE(contains(timed_out, "ReadTimeout: ")) << timed_out;
            EXPECT_EQ(client.statistics().connections_open, 0u);
            EXPECT_EQ(co_await failure_of(corio::timeout(1s, r.read_chunk())), timed_out);
        }
        co_await server.stop();
    }());
}

/// Answers /stall with a head and the first bytes of a body that never comes; anything else with "ok".
template <class Stream>
Task<void> serve_stalling(Stream& s) {
    for (;;) {
        std::string req = co_await read_request(s);
        if (req.empty()) co_return;
        if (!contains(req, "GET /stall ")) {
            co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            continue;
        }
        co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst");
        co_await corio::sleep(10s);
        co_return;
    }
}

/// Streams /stall, closes the response from this task while another one waits in read_chunk(), then
/// checks that the reader fails cleanly, the slot is free and the pool goes on working.
Task<void> close_while_reading(http::Client& client, std::string base) {
    auto r = co_await client.stream("GET", base + "/stall");
    EXPECT_EQ(co_await r.read_chunk(), "first");
    auto reader = spawn(failure_of(r.read_chunk()));
    co_await corio::sleep(50ms);  // the reader waits for bytes that never come
    r.close();
    std::string what = co_await reader;
    EXPECT_TRUE(contains(what, "NetworkError: ") && contains(what, "closed")) << what;
    EXPECT_EQ(client.statistics().connections_open, 0u);
    EXPECT_EQ(co_await failure_of(r.read_chunk()), what);
    // New connections (and the read buffers the pool keeps) are not disturbed by the abandoned read.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await body_of(client.get(base + "/ok")), "ok");
    EXPECT_EQ(client.statistics().connections_idle, 1u);
}

TEST(HttpClient, ClosingAStreamWhileAnotherTaskReadsItIsSafe) {
    run_bounded([]() -> Task<void> {
        Scripted plain([](net::TcpStream& s, int) -> Task<void> { co_await serve_stalling(s); });
        ScriptedTls secure([](net::TlsStream& s, int) -> Task<void> { co_await serve_stalling(s); });
        plain.start();
        secure.start();
        http::Client plain_client;
        co_await close_while_reading(plain_client, plain.url(""));
        http::Client tls_client(secure.client_options());
        co_await close_while_reading(tls_client, secure.url(""));
        co_await plain.stop();
        co_await secure.stop();
    }());
}

TEST(HttpClient, AnIdleTlsConnectionWithUnreadBytesIsNotReused) {
    run_bounded([]() -> Task<void> {
        // After its answer, the server sends what nobody asked for: a second response, or close_notify
        // (keeping TCP open). A request that reused the connection would read that as its own answer.
        ScriptedTls server([](net::TlsStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                if (contains(req, "POST /fresh ")) {
                    co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
                    continue;
                }
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                if (contains(req, "GET /then-garbage ")) {
                    co_await corio::sleep(10ms);
                    co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale");
                } else {
                    co_await corio::sleep(10ms);
                    co_await s.shutdown();
                    co_await corio::sleep(10s);
                    co_return;
                }
            }
        });
        server.start();
        http::Client client(server.client_options());
        for (std::string path : {"/then-garbage", "/then-close-notify"}) {
            EXPECT_EQ(co_await body_of(client.get(server.url(path))), "ok");
            co_await corio::sleep(50ms);  // the unasked bytes arrive while the connection is idle
            http::RequestOptions post;
            post.content = std::string("data");
            EXPECT_EQ(co_await body_of(client.post(server.url("/fresh"), std::move(post))), "fresh") << path;
        }
        EXPECT_EQ(client.statistics().connections_created, 3u);
        co_await server.stop();
    }());
}

TEST(HttpClient, AnotherOriginsIdleConnectionIsClosedOnlyToMakeRoomForAWaiter) {
    run_bounded([]() -> Task<void> {
        Scripted a([](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                if (contains(req, "GET /slow ")) co_await corio::sleep(200ms);
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
            }
        });
        Scripted b([](net::TcpStream& s, int) -> Task<void> {
            for (;;) {
                std::string req = co_await read_request(s);
                if (req.empty()) co_return;
                co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
            }
        });
        a.start();
        b.start();
        {
            // One connection per host: a request waiting for A's only connection gains nothing from
            // closing B's when B's is released.
            http::ClientOptions o;
            o.limits.max_connections = 10;
            o.limits.max_connections_per_host = 1;
            http::Client client(o);
            auto slow = spawn(body_of(client.get(a.url("/slow"))));
            auto waiting = spawn(body_of(client.get(a.url("/next"))));
            co_await corio::sleep(20ms);
            EXPECT_EQ(client.statistics().pool_waiting, 1u);
            EXPECT_EQ(co_await body_of(client.get(b.url("/x"))), "b");
            EXPECT_EQ(client.statistics().connections_idle, 1u);  // B's, released while A's waiter waits
            EXPECT_EQ(co_await slow, "a");
            EXPECT_EQ(co_await waiting, "a");
            EXPECT_EQ(co_await body_of(client.get(b.url("/y"))), "b");
            EXPECT_EQ(client.statistics().connections_created, 2u);  // one to A, one to B, both reused
        }
        {
            // Both limits reached, A's at its own: evicting B's idle connection would not let A open one.
            http::ClientOptions o;
            o.limits.max_connections = 2;
            o.limits.max_connections_per_host = 1;
            http::Client client(o);
            EXPECT_EQ(co_await body_of(client.get(b.url("/x"))), "b");
            auto slow = spawn(body_of(client.get(a.url("/slow"))));
            co_await corio::sleep(20ms);
            auto waiting = spawn(body_of(client.get(a.url("/next"))));
            co_await corio::sleep(20ms);
            EXPECT_EQ(client.statistics().pool_waiting, 1u);
            EXPECT_EQ(client.statistics().connections_idle, 1u);  // B's is still there
            EXPECT_EQ(co_await slow, "a");
            EXPECT_EQ(co_await waiting, "a");
            EXPECT_EQ(co_await body_of(client.get(b.url("/y"))), "b");
            EXPECT_EQ(client.statistics().connections_created, 2u);
        }
        {
            // Under the overall limit, B's idle connection does make room for A.
            http::ClientOptions o;
            o.limits.max_connections = 1;
            http::Client client(o);
            EXPECT_EQ(co_await body_of(client.get(b.url("/x"))), "b");
            EXPECT_EQ(client.statistics().connections_idle, 1u);
            EXPECT_EQ(co_await body_of(client.get(a.url("/y"))), "a");
            EXPECT_EQ(client.statistics().connections_created, 2u);
            EXPECT_EQ(client.statistics().connections_open, 1u);
        }
        co_await a.stop();
        co_await b.stop();
    }());
}

}  // namespace

// ------------------------------------------------------------------------------------------------------------
// Against corio's own server (plain and TLS)

namespace {

http::Server make_server(http::ServerOptions options = {}) {
    http::Server server(std::move(options));
    server.route("GET", "/items/{id}", [](http::Request& req) -> Task<http::Response> {
        nlohmann::json j;
        j["id"] = std::string(req.param("id"));
        j["q"] = req.query_param("q").value_or("");
        co_return http::Response::json(j);
    });
    server.route("POST", "/echo", [](http::Request& req) -> Task<http::Response> {
        nlohmann::json j = req.json();
        j["echoed"] = true;
        co_return http::Response::json(j, 201);
    });
    server.route("GET", "/stream", [](http::Request&) -> Task<http::Response> {
        auto n = std::make_shared<int>(0);
        co_return http::Response::stream([n]() -> Task<std::string> {
            if (*n == 100) co_return std::string();
            co_await corio::yield();
            co_return "piece " + std::to_string((*n)++) + "\n";
        }, 200, "text/plain");
    });
    server.route("GET", "/slow", [](http::Request&) -> Task<http::Response> {
        co_await corio::sleep(10s);
        co_return http::Response::text("late");
    });
    return server;
}

}  // namespace

TEST(HttpClientServer, JsonRoundTripsStreamsAndStatusOverPlainAndTls) {
    corio_test::TestPki pki;
    auto id = pki.issue("server", {.common_name = "localhost", .alt_names = {"DNS:localhost", "IP:127.0.0.1"}});
    auto server_ctx = net::TlsContext::server({.cert_file = id.cert, .key_file = id.key});
    std::string ca = pki.ca_file();
    run_bounded([&]() -> Task<void> {
        http::Server plain = make_server();
        plain.listen();
        plain.start();
        http::ServerOptions tls_options;
        tls_options.tls = server_ctx;
        http::Server secure = make_server(std::move(tls_options));
        secure.listen();
        secure.start();
        http::ClientOptions co;
        co.ca_file = ca;
        http::Client client(co);
        for (std::string base : {"http://127.0.0.1:" + std::to_string(plain.port()),
                                 "https://localhost:" + std::to_string(secure.port())}) {
            http::RequestOptions q;
            q.params = {{"q", "a b/c"}};
            auto item = co_await client.get(base + "/items/42", std::move(q));
            EXPECT_EQ(item.status(), 200);
            EXPECT_EQ(item.json()["id"], "42");
            EXPECT_EQ(item.json()["q"], "a b/c");
            http::RequestOptions body;
            body.json = nlohmann::json::object();
            (*body.json)["n"] = 7;
            auto echo = co_await client.post(base + "/echo", std::move(body));
            EXPECT_EQ(echo.status(), 201);
            EXPECT_EQ(echo.json()["n"], 7);
            EXPECT_EQ(echo.json()["echoed"], true);
            auto streamed = co_await client.get(base + "/stream");
            EXPECT_TRUE(streamed.headers().has_token("transfer-encoding", "chunked"));
            EXPECT_TRUE(contains(streamed.body(), "piece 0\npiece 1\n") && contains(streamed.body(), "piece 99\n"));
            auto chunks = co_await client.stream("GET", base + "/stream");
            int pieces = 0;
            for (int i = 0; i < 1000; ++i) {
                std::string c = co_await chunks.read_chunk();
                if (c.empty()) break;
                ++pieces;
            }
            EXPECT_GE(pieces, 1);
            auto missing = co_await client.get(base + "/nowhere");
            EXPECT_EQ(missing.status(), 404);
            EXPECT_THROW(missing.raise_for_status(), http::StatusError);
            http::RequestOptions quick;
            quick.timeout = http::Timeouts{.read = 100ms};
            std::string what = co_await error_of<http::ReadTimeout>(client.get(base + "/slow", std::move(quick)));
            EXPECT_TRUE(contains(what, "took longer than 100 ms")) << what;
        }
        auto st = client.statistics();
        EXPECT_GE(st.reused, 6u);
        client.close_idle();
        co_await plain.shutdown(1s);
        co_await secure.shutdown(1s);
    }());
}
