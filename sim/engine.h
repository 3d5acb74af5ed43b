// The SimGrid engine and platform options every simulation process uses (SimulateStep, SimulateCollective,
// CompareRoutes, ReplayTrace). Only usable in the forked child that owns the engine (sim/child_process.h).
#pragma once

#include <simgrid/s4u.hpp>

#include <cstdint>
#include <memory>

#include "scenario.pb.h"
#include "sim/platform.h"

namespace clustersim::sim {

// Creates the process's engine with the settings for RDMA/NVLink fabrics (CM02, no TCP corrections, no
// cross-traffic, raw contexts without guard pages, actor stacks from mmap). `events`, if given, counts the
// engine's time advances and must outlive the engine.
std::unique_ptr<simgrid::s4u::Engine> MakeEngine(uint64_t* events = nullptr);

// Platform options of a resolved scenario: host speed `peak_flops`, protocol efficiencies, spray routing.
PlatformOptions PlatformOptionsOf(const v1::Scenario& s, double peak_flops);

}  // namespace clustersim::sim
