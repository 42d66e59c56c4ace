// The HTTP/1.1 parser on byte buffers: framing, keep-alive, limits, errors, and input split anywhere.
#include <corio/http/parser.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace http = corio::http;
using http::BodyKind;
using http::Event;
using http::ParseError;
using namespace std::string_literals;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// One parsed message, copied out of the parser's views.
struct Message {
    std::string method, target, reason;
    int status = 0;
    int minor = -1;
    Fields headers, trailers;
    std::string body;
    BodyKind kind = BodyKind::none;
    bool keep_alive = false;
    bool upgrade = false;
    bool operator==(const Message&) const = default;
};

Fields copy(const http::Headers& h) {
    Fields out;
    for (const http::Header& f : h) out.emplace_back(f.name, f.value);
    return out;
}

void on_head(const http::RequestParser& p, Message& m) {
    m.method = p.method();
    m.target = p.target();
}
void on_head(const http::ResponseParser& p, Message& m) {
    m.status = p.status();
    m.reason = p.reason();
}

// Feeds `input` the way a connection would: the pieces end at `cuts` (then at the end), each appended to a
// buffer from which consumed bytes are erased (so the unconsumed bytes move). Ends with finish() if `eof`.
template <typename Parser>
std::vector<Message> parse(Parser& p, std::string_view input, const std::vector<std::size_t>& cuts = {},
                           bool eof = true) {
    std::vector<Message> out;
    Message cur;
    std::string buf;
    std::size_t fed = 0;
    auto drain = [&] {
        for (;;) {
            http::Step s = p.feed(buf);
            switch (s.event) {
            case Event::need_data: buf.erase(0, s.consumed); return;
            case Event::head:
                // The views point into the caller's buffer: nothing was copied.
                for (const http::Header& h : p.headers()) {
                    EXPECT_GE(h.name.data(), buf.data());
                    EXPECT_LE(h.value.data() + h.value.size(), buf.data() + buf.size());
                }
                on_head(p, cur);
                cur.minor = p.version_minor();
                cur.headers = copy(p.headers());
                cur.kind = p.body_kind();
                cur.keep_alive = p.keep_alive();
                cur.upgrade = p.upgrade();
                break;
            case Event::body:
                EXPECT_GE(s.data.data(), buf.data());
                cur.body += s.data;
                break;
            case Event::complete:
                cur.trailers = copy(p.trailers());
                out.push_back(std::exchange(cur, Message{}));
                if (p.upgrade()) {
                    buf.erase(0, s.consumed);
                    return;
                }
                break;
            }
            buf.erase(0, s.consumed);
        }
    };
    for (std::size_t c : cuts) {
        buf.append(input.substr(fed, c - fed));
        fed = c;
        drain();
        if (!out.empty() && out.back().upgrade) return out;
    }
    buf.append(input.substr(fed));
    drain();
    if (eof && !(!out.empty() && out.back().upgrade) && p.finish()) out.push_back(std::exchange(cur, Message{}));
    return out;
}

template <typename Parser>
std::vector<Message> parse_whole(std::string_view input) {
    Parser p;
    return parse(p, input);
}

// The same messages however the input is split: at every single point, and one byte at a time.
template <typename Parser>
void expect_split_invariant(std::string_view input) {
    const std::vector<Message> whole = parse_whole<Parser>(input);
    ASSERT_FALSE(whole.empty()) << input;
    for (std::size_t k = 0; k <= input.size(); ++k) {
        Parser p;
        ASSERT_EQ(parse(p, input, {k}), whole) << "split at " << k << " of " << input;
    }
    std::vector<std::size_t> every;
    for (std::size_t k = 1; k < input.size(); ++k) every.push_back(k);
    Parser p;
    EXPECT_EQ(parse(p, input, every), whole) << "byte at a time: " << input;
}

template <typename Parser>
std::string error_of(std::string_view input, ParseError expected) {
    Parser p;
    try {
        (void)parse(p, input);
    } catch (const http::RemoteProtocolError& e) {
        EXPECT_EQ(p.error(), expected) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "no error for: " << input;
    return {};
}
std::string response_error(std::string_view input, ParseError expected) {
    return error_of<http::ResponseParser>(input, expected);
}
std::string request_error(std::string_view input, ParseError expected) {
    return error_of<http::RequestParser>(input, expected);
}

const std::string k_nginx =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Content-Type: application/json\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n{\"hello\": 42}";
const std::string k_chunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: Expires\r\n\r\n"
    "5;name=value;q=\"x y\"\r\nhello\r\n7 ; last\r\n, world\r\n0\r\nExpires: never\r\nX-Sum:  abc  \r\n\r\n";

}  // namespace

TEST(HttpResponseParser, ParsesAContentLengthResponse) {
    auto msgs = parse_whole<http::ResponseParser>(k_nginx);
    ASSERT_EQ(msgs.size(), 1u);
    const Message& m = msgs[0];
    EXPECT_EQ(m.status, 200);
    EXPECT_EQ(m.reason, "OK");
    EXPECT_EQ(m.minor, 1);
    EXPECT_EQ(m.kind, BodyKind::length);
    EXPECT_EQ(m.body, "{\"hello\": 42}");
    EXPECT_TRUE(m.keep_alive);
    ASSERT_EQ(m.headers.size(), 5u);
    EXPECT_EQ(m.headers[1], (std::pair<std::string, std::string>("Date", "Mon, 01 Jan 2024 00:00:00 GMT")));
}

TEST(HttpResponseParser, LooksUpHeadersCaseInsensitivelyWithoutCopying) {
    http::ResponseParser p;
    http::Step s = p.feed(k_nginx);
    ASSERT_EQ(s.event, Event::head);
    EXPECT_EQ(p.headers().get("content-type"), "application/json");
    EXPECT_EQ(p.headers().get("CONTENT-LENGTH"), "13");
    EXPECT_FALSE(p.headers().get("content-encoding"));
    EXPECT_TRUE(p.headers().has_token("connection", "Keep-Alive"));
    EXPECT_EQ(p.content_length(), 13u);
    const char* begin = k_nginx.data();
    EXPECT_EQ(p.headers()[0].name.data(), begin + k_nginx.find("Server"));
    EXPECT_EQ(p.reason().data(), begin + k_nginx.find("OK"));
    EXPECT_EQ(s.consumed, k_nginx.find("{"));
    s = p.feed(std::string_view(k_nginx).substr(s.consumed));
    ASSERT_EQ(s.event, Event::body);
    EXPECT_EQ(s.data, "{\"hello\": 42}");
    EXPECT_EQ(p.feed({}).event, Event::complete);
    EXPECT_EQ(p.feed({}).event, Event::need_data);
}

TEST(HttpResponseParser, ParsesChunkedBodyWithExtensionsAndTrailers) {
    auto msgs = parse_whole<http::ResponseParser>(k_chunked);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].kind, BodyKind::chunked);
    EXPECT_EQ(msgs[0].body, "hello, world");
    EXPECT_EQ(msgs[0].trailers, (Fields{{"Expires", "never"}, {"X-Sum", "abc"}}));
    EXPECT_TRUE(msgs[0].keep_alive);
}

TEST(HttpResponseParser, ReadsACloseDelimitedBodyUntilFinish) {
    http::ResponseParser p;
    std::string_view in = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this";
    http::Step s = p.feed(in);
    ASSERT_EQ(s.event, Event::head);
    EXPECT_EQ(p.body_kind(), BodyKind::until_close);
    EXPECT_FALSE(p.keep_alive());
    in.remove_prefix(s.consumed);
    s = p.feed(in);
    EXPECT_EQ(s.event, Event::body);
    EXPECT_EQ(s.data, "all of this");
    EXPECT_EQ(p.feed({}).event, Event::need_data);
    EXPECT_TRUE(p.finish());
    EXPECT_FALSE(p.finish());
}

TEST(HttpResponseParser, ResponseToHeadHasNoBody) {
    http::ResponseParser p;
    p.expect_no_body();
    auto msgs = parse(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_EQ(msgs[0].kind, BodyKind::none);
    EXPECT_EQ(msgs[0].body, "");
    EXPECT_EQ(msgs[1].body, "hello");  // expect_no_body() covered only the first response
}

TEST(HttpResponseParser, NoBodyFor204And304EvenWithFramingHeaders) {
    auto msgs = parse_whole<http::ResponseParser>(
        "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[0].status, 204);
    EXPECT_EQ(msgs[0].body, "");
    EXPECT_EQ(msgs[1].status, 304);
    EXPECT_EQ(msgs[1].body, "");
    EXPECT_EQ(msgs[2].body, "abc");
}

TEST(HttpResponseParser, InterimResponsesPrecedeTheFinalOne) {
    http::ResponseParser p;
    p.expect_no_body();
    std::string in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    auto msgs = parse(p, in);
    ASSERT_EQ(msgs.size(), 4u);
    EXPECT_EQ(msgs[0].status, 100);
    EXPECT_EQ(msgs[1].headers, (Fields{{"Link", "</a.css>"}}));
    EXPECT_EQ(msgs[2].body, "");  // the HEAD flag outlived the interim responses
    EXPECT_EQ(msgs[3].body, "hi");
    http::ResponseParser q;
    ASSERT_EQ(q.feed("HTTP/1.1 102 Processing\r\n\r\n").event, Event::head);
    EXPECT_TRUE(q.interim());
}

TEST(HttpResponseParser, SwitchingProtocolsEndsTheHttpExchange) {
    http::ResponseParser p;
    std::string_view in = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05";
    http::Step s = p.feed(in);
    ASSERT_EQ(s.event, Event::head);
    EXPECT_TRUE(p.upgrade());
    EXPECT_FALSE(p.keep_alive());
    s = p.feed(in.substr(s.consumed));
    EXPECT_EQ(s.event, Event::complete);
    EXPECT_EQ(s.consumed, 0u);
    EXPECT_THROW((void)p.feed("\x81"), std::logic_error);
    p.reset();
    EXPECT_EQ(parse(p, k_nginx).size(), 1u);
}

TEST(HttpResponseParser, ChunkedWinsOverContentLengthButTheConnectionIsNotReused) {
    auto msgs = parse_whole<http::ResponseParser>(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].kind, BodyKind::chunked);
    EXPECT_EQ(msgs[0].body, "abc");
    EXPECT_FALSE(msgs[0].keep_alive);
}

TEST(HttpResponseParser, OtherTransferCodingsReadUntilClose) {
    auto msgs = parse_whole<http::ResponseParser>(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n3\r\nabc");
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].kind, BodyKind::until_close);
    EXPECT_EQ(msgs[0].body, "3\r\nabc");
}

TEST(HttpResponseParser, AcceptsIdenticalRepeatedContentLength) {
    auto msgs = parse_whole<http::ResponseParser>("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 02\r\n\r\nok");
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].body, "ok");
}

TEST(HttpResponseParser, AcceptsBareLfLineEndsAndEmptyReason) {
    auto msgs = parse_whole<http::ResponseParser>("HTTP/1.0 404\nContent-Length: 1\n\nx");
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].status, 404);
    EXPECT_EQ(msgs[0].reason, "");
    EXPECT_EQ(msgs[0].minor, 0);
    EXPECT_EQ(msgs[0].body, "x");
}

TEST(HttpResponseParser, DecidesKeepAliveFromVersionAndConnection) {
    auto keep_alive = [](std::string head) {
        http::ResponseParser p;
        http::Step s = p.feed(head + "Content-Length: 0\r\n\r\n");
        EXPECT_EQ(s.event, Event::head);
        return p.keep_alive();
    };
    EXPECT_TRUE(keep_alive("HTTP/1.1 200 OK\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.1 200 OK\r\nConnection: close\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.0 200 OK\r\n"));
    EXPECT_TRUE(keep_alive("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"));
    EXPECT_TRUE(keep_alive("HTTP/1.1 200 OK\r\nProxy-Connection: close\r\n"));
}

TEST(HttpRequestParser, ParsesAGetWithAQuery) {
    auto msgs = parse_whole<http::RequestParser>("GET /search?q=corio&lang=c%2B%2B HTTP/1.1\r\nHost: example.com\r\n\r\n");
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].method, "GET");
    EXPECT_EQ(msgs[0].target, "/search?q=corio&lang=c%2B%2B");
    EXPECT_EQ(msgs[0].kind, BodyKind::none);
    EXPECT_TRUE(msgs[0].keep_alive);
    EXPECT_EQ(msgs[0].headers, (Fields{{"Host", "example.com"}}));
}

TEST(HttpRequestParser, ParsesBodiesByContentLengthAndChunks) {
    auto msgs = parse_whole<http::RequestParser>(
        "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\": 123}"
        "PUT /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n");
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_EQ(msgs[0].method, "POST");
    EXPECT_EQ(msgs[0].body, "{\"id\": 123}");
    EXPECT_EQ(msgs[1].method, "PUT");
    EXPECT_EQ(msgs[1].kind, BodyKind::chunked);
    EXPECT_EQ(msgs[1].body, "Wikipedia");
}

TEST(HttpRequestParser, ParsesPipelinedRequestsInOneBuffer) {
    std::string one = "GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\n\r\n";
    auto msgs = parse_whole<http::RequestParser>(one + one + "\r\n" + one);
    ASSERT_EQ(msgs.size(), 3u);
    for (const Message& m : msgs) EXPECT_EQ(m.headers.size(), 2u);
}

TEST(HttpRequestParser, ConnectEndsTheHttpExchange) {
    auto msgs = parse_whole<http::RequestParser>("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03");
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].target, "example.com:443");
    EXPECT_TRUE(msgs[0].upgrade);
}

TEST(HttpRequestParser, Http10RequestClosesUnlessKeepAlive) {
    auto msgs = parse_whole<http::RequestParser>("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_FALSE(msgs[0].keep_alive);
    EXPECT_TRUE(msgs[1].keep_alive);
}

TEST(HttpParser, GivesTheSameResultHoweverTheInputIsSplit) {
    expect_split_invariant<http::ResponseParser>(k_nginx);
    expect_split_invariant<http::ResponseParser>(k_chunked);
    expect_split_invariant<http::ResponseParser>("\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil close");
    expect_split_invariant<http::ResponseParser>("HTTP/1.1 204 No Content\nX: y\n\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect_split_invariant<http::RequestParser>(
        "POST /a?b=c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(HttpParser, ReportsTheSameErrorHoweverTheInputIsSplit) {
    const std::string bad = "HTTP/1.1 200 OK\r\nX: 1\r\nBad Name: 2\r\nContent-Length: 0\r\n\r\n";
    const std::string whole = response_error(bad, ParseError::invalid_header_name);
    for (std::size_t k = 0; k <= bad.size(); ++k) {
        http::ResponseParser p;
        try {
            (void)parse(p, bad, {k});
            ADD_FAILURE() << "no error when split at " << k;
        } catch (const http::RemoteProtocolError& e) {
            EXPECT_EQ(e.what(), whole);
        }
    }
}

TEST(HttpParser, EnforcesTheHeaderSectionSizeLimit) {
    std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a') + "\r\n\r\n";
    EXPECT_EQ(response_error(big, ParseError::header_section_too_large),
              "malformed HTTP response: header section larger than 65536 bytes");
    // Detected before the end of the section arrives.
    http::ResponseParser p;
    EXPECT_THROW((void)p.feed(std::string_view(big).substr(0, 65 * 1024)), http::RemoteProtocolError);

    http::ResponseParser fits({.max_header_bytes = 64});
    EXPECT_EQ(fits.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: 0123456789abcdefghijk\r\n\r\n").event, Event::head);
    http::ResponseParser small({.max_header_bytes = 64});
    EXPECT_THROW((void)small.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: 0123456789abcdefghijkl\r\n\r\n"),
                 http::RemoteProtocolError);
    EXPECT_EQ(small.error(), ParseError::header_section_too_large);
}

TEST(HttpParser, EnforcesTheHeaderCountLimit) {
    auto with = [](int n) {
        std::string s = "GET / HTTP/1.1\r\n";
        for (int i = 0; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
        return s + "\r\n";
    };
    EXPECT_EQ(parse_whole<http::RequestParser>(with(100)).at(0).headers.size(), 100u);
    EXPECT_EQ(request_error(with(101), ParseError::too_many_headers),
              "malformed HTTP request: more than 100 header fields at offset 906");
    http::RequestParser p({.max_headers = 3});
    EXPECT_EQ(parse(p, with(3)).size(), 1u);
    EXPECT_THROW((void)parse(p, with(4)), http::RemoteProtocolError);
    EXPECT_EQ(p.error(), ParseError::too_many_headers);
}

TEST(HttpParser, EnforcesStartLineAndChunkLineLimits) {
    EXPECT_EQ(request_error("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", ParseError::start_line_too_long),
              "malformed HTTP request: start line longer than 8192 bytes");
    http::RequestParser p;
    EXPECT_THROW((void)p.feed("GET /" + std::string(9000, 'a')), http::RemoteProtocolError);
    response_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(5000, 'x') + "\r\na\r\n0\r\n\r\n",
                   ParseError::chunk_line_too_long);
}

TEST(HttpParser, TrailersHaveTheSameLimits) {
    std::string many = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    for (int i = 0; i < 101; ++i) many += "T: v\r\n";
    EXPECT_NE(response_error(many + "\r\n", ParseError::too_many_headers).find("more than 100 trailer fields"),
              std::string::npos);
}

TEST(HttpResponseParser, RejectsMalformedStatusLines) {
    response_error("HTTP/1.1 20 OK\r\n\r\n", ParseError::invalid_status);
    response_error("HTTP/1.1 2000 OK\r\n\r\n", ParseError::invalid_status);
    response_error("HTTP/1.1 099 Low\r\n\r\n", ParseError::invalid_status);
    response_error("HTTP/1.1 abc OK\r\n\r\n", ParseError::invalid_status);
    response_error("HTTP/1.1  200 OK\r\n\r\n", ParseError::invalid_status);
    response_error("HTTP/1.1 200 O\x01K\r\n\r\n", ParseError::invalid_reason);
    response_error("HTTX/1.1 200 OK\r\n\r\n", ParseError::invalid_version);
    response_error("HTTP/1.x 200 OK\r\n\r\n", ParseError::invalid_version);
    response_error("HTTP/11 200 OK\r\n\r\n", ParseError::invalid_version);
    response_error("HTTP/2.0 200 OK\r\n\r\n", ParseError::unsupported_version);
    response_error("ICY 200 OK\r\n\r\n", ParseError::invalid_version);
}

TEST(HttpRequestParser, RejectsMalformedRequestLines) {
    request_error("GET  / HTTP/1.1\r\n\r\n", ParseError::invalid_target);
    request_error("G(T / HTTP/1.1\r\n\r\n", ParseError::invalid_method);
    request_error("GET /a\x7f HTTP/1.1\r\n\r\n", ParseError::invalid_target);
    request_error("GET /\r\n\r\n", ParseError::invalid_version);
    request_error("GET / HTTP/1.1 \r\n\r\n", ParseError::invalid_version);
    request_error("GET / HTTP/0.9\r\n\r\n", ParseError::unsupported_version);
}

TEST(HttpParser, RejectsBadContentLength) {
    response_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ParseError::invalid_content_length);
    response_error("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", ParseError::invalid_content_length);
    response_error("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", ParseError::invalid_content_length);
    response_error("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", ParseError::invalid_content_length);
    response_error("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n", ParseError::invalid_content_length);
    response_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", ParseError::conflicting_content_length);
    request_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ParseError::conflicting_framing);
    request_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", ParseError::unsupported_transfer_encoding);
    // Nothing decodes gzip in a request, nor a second chunked: their bytes would pass for the body.
    request_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ParseError::unsupported_transfer_encoding);
    request_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                  ParseError::unsupported_transfer_encoding);
    response_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: g@zip, chunked\r\n\r\n0\r\n\r\n",
                   ParseError::unsupported_transfer_encoding);
}

TEST(HttpParser, RejectsBadChunks) {
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    EXPECT_NE(response_error(head + "zz\r\n", ParseError::invalid_chunk_size).find("invalid chunk size at offset 47"),
              std::string::npos);
    response_error(head + "-1\r\n", ParseError::invalid_chunk_size);
    response_error(head + "10000000000000000\r\n", ParseError::invalid_chunk_size);
    response_error(head + "3\nabc\r\n0\r\n\r\n", ParseError::bare_lf);
    response_error(head + "3\rX\nabc\r\n0\r\n\r\n", ParseError::bare_cr);
    response_error(head + "3 junk\r\nabc\r\n0\r\n\r\n", ParseError::invalid_chunk_extension);
    response_error(head + "3;a\x01\r\nabc\r\n0\r\n\r\n", ParseError::invalid_chunk_extension);
    response_error(head + "3\r\nabcd\r\n0\r\n\r\n", ParseError::invalid_chunk_end);
}

TEST(HttpParser, RejectsBadHeaderLinesNamingTheOffset) {
    EXPECT_EQ(response_error("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", ParseError::invalid_header_name),
              "malformed HTTP response: invalid character in header name at offset 20");
    EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost : x\r\n\r\n", ParseError::invalid_header_name),
              "malformed HTTP request: whitespace between header name and colon at offset 20");
    response_error("HTTP/1.1 200 OK\r\n: x\r\n\r\n", ParseError::invalid_header_name);
    response_error("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", ParseError::invalid_header_name);
    response_error("HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\n\r\n", ParseError::obs_fold);
    response_error("HTTP/1.1 200 OK\r\n X: a\r\n\r\n", ParseError::obs_fold);
    response_error("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", ParseError::bare_cr);
    response_error("HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n", ParseError::bare_cr);
    response_error("HTTP/1.1 200 OK\r\r\n\r\n", ParseError::bare_cr);
    response_error("HTTP/1.1 200 OK\r\nX: a\x00" "b\r\n\r\n"s, ParseError::invalid_header_value);
}

TEST(HttpParser, FindsAForbiddenByteAnywhereInAValue) {
    for (std::size_t at = 0; at < 40; ++at) {
        for (char bad : {'\x00', '\x01', '\x1f', '\x7f', '\r'}) {
            std::string value(40, 'v');
            value[at] = bad;
            std::string in = "HTTP/1.1 200 OK\r\nX: " + value + "\r\nContent-Length: 0\r\n\r\n";
            http::ResponseParser p;
            try {
                (void)p.feed(in);
                ADD_FAILURE() << "accepted byte " << int(bad) << " at " << at;
            } catch (const http::RemoteProtocolError& e) {
                // The leading byte of a value counts as whitespace-skipping territory only for SP and HTAB.
                EXPECT_NE(std::string(e.what()).find("at offset " + std::to_string(20 + at)), std::string::npos) << e.what();
                EXPECT_EQ(p.error(), bad == '\r' ? ParseError::bare_cr : ParseError::invalid_header_value);
            }
        }
    }
}

TEST(HttpParser, AcceptsHtabObsTextAndLongLinesInValues) {
    const std::string long_value(3000, 'x');
    std::string in = "HTTP/1.1 200 OK\r\nX-Tab: a\tb\t\r\nX-Utf8: caf\xc3\xa9\r\nX-Long: " + long_value +
                     "\r\nContent-Length: 0\r\n\r\n";
    auto msgs = parse_whole<http::ResponseParser>(in);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].headers[0].second, "a\tb");
    EXPECT_EQ(msgs[0].headers[1].second, "caf\xc3\xa9");
    EXPECT_EQ(msgs[0].headers[2].second, long_value);
    expect_split_invariant<http::ResponseParser>(in.substr(0, 60) + "Content-Length: 0\r\n\r\n");
}

TEST(HttpParser, ReportsAConnectionClosedInsideAMessage) {
    EXPECT_NE(response_error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ParseError::truncated)
                  .find("connection closed before the end of the body"),
              std::string::npos);
    response_error("HTTP/1.1 200 OK\r\nContent", ParseError::truncated);
    response_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", ParseError::truncated);
    http::ResponseParser p;
    EXPECT_EQ(p.feed("\r\n").event, Event::need_data);
    EXPECT_FALSE(p.finish());  // nothing but empty lines: a clean close
}

TEST(HttpParser, FinishCompletesABodyWhoseLastBytesWereFed) {
    http::ResponseParser p;
    std::string_view in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    http::Step s = p.feed(in);
    s = p.feed(in.substr(s.consumed));
    ASSERT_EQ(s.event, Event::body);
    EXPECT_TRUE(p.finish());  // the complete event had not been collected yet
    EXPECT_FALSE(p.finish());
}

TEST(HttpParser, IsUnusableAfterAnErrorUntilReset) {
    http::RequestParser p;
    EXPECT_THROW((void)p.feed("GET / HTTP/1.1\r\nA B: c\r\n\r\n"), http::RemoteProtocolError);
    EXPECT_THROW((void)p.feed("GET / HTTP/1.1\r\n\r\n"), std::logic_error);
    p.reset();
    EXPECT_EQ(p.error(), ParseError::none);
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n").event, Event::head);
}

TEST(HttpError, NamesTheRequestWhenKnown) {
    http::RemoteProtocolError e("malformed HTTP response: invalid status code at offset 8", "GET", "http://x/y");
    EXPECT_STREQ(e.what(), "malformed HTTP response: invalid status code at offset 8 (GET http://x/y)");
    EXPECT_EQ(e.method(), "GET");
    EXPECT_EQ(e.url(), "http://x/y");
    const corio::Error& base = e;
    EXPECT_NE(dynamic_cast<const http::HttpError*>(&base), nullptr);
}
