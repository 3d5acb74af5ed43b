// Output file sets; see file_set.h.
#include "results/file_set.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/fd.h"

namespace clustersim::results {
namespace {

namespace fs = std::filesystem;

struct Staged {
  std::string target;
  std::string tmp;     // the new content, beside the target
  std::string backup;  // a hard link to the previous target, "" when there was none
  bool published = false;
};

std::string DirOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// A name beside `target` that nothing uses yet: ".<name>.<pid>-<counter>-<clock>.<suffix>".
std::string SideName(const std::string& target, const char* suffix) {
  static std::atomic<uint64_t> counter{0};
  const auto tick = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const std::string name = fmt::format(".{}.{}-{}-{}.{}", fs::path(target).filename().string(), ::getpid(), counter++,
                                       tick % 1000000007, suffix);
  return (fs::path(DirOf(target)) / name).string();
}

// Writes `content` to a new temporary file beside `target`; returns its path. Throws SimulationError.
std::string WriteTemporary(const std::string& target, const std::string& content) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string tmp = SideName(target, "tmp");
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) throw SimulationError("cannot write " + target + ": " + std::strerror(errno));
    const bool written = WriteAll(fd, content.data(), content.size());
    const int write_errno = errno;
    const bool closed = ::close(fd) == 0;
    if (written && closed) return tmp;
    ::unlink(tmp.c_str());
    throw SimulationError("write failed (disk full?): " + target + ": " + std::strerror(written ? errno : write_errno));
  }
  throw SimulationError("cannot write " + target + ": no free temporary name");
}

// Links the existing `target` (if any) to a backup name; returns it, or "" when there is no previous file.
std::string KeepPrevious(const std::string& target) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) != 0) return "";
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string backup = SideName(target, "bak");
    if (::link(target.c_str(), backup.c_str()) == 0) return backup;  // links a symlink itself, never its target
    if (errno != EEXIST) break;
  }
  throw SimulationError("cannot keep the previous " + target + " while replacing it: " + std::strerror(errno));
}

// Undoes the renames done so far (restoring previous files) and removes every temporary and backup. Returns what
// happened, for the message.
std::string RollBack(std::vector<Staged>& set) {
  bool restored = false;
  for (Staged& s : set) {
    if (s.published) {
      if (!s.backup.empty() && ::rename(s.backup.c_str(), s.target.c_str()) == 0) {
        restored = true;
        s.backup.clear();
      } else if (s.backup.empty()) {
        ::unlink(s.target.c_str());
      }
    }
    if (!s.tmp.empty()) ::unlink(s.tmp.c_str());
    if (!s.backup.empty()) ::unlink(s.backup.c_str());
  }
  return restored ? "the previous files were restored" : "no file of the set was written";
}

}  // namespace

void WriteFileAtomic(const std::string& path, const std::string& content) { WriteFilesAtomic({{path, content}}); }

void WriteFilesAtomic(const std::vector<std::pair<std::string, std::string>>& path_and_content) {
  detail::WriteFilesAtomicWith(path_and_content, &::rename);
}

void detail::WriteFilesAtomicWith(const std::vector<std::pair<std::string, std::string>>& path_and_content,
                                  int (*rename_fn)(const char* from, const char* to)) {
  for (const auto& [path, content] : path_and_content) {
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(path, ec)))
      throw InputError(path + ": is a directory: cannot write an output file there");
  }
  std::vector<Staged> set;
  set.reserve(path_and_content.size());
  try {
    for (const auto& [path, content] : path_and_content) {
      set.push_back(Staged{path, "", "", false});
      set.back().tmp = WriteTemporary(path, content);
    }
    // A single file needs no backup: its rename is atomic.
    if (set.size() > 1)
      for (Staged& s : set) s.backup = KeepPrevious(s.target);
  } catch (const SimulationError&) {
    RollBack(set);
    throw;
  }
  for (Staged& s : set) {
    if (rename_fn(s.tmp.c_str(), s.target.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      const std::string what = RollBack(set);
      throw SimulationError("cannot write " + s.target + ": " + why + "; " + what);
    }
    s.tmp.clear();
    s.published = true;
  }
  for (const Staged& s : set)
    if (!s.backup.empty()) ::unlink(s.backup.c_str());
}

void MakeOutputDirectory(const std::string& dir, bool subdir_of_output) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (subdir_of_output && fs::is_symlink(st))
    throw InputError(dir + ": is a symbolic link: clustersim writes only into a directory it created there");
  if (fs::exists(st) && !fs::is_symlink(st) && !fs::is_directory(st))
    throw InputError(dir + ": exists and is not a directory");
  fs::create_directories(dir, ec);
  if (ec) throw InputError(dir + ": cannot create the output directory: " + ec.message());
}

}  // namespace clustersim::results
