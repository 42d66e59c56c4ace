// The core's side of strict mode: whether this thread runs user code of a loop in strict mode (a task, or a
// function posted to the loop; not the loop's own machinery, such as its kernel wait), and the report (with
// the stack). The interposing library (src/debug/strict.cpp) calls these two C functions, which
// every program linking corio exports (see CMakeLists.txt).
#include "loop.hpp"
#include "symbolize.hpp"
#include "watchdog.hpp"

#include <corio/strict.hpp>

#include <cstdio>
#include <cstdlib>
#include <execinfo.h>
#include <cstdint>
#include <string_view>

namespace corio::detail {
thread_local int t_allow_blocking = 0;

namespace {
Strict env_strict() {
    static const Strict s = [] {
        const char* v = std::getenv("CORIO_STRICT");
        std::string_view m = v ? v : "";
        if (m == "warn") return Strict::warn;
        if (m == "abort") return Strict::abort;
        return Strict::off;
    }();
    return s;
}
}  // namespace
}  // namespace corio::detail

namespace corio {
allow_blocking::allow_blocking() noexcept { ++detail::t_allow_blocking; }
allow_blocking::~allow_blocking() { --detail::t_allow_blocking; }
}  // namespace corio

using namespace corio;
using namespace corio::detail;

extern "C" int corio_strict_check(void) {
    if ((!t_running && !t_posted) || t_allow_blocking > 0 || !t_loop) return 0;
    Strict mode = env_strict();
    if (mode == Strict::off) mode = static_cast<Loop*>(t_loop)->options().strict;
    return static_cast<int>(mode);
}

extern "C" void corio_strict_report(const char* call) {
    int mode = corio_strict_check();
    if (mode == 0) return;
    // One report per call, task and turn of a loop: a call restarted after a signal (EINTR) is the same
    // blocking call; another task's, or the next loop's (whose turns count from zero again), is not.
    static thread_local const char* last_call = nullptr;
    static thread_local const TaskNode* last_node = nullptr;
    static thread_local std::uint64_t last_loop = 0;
    static thread_local std::uint64_t last_turn = ~0ull;
    std::uint64_t turn = static_cast<Loop*>(t_loop)->statistics().turns;
    if (mode != static_cast<int>(Strict::abort) && last_call == call && last_node == t_running &&
        last_loop == t_loop->m_id && last_turn == turn)
        return;
    last_call = call;
    last_node = t_running;
    last_loop = t_loop->m_id;
    last_turn = turn;
    allow_blocking allow;  // the report's own output must not be reported
    TaskNode* n = t_running;
    std::string where = n ? "in task " + task_label(n) : std::string("in a function posted to the loop");
    void* frames[32];
    int depth = ::backtrace(frames, 32);
    std::string text = std::string("corio strict: blocking call ") + call + " on the event loop thread " + where +
                       "\n";
    int shown = 0;
    // Skip this function and the interposing library's frames (its report() and the wrapper, named as the
    // call it wraps), whether or not the compiler inlined one into the other.
    std::string_view wrapper(call);
    wrapper = wrapper.substr(0, wrapper.find('('));
    int i = 1;
    for (; i < depth && i < 4; ++i) {
        std::string f = symbolize(frames[i]);
        if (f.find("report(") == std::string::npos && f != wrapper) break;
    }
    for (; i < depth && shown < 12; ++i) {
        std::string f = symbolize(frames[i]);
        text += "  #" + std::to_string(shown++) + " " + f + "\n";
        if (f.find("corio::detail::Loop::turn") != std::string::npos) break;
    }
    auto* loop = static_cast<Loop*>(t_loop);
    if (loop && loop->options().on_strict) {
        try {
            loop->options().on_strict(call, text);
        } catch (...) {
        }
    } else {
        std::fputs(text.c_str(), stderr);
    }
    if (mode == static_cast<int>(Strict::abort)) std::abort();
}
