// bench_topologies: build time, peak memory, size and routing speed of every generator at 1k-131k GPUs.
//
// Each case runs in a forked child so that its peak RSS (getrusage ru_maxrss) is its own. Prints one Markdown
// table row per case. Usage: bench_topologies [max_gpus] (default 131072).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "topologies/fabric.h"

namespace {

using clustersim::topo::BuildFabric;
using clustersim::topo::FabricParams;
using clustersim::topo::Hop;
using clustersim::topo::Inventory;

FabricParams Base(const std::string& topology, uint32_t gpus) {
  FabricParams p;
  p.topology = topology;
  p.num_gpus = gpus;
  p.gpus_per_node = 8;
  p.scale_up_domain = 8;
  p.scale_up_bandwidth_gbps = 7200;
  p.nic_bandwidth_gbps = 400;
  p.switch_radix = 64;
  p.seed = 1;
  return p;
}

// Near-cubic 3D torus dimensions for a power-of-two GPU count.
std::vector<uint32_t> TorusDims(uint32_t gpus) {
  std::vector<uint32_t> d{1, 1, 1};
  for (int i = 0; gpus > 1; i = (i + 1) % 3, gpus /= 2) d[i] *= 2;
  return d;
}

void RunCase(const std::string& topology, uint32_t gpus) {
  FabricParams p = Base(topology, gpus);
  if (topology == "multi_plane") p.planes = 8;
  if (topology == "torus") p.torus_dims = TorusDims(gpus);
  if (topology == "none") p.scale_up_domain = gpus;
  // Smallest radix of 64, 128, 256 that holds the cluster (64-port switches hold 65,536 ports in 3 tiers).
  for (uint32_t radix : {64u, 128u, 256u}) {
    p.switch_radix = radix;
    try {
      clustersim::topo::PlanInventory(p);
      break;
    } catch (const clustersim::InputError&) {
      if (radix == 256) throw;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto fabric = BuildFabric(p);
  const auto t1 = std::chrono::steady_clock::now();
  const Inventory inv = fabric->ComputeInventory();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // peak so far: the build, before the route benchmark's buffers

  std::mt19937_64 rng(12345);
  const int kPairs = 1 << 20;
  std::vector<uint32_t> pairs(2 * kPairs);
  for (uint32_t& x : pairs) x = static_cast<uint32_t>(rng() % gpus);
  std::vector<Hop> hops;
  hops.reserve(64);
  uint64_t total_hops = 0;
  const auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < kPairs; ++i) {
    hops.clear();
    fabric->Route(pairs[2 * i], pairs[2 * i + 1], static_cast<uint64_t>(i), hops);
    total_hops += hops.size();
  }
  const auto t3 = std::chrono::steady_clock::now();
  const double build_s = std::chrono::duration<double>(t1 - t0).count();
  const double route_s = std::chrono::duration<double>(t3 - t2).count();
  const bool tree = fabric->params().tiers > 0 && topology != "dragonfly" && topology != "torus" && topology != "none";
  const std::string radix = topology == "torus" || topology == "none" ? "-" : std::to_string(p.switch_radix);
  const std::string tiers = tree ? std::to_string(fabric->params().tiers) : "-";
  std::printf("| %s | %u | %s | %s | %zu | %llu | %u | %.3f | %.0f | %.2f | %.1f |\n", topology.c_str(), gpus,
              radix.c_str(), tiers.c_str(), static_cast<size_t>(boost::num_vertices(fabric->graph())),
              static_cast<unsigned long long>(inv.switches + inv.scale_up_switches), fabric->num_links(), build_s,
              static_cast<double>(ru.ru_maxrss) / 1024.0, kPairs / route_s / 1e6,
              static_cast<double>(total_hops) / kPairs);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const uint32_t max_gpus = argc > 1 ? static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 131072;
  std::printf(
      "| topology | GPUs | radix | tiers | vertices | switches (incl. scale-up) | links | build s | peak RSS MiB | "
      "Mroutes/s | hops/route |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  const char* kinds[] = {"fat_tree", "rail_optimized", "rail_only", "multi_plane", "dragonfly", "slim_fly", "torus", "none"};
  for (const char* kind : kinds) {
    for (uint32_t gpus : {1024u, 16384u, 65536u, 131072u}) {
      if (gpus > max_gpus) continue;
      const pid_t pid = fork();
      if (pid == 0) {
        try {
          RunCase(kind, gpus);
        } catch (const std::exception& e) {
          std::printf("| %s | %u | error: %s |\n", kind, gpus, e.what());
        }
        std::fflush(stdout);
        _exit(0);
      }
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
  return 0;
}
