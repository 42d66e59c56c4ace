// libFuzzer target for http::Url: parse, resolve references, encode and decode. The input is split at the
// first newline into a URL and a reference. Checks: no crash or sanitizer report; only InvalidUrl is thrown;
// a parsed URL prints as text that parses back to the same URL; a target never holds a byte that may not be
// sent on a request line; percent_decode(form_encode(x)) == x.

#include <corio/http/url.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool sendable(std::string_view target) {
    for (char ch : target) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return !target.empty() && target.front() == '/';
}

void round_trip(const corio::http::Url& u) {
    check(sendable(u.target()));
    check(!u.host().empty() && u.port() != 0);
    auto again = corio::http::Url::parse(u.to_string());
    check(again.to_string() == u.to_string());
    check(again.host() == u.host() && again.port() == u.port() && again.target() == u.target());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::size_t nl = in.find('\n');
    std::string_view text = in.substr(0, nl);
    std::string_view ref = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);

    check(corio::http::percent_decode(corio::http::form_encode(in), true) == in);
    try {
        auto u = corio::http::Url::parse(text);
        round_trip(u);
        try {
            round_trip(u.join(ref));
        } catch (const corio::http::InvalidUrl&) {
        }
        u.add_params({{std::string(ref), std::string(text)}});
        check(sendable(u.target()));
    } catch (const corio::http::InvalidUrl&) {
    }
    return 0;
}
