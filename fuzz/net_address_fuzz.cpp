// libFuzzer target: SocketAddress::parse never crashes, rejects only with std::invalid_argument, and what it
// accepts formats (to_string) into text that parses back to the same address.
#include <corio/net/address.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    corio::net::SocketAddress a;
    try {
        a = corio::net::SocketAddress::parse(text, 80);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    if (a.empty()) std::abort();
    std::string shown = a.to_string();
    if (a.family() == AF_UNIX && (shown == "(unnamed)" || shown.find('\0') != std::string::npos)) return 0;
    corio::net::SocketAddress b = corio::net::SocketAddress::parse(shown, 80);
    if (!(a == b) && a.is_ip()) std::abort();  // IP text is canonical after one round
    if (a.is_ip() && b.to_string() != shown) std::abort();
    return 0;
}
