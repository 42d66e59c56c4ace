#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

int count_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n;
}

TEST(Run, ReturnsTheValueOfMain) {
    EXPECT_EQ(corio::run([]() -> corio::Task<int> { co_return 3; }()), 3);
}

TEST(Run, RethrowsTheExceptionOfMain) {
    auto body = []() -> corio::Task<void> {
        co_await corio::sleep(1ms);
        throw std::logic_error("main failed");
    };
    EXPECT_THROW(corio::run(body()), std::logic_error);
}

corio::Task<void> nested() { co_return; }

TEST(Run, InsideARunningLoopThrowsNestedLoopErrorThatSaysToAwait) {
    auto body = []() -> corio::Task<std::string> {
        try {
            corio::run(nested());
        } catch (const corio::NestedLoopError& e) {
            co_return e.what();
        }
        co_return "";
    };
    std::string msg = corio::run(body());
    EXPECT_NE(msg.find("co_await"), std::string::npos) << msg;
}

TEST(Run, CanRunAgainAfterALoopEnded) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(corio::run([]() -> corio::Task<int> { co_return 1; }()), 1);
}

TEST(Run, TasksStillRunningAtTheEndAreCancelledAndAwaited) {
    static bool cleaned_up;
    static bool finished;
    cleaned_up = finished = false;
    auto background = []() -> corio::Task<void> {
        struct Cleanup {
            ~Cleanup() { cleaned_up = true; }
        } c;
        co_await corio::sleep(10s);
        finished = true;
    };
    auto body = [&]() -> corio::Task<void> {
        corio::spawn(background()).detach();
        co_await corio::sleep(1ms);
    };
    auto start = std::chrono::steady_clock::now();
    corio::run(body());
    EXPECT_TRUE(cleaned_up);
    EXPECT_FALSE(finished);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Run, ClosesEveryDescriptorItOpened) {
    int before = count_fds();
    for (auto b : {corio::Backend::automatic, corio::Backend::epoll}) {
        corio::run(
            []() -> corio::Task<void> {
                co_await corio::to_thread([] { return 1; });
                co_await corio::sleep(1ms);
            }(),
            {.backend = b});
    }
    EXPECT_EQ(count_fds(), before);
}

TEST(Run, BackendFollowsTheOptionAndTheEnvironment) {
    auto which = []() -> corio::Task<corio::Backend> { co_return corio::current_backend(); };
    EXPECT_EQ(corio::run(which(), {.backend = corio::Backend::epoll}), corio::Backend::epoll);
    const char* env = std::getenv("CORIO_BACKEND");
    auto b = corio::run(which());
    if (env && std::string(env) == "epoll") {
        EXPECT_EQ(b, corio::Backend::epoll);
    }
    if (env && std::string(env) == "io_uring") {
        EXPECT_EQ(b, corio::Backend::io_uring);
    }
    EXPECT_NE(b, corio::Backend::automatic);
}

TEST(Run, StatisticsCountTheLoopsWork) {
    auto body = []() -> corio::Task<corio::LoopStatistics> {
        for (int i = 0; i < 10; ++i) co_await corio::yield();
        auto h = corio::spawn(corio::sleep(1ms));
        co_await h;
        co_return corio::loop_statistics();
    };
    auto s = corio::run(body());
    EXPECT_GE(s.resumes, 10u);
    EXPECT_GE(s.spawned, 2u);
    EXPECT_EQ(s.live, 1u);  // main itself
}

TEST(Run, OperationsWithoutALoopThrowLoopClosedError) {
    EXPECT_THROW((void)corio::loop_statistics(), corio::LoopClosedError);
    EXPECT_THROW((void)corio::LoopHandle::current(), corio::LoopClosedError);
}

TEST(LoopHandle, PostRunsTheFunctionOnTheLoopThread) {
    auto body = []() -> corio::Task<bool> {
        corio::Event done;
        auto handle = corio::LoopHandle::current();
        std::thread::id loop_thread = std::this_thread::get_id();
        std::atomic<bool> same{false};
        std::thread t([&] {
            handle.post([&] {
                same = std::this_thread::get_id() == loop_thread;
                done.set();
            });
        });
        co_await corio::timeout(5s, done.wait());
        corio::allow_blocking deliberate;  // the thread has posted already: join() returns at once
        t.join();
        co_return same.load();
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(LoopHandle, SpawnFromAnotherThreadReturnsAFuture) {
    auto body = []() -> corio::Task<int> {
        auto handle = corio::LoopHandle::current();
        auto fut = std::async(std::launch::async, [handle] {
            return handle.spawn([]() -> corio::Task<int> {
                co_await corio::sleep(1ms);
                co_return 41;
            }());
        });
        // Wait for the std::future without blocking the loop.
        auto inner = co_await corio::to_thread([&fut] { return fut.get(); });
        int v = co_await corio::to_thread([&inner] { return inner.get(); });
        co_return v + 1;
    };
    EXPECT_EQ(corio::run(body()), 42);
}

TEST(LoopHandle, PostAfterTheLoopEndedThrowsLoopClosedError) {
    auto handle = corio::run([]() -> corio::Task<corio::LoopHandle> { co_return corio::LoopHandle::current(); }());
    EXPECT_THROW(handle.post([] {}), corio::LoopClosedError);
}

corio::Task<void> failing_in_background() {
    co_await corio::yield();
    throw std::runtime_error("nobody saw this");
}

TEST(Run, ADetachedTasksExceptionIsReportedToStderrAsAsyncioDoes) {
    testing::internal::CaptureStderr();
    corio::run([]() -> corio::Task<void> {
        corio::spawn(failing_in_background()).detach();
        co_await corio::sleep(2ms);
    }());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("Task exception was never retrieved (task (anonymous namespace)::failing_in_background): "
                       "nobody saw this"),
              std::string::npos)
        << err;
}

TEST(Run, DetachedTaskFailureIsReportedNotLost) {
    static std::string reported;
    reported.clear();
    corio::RunOptions opts;
    opts.on_unhandled = [](std::exception_ptr e, const std::string& name) {
        reported = name + ": " + corio::describe(e);
    };
    corio::run(
        []() -> corio::Task<void> {
            auto bad = []() -> corio::Task<void> {
                co_await corio::yield();
                throw std::runtime_error("lost?");
            };
            corio::spawn(bad(), "worker-7").detach();
            co_await corio::sleep(2ms);
        }(),
        opts);
    EXPECT_EQ(reported, "worker-7: lost?");
}

}  // namespace
