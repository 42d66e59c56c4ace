#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include "support/test_support.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
namespace fs = corio::fs;

namespace {

std::string pattern(std::size_t n, unsigned seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4093 + seed) % 251);
    return s;
}

// The file's bytes, read with plain POSIX calls: the oracle the tests check corio against.
std::string slurp(const std::string& path) {
    std::string out;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "<cannot open>";
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
}

void spit(const std::string& path, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
}

std::set<std::string> list_dir(const std::string& dir) {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

std::span<std::byte> bytes_of(std::string& s) { return std::as_writable_bytes(std::span(s.data(), s.size())); }

bool uring_available() {
    static const bool ok = [] {
        try {
            corio::run([]() -> corio::Task<void> { co_return; }(), {.backend = corio::Backend::io_uring});
            return true;
        } catch (const corio::Error&) {
            return false;
        }
    }();
    return ok;
}

// Every test runs under both backends: io_uring (kernel operations) and epoll (the thread pool).
class FsFile : public ::testing::TestWithParam<corio::Backend> {
protected:
    void SetUp() override {
        if (GetParam() == corio::Backend::io_uring && !uring_available()) GTEST_SKIP() << "io_uring unavailable";
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/corio_fs_test_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
        m_dir = tmpl;
    }
    void TearDown() override {
        if (m_dir.empty()) return;
        std::error_code ec;
        std::filesystem::permissions(m_dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(m_dir, ec);
    }

    std::string path(const std::string& name) const { return m_dir + "/" + name; }

    // Runs `body` on a loop with the backend under test (and checks that the loop really uses it).
    void run(corio::Task<void> body) {
        auto checked = [](corio::Backend want, corio::Task<void> inner) -> corio::Task<void> {
            EXPECT_EQ(corio::current_backend(), want);
            co_await std::move(inner);
        };
        corio_test::run_bounded(checked(GetParam(), std::move(body)), {.backend = GetParam()});
    }

    std::string m_dir;
};

INSTANTIATE_TEST_SUITE_P(Backends, FsFile, ::testing::Values(corio::Backend::io_uring, corio::Backend::epoll),
                         [](const auto& info) { return info.param == corio::Backend::epoll ? "epoll" : "io_uring"; });

// ---- whole files ---------------------------------------------------------------------------------------------

TEST_P(FsFile, WriteFileThenReadFileRoundTrips) {
    std::string p = path("a.bin");
    std::string data = std::string("hello\0world\n", 12) + pattern(300);
    run([](std::string p, std::string data) -> corio::Task<void> {
        co_await fs::write_file(p, data);
        EXPECT_EQ(co_await fs::read_file(p), data);
        co_await fs::write_file(p, "short");  // truncates what was there
        EXPECT_EQ(co_await fs::read_file(p), "short");
        co_await fs::write_file(p, "");
        EXPECT_EQ(co_await fs::read_file(p), "");
    }(p, data));
    EXPECT_EQ(slurp(p), "");
}

TEST_P(FsFile, AFileOfManyMegabytesRoundTripsWithItsPatternIntact) {
    // Not a multiple of the page size nor of read_file's chunk (8 MiB): the file spans thousands of pages.
    std::string p = path("big.bin");
    std::string data = pattern((19u << 20) + 123);
    run([](std::string p, const std::string* data) -> corio::Task<void> {
        co_await fs::write_file(p, *data, {.fsync = true});
        std::string back = co_await fs::read_file(p);
        EXPECT_EQ(back.size(), data->size());
        EXPECT_TRUE(back == *data);

        // The same through a File, in 1 MiB blocks that do not line up with the end.
        auto f = co_await fs::File::open(p, "r");
        EXPECT_EQ(co_await f.size(), data->size());
        std::string block(1 << 20, '\0');
        std::uint64_t off = 0;
        bool same = true;
        for (;;) {
            std::size_t n = co_await f.read_at(bytes_of(block), off);
            if (n == 0) break;
            same = same && std::string_view(block.data(), n) == std::string_view(*data).substr(off, n);
            off += n;
        }
        EXPECT_TRUE(same);
        EXPECT_EQ(off, data->size());
        co_await f.close();
    }(p, &data));
    EXPECT_TRUE(slurp(p) == data);  // what reached the file, read without corio
}

TEST_P(FsFile, ReadFileReadsAFileWrittenByOthers) {
    std::string p = path("other.txt");
    std::string data = pattern(5000, 7);
    spit(p, data);
    run([](std::string p, std::string data) -> corio::Task<void> { EXPECT_EQ(co_await fs::read_file(p), data); }(
        p, data));
}

TEST_P(FsFile, AFileThatIsNotInThePageCacheIsReadFromTheDevice) {
    // Under epoll a cached block is copied on the loop thread; one that is not goes to the thread pool.
    std::string p = path("cold.bin");
    std::string data = pattern(6u << 20, 13);
    spit(p, data);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fdatasync(fd), 0);  // clean pages can be dropped
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
    run([](std::string p, const std::string* data) -> corio::Task<void> {
        auto jobs = corio::default_thread_pool().statistics().completed;
        std::string back = co_await fs::read_file(p);
        EXPECT_TRUE(back == *data);
        if (corio::current_backend() == corio::Backend::epoll) {
            EXPECT_GT(corio::default_thread_pool().statistics().completed, jobs + 1);  // more than the fstat
        }
    }(p, &data));
}

TEST_P(FsFile, ReadFileReadsProcFilesWhoseSizeIsZero) {
    struct stat st{};
    ASSERT_EQ(::stat("/proc/self/status", &st), 0);
    ASSERT_EQ(st.st_size, 0);
    run([]() -> corio::Task<void> {
        std::string s = co_await fs::read_file("/proc/self/status");
        EXPECT_NE(s.find("Name:"), std::string::npos);
        EXPECT_NE(s.find("VmPeak:"), std::string::npos);  // further down: more than the first read's worth
        EXPECT_EQ(s.back(), '\n');
    }());
}

TEST_P(FsFile, ReadFileReadsAPipeToItsEndWhateverItsLength) {
    // A FIFO has no size: the buffer grows past its first 64 KiB as data arrives.
    std::string p = path("fifo");
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    std::string data = pattern(300'000, 3);
    std::thread writer([p, data] {
        int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);  // waits for the reader
        if (fd < 0) return;
        for (std::size_t done = 0; done < data.size();) {
            ssize_t n = ::write(fd, data.data() + done, std::min<std::size_t>(7000, data.size() - done));
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        ::close(fd);
    });
    std::string got;
    run([](std::string p, std::string* got) -> corio::Task<void> { *got = co_await fs::read_file(p); }(p, &got));
    writer.join();
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
}

TEST_P(FsFile, AtomicWriteReplacesTheFileAndLeavesNoTemporaryFile) {
    std::string p = path("state.json");
    spit(p, "old");
    run([](std::string p) -> corio::Task<void> {
        co_await fs::write_file(p, "new content", {.atomic = true});
        EXPECT_EQ(co_await fs::read_file(p), "new content");
        co_await fs::write_file(p + ".fresh", "created", {.atomic = true, .mode = 0600});  // a new file
    }(p));
    EXPECT_EQ(slurp(p), "new content");
    EXPECT_EQ(slurp(p + ".fresh"), "created");
    EXPECT_EQ(list_dir(m_dir), (std::set<std::string>{"state.json", "state.json.fresh"}));
    struct stat st{};
    ASSERT_EQ(::stat((p + ".fresh").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_P(FsFile, AtomicWriteOfABareNameUsesTheWorkingDirectory) {
    auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(m_dir);
    run([]() -> corio::Task<void> {
        co_await fs::write_file("bare.txt", "x", {.atomic = true});
        EXPECT_EQ(co_await fs::read_file("bare.txt"), "x");
    }());
    std::filesystem::current_path(cwd);
    EXPECT_EQ(list_dir(m_dir), std::set<std::string>{"bare.txt"});
}

TEST_P(FsFile, AtomicWriteThatFailsLeavesTheTargetAndNoTemporaryFile) {
    // rename(2) cannot put a file over a non-empty directory: the write fails after the temporary is complete.
    std::string p = path("target");
    ASSERT_EQ(::mkdir(p.c_str(), 0755), 0);
    spit(p + "/inside", "keep");
    run([](std::string p) -> corio::Task<void> {
        int code = 0;
        std::string op;
        try {
            co_await fs::write_file(p, "data", {.atomic = true});
        } catch (const fs::FileError& e) {
            code = e.code();
            op = e.operation();
            EXPECT_EQ(e.path(), p);
        }
        EXPECT_EQ(op, "rename");
        EXPECT_EQ(code, EISDIR);
    }(p));
    EXPECT_EQ(list_dir(m_dir), std::set<std::string>{"target"});
    EXPECT_EQ(slurp(p + "/inside"), "keep");
}

constexpr std::size_t k_size = 256 << 10;

TEST_P(FsFile, ReadersOfAnAtomicallyReplacedFileSeeTheOldOrTheNewContentNeverAMix) {
    std::string p = path("swap.bin");
    spit(p, std::string(k_size, 'A'));
    run([](std::string p) -> corio::Task<void> {
        bool writing = true;
        auto reader = corio::spawn([](std::string p, const bool* writing) -> corio::Task<int> {
            int reads = 0;
            while (*writing || reads == 0) {
                std::string s = co_await fs::read_file(p);
                EXPECT_EQ(s.size(), k_size);
                EXPECT_TRUE(!s.empty() && s.find_first_not_of(s[0]) == std::string::npos) << "a mixed file";
                ++reads;
            }
            co_return reads;
        }(p, &writing));
        for (char c = 'B'; c <= 'K'; ++c) co_await fs::write_file(p, std::string(k_size, c), {.atomic = true});
        writing = false;
        EXPECT_GT(co_await reader, 0);
        EXPECT_EQ(co_await fs::read_file(p), std::string(k_size, 'K'));
    }(p));
    EXPECT_EQ(list_dir(m_dir), std::set<std::string>{"swap.bin"});
}

// ---- File ------------------------------------------------------------------------------------------------------

TEST_P(FsFile, ReadAtReturnsAShortCountAtTheEndAndZeroPastIt) {
    std::string p = path("short.bin");
    std::string data = pattern(10000);
    spit(p, data);
    run([](std::string p, std::string data) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, "r");
        std::string buf(4096, '\0');
        EXPECT_EQ(co_await f.read_at(bytes_of(buf), 0), 4096u);
        EXPECT_EQ(buf, data.substr(0, 4096));
        EXPECT_EQ(co_await f.read_at(bytes_of(buf), 8192), 10000u - 8192u);
        EXPECT_EQ(buf.substr(0, 10000 - 8192), data.substr(8192));
        EXPECT_EQ(co_await f.read_at(bytes_of(buf), 10000), 0u);
        EXPECT_EQ(co_await f.read_at(bytes_of(buf), 1ull << 40), 0u);
        EXPECT_EQ(co_await f.read_at({}, 0), 0u);
    }(p, data));
}

TEST_P(FsFile, ReadAndWriteUseAndAdvanceTheFilePosition) {
    std::string p = path("pos.txt");
    run([](std::string p) -> corio::Task<void> {
        {
            auto f = co_await fs::File::open(p, "w+");
            co_await f.write("abc");
            co_await f.write(std::string_view("def"));
            std::string all(16, '\0');
            EXPECT_EQ(co_await f.read_at(bytes_of(all), 0), 6u);
            EXPECT_EQ(all.substr(0, 6), "abcdef");
            co_await f.close();
        }
        auto f = co_await fs::File::open(p, "r");
        std::string buf(4, '\0');
        EXPECT_EQ(co_await f.read(bytes_of(buf)), 4u);
        EXPECT_EQ(buf, "abcd");
        EXPECT_EQ(co_await f.read(bytes_of(buf)), 2u);
        EXPECT_EQ(buf.substr(0, 2), "ef");
        EXPECT_EQ(co_await f.read(bytes_of(buf)), 0u);
    }(p));
}

TEST_P(FsFile, AppendModeWritesAtTheEndWhateverTheOffset) {
    std::string p = path("log.txt");
    spit(p, "one");
    run([](std::string p) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, "a");
        co_await f.write("two");
        co_await f.write_at("three", 0);  // O_APPEND: the offset is ignored
        co_await f.close();
    }(p));
    EXPECT_EQ(slurp(p), "onetwothree");
}

TEST_P(FsFile, WriteAtPastTheEndLeavesAHoleOfZeros) {
    std::string p = path("sparse.bin");
    run([](std::string p) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, {.read = true, .write = true, .create = true});
        co_await f.write_at("x", 3u << 20);
        EXPECT_EQ(co_await f.size(), (3u << 20) + 1);
        std::string buf(8, 'q');
        EXPECT_EQ(co_await f.read_at(bytes_of(buf), (3u << 20) - 7), 8u);
        EXPECT_EQ(buf, std::string(7, '\0') + "x");
        co_await f.fsync();
        co_await f.fsync(true);
        co_await f.close();
    }(p));
    EXPECT_EQ(std::filesystem::file_size(p), (3u << 20) + 1);
}

TEST_P(FsFile, ManyReadsInFlightOnOneFileEachGetTheirOwnBytes) {
    std::string p = path("par.bin");
    std::string data = pattern(8u << 20, 11);
    spit(p, data);
    run([](std::string p, const std::string* data) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, "r");
        constexpr std::size_t k_block = 1 << 20;
        std::vector<std::string> bufs(8, std::string(k_block, '\0'));
        std::vector<corio::Task<std::size_t>> reads;
        for (std::size_t i = 0; i < bufs.size(); ++i) reads.push_back(f.read_at(bytes_of(bufs[i]), (7 - i) * k_block));
        auto counts = co_await corio::gather(std::move(reads));
        for (std::size_t i = 0; i < bufs.size(); ++i) {
            EXPECT_EQ(counts[i], k_block);
            EXPECT_TRUE(bufs[i] == data->substr((7 - i) * k_block, k_block)) << "block " << i;
        }
    }(p, &data));
}

TEST_P(FsFile, AMovedFileIsClosedOnceByItsLastOwner) {
    std::string p = path("move.txt");
    spit(p, "m");
    int fd = -1;
    run([](std::string p, int* fd) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, "r");
        *fd = f.fd();
        fs::File g = std::move(f);
        EXPECT_FALSE(f.is_open());
        EXPECT_TRUE(g.is_open());
        EXPECT_EQ(g.path(), p);
        co_await f.close();  // not open: nothing to do
        std::string b(1, '\0');
        EXPECT_EQ(co_await g.read_at(bytes_of(b), 0), 1u);
        EXPECT_GE(::fcntl(*fd, F_GETFD), 0);
    }(p, &fd));
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // the destructor closed it
}

TEST_P(FsFile, AFileClosedOrDestroyedWhileAReadIsInFlightLetsTheReadFinishThenClosesIt) {
    // Before: the read's next system call used the freed File (heap-use-after-free under ASan) or, once
    // closed, a descriptor number another open may have reused. A FIFO makes the read short, then wait.
    std::string p = path("fifo");
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0) << std::strerror(errno);
    int writer = ::open(p.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);  // opening for reading then does not wait
    ASSERT_GE(writer, 0) << std::strerror(errno);
    for (bool destroy : {true, false}) {
        std::string got;
        run([](std::string p, int writer, bool destroy, std::string* got) -> corio::Task<void> {
            auto f = std::make_unique<fs::File>(co_await fs::File::open(p, "r"));
            int fd = f->fd();
            std::string buf(10, '\0');
            auto reader = corio::spawn([](fs::File& file, std::string& b) -> corio::Task<std::size_t> {
                co_return co_await file.read(bytes_of(b));
            }(*f, buf));
            co_await corio::sleep(20ms);  // the read waits: the FIFO is empty
            if (destroy) {
                f.reset();
            } else {
                co_await f->close();
                EXPECT_FALSE(f->is_open());
            }
            EXPECT_GE(::fcntl(fd, F_GETFD), 0);  // still open: the read holds it
            EXPECT_EQ(::write(writer, "abcd", 4), 4);  // a short read: the read goes on for the rest
            co_await corio::sleep(20ms);
            EXPECT_EQ(::write(writer, "efghij", 6), 6);
            EXPECT_EQ(co_await reader, 10u);
            *got = buf;
            EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // the read, the last user, closed it
        }(p, writer, destroy, &got));
        EXPECT_EQ(got, "abcdefghij") << (destroy ? "destroyed" : "closed");
    }
    ::close(writer);
}

TEST_P(FsFile, OperationsOnAClosedFileRaiseEbadf) {
    std::string p = path("closed.txt");
    spit(p, "c");
    run([](std::string p) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, "r");
        co_await f.close();
        co_await f.close();
        std::string b(1, '\0');
        int codes = 0;
        try {
            (void)co_await f.read_at(bytes_of(b), 0);
        } catch (const fs::FileError& e) {
            codes += e.code() == EBADF && e.operation() == "read";
        }
        try {
            co_await f.write("x");
        } catch (const fs::FileError& e) {
            codes += e.code() == EBADF && e.operation() == "write";
        }
        try {
            (void)co_await f.size();
        } catch (const fs::FileError& e) {
            codes += e.code() == EBADF;
        }
        EXPECT_EQ(codes, 3);
    }(p));
}

// ---- errors --------------------------------------------------------------------------------------------------

TEST_P(FsFile, AMissingFileRaisesFileErrorNamingThePathAndTheReason) {
    std::string p = path("missing/nope.txt");
    run([](std::string p) -> corio::Task<void> {
        try {
            (void)co_await fs::read_file(p);
            ADD_FAILURE() << "no error";
        } catch (const fs::FileError& e) {
            EXPECT_EQ(e.code(), ENOENT);
            EXPECT_EQ(e.path(), p);
            EXPECT_EQ(e.operation(), "open");
            EXPECT_EQ(std::string(e.what()), "open '" + p + "': " + std::strerror(ENOENT));
        }
        try {
            co_await fs::write_file(p, "x", {.atomic = true});
            ADD_FAILURE() << "no error";
        } catch (const fs::FileError& e) {
            EXPECT_EQ(e.code(), ENOENT);
            EXPECT_NE(std::string(e.what()).find(std::strerror(ENOENT)), std::string::npos);
        }
    }(p));
}

TEST_P(FsFile, ADirectoryOpenedForWritingOrReadAsAFileRaisesEisdir) {
    std::string d = m_dir;
    run([](std::string d) -> corio::Task<void> {
        int open_code = 0, read_code = 0;
        std::string read_op;
        try {
            (void)co_await fs::File::open(d, "w");
        } catch (const fs::FileError& e) {
            open_code = e.code();
        }
        try {
            (void)co_await fs::read_file(d);
        } catch (const fs::FileError& e) {
            read_code = e.code();
            read_op = e.operation();
        }
        EXPECT_EQ(open_code, EISDIR);
        EXPECT_EQ(read_code, EISDIR);
        EXPECT_EQ(read_op, "read");
    }(d));
}

TEST_P(FsFile, APathUnderARegularFileRaisesEnotdir) {
    std::string f = path("plain");
    spit(f, "p");
    run([](std::string p) -> corio::Task<void> {
        int code = 0;
        try {
            co_await fs::write_file(p, "x");
        } catch (const fs::FileError& e) {
            code = e.code();
            EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
        }
        EXPECT_EQ(code, ENOTDIR);
    }(f + "/child"));
}

TEST_P(FsFile, ExclusiveCreationOfAnExistingFileRaisesEexist) {
    std::string p = path("x.txt");
    spit(p, "there");
    run([](std::string p) -> corio::Task<void> {
        int code = 0;
        try {
            (void)co_await fs::File::open(p, "x");
        } catch (const fs::FileError& e) {
            code = e.code();
        }
        EXPECT_EQ(code, EEXIST);
    }(p));
    EXPECT_EQ(slurp(p), "there");
}

TEST_P(FsFile, WritingToAFileOpenForReadingRaisesEbadf) {
    std::string p = path("ro.txt");
    spit(p, "ro");
    run([](std::string p) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, "r");
        int code = 0;
        try {
            co_await f.write_at("x", 0);
        } catch (const fs::FileError& e) {
            code = e.code();
        }
        EXPECT_EQ(code, EBADF);
    }(p));
    EXPECT_EQ(slurp(p), "ro");
}

// Opens a mode-000 file as an unprivileged user: root would bypass the permission check, so as root the
// check runs in a child process that has given up root (setuid to nobody).
TEST_P(FsFile, AnUnreadableFileRaisesEaccesWithThePathAndReason) {
    std::string p = path("secret");
    spit(p, "s");
    ASSERT_EQ(::chmod(p.c_str(), 0), 0);
    auto check = [p]() -> int {  // 0: EACCES as expected; else what went wrong
        int result = 10;
        auto body = [](std::string p, int* result) -> corio::Task<void> {
            try {
                (void)co_await fs::read_file(p);
                *result = 1;
            } catch (const fs::FileError& e) {
                bool words = std::string(e.what()) == "open '" + p + "': " + std::strerror(EACCES);
                *result = e.code() != EACCES ? 2 : !words ? 3 : 0;
            }
            try {
                co_await fs::write_file(p, "w", {.atomic = false});
                *result = *result ? *result : 4;
            } catch (const fs::FileError& e) {
                if (e.code() != EACCES && !*result) *result = 5;
            }
        };
        corio_test::run_bounded(body(p, &result), {.backend = GetParam()});
        return result;
    };
    if (::geteuid() != 0) {
        EXPECT_EQ(check(), 0);
    } else {
        ASSERT_EQ(::chmod(m_dir.c_str(), 0755), 0);  // nobody may enter the directory, not read the file
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(77);
            int r = 20;
            try {
                r = check();
            } catch (...) {
                r = 21;
            }
            ::_exit(r);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot drop root privileges";
        EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error, 2: not EACCES, 3: wrong message, 4/5: write";
    }
    EXPECT_EQ(slurp(p).size(), 1u);  // still intact (root reads it)
}

// ---- cancellation --------------------------------------------------------------------------------------------

TEST_P(FsFile, ATimeoutAroundAReadCancelsItCleanly) {
    std::string p = path("slow.bin");
    std::string data = pattern(24u << 20, 5);
    spit(p, data);
    run([](std::string p, const std::string* data) -> corio::Task<void> {
        int finished = 0, timed_out = 0;
        for (auto limit : {0us, 1us, 20us, 100us, 300us, 1000us, 3000us, 10000us, 100000us, 2000000us}) {
            try {
                std::string s = co_await corio::timeout(limit, fs::read_file(p));
                EXPECT_TRUE(s == *data);
                ++finished;
            } catch (const corio::TimeoutError&) {
                ++timed_out;
            }
        }
        EXPECT_EQ(finished + timed_out, 10);
        EXPECT_GT(timed_out, 0);
        EXPECT_GT(finished, 0);
        EXPECT_TRUE(co_await fs::read_file(p) == *data);  // and everything still works
    }(p, &data));
}

TEST_P(FsFile, CancellingATaskThatReadsLeavesTheFileUsable) {
    std::string p = path("cancel.bin");
    std::string data = pattern(4u << 20, 9);
    spit(p, data);
    run([](std::string p, const std::string* data) -> corio::Task<void> {
        auto f = co_await fs::File::open(p, "r");
        std::string buf(4u << 20, '\0');
        for (int settle = 0; settle < 4; ++settle) {
            auto h = corio::spawn(f.read_at(bytes_of(buf), 0));
            co_await corio_test::settle(settle);
            h.cancel();
            try {
                EXPECT_EQ(co_await h, data->size());  // finished before the cancellation took effect
            } catch (const corio::CancelledError&) {
            }
        }
        std::string again(16, '\0');
        EXPECT_EQ(co_await f.read_at(bytes_of(again), 100), 16u);
        EXPECT_EQ(again, data->substr(100, 16));
    }(p, &data));
}

TEST_P(FsFile, ACancelledAtomicWriteLeavesTheOldOrTheNewFileAndNoTemporaryFile) {
    std::string p = path("atomic.bin");
    std::string old_data(1u << 20, 'o');
    std::string new_data(1u << 20, 'n');
    spit(p, old_data);
    run([](std::string p, const std::string* new_data) -> corio::Task<void> {
        for (auto limit : {0us, 5us, 50us, 200us, 1000us, 5000us, 20000us}) {
            try {
                co_await corio::timeout(limit, fs::write_file(p, *new_data, {.atomic = true}));
            } catch (const corio::TimeoutError&) {
            }
        }
    }(p, &new_data));
    std::string now = slurp(p);
    EXPECT_TRUE(now == old_data || now == new_data);
    EXPECT_EQ(list_dir(m_dir), std::set<std::string>{"atomic.bin"});
}

// ---- modes ---------------------------------------------------------------------------------------------------

TEST(FsOpenMode, ParsesPythonModeStrings) {
    auto r = fs::OpenMode::parse("r");
    EXPECT_TRUE(r.read && !r.write && !r.create);
    EXPECT_EQ(r.flags() & O_ACCMODE, O_RDONLY);
    auto w = fs::OpenMode::parse("wb");
    EXPECT_EQ(w.flags() & (O_ACCMODE | O_CREAT | O_TRUNC), O_WRONLY | O_CREAT | O_TRUNC);
    auto a = fs::OpenMode::parse("a+");
    EXPECT_EQ(a.flags() & (O_ACCMODE | O_CREAT | O_APPEND), O_RDWR | O_CREAT | O_APPEND);
    auto x = fs::OpenMode::parse("xb");
    EXPECT_EQ(x.flags() & (O_ACCMODE | O_CREAT | O_EXCL), O_WRONLY | O_CREAT | O_EXCL);
    auto rp = fs::OpenMode::parse("r+b");
    EXPECT_EQ(rp.flags() & (O_ACCMODE | O_CREAT | O_TRUNC), O_RDWR);
    EXPECT_NE(rp.flags() & O_CLOEXEC, 0);
    for (const char* bad : {"", "rw", "q", "r++", "bb", "+", "rt", "w+x"})
        EXPECT_THROW((void)fs::OpenMode::parse(bad), std::invalid_argument) << bad;
    EXPECT_THROW((void)fs::OpenMode{.read = false}.flags(), std::invalid_argument);
    EXPECT_THROW((void)fs::File::open("/x", "nope"), std::invalid_argument);  // raised by the call itself
}

}  // namespace
