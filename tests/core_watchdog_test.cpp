// The guards of the core: the loop-stall watchdog and the never-awaited report.
#include <corio/corio.hpp>

#include "core/watchdog.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <mutex>
#include <new>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

#include "support/sanitized.hpp"

#ifndef CORIO_SANITIZED  // the sanitizers' runtimes define operator new and delete themselves (and catch a read
                         // of freed memory on their own)
// The allocator of this test binary can scribble over the next big block freed on a thread and deliver the
// watchdog's capture signal (SIGRTMIN+4, see docs/design.md) while it is still inside free: the moment an
// allocator may have reused the memory of a task that just ended.
namespace {
constexpr std::size_t k_big_frame = 8192;  // frames this big bypass corio's frame cache: freed by delete
thread_local bool t_capture_at_next_big_free = false;
std::atomic<bool> g_captured_at_free{false};
}  // namespace

void* operator new(std::size_t n) {
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    if (p && t_capture_at_next_big_free && malloc_usable_size(p) >= k_big_frame) {
        t_capture_at_next_big_free = false;
        std::memset(p, 0xa5, malloc_usable_size(p));
        std::raise(SIGRTMIN + 4);
        g_captured_at_free = true;
    }
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
#endif

namespace {

struct Collected {
    std::vector<corio::StallReport> reports;
};

[[gnu::noinline]] void block_the_loop_for(std::chrono::milliseconds d) {
    corio::allow_blocking deliberate;  // what the watchdog must catch; strict mode need not
    std::this_thread::sleep_for(d);
    asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
}

corio::Task<void> slow_handler(std::chrono::milliseconds d) {
    co_await corio::yield();
    block_the_loop_for(d);
    co_await corio::yield();
}

corio::RunOptions collecting(Collected& c, std::chrono::milliseconds threshold) {
    corio::RunOptions o;
    o.stall_threshold = threshold;
    o.on_stall = [&c](const corio::StallReport& r) { c.reports.push_back(r); };
    return o;
}

bool contains(const std::vector<std::string>& stack, const std::string& what) {
    for (auto& f : stack)
        if (f.find(what) != std::string::npos) return true;
    return false;
}

TEST(Watchdog, ABlockedLoopIsReportedWithDurationTaskAndStack) {
    Collected c;
    auto stats = corio::run(
        []() -> corio::Task<corio::LoopStatistics> {
            co_await corio::spawn(slow_handler(300ms), "slow-handler");
            co_await corio::sleep(50ms);  // let the watchdog see the loop turn again
            co_return corio::loop_statistics();
        }(),
        collecting(c, 100ms));
    ASSERT_EQ(c.reports.size(), 1u);
    const auto& r = c.reports[0];
    EXPECT_GE(r.duration, 250ms);
    EXPECT_LT(r.duration, 3s);
    EXPECT_EQ(r.threshold, 100ms);
    EXPECT_EQ(r.task, "slow-handler");
    EXPECT_TRUE(contains(r.stack, "block_the_loop_for")) << r.text();
    EXPECT_TRUE(contains(r.stack, "core_watchdog_test.cpp:")) << r.text();  // file:line from debug info
    EXPECT_NE(r.text().find("blocked for"), std::string::npos);
    EXPECT_EQ(stats.stalls, 1u);
    EXPECT_GE(stats.longest_stall, 250ms);
}

TEST(Watchdog, AnUnnamedTaskIsNamedByItsCoroutine) {
    Collected c;
    corio::run(
        []() -> corio::Task<void> {
            co_await corio::spawn(slow_handler(250ms));
            co_await corio::sleep(50ms);
        }(),
        collecting(c, 100ms));
    ASSERT_EQ(c.reports.size(), 1u);
    EXPECT_NE(c.reports[0].task.find("slow_handler"), std::string::npos) << c.reports[0].task;
}

TEST(Watchdog, ALongStallIsOneReportNotMany) {
    Collected c;
    corio::run(
        []() -> corio::Task<void> {
            co_await slow_handler(700ms);
            co_await corio::sleep(50ms);
        }(),
        collecting(c, 50ms));
    ASSERT_EQ(c.reports.size(), 1u);
    EXPECT_GE(c.reports[0].duration, 600ms);
}

TEST(Watchdog, AFunctionPostedToASleepingLoopThatBlocksIsReported) {
    // The loop is asleep in the kernel when the post wakes it; the posted function then blocks it.
    Collected c;
    corio::run(
        []() -> corio::Task<void> {
            corio::Event ran;
            std::thread poster([h = corio::LoopHandle::current(), &ran] {
                std::this_thread::sleep_for(50ms);  // the loop has most likely gone to sleep by now
                h.post([&ran] {
                    block_the_loop_for(300ms);
                    ran.set();
                });
            });
            try {
                co_await corio::timeout(10s, ran.wait());
            } catch (const corio::TimeoutError&) {
            }
            {
                corio::allow_blocking deliberate;  // the poster has posted by now
                poster.join();
            }
            co_await corio::sleep(50ms);  // let the watchdog see the loop turn again
        }(),
        collecting(c, 100ms));
    ASSERT_EQ(c.reports.size(), 1u);
    EXPECT_GE(c.reports[0].duration, 250ms);
    EXPECT_TRUE(contains(c.reports[0].stack, "block_the_loop_for")) << c.reports[0].text();
}

TEST(Watchdog, ABlockThatStartsWhileTheLastOneIsBeingReportedIsReportedToo) {
    // Writing a report takes time (symbols, addr2line, the sink: here a slow one); the watching must not
    // pause for it, or a stall that happens meanwhile goes unseen.
    std::mutex m;
    std::vector<corio::StallReport> reports;
    corio::RunOptions o;
    o.stall_threshold = 100ms;
    o.on_stall = [&](const corio::StallReport& r) {
        bool first;
        {
            std::lock_guard g(m);
            reports.push_back(r);
            first = reports.size() == 1;
        }
        if (first) std::this_thread::sleep_for(1500ms);
    };
    corio::run(
        []() -> corio::Task<void> {
            co_await corio::spawn(slow_handler(300ms), "first-block");
            co_await corio::sleep(1ms);  // the loop turns: the next block is another stall
            co_await corio::spawn(slow_handler(500ms), "second-block");
            co_await corio::sleep(50ms);  // let the watchdog see the loop turn again
        }(),
        o);
    ASSERT_EQ(reports.size(), 2u);
    EXPECT_EQ(reports[0].task, "first-block");
    EXPECT_EQ(reports[1].task, "second-block");
    EXPECT_GE(reports[1].duration, 400ms);
    EXPECT_TRUE(contains(reports[1].stack, "block_the_loop_for")) << reports[1].text();
}

TEST(Watchdog, TwoTasksThatBlockInTheSameTurnAreTwoReports) {
    // Both blocks happen in one batch of resumptions (one turn of the loop): each is a stall of its own.
    Collected c;
    auto stats = corio::run(
        []() -> corio::Task<corio::LoopStatistics> {
            auto first = corio::spawn(slow_handler(400ms), "first-in-the-turn");
            auto second = corio::spawn(slow_handler(400ms), "second-in-the-turn");
            co_await first;
            co_await second;
            co_await corio::sleep(50ms);  // let the watchdog see the loop turn again
            co_return corio::loop_statistics();
        }(),
        collecting(c, 100ms));
    ASSERT_EQ(c.reports.size(), 2u);
    EXPECT_EQ(c.reports[0].task, "first-in-the-turn");
    EXPECT_EQ(c.reports[1].task, "second-in-the-turn");
    // The first lasts at least until the second task starts; together they are the whole turn.
    EXPECT_GE(c.reports[0].duration, 350ms) << c.reports[0].text();
    EXPECT_GE(c.reports[1].duration, 100ms) << c.reports[1].text();
    EXPECT_GE(c.reports[0].duration + c.reports[1].duration, 700ms);
    for (auto& r : c.reports) {
        EXPECT_LT(r.duration, 3s) << r.text();
        EXPECT_TRUE(contains(r.stack, "block_the_loop_for")) << r.text();
    }
    EXPECT_EQ(stats.stalls, 2u);
}

TEST(Watchdog, ManyShortStepsOfOneLongTurnAreOneReportForTheWholeTurn) {
    Collected c;
    corio::run(
        []() -> corio::Task<void> {
            std::vector<corio::JoinHandle<void>> handlers;
            for (int i = 0; i < 40; ++i) handlers.push_back(corio::spawn(slow_handler(10ms)));
            for (auto& h : handlers) co_await h;
            co_await corio::sleep(50ms);
        }(),
        collecting(c, 100ms));
    ASSERT_EQ(c.reports.size(), 1u);
    EXPECT_GE(c.reports[0].duration, 300ms) << c.reports[0].text();
}

bool capture_signal_pending() {
    sigset_t s;
    sigpending(&s);
    return sigismember(&s, SIGRTMIN + 4) == 1;
}

void block_capture_signal(bool block) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 4);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, nullptr);
}

[[gnu::noinline]] void after_the_stall() {
    block_capture_signal(false);  // the capture signal, held back since the stall, lands here
    asm volatile("" ::: "memory");
}

corio::Task<void> stall_that_ends_before_it_is_caught() {
    block_capture_signal(true);
    {
        corio::allow_blocking deliberate;
        // The stall lasts until the watchdog has asked for the loop's stack, and ends before the ask lands.
        for (int i = 0; i < 10'000 && !capture_signal_pending(); ++i) std::this_thread::sleep_for(1ms);
    }
    co_await corio::sleep(1ms);  // the loop turns: the stall is over
    after_the_stall();
}

TEST(Watchdog, AStackCaughtAfterTheStallEndedIsNotReportedAsTheStalls) {
    Collected c;
    corio::run(
        []() -> corio::Task<void> {
            co_await corio::spawn(stall_that_ends_before_it_is_caught(), "stall-then-move-on");
            co_await corio::sleep(50ms);
        }(),
        collecting(c, 100ms));
    ASSERT_EQ(c.reports.size(), 1u);  // the stall happened: it is reported, without a stack that is not its own
    EXPECT_GE(c.reports[0].duration, 100ms);
    EXPECT_FALSE(contains(c.reports[0].stack, "after_the_stall")) << c.reports[0].text();
}

#ifndef CORIO_SANITIZED
corio::Task<void> big_frame_task() {
    std::array<unsigned char, k_big_frame> state{};  // in the frame: makes it too big for the frame cache
    co_await corio::yield();
    state[1] = state[0];
    asm volatile("" : : "r"(state.data()) : "memory");
    t_capture_at_next_big_free = true;  // the next big free is this frame's, as the task ends
}

void run_a_detached_task_that_ends() {
    corio::RunOptions o;
    o.stall_threshold = 60s;  // the watchdog's handler is installed; the watchdog itself never asks
    corio::run(
        []() -> corio::Task<void> {
            corio::spawn(big_frame_task()).detach();
            co_await corio::sleep(20ms);
        }(),
        o);
    std::exit(g_captured_at_free ? 0 : 3);
}

TEST(WatchdogDeathTest, ACaptureRightAfterATaskEndedDoesNotReadItsFreedFrame) {
    EXPECT_EXIT(run_a_detached_task_that_ends(), testing::ExitedWithCode(0), "");
}
#endif

// The capture handshake (src/core/watchdog.hpp): a capture signal the loop thread handles only after the
// watchdog gave up on it (here: blocked until then) writes nothing — before, it wrote the stack into the capture
// the watchdog might be reading for its next stall.
TEST(WatchdogCapture, ASignalHandledAfterTheWatchdogGaveUpWritesNothing) {
    sigset_t capture_signal, old;
    sigemptyset(&capture_signal);
    sigaddset(&capture_signal, SIGRTMIN + 4);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &capture_signal, &old), 0);
    std::atomic<std::uint64_t> steps{0};
    {
        corio::detail::Watchdog w(60s, {}, steps);  // its own watch never asks within the test
        bool caught = true;
        std::thread asker([&] { caught = w.capture_for_test(); });  // times out: the signal waits, blocked
        asker.join();
        EXPECT_FALSE(caught);
        ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &old, nullptr), 0);  // the signal is handled here, late
        EXPECT_EQ(w.capture_state_for_test(), corio::detail::StallCapture::idle);
        EXPECT_EQ(w.capture_depth_for_test(), 0);

        std::thread again([&] { caught = w.capture_for_test(); });  // a capture that is answered still works
        again.join();
        EXPECT_TRUE(caught);
        EXPECT_GT(w.capture_depth_for_test(), 0);
    }
}

TEST(Watchdog, TurnsShorterThanTheThresholdAreNotReported) {
    Collected c;
    auto stats = corio::run(
        []() -> corio::Task<corio::LoopStatistics> {
            for (int i = 0; i < 5; ++i) {
                block_the_loop_for(5ms);
                co_await corio::sleep(5ms);
            }
            co_return corio::loop_statistics();
        }(),
        collecting(c, 200ms));
    EXPECT_TRUE(c.reports.empty());
    EXPECT_EQ(stats.stalls, 0u);
}

TEST(Watchdog, AnIdleLoopIsNotAStall) {
    Collected c;
    corio::run([]() -> corio::Task<void> { co_await corio::sleep(300ms); }(), collecting(c, 50ms));
    EXPECT_TRUE(c.reports.empty());
}

TEST(Watchdog, ZeroThresholdDisablesIt) {
    Collected c;
    auto stats = corio::run(
        []() -> corio::Task<corio::LoopStatistics> {
            co_await slow_handler(150ms);
            co_return corio::loop_statistics();
        }(),
        collecting(c, 0ms));
    EXPECT_TRUE(c.reports.empty());
    EXPECT_EQ(stats.stalls, 0u);
}

TEST(Watchdog, TheDefaultSinkPrintsTheReportToStderr) {
    corio::RunOptions o;
    o.stall_threshold = 50ms;
    testing::internal::CaptureStderr();
    corio::run(
        []() -> corio::Task<void> {
            co_await slow_handler(200ms);
            co_await corio::sleep(30ms);
        }(),
        o);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("the event loop was blocked for"), std::string::npos) << err;
    EXPECT_NE(err.find("block_the_loop_for"), std::string::npos) << err;
}

corio::Task<int> fetch_data(std::string url) { co_return static_cast<int>(url.size()); }

TEST(NeverAwaited, ATaskDestroyedWithoutRunningIsReportedByItsCoroutinesName) {
    testing::internal::CaptureStderr();
    corio::run([]() -> corio::Task<void> {
        (void)fetch_data("https://example.invalid/");  // the seed's forgotten await
        co_return;
    }());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("fetch_data' was never awaited"), std::string::npos) << err;
}

TEST(NeverAwaited, AnAwaitedTaskIsNotReported) {
    testing::internal::CaptureStderr();
    int n = corio::run([]() -> corio::Task<int> { co_return co_await fetch_data("abc"); }());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(n, 3);
    EXPECT_EQ(err, "");
}

TEST(NeverAwaited, OffSilencesIt) {
    corio::RunOptions o;
    o.never_awaited = corio::NeverAwaited::off;
    testing::internal::CaptureStderr();
    corio::run(
        []() -> corio::Task<void> {
            (void)fetch_data("x");
            co_return;
        }(),
        o);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

[[gnu::noinline]] void forget_to_await_here() { (void)fetch_data("debug"); }

TEST(NeverAwaited, InDebugModeTheReportSaysWhereTheTaskWasCreated) {
    corio::set_debug(true);
    testing::internal::CaptureStderr();
    corio::run([]() -> corio::Task<void> {
        forget_to_await_here();
        co_return;
    }());
    std::string err = testing::internal::GetCapturedStderr();
    corio::set_debug(false);
    EXPECT_NE(err.find("fetch_data' was never awaited"), std::string::npos) << err;
    EXPECT_NE(err.find("created at:"), std::string::npos) << err;
    EXPECT_NE(err.find("forget_to_await_here"), std::string::npos) << err;
    EXPECT_NE(err.find("core_watchdog_test.cpp:"), std::string::npos) << err;
}

TEST(NeverAwaitedDeathTest, AbortStopsTheProgram) {
    corio::RunOptions o;
    o.never_awaited = corio::NeverAwaited::abort;
    EXPECT_DEATH(corio::run(
                     []() -> corio::Task<void> {
                         (void)fetch_data("x");
                         co_return;
                     }(),
                     o),
                 "never awaited");
}

}  // namespace
