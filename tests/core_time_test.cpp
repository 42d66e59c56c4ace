#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include "support/test_support.hpp"

#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

TEST(Sleep, WaitsAtLeastTheDuration) {
    auto body = []() -> corio::Task<Clock::duration> {
        auto t0 = Clock::now();
        co_await corio::sleep(20ms);
        co_return Clock::now() - t0;
    };
    EXPECT_GE(corio::run(body()), 20ms);
}

TEST(Sleep, NegativeAndZeroDurationsActAsAYield) {
    auto body = []() -> corio::Task<int> {
        int order = 0;
        auto other = corio::spawn([](int* o) -> corio::Task<void> {
            *o = *o * 10 + 2;
            co_return;
        }(&order));
        order = 1;
        co_await corio::sleep(-5s);  // lets `other` run
        order = order * 10 + 3;
        co_await other;
        co_await corio::sleep(0s);
        co_return order;
    };
    EXPECT_EQ(corio::run(body()), 123);
}

TEST(Sleep, SleepUntilAPastTimeReturnsAtOnce) {
    auto body = []() -> corio::Task<Clock::duration> {
        auto t0 = Clock::now();
        co_await corio::sleep_until(t0 - 1h);
        co_return Clock::now() - t0;
    };
    EXPECT_LT(corio::run(body()), 1s);
}

TEST(Sleep, TimersFireInDeadlineOrder) {
    auto body = []() -> corio::Task<std::vector<int>> {
        std::vector<int> order;
        std::vector<corio::Task<void>> tasks;
        for (int ms : {30, 10, 20, 1, 70}) {
            tasks.push_back([](int d, std::vector<int>* out) -> corio::Task<void> {
                co_await corio::sleep(std::chrono::milliseconds(d));
                out->push_back(d);
            }(ms, &order));
        }
        co_await corio::gather(std::move(tasks));
        co_return order;
    };
    EXPECT_EQ(corio::run(body()), (std::vector<int>{1, 10, 20, 30, 70}));
}

TEST(Sleep, TenThousandConcurrentSleepsFinishTogether) {
    auto body = []() -> corio::Task<Clock::duration> {
        std::vector<corio::Task<void>> tasks;
        for (int i = 0; i < 10'000; ++i) tasks.push_back(corio::sleep(10ms));
        auto t0 = Clock::now();
        co_await corio::gather(std::move(tasks));
        co_return Clock::now() - t0;
    };
    auto took = corio::run(body());
    EXPECT_GE(took, 10ms);
    EXPECT_LT(took, 2s);
}

TEST(Sleep, AMillionPendingTimersAreFine) {
    auto body = []() -> corio::Task<std::size_t> {
        std::vector<corio::JoinHandle<void>> handles;
        handles.reserve(1'000'000);
        for (int i = 0; i < 1'000'000; ++i)
            handles.push_back(corio::spawn(corio::sleep(std::chrono::milliseconds(1 + i % 5000) + 1h)));
        co_await corio::yield();  // every task is now parked on its timer
        std::size_t pending = corio::loop_statistics().timers_pending;
        for (auto& h : handles) h.cancel();
        for (auto& h : handles) {
            try {
                co_await h;
            } catch (const corio::CancelledError&) {
            }
        }
        co_return pending;
    };
    EXPECT_EQ(corio::run(body()), 1'000'000u);
}

TEST(Sleep, CancellingASleepRaisesCancelledErrorPromptly) {
    auto body = []() -> corio::Task<bool> {
        auto h = corio::spawn(corio::sleep(1h));
        co_await corio::sleep(1ms);
        h.cancel();
        try {
            co_await h;
        } catch (const corio::CancelledError&) {
            co_return corio::loop_statistics().timers_pending == 0;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Timeout, ReturnsTheValueWhenTheTaskIsFastEnough) {
    auto body = []() -> corio::Task<int> {
        co_return co_await corio::timeout(1s, []() -> corio::Task<int> {
            co_await corio::sleep(1ms);
            co_return 5;
        }());
    };
    EXPECT_EQ(corio::run(body()), 5);
}

TEST(Timeout, ThrowsTimeoutErrorAfterTheInnerTaskWasCancelledAndCleanedUp) {
    static bool cleaned;
    cleaned = false;
    auto slow = []() -> corio::Task<int> {
        struct C {
            ~C() { cleaned = true; }
        } c;
        co_await corio::sleep(10s);
        co_return 1;
    };
    auto body = [&]() -> corio::Task<bool> {
        auto t0 = Clock::now();
        try {
            co_await corio::timeout(20ms, slow());
        } catch (const corio::TimeoutError& e) {
            co_return cleaned && Clock::now() - t0 >= 20ms && Clock::now() - t0 < 5s;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Timeout, WorksAroundAPlainAwaitable) {
    auto body = []() -> corio::Task<bool> {
        try {
            co_await corio::timeout(5ms, corio::sleep(1h));
        } catch (const corio::TimeoutError&) {
            co_return true;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Timeout, InnerExceptionsPropagateUnchanged) {
    auto body = []() -> corio::Task<void> {
        co_await corio::timeout(1s, []() -> corio::Task<void> {
            co_await corio::yield();
            throw std::out_of_range("inner");
        }());
    };
    EXPECT_THROW(corio::run(body()), std::out_of_range);
}

TEST(Timeout, ZeroOrNegativeDurationTimesOutAtTheFirstAwait) {
    auto body = []() -> corio::Task<bool> {
        try {
            co_await corio::timeout(-1s, corio::sleep(1ms));
        } catch (const corio::TimeoutError&) {
            co_return true;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Timeout, CancellingTheCallerCancelsTheInnerTaskAndRaisesCancelledError) {
    auto body = []() -> corio::Task<bool> {
        auto h = corio::spawn(corio::timeout(1h, corio::sleep(1h)));
        co_await corio::sleep(1ms);
        h.cancel();
        try {
            co_await h;
        } catch (const corio::CancelledError&) {
            co_return corio::loop_statistics().timers_pending == 0;
        } catch (const corio::TimeoutError&) {
            co_return false;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

// asyncio.timeout's rule: when the caller itself was cancelled, CancelledError wins even if the deadline
// passed too. Here the deadline passes while the inner task is still cleaning up after the caller's
// cancellation; a TimeoutError would let `catch (TimeoutError&) { co_return fallback; }` end a cancelled
// task normally.
TEST(Timeout, ACallerCancelledBeforeTheDeadlineGetsCancelledErrorEvenIfTheDeadlinePassesDuringCleanup) {
    auto slow_cleanup = []() -> corio::Task<void> {
        bool cancelled = false;
        try {
            co_await corio::sleep(1h);
        } catch (const corio::CancelledError&) {
            cancelled = true;
        }
        if (cancelled) {
            co_await corio::shield([]() -> corio::Task<void> { co_await corio::sleep(60ms); }());
            throw corio::CancelledError();
        }
    };
    auto body = [&]() -> corio::Task<int> {
        auto h = corio::spawn(corio::timeout(10ms, slow_cleanup()));
        co_await corio::yield();  // h is now waiting in timeout()
        h.cancel();
        try {
            co_await h;
        } catch (const corio::CancelledError&) {
            co_return 1;
        } catch (const corio::TimeoutError&) {
            co_return 2;
        }
        co_return 3;
    };
    EXPECT_EQ(corio_test::run_bounded(body()), 1);
}

TEST(Yield, LetsOtherTasksRunWithoutTheKernel) {
    auto body = []() -> corio::Task<int> {
        int ticks = 0;
        auto h = corio::spawn([](int* t) -> corio::Task<void> {
            for (int i = 0; i < 100; ++i) {
                ++*t;
                co_await corio::yield();
            }
        }(&ticks));
        for (int i = 0; i < 10; ++i) co_await corio::yield();
        int seen = ticks;
        co_await h;
        co_return seen;
    };
    EXPECT_GE(corio::run(body()), 9);
}

TEST(Yield, RaisesCancelledErrorInACancelledTask) {
    auto body = []() -> corio::Task<int> {
        auto h = corio::spawn([]() -> corio::Task<int> {
            int n = 0;
            for (;;) {
                co_await corio::yield();
                if (++n > 1'000'000) co_return -1;
            }
        }());
        co_await corio::yield();
        h.cancel();
        try {
            co_return co_await h;
        } catch (const corio::CancelledError&) {
            co_return 1;
        }
    };
    EXPECT_EQ(corio::run(body()), 1);
}

TEST(Cancellation, IsLevelTriggeredEveryLaterAwaitRaisesToo) {
    auto body = []() -> corio::Task<int> {
        auto h = corio::spawn([]() -> corio::Task<int> {
            int raised = 0;
            for (int i = 0; i < 3; ++i) {
                try {
                    co_await corio::sleep(1h);
                } catch (const corio::CancelledError&) {
                    ++raised;
                }
            }
            co_return raised;
        }());
        co_await corio::sleep(1ms);
        h.cancel();
        co_return co_await h;
    };
    EXPECT_EQ(corio::run(body()), 3);
}

}  // namespace
