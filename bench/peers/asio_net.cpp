// Boost.Asio (C++20 coroutines) peer of corio's TCP benchmark (bench/net_compare.cpp).
//
// Client and server run in one process on a single-threaded io_context (concurrency hint 1), over
// 127.0.0.1 TCP with TCP_NODELAY on both ends of the echo connections, written the way an Asio user
// writes it today: co_spawn + use_awaitable, async_read/async_write of 64-byte messages. Prints one line
// per workload:
//   <workload> <value> ns
//
//   echo_1conn    one connection, 64-byte ping-pong; ns per round trip
//   echo_50conn   50 connections doing the same concurrently; wall time / total round trips
//   echo_100conn  the same with 100 connections
//   accept        connect, accept + close, the client sees EOF and closes; 64 connections in flight;
//                 ns per connection
//
// Build: g++ -std=c++20 -O2 -DNDEBUG -o build/bench-peers/asio_net bench/peers/asio_net.cpp -pthread
// Usage: asio_net [--quick] [--only NAME]      (--quick divides the counts by 10)
//
// Each workload runs in a fresh io_context. Diagnostics go to stderr. A watchdog alarm ends the process
// if a workload hangs.

#include <boost/asio.hpp>

#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMessage = 64;
constexpr std::size_t kWarmupRounds = 10;
constexpr std::size_t kAcceptInflight = 64;

double ns_per_op(Clock::time_point t0, Clock::time_point t1, std::size_t n) {
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
}

// Joins a number of co_spawn'ed tasks ("gather"), as in asio_core.cpp: a timer that never expires is the
// wake-up event; it is cancelled when the last task finishes.
class WaitGroup {
 public:
  explicit WaitGroup(const asio::any_io_executor& ex)
      : timer_(ex, asio::steady_timer::time_point::max()) {}

  void add(std::size_t n) { count_ += n; }

  auto done() {
    return [this](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
      if (--count_ == 0) timer_.cancel();
    };
  }

  awaitable<void> wait() {
    if (count_ != 0) {
      error_code ec;  // operation_aborted is the expected wake-up
      co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (count_ != 0) throw std::logic_error("WaitGroup woke up early");
  }

 private:
  asio::steady_timer timer_;
  std::size_t count_ = 0;
};

tcp::acceptor make_acceptor(const asio::any_io_executor& ex) {
  // Fresh ephemeral port on 127.0.0.1; listen backlog = SOMAXCONN.
  return tcp::acceptor(ex, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
}

// ---- echo ---------------------------------------------------------------------------------------------

// Server side of one connection: echo 64-byte messages until the client goes away.
awaitable<void> echo_session(tcp::socket s) {
  std::array<char, kMessage> buf;
  for (;;) {
    error_code ec;
    co_await asio::async_read(s, asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;  // eof (or reset): the client closed
    co_await asio::async_write(s, asio::buffer(buf), use_awaitable);
  }
}

awaitable<void> accept_echo(tcp::acceptor& a, std::size_t n, WaitGroup& sessions) {
  auto ex = co_await asio::this_coro::executor;
  for (std::size_t i = 0; i < n; ++i) {
    tcp::socket s = co_await a.async_accept(use_awaitable);
    s.set_option(tcp::no_delay(true));
    sessions.add(1);
    co_spawn(ex, echo_session(std::move(s)), sessions.done());
  }
}

// Client side of one connection: `rounds` ping-pongs of 64 bytes.
awaitable<void> ping(tcp::socket& s, std::size_t rounds) {
  std::array<char, kMessage> out{}, in;
  for (std::size_t i = 0; i < rounds; ++i) {
    co_await asio::async_write(s, asio::buffer(out), use_awaitable);
    co_await asio::async_read(s, asio::buffer(in), use_awaitable);
  }
}

awaitable<void> ping_all(std::vector<tcp::socket>& clients, std::size_t rounds) {
  auto ex = co_await asio::this_coro::executor;
  WaitGroup wg(ex);
  wg.add(clients.size());
  for (auto& s : clients) co_spawn(ex, ping(s, rounds), wg.done());
  co_await wg.wait();
}

awaitable<double> echo(std::size_t conns, std::size_t total) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor = make_acceptor(ex);
  const tcp::endpoint to = acceptor.local_endpoint();
  WaitGroup sessions(ex), server(ex);
  server.add(1);
  co_spawn(ex, accept_echo(acceptor, conns, sessions), server.done());

  // Setup (not timed): connect every client, then a few warm-up round trips on each.
  std::vector<tcp::socket> clients;
  clients.reserve(conns);
  for (std::size_t i = 0; i < conns; ++i) {
    clients.emplace_back(ex);
    co_await clients.back().async_connect(to, use_awaitable);
    clients.back().set_option(tcp::no_delay(true));
  }
  co_await server.wait();
  co_await ping_all(clients, kWarmupRounds);

  const std::size_t each = total / conns;
  auto t0 = Clock::now();
  co_await ping_all(clients, each);
  auto t1 = Clock::now();

  for (auto& s : clients) {
    s.set_option(asio::socket_base::linger(true, 0));  // no TIME_WAIT left behind
    s.close();
  }
  co_await sessions.wait();
  co_return ns_per_op(t0, t1, each * conns);
}

// ---- accept -------------------------------------------------------------------------------------------

awaitable<void> accept_and_close(tcp::acceptor& a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    tcp::socket s = co_await a.async_accept(use_awaitable);
  }  // closed at once
}

// One of the kAcceptInflight connectors, until `total` connects have been started: connect; wait for the
// server's close (EOF); close with an RST (SO_LINGER {1, 0}: no TIME_WAIT on either end, so repeated runs
// don't run out of ephemeral ports). Waiting for the EOF keeps at most kAcceptInflight connections in the
// listen queue; clients that closed at once would run ahead of the accepts, overflow the queue and lose
// connections whose handshake the server never finished.
awaitable<void> connect_and_close(tcp::endpoint to, std::size_t& started, std::size_t total) {
  auto ex = co_await asio::this_coro::executor;
  char c;
  while (started < total) {
    ++started;
    tcp::socket s(ex);
    co_await s.async_connect(to, use_awaitable);
    error_code ec;
    co_await s.async_read_some(asio::buffer(&c, 1), asio::redirect_error(use_awaitable, ec));
    if (ec != asio::error::eof) throw std::runtime_error("accept: expected EOF, got " + ec.message());
    s.set_option(asio::socket_base::linger(true, 0));
    s.close();
  }
}

awaitable<double> accept_rate(std::size_t total) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor = make_acceptor(ex);
  const tcp::endpoint to = acceptor.local_endpoint();
  std::size_t started = 0;
  WaitGroup wg(ex);
  auto t0 = Clock::now();
  wg.add(1 + kAcceptInflight);
  co_spawn(ex, accept_and_close(acceptor, total), wg.done());
  for (std::size_t i = 0; i < kAcceptInflight; ++i) co_spawn(ex, connect_and_close(to, started, total), wg.done());
  co_await wg.wait();
  auto t1 = Clock::now();
  co_return ns_per_op(t0, t1, total);
}

// ---- driver -------------------------------------------------------------------------------------------

struct Workload {
  const char* name;
  std::size_t conns;  // 0: the accept workload
  std::size_t count;  // full-size count; --quick divides by 10
};

constexpr Workload kWorkloads[] = {
    {"echo_1conn", 1, 50'000},
    {"echo_50conn", 50, 200'000},
    {"echo_100conn", 100, 200'000},
    {"accept", 0, 20'000},
};

double run_workload(const Workload& w, std::size_t n) {
  asio::io_context ctx(1);
  double result = -1;
  co_spawn(ctx, w.conns ? echo(w.conns, n) : accept_rate(n), [&](std::exception_ptr e, double r) {
    if (e) std::rethrow_exception(e);
    result = r;
  });
  ctx.run();
  return result;
}

extern "C" void on_alarm(int) {
  static const char msg[] = "asio_net: watchdog: workload did not finish in time\n";
  ssize_t r = ::write(2, msg, sizeof msg - 1);
  (void)r;
  ::_exit(1);
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--quick] [--only WORKLOAD]\nworkloads:", argv0);
  for (const auto& w : kWorkloads) std::fprintf(stderr, " %s", w.name);
  std::fprintf(stderr, "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  const char* only = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      return usage(argv[0]);
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGALRM, on_alarm);
  bool matched = false;
  try {
    for (const auto& w : kWorkloads) {
      if (only && std::strcmp(only, w.name) != 0) continue;
      matched = true;
      ::alarm(120);
      double v = run_workload(w, quick ? w.count / 10 : w.count);
      ::alarm(0);
      std::printf("%s %.1f ns\n", w.name, v);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_net: error: %s\n", e.what());
    return 1;
  }
  if (!matched) return usage(argv[0]);
  return 0;
}
