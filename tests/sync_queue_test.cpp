#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include "support/test_support.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using corio_test::run_bounded;
using corio_test::settle;

corio::Task<int> get_one(corio::Queue<int>& q) { co_return co_await q.get(); }

corio::Task<void> put_one(corio::Queue<int>& q, int v) { co_await q.put(v); }

corio::Task<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

TEST(Queue, GetReturnsItemsInFifoOrder) {
    corio::Queue<int> q(10);
    auto body = [&]() -> corio::Task<std::vector<int>> {
        for (int i = 0; i < 10; ++i) co_await q.put(i);
        EXPECT_EQ(q.size(), 10u);
        EXPECT_TRUE(q.full());
        std::vector<int> out;
        for (int i = 0; i < 10; ++i) out.push_back(co_await q.get());
        EXPECT_TRUE(q.empty());
        co_return out;
    };
    EXPECT_EQ(run_bounded(body()), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Queue, PutWaitsWhileTheQueueIsFull) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        co_await q.put(2);
        auto putter = corio::spawn(put_one(q, 3));
        co_await settle();
        co_await corio::sleep(2ms);
        EXPECT_FALSE(putter.done());
        EXPECT_EQ(q.size(), 2u);
        EXPECT_EQ(q.statistics().putters, 1u);
        EXPECT_EQ(co_await q.get(), 1);  // makes room: the waiting put fills it
        co_await putter;
        EXPECT_EQ(q.size(), 2u);
        EXPECT_EQ(co_await q.get(), 2);
        EXPECT_EQ(co_await q.get(), 3);
    };
    run_bounded(body());
}

TEST(Queue, GetWaitsWhileTheQueueIsEmpty) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        auto getter = corio::spawn(get_one(q));
        co_await settle();
        co_await corio::sleep(2ms);
        EXPECT_FALSE(getter.done());
        EXPECT_EQ(q.statistics().getters, 1u);
        co_await q.put(42);
        EXPECT_EQ(co_await getter, 42);
        EXPECT_TRUE(q.empty());
    };
    run_bounded(body());
}

TEST(Queue, APutHandsTheValueStraightToAWaitingGetter) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        auto getter = corio::spawn(get_one(q));
        co_await settle();
        co_await q.put(7);  // handed over: the queue's one slot stays free
        EXPECT_EQ(q.size(), 0u);
        EXPECT_TRUE(q.try_put(8));
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(co_await getter, 7);
        EXPECT_EQ(co_await q.get(), 8);
    };
    run_bounded(body());
}

TEST(Queue, TryPutHandsTheValueStraightToAWaitingGetter) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        auto getter = corio::spawn(get_one(q));
        co_await settle();
        EXPECT_TRUE(q.try_put(5));
        EXPECT_EQ(q.size(), 0u);
        EXPECT_EQ(co_await getter, 5);
    };
    run_bounded(body());
}

TEST(Queue, WaitingGettersAreServedInFifoOrder) {
    corio::Queue<int> q(4);
    auto body = [&]() -> corio::Task<void> {
        std::vector<corio::JoinHandle<int>> hs;
        for (int i = 0; i < 4; ++i) {
            hs.push_back(corio::spawn(get_one(q)));
            co_await settle(1);
        }
        for (int i = 0; i < 4; ++i) co_await q.put(100 + i);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(co_await hs[i], 100 + i);
    };
    run_bounded(body());
}

TEST(Queue, WaitingPuttersAreServedInFifoOrder) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<std::vector<int>> {
        co_await q.put(0);
        std::vector<corio::JoinHandle<void>> hs;
        for (int i = 1; i <= 4; ++i) {
            hs.push_back(corio::spawn(put_one(q, i)));
            co_await settle(1);
        }
        EXPECT_EQ(q.statistics().putters, 4u);
        std::vector<int> out;
        for (int i = 0; i < 5; ++i) out.push_back(co_await q.get());
        for (auto& h : hs) co_await h;
        co_return out;
    };
    EXPECT_EQ(run_bounded(body()), (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Queue, CarriesMoveOnlyValues) {
    corio::Queue<std::unique_ptr<int>> q(1);
    auto getter = [&]() -> corio::Task<int> {
        auto p = co_await q.get();
        co_return p ? *p : -1;
    };
    auto putter = [&](int v) -> corio::Task<void> { co_await q.put(std::make_unique<int>(v)); };
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(std::make_unique<int>(1));
        auto p = co_await q.get();
        EXPECT_TRUE(p && *p == 1);

        auto g = corio::spawn(getter());  // direct hand-off of a move-only value
        co_await settle();
        co_await q.put(std::make_unique<int>(2));
        EXPECT_EQ(co_await g, 2);

        EXPECT_TRUE(q.try_put(std::make_unique<int>(3)));
        auto w = corio::spawn(putter(4));  // waits: full; refilled from the waiting putter
        co_await settle();
        auto three = q.try_get();
        EXPECT_TRUE(three && *three && **three == 3);
        co_await w;
        auto four = q.try_get();
        EXPECT_TRUE(four && *four && **four == 4);
        EXPECT_FALSE(q.try_get().has_value());
    };
    run_bounded(body());
}

TEST(Queue, TryPutOnAFullQueueFailsAndLeavesTheValueUntouched) {
    corio::Queue<std::unique_ptr<int>> q(1);
    EXPECT_TRUE(q.try_put(std::make_unique<int>(1)));
    auto v = std::make_unique<int>(2);
    EXPECT_FALSE(q.try_put(std::move(v)));
    ASSERT_TRUE(v);  // NOLINT(bugprone-use-after-move): documented as untouched
    EXPECT_EQ(*v, 2);
    EXPECT_EQ(q.size(), 1u);
}

TEST(Queue, TryGetOnAnEmptyQueueReturnsNothing) {
    corio::Queue<int> q(3);
    EXPECT_FALSE(q.try_get().has_value());
    EXPECT_TRUE(q.try_put(1));
    const int two = 2;
    EXPECT_TRUE(q.try_put(two));
    auto a = q.try_get();
    auto b = q.try_get();
    ASSERT_TRUE(a.has_value());
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(*a, 1);
    EXPECT_EQ(*b, 2);
    EXPECT_FALSE(q.try_get().has_value());
}

TEST(Queue, TryGetLetsAWaitingPutterIn) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        auto putter = corio::spawn(put_one(q, 2));
        co_await settle();
        auto one = q.try_get();
        EXPECT_TRUE(one && *one == 1);
        EXPECT_EQ(q.size(), 1u);  // the putter's value moved in
        co_await putter;
        auto two = q.try_get();
        EXPECT_TRUE(two && *two == 2);
    };
    run_bounded(body());
}

TEST(Queue, ZeroCapacityThrowsInvalidArgument) {
    EXPECT_THROW(corio::Queue<int>(0), std::invalid_argument);
    try {
        corio::Queue<int> q(0);
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("capacity"), std::string::npos) << e.what();
    }
}

TEST(Queue, CloseWakesWaitingGettersWithQueueClosedError) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        auto a = corio::spawn(get_one(q));
        auto b = corio::spawn(get_one(q));
        co_await settle();
        q.close();
        EXPECT_TRUE(q.closed());
        EXPECT_THROW(co_await a, corio::QueueClosedError);
        EXPECT_THROW(co_await b, corio::QueueClosedError);
        EXPECT_EQ(q.statistics().getters, 0u);
    };
    run_bounded(body());
}

TEST(Queue, CloseWakesWaitingPuttersWithQueueClosedError) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        auto a = corio::spawn(put_one(q, 2));
        auto b = corio::spawn(put_one(q, 3));
        co_await settle();
        EXPECT_EQ(q.statistics().putters, 2u);
        q.close();
        EXPECT_THROW(co_await a, corio::QueueClosedError);
        EXPECT_THROW(co_await b, corio::QueueClosedError);
        EXPECT_EQ(q.statistics().putters, 0u);
        EXPECT_EQ(q.size(), 1u);  // the refused values did not get in
    };
    run_bounded(body());
}

TEST(Queue, GetDrainsWhatIsLeftAfterCloseThenRaises) {
    corio::Queue<int> q(3);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        co_await q.put(2);
        q.close();
        EXPECT_EQ(co_await q.get(), 1);
        auto two = q.try_get();
        EXPECT_TRUE(two && *two == 2);
        EXPECT_THROW(co_await q.get(), corio::QueueClosedError);
        EXPECT_FALSE(q.try_get().has_value());
    };
    run_bounded(body());
}

TEST(Queue, PutAfterCloseRaises) {
    corio::Queue<int> q(3);
    auto body = [&]() -> corio::Task<void> {
        q.close();
        EXPECT_THROW(co_await q.put(1), corio::QueueClosedError);
        EXPECT_THROW(q.try_put(2), corio::QueueClosedError);
        EXPECT_EQ(q.size(), 0u);
    };
    run_bounded(body());
}

TEST(Queue, CancellingAWaitingPutLeavesTheQueueUnchanged) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        co_await q.put(2);
        auto putter = corio::spawn(put_one(q, 3));
        co_await settle();
        putter.cancel();
        EXPECT_THROW(co_await putter, corio::CancelledError);
        EXPECT_EQ(q.statistics().putters, 0u);
        EXPECT_EQ(q.size(), 2u);
        EXPECT_EQ(co_await q.get(), 1);
        EXPECT_EQ(co_await q.get(), 2);
        EXPECT_FALSE(q.try_get().has_value());  // 3 never got in
        EXPECT_EQ(q.statistics().put, 2u);
    };
    run_bounded(body());
}

TEST(Queue, CancellingAWaitingGetLeavesTheQueueUnchanged) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        auto getter = corio::spawn(get_one(q));
        co_await settle();
        getter.cancel();
        EXPECT_THROW(co_await getter, corio::CancelledError);
        EXPECT_EQ(q.statistics().getters, 0u);
        EXPECT_TRUE(q.try_put(9));  // not handed to the cancelled getter
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(co_await q.get(), 9);
        EXPECT_EQ(q.statistics().got, 1u);
    };
    run_bounded(body());
}

// The cancellation came first: close() must not turn it into a QueueClosedError, which a consumer loop
// catches as its normal end (so a cancelled task would return as if the queue had simply ended).
TEST(Queue, AWaitingGetCancelledBeforeCloseRaisesCancelledError) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        auto getter = corio::spawn(get_one(q));
        co_await settle();
        getter.cancel();
        q.close();  // in the same turn, before the getter runs
        EXPECT_THROW(co_await getter, corio::CancelledError);
    };
    run_bounded(body());
}

TEST(Queue, AWaitingPutCancelledBeforeCloseRaisesCancelledError) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        auto putter = corio::spawn(put_one(q, 2));
        co_await settle();
        putter.cancel();
        q.close();
        EXPECT_THROW(co_await putter, corio::CancelledError);
        EXPECT_EQ(q.size(), 1u);
    };
    run_bounded(body());
}

TEST(Queue, AGetInACancelledTaskOnAClosedQueueRaisesCancelledError) {
    corio::Queue<int> q(1);
    q.close();
    auto body = [&]() -> corio::Task<void> {
        auto getter = corio::spawn(get_one(q));
        getter.cancel();  // before it starts
        EXPECT_THROW(co_await getter, corio::CancelledError);
    };
    run_bounded(body());
}

TEST(Queue, AGetThatReceivedItsValueBeforeCancellationReturnsIt) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        auto getter = corio::spawn(get_one(q));
        co_await settle();
        EXPECT_TRUE(q.try_put(11));  // handed to the getter...
        getter.cancel();             // ...which is cancelled before it runs
        EXPECT_EQ(co_await getter, 11);  // not lost
        EXPECT_TRUE(q.empty());
    };
    run_bounded(body());
}

TEST(Queue, APutWhoseValueGotInBeforeCancellationSucceeds) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        auto putter = corio::spawn(put_one(q, 2));
        co_await settle();
        auto one = q.try_get();  // the waiting put's value moves in...
        EXPECT_TRUE(one && *one == 1);
        putter.cancel();  // ...before the putter runs and is cancelled
        co_await putter;  // no error: its value is in the queue
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(co_await q.get(), 2);
    };
    run_bounded(body());
}

TEST(Queue, APutThatTimesOutLeavesTheQueueUnchanged) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        co_await q.put(1);
        EXPECT_THROW(co_await corio::timeout(5ms, q.put(2)), corio::TimeoutError);
        EXPECT_EQ(q.statistics().putters, 0u);
        EXPECT_EQ(co_await q.get(), 1);
        EXPECT_FALSE(q.try_get().has_value());
    };
    run_bounded(body());
}

TEST(Queue, AGetThatTimesOutLeavesTheQueueUnchanged) {
    corio::Queue<int> q(1);
    auto body = [&]() -> corio::Task<void> {
        EXPECT_THROW((void)co_await corio::timeout(5ms, q.get()), corio::TimeoutError);
        EXPECT_EQ(q.statistics().getters, 0u);
        EXPECT_TRUE(q.try_put(3));
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(co_await corio::timeout(1s, q.get()), 3);
    };
    run_bounded(body());
}

TEST(Queue, StatisticsCountPutsGetsAndWaiters) {
    corio::Queue<int> q(2);
    auto body = [&]() -> corio::Task<void> {
        auto s = q.statistics();
        EXPECT_EQ(s.size, 0u);
        EXPECT_EQ(s.capacity, 2u);
        EXPECT_EQ(s.put, 0u);
        EXPECT_EQ(s.got, 0u);
        EXPECT_FALSE(s.closed);
        auto g = corio::spawn(get_one(q));
        co_await settle();
        EXPECT_EQ(q.statistics().getters, 1u);
        co_await q.put(1);  // handed over: counts as a put and a get
        EXPECT_EQ(co_await g, 1);
        co_await q.put(2);
        co_await q.put(3);
        auto p = corio::spawn(put_one(q, 4));
        co_await settle();
        s = q.statistics();
        EXPECT_EQ(s.size, 2u);
        EXPECT_EQ(s.putters, 1u);
        EXPECT_EQ(s.getters, 0u);
        EXPECT_EQ(s.put, 3u);
        EXPECT_EQ(s.got, 1u);
        EXPECT_EQ(co_await q.get(), 2);
        co_await p;
        q.close();
        s = q.statistics();
        EXPECT_EQ(s.put, 4u);
        EXPECT_EQ(s.got, 2u);
        EXPECT_EQ(s.size, 2u);
        EXPECT_EQ(s.putters, 0u);
        EXPECT_TRUE(s.closed);
    };
    run_bounded(body());
}

corio::Task<void> produce(corio::Queue<int>& q, int base, int n) {
    for (int i = 0; i < n; ++i) co_await q.put(base + i);
}

corio::Task<void> consume(corio::Queue<int>& q, std::vector<int>& seen) {
    try {
        for (int i = 0; i < 100'000; ++i) seen.push_back(co_await q.get());
    } catch (const corio::QueueClosedError&) {
    }
}

corio::Task<void> produce_then_close(corio::Queue<int>& q) {
    std::vector<corio::Task<void>> ps;
    for (int p = 0; p < 3; ++p) ps.push_back(produce(q, p * 1000, 200));
    co_await corio::gather(std::move(ps));
    q.close();
}

TEST(Queue, ManyProducersAndConsumersLoseAndDuplicateNothing) {
    corio::Queue<int> q(4);
    std::vector<int> seen_a, seen_b;
    auto body = [&]() -> corio::Task<void> {
        co_await corio::gather(produce_then_close(q), consume(q, seen_a), consume(q, seen_b));
    };
    run_bounded(body());
    std::vector<int> all = seen_a;
    all.insert(all.end(), seen_b.begin(), seen_b.end());
    std::sort(all.begin(), all.end());
    std::vector<int> want;
    for (int p = 0; p < 3; ++p)
        for (int i = 0; i < 200; ++i) want.push_back(p * 1000 + i);
    EXPECT_EQ(all, want);
    // Each producer's items reach each consumer in the order they were put.
    for (const auto* seen : {&seen_a, &seen_b}) {
        int last[3] = {-1, -1, -1};
        for (int v : *seen) {
            EXPECT_GT(v % 1000, last[v / 1000]);
            last[v / 1000] = v % 1000;
        }
    }
}

TEST(Queue, ABusyLoopOfUncontendedPutsAndGetsLetsOtherTasksRun) {
    corio::Queue<int> q(1);
    bool other_ran = false;
    int iterations = 0;
    auto body = [&]() -> corio::Task<void> {
        auto other = corio::spawn(set_flag(other_ran));
        while (!other_ran && iterations < 100'000) {
            co_await q.put(iterations);
            EXPECT_EQ(co_await q.get(), iterations);
            ++iterations;
        }
        co_await other;
    };
    run_bounded(body());
    EXPECT_TRUE(other_ran);
    EXPECT_LT(iterations, 100'000);
}

}  // namespace
