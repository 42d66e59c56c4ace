// The event loop: turns, root-node bookkeeping, the cross-thread inbox, and corio::run.
#include "loop.hpp"
#include "symbolize.hpp"

#include <corio/strict.hpp>

#include <corio/error.hpp>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string_view>
#include <sched.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

namespace corio::detail {

thread_local LoopCore* t_loop = nullptr;
thread_local bool t_posted = false;

LoopCore& loop() {
    if (!t_loop)
        throw LoopClosedError("no corio event loop is running on this thread: start one with corio::run()");
    return *t_loop;
}

Loop& this_loop() { return static_cast<Loop&>(loop()); }

// ---- the cross-thread inbox ------------------------------------------------------------------------------

void RemoteQueue::push(RemoteItem* item) noexcept {
    // Counted from before the item is visible until after the last touch of this queue: the loop may see the
    // item, finish and be destroyed at once, and waits for m_pushing to drop to zero before it does.
    m_pushing.fetch_add(1, std::memory_order_seq_cst);
    RemoteItem* old = m_head.load(std::memory_order_relaxed);
    do {
        item->m_rnext = old;
    } while (!m_head.compare_exchange_weak(old, item, std::memory_order_seq_cst, std::memory_order_relaxed));
    // Pairs with the loop's store of m_sleeping before it re-checks m_head and blocks.
    if (m_sleeping.load(std::memory_order_seq_cst)) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(m_wake_fd, &one, sizeof one);
    }
    m_pushing.fetch_sub(1, std::memory_order_release);
}

RemoteItem* RemoteQueue::take_all() noexcept {
    RemoteItem* list = m_head.exchange(nullptr, std::memory_order_acq_rel);
    RemoteItem* fifo = nullptr;
    while (list) {
        RemoteItem* next = list->m_rnext;
        list->m_rnext = fifo;
        fifo = list;
        list = next;
    }
    return fifo;
}

RemoteQueue* current_remote() { return this_loop().remote().get(); }
void remote_push(RemoteQueue* q, RemoteItem* item) noexcept { q->push(item); }

// ---- the loop ---------------------------------------------------------------------------------------------

namespace {
Backend backend_from_env() {
    const char* v = std::getenv("CORIO_BACKEND");
    if (!v || !*v) return Backend::automatic;
    std::string_view s(v);
    if (s == "epoll") return Backend::epoll;
    if (s == "io_uring" || s == "uring") return Backend::io_uring;
    if (s == "auto" || s == "automatic") return Backend::automatic;
    throw Error("CORIO_BACKEND='" + std::string(s) + "' is not one of io_uring, epoll, auto");
}
}  // namespace

int usable_cpus() noexcept {
    cpu_set_t set;
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Loop::Loop(const RunOptions& opts) : m_opts(opts), m_start(std::chrono::steady_clock::now()) {
    static std::atomic<std::uint64_t> ids{0};
    m_id = ++ids;
    m_cpus = usable_cpus();
    m_remote = std::make_shared<RemoteQueue>();
    int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) throw IoError("eventfd", -1, errno);
    m_remote->m_wake_fd = efd;
    Backend want = opts.backend;
    bool explicit_choice = want != Backend::automatic;
    if (want == Backend::automatic) {
        want = backend_from_env();
        explicit_choice = want != Backend::automatic;
    }
    try {
        if (want != Backend::epoll) {
            std::string why;
            m_io = make_uring_backend(efd, why);
            if (!m_io && explicit_choice) throw Error("the io_uring backend was requested but is unavailable: " + why);
        }
        if (!m_io) m_io = make_epoll_backend(efd);
    } catch (...) {
        ::close(efd);
        throw;
    }
    m_stats.backend = m_io->kind();
    auto threshold = opts.stall_threshold;
    if (const char* v = std::getenv("CORIO_STALL_MS"); v && *v) threshold = std::chrono::milliseconds(std::atoll(v));
    if (threshold.count() > 0) m_watchdog = std::make_unique<Watchdog>(threshold, opts.on_stall, m_steps);
}

Loop::~Loop() {
    while (m_remote->m_pushing.load(std::memory_order_acquire) > 0) std::this_thread::yield();
    {
        std::lock_guard lock(m_remote->m_mutex);
        m_remote->m_closed = true;
        for (RemoteItem* i = m_remote->take_all(); i;) {
            RemoteItem* next = i->m_rnext;
            i->m_run(i);  // posted functions that raced with the end: run_posted sees t_loop == nullptr
            i = next;
        }
        m_io.reset();
        ::close(m_remote->m_wake_fd);
        m_remote->m_wake_fd = -1;
    }
}

void Loop::adopt(TaskNode* n, std::coroutine_handle<> frame, JoinHook* joiner) {
    auto* p = static_cast<PromiseBase*>(n);
    p->m_node = n;
    n->m_frame = frame;
    n->m_resume = frame;
    n->m_joiner = joiner;
    n->m_flags |= k_adopted | k_started;
    n->m_live_prev = nullptr;
    n->m_live_next = m_live;
    if (m_live) m_live->m_live_prev = n;
    m_live = n;
    ++m_live_count;
    ++m_stats.spawned;
    schedule(n);
}

void Loop::finished(TaskNode* n) noexcept {
    n->m_flags |= k_done;
    n->m_wait = nullptr;
    if (n->m_live_prev) n->m_live_prev->m_live_next = n->m_live_next;
    else m_live = n->m_live_next;
    if (n->m_live_next) n->m_live_next->m_live_prev = n->m_live_prev;
    n->m_live_prev = n->m_live_next = nullptr;
    if (--m_live_count == 0) m_return_now = true;
    if (n->m_joiner) n->m_joiner->child_done(n);  // may take the error and detach the node
    if (n->m_flags & k_detached) {
        auto* p = static_cast<PromiseBase*>(n);
        if (p->m_exception && !is_cancellation(p->m_exception)) report_unhandled(n, p->m_exception);
        // The node dies with its frame: the stall handler (a signal, at any instruction) must not find it.
        if (t_running == n) t_running = nullptr;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        n->m_frame.destroy();
    }
}

void Loop::report_unhandled(TaskNode* n, const std::exception_ptr& e) noexcept {
    ++m_stats.unhandled;
    std::string name = task_label(n);
    if (m_opts.on_unhandled) {
        try {
            m_opts.on_unhandled(e, name);
            return;
        } catch (...) {
        }
    }
    std::fprintf(stderr, "corio: Task exception was never retrieved (task %s): %s\n", name.c_str(),
                 describe(e).c_str());
}

void Loop::cancel_all() noexcept {
    for (TaskNode* n = m_live; n; n = n->m_live_next) cancel_node(n);
}

void Loop::cancel_joined_by(JoinHook* j) noexcept {
    for (TaskNode* n = m_live; n; n = n->m_live_next)
        if (n->m_joiner == j) cancel_node(n);
}

std::size_t Loop::detach_joined_by(JoinHook* j) noexcept {
    std::size_t count = 0;
    for (TaskNode* n = m_live; n; n = n->m_live_next)
        if (n->m_joiner == j) {
            n->m_joiner = nullptr;
            n->m_flags |= k_detached;
            ++count;
        }
    return count;
}

std::uint64_t Loop::tick_of(std::chrono::steady_clock::time_point t) const noexcept {
    if (t <= m_start) return 0;
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(t - m_start).count());
}

bool Loop::add_timer(TimerEntry* t, std::chrono::steady_clock::time_point when) noexcept {
    if (when == std::chrono::steady_clock::time_point::min() || when <= m_start) return false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when - m_start).count();
    std::uint64_t tick = static_cast<std::uint64_t>((ns + 999'999) / 1'000'000);  // rounded up
    if (tick <= m_wheel.elapsed()) {
        // Already due by the wheel's clock; it is due by the real clock only if `when` has passed.
        if (when <= std::chrono::steady_clock::now()) return false;
        tick = m_wheel.elapsed() + 1;
    }
    t->m_deadline = tick;
    m_wheel.insert(t);
    return true;
}

void Loop::remove_timer(TimerEntry* t) noexcept { m_wheel.remove(t); }

void Loop::fire_timers() noexcept {
    if (m_wheel.size() == 0) return;
    m_wheel.advance(tick_of(std::chrono::steady_clock::now()));
}

void Loop::drain_remote() noexcept {
    for (RemoteItem* i = m_remote->take_all(); i;) {
        RemoteItem* next = i->m_rnext;
        i->m_run(i);
        i = next;
    }
}

void Loop::turn() {
    ++m_stats.turns;
    if (m_watchdog) m_watchdog->turn_started();
    std::uint64_t step = m_steps.load(std::memory_order_relaxed);
    int n = 0;
    while (m_head && n < k_batch) {
        TaskNode* t = m_head;
        m_head = t->m_next;
        if (!m_head) m_tail = &m_head;
        t->m_flags &= ~k_queued;
        m_budget = k_budget;
        ++n;
        m_steps.store(++step, std::memory_order_relaxed);
        t_running = t;
        t->m_resume.resume();
    }
    t_running = nullptr;
    m_steps.store(++step, std::memory_order_relaxed);
    m_stats.resumes += static_cast<std::uint64_t>(n);
    if (m_turn_end) run_turn_end();
    if (m_remote->m_head.load(std::memory_order_acquire)) drain_remote();
    fire_timers();
    if (m_head) {
        if (m_io->busy()) {
            ++m_stats.kernel_waits;
            m_io->wait(0);
        }
        return;
    }
    if (m_return_now) {  // run_main has something to check before anyone sleeps
        m_return_now = false;
        return;
    }
    // Nothing to run: sleep in the kernel until I/O completes, a timer is due, or another thread wakes us.
    std::int64_t timeout = -1;
    if (auto e = m_wheel.next_expiration()) {
        auto due = m_start + std::chrono::milliseconds(*e);
        auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(due - std::chrono::steady_clock::now());
        timeout = left.count() > 0 ? left.count() : 0;
    }
    if (m_offloaded > 0 && m_offloaded < m_cpus && timeout != 0 && !m_io->busy()) {
        // Only thread-pool results can wake us: wait for them a little without the kernel (a wake through
        // the eventfd costs a system call on each side and a scheduler round trip) — while spinning pays.
        if (m_spin_credit <= 0 && ++m_spin_skipped >= k_spin_retry) {
            m_spin_credit = 1;
            m_spin_skipped = 0;
        }
        if (m_spin_credit > 0) {
            auto until = std::chrono::steady_clock::now() + k_spin;
            bool got = true;
            for (int i = 0; !m_remote->m_head.load(std::memory_order_acquire); ++i) {
                cpu_relax();
                if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) {
                    got = false;
                    break;
                }
            }
            m_spin_credit = got ? std::min(m_spin_credit + 1, k_spin_credit_max) : m_spin_credit - k_spin_miss_cost;
        }
    }
    m_remote->m_sleeping.store(true, std::memory_order_seq_cst);
    if (m_remote->m_head.load(std::memory_order_seq_cst)) timeout = 0;
    if (m_watchdog && timeout != 0) m_watchdog->going_idle();
    ++m_stats.kernel_waits;
    m_io->wait(timeout);
    if (m_watchdog && timeout != 0) m_watchdog->turn_started();  // awake: what runs from here on can stall
    m_remote->m_sleeping.store(false, std::memory_order_relaxed);
    if (m_remote->m_head.load(std::memory_order_acquire)) drain_remote();
    fire_timers();
}

void Loop::release_slots() noexcept {
    for (int i = static_cast<int>(LoopSlot::count) - 1; i >= 0; --i) {
        Slot s = m_slots[i];
        m_slots[i] = {};
        if (s.ptr && s.destroy) s.destroy(s.ptr);
    }
}

void Loop::run_main(PromiseBase* main, std::coroutine_handle<> frame) {
    struct MainJoin final : JoinHook {
        Loop* loop;
        explicit MainJoin(Loop* l) : loop(l) {}
        void child_done(TaskNode*) noexcept override { loop->m_return_now = true; }
    } join(this);
    adopt(main, frame, &join);
    try {
        while (!main->done()) turn();
        // asyncio.run's ending: cancel what is still running, and wait for it.
        cancel_all();
        while (m_live_count > 0 || m_head) turn();
    } catch (...) {
        m_watchdog.reset();
        release_slots();
        throw;
    }
    m_watchdog.reset();
    release_slots();  // the default thread pool: its workers are joined here
}

LoopStatistics Loop::statistics() const noexcept {
    LoopStatistics s = m_stats;
    s.live = m_live_count;
    s.io_submitted = m_io->m_submitted;
    s.timers_pending = m_wheel.size();
    if (m_watchdog) {
        s.stalls = m_watchdog->stalls();
        s.longest_stall = m_watchdog->longest();
    }
    return s;
}

// ---- nodes ------------------------------------------------------------------------------------------------

void cancel_node(TaskNode* n) noexcept {
    if (n->m_flags & (k_cancelled | k_done)) return;
    n->m_flags |= k_cancelled;
    if (CancelHook* w = n->m_wait) {
        n->m_wait = nullptr;
        w->cancel();
    }
}

void adopt(TaskNode* n, std::coroutine_handle<> frame, JoinHook* joiner) { this_loop().adopt(n, frame, joiner); }

void release(TaskNode* n) noexcept {
    if (n->done()) n->m_frame.destroy();
    else n->m_flags |= k_detached;
}

void node_finished(TaskNode* n, std::exception_ptr) noexcept { static_cast<Loop*>(t_loop)->finished(n); }

bool is_cancellation(const std::exception_ptr& e) noexcept {
    if (!e) return false;
    try {
        std::rethrow_exception(e);
    } catch (const CancelledError&) {
        return true;
    } catch (...) {
        return false;
    }
}

void throw_cancelled() { throw CancelledError(); }

void task_never_awaited(void* frame, const TaskNode* node) noexcept {
    static const NeverAwaited process_default = [] {
        const char* v = std::getenv("CORIO_NEVER_AWAITED");
        std::string_view s = v ? v : "";
        if (s == "off") return NeverAwaited::off;
        if (s == "abort") return NeverAwaited::abort;
        return NeverAwaited::report;
    }();
    NeverAwaited mode = t_loop ? static_cast<Loop*>(t_loop)->options().never_awaited : process_default;
    if (std::getenv("CORIO_NEVER_AWAITED")) mode = process_default;
    if (mode == NeverAwaited::off) return;
    std::string name;
    try {
        name = coroutine_name(frame);
    } catch (...) {
    }
    std::string text = "corio: coroutine '" + (name.empty() ? std::string("<unknown>") : name) + "' was never awaited\n";
    if (node->m_flags & k_origin) {  // debug mode: where it was created, first frame past the coroutine's own
        allow_blocking internal;   // addr2line runs here: debug mode only, and it is the report of a bug
        std::vector<void*> frames = origin_of(node);
        std::size_t first = 0;
        for (std::size_t i = 0; i < frames.size(); ++i) {
            std::string f = symbolize(frames[i]);
            if (!name.empty() && f.rfind(name + "(", 0) == 0) {
                first = i + 1;
                break;
            }
        }
        std::vector<void*> shown(frames.begin() + static_cast<std::ptrdiff_t>(first),
                                 frames.begin() + static_cast<std::ptrdiff_t>(std::min(frames.size(), first + 4)));
        std::vector<std::string> lines = source_lines(shown);
        text += "  created at:\n";
        for (std::size_t i = 0; i < shown.size(); ++i) {
            text += "    " + symbolize(shown[i]);
            if (!lines[i].empty()) text += " at " + lines[i];
            text += "\n";
        }
    }
    std::fputs(text.c_str(), stderr);
    if (mode == NeverAwaited::abort) std::abort();
}

void throw_bad_await(bool moved_from) {
    if (moved_from) throw Error("co_await on a moved-from corio::Task (it holds no coroutine)");
    throw Error("corio::Task was already awaited or started: a Task runs once; keep its result instead");
}

bool add_timer(TimerEntry* t, std::chrono::steady_clock::time_point when) { return this_loop().add_timer(t, when); }
void remove_timer(TimerEntry* t) noexcept { static_cast<Loop*>(t_loop)->remove_timer(t); }

void run_loop(PromiseBase* main, std::coroutine_handle<> frame, const RunOptions& opts) {
    if (t_loop)
        throw NestedLoopError(
            "corio::run() was called on a thread whose event loop is already running; inside a coroutine, "
            "co_await the task (or corio::spawn it) instead of calling run()");
    Loop loop(opts);
    t_loop = &loop;
    struct Reset {
        ~Reset() { t_loop = nullptr; }
    } reset;
    loop.run_main(main, frame);
}

}  // namespace corio::detail

namespace corio {

LoopStatistics loop_statistics() { return detail::this_loop().statistics(); }
Backend current_backend() { return detail::this_loop().io().kind(); }

namespace {
struct Posted final : detail::RemoteItem {
    std::function<void()> fn;
};
void run_posted(detail::RemoteItem* item) {
    std::unique_ptr<Posted> p(static_cast<Posted*>(item));
    if (!detail::t_loop) return;  // the loop ended before it could run
    struct Posting {
        Posting() noexcept { detail::t_posted = true; }
        ~Posting() { detail::t_posted = false; }
    };
    try {
        Posting posting;
        p->fn();
    } catch (...) {
        std::fprintf(stderr, "corio: a function posted to the loop threw: %s\n",
                     describe(std::current_exception()).c_str());
    }
}
}  // namespace

LoopHandle LoopHandle::current() { return LoopHandle(detail::this_loop().remote()); }

void LoopHandle::post(std::function<void()> fn) const {
    if (!m_queue) throw LoopClosedError("post() on an empty corio::LoopHandle");
    auto item = std::make_unique<Posted>();
    item->fn = std::move(fn);
    item->m_run = &run_posted;
    std::lock_guard lock(m_queue->m_mutex);
    if (m_queue->m_closed) throw LoopClosedError("post(): the loop this LoopHandle refers to has ended");
    m_queue->push(item.release());
}

}  // namespace corio
