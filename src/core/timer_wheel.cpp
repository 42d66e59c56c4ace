#include "timer_wheel.hpp"

#include <bit>

namespace corio::detail {

namespace {
int level_for(std::uint64_t elapsed, std::uint64_t when) noexcept {
    std::uint64_t masked = (elapsed ^ when) | (TimerWheel::k_slots - 1);
    if (masked > TimerWheel::k_max) masked = TimerWheel::k_max;
    int significant = 63 - std::countl_zero(masked);
    return significant / TimerWheel::k_bits;
}
}  // namespace

void TimerWheel::file(TimerEntry* t) noexcept {
    int level = level_for(m_elapsed, t->m_deadline);
    unsigned slot = static_cast<unsigned>((t->m_deadline >> (level * k_bits)) & (k_slots - 1));
    Level& l = m_levels[level];
    t->m_level = static_cast<std::uint8_t>(level);
    t->m_slot = static_cast<std::uint8_t>(slot);
    t->m_prev = nullptr;
    t->m_next = l.slots[slot];
    if (t->m_next) t->m_next->m_prev = t;
    l.slots[slot] = t;
    l.occupied |= 1ull << slot;
    t->m_linked = true;
}

void TimerWheel::insert(TimerEntry* t) noexcept {
    if (t->m_deadline - m_elapsed > k_max) t->m_deadline = m_elapsed + k_max;
    file(t);
    ++m_count;
}

void TimerWheel::remove(TimerEntry* t) noexcept {
    if (!t->m_linked) return;
    if (t->m_level == k_expiring) {
        if (t->m_prev) t->m_prev->m_next = t->m_next;
        else m_expiring = t->m_next;
        if (t->m_next) t->m_next->m_prev = t->m_prev;
        t->m_linked = false;
        t->m_prev = t->m_next = nullptr;
        --m_count;
        return;
    }
    Level& l = m_levels[t->m_level];
    if (t->m_prev) t->m_prev->m_next = t->m_next;
    else l.slots[t->m_slot] = t->m_next;
    if (t->m_next) t->m_next->m_prev = t->m_prev;
    if (!l.slots[t->m_slot]) l.occupied &= ~(1ull << t->m_slot);
    t->m_linked = false;
    t->m_prev = t->m_next = nullptr;
    --m_count;
}

std::optional<TimerWheel::Next> TimerWheel::next() const noexcept {
    for (int level = 0; level < k_levels; ++level) {
        const Level& l = m_levels[level];
        if (!l.occupied) continue;
        const int shift = level * k_bits;
        unsigned pos = static_cast<unsigned>((m_elapsed >> shift) & (k_slots - 1));
        // Slots before `pos` are empty at this level (their time has passed and they were re-filed).
        std::uint64_t ahead = l.occupied >> pos;
        unsigned slot = ahead ? pos + static_cast<unsigned>(std::countr_zero(ahead))
                              : static_cast<unsigned>(std::countr_zero(l.occupied));
        std::uint64_t level_range = level + 1 < k_levels ? 1ull << (shift + k_bits) : k_max + 1;
        std::uint64_t level_start = m_elapsed & ~(level_range - 1);
        std::uint64_t deadline = level_start + (static_cast<std::uint64_t>(slot) << shift);
        if (!ahead) deadline += level_range;  // wrapped: only possible at the top level
        return Next{level, slot, deadline};
    }
    return std::nullopt;
}

std::optional<std::uint64_t> TimerWheel::next_expiration() const noexcept {
    auto n = next();
    if (!n) return std::nullopt;
    return n->deadline;
}

void TimerWheel::advance(std::uint64_t now) noexcept {
    for (;;) {
        auto n = next();
        if (!n || n->deadline > now) break;
        if (n->deadline > m_elapsed) m_elapsed = n->deadline;
        Level& l = m_levels[n->level];
        TimerEntry* list = l.slots[n->slot];
        l.slots[n->slot] = nullptr;
        l.occupied &= ~(1ull << n->slot);
        while (list) {
            TimerEntry* t = list;
            list = t->m_next;
            if (t->m_deadline <= m_elapsed) {
                t->m_level = k_expiring;
                t->m_prev = nullptr;
                t->m_next = m_expiring;
                if (m_expiring) m_expiring->m_prev = t;
                m_expiring = t;
            } else {
                file(t);  // re-filed at a lower level
            }
        }
        // Fire one at a time: a firing timer may remove others from this list (a timeout cancelling a
        // sleep due at the same tick) or arm new ones (never already due).
        while (TimerEntry* t = m_expiring) {
            m_expiring = t->m_next;
            if (m_expiring) m_expiring->m_prev = nullptr;
            t->m_prev = t->m_next = nullptr;
            t->m_linked = false;
            --m_count;
            t->m_fire(t);
        }
    }
    if (now > m_elapsed) m_elapsed = now;
}

}  // namespace corio::detail
