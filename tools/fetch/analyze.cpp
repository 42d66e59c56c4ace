// The CPU-bound step of corio-fetch, run by to_thread or a ProcessPool worker, never on the loop.

#include "fetch.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <cctype>
#include <string_view>

namespace fetch {
namespace {

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(2 * len, '0');
    for (unsigned i = 0; i < len; ++i) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    return out;
}

bool iequal_at(std::string_view s, std::size_t at, std::string_view word) {
    if (s.size() - at < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[at + i])) != word[i]) return false;
    return true;
}

/// Links of an HTML page: href="..." / href='...' / href=x attributes of any tag, non-empty, not "#...".
std::int64_t count_links(std::string_view html) {
    std::int64_t n = 0;
    for (std::size_t at = 0; at + 5 <= html.size(); ++at) {
        if (!iequal_at(html, at, "href")) continue;
        std::size_t p = at + 4;
        while (p < html.size() && (html[p] == ' ' || html[p] == '\t' || html[p] == '\n')) ++p;
        if (p >= html.size() || html[p] != '=') continue;
        ++p;
        while (p < html.size() && (html[p] == ' ' || html[p] == '\t' || html[p] == '\n')) ++p;
        if (p >= html.size()) break;
        char first = html[p];
        if (first == '"' || first == '\'') ++p;
        if (p < html.size() && html[p] != first && html[p] != '#' && html[p] != '>') ++n;
        at = p;
    }
    return n;
}

}  // namespace

std::tuple<std::string, std::int64_t, std::string> analyze(std::string body, std::string content_type) {
    std::string digest = sha256_hex(body);
    for (auto& c : content_type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (content_type.find("json") != std::string::npos) {
        auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded()) return {digest, 0, "bad-json"};
        std::int64_t members = doc.is_structured() ? static_cast<std::int64_t>(doc.size()) : 1;
        return {digest, members, "json"};
    }
    if (content_type.find("html") != std::string::npos) return {digest, count_links(body), "html"};
    if (content_type.starts_with("text/")) return {digest, 0, "text"};
    return {digest, 0, "other"};
}

}  // namespace fetch
