// Strict mode: blocking libc calls made inside a task or a posted function are reported (this binary links
// corio::strict).
#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <condition_variable>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <mutex>
#include <netdb.h>
#include <poll.h>
#include <string>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool k_tsan = true;
#else
constexpr bool k_tsan = false;
#endif
#elif defined(__SANITIZE_THREAD__)
constexpr bool k_tsan = true;
#else
constexpr bool k_tsan = false;
#endif

struct Reports {
    std::vector<std::string> calls;
    std::vector<std::string> texts;
    [[nodiscard]] bool has(const std::string& what) const {
        for (auto& c : calls)
            if (c.find(what) != std::string::npos) return true;
        return false;
    }
};

corio::RunOptions strict(Reports& r) {
    corio::RunOptions o;
    o.strict = corio::Strict::warn;
    o.on_strict = [&r](const std::string& call, const std::string& text) {
        r.calls.push_back(call);
        r.texts.push_back(text);
    };
    return o;
}

template <class F>
Reports run_in_task(F f) {
    Reports r;
    corio::run(
        [](F* fn) -> corio::Task<void> {
            (*fn)();
            co_return;
        }(&f),
        strict(r));
    return r;
}

[[gnu::noinline]] void nap_on_the_loop() { std::this_thread::sleep_for(1ms); }

TEST(Strict, SleepsAreReportedWithTheCallerAndTask) {
    auto r = run_in_task([] { nap_on_the_loop(); });
    ASSERT_TRUE(r.has("nanosleep")) << (r.calls.empty() ? "" : r.calls[0]);
    EXPECT_NE(r.texts[0].find("nap_on_the_loop"), std::string::npos) << r.texts[0];
    EXPECT_TRUE(run_in_task([] { ::usleep(100); }).has("usleep"));
    EXPECT_TRUE(run_in_task([] { ::sleep(0); }).has("sleep()"));
    EXPECT_TRUE(run_in_task([] {
                    timespec t{0, 1000};
                    ::nanosleep(&t, nullptr);
                }).has("nanosleep"));
}

TEST(Strict, TheSameCallInTheSameTurnOfTheNextLoopIsReportedAgain) {
    // Each loop counts its turns from zero: a blocking call in the first turn of one run() is not the call
    // made in the first turn of the run() before it.
    for (int i = 0; i < 2; ++i) {
        auto r = run_in_task([] { nap_on_the_loop(); });
        EXPECT_EQ(r.calls.size(), 1u) << "run " << i;
    }
}

TEST(Strict, TwoTasksBlockingInTheSameTurnAreBothReported) {
    Reports r;
    corio::run(
        []() -> corio::Task<void> {
            auto napper = []() -> corio::Task<void> {
                nap_on_the_loop();
                co_return;
            };
            co_await corio::gather(napper().named("first-napper"), napper().named("second-napper"));
        }(),
        strict(r));
    ASSERT_EQ(r.texts.size(), 2u);
    EXPECT_NE(r.texts[0].find("first-napper"), std::string::npos) << r.texts[0];
    EXPECT_NE(r.texts[1].find("second-napper"), std::string::npos) << r.texts[1];
}

TEST(Strict, PollWithATimeoutIsReportedWithoutOneIsNot) {
    EXPECT_TRUE(run_in_task([] { ::poll(nullptr, 0, 1); }).has("poll"));
    EXPECT_TRUE(run_in_task([] { ::poll(nullptr, 0, 0); }).calls.empty());
}

TEST(Strict, ReadsAndWritesOnBlockingDescriptorsAreReported) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    auto r = run_in_task([&] {
        char c = 'x';
        (void)!::write(p[1], &c, 1);
        (void)!::read(p[0], &c, 1);
    });
    EXPECT_TRUE(r.has("write()"));
    EXPECT_TRUE(r.has("read()"));
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    auto quiet = run_in_task([&] {
        char c;
        (void)!::read(p[0], &c, 1);  // non-blocking: EAGAIN, not a blocking call
    });
    EXPECT_TRUE(quiet.calls.empty());
    ::close(p[0]);
    ::close(p[1]);
}

TEST(Strict, SocketCallsOnBlockingSocketsAreReported) {
    int s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    auto r = run_in_task([&] {
        char c = 'x';
        (void)!::send(s[0], &c, 1, 0);
        (void)!::recv(s[1], &c, 1, 0);
    });
    EXPECT_TRUE(r.has("send()"));
    EXPECT_TRUE(r.has("recv()"));
    ::close(s[0]);
    ::close(s[1]);
}

TEST(Strict, AcceptAndConnectOnBlockingSocketsAreReported) {
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(l, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    auto r = run_in_task([&] {
        (void)!::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
        int s = ::accept(l, nullptr, nullptr);
        if (s >= 0) ::close(s);
    });
    EXPECT_TRUE(r.has("connect()"));
    EXPECT_TRUE(r.has("accept()"));
    ::close(c);
    ::close(l);
}

TEST(Strict, SelectAndEpollWaitWithATimeoutAreReported) {
    EXPECT_TRUE(run_in_task([] {
                    timeval tv{0, 100};
                    ::select(0, nullptr, nullptr, nullptr, &tv);
                }).has("select"));
    EXPECT_TRUE(run_in_task([] {
                    int ep = ::epoll_create1(0);
                    epoll_event ev;
                    ::epoll_wait(ep, &ev, 1, 1);
                    ::close(ep);
                }).has("epoll_wait"));
}

TEST(Strict, PopenWaitSyncAndRecordLocksAreReported) {
    EXPECT_TRUE(run_in_task([] {
                    if (FILE* f = ::popen("true", "r")) ::pclose(f);
                }).has("popen"));
    EXPECT_TRUE(run_in_task([] {
                    pid_t pid = ::fork();
                    if (pid == 0) ::_exit(0);
                    int st;
                    ::wait(&st);
                }).has("wait()"));
    EXPECT_TRUE(run_in_task([] { ::sync(); }).has("sync()"));
    char path[] = "/tmp/corio_strict_lock_XXXXXX";
    int fd = ::mkstemp(path);
    ::unlink(path);
    EXPECT_TRUE(run_in_task([&] {
                    struct flock fl {};
                    fl.l_type = F_WRLCK;
                    fl.l_whence = SEEK_SET;
                    ::fcntl(fd, F_SETLKW, &fl);
                }).has("F_SETLKW"));
    ::close(fd);
}

TEST(Strict, AContendedMutexAndAConditionWaitOnTheLoopThreadAreReported) {
    std::mutex m;
    std::condition_variable cv;
    bool ready = false;
    auto r = run_in_task([&] {
        std::thread notifier([&] {
            std::this_thread::sleep_for(50ms);  // the task is waiting long before this
            {
                std::lock_guard g(m);
                ready = true;
            }
            cv.notify_one();
        });
        {
            std::unique_lock g(m);
            cv.wait(g, [&] { return ready; });
        }
        notifier.join();
    });
    if (!k_tsan) {  // ThreadSanitizer's own pthread_cond_wait interceptor never reaches the strict library's
        EXPECT_TRUE(r.has("pthread_cond_wait"));
    }
    EXPECT_TRUE(r.has("pthread_join"));
    // A certainly contended lock: another thread holds it while the task locks it.
    std::mutex m2;
    std::atomic<bool> held{false}, release{false};
    std::thread owner([&] {
        std::lock_guard g(m2);
        held = true;
        while (!release) std::this_thread::sleep_for(1ms);
    });
    while (!held) std::this_thread::sleep_for(1ms);
    auto r2 = run_in_task([&] {
        std::thread releaser([&] {
            std::this_thread::sleep_for(20ms);
            release = true;
        });
        { std::lock_guard g(m2); }
        releaser.join();
    });
    owner.join();
    EXPECT_TRUE(r2.has("pthread_mutex_lock")) << (r2.calls.empty() ? "" : r2.calls[0]);
}

TEST(Strict, NameResolutionIsReported) {
    auto r = run_in_task([] {
        addrinfo* res = nullptr;
        if (::getaddrinfo("localhost", "80", nullptr, &res) == 0) ::freeaddrinfo(res);
    });
    EXPECT_TRUE(r.has("getaddrinfo"));
    EXPECT_TRUE(run_in_task([] { (void)::gethostbyname("localhost"); }).has("gethostbyname"));
}

TEST(Strict, FsyncAndProcessWaitsAreReported) {
    char path[] = "/tmp/corio_strict_XXXXXX";
    int fd = ::mkstemp(path);
    ::unlink(path);
    EXPECT_TRUE(run_in_task([&] { ::fsync(fd); }).has("fsync"));
    EXPECT_TRUE(run_in_task([&] { ::fdatasync(fd); }).has("fdatasync"));
    EXPECT_TRUE(run_in_task([&] { ::flock(fd, LOCK_EX); }).has("flock"));
    EXPECT_TRUE(run_in_task([&] { ::flock(fd, LOCK_EX | LOCK_NB); }).calls.empty());
    ::close(fd);
    EXPECT_TRUE(run_in_task([] { (void)!::system("true"); }).has("system"));
    EXPECT_TRUE(run_in_task([] {
                    pid_t pid = ::fork();
                    if (pid == 0) ::_exit(0);
                    int st;
                    ::waitpid(pid, &st, 0);
                }).has("waitpid"));
}

TEST(Strict, JoiningAThreadAndAContendedMutexAreReportedAnUncontendedOneIsNot) {
    EXPECT_TRUE(run_in_task([] {
                    std::thread t([] {});
                    t.join();
                }).has("pthread_join"));
    std::mutex m;
    EXPECT_TRUE(run_in_task([&] { std::lock_guard g(m); }).calls.empty());
    auto r = run_in_task([&] {
        std::unique_lock held(m);
        std::thread other([&] {
            std::lock_guard g(m);  // contended, but on another thread: not reported
        });
        std::this_thread::sleep_for(1ms);  // reported (a sleep)
        held.unlock();
        other.join();
    });
    EXPECT_FALSE(r.has("pthread_mutex_lock"));
    EXPECT_TRUE(r.has("pthread_join"));
}

TEST(Strict, CallsFromThreadWorkersAndOutsideTasksAreNotReported) {
    Reports r;
    corio::run(
        []() -> corio::Task<void> {
            co_await corio::to_thread([] { std::this_thread::sleep_for(1ms); });
            co_await corio::sleep(1ms);
        }(),
        strict(r));
    EXPECT_TRUE(r.calls.empty()) << r.calls[0];
    std::this_thread::sleep_for(1ms);  // no loop at all
}

[[gnu::noinline]] void nap_in_a_posted_function() { std::this_thread::sleep_for(1ms); }

TEST(Strict, AFunctionPostedToTheLoopIsCheckedToo) {
    // Not a task, but the loop's thread: a posted function that blocks blocks the loop.
    Reports r;
    corio::run(
        []() -> corio::Task<void> {
            corio::Event ran;
            std::thread poster([h = corio::LoopHandle::current(), &ran] {
                h.post([&ran] {
                    nap_in_a_posted_function();
                    ran.set();
                });
            });
            try {
                co_await corio::timeout(10s, ran.wait());
            } catch (const corio::TimeoutError&) {
            }
            corio::allow_blocking deliberate;  // the poster has posted by now
            poster.join();
        }(),
        strict(r));
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_NE(r.calls[0].find("nanosleep"), std::string::npos) << r.calls[0];
    EXPECT_NE(r.texts[0].find("posted"), std::string::npos) << r.texts[0];
    EXPECT_NE(r.texts[0].find("nap_in_a_posted_function"), std::string::npos) << r.texts[0];
}

corio::Task<void> keep_the_pool_busy(corio::ThreadPool& pool, const bool& stop) {
    for (int i = 0; i < 5000 && !stop; ++i) {
        co_await pool.submit([] {});
    }
}

TEST(Strict, AThreadPoolsStatisticsAreNotReportedWhenItsWorkersHoldItsLock) {
    // The pool's mutex is corio's own, held briefly by its workers: reading the statistics while they
    // are busy may find it taken, which is not the user's blocking call (under CORIO_STRICT=abort it was
    // fatal, at random).
    corio::ThreadPool pool(2);
    Reports r;
    corio::run(
        [](corio::ThreadPool& p, Reports& rep) -> corio::Task<void> {
            bool stop = false;
            std::vector<corio::JoinHandle<void>> producers;
            for (int i = 0; i < 32; ++i) producers.push_back(corio::spawn(keep_the_pool_busy(p, stop)));
            auto deadline = std::chrono::steady_clock::now() + 3s;
            while (rep.calls.empty() && std::chrono::steady_clock::now() < deadline) {
                for (int i = 0; i < 200; ++i) (void)p.statistics();
                co_await corio::yield();
            }
            stop = true;
            for (auto& h : producers) co_await h;
        }(pool, r),
        strict(r));
    EXPECT_TRUE(r.calls.empty()) << r.texts[0];
}

TEST(Strict, AllowBlockingSilencesItsScope) {
    auto r = run_in_task([] {
        corio::allow_blocking allow;
        std::this_thread::sleep_for(1ms);
    });
    EXPECT_TRUE(r.calls.empty());
}

TEST(Strict, CorioItselfMakesNoReportedCallsUnderEitherBackend) {
    for (auto b : {corio::Backend::epoll, corio::Backend::io_uring}) {
        Reports r;
        auto o = strict(r);
        o.backend = b;
        corio::run(
            []() -> corio::Task<void> {
                int p[2];
                ::pipe(p);
                char c = 'a';
                co_await corio::write(p[1], &c, 1);
                (void)co_await corio::read(p[0], &c, 1);
                co_await corio::to_thread([] { return 1; });
                corio::Semaphore s(1);
                auto permit = co_await s.acquire();
                co_await corio::gather(corio::sleep(1ms), corio::sleep(2ms));
                auto h = corio::spawn([]() -> corio::Task<void> { co_await corio::sleep(1h); }(), "named");
                h.cancel();
                try {
                    co_await h;
                } catch (const corio::CancelledError&) {
                }
                corio::close(p[0]);
                corio::close(p[1]);
            }(),
            o);
        EXPECT_TRUE(r.calls.empty()) << r.texts[0];
    }
}

TEST(StrictDeathTest, AbortModeStopsAtTheFirstBlockingCall) {
    corio::RunOptions o;
    o.strict = corio::Strict::abort;
    EXPECT_DEATH(corio::run(
                     []() -> corio::Task<void> {
                         std::this_thread::sleep_for(1ms);
                         co_return;
                     }(),
                     o),
                 "blocking call .*nanosleep");
}

}  // namespace
