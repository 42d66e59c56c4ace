// The pieces of the process pool's protocol both sides use: code references (module of the program +
// offset, written by the pool, resolved by a worker) and exceptions (encoded by a worker, rebuilt by the pool).
#include "process_pool_wire.hpp"

#include <corio/offload/process_pool.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <typeinfo>
#include <unordered_map>
#include <variant>
#include <vector>

namespace corio {

void SerialReader::underflow(std::size_t wanted) {
    throw SerializationError("corio: serialized data ended early (" + std::to_string(wanted) +
                             " more bytes wanted): the bytes do not match the type being read");
}

RemoteError::RemoteError(std::string type_name, std::string message)
    : Error(message.empty() ? type_name : type_name + ": " + message),
      m_type(std::move(type_name)),
      m_message(std::move(message)) {}

WorkerCrashedError::WorkerCrashedError(int pid, int signal, int exit_status, std::string what)
    : Error(std::move(what)), m_pid(pid), m_signal(signal), m_status(exit_status) {}

namespace detail {

// ---- code references ---------------------------------------------------------------------------------------

namespace {

struct ModuleQuery {
    std::uintptr_t addr;
    std::string name;
    std::uintptr_t base = 0;
    bool found = false;
};

int find_module_of(dl_phdr_info* info, std::size_t, void* data) {
    auto* q = static_cast<ModuleQuery*>(data);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD) continue;
        std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
        if (q->addr >= lo && q->addr < lo + ph.p_memsz) {
            q->name = info->dlpi_name ? info->dlpi_name : "";
            q->base = info->dlpi_addr;
            q->found = true;
            return 1;
        }
    }
    return 0;
}

// The encoded reference of each code address this thread has sent (a few per program: one per trampoline
// instantiation and per function submitted).
const std::string& ref_of(const void* code) {
    thread_local std::unordered_map<const void*, std::string> cache;
    auto it = cache.find(code);
    if (it == cache.end()) {
        ModuleQuery q{reinterpret_cast<std::uintptr_t>(code), {}};
        dl_iterate_phdr(find_module_of, &q);
        if (!q.found || q.name.size() >= pp::k_no_ref)
            throw Error("corio::ProcessPool: the function to run is in no module of the program (generated code?): "
                        "a worker could not find it");
        std::string enc;
        auto len = static_cast<std::uint16_t>(q.name.size());
        std::uint64_t offset = reinterpret_cast<std::uintptr_t>(code) - q.base;
        enc.append(reinterpret_cast<const char*>(&len), 2);
        enc += q.name;
        enc.append(reinterpret_cast<const char*>(&offset), 8);
        it = cache.emplace(code, std::move(enc)).first;
    }
    return it->second;
}

}  // namespace

namespace pp {

void make_room(std::string& in, std::size_t& start, std::size_t& end) {
    constexpr std::size_t k_chunk = 64 * 1024;
    if (start == end) {
        start = end = 0;
    } else if (start > 0 && in.size() - end < k_chunk) {
        std::memmove(in.data(), in.data() + start, end - start);
        end -= start;
        start = 0;
    }
    std::size_t want = end + k_chunk;
    if (end - start >= 4) {
        std::uint32_t n;
        std::memcpy(&n, in.data() + start, 4);
        want = std::max(want, start + 4 + std::size_t{n});
    }
    if (in.size() < want) {
        in.resize(want);
    } else if (in.size() > (std::size_t{1} << 20) && end == 0) {  // a large frame has gone
        in.resize(k_chunk);
        in.shrink_to_fit();
    }
}

void write_call_refs(SerialWriter& w, Trampoline tramp, const void* fn) {
    const std::string& t = ref_of(reinterpret_cast<const void*>(tramp));
    w.bytes(t.data(), t.size());
    if (fn) {
        const std::string& f = ref_of(fn);
        w.bytes(f.data(), f.size());
    } else {
        std::uint16_t none = k_no_ref;
        w.bytes(&none, 2);
    }
}

namespace {

struct Module {
    std::string name;
    std::uintptr_t base = 0;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> code;  // executable segments [lo, hi)
};

struct ModuleByName {
    const std::string* name;
    Module* out;
    bool found = false;
};

int find_module_named(dl_phdr_info* info, std::size_t, void* data) {
    auto* q = static_cast<ModuleByName*>(data);
    const char* name = info->dlpi_name ? info->dlpi_name : "";
    if (*q->name != name) return 0;
    q->out->base = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
            q->out->code.emplace_back(info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    }
    q->found = true;
    return 1;
}

const Module& module_named(const std::string& name) {
    static std::vector<std::unique_ptr<Module>> known;  // a worker is single-threaded
    for (const auto& m : known)
        if (m->name == name) return *m;
    auto m = std::make_unique<Module>();
    m->name = name;
    ModuleByName q{&name, m.get()};
    dl_iterate_phdr(find_module_named, &q);
    if (!q.found && !name.empty() && dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {  // loaded late by the pool
        m->code.clear();
        dl_iterate_phdr(find_module_named, &q);
    }
    if (!q.found) throw Error("corio::ProcessPool worker: module '" + name + "' of the function is not loaded here");
    known.push_back(std::move(m));
    return *known.back();
}

}  // namespace

/// Reads a code reference and finds its address in this process (null for "none").
const void* resolve_ref(SerialReader& r) {
    auto len = r.read<std::uint16_t>();
    if (len == k_no_ref) return nullptr;
    std::string name(r.take(len), len);
    auto offset = r.read<std::uint64_t>();
    const Module& m = module_named(name);
    std::uintptr_t addr = m.base + offset;
    for (auto [lo, hi] : m.code)
        if (addr >= lo && addr < hi) return reinterpret_cast<const void*>(addr);
    throw Error("corio::ProcessPool worker: offset " + std::to_string(offset) + " of module '" +
                (name.empty() ? std::string("<executable>") : name) + "' is not code: not the same program?");
}

// ---- exceptions ----------------------------------------------------------------------------------------------

namespace {

const std::type_info* const k_types[] = {
    nullptr, &typeid(std::exception), &typeid(std::runtime_error), &typeid(std::logic_error),
    &typeid(std::invalid_argument), &typeid(std::domain_error), &typeid(std::length_error),
    &typeid(std::out_of_range), &typeid(std::range_error), &typeid(std::overflow_error),
    &typeid(std::underflow_error), &typeid(std::bad_alloc), &typeid(std::bad_array_new_length),
    &typeid(std::bad_cast), &typeid(std::bad_typeid), &typeid(std::bad_optional_access),
    &typeid(std::bad_variant_access), &typeid(std::bad_function_call), &typeid(std::bad_weak_ptr),
    nullptr, nullptr, &typeid(corio::Error), &typeid(corio::SerializationError)};
static_assert(std::size(k_types) == static_cast<std::size_t>(ExceptionKind::count));

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && d ? std::string(d.get()) : std::string(name);
}

}  // namespace

void encode_current_exception(std::string& out) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    auto kind = ExceptionKind::other;
    std::string message;
    std::int32_t code = 0;
    try {
        throw;
    } catch (const std::system_error& e) {
        message = e.what();
        code = e.code().value();
        if (type && *type == typeid(std::system_error)) {
            if (e.code().category() == std::generic_category()) kind = ExceptionKind::system_error_generic;
            else if (e.code().category() == std::system_category()) kind = ExceptionKind::system_error_system;
        }
    } catch (const std::exception& e) {
        message = e.what();
    } catch (const char* s) {
        message = s ? s : "";
    } catch (const std::string& s) {
        message = s;
    } catch (...) {
    }
    if (type && kind == ExceptionKind::other)
        for (std::size_t i = 1; i < std::size(k_types); ++i)
            if (k_types[i] && *k_types[i] == *type) kind = static_cast<ExceptionKind>(i);
    SerialWriter w(out);
    w(static_cast<std::uint8_t>(kind), type ? demangle(type->name()) : std::string("<unknown>"), message, code);
}

std::exception_ptr decode_exception(SerialReader& r) {
    auto kind = static_cast<ExceptionKind>(r.read<std::uint8_t>());
    auto type = r.read<std::string>();
    auto msg = r.read<std::string>();
    auto code = r.read<std::int32_t>();
    using K = ExceptionKind;
    switch (kind) {
        case K::exception: return std::make_exception_ptr(std::exception());
        case K::runtime_error: return std::make_exception_ptr(std::runtime_error(msg));
        case K::logic_error: return std::make_exception_ptr(std::logic_error(msg));
        case K::invalid_argument: return std::make_exception_ptr(std::invalid_argument(msg));
        case K::domain_error: return std::make_exception_ptr(std::domain_error(msg));
        case K::length_error: return std::make_exception_ptr(std::length_error(msg));
        case K::out_of_range: return std::make_exception_ptr(std::out_of_range(msg));
        case K::range_error: return std::make_exception_ptr(std::range_error(msg));
        case K::overflow_error: return std::make_exception_ptr(std::overflow_error(msg));
        case K::underflow_error: return std::make_exception_ptr(std::underflow_error(msg));
        case K::bad_alloc: return std::make_exception_ptr(std::bad_alloc());
        case K::bad_array_new_length: return std::make_exception_ptr(std::bad_array_new_length());
        case K::bad_cast: return std::make_exception_ptr(std::bad_cast());
        case K::bad_typeid: return std::make_exception_ptr(std::bad_typeid());
        case K::bad_optional_access: return std::make_exception_ptr(std::bad_optional_access());
        case K::bad_variant_access: return std::make_exception_ptr(std::bad_variant_access());
        case K::bad_function_call: return std::make_exception_ptr(std::bad_function_call());
        case K::bad_weak_ptr: return std::make_exception_ptr(std::bad_weak_ptr());
        case K::system_error_generic:
        case K::system_error_system: {
            std::error_code ec(code,
                               kind == K::system_error_generic ? std::generic_category() : std::system_category());
            std::string tail = ec.message();
            if (msg == tail) return std::make_exception_ptr(std::system_error(ec));
            if (msg.size() > tail.size() + 2 &&
                msg.compare(msg.size() - tail.size() - 2, std::string::npos, ": " + tail) == 0)
                return std::make_exception_ptr(std::system_error(ec, msg.substr(0, msg.size() - tail.size() - 2)));
            break;  // a what() that system_error would not rebuild as it was
        }
        case K::corio_error: return std::make_exception_ptr(corio::Error(msg));
        case K::serialization_error: return std::make_exception_ptr(SerializationError(msg));
        case K::other:
        case K::count: break;
    }
    return std::make_exception_ptr(RemoteError(std::move(type), std::move(msg)));
}

}  // namespace pp
}  // namespace detail
}  // namespace corio
