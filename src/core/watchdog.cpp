#include "watchdog.hpp"

#include "symbolize.hpp"

#include <corio/detail/node.hpp>

#include <cerrno>
#include <csignal>
#include <system_error>
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
    StallCapture* c = t_capture;
    int asked = StallCapture::asked;
    // Claims the watchdog's request (acquire: what it read of the last capture happens before we write); a
    // request it took back, or one already answered (a second signal), is left alone.
    if (c && c->state.compare_exchange_strong(asked, StallCapture::writing, std::memory_order_acq_rel)) {
        c->turn = c->busy_since->load(std::memory_order_relaxed);
        c->step = c->steps->load(std::memory_order_relaxed);
        c->depth = ::backtrace(c->frames, StallCapture::k_max_frames);
        c->node = t_running;
        c->node_resume = nullptr;
        if (t_running && t_running->m_frame) {
            void* fn;
            __builtin_memcpy(&fn, t_running->m_frame.address(), sizeof fn);
            c->node_resume = fn;
        }
        c->state.store(StallCapture::done, std::memory_order_release);
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

Watchdog::Watchdog(std::chrono::milliseconds threshold, std::function<void(const StallReport&)> sink,
                   const std::atomic<std::uint64_t>& steps)
    : m_threshold(threshold), m_sink(std::move(sink)), m_loop_thread(pthread_self()), m_steps(steps) {
    m_capture.busy_since = &m_busy_since;
    m_capture.steps = &m_steps;
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
    {
        std::lock_guard lock(m_mutex);
        m_report_stop = true;  // after the stalls caught so far are reported
    }
    m_report_cv.notify_all();
    if (m_reporter.joinable()) m_reporter.join();
    t_capture = nullptr;
}

void Watchdog::report_loop() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_report_cv.wait(lock, [&] { return !m_caught.empty() || m_report_stop; });
        if (m_caught.empty()) return;
        std::vector<Caught> batch;
        batch.swap(m_caught);
        lock.unlock();
        for (auto& c : batch) emit(c);
        lock.lock();
    }
}

bool Watchdog::capture() noexcept {
    m_capture.state.store(StallCapture::asked, std::memory_order_release);  // pairs with the handler's claim
    if (pthread_kill(m_loop_thread, capture_signal()) != 0) {
        m_capture.state.store(StallCapture::idle, std::memory_order_relaxed);
        return false;
    }
    for (int i = 0; i < 500; ++i) {  // the handler runs as soon as the loop thread is scheduled
        if (m_capture.state.load(std::memory_order_acquire) == StallCapture::done) return true;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    // Given up: take the request back, unless the handler claimed it meanwhile (then it is about to finish).
    int asked = StallCapture::asked;
    if (m_capture.state.compare_exchange_strong(asked, StallCapture::idle, std::memory_order_acq_rel)) return false;
    while (m_capture.state.load(std::memory_order_acquire) != StallCapture::done) std::this_thread::yield();
    return true;
}

void Watchdog::run() {
    const auto threshold_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(m_threshold).count();
    const auto period = std::max<std::chrono::milliseconds>(m_threshold / 4, std::chrono::milliseconds(1));
    std::int64_t stalled_turn = 0;  // the busy_since stamp of the stall being tracked (0: none)
    std::uint64_t stalled_step = 0;  // the step of that turn the stall was caught in
    std::uint64_t next_step = 0;     // a later step of that turn, and when it was first seen running
    std::int64_t next_since = 0;
    Caught current;
    std::unique_lock lock(m_mutex);
    // Counted here, when the stall ends; the report itself is written by the reporting thread.
    auto finish = [&](std::int64_t end) {
        current.end = end;
        auto ms = std::max<std::int64_t>((end - current.start) / 1'000'000, m_threshold.count());
        m_stalls.fetch_add(1, std::memory_order_relaxed);
        if (ms > m_longest_ms.load(std::memory_order_relaxed)) m_longest_ms.store(ms, std::memory_order_relaxed);
        m_caught.push_back(std::move(current));  // under m_mutex
        current = Caught();
        stalled_turn = 0;
        if (!m_reporter.joinable()) {  // the first stall: most loops never need the thread
            try {
                m_reporter = std::thread([this] { report_loop(); });
            } catch (const std::system_error&) {  // no thread to spare: report from here, pausing the watch
                std::vector<Caught> batch;
                batch.swap(m_caught);
                lock.unlock();
                for (auto& c : batch) emit(c);
                lock.lock();
            }
        }
        m_report_cv.notify_one();
    };
    // A stall from `start`, in `turn`; `whole_turn`: the turn is the stall (any step of it is), else only `step`.
    auto begin = [&](std::int64_t start, std::int64_t turn, std::uint64_t step, bool whole_turn) {
        current.start = start;
        stalled_turn = turn;
        stalled_step = next_step = step;
        lock.unlock();
        // The stack is the stall's only if the handler ran while it lasted: not in a later turn or step.
        if (capture() && m_capture.turn == turn && (whole_turn || m_capture.step == step)) {
            current.caught = true;
            current.frames.assign(m_capture.frames, m_capture.frames + m_capture.depth);
            // The task's name now, while the stalled task most likely still exists.
            current.task = m_capture.node ? node_name(m_capture.node) : std::string();
            current.node_resume = m_capture.node_resume;
            stalled_step = next_step = m_capture.step;
        }
        lock.lock();
    };
    while (!m_stop) {
        m_cv.wait_for(lock, period);
        if (m_stop) break;
        std::int64_t busy = m_busy_since.load(std::memory_order_acquire);
        std::uint64_t step = m_steps.load(std::memory_order_relaxed);
        std::int64_t now = coarse_now_ns();
        if (stalled_turn) {
            if (busy != stalled_turn) {  // the loop turned: the stall is over
                std::int64_t idle = m_idle_since.load(std::memory_order_relaxed);
                finish(idle > stalled_turn ? idle : (busy ? busy : now));
                continue;
            }
            if (step == stalled_step) continue;  // still where it was caught: one stall, one report
            if (step != next_step) {
                next_step = step;
                next_since = now;
                continue;
            }
            if (now - next_since < threshold_ns) continue;
            finish(next_since);  // a later step of the turn stalls by itself: the stall before ends where it began
            begin(next_since, busy, step, false);
            continue;
        }
        if (busy == 0 || now - busy < threshold_ns) continue;
        begin(busy, busy, step, true);
    }
    if (stalled_turn) finish(coarse_now_ns());  // the loop ended right after a stall: report it
}

void Watchdog::emit(const Caught& c) {
    auto ms = std::max<std::int64_t>((c.end - c.start) / 1'000'000, m_threshold.count());
    StallReport r;
    r.duration = std::chrono::milliseconds(ms);
    r.threshold = m_threshold;
    std::string task = c.task;
    if (task.empty() && c.node_resume) {
        void* frame[1] = {c.node_resume};  // coroutine_name reads a frame's first word
        task = coroutine_name(frame);
    }
    r.task = !c.caught ? "<unknown>" : task.empty() ? "<no task>" : task;
    // Skip the frames of the capture itself (the handler and the signal trampoline).
    const int depth = static_cast<int>(c.frames.size());
    int first = 0;
    for (int i = 0; i < depth; ++i) {
        std::string s = symbolize(c.frames[i]);
        if (s.find("on_capture_signal") != std::string::npos) first = i + 1;
    }
    if (first < depth && symbolize(c.frames[first]).rfind("0x", 0) == 0) ++first;
    std::vector<void*> addrs(c.frames.begin() + first, c.frames.end());
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
                    (stack.empty() ? "; the loop thread's stack was not caught while it lasted\n"
                                   : "; stack of the loop thread when it was caught:\n");
    int i = 0;
    for (auto& f : stack) {
        s += "  #" + std::to_string(i++) + " " + f + "\n";
        if (f.find("corio::detail::Loop::turn") != std::string::npos) break;  // below is the loop itself
    }
    if (suppressed) s += "  (" + std::to_string(suppressed) + " earlier stalls not printed)\n";
    return s;
}

}  // namespace corio
