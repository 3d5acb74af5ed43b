// RunInChild; see child_process.h.
#include "sim/child_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "common/error.h"
#include "common/fd.h"

namespace clustersim::sim {
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

std::string RunInChild(const std::function<std::string(const ChildChannel&)>& work) {
  // Unflushed stdio buffers would be inherited by the child and could be written twice.
  std::fflush(nullptr);
  int fds[2];
  if (::pipe(fds) != 0) throw SimulationError(std::string("pipe failed: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) throw SimulationError(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    char status = 'R';
    std::string payload;
    try {
      const ChildChannel channel(fds[1]);
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
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    data.append(buf, static_cast<size_t>(r));
  }
  ::close(fds[0]);
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
