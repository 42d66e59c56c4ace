// The shared heap behind corio::SharedArray: see shared_heap.hpp.
#include "shared_heap.hpp"

#include <corio/error.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace corio::detail {

namespace {

constexpr std::uint64_t k_align = 64;

struct WorkerHeap {
    const char* base = nullptr;
    std::size_t size = 0;
    std::uint64_t id = 0;
};
WorkerHeap g_worker_heap;  // set once, before the worker serves its first call

std::uint64_t next_id() noexcept {
    static std::atomic<std::uint32_t> counter{0};
    return (static_cast<std::uint64_t>(::getpid()) << 32) | (counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace

MappedMemfd map_memfd(const char* name, std::size_t bytes, int min_fd) {
    int fd = ::memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) throw IoError("memfd_create", -1, errno);
    const char* op = nullptr;
    if (fd < min_fd) {
        int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
        int e = errno;
        ::close(fd);
        if (moved < 0) throw IoError("fcntl", fd, e);
        fd = moved;
    }
    void* p = MAP_FAILED;
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) op = "ftruncate";
    else if ((p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) op = "mmap";
    if (op) {
        int e = errno;
        ::close(fd);
        throw IoError(op, fd, e);
    }
    return {fd, static_cast<char*>(p)};
}

std::shared_ptr<SharedHeap> SharedHeap::create(std::size_t bytes, int min_fd) {
    std::size_t size = (bytes + 4095) & ~std::size_t{4095};
    MappedMemfd m = map_memfd("corio-shared-heap", size, min_fd);
    std::shared_ptr<SharedHeap> h(new SharedHeap());
    h->m_fd = m.fd;
    h->m_base = m.base;
    h->m_size = size;
    h->m_id = next_id();
    h->m_free.emplace(0, size);
    return h;
}

SharedHeap::~SharedHeap() {
    if (m_base) ::munmap(m_base, m_size);
    if (m_fd >= 0) ::close(m_fd);
}

std::pair<std::uint64_t, void*> SharedHeap::allocate(std::size_t bytes) {
    std::uint64_t want = (std::max<std::uint64_t>(bytes, 1) + k_align - 1) & ~(k_align - 1);
    std::optional<std::uint64_t> found;
    std::uint64_t dirty = 0;  // how many of its first bytes were handed out before: the rest are still zero
    {
        std::lock_guard lock(m_mutex);
        for (auto it = m_free.begin(); it != m_free.end(); ++it) {
            if (it->second < want) continue;
            std::uint64_t offset = it->first, left = it->second - want;
            m_used.emplace(offset, want);  // first: it may throw, and then nothing changed
            m_free.erase(it);
            if (left) m_free.emplace(offset + want, left);
            found = offset;
            dirty = std::min<std::uint64_t>(bytes, m_high > offset ? m_high - offset : 0);
            m_high = std::max(m_high, offset + want);
            break;
        }
    }
    if (found) {
        char* p = m_base + *found;
        // Only what earlier blocks used: pages never handed out are zero (a fresh memfd), and touching them
        // here would pay their first touch twice, here and where the caller writes them. Outside the lock.
        if (dirty) std::memset(p, 0, dirty);
        return {*found, p};
    }
    throw SharedHeapFullError("corio::ProcessPool::shared_array: no room for " + std::to_string(bytes) +
                              " bytes in the pool's shared heap of " + std::to_string(m_size) +
                              " bytes (ProcessPoolOptions::shared_heap)");
}

void SharedHeap::free(std::uint64_t offset) noexcept {
    std::lock_guard lock(m_mutex);
    if (auto pinned = m_pinned.find(offset); pinned != m_pinned.end()) {
        pinned->second.freed = true;  // a worker may still read it: unpin() frees it
        return;
    }
    free_locked(offset);
}

std::optional<std::uint64_t> SharedHeap::pin(std::uint64_t offset) {
    std::lock_guard lock(m_mutex);
    auto used = m_used.upper_bound(offset);
    if (used == m_used.begin()) return std::nullopt;
    --used;
    if (offset - used->first >= used->second) return std::nullopt;
    ++m_pinned[used->first].count;
    return used->first;
}

void SharedHeap::unpin(std::uint64_t block) noexcept {
    std::lock_guard lock(m_mutex);
    auto pinned = m_pinned.find(block);
    if (pinned == m_pinned.end() || --pinned->second.count > 0) return;
    bool freed = pinned->second.freed;
    m_pinned.erase(pinned);
    if (freed) free_locked(block);
}

void SharedHeap::free_locked(std::uint64_t offset) noexcept {
    auto used = m_used.find(offset);
    if (used == m_used.end()) return;
    std::uint64_t size = used->second;
    m_used.erase(used);
    auto next = m_free.lower_bound(offset);
    if (next != m_free.end() && next->first == offset + size) {  // join the free block after it
        size += next->second;
        next = m_free.erase(next);
    }
    if (next != m_free.begin()) {  // and the one before it
        auto prev = std::prev(next);
        if (prev->first + prev->second == offset) {
            prev->second += size;
            return;
        }
    }
    m_free.emplace_hint(next, offset, size);
}

std::pair<std::uint64_t, void*> shared_heap_allocate(SharedHeap* heap, std::size_t bytes) {
    if (!heap) throw SharedHeapFullError("corio::ProcessPool::shared_array: the pool has no shared heap "
                                         "(ProcessPoolOptions::shared_heap = 0)");
    return heap->allocate(bytes);
}

void shared_heap_free(SharedHeap* heap, std::uint64_t offset) noexcept {
    if (heap) heap->free(offset);
}

std::uint64_t shared_heap_id(const SharedHeap* heap) noexcept { return heap ? heap->id() : 0; }

bool map_worker_heap(int fd, std::uint64_t id) noexcept {
    struct stat st{};
    bool ok = false;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
        auto size = static_cast<std::size_t>(st.st_size);
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            g_worker_heap = {static_cast<const char*>(p), size, id};
            ok = true;
        }
    }
    ::close(fd);
    return ok;
}

const void* shared_heap_resolve(const SharedRef& r) {
    const WorkerHeap& h = g_worker_heap;
    if (r.bytes == 0) return h.base;  // an empty view (of an empty or moved-from array) is empty anywhere
    if (!h.base || r.heap != h.id)
        throw SerializationError("corio::SharedView: its array belongs to another ProcessPool's shared heap "
                                 "(pass it to the pool that made it)");
    if (r.offset > h.size || r.bytes > h.size - r.offset)
        throw SerializationError("corio::SharedView: bytes [" + std::to_string(r.offset) + ", +" +
                                 std::to_string(r.bytes) + ") lie outside the shared heap of " +
                                 std::to_string(h.size) + " bytes");
    return h.base + r.offset;
}

}  // namespace corio::detail
