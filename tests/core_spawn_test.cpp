#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

corio::Task<int> value_after(int v, std::chrono::milliseconds d) {
    co_await corio::sleep(d);
    co_return v;
}

TEST(Spawn, RunsConcurrentlyAndTheHandleReturnsTheValue) {
    auto body = []() -> corio::Task<int> {
        auto a = corio::spawn(value_after(1, 20ms));
        auto b = corio::spawn(value_after(2, 20ms));
        auto t0 = std::chrono::steady_clock::now();
        int sum = co_await a + co_await b;
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 35ms * 10);  // concurrent, not 40 ms in sequence
        co_return sum;
    };
    EXPECT_EQ(corio::run(body()), 3);
}

TEST(Spawn, HandleRethrowsTheTasksException) {
    auto body = []() -> corio::Task<void> {
        auto h = corio::spawn([]() -> corio::Task<int> {
            co_await corio::yield();
            throw std::invalid_argument("bad");
        }());
        (void)co_await h;
    };
    EXPECT_THROW(corio::run(body()), std::invalid_argument);
}

TEST(Spawn, AwaitingAFinishedTaskReturnsAtOnce) {
    auto body = []() -> corio::Task<int> {
        auto h = corio::spawn([]() -> corio::Task<int> { co_return 9; }());
        co_await corio::sleep(1ms);
        EXPECT_TRUE(h.done());
        co_return co_await h;
    };
    EXPECT_EQ(corio::run(body()), 9);
}

TEST(Spawn, AwaitingAHandleTwiceThrowsCorioError) {
    auto body = []() -> corio::Task<bool> {
        auto h = corio::spawn([]() -> corio::Task<int> { co_return 1; }());
        (void)co_await h;
        try {
            (void)co_await h;
        } catch (const corio::Error&) {
            co_return true;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Spawn, DroppedHandleDetachesTheTaskWhichRunsToItsEnd) {
    auto body = []() -> corio::Task<int> {
        int done = 0;
        {
            auto h = corio::spawn([](int* d) -> corio::Task<void> {
                co_await corio::sleep(2ms);
                *d = 1;
            }(&done));
        }
        co_await corio::sleep(20ms);
        co_return done;
    };
    EXPECT_EQ(corio::run(body()), 1);
}

TEST(Spawn, CancelBeforeItStartsRaisesAtItsFirstAwait) {
    auto body = []() -> corio::Task<std::string> {
        auto h = corio::spawn([]() -> corio::Task<std::string> {
            co_await corio::sleep(1ms);
            co_return "ran";
        }());
        h.cancel();
        try {
            co_return co_await h;
        } catch (const corio::CancelledError&) {
            co_return "cancelled";
        }
    };
    EXPECT_EQ(corio::run(body()), "cancelled");
}

TEST(Spawn, CancellingTheAwaiterCancelsTheAwaitedTask) {
    static bool inner_cancelled;
    inner_cancelled = false;
    auto body = []() -> corio::Task<bool> {
        auto outer = corio::spawn([]() -> corio::Task<void> {
            auto inner = corio::spawn([]() -> corio::Task<void> {
                try {
                    co_await corio::sleep(1h);
                } catch (const corio::CancelledError&) {
                    inner_cancelled = true;
                    throw;
                }
            }());
            co_await inner;
        }());
        co_await corio::sleep(1ms);
        outer.cancel();
        try {
            co_await outer;
        } catch (const corio::CancelledError&) {
            co_return inner_cancelled;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Spawn, ATaskThatCatchesCancellationCanStillFinishWithAValue) {
    auto body = []() -> corio::Task<int> {
        auto h = corio::spawn([]() -> corio::Task<int> {
            try {
                co_await corio::sleep(1h);
            } catch (const corio::CancelledError&) {
                co_return 7;  // cleanup path returns normally
            }
            co_return 0;
        }());
        co_await corio::sleep(1ms);
        h.cancel();
        co_return co_await h;
    };
    EXPECT_EQ(corio::run(body()), 7);
}

TEST(Shield, ProtectsTheInnerTaskFromTheCallersCancellation) {
    static int stage;
    stage = 0;
    auto body = []() -> corio::Task<int> {
        auto h = corio::spawn([]() -> corio::Task<void> {
            co_await corio::shield([]() -> corio::Task<void> {
                co_await corio::sleep(20ms);
                stage = 1;  // ran to its end despite the cancellation
            }());
            stage = 2;  // not reached: the cancellation is raised at the next await
            co_await corio::yield();
            stage = 3;
        }());
        co_await corio::sleep(2ms);
        h.cancel();
        try {
            co_await h;
        } catch (const corio::CancelledError&) {
        }
        co_return stage;
    };
    EXPECT_EQ(corio::run(body()), 2);
}

corio::Task<void> holds(std::shared_ptr<int> p) {
    (void)p;
    co_return;
}

TEST(Spawn, WithoutALoopThrowsLoopClosedErrorAndFreesTheTask) {
    auto p = std::make_shared<int>(1);
    EXPECT_THROW((void)corio::spawn(holds(p)), corio::LoopClosedError);
    EXPECT_EQ(p.use_count(), 1);  // the task's frame, which holds a reference, was freed
    corio::TaskGroup g;
    EXPECT_THROW(g.spawn(holds(p)), corio::LoopClosedError);
    EXPECT_EQ(p.use_count(), 1);
    EXPECT_EQ(g.statistics().spawned, 0u);
}

TEST(Spawn, HundredThousandTasksAllComplete) {
    auto body = []() -> corio::Task<long> {
        std::vector<corio::JoinHandle<int>> hs;
        hs.reserve(100'000);
        for (int i = 0; i < 100'000; ++i)
            hs.push_back(corio::spawn([](int v) -> corio::Task<int> {
                co_await corio::yield();
                co_return v;
            }(i)));
        long sum = 0;
        for (auto& h : hs) sum += co_await h;
        co_return sum;
    };
    EXPECT_EQ(corio::run(body()), 100'000L * 99'999 / 2);
}

}  // namespace
