// The memory guard; see memory_guard.h.
#include "sim/memory_guard.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "sim/simulation.h"
#include "sim/stages.h"
#include "topologies/fabric.h"

namespace clustersim::sim {
namespace {

namespace fs = std::filesystem;

// Measured (Release, this 2-core machine; docs/input-limits.md): peak resident bytes of the simulation process per
// GPU (SimGrid host, NIC, graph vertex), per switch, per fabric link (two SimGrid links, one per direction, and the
// graph edge), and per layer of every micro-batch of the step program (its operations, their execution and timeline:
// 2.0 KB measured from 16,384 to 262,144 layer-passes). Fat-trees take about 0.8x these fabric figures, dragonflies
// 1.5x; the phases' flows are guarded separately, inside the process.
constexpr double kBaseBytes = 30e6;
constexpr double kBytesPerGpu = 3000;
constexpr double kBytesPerSwitch = 3000;
constexpr double kBytesPerLink = 1000;
constexpr double kBytesPerLayerPass = 2500;

// The first line of a small file, "" when it cannot be read.
std::string FirstLine(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

// The smallest limit in `file_name` files from /sys/fs/cgroup/<mount>/<path> up to the mount's root (0: none).
double SmallestLimitUpwards(const fs::path& mount, const std::string& path, const char* file_name) {
  double smallest = 0;
  fs::path dir = mount / fs::path(path).relative_path();
  for (int depth = 0; depth < 64; ++depth) {
    const double v = ParseCgroupLimit(FirstLine(dir / file_name));
    if (v > 0 && (smallest == 0 || v < smallest)) smallest = v;
    if (dir == mount || !dir.has_parent_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
  }
  return smallest;
}

// The cgroup memory limit of this process, bytes (0: none found).
double CgroupLimitBytes() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  double limit = 0;
  auto take = [&limit](double v) {
    if (v > 0 && (limit == 0 || v < limit)) limit = v;
  };
  while (std::getline(in, line)) {  // "hierarchy-id:controllers:path"
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers.empty()) {  // v2
      take(SmallestLimitUpwards("/sys/fs/cgroup", path, "memory.max"));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {  // v1
      take(SmallestLimitUpwards("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes"));
    }
  }
  take(ParseCgroupLimit(FirstLine("/sys/fs/cgroup/memory.max")));  // a v2 namespace's own root
  take(ParseCgroupLimit(FirstLine("/sys/fs/cgroup/memory/memory.limit_in_bytes")));
  return limit;
}

std::string Gb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g GB", bytes / 1e9);
  return buf;
}

}  // namespace

double ParseCgroupLimit(const std::string& text) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return 0;  // "max", empty, unreadable
  try {
    const double v = std::stod(text);
    return v >= 4.6e18 ? 0 : v;  // v1 writes "unlimited" as a page-rounded 2^63 - 1
  } catch (const std::exception&) {
    return 0;
  }
}

double AvailableMemoryBytes() {
  const double physical = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  const double cgroup = CgroupLimitBytes();
  return cgroup > 0 ? std::min(physical, cgroup) : physical;
}

double EstimateFabricBytes(const v1::Scenario& s) {
  const topo::Inventory inv = topo::PlanInventory(FabricParamsOf(s));
  double links = 0;
  for (const uint64_t n : inv.links_per_kind) links += static_cast<double>(n);
  return kBaseBytes + kBytesPerGpu * static_cast<double>(inv.gpus) +
         kBytesPerSwitch * static_cast<double>(inv.switches + inv.scale_up_switches) + kBytesPerLink * links;
}

double EstimateProgramBytes(const v1::Scenario& s) {
  const v1::Parallelism& p = s.workload().parallelism();
  const double per_step = static_cast<double>(std::max(1u, p.dp())) * std::max(1u, p.micro_batch_size());
  const double microbatches = std::max(1.0, static_cast<double>(p.global_batch_size()) / per_step);
  const v1::Model& m = s.workload().model();
  const double layers = static_cast<double>(m.layers()) + m.mtp_depth();
  return kBytesPerLayerPass * microbatches * layers;
}

MemoryNeed EstimateStepMemory(const v1::Scenario& s) {
  MemoryNeed n;
  n.fabric = EstimateFabricBytes(s);
  n.program = EstimateProgramBytes(s);
  return n;
}

void RequireMemory(const MemoryNeed& need, const v1::Scenario& s, const std::string& what, const std::string& source,
                   const std::string& field, const std::string& value) {
  const double limit = MemoryLimitGb(s) * 1e9;
  if (need.total() <= limit) return;
  std::string parts = "fabric " + Gb(need.fabric);
  if (need.program > 0) parts += ", step program " + Gb(need.program);
  if (need.other > 0) parts += ", " + Gb(need.other) + " more";
  throw InputError::Field(source, 0, field, value,
                          "the " + what + " would need about " + Gb(need.total()) + " of memory (" + parts +
                              ") and this process may use " + Gb(limit) +
                              " (90% of the machine's or the container's memory; options.memory_limit_gb sets a "
                              "lower limit): use a smaller input or a larger machine");
}

}  // namespace clustersim::sim
