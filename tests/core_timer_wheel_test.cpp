// The timing wheel on its own: a differential check against a sorted reference.
#include "core/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace {

using corio::detail::TimerEntry;
using corio::detail::TimerWheel;

struct Fired {
    static inline std::vector<std::pair<std::uint64_t, std::uint64_t>>* log;  // (deadline, fired at)
    static inline std::uint64_t now;
};

struct Entry : TimerEntry {
    std::uint64_t want = 0;
};

TEST(TimerWheel, FiresEveryTimerAtItsDeadlineAcrossAllLevels) {
    std::mt19937_64 rng(1234);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> log;
    Fired::log = &log;
    TimerWheel w;
    std::vector<Entry> entries(20'000);
    for (auto& e : entries) {
        int level = static_cast<int>(rng() % 5);
        std::uint64_t span = 1ull << (6 * (level + 1));
        e.want = 1 + rng() % span;
        e.m_deadline = e.want;
        e.m_fire = [](TimerEntry* t) {
            Fired::log->emplace_back(static_cast<Entry*>(t)->want, Fired::now);
        };
        w.insert(&e);
    }
    EXPECT_EQ(w.size(), entries.size());
    std::uint64_t steps = 0;
    while (auto next = w.next_expiration()) {
        ASSERT_LT(++steps, 1'000'000u);
        Fired::now = *next;
        w.advance(*next);
    }
    ASSERT_EQ(log.size(), entries.size());
    for (auto& [want, at] : log) EXPECT_EQ(want, at);
    EXPECT_TRUE(std::is_sorted(log.begin(), log.end()));
}

TEST(TimerWheel, RemovedTimersNeverFire) {
    TimerWheel w;
    std::vector<Entry> entries(1000);
    int fired = 0;
    static int* counter;
    counter = &fired;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        entries[i].m_deadline = 10 + i * 37;
        entries[i].m_fire = [](TimerEntry*) { ++*counter; };
        w.insert(&entries[i]);
    }
    for (std::size_t i = 0; i < entries.size(); i += 2) w.remove(&entries[i]);
    w.advance(1'000'000);
    EXPECT_EQ(fired, 500);
    EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, AdvancingInCoarseStepsFiresEverythingDue) {
    TimerWheel w;
    std::vector<Entry> entries(5000);
    static std::uint64_t* now;
    static int late;
    std::uint64_t clock = 0;
    now = &clock;
    late = 0;
    std::mt19937 rng(7);
    for (auto& e : entries) {
        e.want = 1 + rng() % 300'000;
        e.m_deadline = e.want;
        e.m_fire = [](TimerEntry* t) {
            if (static_cast<Entry*>(t)->want > *now) ++late;  // fired early
        };
        w.insert(&e);
    }
    for (clock = 0; clock <= 300'000; clock += 977) w.advance(clock);
    w.advance(clock);
    EXPECT_EQ(late, 0);
    EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, AFiringTimerMayRemoveAnotherDueAtTheSameTick) {
    TimerWheel w;
    static Entry a, b;
    static int fired;
    fired = 0;
    a = Entry{};
    b = Entry{};
    a.m_deadline = b.m_deadline = 5;
    a.m_fire = [](TimerEntry*) {
        ++fired;
        static TimerWheel* unused;
        (void)unused;
    };
    b.m_fire = a.m_fire;
    w.insert(&a);
    w.insert(&b);
    // Replace the callbacks: whichever fires first removes the other.
    static TimerWheel* wheel;
    wheel = &w;
    a.m_fire = [](TimerEntry*) {
        ++fired;
        wheel->remove(&b);
    };
    b.m_fire = [](TimerEntry*) {
        ++fired;
        wheel->remove(&a);
    };
    w.advance(10);
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(w.size(), 0u);
}

}  // namespace
