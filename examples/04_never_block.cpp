// Seed: "Never Block the Event Loop" — a blocking call on the loop stops every task; the same call sent to
// a thread (corio::to_thread) does not. A heartbeat task shows the difference.
#include <corio/corio.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

corio::Task<int> heartbeat(std::chrono::milliseconds span) {
    int beats = 0;
    auto end = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < end) {
        co_await corio::sleep(10ms);
        ++beats;
    }
    co_return beats;
}

void blocking_call() { std::this_thread::sleep_for(200ms); }  // a stand-in for requests.get, time.sleep...

corio::Task<void> wrong() {
    blocking_call();  // WRONG: blocks the whole loop for 200 ms
    co_return;
}

corio::Task<void> right() {
    co_await corio::to_thread(blocking_call);  // RIGHT: the loop keeps running
    co_await corio::sleep(0ms);
}

corio::Task<int> main_task() {
    auto [beats_wrong, w] = co_await corio::gather(heartbeat(200ms), wrong());
    auto [beats_right, r] = co_await corio::gather(heartbeat(200ms), right());
    std::printf("heartbeats in 200 ms with a blocking call on the loop: %d\n", beats_wrong);
    std::printf("heartbeats in 200 ms with the call in corio::to_thread: %d (about 20 expected)\n", beats_right);
    co_return 0;
}

int main() { return corio::run(main_task()); }
