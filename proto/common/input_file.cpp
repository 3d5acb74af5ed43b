// See input_file.h.
#include "common/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace clustersim {
namespace {

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Closes the descriptor on every path out of ReadInputFile.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Length of the UTF-8 sequence starting at text[i], or 0 when it is not a valid one (overlong forms, surrogates and
// code points above U+10FFFF are invalid; so is NUL, which no text input holds).
size_t Utf8SequenceAt(std::string_view text, size_t i) {
  const auto b = [&text](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = b(i);
  if (c == 0) return 0;
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

}  // namespace

std::string ReadInputFile(const std::string& path, const std::string& what, uint64_t max_bytes) {
  if (path.empty()) throw InputError("\"\": no " + what + " given (an empty path)");
  // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting; it is refused below.
  const Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) throw InputError(path + ": cannot open " + what + " (missing or unreadable)");
    throw InputError(path + ": cannot open " + what + " (missing or unreadable: " + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw InputError(path + ": cannot read " + what + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(path + ": is a directory, not a " + what);
  if (!S_ISREG(st.st_mode))
    throw InputError(path + ": is not a regular file (a FIFO, socket or device), not a " + what);
  const auto too_large = [&] {
    return InputError(path + ": is larger than " + MiB(max_bytes) + ", the limit for a " + what);
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) throw too_large();
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd.get(), buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) throw InputError(path + ": cannot read " + what + ": " + std::strerror(errno));
    if (r == 0) break;
    if (out.size() + static_cast<uint64_t>(r) > max_bytes) throw too_large();  // a file that grew, or /proc
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

size_t FirstInvalidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceAt(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

void CheckUtf8Text(std::string_view text, const std::string& name, const std::string& what) {
  const size_t bad = FirstInvalidUtf8(text);
  if (bad == std::string_view::npos) return;
  size_t line = 1, column = 1;
  for (size_t i = 0; i < bad; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  throw InputError(name + ":" + std::to_string(line) + ":" + std::to_string(column) + ": not a " + what +
                   ": the text is not valid UTF-8 (or holds a NUL byte) here");
}

std::string ParserMessageShown(const std::string& message) {
  return InputError::Shown(message.substr(0, message.find('\n')));
}

std::string ReadTextInputFile(const std::string& path, const std::string& what, uint64_t max_bytes) {
  std::string text = ReadInputFile(path, what, max_bytes);
  CheckUtf8Text(text, path, what);
  return text;
}

}  // namespace clustersim
