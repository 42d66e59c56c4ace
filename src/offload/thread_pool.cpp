// The thread pool: a mutex-guarded intrusive FIFO of jobs and a condition variable. Finished jobs go back
// to their loop through its lock-free inbox (one eventfd write at most per wake-up of the loop).
#include "../core/loop.hpp"

#include <corio/offload/thread_pool.hpp>
#include <corio/strict.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace corio {

namespace {
constexpr std::chrono::microseconds k_spin{50};
}

struct ThreadPool::Impl {
    mutable std::mutex mutex;
    std::condition_variable cv;
    detail::ThreadJob* head = nullptr;
    detail::ThreadJob* tail = nullptr;
    std::size_t queued = 0;
    std::size_t running = 0;
    std::uint64_t completed = 0;
    bool stopping = false;
    std::vector<std::thread> workers;

    void unlink(detail::ThreadJob* j) noexcept {
        if (j->m_jprev) j->m_jprev->m_jnext = j->m_jnext;
        else head = j->m_jnext;
        if (j->m_jnext) j->m_jnext->m_jprev = j->m_jprev;
        else tail = j->m_jprev;
        j->m_jnext = j->m_jprev = nullptr;
        j->m_queued = false;
        --queued;
        pending.store(queued, std::memory_order_release);
    }

    // One idle worker at a time spins briefly for the next job before sleeping on the condition variable,
    // so a stream of short jobs costs no futex wake-ups; enqueue() only signals when nobody spins.
    std::atomic<std::size_t> pending{0};  // == queued, readable without the mutex
    std::atomic<bool> spinning{false};
    std::size_t sleepers = 0;  // guarded by mutex
    std::size_t cpus = static_cast<std::size_t>(detail::usable_cpus());

    void spin_for_work() {
        if (spinning.exchange(true, std::memory_order_acq_rel)) return;
        auto until = std::chrono::steady_clock::now() + k_spin;
        for (int i = 0; pending.load(std::memory_order_acquire) == 0; ++i) {
            detail::cpu_relax();
            if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) break;
        }
        spinning.store(false, std::memory_order_release);
    }

    void work() {
        std::unique_lock lock(mutex);
        for (;;) {
            if (!head && !stopping) {
                // Spin only with a core to spare: besides this thread, one for the loop and one for each job
                // running (else the spin takes the CPU the loop or a job needs).
                bool spin = running + 2 <= cpus;
                lock.unlock();
                if (spin) spin_for_work();
                lock.lock();
                ++sleepers;
                cv.wait(lock, [&] { return head || stopping; });
                --sleepers;
            }
            if (!head) return;  // stopping, and the queue is drained
            detail::ThreadJob* j = head;
            unlink(j);
            if (head && sleepers > 0) cv.notify_one();  // more work: wake a helper
            ++running;
            lock.unlock();
            j->m_exec(j);
            detail::RemoteQueue* home = j->m_home;
            lock.lock();
            --running;
            ++completed;
            // Hand back last: after this the job may be freed by its loop at any moment.
            detail::remote_push(home, j);
        }
    }

    /// Lets the workers drain the queue and end, and joins them.
    void stop() noexcept {
        {
            std::lock_guard lock(mutex);
            stopping = true;
        }
        cv.notify_all();
        for (auto& t : workers) t.join();
    }
};

ThreadPool::ThreadPool() : ThreadPool(static_cast<std::size_t>(detail::usable_cpus())) {}

ThreadPool::ThreadPool(std::size_t threads) : m_impl(std::make_unique<Impl>()) {
    if (threads == 0) throw std::invalid_argument("corio::ThreadPool: threads must be >= 1, got 0");
    m_impl->workers.reserve(threads);
    try {
        for (std::size_t i = 0; i < threads; ++i) m_impl->workers.emplace_back([impl = m_impl.get()] { impl->work(); });
    } catch (...) {  // a thread could not be made (std::system_error): end those that were, then say so
        m_impl->stop();  // (destroying them unjoined would call std::terminate)
        throw;
    }
}

ThreadPool::~ThreadPool() { m_impl->stop(); }

void ThreadPool::enqueue(detail::ThreadJob* job) {
    bool wake;
    {
        std::lock_guard lock(m_impl->mutex);
        job->m_jnext = nullptr;
        job->m_jprev = m_impl->tail;
        if (m_impl->tail) m_impl->tail->m_jnext = job;
        else m_impl->head = job;
        m_impl->tail = job;
        job->m_queued = true;
        ++m_impl->queued;
        m_impl->pending.store(m_impl->queued, std::memory_order_release);
        wake = m_impl->sleepers > 0 && !m_impl->spinning.load(std::memory_order_acquire);
    }
    if (wake) m_impl->cv.notify_one();
}

bool ThreadPool::try_remove(detail::ThreadJob* job) noexcept {
    std::lock_guard lock(m_impl->mutex);
    if (!job->m_queued) return false;
    m_impl->unlink(job);
    return true;
}

ThreadPool::Statistics ThreadPool::statistics() const {
    allow_blocking internal;  // the pool's own brief lock, which a worker may hold (strict mode)
    std::lock_guard lock(m_impl->mutex);
    return {m_impl->workers.size(), m_impl->queued, m_impl->running, m_impl->completed};
}

std::size_t ThreadPool::size() const noexcept { return m_impl->workers.size(); }

ThreadPool& default_thread_pool() {
    detail::Loop& l = detail::this_loop();
    if (auto* p = static_cast<ThreadPool*>(l.slot(detail::LoopSlot::thread_pool))) return *p;
    std::size_t n = l.options().threads;
    auto* pool = n ? new ThreadPool(n) : new ThreadPool();
    l.set_slot(detail::LoopSlot::thread_pool, pool, [](void* p) { delete static_cast<ThreadPool*>(p); });
    return *pool;
}

namespace detail {
// The pool's mutex is corio's own: a brief wait on it is not the user's blocking call (strict mode).
void job_enqueue(ThreadPool* pool, ThreadJob* job) {
    allow_blocking internal;
    pool->enqueue(job);
}
bool job_try_remove(ThreadPool* pool, ThreadJob* job) noexcept {
    allow_blocking internal;
    return pool->try_remove(job);
}
}  // namespace detail

}  // namespace corio
