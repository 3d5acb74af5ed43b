// The memory guard: what a simulating or exporting command will hold, estimated from its input before anything is
// built, against the memory its process may use: physical memory, or the cgroup's limit (a container's) when that is
// smaller. A run that would not fit is refused as bad input (exit 2, saying how much it needs and which input drives
// it) instead of being killed by the kernel. Inside the simulation process, each phase is checked again against the
// same limit before it is solved (stages.h, GuardPhases). docs/input-limits.md and docs/performance.md give the
// measurements behind the estimates.
#pragma once

#include <cstdint>
#include <string>

#include "scenario.pb.h"

namespace clustersim::sim {

// The memory this process may use, bytes: the smaller of physical memory and every cgroup limit on the way from this
// process's cgroup to the root (v2 memory.max, v1 memory.limit_in_bytes, from /proc/self/cgroup).
double AvailableMemoryBytes();
// A cgroup limit file's content as bytes; 0 for "max" or a v1 "unlimited" (>= 2^62), or text that is not a number.
double ParseCgroupLimit(const std::string& text);

// What a process will hold, bytes, by part.
struct MemoryNeed {
  double fabric = 0;   // fabric graph, SimGrid hosts, links and routes
  double program = 0;  // step program, its execution and its timeline in the result
  double other = 0;    // a replayed trace, exported files
  double total() const { return fabric + program + other; }
};
// The fabric part for a resolved scenario, from the closed-form inventory (hosts, switches, links).
double EstimateFabricBytes(const v1::Scenario& resolved);
// The step program part: layers x micro-batches, the operations every pipeline stage holds.
double EstimateProgramBytes(const v1::Scenario& resolved);
// The simulation of one training step: fabric and program.
MemoryNeed EstimateStepMemory(const v1::Scenario& resolved);

// Throws InputError "source: field = value: the <what> would need about X GB ... and this process may use Y GB
// ..." when `need` exceeds MemoryLimitGb(resolved).
void RequireMemory(const MemoryNeed& need, const v1::Scenario& resolved, const std::string& what,
                   const std::string& source, const std::string& field, const std::string& value);

}  // namespace clustersim::sim
