// Reading input files without trusting them: only regular files are read (a directory, a FIFO, a socket or a device
// such as /dev/zero is refused before anything is read, and opening never blocks), and never more than a size limit
// (checked from the file's size first, then while reading, for files like /proc's that report no size). Every
// reader of user input (scenarios, sweeps, validation cases, Chakra traces, results to compare) goes through here.
// docs/input-limits.md lists the limits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace clustersim {

// Largest text input (scenario, sweep file, validation case, known-misses list): 16 MiB.
inline constexpr uint64_t kMaxTextInputBytes = uint64_t{16} << 20;
// Largest result JSON read back (`clustersim compare`): 256 MiB.
inline constexpr uint64_t kMaxResultInputBytes = uint64_t{256} << 20;
// Largest Chakra trace file of one rank (compressed or not): 1 GiB.
inline constexpr uint64_t kMaxTraceInputBytes = uint64_t{1} << 30;

// Reads the whole of `path`, a regular file of at most `max_bytes`. Throws InputError "<path>: <reason>" naming
// `what` ("scenario file") when the file is missing or unreadable, a directory, not a regular file, or too large.
std::string ReadInputFile(const std::string& path, const std::string& what, uint64_t max_bytes = kMaxTextInputBytes);

// ReadInputFile for text formats: also refuses text that is not valid UTF-8 (naming the line and column of the
// first bad byte, never the content) or that holds a NUL byte.
std::string ReadTextInputFile(const std::string& path, const std::string& what,
                              uint64_t max_bytes = kMaxTextInputBytes);

// The offset of the first byte of `text` that is not part of valid UTF-8 (or is NUL), or npos.
size_t FirstInvalidUtf8(std::string_view text);

// Throws InputError "<name>:<line>:<column>: not valid UTF-8 text ..." when `text` is not valid UTF-8 (or has a
// NUL byte); `what` names the expected format.
void CheckUtf8Text(std::string_view text, const std::string& name, const std::string& what);

// The part of a parser's error message that may be shown: its first line (Protobuf's JSON parser quotes the input on
// the following ones), with control characters escaped and at most 120 bytes (InputError::Shown).
std::string ParserMessageShown(const std::string& message);

}  // namespace clustersim
