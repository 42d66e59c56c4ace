#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include "support/sanitized.hpp"
#include "support/test_support.hpp"

#include <atomic>
#include <fstream>
#include <system_error>
#include <sys/resource.h>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using corio_test::cpus_allowed;
using corio_test::run_bounded;
using corio_test::settle;

// Polls `done` on the loop (sleeping 1 ms between looks) for at most 5 s; returns its last answer.
template <class P>
corio::Task<bool> eventually(P done) {
    for (int i = 0; i < 5000; ++i) {
        if (done()) co_return true;
        co_await corio::sleep(1ms);
    }
    co_return done();
}

// Blocks a worker until `go` is set (at most 10 s, so a broken test cannot hang forever).
void block_until(const std::atomic<bool>& go) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!go.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
}

struct CustomError : std::runtime_error {
    int code;
    CustomError(const std::string& what, int c) : std::runtime_error(what), code(c) {}
};

TEST(ThreadPool, ToThreadReturnsTheResultToTheLoop) {
    auto body = []() -> corio::Task<void> {
        EXPECT_EQ(co_await corio::to_thread([](int a, int b) { return a + b; }, 2, 40), 42);
        auto s = co_await corio::to_thread([](std::string x) { return x + "!"; }, std::string("hi"));
        EXPECT_EQ(s, "hi!");
        auto p = co_await corio::to_thread([] { return std::make_unique<int>(5); });
        EXPECT_TRUE(p && *p == 5);
        int side = 0;
        co_await corio::to_thread([&side] { side = 9; });
        EXPECT_EQ(side, 9);
    };
    run_bounded(body());
}

std::atomic<int> g_copies{0};

struct CopyCounter {
    int value = 0;
    explicit CopyCounter(int v) : value(v) {}
    CopyCounter(const CopyCounter& o) : value(o.value) { ++g_copies; }
    CopyCounter(CopyCounter&&) noexcept = default;
    CopyCounter& operator=(const CopyCounter&) = delete;
    CopyCounter& operator=(CopyCounter&&) = delete;
};

#ifndef CORIO_SANITIZED
TEST(ThreadPoolDeathTest, APoolWhoseThreadsCannotAllBeMadeThrowsInsteadOfTerminating) {
    // With little address space left, the threads' stacks run out partway: the constructor must end the threads it
    // made and throw (destroying them unjoined called std::terminate). In a child process: the limit stays there.
    EXPECT_EXIT(
        {
            long pages = 0;
            {
                std::ifstream statm("/proc/self/statm");
                statm >> pages;
            }
            rlimit lim{};
            lim.rlim_cur = lim.rlim_max = static_cast<rlim_t>(pages) * 4096 + (64u << 20);
            if (setrlimit(RLIMIT_AS, &lim) != 0) std::_Exit(3);
            try {
                corio::ThreadPool pool(200);  // 200 stacks of 8 MiB: more than 64 MiB
                std::_Exit(2);
            } catch (const std::system_error&) {
                std::_Exit(0);
            }
        },
        ::testing::ExitedWithCode(0), "");
}
#endif

TEST(ThreadPool, MoveOnlyArgumentsArePassedToTheFunction) {
    auto body = []() -> corio::Task<int> {
        co_return co_await corio::to_thread([](std::unique_ptr<int> p) { return *p + 1; }, std::make_unique<int>(41));
    };
    EXPECT_EQ(run_bounded(body()), 42);
}

TEST(ThreadPool, ArgumentsAreMovedIntoTheFunctionNotCopied) {
    g_copies = 0;
    auto body = []() -> corio::Task<int> {
        corio::allow_blocking joins_its_worker_at_the_end;  // a pool destroyed in a task blocks (strict mode)
        corio::ThreadPool pool(1);
        int a = co_await corio::to_thread([](CopyCounter c) { return c.value; }, CopyCounter(5));
        int b = co_await pool.submit([](CopyCounter c) { return c.value; }, CopyCounter(6));
        co_return a + b;
    };
    EXPECT_EQ(run_bounded(body()), 11);
    EXPECT_EQ(g_copies.load(), 0);
}

TEST(ThreadPool, ExceptionsAreRethrownOnTheLoopWithTheirType) {
    auto body = []() -> corio::Task<void> {
        try {
            co_await corio::to_thread([]() -> int { throw CustomError("disk on fire", 7); });
            ADD_FAILURE() << "no exception";
        } catch (const CustomError& e) {
            EXPECT_EQ(e.code, 7);
            EXPECT_STREQ(e.what(), "disk on fire");
        }
        EXPECT_THROW(co_await corio::to_thread([] { (void)std::string().at(3); }), std::out_of_range);
        EXPECT_THROW(co_await corio::to_thread([] { throw 17; }), int);
        // The pool still works after jobs failed.
        EXPECT_EQ(co_await corio::to_thread([] { return 1; }), 1);
    };
    run_bounded(body());
}

TEST(ThreadPool, JobsRunOnAnotherThread) {
    auto body = []() -> corio::Task<void> {
        auto loop_id = std::this_thread::get_id();
        auto job_id = co_await corio::to_thread([] { return std::this_thread::get_id(); });
        EXPECT_NE(job_id, loop_id);
        EXPECT_EQ(std::this_thread::get_id(), loop_id);  // resumed back on the loop thread
    };
    run_bounded(body());
}

TEST(ThreadPool, TheLoopKeepsRunningOtherTasksWhileAJobSleeps) {
    std::atomic<bool> job_started{false};
    bool job_done = false;
    long ticks_while_job_ran = 0;
    auto worker = [&]() -> corio::Task<void> {
        co_await corio::to_thread([&] {
            job_started = true;
            std::this_thread::sleep_for(50ms);
        });
        job_done = true;
    };
    auto counter = [&]() -> corio::Task<void> {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!job_done && std::chrono::steady_clock::now() < deadline) {
            co_await corio::yield();
            if (job_started) ++ticks_while_job_ran;
        }
    };
    auto body = [&]() -> corio::Task<void> { co_await corio::gather(worker(), counter()); };
    run_bounded(body());
    EXPECT_TRUE(job_done);
    EXPECT_GT(ticks_while_job_ran, 100);
}

TEST(ThreadPool, ZeroThreadsThrowsInvalidArgument) {
    EXPECT_THROW(corio::ThreadPool(0), std::invalid_argument);
}

TEST(ThreadPool, SizeIsTheNumberOfWorkers) {
    corio::ThreadPool three(3);
    EXPECT_EQ(three.size(), 3u);
    EXPECT_EQ(three.statistics().threads, 3u);
    corio::ThreadPool cpus;
    EXPECT_EQ(cpus.size(), cpus_allowed());
}

TEST(ThreadPool, TheDefaultSizeFollowsTheAffinityMaskAsTasksetSetsIt) {
    cpu_set_t all, one;
    ASSERT_EQ(::sched_getaffinity(0, sizeof all, &all), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &all)) {
            CPU_SET(c, &one);
            break;
        }
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);  // this thread: the one that builds the pools
    std::size_t threads = corio::ThreadPool().size();
    std::size_t workers = corio::ProcessPool().size();
    ASSERT_EQ(::sched_setaffinity(0, sizeof all, &all), 0);
    EXPECT_EQ(threads, 1u);
    EXPECT_EQ(workers, 1u);
    EXPECT_EQ(corio::ThreadPool().size(), cpus_allowed());
}

TEST(ThreadPool, RunOptionsThreadsSizesTheDefaultPool) {
    auto body = []() -> corio::Task<std::size_t> {
        auto& pool = corio::default_thread_pool();
        EXPECT_EQ(&pool, &corio::default_thread_pool());  // one per loop
        EXPECT_EQ(co_await corio::to_thread([] { return 3; }), 3);
        co_return pool.size();
    };
    EXPECT_EQ(run_bounded(body(), corio::RunOptions{.threads = 2}), 2u);
    EXPECT_EQ(run_bounded(body(), corio::RunOptions{.threads = 3}), 3u);
    EXPECT_EQ(run_bounded(body()), cpus_allowed());
}

TEST(ThreadPool, DefaultThreadPoolWithoutALoopThrowsLoopClosedError) {
    EXPECT_THROW((void)corio::default_thread_pool(), corio::LoopClosedError);
}

TEST(ThreadPool, SubmitRunsOnThePoolsOwnWorkers) {
    corio::ThreadPool pool(2);
    std::set<std::thread::id> ids;
    auto body = [&]() -> corio::Task<void> {
        std::vector<corio::Task<std::thread::id>> tasks;
        for (int i = 0; i < 20; ++i)
            tasks.push_back(pool.submit([] {
                std::this_thread::sleep_for(1ms);
                return std::this_thread::get_id();
            }));
        for (auto id : co_await corio::gather(std::move(tasks))) ids.insert(id);
    };
    run_bounded(body());
    EXPECT_GE(ids.size(), 1u);
    EXPECT_LE(ids.size(), 2u);
    EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
    EXPECT_EQ(pool.statistics().completed, 20u);
}

TEST(ThreadPool, CancellingAQueuedJobRemovesIt) {
    corio::ThreadPool pool(1);
    std::atomic<bool> go{false};
    std::atomic<int> second_ran{0};
    auto body = [&]() -> corio::Task<void> {
        auto first = corio::spawn(pool.submit([&] {
            block_until(go);
            return 1;
        }));
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().running == 1; }));
        auto second = corio::spawn(pool.submit([&] {
            ++second_ran;
            return 2;
        }));
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().queued == 1; }));
        second.cancel();
        EXPECT_THROW(co_await second, corio::CancelledError);
        EXPECT_EQ(pool.statistics().queued, 0u);
        go = true;
        EXPECT_EQ(co_await first, 1);
    };
    run_bounded(body());
    go = true;
    EXPECT_EQ(second_ran.load(), 0);
    auto s = pool.statistics();
    EXPECT_EQ(s.completed, 1u);
    EXPECT_EQ(s.queued, 0u);
    EXPECT_EQ(s.running, 0u);
}

TEST(ThreadPool, CancellingARunningJobWaitsForItAndReturnsItsResult) {
    corio::ThreadPool pool(1);
    std::atomic<bool> go{false};
    std::atomic<bool> finished{false};
    auto body = [&]() -> corio::Task<void> {
        auto h = corio::spawn(pool.submit([&] {
            block_until(go);
            std::this_thread::sleep_for(5ms);
            finished = true;
            return std::make_unique<int>(7);
        }));
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().running == 1; }));
        h.cancel();
        co_await corio::sleep(5ms);
        EXPECT_FALSE(h.done());  // still waiting for the job it cannot interrupt
        go = true;
        auto v = co_await h;  // the task ended without another await: its value stands
        EXPECT_TRUE(finished.load());
        EXPECT_TRUE(v && *v == 7);
    };
    run_bounded(body());
    go = true;
    auto s = pool.statistics();
    EXPECT_EQ(s.completed, 1u);
    EXPECT_EQ(s.running, 0u);
}

corio::Task<int> submit_then_yield(corio::ThreadPool& pool, std::atomic<bool>& go, std::atomic<bool>& finished) {
    int v = co_await pool.submit([&] {
        block_until(go);
        finished = true;
        return 3;
    });
    co_await corio::yield();  // the cancellation is raised here
    co_return v;
}

TEST(ThreadPool, ACancelledTaskWaitingOnARunningJobRaisesAfterTheJobEnds) {
    corio::ThreadPool pool(1);
    std::atomic<bool> go{false};
    std::atomic<bool> finished{false};
    auto body = [&]() -> corio::Task<void> {
        auto h = corio::spawn(submit_then_yield(pool, go, finished));
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().running == 1; }));
        h.cancel();
        go = true;
        EXPECT_THROW(co_await h, corio::CancelledError);
        EXPECT_TRUE(finished.load());  // the job was waited for, not abandoned
        EXPECT_EQ(pool.statistics().running, 0u);
    };
    run_bounded(body());
    go = true;
}

corio::Task<bool> submit_after_cancellation(std::atomic<int>& ran) {
    try {
        co_await corio::sleep(1h);
    } catch (const corio::CancelledError&) {
    }
    try {
        co_await corio::to_thread([&ran] { ++ran; });
    } catch (const corio::CancelledError&) {
        co_return true;
    }
    co_return false;
}

TEST(ThreadPool, ToThreadInACancelledTaskRaisesWithoutRunningTheJob) {
    std::atomic<int> ran{0};
    auto body = [&]() -> corio::Task<void> {
        auto h = corio::spawn(submit_after_cancellation(ran));
        co_await corio::yield();
        h.cancel();
        EXPECT_TRUE(co_await h);
    };
    run_bounded(body());
    EXPECT_EQ(ran.load(), 0);
}

TEST(ThreadPool, ATimeoutOnARunningJobWaitsForTheJob) {
    corio::ThreadPool pool(1);
    std::atomic<bool> finished{false};
    auto body = [&]() -> corio::Task<void> {
        co_await pool.submit([] {});  // the worker is up and idle
        auto start = std::chrono::steady_clock::now();
        // A running job cannot be interrupted: the task finishes anyway and its result stands.
        int v = co_await corio::timeout(50ms, pool.submit([&] {
                                            std::this_thread::sleep_for(150ms);
                                            finished = true;
                                            return 4;
                                        }));
        EXPECT_EQ(v, 4);
        EXPECT_TRUE(finished.load());
        EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
    };
    run_bounded(body());
}

TEST(ThreadPool, ATimeoutOnAQueuedJobRaisesTimeoutErrorAndTheJobNeverRuns) {
    corio::ThreadPool pool(1);
    std::atomic<bool> go{false};
    std::atomic<int> queued_ran{0};
    auto body = [&]() -> corio::Task<void> {
        auto blocker = corio::spawn(pool.submit([&] { block_until(go); }));
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().running == 1; }));
        EXPECT_THROW(co_await corio::timeout(10ms, pool.submit([&] { ++queued_ran; })), corio::TimeoutError);
        EXPECT_EQ(pool.statistics().queued, 0u);
        go = true;
        co_await blocker;
    };
    run_bounded(body());
    go = true;
    EXPECT_EQ(queued_ran.load(), 0);
    EXPECT_EQ(pool.statistics().completed, 1u);
}

TEST(ThreadPool, AThousandConcurrentToThreadCallsAllReturn) {
    auto body = []() -> corio::Task<std::vector<int>> {
        std::vector<corio::Task<int>> tasks;
        for (int i = 0; i < 1000; ++i) tasks.push_back(corio::to_thread([](int x) { return x * 2; }, i));
        co_return co_await corio::gather(std::move(tasks));
    };
    auto out = run_bounded(body(), corio::RunOptions{.threads = 4});
    ASSERT_EQ(out.size(), 1000u);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i * 2);
}

TEST(ThreadPool, StatisticsCountQueuedRunningAndCompletedJobs) {
    corio::ThreadPool pool(1);
    std::atomic<bool> go{false};
    auto body = [&]() -> corio::Task<void> {
        auto s = pool.statistics();
        EXPECT_EQ(s.threads, 1u);
        EXPECT_EQ(s.queued, 0u);
        EXPECT_EQ(s.running, 0u);
        EXPECT_EQ(s.completed, 0u);
        auto a = corio::spawn(pool.submit([&] { block_until(go); }));
        auto b = corio::spawn(pool.submit([] {}));
        auto c = corio::spawn(pool.submit([] {}));
        EXPECT_TRUE(co_await eventually([&] {
            auto st = pool.statistics();
            return st.running == 1 && st.queued == 2;
        }));
        go = true;
        co_await a;
        co_await b;
        co_await c;
        s = pool.statistics();
        EXPECT_EQ(s.queued, 0u);
        EXPECT_EQ(s.running, 0u);
        EXPECT_EQ(s.completed, 3u);
    };
    run_bounded(body());
    go = true;
}

TEST(ThreadPool, DestroyingThePoolWaitsForItsJobs) {
    std::atomic<int> finished{0};
    auto body = [&]() -> corio::Task<int> {
        corio::JoinHandle<int> a, b;
        {
            corio::allow_blocking deliberate;  // ~ThreadPool blocks the loop on purpose here (strict mode)
            corio::ThreadPool pool(1);
            a = corio::spawn(pool.submit([&] {
                std::this_thread::sleep_for(30ms);
                ++finished;
                return 1;
            }));
            b = corio::spawn(pool.submit([&] {  // queued behind a
                ++finished;
                return 2;
            }));
            co_await corio::yield();  // both jobs are submitted
            EXPECT_EQ(pool.statistics().queued + pool.statistics().running, 2u);
        }  // ~ThreadPool: runs what was submitted, joins its workers
        EXPECT_EQ(finished.load(), 2);
        co_return co_await a + co_await b;
    };
    EXPECT_EQ(run_bounded(body()), 3);
}

corio::Task<void> job_in_background(std::atomic<bool>& started, std::atomic<bool>& finished) {
    co_await corio::to_thread([&] {
        started = true;
        std::this_thread::sleep_for(30ms);
        finished = true;
    });
}

TEST(ThreadPool, RunReturnsOnlyAfterARunningJobHasFinished) {
    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    auto body = [&]() -> corio::Task<void> {
        corio::spawn(job_in_background(started, finished)).detach();
        EXPECT_TRUE(co_await eventually([&] { return started.load(); }));
        // main ends here: the task waiting on the job is cancelled, and the job is waited for
    };
    run_bounded(body());
    EXPECT_TRUE(finished.load());
}

TEST(ThreadPool, RunDropsJobsStillQueuedWhenItEnds) {
    std::atomic<bool> started{false};
    std::atomic<bool> go{false};
    std::atomic<bool> finished{false};
    std::atomic<int> queued_ran{0};
    std::thread releaser;
    auto body = [&]() -> corio::Task<void> {
        corio::spawn(corio::to_thread([&] {
            started = true;
            block_until(go);
            finished = true;
        })).detach();
        corio::spawn(corio::to_thread([&] { ++queued_ran; })).detach();  // behind the first: one worker
        EXPECT_TRUE(co_await eventually([&] { return started.load(); }));
        EXPECT_EQ(corio::default_thread_pool().statistics().queued, 1u);
        // Unblocks the first job once run() is already ending.
        releaser = std::thread([&go] {
            std::this_thread::sleep_for(20ms);
            go = true;
        });
    };
    run_bounded(body(), corio::RunOptions{.threads = 1});
    if (releaser.joinable()) releaser.join();
    EXPECT_TRUE(finished.load());
    EXPECT_EQ(queued_ran.load(), 0);
}

corio::Task<int> one_job(corio::ThreadPool& pool, int v) {
    co_return co_await pool.submit([v] { return v; });
}

// KNOWN BUG (core, src/core/loop.cpp RemoteQueue::push): a worker publishes the finished job with a CAS and
// only then reads RemoteQueue::m_sleeping and write()s RemoteQueue::m_wake_fd. In between, the loop can
// take the job, finish run(), close the eventfd and free the RemoteQueue: the worker then reads freed
// memory and may write into a descriptor number that was reused meanwhile. Passes in the dev build (the
// window is narrow and nothing checks it); the tsan preset reports the race on the first few runs.
TEST(ThreadPool, APoolThatOutlivesItsLoopsHandsResultsBackSafely) {
    corio::ThreadPool pool(2);
    int sum = 0;
    for (int i = 0; i < 300; ++i) sum += run_bounded(one_job(pool, i));
    EXPECT_EQ(sum, 299 * 300 / 2);
    EXPECT_EQ(pool.statistics().completed, 300u);
}

corio::Task<int> use_shared_pool(corio::ThreadPool& pool, int base) {
    int sum = 0;
    for (int i = 0; i < 50; ++i) sum += co_await pool.submit([](int x) { return x; }, base + i);
    co_return sum;
}

TEST(ThreadPool, LoopsOnSeveralThreadsCanShareAPool) {
    corio::ThreadPool pool(2);
    int sums[3] = {0, 0, 0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&pool, &sums, t] { sums[t] = run_bounded(use_shared_pool(pool, t * 100)); });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 3; ++t) EXPECT_EQ(sums[t], 50 * t * 100 + 49 * 50 / 2);
    EXPECT_EQ(pool.statistics().completed, 150u);
}

}  // namespace
