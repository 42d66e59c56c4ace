#pragma once
// A hierarchical timing wheel (the shape Tokio's runtime/time/wheel uses; written anew here).
//
// Six levels of 64 slots. A tick is one millisecond. Level L's slots are 64^L ticks wide, so the wheel
// covers 64^6 ticks (~2.2 years; later deadlines are clamped). A timer lives at the level of the highest
// 6-bit group in which its deadline differs from `elapsed`, so every timer at level L expires before any at
// level L+1. When time reaches a level-L slot (L > 0), its timers are re-filed at lower levels.
// Insert and remove are O(1): each slot is an intrusive doubly-linked list, each level has an occupancy
// bitmap.

#include <corio/detail/timer.hpp>

#include <cstdint>
#include <optional>

namespace corio::detail {

class TimerWheel {
public:
    static constexpr int k_levels = 6;
    static constexpr int k_bits = 6;
    static constexpr std::uint64_t k_slots = 64;
    static constexpr std::uint64_t k_max = (1ull << (k_levels * k_bits)) - 1;

    /// Files `t` (t->m_deadline > elapsed()).
    void insert(TimerEntry* t) noexcept;
    void remove(TimerEntry* t) noexcept;
    /// The tick at which the earliest slot is due, if any timer is armed.
    [[nodiscard]] std::optional<std::uint64_t> next_expiration() const noexcept;
    /// Moves time to `now`, firing (calling m_fire on) every timer whose deadline <= now.
    void advance(std::uint64_t now) noexcept;

    [[nodiscard]] std::uint64_t elapsed() const noexcept { return m_elapsed; }
    [[nodiscard]] std::size_t size() const noexcept { return m_count; }

private:
    struct Level {
        std::uint64_t occupied = 0;
        TimerEntry* slots[k_slots] = {};
    };
    struct Next {
        int level;
        unsigned slot;
        std::uint64_t deadline;
    };
    [[nodiscard]] std::optional<Next> next() const noexcept;
    void file(TimerEntry* t) noexcept;

    static constexpr std::uint8_t k_expiring = 0xff;  // m_level of a timer in m_expiring

    Level m_levels[k_levels];
    TimerEntry* m_expiring = nullptr;  // due timers being fired
    std::uint64_t m_elapsed = 0;
    std::size_t m_count = 0;
};

}  // namespace corio::detail
