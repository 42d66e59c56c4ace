#pragma once
// The shared heap behind corio::SharedArray (see <corio/offload/shared_array.hpp>): a memfd the pool maps
// read-write and each of its workers maps read-only (inherited as fd k_worker_heapfd), with a first-fit
// allocator of 64-byte-aligned blocks in the parent.

#include <corio/offload/shared_array.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace corio::detail {

class SharedHeap {
public:
    /// A heap of `bytes` (rounded up to pages), its descriptor numbered `min_fd` or above. Errors: IoError when
    /// memfd_create, fcntl, ftruncate or mmap fails.
    static std::shared_ptr<SharedHeap> create(std::size_t bytes, int min_fd);
    SharedHeap(const SharedHeap&) = delete;
    SharedHeap& operator=(const SharedHeap&) = delete;
    ~SharedHeap();

    [[nodiscard]] int fd() const noexcept { return m_fd; }
    [[nodiscard]] std::uint64_t id() const noexcept { return m_id; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    std::pair<std::uint64_t, void*> allocate(std::size_t bytes);
    /// Gives back the block at `offset`; a pinned one is given back when its last pin goes.
    void free(std::uint64_t offset) noexcept;
    /// Keeps the block holding byte `offset` from being handed out again, even once freed, until unpin():
    /// its offset, or nothing when no block holds that byte. Errors: std::bad_alloc.
    std::optional<std::uint64_t> pin(std::uint64_t offset);
    /// Drops a pin pin() returned `block` for.
    void unpin(std::uint64_t block) noexcept;

private:
    struct Pin {
        std::uint32_t count = 0;
        bool freed = false;  // free() came meanwhile: the last unpin() frees it
    };
    SharedHeap() = default;
    void free_locked(std::uint64_t offset) noexcept;
    int m_fd = -1;
    char* m_base = nullptr;
    std::size_t m_size = 0;
    std::uint64_t m_id = 0;
    std::mutex m_mutex;
    std::map<std::uint64_t, std::uint64_t> m_free;  // offset -> bytes, no two adjacent
    std::map<std::uint64_t, std::uint64_t> m_used;  // offset -> bytes
    std::map<std::uint64_t, Pin> m_pinned;          // blocks of m_used a worker may still read (see ProcessPool)
    std::uint64_t m_high = 0;  // the end of the highest block ever handed out: the memfd is zero above it
};

/// A shared memory file of `bytes`, mapped read-write and shared: what the pool's slots and its heap live in.
struct MappedMemfd {
    int fd = -1;  // close-on-exec, numbered `min_fd` or above
    char* base = nullptr;
};
/// Errors: IoError naming the call that failed (memfd_create, fcntl, ftruncate, mmap); nothing is left open.
MappedMemfd map_memfd(const char* name, std::size_t bytes, int min_fd);

/// Worker side: maps the heap inherited as `fd` (read-only) under `id`, and closes `fd`. False when it fails.
bool map_worker_heap(int fd, std::uint64_t id) noexcept;

}  // namespace corio::detail
