#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

corio::Task<int> after(int v, int ms) {
    co_await corio::sleep(std::chrono::milliseconds(ms));
    co_return v;
}
corio::Task<int> fail_after(int ms) {
    co_await corio::sleep(std::chrono::milliseconds(ms));
    throw std::runtime_error("failed after " + std::to_string(ms));
}

TEST(Gather, VectorReturnsValuesInOrderAndRunsConcurrently) {
    auto body = []() -> corio::Task<std::vector<int>> {
        std::vector<corio::Task<int>> ts;
        for (int i = 0; i < 10; ++i) ts.push_back(after(i, 30 - i * 2));
        auto t0 = Clock::now();
        auto out = co_await corio::gather(std::move(ts));
        EXPECT_LT(Clock::now() - t0, 150ms * 10);
        co_return out;
    };
    EXPECT_EQ(corio::run(body()), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Gather, TupleFormMixesTypesAndVoid) {
    auto body = []() -> corio::Task<bool> {
        auto [a, b, c] = co_await corio::gather(after(1, 2), []() -> corio::Task<std::string> {
            co_return "x";
        }(), corio::sleep(1ms));
        static_assert(std::is_same_v<decltype(c), std::monostate>);
        co_return a == 1 && b == "x";
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(Gather, EmptyVectorReturnsEmpty) {
    auto body = []() -> corio::Task<std::size_t> {
        auto v = co_await corio::gather(std::vector<corio::Task<int>>{});
        co_return v.size();
    };
    EXPECT_EQ(corio::run(body()), 0u);
}

TEST(Gather, FirstFailureCancelsTheOthersAndIsRethrown) {
    static int cancelled;
    cancelled = 0;
    auto slow = []() -> corio::Task<int> {
        try {
            co_await corio::sleep(1h);
        } catch (const corio::CancelledError&) {
            ++cancelled;
            throw;
        }
        co_return 0;
    };
    auto body = [&]() -> corio::Task<std::string> {
        std::vector<corio::Task<int>> ts;
        ts.push_back(slow());
        ts.push_back(fail_after(5));
        ts.push_back(slow());
        ts.push_back(fail_after(50));
        try {
            co_await corio::gather(std::move(ts));
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "";
    };
    EXPECT_EQ(corio::run(body()), "failed after 5");
    EXPECT_EQ(cancelled, 2);
}

TEST(Gather, CancellingTheCallerCancelsAllChildren) {
    auto body = []() -> corio::Task<bool> {
        auto h = corio::spawn([]() -> corio::Task<void> {
            std::vector<corio::Task<void>> ts;
            for (int i = 0; i < 5; ++i) ts.push_back(corio::sleep(1h));
            co_await corio::gather(std::move(ts));
        }());
        co_await corio::sleep(2ms);
        h.cancel();
        try {
            co_await h;
        } catch (const corio::CancelledError&) {
            auto s = corio::loop_statistics();
            co_return s.timers_pending == 0 && s.live == 1;
        }
        co_return false;
    };
    EXPECT_TRUE(corio::run(body()));
}

// A child whose cleanup fails after the caller was cancelled: its error is the failure gather raises,
// not the CancelledError of a sibling listed before it (which dropped the error without a trace).
/// Cancels `h` and tells how it ended: 1 CancelledError, 2 runtime_error("cleanup failed"), 3 another
/// runtime_error, 4 no error.
static corio::Task<int> cancel_and_see(corio::JoinHandle<void>& h) {
    h.cancel();
    try {
        co_await h;
    } catch (const corio::CancelledError&) {
        co_return 1;
    } catch (const std::runtime_error& e) {
        co_return std::string(e.what()) == "cleanup failed" ? 2 : 3;
    }
    co_return 4;
}

TEST(Gather, AChildFailingAfterTheCallerWasCancelledIsRaisedNotASiblingsCancellation) {
    auto body = []() -> corio::Task<int> {
        auto h = corio::spawn([]() -> corio::Task<void> {
            std::vector<corio::Task<void>> ts;
            ts.push_back(corio::sleep(1h));
            ts.push_back([]() -> corio::Task<void> {
                try {
                    co_await corio::sleep(1h);
                } catch (const corio::CancelledError&) {
                    throw std::runtime_error("cleanup failed");
                }
            }());
            ts.push_back(corio::sleep(1h));
            co_await corio::gather(std::move(ts));
        }());
        co_await corio::yield();  // h is waiting in gather
        co_return co_await cancel_and_see(h);
    };
    EXPECT_EQ(corio::run(corio::timeout(20s, body())), 2);
}

TEST(WhenAny, AChildFailingAfterTheCallerWasCancelledIsRaisedNotTheFirstOnesCancellation) {
    auto body = []() -> corio::Task<int> {
        auto h = corio::spawn([]() -> corio::Task<void> {
            std::vector<corio::Task<void>> ts;
            ts.push_back(corio::sleep(1h));  // cancelled first, it ends first, with CancelledError
            ts.push_back([]() -> corio::Task<void> {
                try {
                    co_await corio::sleep(1h);
                } catch (const corio::CancelledError&) {
                    throw std::runtime_error("cleanup failed");
                }
            }());
            (void)co_await corio::when_any(std::move(ts));
        }());
        co_await corio::yield();  // h is waiting in when_any
        co_return co_await cancel_and_see(h);
    };
    EXPECT_EQ(corio::run(corio::timeout(20s, body())), 2);
}

TEST(GatherSettled, ReturnsEveryOutcomeAndCancelsNothing) {
    auto body = []() -> corio::Task<std::vector<corio::Outcome<int>>> {
        std::vector<corio::Task<int>> ts;
        ts.push_back(after(1, 10));
        ts.push_back(fail_after(1));
        ts.push_back(after(3, 20));
        co_return co_await corio::gather_settled(std::move(ts));
    };
    auto out = corio::run(body());
    ASSERT_EQ(out.size(), 3u);
    EXPECT_TRUE(out[0].ok());
    EXPECT_EQ(out[0].value(), 1);
    EXPECT_FALSE(out[1].ok());
    EXPECT_THROW(out[1].value(), std::runtime_error);
    EXPECT_EQ(out[2].value(), 3);
}

TEST(GatherSettled, TupleForm) {
    auto body = []() -> corio::Task<bool> {
        auto [a, b] = co_await corio::gather_settled(fail_after(1), corio::sleep(1ms));
        co_return !a.ok() && b.ok();
    };
    EXPECT_TRUE(corio::run(body()));
}

TEST(WhenAny, FirstToFinishWinsAndTheOthersAreCancelledAndAwaited) {
    static int cleaned;
    cleaned = 0;
    auto slow = [](int v) -> corio::Task<int> {
        struct C {
            ~C() { ++cleaned; }
        } c;
        co_await corio::sleep(1h);
        co_return v;
    };
    auto body = [&]() -> corio::Task<corio::WhenAny<int>> {
        std::vector<corio::Task<int>> ts;
        ts.push_back(slow(0));
        ts.push_back(after(1, 5));
        ts.push_back(slow(2));
        auto r = co_await corio::when_any(std::move(ts));
        EXPECT_EQ(cleaned, 2);  // losers finished before when_any returned
        co_return r;
    };
    auto r = corio::run(body());
    EXPECT_EQ(r.index, 1u);
    EXPECT_EQ(r.value, 1);
}

TEST(WhenAny, WinnersExceptionIsRethrown) {
    auto body = []() -> corio::Task<void> {
        std::vector<corio::Task<int>> ts;
        ts.push_back(after(1, 100));
        ts.push_back(fail_after(1));
        (void)co_await corio::when_any(std::move(ts));
    };
    EXPECT_THROW(corio::run(body()), std::runtime_error);
}

TEST(WhenAny, TupleFormReturnsAVariantAtTheWinnersIndex) {
    auto body = []() -> corio::Task<std::variant<int, std::string, std::monostate>> {
        co_return co_await corio::when_any(after(1, 1000 * 3600), []() -> corio::Task<std::string> {
            co_await corio::sleep(2ms);
            co_return "second";
        }(), corio::sleep(1h));
    };
    auto v = corio::run(body());
    ASSERT_EQ(v.index(), 1u);
    EXPECT_EQ(std::get<1>(v), "second");
}

TEST(WhenAny, EmptyVectorThrowsInvalidArgument) {
    auto body = []() -> corio::Task<void> { (void)co_await corio::when_any(std::vector<corio::Task<int>>{}); };
    EXPECT_THROW(corio::run(body()), std::invalid_argument);
}

TEST(Gather, MovedFromTaskIsRejectedBeforeAnythingStarts) {
    auto body = []() -> corio::Task<bool> {
        std::vector<corio::Task<int>> ts;
        ts.push_back(after(1, 1));
        auto stolen = after(2, 1);
        auto keep = std::move(stolen);
        ts.push_back(std::move(stolen));  // NOLINT(bugprone-use-after-move): empty on purpose
        try {
            co_await corio::gather(std::move(ts));
        } catch (const corio::Error&) {
            co_return corio::loop_statistics().live == 1;
        }
        co_return false;
    };
    testing::internal::CaptureStderr();
    EXPECT_TRUE(corio::run(body()));
    // The valid tasks never ran: each is reported as never awaited.
    EXPECT_NE(testing::internal::GetCapturedStderr().find("coroutine '(anonymous namespace)::after' was never awaited"),
              std::string::npos);
}

}  // namespace
