#pragma once
// Function names for code addresses, from the ELF symbol tables of the loaded objects (.symtab where the
// file has one, else .dynsym), demangled. No DWARF: names, not file:line. Thread-safe; the first call reads
// the tables (file I/O), so call it off the loop thread where it matters.

#include <string>
#include <vector>

namespace corio::detail {

/// "function(args)" for the function containing `addr`, or "0x..." when unknown.
std::string symbolize(const void* addr);

/// The name of the coroutine whose frame starts at `frame` (its resume function's symbol, cleaned of the
/// compiler's suffixes: "fetch_data(std::string)"), or "" when unknown.
std::string coroutine_name(const void* frame);

/// "file:line" for each code address where debug information has it (else ""), through binutils'
/// addr2line. Runs a process: never call it on a loop thread.
std::vector<std::string> source_lines(const std::vector<void*>& addrs);

}  // namespace corio::detail
