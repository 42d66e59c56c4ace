#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

corio::Task<void> add_after(int* sum, int v, int ms) {
    co_await corio::sleep(std::chrono::milliseconds(ms));
    *sum += v;
}
corio::Task<void> fail_after(int ms, std::string msg) {
    co_await corio::sleep(std::chrono::milliseconds(ms));
    throw std::runtime_error(msg);
}

TEST(TaskGroup, JoinWaitsForEveryChild) {
    auto body = []() -> corio::Task<int> {
        int sum = 0;
        corio::TaskGroup g;
        for (int i = 1; i <= 10; ++i) g.spawn(add_after(&sum, i, i));
        EXPECT_EQ(g.statistics().running, 10u);
        co_await g.join();
        EXPECT_EQ(g.statistics().running, 0u);
        co_return sum;
    };
    EXPECT_EQ(corio::run(body()), 55);
}

TEST(TaskGroup, AFailingChildCancelsItsSiblingsAndJoinRaisesExceptionGroup) {
    auto body = []() -> corio::Task<std::string> {
        int sum = 0;
        corio::TaskGroup g;
        g.spawn(add_after(&sum, 1, 1000 * 60));
        g.spawn(fail_after(2, "first"));
        g.spawn(add_after(&sum, 1, 1000 * 60));
        try {
            co_await g.join();
        } catch (const corio::ExceptionGroup& e) {
            EXPECT_EQ(e.exceptions().size(), 1u);
            EXPECT_EQ(sum, 0);
            co_return e.what();
        }
        co_return "";
    };
    EXPECT_NE(corio::run(body()).find("first"), std::string::npos);
}

TEST(TaskGroup, AllErrorsReachTheAwaiter) {
    auto body = []() -> corio::Task<std::size_t> {
        corio::TaskGroup g;
        // Both fail at the same tick, before either's cancellation can interrupt the other.
        g.spawn([]() -> corio::Task<void> { throw std::runtime_error("a"); co_return; }());
        g.spawn([]() -> corio::Task<void> { throw std::logic_error("b"); co_return; }());
        try {
            co_await g.join();
        } catch (const corio::ExceptionGroup& e) {
            co_return e.exceptions().size();
        }
        co_return 0;
    };
    EXPECT_EQ(corio::run(body()), 2u);
}

TEST(TaskGroup, CancellingTheJoinerCancelsChildrenAndRaisesCancelledError) {
    auto body = []() -> corio::Task<bool> {
        auto h = corio::spawn([]() -> corio::Task<void> {
            int sum = 0;
            corio::TaskGroup g;
            g.spawn(add_after(&sum, 1, 1000 * 3600));
            g.spawn(add_after(&sum, 1, 1000 * 3600));
            co_await g.join();
        }());
        co_await corio::sleep(2ms);
        h.cancel();
        try {
            co_await h;
        } catch (const corio::CancelledError&) {
            co_return corio::loop_statistics().live == 1;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(TaskGroup, ExplicitCancelStopsEveryChild) {
    auto body = []() -> corio::Task<int> {
        int sum = 0;
        corio::TaskGroup g;
        g.spawn(add_after(&sum, 1, 1000 * 3600));
        g.spawn(add_after(&sum, 1, 1000 * 3600));
        co_await corio::sleep(1ms);
        g.cancel();
        co_await g.join();  // cancelled children are not failures
        co_return sum;
    };
    EXPECT_EQ(corio::run(body()), 0);
}

TEST(TaskGroup, ChildrenCanBeAddedWhileJoining) {
    auto body = []() -> corio::Task<int> {
        int sum = 0;
        corio::TaskGroup g;
        g.spawn([](corio::TaskGroup* grp, int* s) -> corio::Task<void> {
            co_await corio::sleep(1ms);
            grp->spawn(add_after(s, 5, 2));
        }(&g, &sum));
        co_await g.join();
        co_return sum;
    };
    EXPECT_EQ(corio::run(body()), 5);
}

// A child spawned once the group is cancelling (after a failure, or while the joiner is being cancelled)
// is one of the siblings a failure cancels: left running, it would hold join() (and the failure) back
// until it ended on its own.
TEST(TaskGroup, AChildSpawnedAfterASiblingFailedIsCancelledToo) {
    auto body = []() -> corio::Task<bool> {
        int sum = 0;
        corio::TaskGroup g;
        g.spawn([]() -> corio::Task<void> {
            throw std::runtime_error("boom");
            co_return;
        }());
        co_await corio::yield();  // the child fails: the group is cancelling
        g.spawn(add_after(&sum, 1, 1000 * 3600));
        auto t0 = Clock::now();
        bool raised = false;
        try {
            co_await corio::timeout(5s, g.join());
        } catch (const corio::ExceptionGroup&) {
            raised = true;
        }
        EXPECT_EQ(sum, 0);
        co_return raised && Clock::now() - t0 < 2s;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(TaskGroup, AChildSpawnedWhileTheJoinerIsBeingCancelledIsCancelledToo) {
    auto body = []() -> corio::Task<bool> {
        int sum = 0;
        auto h = corio::spawn([](int* s) -> corio::Task<void> {
            corio::TaskGroup g;
            // Its cleanup starts follow-up work in the group, as a worker handing off its job may.
            g.spawn([](corio::TaskGroup* grp, int* s) -> corio::Task<void> {
                try {
                    co_await corio::sleep(1h);
                } catch (const corio::CancelledError&) {
                    grp->spawn(add_after(s, 1, 3000));  // 3 s: bounds the test when it is not cancelled
                    throw;
                }
            }(&g, s));
            co_await g.join();
        }(&sum));
        co_await corio::sleep(2ms);
        auto t0 = Clock::now();
        h.cancel();
        bool cancelled = false;
        try {
            co_await h;
        } catch (const corio::CancelledError&) {
            cancelled = true;
        }
        EXPECT_EQ(sum, 0);
        co_return cancelled && Clock::now() - t0 < 2s;
    };
    EXPECT_TRUE(corio::run(body()));
}

// join() is woken when the last child ends; a task that runs before the joiner does may spawn another
// child into the group. join() must wait for that one too, not return with it running.
TEST(TaskGroup, JoinWaitsForAChildSpawnedBetweenTheLastChildsEndAndTheJoinersResumption) {
    auto body = []() -> corio::Task<bool> {
        int sum = 0;
        corio::TaskGroup g;
        g.spawn([]() -> corio::Task<void> { co_await corio::yield(); }());
        // Ready queue: [child, other]. The child yields, `other` yields, the child ends (the joiner is
        // queued behind `other`), then `other` resumes and spawns before the joiner runs.
        auto other = corio::spawn([](corio::TaskGroup* grp, int* s) -> corio::Task<void> {
            co_await corio::yield();
            grp->spawn(add_after(s, 1, 5));
        }(&g, &sum));
        co_await g.join();
        bool all_done = g.statistics().running == 0 && sum == 1;
        co_await other;
        co_await corio::sleep(20ms);  // lets a child join() left behind finish (else the group reports it)
        co_return all_done;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(TaskGroup, DestroyedWithoutJoinCancelsChildren) {
    auto body = []() -> corio::Task<int> {
        int sum = 0;
        {
            corio::TaskGroup g;
            g.spawn(add_after(&sum, 1, 5));
        }
        co_await corio::sleep(20ms);
        co_return sum;
    };
    testing::internal::CaptureStderr();
    int sum = corio::run(body());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(sum, 0);
    EXPECT_NE(err.find("join()"), std::string::npos) << err;
}

TEST(TaskGroup, ManyChildren) {
    auto body = []() -> corio::Task<int> {
        int sum = 0;
        corio::TaskGroup g;
        for (int i = 0; i < 50'000; ++i) g.spawn(add_after(&sum, 1, i % 3));
        co_await g.join();
        co_return sum;
    };
    EXPECT_EQ(corio::run(body()), 50'000);
}

}  // namespace
