#pragma once
// A timer as the loop's timing wheel holds it: intrusive, embedded in the awaiter that waits on it.
// Not part of the public API.

#include <chrono>
#include <cstdint>

namespace corio::detail {

struct TimerEntry {
    TimerEntry* m_prev = nullptr;
    TimerEntry* m_next = nullptr;
    std::uint64_t m_deadline = 0;  // in loop ticks (milliseconds since the loop started), rounded up
    std::uint8_t m_level = 0;
    std::uint8_t m_slot = 0;
    bool m_linked = false;
    void (*m_fire)(TimerEntry*) = nullptr;
};

/// Arms `t` to fire at `when`. Returns false (and arms nothing) when `when` is already due.
bool add_timer(TimerEntry* t, std::chrono::steady_clock::time_point when);
/// Disarms `t` if armed.
void remove_timer(TimerEntry* t) noexcept;

}  // namespace corio::detail
