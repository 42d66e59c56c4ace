#pragma once
// Strict mode: blocking calls made on a loop thread, inside a task or a function posted to the loop
// (LoopHandle::post), are reported as they happen. The loop's own machinery (its kernel wait, its shutdown)
// is not checked.

namespace corio {

/// What strict mode does about a blocking call on a loop thread (RunOptions::strict; CORIO_STRICT=warn|abort
/// overrides). It needs the interposing library: link corio::strict, or LD_PRELOAD=libcorio_strict.so.
enum class Strict { off, warn, abort };

/// Within its scope, blocking calls on this thread are deliberate and not reported.
///
///     { corio::allow_blocking allow; std::fflush(log); fsync(fileno(log)); }
class allow_blocking {
public:
    allow_blocking() noexcept;
    ~allow_blocking();
    allow_blocking(const allow_blocking&) = delete;
    allow_blocking& operator=(const allow_blocking&) = delete;
};

}  // namespace corio
