#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include "support/test_support.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using corio_test::run_bounded;
using corio_test::settle;

// Acquires a permit, records `id` in `order`, holds the permit across a yield, then releases it.
corio::Task<void> take_in_turn(corio::Semaphore& sem, std::vector<int>& order, int id) {
    auto permit = co_await sem.acquire();
    order.push_back(id);
    co_await corio::yield();
}

// Acquires a permit and returns `id` (the permit is released when the task ends).
corio::Task<int> acquire_and_return(corio::Semaphore& sem, int id) {
    auto permit = co_await sem.acquire();
    EXPECT_TRUE(permit.held());
    co_return id;
}

TEST(Semaphore, AcquireReturnsAPermitThatGivesItBackWhenDestroyed) {
    corio::Semaphore sem(2);
    auto body = [&]() -> corio::Task<void> {
        {
            auto a = co_await sem.acquire();
            EXPECT_TRUE(a.held());
            EXPECT_EQ(sem.available(), 1u);
            auto b = co_await sem.acquire();
            EXPECT_EQ(sem.available(), 0u);
        }
        EXPECT_EQ(sem.available(), 2u);
        auto c = co_await sem.acquire();
        c.release();
        EXPECT_FALSE(c.held());
        EXPECT_EQ(sem.available(), 2u);
        c.release();  // a second release is a no-op
        EXPECT_EQ(sem.available(), 2u);
    };
    run_bounded(body());
    EXPECT_EQ(sem.available(), 2u);
}

TEST(Semaphore, MovingAPermitTransfersItAndMoveAssignmentReleasesTheOldOne) {
    corio::Semaphore sem(2);
    auto body = [&]() -> corio::Task<void> {
        auto a = co_await sem.acquire();
        corio::Semaphore::Permit moved(std::move(a));
        EXPECT_FALSE(a.held());  // NOLINT(bugprone-use-after-move)
        EXPECT_TRUE(moved.held());
        EXPECT_EQ(sem.available(), 1u);
        auto b = co_await sem.acquire();
        EXPECT_EQ(sem.available(), 0u);
        moved = std::move(b);  // moved's old permit is given back
        EXPECT_EQ(sem.available(), 1u);
        EXPECT_TRUE(moved.held());
    };
    run_bounded(body());
    EXPECT_EQ(sem.available(), 2u);
}

TEST(Semaphore, TryAcquireTakesAFreePermitAndFailsWhenNoneIsLeft) {
    corio::Semaphore sem(1);
    auto body = [&]() -> corio::Task<void> {
        auto p = sem.try_acquire();
        EXPECT_TRUE(p.has_value());
        EXPECT_TRUE(p && p->held());
        EXPECT_EQ(sem.available(), 0u);
        EXPECT_FALSE(sem.try_acquire().has_value());
        p.reset();
        EXPECT_EQ(sem.available(), 1u);
        EXPECT_TRUE(sem.try_acquire().has_value());  // taken and given back at once
        EXPECT_EQ(sem.available(), 1u);
        co_return;
    };
    run_bounded(body());
}

TEST(Semaphore, TryAcquireWorksWithoutARunningLoop) {
    corio::Semaphore sem(1);
    auto p = sem.try_acquire();
    ASSERT_TRUE(p.has_value());
    EXPECT_FALSE(sem.try_acquire().has_value());
    p.reset();
    EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, ZeroPermitsIsAllowedAndReleaseAddsOne) {
    corio::Semaphore sem(0);
    EXPECT_EQ(sem.available(), 0u);
    EXPECT_FALSE(sem.try_acquire().has_value());
    sem.release();
    EXPECT_EQ(sem.available(), 1u);
    EXPECT_TRUE(sem.try_acquire().has_value());
}

TEST(Semaphore, NegativeCountThrowsInvalidArgumentNamingTheArgument) {
    try {
        corio::Semaphore sem(-1);
        ADD_FAILURE() << "Semaphore(-1) did not throw";
    } catch (const std::invalid_argument& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("permits"), std::string::npos) << what;
        EXPECT_NE(what.find("-1"), std::string::npos) << what;
    }
}

TEST(Semaphore, WaitersAreServedInFifoOrder) {
    corio::Semaphore sem(1);
    std::vector<int> order;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await sem.acquire();
        std::vector<corio::JoinHandle<void>> handles;
        for (int i = 0; i < 5; ++i) {
            handles.push_back(corio::spawn(take_in_turn(sem, order, i)));
            co_await settle(1);  // task i is parked before task i+1 starts
        }
        EXPECT_EQ(sem.statistics().waiters, 5u);
        held.release();
        for (auto& h : handles) co_await h;
    };
    run_bounded(body());
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, ANewAcquireNeverOvertakesAWaiter) {
    corio::Semaphore sem(1);
    std::vector<int> order;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await sem.acquire();
        auto waiter = corio::spawn(take_in_turn(sem, order, 1));
        co_await settle();
        held.release();  // handed to the waiter, which has not run yet
        EXPECT_EQ(sem.available(), 0u);
        EXPECT_FALSE(sem.try_acquire().has_value());
        auto late = co_await sem.acquire();  // must queue behind the waiter
        order.push_back(2);
        co_await waiter;
    };
    run_bounded(body());
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    EXPECT_EQ(sem.available(), 1u);
}

corio::Task<void> hold_for_a_while(corio::Semaphore& sem, int& current, int& peak) {
    auto permit = co_await sem.acquire();
    ++current;
    peak = std::max(peak, current);
    co_await corio::sleep(1ms);
    co_await corio::yield();
    --current;
}

TEST(Semaphore, AtMostNTasksHoldAPermitAtOnce) {
    corio::Semaphore sem(3);
    int current = 0;
    int peak = 0;
    auto body = [&]() -> corio::Task<void> {
        std::vector<corio::Task<void>> tasks;
        for (int i = 0; i < 20; ++i) tasks.push_back(hold_for_a_while(sem, current, peak));
        co_await corio::gather(std::move(tasks));
    };
    run_bounded(body());
    EXPECT_EQ(peak, 3);  // never more than 3, and the limit was actually reached
    EXPECT_EQ(current, 0);
    EXPECT_EQ(sem.available(), 3u);
    EXPECT_EQ(sem.statistics().acquired, 20u);
}

TEST(Semaphore, StatisticsCountAvailableWaitersAndAcquired) {
    corio::Semaphore sem(2);
    auto body = [&]() -> corio::Task<void> {
        auto s = sem.statistics();
        EXPECT_EQ(s.available, 2u);
        EXPECT_EQ(s.waiters, 0u);
        EXPECT_EQ(s.acquired, 0u);
        auto a = co_await sem.acquire();
        auto b = sem.try_acquire();
        s = sem.statistics();
        EXPECT_EQ(s.available, 0u);
        EXPECT_EQ(s.acquired, 2u);
        auto w1 = corio::spawn(acquire_and_return(sem, 1));
        auto w2 = corio::spawn(acquire_and_return(sem, 2));
        co_await settle();
        s = sem.statistics();
        EXPECT_EQ(s.waiters, 2u);
        EXPECT_EQ(s.available, 0u);
        a.release();
        b.reset();
        EXPECT_EQ(co_await w1, 1);
        EXPECT_EQ(co_await w2, 2);
        s = sem.statistics();
        EXPECT_EQ(s.waiters, 0u);
        EXPECT_EQ(s.available, 2u);
        EXPECT_EQ(s.acquired, 4u);
    };
    run_bounded(body());
}

TEST(Semaphore, CancellingAWaitingAcquireLeaksNothingAndTheNextWaiterGetsThePermit) {
    corio::Semaphore sem(1);
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await sem.acquire();
        auto a = corio::spawn(acquire_and_return(sem, 1));
        auto b = corio::spawn(acquire_and_return(sem, 2));
        co_await settle();
        EXPECT_EQ(sem.statistics().waiters, 2u);
        a.cancel();
        EXPECT_THROW(co_await a, corio::CancelledError);
        EXPECT_EQ(sem.statistics().waiters, 1u);
        EXPECT_EQ(sem.available(), 0u);
        held.release();  // goes to b, not to the cancelled a
        EXPECT_EQ(co_await b, 2);
        EXPECT_EQ(sem.available(), 1u);
        EXPECT_EQ(sem.statistics().waiters, 0u);
        EXPECT_EQ(sem.statistics().acquired, 2u);
    };
    run_bounded(body());
    EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, CancellingAllWaitersThenReleasingRestoresTheCount) {
    corio::Semaphore sem(2);
    auto body = [&]() -> corio::Task<void> {
        auto p1 = co_await sem.acquire();
        auto p2 = co_await sem.acquire();
        std::vector<corio::JoinHandle<int>> hs;
        for (int i = 0; i < 4; ++i) hs.push_back(corio::spawn(acquire_and_return(sem, i)));
        co_await settle();
        EXPECT_EQ(sem.statistics().waiters, 4u);
        for (auto& h : hs) h.cancel();
        for (auto& h : hs) EXPECT_THROW(co_await h, corio::CancelledError);
        EXPECT_EQ(sem.statistics().waiters, 0u);
        p1.release();
        p2.release();
        EXPECT_EQ(sem.available(), 2u);
    };
    run_bounded(body());
}

corio::Task<int> fail_soon() {
    co_await corio::yield();
    throw std::runtime_error("child failed");
}

TEST(Semaphore, WaitersCancelledByAFailingGatherLeaveTheQueue) {
    corio::Semaphore sem(1);
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await sem.acquire();
        std::vector<corio::Task<int>> tasks;
        for (int i = 0; i < 3; ++i) tasks.push_back(acquire_and_return(sem, i));
        tasks.push_back(fail_soon());
        EXPECT_THROW(co_await corio::gather(std::move(tasks)), std::runtime_error);
        EXPECT_EQ(sem.statistics().waiters, 0u);
        EXPECT_EQ(sem.available(), 0u);
        held.release();
        EXPECT_EQ(sem.available(), 1u);
        EXPECT_EQ(sem.statistics().acquired, 1u);
    };
    run_bounded(body());
}

corio::Task<void> acquire_then_yield(corio::Semaphore& sem, bool& got_permit) {
    auto permit = co_await sem.acquire();
    got_permit = true;
    co_await corio::yield();  // the cancellation is raised here; the permit is released on unwinding
}

TEST(Semaphore, APermitHandedToAWaiterThatIsThenCancelledIsStillReturnedAndReleased) {
    corio::Semaphore sem(1);
    bool got_permit = false;
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await sem.acquire();
        auto waiter = corio::spawn(acquire_then_yield(sem, got_permit));
        co_await settle();
        held.release();   // handed over to the parked waiter
        waiter.cancel();  // before the waiter had a chance to run
        EXPECT_THROW(co_await waiter, corio::CancelledError);
        EXPECT_TRUE(got_permit);
        EXPECT_EQ(sem.available(), 1u);
        EXPECT_EQ(sem.statistics().waiters, 0u);
        auto again = sem.try_acquire();
        EXPECT_TRUE(again.has_value());
    };
    run_bounded(body());
    EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, AnAcquireThatTimesOutLeavesTheQueue) {
    corio::Semaphore sem(1);
    auto body = [&]() -> corio::Task<void> {
        auto held = co_await sem.acquire();
        EXPECT_THROW((void)co_await corio::timeout(5ms, sem.acquire()), corio::TimeoutError);
        EXPECT_EQ(sem.statistics().waiters, 0u);
        held.release();
        EXPECT_EQ(sem.available(), 1u);  // nobody phantom took it
        auto p = co_await corio::timeout(1s, sem.acquire());
        EXPECT_TRUE(p.held());
        EXPECT_EQ(sem.available(), 0u);
    };
    run_bounded(body());
    EXPECT_EQ(sem.available(), 1u);
}

corio::Task<bool> acquire_after_cancellation(corio::Semaphore& sem) {
    try {
        co_await corio::sleep(1h);
    } catch (const corio::CancelledError&) {
    }
    try {
        auto p = co_await sem.acquire();  // a free permit, but the task is cancelled
    } catch (const corio::CancelledError&) {
        co_return true;
    }
    co_return false;
}

TEST(Semaphore, AcquireInACancelledTaskRaisesEvenWhenAPermitIsFree) {
    corio::Semaphore sem(1);
    auto body = [&]() -> corio::Task<void> {
        auto h = corio::spawn(acquire_after_cancellation(sem));
        co_await settle();
        h.cancel();
        EXPECT_TRUE(co_await h);
        EXPECT_EQ(sem.available(), 1u);
        EXPECT_EQ(sem.statistics().acquired, 0u);
    };
    run_bounded(body());
}

corio::Task<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

TEST(Semaphore, ABusyLoopOfUncontendedAcquiresLetsOtherTasksRun) {
    corio::Semaphore sem(1);
    bool other_ran = false;
    int iterations = 0;
    auto body = [&]() -> corio::Task<void> {
        auto other = corio::spawn(set_flag(other_ran));
        while (!other_ran && iterations < 100'000) {
            auto permit = co_await sem.acquire();  // never has to wait
            ++iterations;
        }
        co_await other;
    };
    run_bounded(body());
    EXPECT_TRUE(other_ran);
    EXPECT_LT(iterations, 100'000);
    EXPECT_EQ(sem.available(), 1u);
}

}  // namespace
