// See engine.h.
#include "sim/engine.h"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xbt/log.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "sim/placement.h"
#include "sim/simulation.h"
#include "topologies/routing.h"

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

void PrepareHeap(uint64_t num_gpus) {
  // About 12 KiB of heap per GPU at 131k (fabric, platform, solver), plus a fixed part; virtual until touched.
  const uint64_t bytes = std::min((uint64_t{256} << 20) + num_gpus * 16384, uint64_t{32} << 30);
  // Freed heap memory stays with the process (mallopt(3): -1 disables trimming), and while mmap is off the block
  // comes from the heap (sbrk), whatever its size.
  mallopt(M_TRIM_THRESHOLD, -1);
  mallopt(M_MMAP_MAX, 0);
  void* block = std::malloc(bytes);
  mallopt(M_MMAP_MAX, 1 << 24);
  if (block == nullptr) return;
  const uintptr_t huge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(block) + huge - 1) & ~(huge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(block) + bytes) & ~(huge - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  std::free(block);
}

void EndHeapReservation() {
  mallopt(M_TRIM_THRESHOLD, 128 << 10);
  malloc_trim(0);
}

PlatformOptions PlatformOptionsOf(const v1::Scenario& s, double peak_flops) {
  PlatformOptions o;
  o.host_speed_flops = peak_flops;
  o.scale_up_efficiency = s.collectives().scale_up_protocol_efficiency();
  o.scale_out_efficiency = s.collectives().protocol_efficiency();
  o.spray = topo::FindRouting(s.cluster().scale_out().topology(), s.cluster().scale_out().routing()).spray;
  return o;
}

SimWorld::SimWorld(const v1::Scenario& s, double host_speed_flops, std::chrono::steady_clock::time_point started)
    : wall0_(started) {
  PrepareHeap(FabricGpus(s.cluster()));
  fabric_ = topo::BuildFabric(FabricParamsOf(s));
  engine_ = MakeEngine(&events_);
  platform_ = std::make_unique<Platform>(*engine_, *fabric_, PlatformOptionsOf(s, host_speed_flops));
  EndHeapReservation();
}

void SimWorld::RunController(const std::function<void()>& work) {
  std::string error;
  bool input_error = false;
  simgrid::s4u::Actor::create("controller", platform_->host(0), [&]() {
    try {
      work();
    } catch (const InputError& e) {
      error = e.what();
      input_error = true;
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  engine_->run();
  if (error.empty()) return;
  if (input_error) throw InputError(error);
  throw SimulationError(error);
}

double SimWorld::WallSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count();
}

double PeakRssMib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace clustersim::sim
