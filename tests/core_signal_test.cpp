#include <corio/corio.hpp>
#include <corio/signal.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <stdexcept>
#include <thread>

#include <unistd.h>

using namespace std::chrono_literals;

namespace {

void (*handler_of(int signo))(int) {
    struct sigaction sa {};
    ::sigaction(signo, nullptr, &sa);
    return sa.sa_handler;
}

TEST(SignalSet, ASignalRaisedBeforeTheWaitIsReturned) {
    auto body = []() -> corio::Task<int> {
        corio::SignalSet set{SIGUSR1};
        ::raise(SIGUSR1);  // caught: the default action would end the test
        co_return co_await set.wait();
    };
    EXPECT_EQ(corio::run(body()), SIGUSR1);
}

TEST(SignalSet, ASignalSentFromAnotherThreadWakesTheWaiter) {
    std::optional<std::thread> sender;
    auto body = [](std::optional<std::thread>& sender) -> corio::Task<int> {
        corio::SignalSet set{SIGUSR1, SIGUSR2};
        sender.emplace([] {
            std::this_thread::sleep_for(20ms);
            ::kill(::getpid(), SIGUSR2);
        });
        co_return co_await corio::timeout(5s, set.wait());
    };
    EXPECT_EQ(corio::run(body(sender)), SIGUSR2);
    sender->join();  // outside the loop: joining is a blocking call
}

TEST(SignalSet, EachSignalIsReturnedOnceAndRepeatsCollapse) {
    auto body = []() -> corio::Task<void> {
        corio::SignalSet set{SIGUSR1, SIGUSR2};
        ::raise(SIGUSR1);
        ::raise(SIGUSR1);
        ::raise(SIGUSR2);
        int a = co_await set.wait();
        int b = co_await set.wait();
        EXPECT_EQ(a, SIGUSR1);
        EXPECT_EQ(b, SIGUSR2);
        bool timed_out = false;
        try {
            co_await corio::timeout(30ms, set.wait());
        } catch (const corio::TimeoutError&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out) << "a repeated signal was returned twice";
    };
    corio::run(body());
}

TEST(SignalSet, EverySetThatWantsASignalReceivesIt) {
    auto body = []() -> corio::Task<void> {
        corio::SignalSet a{SIGUSR1};
        corio::SignalSet b{SIGUSR1, SIGUSR2};
        ::raise(SIGUSR1);
        EXPECT_EQ(co_await a.wait(), SIGUSR1);
        EXPECT_EQ(co_await b.wait(), SIGUSR1);
    };
    corio::run(body());
}

TEST(SignalSet, DestroyingTheLastSetRestoresThePreviousDisposition) {
    ASSERT_EQ(handler_of(SIGUSR1), SIG_DFL);
    ::signal(SIGUSR2, SIG_IGN);
    {
        corio::SignalSet a{SIGUSR1, SIGUSR2};
        {
            corio::SignalSet b{SIGUSR1};
            EXPECT_NE(handler_of(SIGUSR1), SIG_DFL);
        }
        EXPECT_NE(handler_of(SIGUSR1), SIG_DFL) << "set a still holds SIGUSR1";
    }
    EXPECT_EQ(handler_of(SIGUSR1), SIG_DFL);
    EXPECT_EQ(handler_of(SIGUSR2), SIG_IGN);
    ::signal(SIGUSR2, SIG_DFL);
}

TEST(SignalSet, ASignalThatCannotBeCaughtIsRejected) {
    EXPECT_THROW(corio::SignalSet({SIGKILL}), std::invalid_argument);
    EXPECT_THROW(corio::SignalSet({0}), std::invalid_argument);
    EXPECT_THROW(corio::SignalSet({65}), std::invalid_argument);
}

TEST(SignalSet, TooManySetsIsAnError) {
    std::vector<std::unique_ptr<corio::SignalSet>> sets;
    for (int i = 0; i < 32; ++i) sets.push_back(std::make_unique<corio::SignalSet>(std::initializer_list<int>{SIGUSR1}));
    EXPECT_THROW(corio::SignalSet({SIGUSR1}), std::runtime_error);
    sets.pop_back();
    EXPECT_NO_THROW(corio::SignalSet({SIGUSR1}));
}

TEST(SignalSet, ACancelledWaitLeavesTheSignalQueued) {
    auto body = []() -> corio::Task<int> {
        corio::SignalSet set{SIGUSR1};
        auto waiter = corio::spawn(set.wait());
        co_await corio::sleep(5ms);
        waiter.cancel();
        bool cancelled = false;
        try {
            co_await waiter;
        } catch (const corio::CancelledError&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        ::raise(SIGUSR1);
        co_return co_await corio::timeout(5s, set.wait());
    };
    EXPECT_EQ(corio::run(body()), SIGUSR1);
}

TEST(CtrlC, ReturnsOnSigintAndGivesTheDefaultBack) {
    auto body = []() -> corio::Task<void> {
        auto waiter = corio::spawn(corio::ctrl_c());
        co_await corio::sleep(5ms);  // the waiter has caught SIGINT by now
        ::raise(SIGINT);
        co_await corio::timeout(5s, std::move(waiter));
    };
    corio::run(body());
    EXPECT_EQ(handler_of(SIGINT), SIG_DFL);
}

}  // namespace
