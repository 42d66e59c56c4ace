// SignalSet: a process-wide handler marks the signal pending in every set that wants it and writes a byte to
// that set's pipe; wait() polls the pipe on the loop. Slots (pending bits and pipe) are fixed and their pipes
// never closed, so the handler, which may run in any thread at any moment, touches only atomics and
// descriptors that stay valid.

#include <corio/io.hpp>
#include <corio/signal.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace corio {
namespace {

constexpr int kSlots = 32;
constexpr int kMaxSignal = 64;

struct Slot {
    std::atomic<std::uint64_t> interest{0};  // bit (signo - 1) of the signals this set receives
    std::atomic<std::uint64_t> pending{0};
    std::atomic<int> wake{-1};               // write end of the slot's pipe
    int read_end = -1;                       // under g_mutex until handed to a set
    bool in_use = false;                     // under g_mutex
};

std::array<Slot, kSlots> g_slots;
std::mutex g_mutex;
std::array<int, kMaxSignal + 1> g_holders{};        // sets holding each signal (under g_mutex)
std::array<struct sigaction, kMaxSignal + 1> g_previous{};

std::uint64_t bit(int signo) noexcept { return std::uint64_t(1) << (signo - 1); }

extern "C" void corio_signal_handler(int signo) {
    int saved = errno;
    for (auto& slot : g_slots) {
        if ((slot.interest.load(std::memory_order_acquire) & bit(signo)) == 0) continue;
        slot.pending.fetch_or(bit(signo), std::memory_order_acq_rel);
        int fd = slot.wake.load(std::memory_order_acquire);
        if (fd >= 0) {
            char b = 1;
            [[maybe_unused]] auto n = ::write(fd, &b, 1);  // a full pipe already wakes the reader
        }
    }
    errno = saved;
}

bool catchable(int signo) noexcept {
    return signo >= 1 && signo <= kMaxSignal && signo != SIGKILL && signo != SIGSTOP && signo != SIGSEGV &&
           signo != SIGBUS && signo != SIGFPE && signo != SIGILL;
}

void drain(int fd) noexcept {
    char buf[64];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
}

}  // namespace

SignalSet::SignalSet(std::initializer_list<int> signals) {
    std::uint64_t mask = 0;
    for (int s : signals) {
        if (!catchable(s))
            throw std::invalid_argument("corio::SignalSet: signal " + std::to_string(s) + " cannot be caught");
        mask |= bit(s);
    }
    std::lock_guard lock(g_mutex);
    int index = -1;
    for (int i = 0; i < kSlots; ++i)
        if (!g_slots[i].in_use) {
            index = i;
            break;
        }
    if (index < 0) throw std::runtime_error("corio::SignalSet: 32 signal sets exist already");
    Slot& slot = g_slots[index];
    if (slot.read_end < 0) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
            throw std::system_error(errno, std::generic_category(), "corio::SignalSet: pipe2");
        slot.read_end = fds[0];
        slot.wake.store(fds[1], std::memory_order_release);
    }
    drain(slot.read_end);  // bytes a previous set left unread
    slot.pending.store(0, std::memory_order_release);
    slot.interest.store(mask, std::memory_order_release);
    slot.in_use = true;
    for (int s : signals) {
        if (g_holders[s]++ > 0) continue;
        struct sigaction sa {};
        sa.sa_handler = corio_signal_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        ::sigaction(s, &sa, &g_previous[s]);
    }
    m_slot = index;
}

SignalSet::~SignalSet() {
    std::lock_guard lock(g_mutex);
    Slot& slot = g_slots[m_slot];
    std::uint64_t mask = slot.interest.exchange(0, std::memory_order_acq_rel);
    for (int s = 1; s <= kMaxSignal; ++s)
        if ((mask & bit(s)) && --g_holders[s] == 0) ::sigaction(s, &g_previous[s], nullptr);
    slot.in_use = false;
}

Task<int> SignalSet::wait() {
    Slot& slot = g_slots[m_slot];
    for (;;) {
        std::uint64_t p = slot.pending.load(std::memory_order_acquire);
        if (p != 0) {
            int signo = __builtin_ctzll(p) + 1;
            slot.pending.fetch_and(~bit(signo), std::memory_order_acq_rel);
            co_return signo;
        }
        // A signal after the check above has written to the pipe: the poll returns at once.
        co_await detail::RawPoll(slot.read_end, POLLIN);
        drain(slot.read_end);
    }
}

Task<void> ctrl_c() {
    SignalSet set{SIGINT};
    co_await set.wait();
}

}  // namespace corio
