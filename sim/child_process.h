// Runs a function in a forked child process and returns the bytes it produced.
//
// SimGrid 3.32 allows one Engine per process and keeps global state (configuration, models), so every simulation
// runs in its own child: callers (tests, sweeps, validation) can run many simulations from one process, side by
// side, without sharing SimGrid state. An InputError or SimulationError thrown in the child is re-thrown in the
// parent with the same message; a crash of the child becomes a SimulationError naming the signal.
//
// Progress: with a `progress` function, the child's updates (ChildChannel::Progress) come back over a second pipe
// and are passed to it in the parent, on the calling thread, while the child runs. If it throws, the child is killed
// and the exception propagates.
#pragma once

#include <functional>
#include <string>

#include "common/error.h"
#include "common/progress.h"

namespace clustersim::sim {

std::string RunInChild(const std::function<std::string()>& work);

// The child's end of the result pipe, for code in the child that cannot throw (a SimGrid actor): Fail ends the child
// at once and the parent re-throws the error as RunInChild does for a thrown one. Succeed ends the child at once
// with `payload` as the result, as returning it from `work` would, but without running the destructors of what is
// still alive (a SimGrid engine with 10^5 actors and links takes a second to tear down, for nothing: the process
// exits).
class ChildChannel {
 public:
  explicit ChildChannel(int fd, int progress_fd = -1) : fd_(fd), progress_fd_(progress_fd) {}
  [[noreturn]] void Fail(const InputError& error) const;
  [[noreturn]] void Succeed(const std::string& payload) const;
  // Sends progress to the parent's progress function: at most ten updates a second, except that an update completing
  // a level or changing the nesting (ProgressShape) always goes. Empty when the parent asked for none.
  ProgressFn Progress() const;

 private:
  int fd_;
  int progress_fd_;
};
std::string RunInChild(const std::function<std::string(const ChildChannel&)>& work, const ProgressFn& progress = {});

}  // namespace clustersim::sim
