// Simulation entry points; see simulation.h. SimulateStep is the list of stages of sim/stages.h.
#include "sim/simulation.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "common/error.h"
#include "sim/accounting.h"
#include "sim/hardware/power_model.h"
#include "sim/memory_guard.h"
#include "sim/network_cost.h"
#include "sim/placement.h"
#include "sim/plausible.h"
#include "sim/stages.h"

namespace clustersim::sim {

void CheckMemoryFits(const wl::StepProgram& program, const v1::Scenario& s, const std::string& source) {
  const double capacity = s.accelerator().hbm_gb() * 1e9;
  const wl::MemoryEstimate& m = program.memory;
  if (m.total() <= capacity) return;
  char buf[640];
  std::snprintf(buf, sizeof buf,
                "needs %.1f GB per GPU on pipeline stage %u (weights %.1f, gradients %.1f, optimizer %.1f, "
                "activations %.1f, framework and fragmentation %.1f) but %s has %.0f GB: over by %.1f GB; use more "
                "pipeline/tensor parallelism, a higher zero_stage, activation recompute or offload "
                "(options.strict_memory / --strict-memory refuses such plans; without it they run, flagged)",
                m.total() / 1e9, program.memory_stage, m.weights / 1e9, m.gradients / 1e9, m.optimizer / 1e9,
                m.activations / 1e9, m.overhead / 1e9, s.accelerator().name().c_str(), capacity / 1e9,
                (m.total() - capacity) / 1e9);
  throw DoesNotFitError(InputError::Field(source, 0, "workload.parallelism", "(memory)", buf).what());
}

v1::CostItem CostItemOf(const std::string& tier, const std::string& part, double count, double unit_usd,
                        const std::string& note) {
  v1::CostItem c;
  c.set_tier(tier);
  c.set_part(part);
  c.set_count(count);
  c.set_unit_usd(unit_usd);
  c.set_total_usd(count * unit_usd);
  c.set_note(note);
  return c;
}

v1::TopologySummary SummarizeTopology(const topo::Fabric& f, const topo::Inventory& inv, const v1::Scenario& s) {
  v1::TopologySummary t;
  t.set_topology(f.params().topology);
  t.set_gpus(inv.gpus);
  t.set_nodes(inv.nodes);
  for (uint64_t n : inv.switches_per_tier) t.add_switches_per_tier(n);
  t.set_switches(inv.switches);
  uint64_t links = 0;
  for (uint64_t n : inv.links_per_kind) links += n;
  t.set_links(links);
  t.set_switch_links(inv.switch_links);
  t.set_transceivers(inv.transceivers);
  t.set_bisection_bandwidth_gbps(inv.bisection_bandwidth_gbps);
  t.set_diameter_hops(inv.diameter_hops);
  const v1::NetworkParts& p = s.cluster().parts();
  t.set_network_cost_usd(inv.switches * p.switch_price_usd() + inv.transceivers * p.transceiver_price_usd() +
                         inv.nics * p.nic_price_usd() + (inv.switch_links + inv.endpoint_links) * p.cable_price_usd());
  t.set_network_power_w(NetworkPowerW(NetworkInventory{inv.switches, inv.transceivers, inv.nics}, p));
  AddNetworkParts(f, inv, s, t);
  t.set_routing(f.params().routing);
  if (f.has_faults() || f.fault_summary().links_slowed > 0) {
    const topo::FaultSummary& fs = f.fault_summary();
    v1::FaultsApplied& fa = *t.mutable_faults();
    fa.set_links_down(fs.links_down);
    fa.set_links_slowed(fs.links_slowed);
    fa.set_switches_down(fs.switches_down);
    fa.set_planes_down(fs.planes_down);
  }
  return t;
}

topo::FabricFaults FabricFaultsOf(const v1::Scenario& s) {
  const v1::FabricFaults& in = s.cluster().faults();
  topo::FabricFaults f;
  for (const v1::LinkFault& l : in.links()) {
    topo::LinkKind kind = topo::LinkKind::kLeafToSpine;
    if (!topo::LinkKindByName(l.kind(), &kind)) {
      throw InputError::Field("", 0, "cluster.faults.links.kind", "\"" + l.kind() + "\"", "unknown link kind");
    }
    f.links.push_back({kind, l.index(), l.speed()});
  }
  for (const v1::SwitchFault& w : in.switches()) f.switches.push_back({w.tier(), w.index(), w.speed()});
  for (const v1::PlaneFault& p : in.planes()) f.planes.push_back({p.plane(), p.speed()});
  f.random_fraction = in.random().fraction();
  f.random_speed = in.random().speed();
  f.random_seed = in.random().seed() != 0 ? in.random().seed() : s.seed();
  return f;
}

topo::FabricParams FabricParamsOf(const v1::Scenario& s) {
  const v1::Cluster& c = s.cluster();
  topo::FabricParams p;
  p.topology = c.scale_out().topology();
  p.num_gpus = FabricGpus(c);  // the fabric, which may be larger than the job (sim/placement.h)
  p.gpus_per_node = c.scale_up().gpus_per_node();
  p.scale_up_domain = c.scale_up().domain_size();
  p.scale_up_bandwidth_gbps = c.scale_up().bandwidth_gbyte_per_s() * 8;
  p.scale_up_latency_ns = c.scale_up().latency_ns();
  p.nics_per_gpu = c.scale_out().nics_per_gpu();
  p.nic_bandwidth_gbps = c.scale_out().nic_bandwidth_gbps();
  p.link_latency_ns = c.scale_out().link_latency_ns();
  p.switch_latency_ns = c.scale_out().switch_latency_ns();
  p.switch_radix = c.scale_out().switch_radix();
  p.tiers = c.scale_out().tiers();
  p.oversubscription.assign(c.scale_out().oversubscription().begin(), c.scale_out().oversubscription().end());
  p.planes = c.scale_out().planes();  // 0 = the generator default (one plane per NIC port of a node)
  p.dragonfly_routers_per_group = c.scale_out().dragonfly_routers_per_group();
  p.dragonfly_hosts_per_router = c.scale_out().dragonfly_hosts_per_router();
  p.dragonfly_global_links_per_router = c.scale_out().dragonfly_global_links_per_router();
  p.dragonfly_spray_paths = c.scale_out().dragonfly_spray_paths();
  p.torus_dims.assign(c.scale_out().torus_dims().begin(), c.scale_out().torus_dims().end());
  p.slim_fly_q = c.scale_out().slim_fly_q();
  p.slim_fly_hosts_per_router = c.scale_out().slim_fly_hosts_per_router();
  p.routing = c.scale_out().routing();  // "spray" also bundles links in the platform (PlatformOptionsOf)
  p.seed = s.seed();
  p.faults = FabricFaultsOf(s);
  return p;
}

double EstimateRunMemoryGb(const v1::Scenario& s) { return EstimateStepMemory(s).total() / 1e9; }

v1::RunResult SimulateStep(const v1::Scenario& s, const std::string& source_file, const ProgressFn& progress) {
  const std::string source = SourceName(s, source_file);
  GuardMemory(s, source);  // 1. resolve
  v1::RunResult r = RunResultInChild(
      [&s, &source](const ChildChannel& channel) {
        const auto started = std::chrono::steady_clock::now();
        ProgressTask stages(channel.Progress(), "stage", 4, false);
        stages.Start("step program");
        const StepWork work = GenerateStep(s, source);  // 2. program
        stages.Finish();
        stages.Start("platform of " + std::to_string(s.cluster().num_gpus()) + " GPUs");
        SimWorld world(s, work.compute.peak_flops(), started);                          // 3. build
        Pricing pricing(world, s, work.program.layout, PricingOptionsOf(s), &channel);  // 4. price
        LinkLoad links(world.platform());
        pricing.costs().SetObserver(&links);
        stages.Finish();
        stages.Start("communication and step");
        const VariabilityModel variability(s, work.program.layout, s.workload().model().kind() == "moe");
        ExecutedStep executed =
            ExecuteStep(world, work, pricing, variability, s.workload().steps(), stages.Inner());  // 5. execute
        ApplyLinkCapacityFloor(links.MinStepS(), executed);
        stages.Finish();
        stages.Start("accounting");
        v1::RunResult out = AccountStep(s, work, executed, pricing, links, world, variability);  // 6. account
        if (SharesCluster(s))
          *out.mutable_shared_cluster() =
              ReportSharedCluster(pricing.placement(), pricing.background(), world.fabric(), s.cluster().num_gpus());
        return out;
      },
      progress);
  if (HasBackgroundLoad(s)) {
    // The interference: the same job and placement with the other jobs placed but idle.
    v1::Scenario alone = s;
    for (v1::BackgroundJob& b : *alone.mutable_cluster()->mutable_background()) {
      b.set_load_fraction(0);
      b.set_load_bytes_per_s(0);
    }
    const double t = SimulateStep(alone, source_file).step_time_s();
    r.mutable_shared_cluster()->set_step_time_alone_s(t);
    r.mutable_shared_cluster()->set_step_time_change(t > 0 ? r.step_time_s() / t - 1 : 0);
  }
  CheckReportedNumbers(r, source, "result");  // sim/plausible.h: the one rule for reported numbers
  return r;
}

}  // namespace clustersim::sim
