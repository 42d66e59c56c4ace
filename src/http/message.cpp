// HeaderMap and Response: the owned message types the client returns and server handlers build.

#include <corio/http/message.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace corio::http {

namespace {

void check_field(std::string_view name, std::string_view value) {
    if (!is_token(name))
        throw std::invalid_argument("invalid HTTP header name: \"" + std::string(name) + "\"");
    for (char c : value)
        if (c == '\r' || c == '\n' || c == '\0')
            throw std::invalid_argument("invalid HTTP header value for " + std::string(name) +
                                        ": holds CR, LF or NUL");
}

}  // namespace

HeaderMap::HeaderMap(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    m_fields.reserve(fields.size());
    for (const auto& [name, value] : fields) add(name, value);
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const noexcept {
    for (const HeaderField& f : m_fields)
        if (iequals(f.name, name)) return std::string_view(f.value);
    return std::nullopt;
}

std::vector<std::string_view> HeaderMap::get_all(std::string_view name) const {
    std::vector<std::string_view> values;
    for (const HeaderField& f : m_fields)
        if (iequals(f.name, name)) values.emplace_back(f.value);
    return values;
}

bool HeaderMap::has_token(std::string_view name, std::string_view token) const noexcept {
    for (const HeaderField& f : m_fields)
        if (iequals(f.name, name) && list_has_token(f.value, token)) return true;
    return false;
}

HeaderMap& HeaderMap::add(std::string_view name, std::string_view value) {
    check_field(name, value);
    m_fields.push_back({std::string(name), std::string(value)});
    return *this;
}

HeaderMap& HeaderMap::set(std::string_view name, std::string_view value) {
    check_field(name, value);
    auto first = std::find_if(m_fields.begin(), m_fields.end(), [&](const HeaderField& f) { return iequals(f.name, name); });
    if (first == m_fields.end()) {
        m_fields.push_back({std::string(name), std::string(value)});
        return *this;
    }
    first->name.assign(name);
    first->value.assign(value);
    m_fields.erase(std::remove_if(first + 1, m_fields.end(), [&](const HeaderField& f) { return iequals(f.name, name); }),
                   m_fields.end());
    return *this;
}

std::size_t HeaderMap::remove(std::string_view name) noexcept {
    auto end = std::remove_if(m_fields.begin(), m_fields.end(), [&](const HeaderField& f) { return iequals(f.name, name); });
    auto n = static_cast<std::size_t>(m_fields.end() - end);
    m_fields.erase(end, m_fields.end());
    return n;
}

void HeaderMap::merge_missing(const HeaderMap& other) {
    for (const HeaderField& f : other.m_fields)
        if (!contains(f.name)) m_fields.push_back(f);
}

void HeaderMap::assign_parsed(const Headers& fields) {
    m_fields.clear();
    m_fields.reserve(fields.size());
    for (const Header& h : fields) m_fields.push_back({std::string(h.name), std::string(h.value)});
}

Response::Response(int status, std::string body, HeaderMap headers)
    : m_status(status), m_headers(std::move(headers)), m_body(std::move(body)) {}

Response Response::text(std::string body, int status) {
    Response r(status, std::move(body));
    r.m_headers.set("Content-Type", "text/plain; charset=utf-8");
    return r;
}

Response Response::json(const nlohmann::json& value, int status) {
    Response r(status, value.dump());
    r.m_headers.set("Content-Type", "application/json");
    return r;
}

Response Response::html(std::string body, int status) {
    Response r(status, std::move(body));
    r.m_headers.set("Content-Type", "text/html; charset=utf-8");
    return r;
}

Response Response::stream(BodySource source, int status, std::string content_type) {
    Response r(status);
    r.m_headers.set("Content-Type", content_type);
    r.m_source = std::move(source);
    return r;
}

std::string_view Response::reason() const noexcept {
    if (!m_reason.empty()) return m_reason;
    return reason_phrase(m_status);
}

nlohmann::json Response::json() const {
    try {
        return nlohmann::json::parse(m_body);
    } catch (const nlohmann::json::parse_error& e) {
        std::string what = "invalid JSON in the response body at offset " + std::to_string(e.byte) + " of " +
                           std::to_string(m_body.size()) + " bytes";
        // nlohmann's own text names what it expected ("syntax error while parsing value - invalid literal").
        std::string_view detail = e.what();
        if (auto colon = detail.find(": "); colon != std::string_view::npos) detail.remove_prefix(colon + 2);
        what.append(": ").append(detail);
        if (m_url.empty()) throw DecodeError(what);
        throw DecodeError(what, m_method, m_url);
    }
}

bool Response::is_redirect() const noexcept {
    switch (m_status) {
    case 301: case 302: case 303: case 307: case 308:
        return m_headers.contains("location");
    default:
        return false;
    }
}

const Response& Response::raise_for_status() const {
    if (m_status < 400) return *this;
    std::string excerpt = m_body.substr(0, 200);
    std::string what = "HTTP " + std::to_string(m_status) + " " + std::string(reason());
    if (!m_url.empty()) what.append(" for ").append(m_method).append(" ").append(m_url);
    if (!excerpt.empty()) {
        what.append(": ").append(excerpt);
        if (m_body.size() > excerpt.size()) what.append("...");
    }
    throw StatusError(what, m_status, m_url, std::move(excerpt));
}

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
    }
}

}  // namespace corio::http
