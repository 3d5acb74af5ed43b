// The SimGrid engine and platform options every simulation process uses (SimulateStep, SimulateCollective,
// CompareRoutes, ReplayTrace), and SimWorld, the "build" stage they share. Only usable in the forked child that owns
// the engine (sim/child_process.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <simgrid/s4u.hpp>

#include "scenario.pb.h"
#include "sim/network/platform.h"
#include "topologies/fabric.h"

namespace clustersim::sim {

// Creates the process's engine with the settings for RDMA/NVLink fabrics (CM02, no TCP corrections, no
// cross-traffic, raw contexts without guard pages, actor stacks from mmap). `events`, if given, counts the
// engine's time advances and must outlive the engine.
std::unique_ptr<simgrid::s4u::Engine> MakeEngine(uint64_t* events = nullptr);

// Prepares the child's heap for a simulation of `num_gpus` GPUs: grows the heap once by a reservation sized from the
// GPU count and marks it for transparent huge pages (madvise), then frees it back to the allocator, which keeps it.
// The fabric graph, the SimGrid platform and the solver then take their many small blocks from 2 MiB pages instead
// of faulting in 4 KiB ones: 30-45% less wall time at 131k GPUs on a VM where page faults are costly
// (docs/performance.md), a few percent more resident memory. Actor stacks stay on mmap (untouched pages free).
// Without THP support, or if the heap cannot grow in place, nothing changes. Only for the forked child, and
// EndHeapReservation must follow once the platform is built.
void PrepareHeap(uint64_t num_gpus);
// Returns the unused part of the reservation to the system (malloc_trim) and restores trimming, so that the 8 MiB
// actor stacks SimGrid calloc's come from mmap again (zeroed lazily) instead of from the reserved heap, where calloc
// would touch them in full.
void EndHeapReservation();

// Platform options of a resolved scenario: host speed `peak_flops`, protocol efficiencies, spray routing.
PlatformOptions PlatformOptionsOf(const v1::Scenario& s, double peak_flops);

// The build stage: the scenario's fabric graph (topo::BuildFabric), this process's engine (MakeEngine, counting time
// advances) and the SimGrid platform on it, built on a heap prepared for the scale (PrepareHeap, then
// EndHeapReservation once the platform is sealed). `host_speed_flops` is the SimGrid host speed (the compute model's
// peak). WallSeconds() counts from `started` (default: construction). Not copyable or movable: the engine counts into
// this object. One per process.
class SimWorld {
 public:
  SimWorld(const v1::Scenario& resolved, double host_speed_flops,
           std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now());
  SimWorld(const SimWorld&) = delete;
  SimWorld& operator=(const SimWorld&) = delete;

  const topo::Fabric& fabric() const { return *fabric_; }
  simgrid::s4u::Engine& engine() { return *engine_; }
  Platform& platform() { return *platform_; }
  const Platform& platform() const { return *platform_; }
  uint64_t events() const { return events_; }  // SimGrid time advances so far
  double WallSeconds() const;                  // since `started`
  // Runs `work` in a controller actor on host 0 until the engine has nothing left to do. An exception `work`
  // throws is rethrown here: an InputError as InputError (its message kept), anything else as SimulationError.
  void RunController(const std::function<void()>& work);

 private:
  std::chrono::steady_clock::time_point wall0_;
  uint64_t events_ = 0;
  std::unique_ptr<topo::Fabric> fabric_;
  std::unique_ptr<simgrid::s4u::Engine> engine_;
  std::unique_ptr<Platform> platform_;
};

// Peak resident memory of this process, MiB (getrusage).
double PeakRssMib();

}  // namespace clustersim::sim
