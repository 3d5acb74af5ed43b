// Writing to a file descriptor in full: through partial writes and interrupted calls (pipes, files on full disks).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace clustersim {

// Writes `n` bytes of `data` to `fd`; false on an error (errno says which) or a write that made no progress.
inline bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace clustersim
