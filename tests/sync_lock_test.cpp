#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include "support/test_support.hpp"

#include <vector>

using namespace std::chrono_literals;

namespace {

using corio_test::run_bounded;
using corio_test::settle;

struct Shared {
    corio::Lock lock;
    bool inside = false;
    int overlaps = 0;
    int entered = 0;
    std::vector<int> order;
};

// A critical section that spans several suspensions.
corio::Task<void> critical_section(Shared& s, int id) {
    auto guard = co_await s.lock.lock();
    if (s.inside) ++s.overlaps;
    s.inside = true;
    ++s.entered;
    s.order.push_back(id);
    co_await corio::yield();
    co_await corio::sleep(1ms);
    co_await corio::yield();
    if (!s.inside) ++s.overlaps;
    s.inside = false;
}

TEST(Lock, GuardsMutualExclusionAcrossAwaits) {
    Shared s;
    auto body = [&]() -> corio::Task<void> {
        std::vector<corio::Task<void>> tasks;
        for (int i = 0; i < 10; ++i) tasks.push_back(critical_section(s, i));
        co_await corio::gather(std::move(tasks));
    };
    run_bounded(body());
    EXPECT_EQ(s.overlaps, 0);
    EXPECT_EQ(s.entered, 10);
    EXPECT_FALSE(s.lock.locked());
}

TEST(Lock, TryLockSucceedsOnlyWhenTheLockIsFree) {
    corio::Lock lock;
    EXPECT_FALSE(lock.locked());
    auto g = lock.try_lock();
    ASSERT_TRUE(g.has_value());
    EXPECT_TRUE(lock.locked());
    EXPECT_FALSE(lock.try_lock().has_value());
    g.reset();
    EXPECT_FALSE(lock.locked());
    EXPECT_TRUE(lock.try_lock().has_value());
}

TEST(Lock, GuardUnlocksWhenDestroyed) {
    corio::Lock lock;
    auto body = [&]() -> corio::Task<void> {
        {
            auto guard = co_await lock.lock();
            EXPECT_TRUE(lock.locked());
            EXPECT_FALSE(lock.try_lock().has_value());
        }
        EXPECT_FALSE(lock.locked());
        auto guard = co_await lock.lock();
        guard.release();
        EXPECT_FALSE(lock.locked());
    };
    run_bounded(body());
}

TEST(Lock, WaitersAcquireInFifoOrder) {
    Shared s;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await s.lock.lock();
        std::vector<corio::JoinHandle<void>> hs;
        for (int i = 0; i < 6; ++i) {
            hs.push_back(corio::spawn(critical_section(s, i)));
            co_await settle(1);
        }
        EXPECT_EQ(s.lock.statistics().waiters, 6u);
        held.release();
        for (auto& h : hs) co_await h;
    };
    run_bounded(body());
    EXPECT_EQ(s.order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(s.overlaps, 0);
}

TEST(Lock, TryLockDoesNotOvertakeAWaiterTheLockWasHandedTo) {
    Shared s;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await s.lock.lock();
        auto waiter = corio::spawn(critical_section(s, 1));
        co_await settle();
        held.release();  // handed to the waiter
        EXPECT_TRUE(s.lock.locked());
        EXPECT_FALSE(s.lock.try_lock().has_value());
        co_await waiter;
        EXPECT_FALSE(s.lock.locked());
    };
    run_bounded(body());
    EXPECT_EQ(s.order, (std::vector<int>{1}));
}

TEST(Lock, CancellingAWaiterLetsTheNextOneIn) {
    Shared s;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await s.lock.lock();
        auto a = corio::spawn(critical_section(s, 1));
        co_await settle(1);
        auto b = corio::spawn(critical_section(s, 2));
        co_await settle();
        EXPECT_EQ(s.lock.statistics().waiters, 2u);
        a.cancel();
        EXPECT_THROW(co_await a, corio::CancelledError);
        EXPECT_EQ(s.lock.statistics().waiters, 1u);
        EXPECT_TRUE(s.lock.locked());
        held.release();
        co_await b;
        EXPECT_FALSE(s.lock.locked());
        EXPECT_EQ(s.lock.statistics().waiters, 0u);
    };
    run_bounded(body());
    EXPECT_EQ(s.order, (std::vector<int>{2}));
    EXPECT_EQ(s.entered, 1);
}

corio::Task<void> lock_then_yield(corio::Lock& lock, bool& got) {
    auto guard = co_await lock.lock();
    got = true;
    co_await corio::yield();
}

TEST(Lock, ALockHandedToACancelledWaiterIsUnlockedAgain) {
    corio::Lock lock;
    bool got = false;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await lock.lock();
        auto waiter = corio::spawn(lock_then_yield(lock, got));
        co_await settle();
        held.release();
        waiter.cancel();
        EXPECT_THROW(co_await waiter, corio::CancelledError);
        EXPECT_TRUE(got);
        EXPECT_FALSE(lock.locked());
    };
    run_bounded(body());
    EXPECT_FALSE(lock.locked());
}

TEST(Lock, ALockThatTimesOutIsNotHeld) {
    corio::Lock lock;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await lock.lock();
        EXPECT_THROW((void)co_await corio::timeout(5ms, lock.lock()), corio::TimeoutError);
        EXPECT_EQ(lock.statistics().waiters, 0u);
        held.release();
        EXPECT_FALSE(lock.locked());
        auto g = co_await corio::timeout(1s, lock.lock());
        EXPECT_TRUE(lock.locked());
    };
    run_bounded(body());
    EXPECT_FALSE(lock.locked());
}

TEST(Lock, StatisticsReportLockedWaitersAndAcquisitions) {
    Shared s;
    auto body = [&]() -> corio::Task<void> {
        auto st = s.lock.statistics();
        EXPECT_FALSE(st.locked);
        EXPECT_EQ(st.waiters, 0u);
        EXPECT_EQ(st.acquired, 0u);
        auto held = co_await s.lock.lock();
        auto w = corio::spawn(critical_section(s, 1));
        co_await settle();
        st = s.lock.statistics();
        EXPECT_TRUE(st.locked);
        EXPECT_EQ(st.waiters, 1u);
        EXPECT_EQ(st.acquired, 1u);
        held.release();
        co_await w;
        st = s.lock.statistics();
        EXPECT_FALSE(st.locked);
        EXPECT_EQ(st.waiters, 0u);
        EXPECT_EQ(st.acquired, 2u);
    };
    run_bounded(body());
}

corio::Task<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

TEST(Lock, ABusyLoopOfUncontendedLocksLetsOtherTasksRun) {
    corio::Lock lock;
    bool other_ran = false;
    int iterations = 0;
    auto body = [&]() -> corio::Task<void> {
        auto other = corio::spawn(set_flag(other_ran));
        while (!other_ran && iterations < 100'000) {
            auto guard = co_await lock.lock();
            ++iterations;
        }
        co_await other;
    };
    run_bounded(body());
    EXPECT_TRUE(other_ran);
    EXPECT_LT(iterations, 100'000);
}

}  // namespace
