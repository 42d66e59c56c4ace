// Seed: "When to use async" — network calls and file I/O. A TCP service on 127.0.0.1 that upper-cases lines,
// five clients talking to it at once, the name "localhost" resolved on the loop (c-ares, never getaddrinfo),
// and the answers saved to a file with an atomic replace and read back — nothing here blocks the loop.
#include <corio/corio.hpp>

#include <cctype>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

using corio::Task;
namespace net = corio::net;
namespace fs = corio::fs;

Task<void> shout(net::TcpStream conn) {  // one connection: upper-case what arrives until the client is done
    std::array<char, 1024> buf;
    while (std::size_t n = co_await conn.read(buf.data(), buf.size())) {
        for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(buf[i])));
        co_await conn.write_all(std::string_view(buf.data(), n));
    }
}

Task<void> serve(net::TcpListener& listener, int connections) {
    corio::TaskGroup group;
    for (int i = 0; i < connections; ++i) group.spawn(shout(co_await listener.accept()));
    co_await group.join();
}

Task<std::string> ask(std::uint16_t port, std::string line) {
    auto conn = co_await net::TcpStream::connect("localhost", port);  // resolved on the loop, every address tried
    co_await conn.write_all(line);
    conn.shutdown();  // "that's all": the server sees the end of the stream
    std::string answer;
    std::array<char, 1024> buf;
    while (std::size_t n = co_await conn.read(buf.data(), buf.size())) answer.append(buf.data(), n);
    co_return answer;
}

Task<int> main_task() {
    auto listener = net::TcpListener::bind("127.0.0.1:0");
    std::uint16_t port = listener.local_address().port();
    auto server = corio::spawn(serve(listener, 5));

    std::vector<Task<std::string>> asks;
    for (const char* word : {"never", "block", "the", "event", "loop"}) asks.push_back(ask(port, word));
    std::vector<std::string> answers = co_await corio::gather(std::move(asks));
    co_await server;

    std::string text;
    for (auto& a : answers) text += a + "\n";
    std::string path = "/tmp/corio-example-" + std::to_string(::getpid()) + ".txt";
    co_await fs::write_file(path, text, {.atomic = true});  // temp file + fsync + rename: all or nothing
    std::string back = co_await fs::read_file(path);
    std::printf("localhost resolves to %zu address(es); the server on port %u answered:\n%s",
                (co_await net::resolve("localhost", port)).size(), port, back.c_str());
    co_await corio::to_thread([&] { ::unlink(path.c_str()); });  // no fs call for it yet: off the loop
    co_return back == text ? 0 : 1;
}

int main() { return corio::run(main_task()); }
