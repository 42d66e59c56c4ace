// The guards of the core: the loop-stall watchdog and the never-awaited report.
#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

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
