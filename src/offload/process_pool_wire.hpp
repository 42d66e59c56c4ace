#pragma once
// What the pool and its workers say to each other over a worker's socketpair, and the pieces both sides
// share (finding code in a module of the program, rebuilding exceptions).
//
// A frame: [u32 n][u8 kind][u64 id][payload], n = 9 + payload bytes, in the machine's byte order.
//   pool -> worker  call       id = the job; payload: u8 slot, the call body (below)
//                   call_shm   id = the job; payload: u8 slot, u64 n; the call body is the first n bytes of the
//                              slot's request area
//   worker -> pool  hello      id = 0; payload: u32 pid, u32 k_version; sent once, before any call is read
//                   value      id = the job; payload: the result (nothing for void)
//                   value_shm  id = the job; payload: u64 n; the result is the first n bytes of the slot's
//                              reply area
//                   exception  id = the job; payload: u8 ExceptionKind, string type, string what, i32 code
//                   skipped    id = the job; the pool took the job back before it started (below)
// A call body: a code reference to the trampoline, one to the function (absent for a lambda), the arguments.
// A code reference: [u16 name length][module name]["" = the executable][u64 offset]; length 0xffff: none.
//
// Shared memory (a memfd both map; optional): a control page, then for each of the k_slots slots a request
// area and a reply area of equal size. With it a worker may hold k_slots calls at once, one running and the
// others waiting in its socket, so that it does not wait for the pool between two calls. Each slot has a claim word
// in the control page: the pool stores the call's id there before sending it; the worker, before running a
// call, swaps id -> id | k_started; the pool takes back a call that has not started (cancellation, or to
// hand it to an idle worker) by swapping id -> 0, and the worker then answers `skipped`. So the pool always
// knows whether a call has started. A slot is reused only after its answer: the socket's write and read
// order the accesses to its areas. Without shared memory a worker holds one call (slot 0xff: no claim).
// A result written in the reply area is published with its length (the slot's second word) and the claim
// id | k_started | k_done; such answers may then wait in the worker to go out together (fewer wake-ups of
// the pool), since the pool can read them from the shared memory if the worker dies first. Any other answer
// goes out at once, with those waiting before it, so when a worker dies the pool knows for each call it
// held whether it had not started, had finished (result in shared memory), or was running (at most one).

#include <corio/detail/process_call.hpp>
#include <corio/offload/serialize.hpp>

#include <cstdint>
#include <cstring>
#include <exception>
#include <string>

namespace corio::detail::pp {

inline constexpr std::uint32_t k_version = 1;
// "<socket>:<memfd or -1>:<parent pid>:<heap fd or -1>:<heap id>"
inline constexpr const char* k_env = "CORIO_PROCESS_POOL_WORKER";
inline constexpr int k_worker_fd = 3;                              // the worker's end of its socketpair
inline constexpr int k_worker_memfd = 4;                           // its shared memory
inline constexpr int k_worker_heapfd = 5;                          // the pool's shared heap (SharedArray)
inline constexpr std::size_t k_header = 13;
inline constexpr std::uint16_t k_no_ref = 0xffff;
inline constexpr std::uint64_t k_max_frame = 0xffffffffu - 16;

enum Kind : std::uint8_t { hello = 0, call = 1, call_shm = 2, value = 3, value_shm = 4, exception = 5, skipped = 6 };

inline constexpr int k_slots = 8;
inline constexpr std::uint8_t k_no_slot = 0xff;
inline constexpr std::size_t k_control = 4096;
inline constexpr std::uint64_t k_started = std::uint64_t{1} << 63;
inline constexpr std::uint64_t k_done = std::uint64_t{1} << 62;
// id | k_started | k_answered: the call has ended and its answer goes through the socket (an exception, or a
// result too large for the reply area): set before the answer is sent, so that the pool does not kill the
// worker for a cancelled call that is already over (the call running after it would fail for nothing).
inline constexpr std::uint64_t k_answered = std::uint64_t{1} << 61;

/// The shared memory's layout, the same on both sides.
struct SharedLayout {
    char* base = nullptr;  // null: none
    std::size_t area = 0;  // bytes of each request or reply area
    [[nodiscard]] static std::size_t bytes_for(std::size_t area) noexcept { return k_control + 2 * k_slots * area; }
    [[nodiscard]] std::uint64_t* claim(int slot) const noexcept {
        return reinterpret_cast<std::uint64_t*>(base) + 8 * slot;  // a cache line each
    }
    [[nodiscard]] std::uint64_t* result_size(int slot) const noexcept { return claim(slot) + 1; }
    [[nodiscard]] char* request(int slot) const noexcept {
        return base + k_control + 2 * area * static_cast<std::size_t>(slot);
    }
    [[nodiscard]] char* reply(int slot) const noexcept { return request(slot) + area; }
};

struct Header {
    std::uint32_t n;  // bytes after the length field
    Kind kind;
    std::uint64_t id;
};

inline void put_header(char* at, std::uint32_t n, Kind kind, std::uint64_t id) noexcept {
    std::memcpy(at, &n, 4);
    at[4] = static_cast<char>(kind);
    std::memcpy(at + 5, &id, 8);
}
inline Header get_header(const char* at) noexcept {
    Header h;
    std::memcpy(&h.n, at, 4);
    h.kind = static_cast<Kind>(static_cast<std::uint8_t>(at[4]));
    std::memcpy(&h.id, at + 5, 8);
    return h;
}

/// The exception types that come back as themselves (by exact type); `other` becomes RemoteError.
enum class ExceptionKind : std::uint8_t {
    other, exception, runtime_error, logic_error, invalid_argument, domain_error, length_error, out_of_range,
    range_error, overflow_error, underflow_error, bad_alloc, bad_array_new_length, bad_cast, bad_typeid,
    bad_optional_access, bad_variant_access, bad_function_call, bad_weak_ptr, system_error_generic,
    system_error_system, corio_error, serialization_error, count
};

/// Either side: makes room in `in` for the next read after its bytes [start, end), not yet parsed: at least
/// 64 KiB, or the rest of the frame that begins at `start` when larger; the bytes move to the front when the
/// room left is short, and a buffer grown past 1 MiB for a large frame shrinks back once it is empty.
void make_room(std::string& in, std::size_t& start, std::size_t& end);

/// Pool side: writes the code references that start a call body.
void write_call_refs(SerialWriter& w, Trampoline tramp, const void* fn);

/// Worker side: reads a code reference and finds its address in this process (null for "none").
/// Errors: corio::Error when the module is not loaded or the offset is not code.
const void* resolve_ref(SerialReader& r);

/// Worker side: the exception being handled, as an exception payload.
void encode_current_exception(std::string& out);
/// Pool side: the exception a payload describes.
std::exception_ptr decode_exception(SerialReader& r);

/// A worker's whole life: serves calls on `fd` (with shared memory `memfd`, or -1) until the pool closes its
/// end, then _exits.
[[noreturn]] void worker_main(int fd, int memfd);

}  // namespace corio::detail::pp
