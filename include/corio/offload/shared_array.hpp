#pragma once
// corio::SharedArray: memory that a ProcessPool's workers read in place, so a large argument is not copied.
//
//     corio::ProcessPool pool(2);
//     auto buf = pool.shared_array<unsigned char>(64 * 1024);    // zero-filled, in the pool's shared heap
//     fill(buf.span());                                          // the parent writes it like any array
//     Digest d = co_await pool.submit(sha256, buf.view());       // sha256(std::span<const unsigned char>)
//
// A std::span argument is copied into the worker's shared memory when its call is sent (on the loop's
// thread); a SharedView travels as its place in the pool's shared heap (a memfd every worker maps read-only
// at start), and the function receives a std::span<const T> of the very same bytes. Keep the array alive and
// unchanged until the call completes, as with a span (pass the SharedArray itself, moved, to hand it over to
// the call). A worker cannot write into it (a write there kills the worker, which fails only its call).
// A SharedView converts to std::span<const T>, so the same function also runs under to_thread or inline.
//
// The heap is ProcessPoolOptions::shared_heap bytes of address space (64 MiB by default; pages take memory
// once written). Arrays are freed when destroyed, also after the pool is gone; the block of one that a
// cancelled call still reads (ProcessPoolOptions::kill_on_cancel = false) is handed out again only once that
// call has ended in its worker.

#include <corio/error.hpp>
#include <corio/offload/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>

namespace corio {

/// ProcessPool::shared_array() found no room in the pool's shared heap (ProcessPoolOptions::shared_heap), or
/// the pool has none (shared_heap = 0).
class SharedHeapFullError : public Error {
public:
    using Error::Error;
};

namespace detail {

class SharedHeap;  // the pool's heap: a memfd mapped in the parent and, read-only, in every worker

/// A place in a shared heap, as a SharedView travels; `at` is set on reading, in the worker.
struct SharedRef {
    std::uint64_t heap = 0;  // the heap's id (a pool's heap is not another pool's)
    std::uint64_t offset = 0;
    std::uint64_t bytes = 0;
    const void* at = nullptr;
};

/// Worker side: the address of `r`'s bytes in this worker's map of its pool's heap.
/// Errors: SerializationError when this worker has no heap with that id or the range lies outside it.
const void* shared_heap_resolve(const SharedRef& r);

/// Parent side: `bytes` (zero-filled) from `heap`, as (offset, address). Errors: SharedHeapFullError.
std::pair<std::uint64_t, void*> shared_heap_allocate(SharedHeap* heap, std::size_t bytes);
/// Parent side: gives back the block at `offset` (any thread).
void shared_heap_free(SharedHeap* heap, std::uint64_t offset) noexcept;
std::uint64_t shared_heap_id(const SharedHeap* heap) noexcept;

}  // namespace detail

/// A view of (part of) a SharedArray: what to pass to ProcessPool::submit for a std::span<const T> parameter.
template <class T>
class SharedView {
public:
    SharedView() = default;
    [[nodiscard]] const T* data() const noexcept { return m_data; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] std::span<const T> span() const noexcept { return {m_data, m_size}; }
    operator std::span<const T>() const noexcept { return span(); }  // NOLINT: a view is a span
    [[nodiscard]] detail::SharedRef ref() const noexcept {
        return {m_heap, m_offset, m_size * sizeof(T), nullptr};
    }

private:
    template <class>
    friend class SharedArray;
    SharedView(const T* data, std::size_t size, std::uint64_t heap, std::uint64_t offset) noexcept
        : m_data(data), m_size(size), m_heap(heap), m_offset(offset) {}
    const T* m_data = nullptr;
    std::size_t m_size = 0;
    std::uint64_t m_heap = 0;
    std::uint64_t m_offset = 0;
};

/// `size()` values of T in a ProcessPool's shared heap (made by ProcessPool::shared_array). Move-only; frees its
/// block when destroyed. T must be trivially copyable (its bytes are all there is to it).
template <class T>
class SharedArray {
    static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= 64,
                  "corio::SharedArray<T>: T must be trivially copyable (its bytes are read in another process)");

public:
    SharedArray() = default;
    SharedArray(SharedArray&& o) noexcept
        : m_heap(std::move(o.m_heap)), m_data(std::exchange(o.m_data, nullptr)), m_size(std::exchange(o.m_size, 0)),
          m_offset(o.m_offset) {}
    SharedArray& operator=(SharedArray&& o) noexcept {
        if (this != &o) {
            reset();
            m_heap = std::move(o.m_heap);
            m_data = std::exchange(o.m_data, nullptr);
            m_size = std::exchange(o.m_size, 0);
            m_offset = o.m_offset;
        }
        return *this;
    }
    ~SharedArray() { reset(); }

    [[nodiscard]] T* data() noexcept { return m_data; }
    [[nodiscard]] const T* data() const noexcept { return m_data; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
    [[nodiscard]] T& operator[](std::size_t i) noexcept { return m_data[i]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return m_data[i]; }
    [[nodiscard]] T* begin() noexcept { return m_data; }
    [[nodiscard]] T* end() noexcept { return m_data + m_size; }
    [[nodiscard]] const T* begin() const noexcept { return m_data; }
    [[nodiscard]] const T* end() const noexcept { return m_data + m_size; }
    [[nodiscard]] std::span<T> span() noexcept { return {m_data, m_size}; }
    [[nodiscard]] std::span<const T> span() const noexcept { return {m_data, m_size}; }
    /// Elements [first, first + count) (count clipped to the end) as a view to pass to submit().
    [[nodiscard]] SharedView<T> view(std::size_t first = 0, std::size_t count = std::size_t(-1)) const noexcept {
        if (first > m_size) first = m_size;
        if (count > m_size - first) count = m_size - first;
        return SharedView<T>(m_data + first, count, m_heap ? detail::shared_heap_id(m_heap.get()) : 0,
                             m_offset + first * sizeof(T));
    }

    /// Made by ProcessPool::shared_array.
    SharedArray(std::shared_ptr<detail::SharedHeap> heap, std::size_t n) : m_heap(std::move(heap)) {
        if (n > (std::size_t(1) << 62) / sizeof(T)) throw SharedHeapFullError("corio::SharedArray: size too large");
        auto [offset, p] = detail::shared_heap_allocate(m_heap.get(), n * sizeof(T));
        m_offset = offset;
        m_data = static_cast<T*>(p);
        m_size = n;
    }

private:
    void reset() noexcept {
        if (m_heap && m_data) detail::shared_heap_free(m_heap.get(), m_offset);
        m_heap.reset();
        m_data = nullptr;
        m_size = 0;
    }
    std::shared_ptr<detail::SharedHeap> m_heap;
    T* m_data = nullptr;
    std::size_t m_size = 0;
    std::uint64_t m_offset = 0;
};

template <>
struct Serializer<detail::SharedRef> {
    static void write(SerialWriter& w, const detail::SharedRef& r) { w(r.heap, r.offset, r.bytes); }
    static detail::SharedRef read(SerialReader& r) {
        detail::SharedRef s;
        r(s.heap, s.offset, s.bytes);
        s.at = detail::shared_heap_resolve(s);
        return s;
    }
};

}  // namespace corio
