// See engine.h.
#include "sim/engine.h"

#include <malloc.h>
#include <xbt/log.h>

namespace clustersim::sim {

namespace sg4 = simgrid::s4u;

// SimGrid settings for RDMA/NVLink fabrics (../shared/notes/simgrid-3.32-at-scale.md): CM02 gives
// size/bandwidth + latency exactly, no TCP corrections, no cross-traffic; raw contexts without guard pages.
std::unique_ptr<sg4::Engine> MakeEngine(uint64_t* events) {
  // Actor stacks (8 MiB, calloc'ed by SimGrid) must come from mmap, which zeroes lazily: from the heap they would be
  // touched in full. Raise the mmap count limit, and pin the threshold so glibc's dynamic threshold does not climb
  // to the stack size after the first phase's actors are freed.
  mallopt(M_MMAP_MAX, 1 << 24);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  int argc = 1;
  char arg0[] = "clustersim";
  char* argv[] = {arg0, nullptr};
  auto e = std::make_unique<sg4::Engine>(&argc, argv);
  xbt_log_control_set("root.thres:critical");
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
  sg4::Engine::set_config("contexts/guard-size:0");
  if (events != nullptr) sg4::Engine::on_time_advance_cb([events](double) { ++*events; });
  return e;
}

PlatformOptions PlatformOptionsOf(const v1::Scenario& s, double peak_flops) {
  PlatformOptions o;
  o.host_speed_flops = peak_flops;
  o.scale_up_efficiency = s.collectives().scale_up_protocol_efficiency();
  o.scale_out_efficiency = s.collectives().protocol_efficiency();
  o.spray = s.cluster().scale_out().routing() == "spray";
  return o;
}

}  // namespace clustersim::sim
