// Coroutine frames (the per-thread recycling allocator) and the error types.
#include "symbolize.hpp"

#include <corio/detail/node.hpp>
#include <corio/error.hpp>
#include <corio/strict.hpp>

#include <cstdlib>
#include <cstring>
#include <execinfo.h>
#include <string_view>
#include <vector>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_NO_FRAME_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_NO_FRAME_CACHE 1
#endif
#endif

namespace corio::detail {

#ifndef CORIO_NO_FRAME_CACHE
namespace {
// Frames are rounded up to 16-byte classes up to 2 KiB; each thread keeps a free list per class, capped (in
// count and in bytes) so that a burst (a million finished tasks) returns memory to malloc instead of being
// hoarded.
constexpr std::size_t k_granule = 16;
constexpr std::size_t k_classes = 128;
constexpr std::uint32_t k_cap = 4096;
// ... and at most this many bytes per class: big frames (a request's whole state) are kept by the hundred,
// not by the thousand, so that 10,000 connections opened at once do not leave 20 MiB hoarded here.
constexpr std::size_t k_cap_bytes = 512 * 1024;

struct FreeBlock {
    FreeBlock* next;
};

struct FrameCache {
    FreeBlock* heads[k_classes] = {};
    std::uint32_t counts[k_classes] = {};
    ~FrameCache() {
        for (auto*& h : heads)
            while (h) {
                FreeBlock* n = h->next;
                ::operator delete(h);
                h = n;
            }
    }
};
thread_local FrameCache t_frames;
}  // namespace

void* frame_alloc(std::size_t size) {
    std::size_t c = (size - 1) / k_granule;
    if (c < k_classes) {
        FrameCache& fc = t_frames;
        if (FreeBlock* b = fc.heads[c]) {
            fc.heads[c] = b->next;
            --fc.counts[c];
            return b;
        }
        return ::operator new((c + 1) * k_granule);
    }
    return ::operator new(size);
}

void frame_free(void* p, std::size_t size) noexcept {
    std::size_t c = (size - 1) / k_granule;
    if (c < k_classes) {
        FrameCache& fc = t_frames;
        if (fc.counts[c] < k_cap && fc.counts[c] * (c + 1) * k_granule < k_cap_bytes) {
            auto* b = static_cast<FreeBlock*>(p);
            b->next = fc.heads[c];
            fc.heads[c] = b;
            ++fc.counts[c];
            return;
        }
    }
    ::operator delete(p);
}
#else
void* frame_alloc(std::size_t size) { return ::operator new(size); }
void frame_free(void* p, std::size_t) noexcept { ::operator delete(p); }
#endif

namespace {
std::mutex g_names_mutex;
std::unordered_map<const TaskNode*, std::string>& names() {
    static auto* m = new std::unordered_map<const TaskNode*, std::string>();  // outlives every task
    return *m;
}
}  // namespace

void set_node_name(TaskNode* n, std::string name) {
    allow_blocking internal;  // corio's own brief lock (strict mode)
    std::lock_guard lock(g_names_mutex);
    names()[n] = std::move(name);
    n->m_flags |= k_named;
}

std::string node_name(const TaskNode* n) {
    allow_blocking internal;
    std::lock_guard lock(g_names_mutex);
    auto it = names().find(n);
    return it == names().end() ? std::string() : it->second;
}

std::string task_label(const TaskNode* n) {
    std::string name = n->m_flags & k_named ? node_name(n) : std::string();
    if (name.empty() && n->m_frame) name = coroutine_name(n->m_frame.address());
    return name.empty() ? std::string("<unnamed>") : name;
}

void drop_node_name(TaskNode* n) noexcept {
    allow_blocking internal;
    std::lock_guard lock(g_names_mutex);
    names().erase(n);
}

bool g_debug_tasks = [] {
    const char* v = std::getenv("CORIO_DEBUG");
    return v && *v && std::string_view(v) != "0";
}();

namespace {
std::mutex g_origins_mutex;
std::unordered_map<const TaskNode*, std::vector<void*>>& origins() {
    static auto* m = new std::unordered_map<const TaskNode*, std::vector<void*>>();
    return *m;
}
}  // namespace

void record_origin(TaskNode* n) noexcept {
    void* frames[24];
    int depth = ::backtrace(frames, 24);
    allow_blocking internal;
    try {
        std::lock_guard lock(g_origins_mutex);
        origins()[n].assign(frames, frames + depth);
        n->m_flags |= k_origin;
    } catch (...) {
    }
}

void drop_origin(TaskNode* n) noexcept {
    allow_blocking internal;
    std::lock_guard lock(g_origins_mutex);
    origins().erase(n);
}

std::vector<void*> origin_of(const TaskNode* n) {
    allow_blocking internal;
    std::lock_guard lock(g_origins_mutex);
    auto it = origins().find(n);
    return it == origins().end() ? std::vector<void*>() : it->second;
}

}  // namespace corio::detail

namespace corio {

void set_debug(bool on) noexcept { detail::g_debug_tasks = on; }

std::string describe(const std::exception_ptr& e) {
    if (!e) return "no exception";
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception";
    }
}

namespace {
std::string group_message(const std::vector<std::exception_ptr>& errors) {
    std::string m = std::to_string(errors.size()) + (errors.size() == 1 ? " task failed" : " tasks failed");
    std::size_t i = 0;
    for (auto& e : errors) {
        m += i++ ? "; " : ": ";
        m += describe(e);
    }
    return m;
}
}  // namespace

ExceptionGroup::ExceptionGroup(std::vector<std::exception_ptr> errors)
    : Error(group_message(errors)), m_errors(std::move(errors)) {}

IoError::IoError(const char* op, int fd, int err)
    : Error(std::string(op) + " on fd " + std::to_string(fd) + " failed: " + std::strerror(err)), m_errno(err) {}

}  // namespace corio
