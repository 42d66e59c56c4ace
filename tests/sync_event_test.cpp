#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include "support/test_support.hpp"

#include <vector>

using namespace std::chrono_literals;

namespace {

using corio_test::run_bounded;
using corio_test::settle;

corio::Task<int> wait_and_count(corio::Event& ev, int& woken) {
    co_await ev.wait();
    co_return ++woken;
}

corio::Task<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

TEST(Event, StartsUnset) {
    corio::Event ev;
    EXPECT_FALSE(ev.is_set());
    auto s = ev.statistics();
    EXPECT_FALSE(s.set);
    EXPECT_EQ(s.waiters, 0u);
    EXPECT_EQ(s.times_set, 0u);
}

TEST(Event, SetWakesEveryWaiter) {
    corio::Event ev;
    int woken = 0;
    auto body = [&]() -> corio::Task<void> {
        std::vector<corio::JoinHandle<int>> hs;
        for (int i = 0; i < 5; ++i) hs.push_back(corio::spawn(wait_and_count(ev, woken)));
        co_await settle();
        EXPECT_EQ(woken, 0);
        EXPECT_EQ(ev.statistics().waiters, 5u);
        for (auto& h : hs) EXPECT_FALSE(h.done());
        ev.set();
        EXPECT_EQ(ev.statistics().waiters, 0u);
        int sum = 0;
        for (auto& h : hs) sum += co_await h;
        EXPECT_EQ(sum, 1 + 2 + 3 + 4 + 5);
    };
    run_bounded(body());
    EXPECT_EQ(woken, 5);
    EXPECT_TRUE(ev.is_set());
}

TEST(Event, WaitOnASetEventReturnsAtOnce) {
    corio::Event ev;
    bool other_ran = false;
    auto body = [&]() -> corio::Task<void> {
        ev.set();
        auto other = corio::spawn(set_flag(other_ran));
        co_await ev.wait();
        EXPECT_FALSE(other_ran);  // the wait did not have to give way to anyone
        co_await ev.wait();
        EXPECT_FALSE(other_ran);
        co_await other;
    };
    run_bounded(body());
    EXPECT_TRUE(other_ran);
}

TEST(Event, ClearMakesLaterWaitsBlockAgain) {
    corio::Event ev;
    int woken = 0;
    auto body = [&]() -> corio::Task<void> {
        ev.set();
        ev.clear();
        EXPECT_FALSE(ev.is_set());
        auto h = corio::spawn(wait_and_count(ev, woken));
        co_await settle();
        co_await corio::sleep(2ms);
        EXPECT_FALSE(h.done());
        EXPECT_EQ(woken, 0);
        ev.set();
        EXPECT_EQ(co_await h, 1);
    };
    run_bounded(body());
}

TEST(Event, WaitersWokenBySetResumeEvenIfTheEventIsClearedAtOnce) {
    corio::Event ev;
    int woken = 0;
    auto body = [&]() -> corio::Task<void> {
        auto a = corio::spawn(wait_and_count(ev, woken));
        auto b = corio::spawn(wait_and_count(ev, woken));
        co_await settle();
        ev.set();
        ev.clear();  // before the woken waiters ran
        co_await a;
        co_await b;
        EXPECT_FALSE(ev.is_set());
    };
    run_bounded(body());
    EXPECT_EQ(woken, 2);
}

TEST(Event, ACancelledWaitRaisesCancelledErrorAndLeavesNoWaiterBehind) {
    corio::Event ev;
    int woken = 0;
    auto body = [&]() -> corio::Task<void> {
        auto a = corio::spawn(wait_and_count(ev, woken));
        auto b = corio::spawn(wait_and_count(ev, woken));
        co_await settle();
        EXPECT_EQ(ev.statistics().waiters, 2u);
        a.cancel();
        EXPECT_THROW(co_await a, corio::CancelledError);
        EXPECT_EQ(ev.statistics().waiters, 1u);
        ev.set();
        EXPECT_EQ(co_await b, 1);  // only b counted
        EXPECT_EQ(ev.statistics().waiters, 0u);
    };
    run_bounded(body());
    EXPECT_EQ(woken, 1);
}

TEST(Event, AWaitThatTimesOutLeavesNoWaiterBehind) {
    corio::Event ev;
    auto body = [&]() -> corio::Task<void> {
        EXPECT_THROW(co_await corio::timeout(5ms, ev.wait()), corio::TimeoutError);
        EXPECT_EQ(ev.statistics().waiters, 0u);
        ev.set();
        co_await corio::timeout(1s, ev.wait());  // set: completes
    };
    run_bounded(body());
}

TEST(Event, ASetThatArrivedBeforeTheCancellationWins) {
    corio::Event ev;
    int woken = 0;
    auto body = [&]() -> corio::Task<void> {
        auto h = corio::spawn(wait_and_count(ev, woken));
        co_await settle();
        ev.set();    // the waiter is woken...
        h.cancel();  // ...and cancelled before it runs
        EXPECT_EQ(co_await h, 1);
    };
    run_bounded(body());
    EXPECT_EQ(woken, 1);
}

corio::Task<bool> wait_after_cancellation(corio::Event& ev) {
    try {
        co_await corio::sleep(1h);
    } catch (const corio::CancelledError&) {
    }
    try {
        co_await ev.wait();
    } catch (const corio::CancelledError&) {
        co_return true;
    }
    co_return false;
}

TEST(Event, WaitInACancelledTaskRaisesCancelledError) {
    corio::Event ev;
    auto body = [&]() -> corio::Task<void> {
        auto h = corio::spawn(wait_after_cancellation(ev));
        co_await settle();
        h.cancel();
        EXPECT_TRUE(co_await h);
        EXPECT_EQ(ev.statistics().waiters, 0u);
    };
    run_bounded(body());
}

TEST(Event, StatisticsCountTimesSetOncePerTransition) {
    corio::Event ev;
    ev.set();
    ev.set();  // already set: not a new transition
    EXPECT_EQ(ev.statistics().times_set, 1u);
    EXPECT_TRUE(ev.statistics().set);
    ev.clear();
    EXPECT_FALSE(ev.statistics().set);
    ev.set();
    EXPECT_EQ(ev.statistics().times_set, 2u);
}

TEST(Event, ABusyLoopWaitingOnASetEventLetsOtherTasksRun) {
    corio::Event ev;
    bool other_ran = false;
    int iterations = 0;
    auto body = [&]() -> corio::Task<void> {
        ev.set();
        auto other = corio::spawn(set_flag(other_ran));
        while (!other_ran && iterations < 100'000) {
            co_await ev.wait();
            ++iterations;
        }
        co_await other;
    };
    run_bounded(body());
    EXPECT_TRUE(other_ran);
    EXPECT_LT(iterations, 100'000);
}

}  // namespace
