// Boost.Asio (C++20 coroutines) peer of corio's core benchmark.
//
// Runs the same workloads as corio's core benchmark on a single-threaded
// io_context (concurrency hint 1) and prints one line per workload:
//   <workload> <value> <unit>      (unit: ns per op, or B)
//
// Build: g++ -std=c++20 -O2 -DNDEBUG -o /tmp/asio_core bench/peers/asio_core.cpp -pthread
// Usage: /tmp/asio_core [--quick] [--only NAME]
//
// Each workload runs in a fresh io_context. Diagnostics go to stderr.

#include <boost/asio.hpp>
#include <boost/asio/experimental/channel.hpp>

#include <malloc.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>

namespace asio = boost::asio;
using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// ---- helpers ----------------------------------------------------------------

double ns_per_op(Clock::time_point t0, std::size_t n) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() /
         static_cast<double>(n);
}

// VmRSS of this process, in bytes.
long read_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) * 1024;
  }
  throw std::runtime_error("VmRSS not found in /proc/self/status");
}

// Joins a number of co_spawn'ed tasks ("gather"). A timer that never expires
// serves as the wake-up event; it is cancelled when the last task finishes.
class WaitGroup {
 public:
  explicit WaitGroup(const asio::any_io_executor& ex)
      : timer_(ex, asio::steady_timer::time_point::max()) {}

  void add(std::size_t n) { count_ += n; }

  // Completion token for co_spawn: rethrows task failures out of run().
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

awaitable<void> trivial() { co_return; }

awaitable<void> yield_once() {
  co_await asio::post(co_await asio::this_coro::executor, use_awaitable);
}

awaitable<void> sleep_for(asio::steady_timer::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(use_awaitable);
}

// ---- workloads: each returns ns/op (or bytes for the RSS one) ---------------

awaitable<double> spawn_await(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) co_await co_spawn(ex, trivial(), use_awaitable);
  co_return ns_per_op(t0, n);
}

awaitable<double> yield(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) co_await asio::post(ex, use_awaitable);
  co_return ns_per_op(t0, n);
}

awaitable<double> sleep_10k(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  WaitGroup wg(ex);
  auto t0 = Clock::now();
  wg.add(n);
  for (std::size_t i = 0; i < n; ++i) co_spawn(ex, sleep_for(10ms), wg.done());
  co_await wg.wait();
  co_return ns_per_op(t0, n);
}

// Bounded queue of capacity 1 == experimental::channel with buffer size 1.
using IntChannel = asio::experimental::channel<void(error_code, int)>;

awaitable<void> queue_echo(IntChannel& in, IntChannel& out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    int v = co_await in.async_receive(use_awaitable);
    co_await out.async_send(error_code{}, v, use_awaitable);
  }
}

awaitable<double> queue_roundtrip(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  IntChannel q1(ex, 1), q2(ex, 1);
  WaitGroup wg(ex);
  auto t0 = Clock::now();
  wg.add(1);
  co_spawn(ex, queue_echo(q1, q2, n), wg.done());  // task B
  for (std::size_t i = 0; i < n; ++i) {            // task A (this coroutine)
    co_await q1.async_send(error_code{}, static_cast<int>(i), use_awaitable);
    co_await q2.async_receive(use_awaitable);
  }
  co_await wg.wait();
  co_return ns_per_op(t0, n);
}

using UnixSocket = asio::local::stream_protocol::socket;

awaitable<void> socket_echo(UnixSocket& s, std::size_t n) {
  char c = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t k = co_await s.async_read_some(asio::buffer(&c, 1), use_awaitable);
    co_await asio::async_write(s, asio::buffer(&c, k), use_awaitable);
  }
}

awaitable<double> socketpair_pingpong(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  UnixSocket s1(ex), s2(ex);
  asio::local::connect_pair(s1, s2);
  WaitGroup wg(ex);
  auto t0 = Clock::now();
  wg.add(1);
  co_spawn(ex, socket_echo(s2, n), wg.done());  // task B
  char c = 'x';
  for (std::size_t i = 0; i < n; ++i) {         // task A (this coroutine)
    co_await asio::async_write(s1, asio::buffer(&c, 1), use_awaitable);
    co_await s1.async_read_some(asio::buffer(&c, 1), use_awaitable);
  }
  co_await wg.wait();
  co_return ns_per_op(t0, n);
}

// Asio has no async semaphore. We use a channel as a token bucket: capacity
// 10, pre-filled with 10 tokens; acquire = async_receive, release = try_send.
// try_send hands the token straight to the oldest waiting receiver (FIFO).
using TokenChannel = asio::experimental::channel<void(error_code)>;

awaitable<void> semaphore_worker(TokenChannel& tokens) {
  co_await tokens.async_receive(use_awaitable);  // acquire
  co_await yield_once();
  if (!tokens.try_send(error_code{}))  // release; cannot fail: <= 10 tokens exist
    throw std::logic_error("semaphore token lost");
}

awaitable<double> semaphore_100k(std::size_t n) {
  constexpr std::size_t kPermits = 10;
  auto ex = co_await asio::this_coro::executor;
  TokenChannel tokens(ex, kPermits);
  for (std::size_t i = 0; i < kPermits; ++i) tokens.try_send(error_code{});
  WaitGroup wg(ex);
  auto t0 = Clock::now();
  wg.add(n);
  for (std::size_t i = 0; i < n; ++i) co_spawn(ex, semaphore_worker(tokens), wg.done());
  co_await wg.wait();
  co_return ns_per_op(t0, n);
}

int trivial_fn() { return 1; }

// Runs on the thread pool (co_spawn switches to the pool's executor and
// delivers the result back to the awaiting coroutine's io_context).
awaitable<int> call_trivial_fn() { co_return trivial_fn(); }

awaitable<double> to_thread_10k(std::size_t n) {
  asio::thread_pool pool;  // default size (2 x hardware threads)
  int sum = co_await co_spawn(pool, call_trivial_fn(), use_awaitable);  // warm-up
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) sum += co_await co_spawn(pool, call_trivial_fn(), use_awaitable);
  double r = ns_per_op(t0, n);
  if (sum != static_cast<int>(n) + 1) throw std::logic_error("to_thread result mismatch");
  pool.join();
  co_return r;
}

awaitable<void> long_sleeper(std::size_t& started) {
  asio::steady_timer t(co_await asio::this_coro::executor, 2s);
  ++started;
  co_await t.async_wait(use_awaitable);
}

awaitable<double> rss_per_sleeping_task(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  std::size_t started = 0;
  WaitGroup wg(ex);
  malloc_trim(0);  // don't let memory freed by earlier workloads hide the cost
  long before = read_rss_bytes();
  wg.add(n);
  for (std::size_t i = 0; i < n; ++i) co_spawn(ex, long_sleeper(started), wg.done());
  // Make sure every task is parked on its timer (bounded safety loop).
  for (int k = 0; k < 1000 && started != n; ++k) co_await yield_once();
  if (started != n) throw std::runtime_error("not all sleepers started");
  long after = read_rss_bytes();
  co_await wg.wait();  // let them finish (the 2 s sleep)
  co_return static_cast<double>(after - before) / static_cast<double>(n);
}

// ---- driver -------------------------------------------------------------------

struct Workload {
  const char* name;
  std::size_t count;  // full-size iteration count; --quick divides by 10
  awaitable<double> (*fn)(std::size_t);
  const char* unit;
};

constexpr Workload kWorkloads[] = {
    {"spawn_await", 100'000, spawn_await, "ns"},
    {"yield", 1'000'000, yield, "ns"},
    {"sleep_10k", 10'000, sleep_10k, "ns"},
    {"queue_roundtrip", 1'000'000, queue_roundtrip, "ns"},
    {"socketpair_pingpong", 200'000, socketpair_pingpong, "ns"},
    {"semaphore_100k", 100'000, semaphore_100k, "ns"},
    {"to_thread_10k", 10'000, to_thread_10k, "ns"},
    {"rss_per_sleeping_task", 1'000'000, rss_per_sleeping_task, "B"},
};

double run_workload(const Workload& w, std::size_t n) {
  asio::io_context ctx(1);
  double result = -1;
  co_spawn(ctx, w.fn(n), [&](std::exception_ptr e, double r) {
    if (e) std::rethrow_exception(e);
    result = r;
  });
  ctx.run();
  return result;
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
  bool matched = false;
  try {
    for (const auto& w : kWorkloads) {
      if (only && std::strcmp(only, w.name) != 0) continue;
      matched = true;
      double v = run_workload(w, quick ? w.count / 10 : w.count);
      std::printf("%s %.1f %s\n", w.name, v, w.unit);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_core: error: %s\n", e.what());
    return 1;
  }
  if (!matched) return usage(argv[0]);
  return 0;
}
