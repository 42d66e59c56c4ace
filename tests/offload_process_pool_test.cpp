#include <corio/corio.hpp>
#include <corio/offload/process_pool.hpp>

#include <gtest/gtest.h>

#include "support/test_support.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <poll.h>
#include <set>
#include <spawn.h>
#include <span>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <unordered_map>
#include <variant>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;

namespace {

using corio_test::eventually;
using corio_test::run_bounded;

// ---- helpers -------------------------------------------------------------------------------------------------

/// The descriptors this process has open now, without the one that lists them.
std::set<int> open_fds() {
    std::set<int> fds;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') fds.insert(std::atoi(e->d_name));
        fds.erase(::dirfd(d));
        ::closedir(d);
    }
    return fds;
}

int count_fds() { return static_cast<int>(open_fds().size()); }

bool process_exists(int pid) { return ::kill(pid, 0) == 0; }

/// A directory for the files jobs use to say where they are, removed at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/corio-pp-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    [[nodiscard]] std::string file(const std::string& name) const { return path + "/" + name; }
};

bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// These two also run on the loop thread: their file I/O is quick and deliberate (strict mode).
void touch(const std::string& path) {
    corio::allow_blocking small_file;
    std::ofstream(path) << "x";
}

int read_pid(const std::string& path) {
    corio::allow_blocking small_file;
    std::ifstream f(path);
    int pid = 0;
    f >> pid;
    return pid;
}

/// Starts this test program again, running only `test` (a DISABLED_ one) with `env` added to the environment
/// (GoogleTest's own variables left out) and its stdout to /dev/null; `fa` may set up more descriptors.
pid_t spawn_child_test(const std::string& test, std::vector<std::string> env_text, posix_spawn_file_actions_t& fa) {
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "GTEST_", 6) != 0) env_text.emplace_back(*e);
    std::vector<char*> env;
    for (auto& e : env_text) env.push_back(e.data());
    env.push_back(nullptr);
    std::string filter = "--gtest_filter=" + test;
    std::string disabled = "--gtest_also_run_disabled_tests";
    char* argv[] = {const_cast<char*>("offload_process_pool_test"), filter.data(), disabled.data(), nullptr};
    ::posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);  // GoogleTest's chatter
    pid_t child = -1;
    EXPECT_EQ(::posix_spawn(&child, "/proc/self/exe", &fa, nullptr, argv, env.data()), 0);
    return child;
}

/// Reaps `pid` if it ends within `ms` milliseconds (its wait status in `*status`); false if it did not.
bool reaped_within(pid_t pid, int ms, int* status = nullptr) {
    for (int i = 0; i < ms; ++i) {
        if (::waitpid(pid, status, WNOHANG) == pid) return true;
        std::this_thread::sleep_for(1ms);
    }
    return ::waitpid(pid, status, WNOHANG) == pid;
}

// ---- functions the workers run -------------------------------------------------------------------------------

int add(int a, int b) { return a + b; }

template <class T>
T echo(T v) {
    return v;
}

struct Maths {
    static long long square(long long x) { return x * x; }
};

int worker_pid() { return static_cast<int>(::getpid()); }

// Says it has started (its pid in `started`, written atomically), then waits for `release` to exist (at most
// `timeout_ms`); returns its pid.
int announce_and_wait(std::string started, std::string release, int timeout_ms) {
    std::string tmp = started + ".tmp";
    std::ofstream(tmp) << ::getpid();
    std::rename(tmp.c_str(), started.c_str());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!file_exists(release) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    return ::getpid();
}

// Leaves a mark that it ran.
int mark(std::string path) {
    touch(path);
    return 1;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

struct Point {
    double x = 0, y = 0;
    std::string label;
    template <class Ar>
    void serialize(Ar& ar) {
        ar(x, y, label);
    }
    bool operator==(const Point&) const = default;
};

class Money {  // no default constructor: travels through a Serializer specialization
public:
    Money(long long cents, std::string currency) : m_cents(cents), m_currency(std::move(currency)) {}
    [[nodiscard]] long long cents() const { return m_cents; }
    [[nodiscard]] const std::string& currency() const { return m_currency; }
    bool operator==(const Money&) const = default;

private:
    long long m_cents;
    std::string m_currency;
};

enum class Colour : std::uint8_t { red = 1, green = 2 };

struct Unsendable {  // its Serializer refuses to write: the error reaches the caller, the worker is not involved
    int v = 0;
};

struct CustomError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace

template <>
struct corio::Serializer<Money> {
    static void write(corio::SerialWriter& w, const Money& m) { w(m.cents(), m.currency()); }
    static Money read(corio::SerialReader& r) {
        auto cents = r.read<long long>();
        return Money(cents, r.read<std::string>());
    }
};

template <>
struct corio::Serializer<Unsendable> {
    static void write(corio::SerialWriter&, const Unsendable&) { throw std::length_error("Unsendable: refused"); }
    static Unsendable read(corio::SerialReader&) { return {}; }
};

namespace {

// ---- values ----------------------------------------------------------------------------------------------------

class ProcessPoolValues : public ::testing::TestWithParam<std::size_t> {};  // the shared memory size

template <class T>
corio::Task<void> round_trip(corio::ProcessPool& pool, T value) {
    T back = co_await pool.submit(echo<T>, value);
    EXPECT_TRUE(back == value) << "type " << typeid(T).name();
}

TEST_P(ProcessPoolValues, ResultsOfEverySerializableTypeComeBackEqual) {
    auto body = [](std::size_t shm) -> corio::Task<void> {
        corio::ProcessPool pool(2, {.shared_memory = shm});
        co_await round_trip(pool, 42);
        co_await round_trip(pool, -7LL);
        co_await round_trip(pool, 2.5);
        co_await round_trip(pool, 1.25f);
        co_await round_trip(pool, true);
        co_await round_trip(pool, 'z');
        co_await round_trip(pool, std::uint64_t{1} << 63);
        co_await round_trip(pool, Colour::green);
        co_await round_trip(pool, std::byte{0x7f});
        co_await round_trip(pool, std::string("with a \0 inside", 15));
        co_await round_trip(pool, std::string());
        co_await round_trip(pool, std::u16string(u"wide"));
        // (GCC 12 cannot compile a braced initializer inside a co_await expression: the values are made first.)
        std::vector<int> ints{1, 2, 3};
        std::vector<std::string> strings{"a", "", "ccc"};
        std::vector<bool> bools{true, false, true};
        std::array<double, 3> doubles{1.5, 2.5, 3.5};
        std::array<std::string, 2> two{"x", "y"};
        std::map<std::string, int> map{{"a", 1}, {"b", 2}};
        std::unordered_map<int, std::vector<int>> umap{{1, {1}}, {2, {2, 2}}};
        std::set<int> set{3, 1, 2};
        Point point{1.5, -2, "p"};
        std::vector<std::optional<std::pair<std::string, nlohmann::json>>> nested{
            std::nullopt, std::pair<std::string, nlohmann::json>("k", nlohmann::json::array({1, 2}))};
        co_await round_trip(pool, ints);
        co_await round_trip(pool, strings);
        co_await round_trip(pool, bools);
        co_await round_trip(pool, doubles);
        co_await round_trip(pool, two);
        co_await round_trip(pool, std::pair<int, std::string>(5, "five"));
        co_await round_trip(pool, std::tuple<int, double, std::string>(1, 2.0, "three"));
        co_await round_trip(pool, std::tuple<>());
        co_await round_trip(pool, std::optional<std::string>("here"));
        co_await round_trip(pool, std::optional<std::string>());
        co_await round_trip(pool, std::variant<int, std::string>(std::string("alt")));
        co_await round_trip(pool, std::variant<std::monostate, int>());
        co_await round_trip(pool, map);
        co_await round_trip(pool, umap);
        co_await round_trip(pool, set);
        co_await round_trip(pool, std::chrono::milliseconds(1500));
        co_await round_trip(pool, nlohmann::json::parse(R"({"a": [1, 2.5, "x", null, true], "b": {"c": -3}})"));
        co_await round_trip(pool, point);
        co_await round_trip(pool, Money(1999, "EUR"));
        co_await round_trip(pool, nested);
        co_await round_trip(pool, std::string(3 << 20, 'b'));  // more than a shared memory area: the socket
        co_await round_trip(pool, std::vector<double>(200'000, 0.5));
    };
    run_bounded(body(GetParam()));
}

TEST_P(ProcessPoolValues, ArgumentsOfManyKindsReachTheFunction) {
    auto body = [](std::size_t shm) -> corio::Task<void> {
        corio::ProcessPool pool(1, {.shared_memory = shm});
        EXPECT_EQ(co_await pool.submit(add, 2, 40), 42);
        EXPECT_EQ(co_await pool.submit(&Maths::square, 12LL), 144);
        auto concat = [](std::string s, int n) { return s + std::to_string(n); };
        EXPECT_EQ(co_await pool.submit(concat, std::string("n="), 7), "n=7");
        EXPECT_EQ(co_await pool.submit([](const char* s) { return std::string(s) + "!"; }, "literal"), "literal!");
        EXPECT_EQ(co_await pool.submit([](std::string_view v) { return v.size(); }, std::string_view("view")), 4u);
        std::vector<unsigned char> bytes(100'000, 3);
        EXPECT_EQ(co_await pool.submit(
                      [](std::span<const unsigned char> b) {
                          long sum = 0;
                          for (auto c : b) sum += c;
                          return sum;
                      },
                      std::span<const unsigned char>(bytes)),
                  300'000);
        std::vector<double> ds{0.5, 1.5};
        auto sum2 = [](std::span<const double> d) { return d[0] + d[1]; };
        EXPECT_EQ(co_await pool.submit(sum2, std::span<const double>(ds)), 2.0);
        Point point{0, 0, "ref"};
        EXPECT_EQ(co_await pool.submit([](const Point& p) { return p.label; }, point), "ref");
        co_await pool.submit([] {});                                          // void
        EXPECT_EQ(co_await pool.submit(::getpid), co_await pool.submit(worker_pid));  // a function of libc
        EXPECT_NE(co_await pool.submit(worker_pid), ::getpid());
    };
    run_bounded(body(GetParam()));
}

TEST(ProcessPool, AFunctionOfALibraryLoadedWithDlopenRunsInTheWorker) {
    void* lib = ::dlopen("liblzma.so.5", RTLD_NOW);  // not linked into this program: the worker loads it too
    if (!lib) GTEST_SKIP() << "liblzma.so.5 is not installed";
    using Version = std::uint32_t (*)();
    auto version = reinterpret_cast<Version>(::dlsym(lib, "lzma_version_number"));
    ASSERT_NE(version, nullptr);
    auto body = [version]() -> corio::Task<std::uint32_t> {
        corio::ProcessPool pool(1);
        co_return co_await pool.submit(version);
    };
    EXPECT_EQ(run_bounded(body()), version());
}

INSTANTIATE_TEST_SUITE_P(SharedMemory, ProcessPoolValues, ::testing::Values(std::size_t(16) << 20, std::size_t(0)),
                         [](const auto& info) { return info.param ? "on" : "off"; });

// ---- exceptions --------------------------------------------------------------------------------------------------

template <class E>
void throw_it(std::string what) {
    throw E(what);
}

template <class E>
corio::Task<void> expect_same(corio::ProcessPool& pool, const char* what) {
    try {
        co_await pool.submit(throw_it<E>, std::string(what));
        ADD_FAILURE() << "no exception for " << typeid(E).name();
    } catch (const E& e) {
        EXPECT_EQ(typeid(e), typeid(E));
        EXPECT_STREQ(e.what(), what);
    }
}

TEST(ProcessPool, StandardExceptionsComeBackAsTheirOwnTypeWithTheirMessage) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        co_await expect_same<std::runtime_error>(pool, "runtime");
        co_await expect_same<std::logic_error>(pool, "logic");
        co_await expect_same<std::invalid_argument>(pool, "invalid");
        co_await expect_same<std::domain_error>(pool, "domain");
        co_await expect_same<std::length_error>(pool, "length");
        co_await expect_same<std::out_of_range>(pool, "range");
        co_await expect_same<std::range_error>(pool, "range error");
        co_await expect_same<std::overflow_error>(pool, "overflow");
        co_await expect_same<std::underflow_error>(pool, "underflow");
        EXPECT_THROW(co_await pool.submit([] { return std::vector<int>().at(1); }), std::out_of_range);
        EXPECT_THROW(co_await pool.submit([] { throw std::bad_alloc(); }), std::bad_alloc);
        EXPECT_THROW(co_await pool.submit([] { return std::optional<int>().value(); }), std::bad_optional_access);
        EXPECT_THROW(co_await pool.submit([] { return std::get<int>(std::variant<int, char>('c')); }),
                     std::bad_variant_access);
        try {
            co_await pool.submit([] { throw std::system_error(ENOENT, std::generic_category(), "opening x"); });
            ADD_FAILURE() << "no exception";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
            EXPECT_EQ(std::string(e.what()), std::system_error(ENOENT, std::generic_category(), "opening x").what());
        }
        EXPECT_EQ(co_await pool.submit(add, 1, 1), 2);  // the worker is fine after all that
    };
    run_bounded(body());
}

TEST(ProcessPool, OtherExceptionsComeBackAsRemoteErrorWithTheirTypeAndMessage) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        try {
            co_await pool.submit([] { throw CustomError("disk on fire"); });
            ADD_FAILURE() << "no exception";
        } catch (const corio::RemoteError& e) {
            EXPECT_EQ(e.type_name(), "(anonymous namespace)::CustomError");
            EXPECT_EQ(e.message(), "disk on fire");
            EXPECT_STREQ(e.what(), "(anonymous namespace)::CustomError: disk on fire");
        }
        try {
            co_await pool.submit([] { throw 17; });
            ADD_FAILURE() << "no exception";
        } catch (const corio::RemoteError& e) {
            EXPECT_EQ(e.type_name(), "int");
            EXPECT_EQ(e.message(), "");
        }
        try {
            co_await pool.submit([] { throw "plain text"; });
            ADD_FAILURE() << "no exception";
        } catch (const corio::RemoteError& e) {
            EXPECT_EQ(e.type_name(), "char const*");
            EXPECT_EQ(e.message(), "plain text");
        }
        // A RemoteError is a std::runtime_error too, as most of the exceptions it stands for are.
        EXPECT_THROW(co_await pool.submit([] { throw CustomError("x"); }), std::runtime_error);
    };
    run_bounded(body());
}

TEST(ProcessPool, ASerializerThatThrowsFailsThatCallOnlyInTheCaller) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        EXPECT_THROW(co_await pool.submit([](Unsendable u) { return u.v; }, Unsendable{}), std::length_error);
        EXPECT_EQ(co_await pool.submit(add, 3, 4), 7);
        EXPECT_EQ(pool.statistics().completed, 1u);
    };
    run_bounded(body());
}

// ---- many jobs -----------------------------------------------------------------------------------------------------

TEST(ProcessPool, TenThousandSmallJobsAllReturnTheirResults) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        std::vector<corio::Task<int>> tasks;
        for (int i = 0; i < 10'000; ++i) tasks.push_back(pool.submit(add, i, i));
        auto out = co_await corio::gather(std::move(tasks));
        EXPECT_EQ(out.size(), 10'000u);
        int wrong = 0;
        for (int i = 0; i < 10'000; ++i) wrong += out[static_cast<std::size_t>(i)] != 2 * i;
        EXPECT_EQ(wrong, 0);
        auto s = pool.statistics();
        EXPECT_EQ(s.completed, 10'000u);
        EXPECT_EQ(s.crashed, 0u);
        EXPECT_EQ(s.started, 2u);
        EXPECT_EQ(s.queued, 0u);
        // A call moved to the other worker at the end may still owe its `skipped` notice for a moment.
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().busy == 0; }));
        co_await pool.close();
    };
    run_bounded(body());
}

TEST(ProcessPool, JobsSpreadOverEveryWorker) {
    auto body = []() -> corio::Task<std::set<int>> {
        corio::ProcessPool pool(2);
        std::vector<corio::Task<int>> tasks;
        for (int i = 0; i < 6; ++i)
            tasks.push_back(pool.submit(
                [](int ms) {
                    sleep_ms(ms);
                    return worker_pid();
                },
                20));
        auto pids = co_await corio::gather(std::move(tasks));
        co_return std::set<int>(pids.begin(), pids.end());
    };
    EXPECT_EQ(run_bounded(body()).size(), 2u);
}

TEST(ProcessPool, AJobWaitingBehindALongOneMovesToAWorkerThatBecameIdle) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        auto slow = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int slow_pid = read_pid(dir.file("started"));
        // One call for the other worker, and one that goes behind the slow call (both workers hold one).
        auto quick = corio::spawn(pool.submit(
            [](int ms) {
                sleep_ms(ms);
                return worker_pid();
            },
            20));
        auto behind = corio::spawn(pool.submit(worker_pid));
        // When the quick one is over, its worker takes the waiting call back from the slow worker's socket.
        int quick_pid = co_await quick;
        EXPECT_NE(quick_pid, slow_pid);
        EXPECT_EQ(co_await behind, quick_pid);
        EXPECT_FALSE(slow.done());
        touch(dir.file("go"));
        EXPECT_EQ(co_await slow, slow_pid);
        EXPECT_EQ(pool.statistics().completed, 3u);
    };
    run_bounded(body());
}

// ---- crashes -------------------------------------------------------------------------------------------------------

TEST(ProcessPool, AWorkerKilledMidJobFailsOnlyThatCallAndIsReplaced) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        auto victim = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("never"), 20'000));
        std::vector<corio::Task<int>> others;  // in flight meanwhile, some of them behind the victim's call
        for (int i = 0; i < 40; ++i)
            others.push_back(pool.submit(
                [](int x) {
                    sleep_ms(1);
                    return x;
                },
                i));
        auto others_done = corio::spawn(corio::gather(std::move(others)));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int pid = read_pid(dir.file("started"));
        if (pid <= 0 || ::kill(pid, SIGKILL) != 0) {
            ADD_FAILURE() << "could not kill the worker " << pid;
            co_return;
        }
        try {
            (void)co_await victim;
            ADD_FAILURE() << "no exception";
        } catch (const corio::WorkerCrashedError& e) {
            EXPECT_EQ(e.pid(), pid);
            EXPECT_EQ(e.signal(), SIGKILL);
            EXPECT_EQ(e.exit_status(), -1);
            EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos) << e.what();
        }
        auto values = co_await others_done;
        for (int i = 0; i < 40; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], i);
        for (int i = 0; i < 100; ++i) EXPECT_EQ(co_await pool.submit(add, i, 1), i + 1);
        // The replacement is started in the background (the other worker served meanwhile).
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().workers == 2; }));
        auto s = pool.statistics();
        EXPECT_EQ(s.crashed, 1u);
        EXPECT_EQ(s.started, 3u);
        auto pids = pool.worker_pids();
        EXPECT_EQ(std::count(pids.begin(), pids.end(), pid), 0);
        EXPECT_FALSE(process_exists(pid));  // reaped: not even a zombie
    };
    run_bounded(body());
}

TEST(ProcessPool, AShortCallsAnswerDoesNotWaitForTheLongCallAfterItInTheSameWorker) {
    // One worker holds `quick` and, right behind it, `slow`: `quick`'s answer must reach its caller while
    // `slow` still runs, not be kept in the worker until `slow` is over.
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        EXPECT_EQ(co_await pool.submit(add, 0, 0), 0);  // warm: its first call touches fresh code pages
        // `first` holds the worker until `quick` and `slow` are both in its socket.
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("first"), dir.file("go first"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("first")); }));
        auto quick = corio::spawn(pool.submit(add, 1, 2));
        auto slow = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        co_await corio::sleep(20ms);
        touch(dir.file("go first"));
        EXPECT_GT(co_await first, 0);
        EXPECT_TRUE(co_await eventually([&] { return quick.done(); }, 3s)) << "its answer waited for `slow`";
        // `slow` ran behind `quick` in that worker (its start may come a moment after `quick`'s answer went out).
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        EXPECT_FALSE(slow.done());
        touch(dir.file("go"));
        EXPECT_EQ(co_await quick, 3);
        EXPECT_GT(co_await slow, 0);
    };
    run_bounded(body());
}

TEST(ProcessPool, AResultNotYetSentWhenTheWorkerDiesIsNotLost) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        EXPECT_EQ(co_await pool.submit(add, 0, 0), 0);  // warm: its first call touches fresh code pages
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        // Both delivered behind the first: the worker finishes `quick`, keeps its answer to send with the next
        // one (it is short and the next call is there), and dies in `fatal`.
        auto quick = corio::spawn(pool.submit(add, 1, 2));
        auto fatal = corio::spawn(pool.submit([] { std::abort(); }));
        co_await corio::sleep(20ms);
        touch(dir.file("go"));
        (void)co_await first;
        EXPECT_EQ(co_await quick, 3);  // read from the shared memory
        EXPECT_THROW(co_await fatal, corio::WorkerCrashedError);
        auto s = pool.statistics();
        EXPECT_EQ(s.completed, 3u);
        EXPECT_EQ(s.crashed, 1u);
    };
    run_bounded(body());
}

TEST(ProcessPool, AJobThatCallsAbortFailsWithSIGABRT) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        try {
            co_await pool.submit([] { std::abort(); });
            ADD_FAILURE() << "no exception";
        } catch (const corio::WorkerCrashedError& e) {
            EXPECT_EQ(e.signal(), SIGABRT);
            EXPECT_NE(std::string(e.what()).find("SIGABRT"), std::string::npos) << e.what();
        }
        EXPECT_EQ(co_await pool.submit(add, 1, 2), 3);
    };
    run_bounded(body());
}

TEST(ProcessPool, WorkersIgnoreSigintSoCtrlCLeavesThePoolToTheProgram) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        int pid = co_await pool.submit(worker_pid);
        ::kill(pid, SIGINT);  // what Ctrl-C at a terminal sends to the whole process group
        EXPECT_EQ(co_await pool.submit(worker_pid), pid) << "the worker died of SIGINT";
        EXPECT_EQ(pool.statistics().crashed, 0u);
    };
    run_bounded(body());
}

TEST(ProcessPool, AJobThatCallsExitFailsWithItsStatus) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        try {
            co_await pool.submit([] { std::exit(3); });
            ADD_FAILURE() << "no exception";
        } catch (const corio::WorkerCrashedError& e) {
            EXPECT_EQ(e.signal(), 0);
            EXPECT_EQ(e.exit_status(), 3);
            EXPECT_NE(std::string(e.what()).find("exited with status 3"), std::string::npos) << e.what();
        }
        EXPECT_EQ(co_await pool.submit(add, 2, 2), 4);
        EXPECT_EQ(pool.statistics().crashed, 1u);
    };
    run_bounded(body());
}

TEST(ProcessPool, WorkersThatDieBeforeTheyAreReadyBreakThePoolAfterThreeTries) {
    ::setenv("CORIO_PP_TEST_WORKER_EXIT", "5", 1);  // read by a static initializer below, in the workers
    struct Unset {  // also when the body fails: the later tests' workers must start
        ~Unset() { ::unsetenv("CORIO_PP_TEST_WORKER_EXIT"); }
    } unset;
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        try {
            co_await pool.submit(add, 1, 1);
            ADD_FAILURE() << "no exception";
        } catch (const corio::WorkerCrashedError& e) {
            EXPECT_EQ(e.exit_status(), 5);
            EXPECT_NE(std::string(e.what()).find("before they are ready"), std::string::npos) << e.what();
        }
        EXPECT_THROW(co_await pool.submit(add, 1, 1), corio::WorkerCrashedError);  // broken for good
        EXPECT_EQ(pool.statistics().started, 3u);
    };
    run_bounded(body());
}

/// True when every child of this process (of any of its threads) has exited: none is still running.
bool no_child_running() {
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        std::ifstream children(task.path() / "children");
        for (int pid; children >> pid;) {
            std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
            std::string line;
            std::getline(stat, line);
            auto close = line.rfind(')');
            if (close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z') return false;
        }
    }
    return true;
}

/// Holds the loop while a child process of this one is still running, first in each of its turns (the
/// spawner's answers are adopted after it), until `done()`: every worker the pool starts meanwhile is dead by
/// the time its reader adopts it, the order epoll's immediate completions allow.
template <class P>
corio::Task<void> hold_loop_while_children_run(P done) {
    for (;;) {
        {
            corio::allow_blocking until_it_is_dead;
            for (int i = 0; i < 2000 && !no_child_running(); ++i) ::usleep(1000);
            if (done()) co_return;
        }
        co_await corio::yield();
    }
}

TEST(ProcessPool, WorkersFoundDeadWhenTheyAreAdoptedStillBreakThePool) {
    // As above, with the loop held up while a worker runs, so that each replacement is dead (end of stream,
    // pidfd readable) by the time its reader adopts it: the reader hands it the job and, under epoll, reaps
    // it in the same step, while the job's task has yet to write its request. After the third, the pool is
    // broken, and that job must fail all the same instead of waiting in the queue for a worker.
    ::setenv("CORIO_PP_TEST_WORKER_EXIT", "5", 1);
    struct Unset {
        ~Unset() { ::unsetenv("CORIO_PP_TEST_WORKER_EXIT"); }
    } unset;
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        auto hog = corio::spawn(hold_loop_while_children_run([] { return false; }));
        try {
            co_await pool.submit(add, 1, 1);
            ADD_FAILURE() << "no exception";
        } catch (const corio::WorkerCrashedError& e) {
            EXPECT_EQ(e.exit_status(), 5);
            EXPECT_NE(std::string(e.what()).find("before they are ready"), std::string::npos) << e.what();
        }
        hog.cancel();
        EXPECT_EQ(pool.statistics().started, 3u);
    };
    corio::run(corio::timeout(5s, body()), {.stall_threshold = std::chrono::milliseconds(0)});
}

// ---- cancellation --------------------------------------------------------------------------------------------------

class ProcessPoolQueued : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ProcessPoolQueued, CancellingAQueuedJobRemovesItAndItNeverRuns) {
    TempDir dir;
    auto body = [&](std::size_t shm) -> corio::Task<void> {
        corio::ProcessPool pool(1, {.shared_memory = shm});
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        // With shared memory the second call is already in the worker's socket; without, in the pool's queue.
        auto second = corio::spawn(pool.submit(mark, dir.file("second ran")));
        co_await corio::sleep(5ms);
        second.cancel();
        EXPECT_THROW(co_await second, corio::CancelledError);
        EXPECT_EQ(pool.statistics().queued, 0u);
        touch(dir.file("go"));
        EXPECT_EQ(co_await first, read_pid(dir.file("started")));  // the same worker: nothing was killed
        EXPECT_EQ(co_await pool.submit(add, 1, 1), 2);              // after the cancelled one, in order
        EXPECT_FALSE(file_exists(dir.file("second ran")));
        auto s = pool.statistics();
        EXPECT_EQ(s.cancelled, 1u);
        EXPECT_EQ(s.started, 1u);
    };
    run_bounded(body(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(SharedMemory, ProcessPoolQueued, ::testing::Values(std::size_t(16) << 20, std::size_t(0)),
                         [](const auto& info) { return info.param ? "on" : "off"; });

TEST(ProcessPool, CancellingARunningJobKillsAndReplacesItsWorker) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        auto h = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("never"), 20'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int pid = read_pid(dir.file("started"));
        auto t0 = std::chrono::steady_clock::now();
        h.cancel();
        EXPECT_THROW(co_await h, corio::CancelledError);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
        EXPECT_NE(co_await pool.submit(worker_pid), pid);  // a new worker
        EXPECT_TRUE(co_await eventually([&] { return !process_exists(pid); }));
        auto s = pool.statistics();
        EXPECT_EQ(s.cancelled, 1u);
        EXPECT_EQ(s.crashed, 0u);
        EXPECT_EQ(s.started, 2u);
    };
    run_bounded(body());
}

// Says it has started, waits for `release`, then fails with std::runtime_error: its answer travels through
// the socket only (an exception is never left in the shared memory).
int announce_wait_and_throw(std::string started, std::string release) {
    announce_and_wait(std::move(started), std::move(release), 10'000);
    throw std::runtime_error("failed on purpose");
}

TEST(ProcessPool, AnAnswerStillInTheSocketWhenAWorkerIsKilledForACancelledCallIsNotLost) {
    // Three calls held by one worker: `first` and `second` answer, then `third` runs and is cancelled, which
    // kills the worker. `second`'s answer (an exception: it is in the socket, not in the shared memory) went
    // out before `third` started, so it must reach its caller. The loop is held up so that the reader has
    // just read `first`'s answer when the kill comes: the reader must go on reading what the worker wrote
    // before it died, not go straight to reaping it and report `second` as crashed.
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("1 started"), dir.file("go 1"), 10'000));
        auto second = corio::spawn(pool.submit(announce_wait_and_throw, dir.file("2 started"), dir.file("go 2")));
        auto third = corio::spawn(pool.submit(announce_and_wait, dir.file("3 started"), dir.file("never"), 20'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("1 started")); }));
        auto wait_for = [](const std::string& path) {
            corio::allow_blocking holding_the_loop;
            for (int i = 0; i < 5000 && !file_exists(path); ++i) ::usleep(1000);
        };
        // `first` answers while the loop is held. This task then yields until a new turn begins: the loop
        // looked at its I/O at the end of the last one, with this task still in line, so the reader's receive
        // has completed with that answer alone and the reader runs after this task's next step.
        touch(dir.file("go 1"));
        wait_for(dir.file("2 started"));
        for (auto turn = corio::loop_statistics().turns; corio::loop_statistics().turns == turn;)
            co_await corio::yield();
        // That next step: `second` answers and `third` starts (the reader has not run), then `third` is
        // cancelled and its worker killed.
        touch(dir.file("go 2"));
        wait_for(dir.file("3 started"));
        third.cancel();
        EXPECT_EQ(co_await first, read_pid(dir.file("1 started")));
        try {
            (void)co_await second;
            ADD_FAILURE() << "no exception";
        } catch (const corio::WorkerCrashedError& e) {  // before the fix
            ADD_FAILURE() << "its answer was lost: " << e.what();
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "failed on purpose");
        }
        EXPECT_THROW((void)co_await third, corio::CancelledError);
        EXPECT_NE(co_await pool.submit(worker_pid), read_pid(dir.file("1 started")));  // replaced
        auto s = pool.statistics();
        EXPECT_EQ(s.crashed, 0u);
        EXPECT_EQ(s.completed, 3u);
        EXPECT_EQ(s.cancelled, 1u);
    };
    run_bounded(body());
}

// Says it has started, waits for `release`, then answers through the socket only: an exception, or a string
// too large for the shared memory's reply area (the pools below have 64 KiB areas).
std::string announce_wait_and_answer_in_the_socket(std::string started, std::string release, bool big) {
    announce_and_wait(std::move(started), std::move(release), 10'000);
    if (!big) throw std::runtime_error("failed on purpose");
    return std::string(96 << 10, 'r');  // more than the reply area, less than the socket takes
}

class ProcessPoolAnsweredInTheSocket : public ::testing::TestWithParam<bool> {};  // a large result, or an exception

TEST_P(ProcessPoolAnsweredInTheSocket, CancellingACallThatHasAnsweredDoesNotKillTheCallRunningAfterIt) {
    // One worker holds `first` and `second`. `first` answers through the socket (its answer is not in the
    // shared memory) and `second` starts; the loop is held so that the answer is not read yet, and `first`
    // is cancelled then. It has finished: its worker must not be killed, or `second`, which nobody
    // cancelled, fails with WorkerCrashedError.
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1, {.shared_memory = 1 << 20});
        auto first = corio::spawn(pool.submit(announce_wait_and_answer_in_the_socket, dir.file("1 started"),
                                              dir.file("go 1"), GetParam()));
        auto second = corio::spawn(pool.submit(announce_and_wait, dir.file("2 started"), dir.file("go 2"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("1 started")); }));
        int pid = read_pid(dir.file("1 started"));
        {
            corio::allow_blocking holding_the_loop;
            touch(dir.file("go 1"));
            for (int i = 0; i < 5000 && !file_exists(dir.file("2 started")); ++i) ::usleep(1000);
        }
        first.cancel();  // its answer is in the socket, not yet read
        touch(dir.file("go 2"));
        EXPECT_THROW((void)co_await first, corio::CancelledError);
        try {
            EXPECT_EQ(co_await second, pid);
        } catch (const corio::WorkerCrashedError& e) {  // before the fix
            ADD_FAILURE() << "a call nobody cancelled failed: " << e.what();
        }
        auto s = pool.statistics();
        EXPECT_EQ(s.crashed, 0u);
        EXPECT_EQ(s.cancelled, 1u);
        EXPECT_EQ(s.started, 1u);
    };
    run_bounded(body());
}

INSTANTIATE_TEST_SUITE_P(Answer, ProcessPoolAnsweredInTheSocket, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "large_result" : "exception"; });

TEST(ProcessPool, WithoutKillOnCancelARunningJobFinishesAndItsResultIsDropped) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1, {.kill_on_cancel = false});
        auto h = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int pid = read_pid(dir.file("started"));
        h.cancel();
        EXPECT_THROW(co_await h, corio::CancelledError);  // at once, while the job still runs
        EXPECT_EQ(pool.statistics().busy, 1u);
        touch(dir.file("go"));
        EXPECT_EQ(co_await pool.submit(worker_pid), pid);  // the same worker, once the job is over
        EXPECT_EQ(pool.statistics().started, 1u);
    };
    run_bounded(body());
}

std::size_t length_and_sum(std::string s) {
    std::size_t sum = 0;
    for (unsigned char c : s) sum += c;
    return s.size() * 1000 + sum % 1000;
}

TEST(ProcessPool, LargeAndSmallCallsSentAtOnceDoNotMixOnTheSocket) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1, {.shared_memory = 1 << 20});  // 64 KiB areas: the large ones go inline
        std::vector<corio::Task<std::size_t>> tasks;
        std::vector<std::size_t> expect;
        for (int i = 0; i < 24; ++i) {
            std::string arg(i % 3 == 0 ? std::size_t(700'000 + i) : std::size_t(10 + i), static_cast<char>('a' + i));
            expect.push_back(length_and_sum(arg));
            tasks.push_back(pool.submit(length_and_sum, std::move(arg)));
        }
        EXPECT_EQ(co_await corio::gather(std::move(tasks)), expect);
        EXPECT_EQ(pool.statistics().started, 1u);
    };
    run_bounded(body());
}

TEST(ProcessPool, CancellingAJobWhoseRequestIsHalfSentRetiresItsWorkerAfterTheCallsBefore) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int pid = read_pid(dir.file("started"));
        // 8 MiB does not fit the shared memory: it goes through the socket, which fills up while the worker
        // is busy with the first call.
        auto big = corio::spawn(pool.submit(length_and_sum, std::string(8 << 20, 'x')));
        co_await corio::sleep(20ms);
        big.cancel();
        EXPECT_THROW((void)co_await big, corio::CancelledError);
        touch(dir.file("go"));
        EXPECT_EQ(co_await first, pid);  // the call before it finishes normally...
        EXPECT_NE(co_await pool.submit(worker_pid), pid);  // ...then the worker is replaced
        EXPECT_EQ(pool.statistics().crashed, 0u);
        EXPECT_EQ(pool.statistics().started, 2u);
    };
    run_bounded(body());
}

TEST(ProcessPool, ACallWaitingToWriteBehindAHalfSentRequestGoesToAnotherWorkerInstead) {
    // As above, with a small call given to the same worker while the large request is being written: it waits
    // for its turn to write. When the large one is cut short, the worker is draining (its stream holds half a
    // request, it will never read a whole one again): the small call must not be written after that half, where
    // the worker never reads it (it would wait for its answer for ever, and so would close()), but go back in
    // line for the worker that replaces this one.
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int pid = read_pid(dir.file("started"));
        auto big = corio::spawn(pool.submit(length_and_sum, std::string(8 << 20, 'x')));
        co_await corio::sleep(20ms);  // the socket is full: the large request is half written
        auto behind = corio::spawn(pool.submit(add, 2, 3));
        co_await corio::sleep(5ms);  // given to the worker (not queued): waiting for its turn to write
        EXPECT_EQ(pool.statistics().queued, 0u);
        big.cancel();
        EXPECT_THROW((void)co_await big, corio::CancelledError);
        touch(dir.file("go"));
        EXPECT_EQ(co_await first, pid);
        if (!co_await eventually([&] { return behind.done(); }, 3s)) {  // hung before the fix
            ADD_FAILURE() << "the call behind the half-sent request never got its answer";
            behind.cancel();
            co_return;
        }
        EXPECT_EQ(co_await behind, 5);
        EXPECT_NE(co_await pool.submit(worker_pid), pid);  // on the replacement
        EXPECT_EQ(pool.statistics().crashed, 0u);
        EXPECT_EQ(pool.statistics().started, 2u);
        co_await pool.close();
    };
    run_bounded(body());
}

// A timeout is a cancellation: the 10 s job is killed with its worker, so the next call is served at once by a
// replacement, not after the job it would otherwise wait behind (the only worker is the one that ran it).
TEST(ProcessPool, TimeoutAroundSubmitCancelsTheJob) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        int pid = co_await pool.submit(worker_pid);  // started and serving
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_THROW(co_await corio::timeout(50ms, pool.submit(sleep_ms, 10'000)), corio::TimeoutError);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
        auto t1 = std::chrono::steady_clock::now();
        EXPECT_EQ(co_await pool.submit(add, 5, 5), 10);
        EXPECT_LT(std::chrono::steady_clock::now() - t1, 2s);  // not behind the 10 s sleep
        EXPECT_NE(co_await pool.submit(worker_pid), pid);        // on a replacement
        EXPECT_TRUE(co_await eventually([&] { return !process_exists(pid); }));
        auto s = pool.statistics();
        EXPECT_EQ(s.cancelled, 1u);
        EXPECT_EQ(s.crashed, 0u);
        EXPECT_EQ(s.started, 2u);  // the first worker and its replacement
        EXPECT_EQ(s.workers, 1u);
    };
    run_bounded(body());
}

TEST(ProcessPool, SubmitWaitsForRoomWhenTheQueueIsFull) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1, {.max_queue = 2, .shared_memory = 0});
        auto a = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("go"), 10'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        std::vector<corio::JoinHandle<int>> more;
        for (int i = 0; i < 4; ++i) more.push_back(corio::spawn(pool.submit(add, i, 100)));
        EXPECT_TRUE(co_await eventually([&] {
            auto s = pool.statistics();
            return s.queued == 2 && s.waiting == 2;
        }));
        more[3].cancel();  // one waiting for room leaves
        EXPECT_THROW(co_await more[3], corio::CancelledError);
        EXPECT_EQ(pool.statistics().waiting, 1u);
        touch(dir.file("go"));
        (void)co_await a;
        for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await more[static_cast<std::size_t>(i)], i + 100);
    };
    run_bounded(body());
}

// ---- lifetime ------------------------------------------------------------------------------------------------------

TEST(ProcessPool, CloseLetsSubmittedJobsFinishThenEndsTheWorkers) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        auto pids = pool.worker_pids();
        std::vector<corio::JoinHandle<int>> jobs;
        for (int i = 0; i < 6; ++i)
            jobs.push_back(corio::spawn(pool.submit(
                [](int x) {
                    sleep_ms(10);
                    return x;
                },
                i)));
        co_await corio::yield();
        co_await pool.close();
        for (int i = 0; i < 6; ++i) EXPECT_EQ(co_await jobs[static_cast<std::size_t>(i)], i);
        for (int pid : pids) EXPECT_FALSE(process_exists(pid)) << pid;  // exited and reaped
        EXPECT_EQ(pool.statistics().workers, 0u);
        EXPECT_THROW(co_await pool.submit(add, 1, 1), corio::ProcessPoolClosedError);
        co_await pool.close();  // again: nothing to do
    };
    run_bounded(body());
}

TEST(ProcessPool, CloseWhileACrashedWorkerIsBeingReplacedLeavesNoProcess) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        EXPECT_THROW(co_await pool.submit([] { std::abort(); }), corio::WorkerCrashedError);
        co_await pool.close();  // the replacement is being started meanwhile: it is ended too
        EXPECT_EQ(pool.statistics().workers, 0u);
    };
    run_bounded(body());
    errno = 0;
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);  // no child left, not even a zombie
    EXPECT_EQ(errno, ECHILD);
}

// close() waits for the jobs submitted before it: a worker that dies meanwhile with a job it had not started
// (in its socket with shared memory, in the pool's queue without) is replaced, and that job runs.
class ProcessPoolClosing : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ProcessPoolClosing, AWorkerThatDiesDuringCloseIsReplacedForTheJobsStillWaiting) {
    TempDir dir;
    auto body = [&](std::size_t shm) -> corio::Task<void> {
        corio::ProcessPool pool(1, {.shared_memory = shm});
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("never"), 20'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        auto second = corio::spawn(pool.submit(mark, dir.file("second ran")));
        co_await corio::sleep(5ms);  // with shared memory, the second call reaches the worker's socket
        auto closing = corio::spawn(pool.close());
        co_await corio::sleep(5ms);  // close() waits for both calls
        int pid = read_pid(dir.file("started"));
        if (pid <= 0 || ::kill(pid, SIGKILL) != 0) {
            ADD_FAILURE() << "could not kill the worker " << pid;
            co_return;
        }
        EXPECT_THROW((void)co_await first, corio::WorkerCrashedError);  // it had started: it fails
        EXPECT_EQ(co_await second, 1);                                  // it had not: a replacement runs it
        co_await closing;
        EXPECT_TRUE(file_exists(dir.file("second ran")));
        auto st = pool.statistics();
        EXPECT_EQ(st.started, 2u);
        EXPECT_EQ(st.workers, 0u);  // and the replacement is ended by the close
        EXPECT_THROW(co_await pool.submit(add, 1, 1), corio::ProcessPoolClosedError);
    };
    run_bounded(body(GetParam()));
    errno = 0;
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);  // no child left, not even a zombie
    EXPECT_EQ(errno, ECHILD);
}

TEST(ProcessPool, AReplacementFoundDeadDuringCloseIsReplacedAgainForTheCallItWasGiven) {
    // As WorkersFoundDeadWhenTheyAreAdoptedStillBreakThePool, during close(): the first replacement dies before
    // it is ready (the marker file makes exactly one worker exit) and is already dead when its reader adopts it
    // and hands it the waiting call. Its reader must start another one for that call, not leave for good
    // because the queue looks empty while the call is still writing its request.
    TempDir dir;
    std::string once = dir.file("die once");
    ::setenv("CORIO_PP_TEST_WORKER_EXIT_ONCE", once.c_str(), 1);
    struct Unset {
        ~Unset() { ::unsetenv("CORIO_PP_TEST_WORKER_EXIT_ONCE"); }
    } unset;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        auto first = corio::spawn(pool.submit(announce_and_wait, dir.file("started"), dir.file("never"), 20'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        auto second = corio::spawn(pool.submit(mark, dir.file("second ran")));
        co_await corio::sleep(5ms);
        auto closing = corio::spawn(pool.close());
        co_await corio::sleep(5ms);
        touch(once);
        // Until the worker that dies of the marker has died.
        auto hog =
            corio::spawn(hold_loop_while_children_run([once] { return !file_exists(once) && no_child_running(); }));
        int pid = read_pid(dir.file("started"));
        if (pid <= 0 || ::kill(pid, SIGKILL) != 0) {
            ADD_FAILURE() << "could not kill the worker " << pid;
            co_return;
        }
        EXPECT_THROW((void)co_await first, corio::WorkerCrashedError);
        EXPECT_EQ(co_await second, 1);
        co_await closing;
        co_await hog;
        EXPECT_FALSE(file_exists(once));  // a worker did die of it
        EXPECT_TRUE(file_exists(dir.file("second ran")));
        EXPECT_EQ(pool.statistics().started, 3u);
    };
    corio::run(corio::timeout(10s, body()), {.stall_threshold = std::chrono::milliseconds(0)});
}

INSTANTIATE_TEST_SUITE_P(SharedMemory, ProcessPoolClosing, ::testing::Values(std::size_t(16) << 20, std::size_t(0)),
                         [](const auto& info) { return info.param ? "on" : "off"; });

TEST(ProcessPool, APoolClosedOrDestroyedBeforeItsFirstJobEndsItsWorkers) {
    std::vector<int> pids;
    auto body = [&]() -> corio::Task<void> {
        {
            corio::ProcessPool pool(2);
            for (int pid : pool.worker_pids()) pids.push_back(pid);
            co_await pool.close();
        }
        {
            corio::ProcessPool pool(1);
            for (int pid : pool.worker_pids()) pids.push_back(pid);
            auto job = corio::spawn(pool.submit(add, 1, 1));  // its reader task has not run yet...
            job.detach();
        }  // ...when the pool is destroyed
        co_await corio::yield();
    };
    corio::run(corio::timeout(20s, body()), {.on_unhandled = [](std::exception_ptr, const std::string&) {}});
    ASSERT_EQ(pids.size(), 3u);
    for (int pid : pids) EXPECT_FALSE(process_exists(pid)) << pid;
}

TEST(ProcessPool, DestroyingThePoolKillsAndReapsItsWorkers) {
    std::vector<int> pids;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        EXPECT_EQ(co_await pool.submit(add, 1, 1), 2);
        pids = pool.worker_pids();
        auto busy = corio::spawn(pool.submit(sleep_ms, 10'000));
        co_await corio::sleep(5ms);
        {
            corio::ProcessPool doomed(1);  // destroyed while its job runs
            auto pending = corio::spawn(doomed.submit(sleep_ms, 10'000));
            co_await corio::sleep(5ms);
            pids.push_back(doomed.worker_pids().at(0));
            busy.cancel();
            EXPECT_THROW(co_await busy, corio::CancelledError);
            pending.detach();  // fails with ProcessPoolClosedError once the pool is gone (reported, not lost)
        }
    };
    corio::run(corio::timeout(20s, body()), {.on_unhandled = [](std::exception_ptr e, const std::string&) {
                                                 EXPECT_THROW(std::rethrow_exception(e), corio::ProcessPoolClosedError);
                                             }});
    ASSERT_EQ(pids.size(), 3u);
    for (int pid : pids) EXPECT_FALSE(process_exists(pid)) << pid;
}

TEST(ProcessPool, APoolOutlivesItsLoopAndServesTheNextOne) {
    int low[2];  // a program whose low descriptor numbers are free: the pool's own must not collide with a
    ASSERT_EQ(::pipe(low), 0);  // worker's fixed ones (3: its socket, 4: its shared memory)
    ::close(low[0]);
    ::close(low[1]);
    corio::ProcessPool pool(2);
    auto one = [&](int x) -> corio::Task<int> { co_return co_await pool.submit(add, x, 1); };
    EXPECT_EQ(run_bounded(one(1)), 2);
    EXPECT_EQ(run_bounded(one(2)), 3);
    std::thread other([&] { EXPECT_EQ(run_bounded(one(3)), 4); });  // another thread's loop, after this one's
    other.join();
    EXPECT_EQ(pool.statistics().started, 2u);
}

TEST(ProcessPool, WorkersOutliveTheThreadThatCreatedThePool) {
    std::unique_ptr<corio::ProcessPool> pool;
    std::thread([&] { pool = std::make_unique<corio::ProcessPool>(1); }).join();
    int pid = pool->worker_pids().at(0);
    std::this_thread::sleep_for(50ms);  // a PR_SET_PDEATHSIG tied to that thread would have struck by now
    auto body = [&]() -> corio::Task<int> { co_return co_await pool->submit(worker_pid); };
    EXPECT_EQ(run_bounded(body()), pid);
    EXPECT_EQ(pool->statistics().started, 1u);
}

TEST(ProcessPool, DescriptorCountIsTheSameBeforeAndAfter) {
    int before = count_fds();
    auto body = []() -> corio::Task<void> {
        {
            corio::ProcessPool pool(2);
            EXPECT_EQ(co_await pool.submit(add, 1, 2), 3);
            EXPECT_THROW(co_await pool.submit([] { std::abort(); }), corio::WorkerCrashedError);  // a replacement
            EXPECT_EQ(co_await pool.submit(add, 2, 2), 4);
            co_await pool.close();
        }
        {
            corio::ProcessPool pool(2, {.shared_memory = 0});
            EXPECT_EQ(co_await pool.submit(add, 1, 2), 3);
        }  // the destructor's way
    };
    run_bounded(body());
    EXPECT_EQ(count_fds(), before);
}

// ---- SharedArray: arguments read in place from the pool's shared heap ----------------------------------------

std::uint64_t checksum(std::span<const unsigned char> data) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
    return h;
}

double sum_doubles(std::span<const double> v) {
    double t = 0;
    for (double x : v) t += x;
    return t;
}

std::uint64_t address_of(std::span<const unsigned char> data) { return reinterpret_cast<std::uintptr_t>(data.data()); }

int write_into(std::span<const unsigned char> data) {
    const_cast<unsigned char*>(data.data())[0] = 1;  // the worker's map is read-only: this kills the worker
    return 0;
}

TEST(ProcessPool, ASharedArrayReachesTheWorkerInPlaceAndWhole) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        auto bytes = pool.shared_array<unsigned char>(256 * 1024);
        EXPECT_EQ(bytes.size(), 256u * 1024);
        EXPECT_TRUE(std::all_of(bytes.begin(), bytes.end(), [](unsigned char c) { return c == 0; }));
        for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 7 + i / 251);
        EXPECT_EQ(co_await pool.submit(checksum, bytes.view()), checksum(bytes.span()));
        // A part of it: elements [1000, 1000 + 5000), and a count past the end is clipped.
        EXPECT_EQ(co_await pool.submit(checksum, bytes.view(1000, 5000)),
                  checksum(std::span<const unsigned char>(bytes.data() + 1000, 5000)));
        EXPECT_EQ(co_await pool.submit(checksum, bytes.view(bytes.size() - 10, 999)),
                  checksum(std::span<const unsigned char>(bytes.data() + bytes.size() - 10, 10)));
        EXPECT_EQ(co_await pool.submit(checksum, bytes.view(bytes.size() + 5)), checksum({}));
        EXPECT_EQ(co_await pool.submit(checksum, corio::SharedArray<unsigned char>().view()), checksum({}));
        // In place: the worker's span points into its map of the heap, where element 1000 lies 1000 bytes after
        // element 0 (a copy would start each call's bytes at the start of its request area); a change made
        // between two calls is seen.
        corio::ProcessPool one(1);
        auto in_one = one.shared_array<unsigned char>(4096);
        auto a0 = co_await one.submit(address_of, in_one.view());
        EXPECT_EQ(co_await one.submit(address_of, in_one.view(1000)), a0 + 1000);
        EXPECT_EQ(co_await one.submit(address_of, in_one.view(3000)), a0 + 3000);
        EXPECT_EQ(co_await one.submit(address_of, in_one.view()), a0);
        bytes[0] ^= 0xff;
        EXPECT_EQ(co_await pool.submit(checksum, bytes.view()), checksum(bytes.span()));

        auto doubles = pool.shared_array<double>(1000);
        for (std::size_t i = 0; i < doubles.size(); ++i) doubles[i] = 0.5 * static_cast<double>(i);
        EXPECT_DOUBLE_EQ(co_await pool.submit(sum_doubles, doubles.view()), 0.5 * 999 * 1000 / 2);
        // The array itself, moved into the call: freed when the call is done.
        EXPECT_DOUBLE_EQ(co_await pool.submit(sum_doubles, std::move(doubles)), 0.5 * 999 * 1000 / 2);
        EXPECT_EQ(doubles.data(), nullptr);
        // A view is a span: the same function runs under to_thread and inline.
        EXPECT_EQ(co_await corio::to_thread(checksum, std::span<const unsigned char>(bytes.view())),
                  checksum(bytes.span()));
    };
    run_bounded(body());
}

TEST(ProcessPool, ManySharedArraysAtOnceEachReachTheirCall) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        std::vector<corio::SharedArray<unsigned char>> arrays;
        std::vector<corio::Task<std::uint64_t>> calls;
        for (int i = 0; i < 200; ++i) {
            arrays.push_back(pool.shared_array<unsigned char>(static_cast<std::size_t>(1 + i * 97)));
            std::memset(arrays.back().data(), i, arrays.back().size());
            calls.push_back(pool.submit(checksum, arrays.back().view()));
        }
        auto sums = co_await corio::gather(std::move(calls));
        for (std::size_t i = 0; i < arrays.size(); ++i) EXPECT_EQ(sums[i], checksum(arrays[i].span())) << i;
    };
    run_bounded(body());
}

TEST(ProcessPool, AWorkerThatWritesIntoASharedArrayDiesAloneAndTheArrayIsUnchanged) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        auto bytes = pool.shared_array<unsigned char>(4096);
        bytes[0] = 42;
        try {
            (void)co_await pool.submit(write_into, bytes.view());
            ADD_FAILURE() << "no exception";
        } catch (const corio::WorkerCrashedError& e) {
            // SIGSEGV; AddressSanitizer's handler reports it and exits with status 1 instead
            EXPECT_TRUE(e.signal() == SIGSEGV || e.exit_status() > 0) << e.what();
        }
        EXPECT_EQ(bytes[0], 42);
        EXPECT_EQ(co_await pool.submit(checksum, bytes.view()), checksum(bytes.span()));  // the replacement maps it too
    };
    run_bounded(body());
}

TEST(ProcessPool, TheSharedHeapReusesFreedBlocksAndSaysWhenItIsFull) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool pool(1, {.shared_heap = 1 << 20});
        {
            std::vector<corio::SharedArray<char>> quarter;
            for (int i = 0; i < 4; ++i) quarter.push_back(pool.shared_array<char>(256 * 1024));
            try {
                (void)pool.shared_array<char>(1);
                ADD_FAILURE() << "no exception";
            } catch (const corio::SharedHeapFullError& e) {
                EXPECT_NE(std::string(e.what()).find("shared_heap"), std::string::npos) << e.what();
            }
            // Freeing the two middle blocks makes room for one of half the heap (neighbours join).
            quarter[1] = {};
            quarter[2] = {};
            auto half = pool.shared_array<char>(512 * 1024);
            EXPECT_EQ(half.data(), quarter[0].data() + 256 * 1024);
            half[0] = 'x';
            EXPECT_EQ(co_await pool.submit([](std::span<const char> s) { return s[0]; }, half.view()), 'x');
        }
        auto whole = pool.shared_array<char>(1 << 20);  // everything was given back
        EXPECT_TRUE(std::all_of(whole.begin(), whole.end(), [](char c) { return c == 0; }));  // zero-filled again
        EXPECT_THROW((void)pool.shared_array<char>(std::size_t(1) << 62), corio::SharedHeapFullError);

        corio::ProcessPool none(1, {.shared_heap = 0});
        EXPECT_THROW((void)none.shared_array<char>(10), corio::SharedHeapFullError);
    };
    run_bounded(body());
}

// Says it has started, then reads `data` over and over until `release` exists (at most 10 s), and once more
// after that; writes to `report` (atomically) whether every byte was `expected` each time.
int watch_bytes(std::span<const unsigned char> data, unsigned char expected, std::string started,
                std::string release, std::string report) {
    touch(started);
    auto same = [&] { return std::all_of(data.begin(), data.end(), [&](unsigned char c) { return c == expected; }); };
    auto deadline = std::chrono::steady_clock::now() + 10s;
    bool unchanged = same();
    while (unchanged && !file_exists(release) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
        unchanged = same();
    }
    unchanged = unchanged && same();  // what the parent wrote before `release` is seen now
    std::string tmp = report + ".tmp";
    std::ofstream(tmp) << (unchanged ? "unchanged" : "changed");
    std::rename(tmp.c_str(), report.c_str());
    return 0;
}

std::string read_word(const std::string& path) {
    corio::allow_blocking small_file;
    std::ifstream f(path);
    std::string word;
    f >> word;
    return word;
}

class ProcessPoolCancelledReader : public ::testing::TestWithParam<bool> {};  // the array moved into the call

TEST_P(ProcessPoolCancelledReader, TheBlockOfACancelledCallStillRunningIsNotReusedUntilTheCallEnds) {
    // Without kill_on_cancel a cancelled call runs on in its worker, reading its array in place. The array is
    // freed as the cancelled submit() completes (moved into the call), or may be by its owner then (a view);
    // either way its block must not go to another array while the worker reads it. Blocks are handed out
    // first fit: an array of the same size made next would get that very block.
    TempDir dir;
    auto body = [&](bool moved) -> corio::Task<void> {
        constexpr std::size_t k_size = 1 << 20;
        corio::ProcessPool pool(1, {.kill_on_cancel = false, .shared_heap = 2 * k_size});
        auto bytes = pool.shared_array<unsigned char>(k_size);
        std::memset(bytes.data(), 0xaa, k_size);
        auto pattern = static_cast<unsigned char>(0xaa);
        auto call = moved ? pool.submit(watch_bytes, std::move(bytes), pattern, dir.file("started"), dir.file("go"),
                                        dir.file("report"))
                          : pool.submit(watch_bytes, bytes.view(), pattern, dir.file("started"), dir.file("go"),
                                        dir.file("report"));
        auto h = corio::spawn(std::move(call));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int pid = pool.worker_pids().at(0);
        h.cancel();
        EXPECT_THROW((void)co_await h, corio::CancelledError);  // at once, while the call still runs
        bytes = {};                                              // its owner is done with it (a view)
        auto other = pool.shared_array<unsigned char>(k_size);
        std::memset(other.data(), 0xbb, k_size);
        touch(dir.file("go"));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("report")); }));
        EXPECT_EQ(read_word(dir.file("report")), "unchanged");
        // Once the call has answered, its block is free again: with `other` gone the whole heap is.
        EXPECT_TRUE(co_await eventually([&] { return pool.statistics().busy == 0; }));
        other = {};
        EXPECT_NO_THROW((void)pool.shared_array<unsigned char>(2 * k_size));
        EXPECT_EQ(co_await pool.submit(worker_pid), pid);
        auto s = pool.statistics();
        EXPECT_EQ(s.cancelled, 1u);
        EXPECT_EQ(s.started, 1u);
    };
    run_bounded(body(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Array, ProcessPoolCancelledReader, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "moved" : "view"; });

TEST(ProcessPool, TheBlockKeptForACancelledCallIsFreedWhenItsWorkerDies) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        constexpr std::size_t k_size = 1 << 20;
        corio::ProcessPool pool(1, {.kill_on_cancel = false, .shared_heap = 2 * k_size});
        auto bytes = pool.shared_array<unsigned char>(k_size);
        auto h = corio::spawn(pool.submit(watch_bytes, std::move(bytes), static_cast<unsigned char>(0),
                                          dir.file("started"), dir.file("never"), dir.file("report")));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir.file("started")); }));
        int pid = pool.worker_pids().at(0);
        h.cancel();
        EXPECT_THROW((void)co_await h, corio::CancelledError);
        ::kill(pid, SIGKILL);
        EXPECT_TRUE(co_await eventually([&] { return !process_exists(pid); }));  // reaped by the pool
        EXPECT_NO_THROW((void)pool.shared_array<unsigned char>(2 * k_size));
        EXPECT_NE(co_await pool.submit(worker_pid), pid);
        EXPECT_EQ(pool.statistics().crashed, 0u);
    };
    run_bounded(body());
}

TEST(ProcessPool, AViewOfAnotherPoolsArrayFailsThatCallWithSerializationError) {
    auto body = []() -> corio::Task<void> {
        corio::ProcessPool a(1), b(1);
        auto bytes = a.shared_array<unsigned char>(100);
        EXPECT_THROW((void)co_await b.submit(checksum, bytes.view()), corio::SerializationError);
        EXPECT_EQ(co_await b.submit(add, 1, 2), 3);
        EXPECT_EQ(co_await a.submit(checksum, bytes.view()), checksum(bytes.span()));
    };
    run_bounded(body());
}

TEST(ProcessPool, ASharedArrayOutlivesItsPoolAndNoDescriptorIsLeft) {
    int before = count_fds();
    std::optional<corio::SharedArray<int>> kept;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(1);
        kept = pool.shared_array<int>(1000);
        (*kept)[999] = 7;
        EXPECT_EQ(co_await pool.submit([](std::span<const int> s) { return s[999]; }, kept->view()), 7);
    };
    run_bounded(body());
    EXPECT_EQ((*kept)[999], 7);  // still mapped: the array holds the heap
    kept.reset();
    EXPECT_EQ(count_fds(), before);
}

// Every descriptor the pool opens (its ends of the workers' sockets, their pidfds, their shared memory, the
// shared heap; and the loop's own) is close-on-exec: a program that starts another one while the pool is
// alive (posix_spawn, std::system) must not leak them into it, where a socket end kept open would hide a
// dead pool from its workers and the shared memory would stay mapped.
TEST(ProcessPool, EveryDescriptorThePoolOpensIsCloseOnExec) {
    std::set<int> before = open_fds();
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        EXPECT_EQ(co_await pool.submit(add, 1, 2), 3);
        auto bytes = pool.shared_array<unsigned char>(4096);
        EXPECT_EQ(co_await pool.submit(checksum, bytes.view()), checksum(bytes.span()));
        EXPECT_THROW(co_await pool.submit([] { std::abort(); }), corio::WorkerCrashedError);  // a replacement
        EXPECT_EQ(co_await pool.submit(add, 2, 2), 4);
        corio::ProcessPool without_shm(1, {.shared_memory = 0});
        EXPECT_EQ(co_await without_shm.submit(add, 3, 3), 6);
        std::set<int> now = open_fds();
        std::size_t added = 0;
        for (int fd : now) {
            if (before.count(fd)) {
                continue;
            }
            ++added;
            int flags = ::fcntl(fd, F_GETFD);
            char target[256] = {};
            std::string link = "/proc/self/fd/" + std::to_string(fd);
            (void)::readlink(link.c_str(), target, sizeof target - 1);
            EXPECT_GE(flags, 0) << "fd " << fd << " (" << target << ")";
            EXPECT_TRUE(flags >= 0 && (flags & FD_CLOEXEC)) << "fd " << fd << " (" << target << ") lacks FD_CLOEXEC";
        }
        EXPECT_GE(added, 3u * 2 + 2);  // a socket and a pidfd per worker (3), a shared heap per pool (2), at least
    };
    run_bounded(body());
}

TEST(ProcessPool, WorkersSeeGlobalsOfLibrariesLinkedAfterCorio) {
    // GoogleTest's flags are globals built by a static initializer of libgtest.a, which comes after corio's
    // offload library on the link line: a worker runs the initializers after its own before serving.
    auto body = []() -> corio::Task<std::string> {
        corio::ProcessPool pool(1);
        co_return co_await pool.submit([] { return std::string(GTEST_FLAG_GET(death_test_style)); });
    };
    EXPECT_EQ(run_bounded(body()), GTEST_FLAG_GET(death_test_style));
}

TEST(ProcessPool, APoolWorksInAProgramThatAlsoUsesToThread) {
    TempDir dir;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        std::vector<corio::Task<int>> mixed;
        for (int i = 0; i < 50; ++i) {
            mixed.push_back(corio::to_thread([](int x) { return x * 3; }, i));
            mixed.push_back(pool.submit(add, i, i));
        }
        auto out = co_await corio::gather(std::move(mixed));
        for (int i = 0; i < 50; ++i) {
            EXPECT_EQ(out[static_cast<std::size_t>(2 * i)], 3 * i);
            EXPECT_EQ(out[static_cast<std::size_t>(2 * i + 1)], 2 * i);
        }
        // A replacement started while the thread pool's threads exist (a spawn, never a fork).
        EXPECT_THROW(co_await pool.submit([] { std::abort(); }), corio::WorkerCrashedError);
        EXPECT_EQ(co_await corio::to_thread([] { return 1; }) + co_await pool.submit(add, 1, 1), 3);
    };
    run_bounded(body(), {.threads = 4});
}

// The other half of ParentExitingLeavesNoWorkerBehind, run in a child process: it starts a pool, keeps one
// worker busy, writes both worker pids to the pipe in CORIO_PP_TEST_PIPE, and _exits without cleaning up.
TEST(ProcessPoolChild, DISABLED_StartsAPoolThenExits) {
    const char* fd_text = std::getenv("CORIO_PP_TEST_PIPE");
    const char* dir_text = std::getenv("CORIO_PP_TEST_DIR");
    ASSERT_NE(fd_text, nullptr);
    ASSERT_NE(dir_text, nullptr);
    int fd = std::atoi(fd_text);
    std::string dir = dir_text;
    auto body = [&]() -> corio::Task<void> {
        corio::ProcessPool pool(2);
        auto busy = corio::spawn(pool.submit(announce_and_wait, dir + "/started", dir + "/never", 30'000));
        EXPECT_TRUE(co_await eventually([&] { return file_exists(dir + "/started"); }));
        auto pids = pool.worker_pids();
        std::string line = std::to_string(pids.at(0)) + " " + std::to_string(pids.at(1)) + "\n";
        corio::allow_blocking to_the_test;
        (void)!::write(fd, line.data(), line.size());
        ::_exit(0);
    };
    run_bounded(body());
}

TEST(ProcessPool, ParentExitingLeavesNoWorkerBehind) {
    // Orphans come to this process (a subreaper), so that it can see them end and reap them.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    TempDir dir;
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawn_file_actions_adddup2(&fa, p[1], 3);
    pid_t child = spawn_child_test("ProcessPoolChild.DISABLED_StartsAPoolThenExits",
                                   {"CORIO_PP_TEST_PIPE=3", "CORIO_PP_TEST_DIR=" + dir.path}, fa);
    ::posix_spawn_file_actions_destroy(&fa);
    ::close(p[1]);
    ASSERT_GT(child, 0);

    std::string line;
    pollfd pfd{p[0], POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + 20s;
    char buf[128];
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        if (::poll(&pfd, 1, 100) <= 0) continue;
        ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(p[0]);
    int status = 0;
    EXPECT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    int a = 0, b = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%d %d", &a, &b), 2) << "the child said: " << line;
    for (int pid : {a, b}) {  // the idle one sees its socket close, the busy one gets PDEATHSIG
        bool gone = reaped_within(pid, 5000);
        EXPECT_TRUE(gone) << "worker " << pid << " outlived its parent";
        if (!gone) ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
    }
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// The program's global pool, made by a static initializer (only in the child process of
// AGlobalPoolIsBuiltInEachWorkerWithoutStartingWorkersThere): each worker builds it again, idle.
std::unique_ptr<corio::ProcessPool> g_global_pool = [] {
    return std::getenv("CORIO_PP_TEST_GLOBAL_POOL") ? std::make_unique<corio::ProcessPool>(2) : nullptr;
}();

std::size_t global_pool_workers_seen_here() { return g_global_pool ? g_global_pool->worker_pids().size() : 99; }

TEST(ProcessPoolChild, DISABLED_UsesAGlobalPool) {
    ASSERT_NE(g_global_pool, nullptr);
    auto body = []() -> corio::Task<void> {
        EXPECT_EQ(g_global_pool->worker_pids().size(), 2u);
        EXPECT_EQ(co_await g_global_pool->submit(add, 2, 3), 5);
        EXPECT_EQ(co_await g_global_pool->submit(global_pool_workers_seen_here), 0u);  // idle in the worker
        EXPECT_EQ(g_global_pool->statistics().started, 2u);
        co_await g_global_pool->close();
    };
    run_bounded(body());
    if (::testing::Test::HasFailure()) ::_exit(1);
}

TEST(ProcessPool, AGlobalPoolIsBuiltInEachWorkerWithoutStartingWorkersThere) {
    posix_spawn_file_actions_t fa;
    ::posix_spawn_file_actions_init(&fa);
    pid_t child = spawn_child_test("ProcessPoolChild.DISABLED_UsesAGlobalPool", {"CORIO_PP_TEST_GLOBAL_POOL=1"}, fa);
    ::posix_spawn_file_actions_destroy(&fa);
    ASSERT_GT(child, 0);
    int status = 0;
    bool ended = reaped_within(child, 30'000, &status);
    if (!ended) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
    }
    EXPECT_TRUE(ended && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(ProcessPool, ZeroWorkersThrowsInvalidArgument) {
    EXPECT_THROW(corio::ProcessPool(0), std::invalid_argument);
}

TEST(ProcessPool, TheDefaultPoolHasAWorkerPerUsableCpu) {
    corio::ProcessPool pool;
    EXPECT_EQ(pool.size(), corio_test::cpus_allowed());
    EXPECT_EQ(pool.worker_pids().size(), pool.size());
}

}  // namespace

// Makes the workers of WorkersThatDieBeforeTheyAreReadyBreakThePoolAfterThreeTries exit during static
// initialization (the test process itself has long passed this point when it sets the variable).
[[maybe_unused]] static const int g_exit_in_static_init = [] {
    if (const char* v = std::getenv("CORIO_PP_TEST_WORKER_EXIT")) ::_exit(std::atoi(v));
    // ...and of AReplacementFoundDeadDuringCloseIsReplacedAgainForTheCallItWasGiven: only the worker that
    // removes the marker file.
    if (const char* once = std::getenv("CORIO_PP_TEST_WORKER_EXIT_ONCE"); once && ::unlink(once) == 0) ::_exit(5);
    return 0;
}();
