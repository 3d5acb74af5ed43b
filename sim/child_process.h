// Runs a function in a forked child process and returns the bytes it produced.
//
// SimGrid 3.32 allows one Engine per process and keeps global state (configuration, models), so every simulation
// runs in its own child: callers (tests, sweeps, validation) can run many simulations from one process, side by
// side, without sharing SimGrid state. An InputError or SimulationError thrown in the child is re-thrown in the
// parent with the same message; a crash of the child becomes a SimulationError naming the signal.
#pragma once

#include <functional>
#include <string>

namespace clustersim::sim {

std::string RunInChild(const std::function<std::string()>& work);

}  // namespace clustersim::sim
