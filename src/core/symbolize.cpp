#include "symbolize.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <memory>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace corio::detail {
namespace {

struct Symbol {
    std::uintptr_t start;
    std::uintptr_t size;
    std::string name;  // mangled
};

struct Object {
    std::uintptr_t lo = 0, hi = 0;  // runtime address range of its loadable segments
    std::uintptr_t base = 0;        // load bias: file address = runtime address - base
    std::string path;
    std::vector<Symbol> symbols;    // sorted by start, runtime addresses
};

void read_symbols(const char* path, std::uintptr_t base, Object& obj) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) < 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
        ::close(fd);
        return;
    }
    auto size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return;
    const auto* data = static_cast<const unsigned char*>(map);
    const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(data);
    bool ok = std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
              eh->e_shoff + std::size_t{eh->e_shnum} * sizeof(Elf64_Shdr) <= size;
    if (ok) {
        const auto* sh = reinterpret_cast<const Elf64_Shdr*>(data + eh->e_shoff);
        const Elf64_Shdr* table = nullptr;
        for (int want : {SHT_SYMTAB, SHT_DYNSYM}) {
            for (unsigned i = 0; i < eh->e_shnum && !table; ++i)
                if (sh[i].sh_type == static_cast<unsigned>(want)) table = &sh[i];
            if (table) break;
        }
        if (table && table->sh_link < eh->e_shnum) {
            const Elf64_Shdr& strs = sh[table->sh_link];
            if (table->sh_offset + table->sh_size <= size && strs.sh_offset + strs.sh_size <= size) {
                const auto* syms = reinterpret_cast<const Elf64_Sym*>(data + table->sh_offset);
                std::size_t n = table->sh_size / sizeof(Elf64_Sym);
                const char* names = reinterpret_cast<const char*>(data + strs.sh_offset);
                for (std::size_t i = 0; i < n; ++i) {
                    const Elf64_Sym& s = syms[i];
                    if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_value == 0 || s.st_name >= strs.sh_size) continue;
                    obj.symbols.push_back({base + s.st_value, s.st_size, names + s.st_name});
                }
            }
        }
    }
    ::munmap(map, size);
    std::sort(obj.symbols.begin(), obj.symbols.end(), [](auto& a, auto& b) { return a.start < b.start; });
}

struct Table {
    std::vector<Object> objects;
};

Table& table() {
    static std::once_flag once;
    static Table* t = new Table();  // never destroyed: symbolizing may happen during exit
    std::call_once(once, [] {
        dl_iterate_phdr(
            [](dl_phdr_info* info, std::size_t, void* arg) {
                auto* tab = static_cast<Table*>(arg);
                Object obj;
                obj.lo = ~std::uintptr_t{0};
                for (int i = 0; i < info->dlpi_phnum; ++i) {
                    const auto& ph = info->dlpi_phdr[i];
                    if (ph.p_type != PT_LOAD) continue;
                    obj.lo = std::min<std::uintptr_t>(obj.lo, info->dlpi_addr + ph.p_vaddr);
                    obj.hi = std::max<std::uintptr_t>(obj.hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
                }
                const char* path = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "/proc/self/exe";
                if (std::strncmp(path, "linux-vdso", 10) == 0) return 0;
                obj.base = info->dlpi_addr;
                obj.path = path;
                if (obj.path == "/proc/self/exe") {  // a name only this process can use: resolve it
                    char buf[4096];
                    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
                    if (n > 0) obj.path.assign(buf, static_cast<std::size_t>(n));
                }
                read_symbols(path, info->dlpi_addr, obj);
                tab->objects.push_back(std::move(obj));
                return 0;
            },
            t);
    });
    return *t;
}

std::string demangle(const std::string& mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status), std::free);
    return status == 0 && d ? std::string(d.get()) : mangled;
}

// Drops the compilers' suffixes of a coroutine's resume/destroy functions (GCC: " [clone .actor]",
// Clang: " (.resume)"); true when there was one.
bool strip_coroutine_suffix(std::string& name) {
    bool found = false;
    for (const char* suffix : {" [clone .actor]", " (.resume)", " [clone .resume]", " [clone .destroy]", " (.destroy)"}) {
        auto p = name.rfind(suffix);
        if (p != std::string::npos) {
            name.erase(p);
            found = true;
        }
    }
    return found;
}

const Object* object_of(std::uintptr_t a) {
    for (const Object& o : table().objects)
        if (a >= o.lo && a < o.hi) return &o;
    return nullptr;
}

const Symbol* find(std::uintptr_t a) {
    for (const Object& o : table().objects) {
        if (a < o.lo || a >= o.hi) continue;
        auto it = std::upper_bound(o.symbols.begin(), o.symbols.end(), a,
                                   [](std::uintptr_t x, const Symbol& s) { return x < s.start; });
        if (it == o.symbols.begin()) return nullptr;
        --it;
        if (it->size == 0 || a < it->start + it->size) return &*it;
        return nullptr;
    }
    return nullptr;
}

}  // namespace

std::string symbolize(const void* addr) {
    auto a = reinterpret_cast<std::uintptr_t>(addr);
    if (const Symbol* s = find(a)) {
        std::string name = demangle(s->name);
        if (strip_coroutine_suffix(name)) {  // "f(f()::_Z1fv.Frame*)" -> "f [coroutine]"
            void* fn = reinterpret_cast<void*>(s->start);
            std::string clean = coroutine_name(&fn);
            return (clean.empty() ? name : clean) + " [coroutine]";
        }
        return name;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", addr);
    return buf;
}

std::string coroutine_name(const void* frame) {
    if (!frame) return {};
    // Both GCC and Clang lay a coroutine frame out with the resume function's address first.
    void* resume;
    std::memcpy(&resume, frame, sizeof resume);
    if (!resume) {  // a finished coroutine (GCC clears the resume pointer): its destroy function names it too
        void* destroy;
        std::memcpy(&destroy, static_cast<const char*>(frame) + sizeof(void*), sizeof destroy);
        resume = destroy;
    }
    const Symbol* s = find(reinterpret_cast<std::uintptr_t>(resume));
    if (!s) return {};
    std::string name = demangle(s->name);
    // GCC: "f(f()::_Z1fv.Frame*) [clone .actor]"; Clang: "f() (.resume)". Keep "f".
    strip_coroutine_suffix(name);
    if (name.size() >= 7 && name.compare(name.size() - 7, 7, ".resume") == 0) name.erase(name.size() - 7);
    if (name.size() >= 6 && name.compare(name.size() - 6, 6, ".actor") == 0) name.erase(name.size() - 6);
    // Drop the outermost function's parameter list (GCC gives the actor the frame pointer type) and a
    // trailing " const": "ns::f", "Suite_Test::TestBody()::{lambda()#1}::operator()".
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name.size() > 6 && name.compare(name.size() - 6, 6, " const") == 0) name.erase(name.size() - 6);
    if (!name.empty() && name.back() == ')') {
        int depth = 0;
        for (std::size_t i = name.size(); i-- > 0;) {
            if (name[i] == ')') ++depth;
            else if (name[i] == '(' && --depth == 0) {
                name.erase(i);
                break;
            }
        }
    }
    return name;
}

std::vector<std::string> source_lines(const std::vector<void*>& addrs) {
    std::vector<std::string> out(addrs.size());
    std::vector<bool> asked(addrs.size(), false);
    // One addr2line run per object; return addresses point after the call, so look up the byte before.
    std::vector<const Object*> objs(addrs.size());
    for (std::size_t i = 0; i < addrs.size(); ++i) objs[i] = object_of(reinterpret_cast<std::uintptr_t>(addrs[i]));
    for (std::size_t i = 0; i < addrs.size(); ++i) {
        const Object* o = objs[i];
        if (!o || asked[i]) continue;
        std::string cmd;  // (appended piecewise: g++ 12 -O3 warns falsely on "literal" + std::string)
        cmd.append("addr2line -a -i -e '").append(o->path).append("'");
        std::vector<std::size_t> idx;
        for (std::size_t j = i; j < addrs.size(); ++j) {
            if (objs[j] != o) continue;
            char hex[32];
            std::snprintf(hex, sizeof hex, " 0x%lx",
                          static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(addrs[j]) - o->base - 1));
            cmd += hex;
            idx.push_back(j);
            asked[j] = true;
        }
        cmd += " 2>/dev/null";
        FILE* p = ::popen(cmd.c_str(), "r");
        if (!p) return out;
        // Output: per address, a "0x..." line, then one line per inlining level, innermost first. The last
        // one is the line in the function the frame belongs to.
        char line[1024];
        std::size_t k = 0;
        bool started = false;
        while (std::fgets(line, sizeof line, p)) {
            std::string l(line);
            while (!l.empty() && (l.back() == '\n' || l.back() == ' ')) l.pop_back();
            if (l.rfind("0x", 0) == 0) {
                if (started) ++k;
                started = true;
                continue;
            }
            if (!started || k >= idx.size()) continue;
            if (auto d = l.find(" (discriminator"); d != std::string::npos) l.erase(d);
            bool unknown = l.rfind("??", 0) == 0 || (l.size() >= 2 && l.compare(l.size() - 2, 2, ":?") == 0);
            if (!unknown) out[idx[k]].swap(l);  // "??:0" or "file:?": no line information
        }
        ::pclose(p);
    }
    return out;
}

}  // namespace corio::detail
