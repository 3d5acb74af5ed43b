// RunInChild; see child_process.h.
#include "sim/child_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>

#include "common/error.h"
#include "common/fd.h"

namespace clustersim::sim {
namespace {

// Progress updates travel as one line each: levels separated by RS (0x1e), fields by US (0x1f), control
// characters in names replaced by spaces.
std::string EncodeProgress(const std::vector<ProgressLevel>& levels) {
  auto clean = [](const std::string& s) {
    std::string out = s;
    for (char& c : out)
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return out;
  };
  std::string line;
  for (size_t i = 0; i < levels.size(); ++i) {
    const ProgressLevel& l = levels[i];
    if (i > 0) line += '\x1e';
    line += clean(l.what) + '\x1f' + std::to_string(l.done) + '\x1f' + std::to_string(l.total) + '\x1f' +
            clean(l.item) + '\x1f' + std::to_string(l.elapsed_s) + '\x1f' + std::to_string(l.eta_s);
  }
  return line + '\n';
}

std::vector<ProgressLevel> DecodeProgress(const std::string& line) {
  std::vector<ProgressLevel> levels;
  size_t start = 0;
  while (start <= line.size()) {
    const size_t end = std::min(line.find('\x1e', start), line.size());
    std::vector<std::string> f;
    size_t a = start;
    while (a <= end) {
      const size_t b = std::min(line.find('\x1f', a), end);
      f.push_back(line.substr(a, b - a));
      a = b + 1;
    }
    if (f.size() == 6) {
      ProgressLevel l;
      l.what = f[0];
      l.done = std::strtoull(f[1].c_str(), nullptr, 10);
      l.total = std::strtoull(f[2].c_str(), nullptr, 10);
      l.item = f[3];
      l.elapsed_s = std::strtod(f[4].c_str(), nullptr);
      l.eta_s = std::strtod(f[5].c_str(), nullptr);
      levels.push_back(std::move(l));
    }
    start = end + 1;
  }
  return levels;
}

// Reads the child's result pipe to its end while passing progress lines to `progress`. Returns the result bytes.
std::string ReadChild(int result_fd, int progress_fd, const ProgressFn& progress) {
  std::string data, pending;
  char buf[1 << 16];
  pollfd fds[2] = {{result_fd, POLLIN, 0}, {progress_fd, POLLIN, 0}};
  int open_fds = progress_fd >= 0 ? 2 : 1;
  while (open_fds > 0) {
    if (::poll(fds, progress_fd >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      throw SimulationError(std::string("poll failed: ") + std::strerror(errno));
    }
    for (pollfd& p : fds) {
      if (p.fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t r = ::read(p.fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        p.fd = -1;
        --open_fds;
        continue;
      }
      if (p.fd == result_fd) {
        data.append(buf, static_cast<size_t>(r));
        continue;
      }
      pending.append(buf, static_cast<size_t>(r));
      for (size_t nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        const std::vector<ProgressLevel> levels = DecodeProgress(pending.substr(0, nl));
        pending.erase(0, nl + 1);
        if (!levels.empty()) progress(levels);
      }
    }
  }
  return data;
}

}  // namespace

ProgressFn ChildChannel::Progress() const {
  if (progress_fd_ < 0) return {};
  const int fd = progress_fd_;
  struct Last {
    std::chrono::steady_clock::time_point sent;
    std::string shape;
  };
  auto last = std::make_shared<Last>();
  return [fd, last](const std::vector<ProgressLevel>& levels) {
    const auto now = std::chrono::steady_clock::now();
    const bool completes = !levels.empty() && levels.back().total > 0 && levels.back().done == levels.back().total;
    std::string shape = ProgressShape(levels);
    if (!completes && shape == last->shape && now - last->sent < std::chrono::milliseconds(100)) return;
    last->sent = now;
    last->shape = std::move(shape);
    const std::string line = EncodeProgress(levels);
    (void)WriteAll(fd, line.data(), line.size());  // a parent that stopped reading only loses progress
  };
}


void ChildChannel::Fail(const InputError& error) const {
  const char status = 'I';
  const std::string message = error.what();
  const bool ok = WriteAll(fd_, &status, 1) && WriteAll(fd_, message.data(), message.size());
  ::close(fd_);
  ::_exit(ok ? 0 : 3);
}

void ChildChannel::Succeed(const std::string& payload) const {
  const char status = 'R';
  const bool ok = WriteAll(fd_, &status, 1) && WriteAll(fd_, payload.data(), payload.size());
  ::close(fd_);
  ::_exit(ok ? 0 : 3);
}

std::string RunInChild(const std::function<std::string()>& work) {
  return RunInChild([&work](const ChildChannel&) { return work(); });
}

std::string RunInChild(const std::function<std::string(const ChildChannel&)>& work, const ProgressFn& progress) {
  // Unflushed stdio buffers would be inherited by the child and could be written twice.
  std::fflush(nullptr);
  int fds[2];
  int pfds[2] = {-1, -1};
  if (::pipe(fds) != 0) throw SimulationError(std::string("pipe failed: ") + std::strerror(errno));
  if (progress && ::pipe(pfds) != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw SimulationError(std::string("pipe failed: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw SimulationError(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    if (pfds[0] >= 0) ::close(pfds[0]);
    char status = 'R';
    std::string payload;
    try {
      const ChildChannel channel(fds[1], pfds[1]);
      payload = work(channel);
    } catch (const DoesNotFitError& e) {
      status = 'M';
      payload = e.what();
    } catch (const InputError& e) {
      status = 'I';
      payload = e.what();
    } catch (const std::exception& e) {
      status = 'S';
      payload = e.what();
    }
    const bool ok = WriteAll(fds[1], &status, 1) && WriteAll(fds[1], payload.data(), payload.size());
    ::close(fds[1]);
    ::_exit(ok ? 0 : 3);  // skip SimGrid's teardown: the process is done
  }
  ::close(fds[1]);
  if (pfds[1] >= 0) ::close(pfds[1]);
  std::string data;
  try {
    data = ReadChild(fds[0], pfds[0], progress);
  } catch (...) {  // the progress function gave up (or poll failed): end the child, then pass the exception on
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    ::close(fds[0]);
    if (pfds[0] >= 0) ::close(pfds[0]);
    throw;
  }
  ::close(fds[0]);
  if (pfds[0] >= 0) ::close(pfds[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(wstatus))
    throw SimulationError("simulation process killed by signal " + std::to_string(WTERMSIG(wstatus)) +
                          (WTERMSIG(wstatus) == SIGKILL ? " (out of memory?)" : ""));
  if (data.empty()) throw SimulationError("simulation process ended without a result (exit status " +
                                          std::to_string(WEXITSTATUS(wstatus)) + ")");
  const char status = data[0];
  data.erase(0, 1);
  if (status == 'M') throw DoesNotFitError(data);
  if (status == 'I') throw InputError(data);
  if (status == 'S') throw SimulationError(data);
  return data;
}

}  // namespace clustersim::sim
