// A worker process's loop: plain blocking reads and writes on its end of the socketpair (a worker runs one
// job at a time and has nothing else to do). It answers each call before reading the next, so the pool knows
// which job a dead worker was running: the first one not answered.
#include "process_pool_wire.hpp"

#include <corio/detail/process_call.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace corio::detail::pp {

namespace {

void send_all_or_exit(int fd, const std::string& out) {
    std::size_t off = 0;
    while (off < out.size()) {
        ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0);  // the pool is gone
        off += static_cast<std::size_t>(n);
    }
}

// Completes the frame that starts at `at` in `out` and runs to its end.
void finish_frame(std::string& out, std::size_t at, Kind kind, std::uint64_t id) {
    put_header(out.data() + at, static_cast<std::uint32_t>(out.size() - at - 4), kind, id);
}

// Takes a call: false when the pool has taken it back (see the claim words in process_pool_wire.hpp).
bool claim(const SharedLayout& shm, std::uint8_t slot, std::uint64_t id) {
    if (slot == k_no_slot) return true;
    std::uint64_t expected = id;
    return std::atomic_ref<std::uint64_t>(*shm.claim(slot)).compare_exchange_strong(expected, id | k_started,
                                                                                     std::memory_order_acq_rel);
}

// Runs one call; its answer frame is appended to `out` (a short notice when the result is in shared memory,
// which is then published in the slot's words: see process_pool_wire.hpp). Returns that frame's kind.
Kind run_call(const char* body, std::size_t n, std::uint64_t id, const SharedLayout& shm, std::uint8_t slot,
              std::string& out) {
    const std::size_t at = out.size();
    out.resize(at + k_header);
    Kind kind = value;
    try {
        SerialReader r(body, n);
        auto tramp = reinterpret_cast<Trampoline>(const_cast<void*>(resolve_ref(r)));
        if (!tramp) throw Error("corio::ProcessPool worker: a call without a trampoline");
        const void* fn = resolve_ref(r);
        if (slot != k_no_slot) {
            SerialWriter w(shm.reply(slot), shm.area, out);
            tramp(fn, r, w);
            if (!w.to_string()) {
                kind = value_shm;
                std::uint64_t len = w.in_place();
                out.append(reinterpret_cast<const char*>(&len), 8);
                std::atomic_ref<std::uint64_t>(*shm.result_size(slot)).store(len, std::memory_order_relaxed);
                std::atomic_ref<std::uint64_t>(*shm.claim(slot))
                    .store(id | k_started | k_done, std::memory_order_release);
            }
        } else {
            SerialWriter w(out);
            tramp(fn, r, w);
        }
        if (out.size() - at > k_max_frame)
            throw SerializationError("corio::ProcessPool: the result is larger than 4 GiB");
    } catch (...) {
        out.resize(at + k_header);
        kind = exception;
        try {
            encode_current_exception(out);
        } catch (...) {  // out of memory while describing the error: say so, briefly
            out.resize(at + k_header);
            SerialWriter w(out);
            w(static_cast<std::uint8_t>(ExceptionKind::bad_alloc), std::string("std::bad_alloc"), std::string(),
              std::int32_t{0});
        }
    }
    finish_frame(out, at, kind, id);
    return kind;
}

// Answers kept back to go out together (see worker_main) go out at the latest k_flush after the first of them,
// even when the call that runs meanwhile is a long one: its own thread sends them then. Every write to the
// socket is made under the mutex, so frames never interleave.
class Flusher {
public:
    static constexpr auto k_flush = std::chrono::milliseconds(1);
    explicit Flusher(int fd) noexcept : m_fd(fd) {}
    /// Keeps the answers in `batch` back (and clears it); false when they cannot be kept (no thread).
    bool hold(std::string& batch) {
        std::lock_guard lock(m_mutex);
        if (!m_started) {
            try {
                std::thread([this] { run(); }).detach();
            } catch (...) {
                return false;
            }
            m_started = true;
        }
        if (m_held.empty()) {
            m_due = std::chrono::steady_clock::now() + k_flush;
            if (m_idle) m_cv.notify_one();  // else it is already timing answers: it looks at m_due when it wakes
        }
        m_held += batch;
        batch.clear();
        return true;
    }
    /// Sends the answers kept back, then `batch`.
    void send(const std::string& batch) {
        std::lock_guard lock(m_mutex);
        if (!m_held.empty()) {
            send_all_or_exit(m_fd, m_held);
            m_held.clear();
        }
        if (!batch.empty()) send_all_or_exit(m_fd, batch);
    }

private:
    // While answers keep being held and sent by the worker's own thread (a stream of short calls), this thread
    // wakes once per k_flush and is never notified; it goes back to waiting for a notice after k_quiet without
    // any answer held.
    [[noreturn]] void run() {
        constexpr auto k_quiet = std::chrono::milliseconds(10);
        std::unique_lock lock(m_mutex);
        for (;;) {
            m_idle = true;
            m_cv.wait(lock, [this] { return !m_held.empty(); });
            m_idle = false;
            for (;;) {
                auto now = std::chrono::steady_clock::now();
                if (!m_held.empty() && now >= m_due) {
                    send_all_or_exit(m_fd, m_held);
                    m_held.clear();
                }
                if (m_held.empty() && now - (m_due - k_flush) >= k_quiet) break;  // m_due - k_flush: the last hold
                m_cv.wait_until(lock, m_held.empty() ? now + k_flush : m_due);
            }
        }
    }
    int m_fd;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::string m_held;
    std::chrono::steady_clock::time_point m_due;
    bool m_started = false;
    bool m_idle = false;  // the thread waits for answers to be held (not for a due time)
};

}  // namespace

[[noreturn]] void worker_main(int fd, int memfd) {
    SharedLayout shm;
    if (memfd >= 0) {
        struct stat st{};
        auto size = static_cast<std::size_t>(::fstat(memfd, &st) == 0 ? st.st_size : 0);
        void* p = size > k_control ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0) : MAP_FAILED;
        ::close(memfd);
        if (p == MAP_FAILED) _exit(3);
        shm.base = static_cast<char*>(p);
        shm.area = (size - k_control) / (2 * k_slots);
    }
    {
        std::string out(k_header, '\0');
        SerialWriter w(out);
        w(static_cast<std::uint32_t>(::getpid()), k_version);
        finish_frame(out, 0, hello, 0);
        send_all_or_exit(fd, out);
    }

    std::string in;
    std::size_t start = 0, end = 0;
    // Answers in shared memory may wait here while the calls are short and more are already in: they go out
    // together, and the pool wakes up once for them (at the latest Flusher::k_flush after the first of them,
    // even if the call after them is long).
    constexpr int k_batch = 8;
    constexpr auto k_short = std::chrono::microseconds(100);
    std::string batch;
    int waiting = 0;
    auto& flusher = *new Flusher(fd);  // never destroyed: a job that calls exit() leaves its thread alone
    auto next_is_whole = [&](std::size_t at) {
        if (end - at < 4) return false;
        std::uint32_t n;
        std::memcpy(&n, in.data() + at, 4);
        return end - at >= 4 + std::size_t{n};
    };
    for (;;) {
        while (end - start >= 4) {
            std::uint32_t n;
            std::memcpy(&n, in.data() + start, 4);
            if (n < k_header - 4) _exit(2);  // not a frame of ours: the stream is lost
            if (end - start < 4 + std::size_t{n}) break;
            Header h = get_header(in.data() + start);
            const char* body = in.data() + start + k_header;
            std::size_t len = n - (k_header - 4);
            start += 4 + std::size_t{n};
            if (h.kind != call && h.kind != call_shm) continue;
            if (len < 1) _exit(2);
            auto slot = static_cast<std::uint8_t>(*body);
            ++body, --len;
            if (slot != k_no_slot && (!shm.base || slot >= k_slots)) _exit(2);
            if (h.kind == call_shm) {
                std::uint64_t at_most;
                if (slot == k_no_slot || len != 8) _exit(2);
                std::memcpy(&at_most, body, 8);
                if (at_most > shm.area) _exit(2);
                body = shm.request(slot);
                len = static_cast<std::size_t>(at_most);
            }
            Kind kind = skipped;
            auto t0 = std::chrono::steady_clock::now();
            if (claim(shm, slot, h.id)) {
                kind = run_call(body, len, h.id, shm, slot, batch);
                if (slot != k_no_slot && kind != value_shm)  // over: its answer goes out below, at once
                    std::atomic_ref<std::uint64_t>(*shm.claim(slot))
                        .store(h.id | k_started | k_answered, std::memory_order_release);
                std::fflush(nullptr);  // what the job printed is seen now, not at a later exit that skips it
            } else {
                std::size_t at = batch.size();
                batch.resize(at + k_header);
                finish_frame(batch, at, skipped, h.id);
            }
            bool may_wait = kind == value_shm && ++waiting < k_batch && next_is_whole(start) &&
                            std::chrono::steady_clock::now() - t0 < k_short;
            if (!may_wait || !flusher.hold(batch)) {
                flusher.send(batch);
                batch.clear();
                waiting = 0;
                if (batch.capacity() > (1u << 20)) std::string().swap(batch);
            }
        }
        {  // (only frames that are not calls came after the last answer)
            flusher.send(batch);
            batch.clear();
            waiting = 0;
        }
        make_room(in, start, end);
        ssize_t got = ::read(fd, in.data() + end, in.size() - end);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {  // the pool closed our socket (close(), or the parent died): done
            std::fflush(nullptr);
            _exit(0);
        }
        end += static_cast<std::size_t>(got);
    }
}

}  // namespace corio::detail::pp
