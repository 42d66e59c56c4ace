#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

using namespace std::chrono_literals;

namespace {

corio::Task<int> answer() { co_return 42; }
corio::Task<void> nothing() { co_return; }
corio::Task<int> add(int a, int b) { co_return a + b; }
corio::Task<std::unique_ptr<int>> boxed(int v) { co_return std::make_unique<int>(v); }

int g_value = 7;
corio::Task<int&> ref() { co_return g_value; }

corio::Task<int> thrower() {
    throw std::runtime_error("boom");
    co_return 0;
}

TEST(Task, ReturnsItsValueWhenAwaited) {
    EXPECT_EQ(corio::run(answer()), 42);
    EXPECT_EQ(corio::run([]() -> corio::Task<int> { co_return co_await add(2, 3); }()), 5);
}

TEST(Task, VoidAndReferenceAndMoveOnlyResults) {
    corio::run(nothing());
    int& r = corio::run(ref());
    EXPECT_EQ(&r, &g_value);
    auto p = corio::run(boxed(9));
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, 9);
}

TEST(Task, IsLazyUntilAwaited) {
    bool ran = false;
    auto make = [&]() -> corio::Task<void> {
        ran = true;
        co_return;
    };
    testing::internal::CaptureStderr();
    {
        auto t = make();
        EXPECT_FALSE(ran);
    }
    EXPECT_FALSE(ran);  // destroyed without running: reported as never awaited
    EXPECT_NE(testing::internal::GetCapturedStderr().find("was never awaited"), std::string::npos);
    corio::run(make());
    EXPECT_TRUE(ran);
}

TEST(Task, ExceptionPropagatesToTheAwaiter) {
    auto outer = []() -> corio::Task<std::string> {
        try {
            co_await thrower();
        } catch (const std::runtime_error& e) {
            co_return std::string("caught ") + e.what();
        }
        co_return "no";
    };
    EXPECT_EQ(corio::run(outer()), "caught boom");
    EXPECT_THROW(corio::run(thrower()), std::runtime_error);
}

TEST(Task, AwaitingAMovedFromTaskThrowsCorioError) {
    auto body = []() -> corio::Task<void> {
        auto t = answer();
        auto other = std::move(t);
        EXPECT_THROW(co_await t, corio::Error);  // NOLINT(bugprone-use-after-move)
        EXPECT_EQ(co_await other, 42);
    };
    corio::run(body());
}

TEST(Task, AwaitingATaskTwiceThrowsCorioError) {
    auto body = []() -> corio::Task<void> {
        auto t = answer();
        EXPECT_EQ(co_await t, 42);
        try {
            (void)co_await t;
            ADD_FAILURE() << "second await did not throw";
        } catch (const corio::Error& e) {
            EXPECT_NE(std::string(e.what()).find("already awaited"), std::string::npos);
        }
    };
    corio::run(body());
}

corio::Task<int> one() { co_return 1; }

TEST(Task, TenMillionSequentialAwaitsDoNotGrowTheStack) {
    auto body = []() -> corio::Task<long> {
        long sum = 0;
        for (int i = 0; i < 10'000'000; ++i) sum += co_await one();
        co_return sum;
    };
    EXPECT_EQ(corio::run(body()), 10'000'000);
}

corio::Task<int> deep(int n) {
    if (n == 0) co_return 0;
    co_return 1 + co_await deep(n - 1);
}

TEST(Task, DeepRecursionOfAwaitsWorks) { EXPECT_EQ(corio::run(deep(10'000)), 10'000); }

TEST(Task, NamedTaskKeepsItsName) {
    auto t = answer().named("the-answer");
    EXPECT_TRUE(t.valid());
    EXPECT_FALSE(t.started());
    EXPECT_EQ(corio::run(std::move(t)), 42);
}

}  // namespace
