#pragma once
// corio::Serializer: how values travel between processes (ProcessPool's arguments and results).
//
// Built in: arithmetic types, enums, std::byte, std::string (and other basic_strings of trivially copyable
// characters), std::vector, std::array, std::pair, std::tuple, std::optional, std::variant, std::monostate,
// std::map, std::unordered_map, std::set, std::chrono::duration, nlohmann::json (any type with
// to_cbor/from_cbor), and user types in one of two ways:
//
//     struct Point {                     // 1. a member template, called to write and to read (cereal's way);
//         double x = 0, y = 0;           //    the type must be default-constructible
//         std::string label;
//         template <class Ar> void serialize(Ar& ar) { ar(x, y, label); }
//     };
//
//     template <> struct corio::Serializer<Money> {   // 2. a specialization, for types you cannot edit
//         static void write(corio::SerialWriter& w, const Money& m) { w(m.cents(), m.currency()); }
//         static Money read(corio::SerialReader& r) {
//             auto cents = r.read<long long>();
//             return Money(cents, r.read<std::string>());
//         }
//     };
//
// The format is the machine's own byte order and sizes: it is for a process talking to another copy of
// the same executable, not for files or the network.

#include <corio/error.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace corio {

/// A serialized value did not decode: the bytes end early or do not fit the type.
class SerializationError : public Error {
public:
    using Error::Error;
};

/// How a value of T is written and read; specialize it for your own types (see the top of this file).
template <class T>
struct Serializer;

class SerialWriter;
class SerialReader;

/// True when T can travel: it has a Serializer.
template <class T>
concept serializable = requires(SerialWriter& w, SerialReader& r, const T& v) {
    Serializer<T>::write(w, v);
    { Serializer<T>::read(r) } -> std::same_as<T>;
};

/// Writes serialized values: appended to a byte string, or into a fixed buffer (shared memory) that spills
/// over into a string when it is full.
class SerialWriter {
public:
    explicit SerialWriter(std::string& out) noexcept : m_out(&out) {}
    /// Writes into [p, p + capacity); when that is full, everything written goes on at the end of `spill`.
    SerialWriter(char* p, std::size_t capacity, std::string& spill) noexcept
        : m_begin(p), m_p(p), m_end(p + capacity), m_spill(&spill) {}
    void bytes(const void* p, std::size_t n) {
        if (m_out) {
            m_out->append(static_cast<const char*>(p), n);
        } else if (n <= static_cast<std::size_t>(m_end - m_p)) {
            if (n) std::memcpy(m_p, p, n);
            m_p += n;
        } else {
            spill_over(p, n);
        }
    }
    void size(std::size_t n) {
        auto v = static_cast<std::uint64_t>(n);
        bytes(&v, sizeof v);
    }
    /// Writes each value with its Serializer.
    template <class... T>
    void operator()(const T&... v) {
        (Serializer<T>::write(*this, v), ...);
    }
    /// Bytes written into the fixed buffer (0 once it spilled over, or for a string).
    [[nodiscard]] std::size_t in_place() const noexcept { return m_out ? 0 : static_cast<std::size_t>(m_p - m_begin); }
    /// True when writing into a string (from the start, or since the fixed buffer spilled over).
    [[nodiscard]] bool to_string() const noexcept { return m_out != nullptr; }

private:
    void spill_over(const void* p, std::size_t n) {
        m_spill->append(m_begin, static_cast<std::size_t>(m_p - m_begin));
        m_spill->append(static_cast<const char*>(p), n);
        m_out = m_spill;
    }
    std::string* m_out = nullptr;
    char* m_begin = nullptr;
    char* m_p = nullptr;
    char* m_end = nullptr;
    std::string* m_spill = nullptr;
};

/// Reads serialized values from a byte range. Errors: SerializationError when the bytes run out.
class SerialReader {
public:
    SerialReader(const char* p, std::size_t n) noexcept : m_p(p), m_end(p + n) {}
    [[nodiscard]] std::size_t remaining() const noexcept { return static_cast<std::size_t>(m_end - m_p); }
    void bytes(void* out, std::size_t n) { std::memcpy(out, take(n), n); }
    /// The next `n` bytes, in place.
    const char* take(std::size_t n) {
        if (n > remaining()) underflow(n);
        const char* p = m_p;
        m_p += n;
        return p;
    }
    /// A count written by SerialWriter::size, checked against the bytes left (each element takes at least
    /// `min_bytes`).
    std::size_t size(std::size_t min_bytes = 0) {
        std::uint64_t n;
        bytes(&n, sizeof n);
        if (min_bytes && n > remaining() / min_bytes) underflow(static_cast<std::size_t>(n) * min_bytes);
        return static_cast<std::size_t>(n);
    }
    template <class T>
    T read() {
        return Serializer<T>::read(*this);
    }
    /// Reads into each value (the reading twin of SerialWriter::operator()).
    template <class... T>
    void operator()(T&... v) {
        ((v = Serializer<T>::read(*this)), ...);
    }

private:
    [[noreturn]] static void underflow(std::size_t wanted);
    const char* m_p;
    const char* m_end;
};

}  // namespace corio

// The Serializers of the standard types, nlohmann::json and types with a member serialize().
#include <corio/detail/serializers.hpp>
