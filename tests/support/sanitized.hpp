#pragma once
// CORIO_SANITIZED is defined when this translation unit is built with AddressSanitizer or ThreadSanitizer
// (g++ or clang): tests that replace the allocator, lower address-space limits or look at freed memory are
// compiled out there.

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CORIO_SANITIZED 1
#endif
#endif
