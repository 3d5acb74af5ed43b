// Simulation stages; see stages.h.
#include "sim/stages.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>

#include "common/error.h"
#include "sim/joint_traffic.h"
#include "sim/memory_guard.h"
#include "sim/simulation.h"
#include "workloads/generator.h"

namespace clustersim::sim {

v1::RunResult RunResultInChild(const std::function<v1::RunResult(const ChildChannel&)>& work,
                               const ProgressFn& progress) {
  const std::string bytes = RunInChild(
      [&work](const ChildChannel& channel) -> std::string {
        const v1::RunResult r = work(channel);
        std::string out;
        r.SerializeToString(&out);
        channel.Succeed(out);  // the engine, platform and actors die with the process
      },
      progress);
  v1::RunResult r;
  if (!r.ParseFromString(bytes)) throw SimulationError("could not decode the simulation result");
  return r;
}

std::string SourceName(const v1::Scenario& s, const std::string& file) { return file.empty() ? s.name() : file; }

double MemoryLimitGb(const v1::Scenario& s) {
  const double available_gb = 0.9 * AvailableMemoryBytes() / 1e9;
  const double option_gb = s.options().memory_limit_gb();
  return option_gb > 0 ? std::min(option_gb, available_gb) : available_gb;
}

void GuardMemory(const v1::Scenario& s, const std::string& source) {
  const MemoryNeed need = EstimateStepMemory(s);
  if (need.program > need.fabric)
    RequireMemory(need, s, "simulation", source, "workload.parallelism.global_batch_size",
                  std::to_string(s.workload().parallelism().global_batch_size()) + " (" +
                      std::to_string(s.workload().model().layers()) + " layers)");
  RequireMemory(need, s, "simulation", source, "cluster.num_gpus", std::to_string(s.cluster().num_gpus()));
}

namespace {

// workload.fused_grouped_mlp runs TransformerEngine's MXFP8 CuTe kernels, which need block-scaled tensor cores
// (Blackwell; the catalog marks them with an FP4 peak) and an FP8 run on them.
void RequireFusedGroupedMlpChip(const v1::Scenario& s, const ComputeModel& compute, const std::string& source) {
  if (!s.workload().fused_grouped_mlp()) return;
  const bool fp8_run = compute.effective_precision() == "fp8" || compute.effective_precision() == "fp4";
  if (s.accelerator().fp4_tflops() > 0 && fp8_run) return;
  throw InputError::Field(source, 0, "workload.fused_grouped_mlp", "true",
                          "needs a chip with block-scaled (MXFP8) tensor cores, accelerator.fp4_tflops > 0 (" +
                              s.accelerator().name() + " has " + (fp8_run ? "no FP4 peak" : "no FP8 peak") + ")");
}

}  // namespace

StepWork GenerateStep(const v1::Scenario& s, const std::string& source) {
  const v1::Cluster& c = s.cluster();
  wl::StepProgram program = wl::BuildStepProgram(s.workload(), c.num_gpus(), c.scale_up().gpus_per_node(), s.seed());
  if (s.options().strict_memory()) CheckMemoryFits(program, s, source);
  ComputeModel compute(s.accelerator(), s.workload().precision(), s.name(), program.compute_efficiency);
  RequireFusedGroupedMlpChip(s, compute, source);
  return StepWork{std::move(program), std::move(compute)};
}

PricingOptions PricingOptionsOf(const v1::Scenario& s) {
  const bool full = s.options().fidelity() == "full";
  PricingOptions o;
  o.max_flows_per_phase = full ? std::numeric_limits<uint64_t>::max() : s.options().max_flows_per_phase();
  o.reuse_shapes = !full;
  o.reduce_symmetry = !full;
  o.reduce_classes = !full;
  o.joint = s.options().traffic() == "joint";
  o.joint_sample_flows = full ? 0 : kJointSampleFlows;
  return o;
}

namespace {

// Before each phase, the phase solver checks the memory the phase would take (PhaseSolver::SetMemoryLimit) and ends
// the process with this error rather than being killed.
void GuardPhases(PhaseSolver& solver, const v1::Scenario& s, const ChildChannel& channel) {
  const double limit_gb = MemoryLimitGb(s);
  solver.SetMemoryLimit(limit_gb * 1e9, [&s, &channel, limit_gb](double need_bytes, uint64_t flows) {
    char buf[384];
    std::snprintf(buf, sizeof buf,
                  "the simulation would reach about %.3g GB with a phase of %llu flows and the limit is %.3g GB "
                  "(fabrics or plans that the symmetry reductions cannot shrink solve every group: "
                  "docs/performance.md); reduce options.max_flows_per_phase or run on a larger machine "
                  "(options.memory_limit_gb sets the limit)",
                  need_bytes / 1e9, static_cast<unsigned long long>(flows), limit_gb);
    channel.Fail(InputError::Field(s.name(), 0, "cluster.num_gpus", std::to_string(s.cluster().num_gpus()), buf));
  });
}

}  // namespace

Pricing::Pricing(SimWorld& world, const v1::Scenario& s, const wl::RankLayout& layout, const PricingOptions& o,
                 const ChildChannel* channel)
    : solver_(world.platform()),
      costs_(solver_, world.fabric(), layout, s.collectives(), o.max_flows_per_phase,
             s.accelerator().scale_up_in_network_reduction(), o.reuse_shapes, o.reduce_symmetry) {
  solver_.SetClassReduction(o.reduce_classes);
  joint_ = o.joint;
  if (joint_) costs_.KeepJointPhases(o.joint_sample_flows);
  if (channel != nullptr) GuardPhases(solver_, s, *channel);
  placement_ = PlaceJobs(s);
  // A training step's ranks (the collective benchmark and trace replay, with no layout, map their own GPUs).
  if (layout.world() == placement_.gpu_of_rank.size()) costs_.SetPlacement(placement_.gpu_of_rank);
  background_ = ReserveBackground(world.platform(), placement_.background);
}

void ApplyLinkCapacityFloor(double floor_s, ExecutedStep& ex) {
  if (!(floor_s > ex.nominal.step_time_s)) return;
  ex.nominal.floor_added_s = floor_s - ex.nominal.step_time_s;
  ex.nominal.step_time_s = floor_s;
  ex.first.floor_added_s = std::max(0.0, floor_s - ex.first.step_time_s);
  ex.first.step_time_s = std::max(ex.first.step_time_s, floor_s);
  for (double& t : ex.step_times_s) t = std::max(t, floor_s);
}

double ExecutedStep::mean_s() const {
  double sum = 0;
  for (double t : step_times_s) sum += t;
  return step_times_s.empty() ? nominal.step_time_s : sum / static_cast<double>(step_times_s.size());
}

ExecutedStep ExecuteStep(SimWorld& world, const StepWork& work, Pricing& pricing, const VariabilityModel& variability,
                         uint32_t steps, const ProgressFn& progress) {
  pricing.costs().SetDataParallelEfficiency(work.program.sharded_dp_collective_efficiency);
  StepExecutor executor(world.engine(), world.platform(), work.program, work.compute, pricing.costs());
  executor.PrecomputeCosts(pricing.solver(), progress);
  ExecutedStep out;
  std::unique_ptr<JointTraffic> joint;
  if (pricing.joint()) {
    joint = std::make_unique<JointTraffic>(world, work.program, pricing.costs(), pricing.solver());
    executor.SetJoint(true, &joint->extra_s());
    StepTimeline separate = executor.Run();
    out.separate_step_s = separate.step_time_s;
    out.nominal = joint->Iterate(executor, std::move(separate));
    out.joint = true;
    out.joint_pairs = joint->pairs();
    out.joint_runs = static_cast<uint32_t>(joint->runs());
  } else {
    out.nominal = executor.Run();
  }
  out.perturbed = variability.active() || steps > 1;
  if (!out.perturbed) {
    out.first = out.nominal;
    out.step_times_s = {out.nominal.step_time_s};
    out.slowest.stage.assign(work.program.stages.size(), 1.0);
    return out;
  }
  for (uint32_t step = 0; step < std::max(1u, steps); ++step) {
    const ReplicaSlowdown slowest = variability.SlowestReplica(step);
    StepTimeline tl = executor.Run(slowest.stage);
    out.step_times_s.push_back(tl.step_time_s);
    if (step == 0) {
      out.first = std::move(tl);
      out.slowest = slowest;
    }
  }
  return out;
}

}  // namespace clustersim::sim
