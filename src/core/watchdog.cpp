#include "watchdog.hpp"

#include "symbolize.hpp"

#include <corio/detail/node.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <execinfo.h>
#include <time.h>

namespace corio::detail {

thread_local TaskNode* t_running = nullptr;

namespace {
thread_local StallCapture* t_capture = nullptr;

int capture_signal() { return SIGRTMIN + 4; }

void on_capture_signal(int) {
    int saved = errno;
    if (StallCapture* c = t_capture) {
        c->depth = ::backtrace(c->frames, StallCapture::k_max_frames);
        c->node = t_running;
        c->node_resume = nullptr;
        if (t_running && t_running->m_frame) {
            void* fn;
            __builtin_memcpy(&fn, t_running->m_frame.address(), sizeof fn);
            c->node_resume = fn;
        }
        c->done.store(true, std::memory_order_release);
    }
    errno = saved;
}

void install_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = &on_capture_signal;
        sa.sa_flags = SA_RESTART | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(capture_signal(), &sa, nullptr);
        void* warm[2];
        ::backtrace(warm, 2);  // loads the unwinder now, not inside the handler
    });
}
}  // namespace

std::int64_t coarse_now_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Watchdog::Watchdog(std::chrono::milliseconds threshold, std::function<void(const StallReport&)> sink)
    : m_threshold(threshold), m_sink(std::move(sink)), m_loop_thread(pthread_self()) {
    install_handler();
    t_capture = &m_capture;
    turn_started();
    m_thread = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
    m_thread.join();
    t_capture = nullptr;
}

bool Watchdog::capture() noexcept {
    m_capture.done.store(false, std::memory_order_relaxed);
    if (pthread_kill(m_loop_thread, capture_signal()) != 0) return false;
    for (int i = 0; i < 500; ++i) {  // the handler runs as soon as the loop thread is scheduled
        if (m_capture.done.load(std::memory_order_acquire)) return true;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return false;
}

void Watchdog::run() {
    const auto threshold_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(m_threshold).count();
    const auto period = std::max<std::chrono::milliseconds>(m_threshold / 4, std::chrono::milliseconds(1));
    std::int64_t stalled_turn = 0;  // the busy_since stamp of the stall being tracked
    bool captured = false;
    std::unique_lock lock(m_mutex);
    while (!m_stop) {
        m_cv.wait_for(lock, period);
        if (m_stop) break;
        std::int64_t busy = m_busy_since.load(std::memory_order_acquire);
        if (stalled_turn) {
            if (busy == stalled_turn) continue;  // still stalled: one stall, one report
            std::int64_t idle = m_idle_since.load(std::memory_order_relaxed);
            std::int64_t end = idle > stalled_turn ? idle : (busy ? busy : coarse_now_ns());
            lock.unlock();
            if (captured) emit(stalled_turn, end);
            lock.lock();
            stalled_turn = 0;
            continue;
        }
        if (busy == 0 || coarse_now_ns() - busy < threshold_ns) continue;
        stalled_turn = busy;
        lock.unlock();
        captured = capture();
        if (captured) {  // the task's name now, while the stalled task most likely still exists
            m_task_name = m_capture.node ? node_name(m_capture.node) : std::string();
            if (m_task_name.empty() && m_capture.node_resume) {
                void* frame[1] = {m_capture.node_resume};  // coroutine_name reads a frame's first word
                m_task_name = coroutine_name(frame);
            }
        }
        lock.lock();
    }
    if (stalled_turn && captured) {  // the loop ended right after a stall: report it all the same
        lock.unlock();
        emit(stalled_turn, coarse_now_ns());
    }
}

void Watchdog::emit(std::int64_t start, std::int64_t end) {
    auto ms = std::max<std::int64_t>((end - start) / 1'000'000, m_threshold.count());
    m_stalls.fetch_add(1, std::memory_order_relaxed);
    if (ms > m_longest_ms.load(std::memory_order_relaxed)) m_longest_ms.store(ms, std::memory_order_relaxed);

    StallReport r;
    r.duration = std::chrono::milliseconds(ms);
    r.threshold = m_threshold;
    r.task = m_task_name.empty() ? "<no task>" : m_task_name;
    // Skip the frames of the capture itself (the handler and the signal trampoline).
    int first = 0;
    for (int i = 0; i < m_capture.depth; ++i) {
        std::string s = symbolize(m_capture.frames[i]);
        if (s.find("on_capture_signal") != std::string::npos) first = i + 1;
    }
    if (first < m_capture.depth && symbolize(m_capture.frames[first]).rfind("0x", 0) == 0) ++first;
    std::vector<void*> addrs(m_capture.frames + first, m_capture.frames + m_capture.depth);
    std::vector<std::string> lines = source_lines(addrs);  // this thread, never the loop's
    for (std::size_t i = 0; i < addrs.size(); ++i) {
        std::string f = symbolize(addrs[i]);
        if (!lines[i].empty()) f += " at " + lines[i];
        r.stack.push_back(std::move(f));
    }
    r.suppressed = m_suppressed;

    if (m_sink) {
        try {
            m_sink(r);
        } catch (...) {
        }
        return;
    }
    std::int64_t now = coarse_now_ns();
    if (m_last_print && now - m_last_print < 1'000'000'000) {  // at most one printed report a second
        ++m_suppressed;
        return;
    }
    m_last_print = now;
    m_suppressed = 0;
    std::fputs(r.text().c_str(), stderr);
}

}  // namespace corio::detail

namespace corio {

std::string StallReport::text() const {
    std::string s = "corio: the event loop was blocked for " + std::to_string(duration.count()) +
                    " ms (threshold " + std::to_string(threshold.count()) + " ms) in task " + task +
                    "; stack of the loop thread when it was caught:\n";
    int i = 0;
    for (auto& f : stack) {
        s += "  #" + std::to_string(i++) + " " + f + "\n";
        if (f.find("corio::detail::Loop::turn") != std::string::npos) break;  // below is the loop itself
    }
    if (suppressed) s += "  (" + std::to_string(suppressed) + " earlier stalls not printed)\n";
    return s;
}

}  // namespace corio
