// See search.h.
#include "planning/search.h"

#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "common/error.h"
#include "planning/run.h"
#include "results/compare.h"
#include "results/report.h"
#include "sim/engine.h"
#include "sim/hardware/compute_model.h"
#include "sim/network/collectives.h"
#include "sim/placement.h"
#include "workloads/generator.h"
#include "workloads/moe_routing.h"
#include "workloads/plan.h"

namespace clustersim::planning {
namespace {

struct MemoryChoice {
  uint32_t zero_stage;
  const char* recompute;
};
// Memory-saving choices in order of increasing cost: the first that fits is taken for each plan shape. With one
// replica of the dense parameters (dp x cp = 1) ZeRO has nothing to shard.
constexpr std::array<MemoryChoice, 6> kShardedChoices{
    {{1, "none"}, {1, "selective"}, {3, "none"}, {1, "full"}, {3, "selective"}, {3, "full"}}};
constexpr std::array<MemoryChoice, 3> kReplicaChoices{{{0, "none"}, {0, "selective"}, {0, "full"}}};

std::vector<uint32_t> Divisors(uint32_t n) {
  std::vector<uint32_t> d;
  for (uint32_t i = 1; i <= n; ++i)
    if (n % i == 0) d.push_back(i);
  return d;
}

double WorstStageBytes(const wl::StepProgram& p) {
  double worst = p.memory.total();
  for (const wl::MemoryEstimate& m : p.stage_memory) worst = std::max(worst, m.total());
  return worst;
}

wl::StepProgram ProgramOf(const v1::Scenario& s, wl::RoutingMemo* routing = nullptr) {
  return wl::BuildStepProgram(s.workload(), s.cluster().num_gpus(), s.cluster().scale_up().gpus_per_node(), s.seed(),
                              routing);
}

// While the search builds and drops one step program per candidate (tens to hundreds of MB of ops each at 131k),
// glibc would map and unmap every large vector afresh (a page fault per 4 KiB touched: a third of the search's time
// on a 131k MoE scenario). In this scope large blocks come from the heap and freed memory stays with the process;
// the destructor restores glibc's defaults and returns what is free to the system.
class ReuseFreedProgramMemory {
 public:
  ReuseFreedProgramMemory() {
    mallopt(M_TRIM_THRESHOLD, -1);
    mallopt(M_MMAP_MAX, 0);
  }
  ~ReuseFreedProgramMemory() {
    mallopt(M_MMAP_MAX, 65536);
    sim::EndHeapReservation();  // trimming back to glibc's threshold, and what is free returned
  }
  ReuseFreedProgramMemory(const ReuseFreedProgramMemory&) = delete;
  ReuseFreedProgramMemory& operator=(const ReuseFreedProgramMemory&) = delete;
};

struct Scored {
  v1::Parallelism plan;
  double memory_gb = 0;
  double estimate_s = 0;
  std::vector<uint32_t> torus_tile;  // cluster.placement.torus_tile of the plan (empty: GPU order)
};

// Scale-up domains of `domain` ranks that `members` span. Groups are ascending rank progressions
// (wl::RankLayout::Group), so one pass counts the changes of domain; any other order is sorted first. This runs for
// every stage and dimension of every candidate's sampled programs (groups of up to 16,384 ranks at 131k GPUs), so it
// allocates nothing in the ascending case.
uint32_t DomainsSpanned(const std::vector<uint32_t>& members, uint32_t domain) {
  if (members.empty()) return 0;
  if (std::is_sorted(members.begin(), members.end())) {
    uint32_t count = 1;
    for (size_t i = 1; i < members.size(); ++i) count += members[i] / domain != members[i - 1] / domain ? 1 : 0;
    return count;
  }
  std::vector<uint32_t> nodes(members.size());
  for (size_t i = 0; i < members.size(); ++i) nodes[i] = members[i] / domain;
  std::sort(nodes.begin(), nodes.end());
  return static_cast<uint32_t>(std::unique(nodes.begin(), nodes.end()) - nodes.begin());
}

// A torus scale-out is the whole fabric: each GPU's links to its neighbours, scale_up_bandwidth split over two links
// a dimension, no NIC, no switch. A group's collectives run rings over the torus dimensions it spans as a block
// ("multidim_ring", else "bidirectional_ring": sim/network/collectives.h), each GPU sending on the link directions
// sim::TorusSpan counts; a pipeline send takes one link direction.
struct TorusView {
  bool on = false;
  std::vector<uint32_t> dims, tile;
  double bps_per_link = 0;  // bytes/s of one link direction
  explicit TorusView(const v1::Scenario& s) {
    const v1::Cluster& cl = s.cluster();
    on = cl.scale_out().topology() == "torus";
    if (!on) return;
    dims.assign(cl.scale_out().torus_dims().begin(), cl.scale_out().torus_dims().end());
    tile.assign(cl.placement().torus_tile().begin(), cl.placement().torus_tile().end());
    const auto active = static_cast<double>(std::count_if(dims.begin(), dims.end(), [](uint32_t n) { return n >= 2; }));
    bps_per_link = cl.scale_up().bandwidth_gbyte_per_s() * 1e9 * s.collectives().scale_up_protocol_efficiency() /
                   (2 * std::max(1.0, active));
  }
  // The group's span; a group that is not a block runs one ring through it (a segment's link direction a step).
  sim::TorusSpan Span(const std::vector<uint32_t>& ranks) const {
    std::vector<uint32_t> gpus(ranks);
    if (!tile.empty())
      for (uint32_t& g : gpus) g = sim::TorusTileGpu(g, dims, tile);
    const sim::TorusSpan span = sim::TorusBlockSpan(gpus, dims);
    return span.dims > 0 ? span : sim::TorusSpan{1, static_cast<uint32_t>(ranks.size() - 1), 1};
  }
};

// The placements a shape is estimated with: the scenario's own (its torus_tile, or GPU order) and, on a torus, the
// cube tile holding the shape's innermost group (TP x CP, or the EP group where it is larger), as TPU-style machines
// lay out their meshes. A scenario on another fabric has its own placement only.
std::vector<std::vector<uint32_t>> TileCandidates(const v1::Scenario& s, const v1::Parallelism& p) {
  const v1::Cluster& cl = s.cluster();
  std::vector<std::vector<uint32_t>> out{{cl.placement().torus_tile().begin(), cl.placement().torus_tile().end()}};
  if (cl.scale_out().topology() != "torus" || !sim::JobOwnsFabric(cl)) return out;  // torus_tile's rule
  const uint32_t inner = std::max(1u, p.tp()) * std::max(1u, p.cp());
  const uint32_t expert = std::max(1u, p.ep()) * std::max(1u, p.expert_tp());
  const uint32_t volume = std::max(inner, expert);
  if (volume % inner != 0 || volume % expert != 0 || cl.num_gpus() % volume != 0) return out;
  const std::vector<uint32_t> dims(cl.scale_out().torus_dims().begin(), cl.scale_out().torus_dims().end());
  std::vector<uint32_t> cube = sim::TorusCubeTile(dims, volume);
  if (!cube.empty() && cube != out.front()) out.push_back(std::move(cube));
  return out;
}

void SetTile(v1::Scenario& c, const std::vector<uint32_t>& tile) {
  auto* t = c.mutable_cluster()->mutable_placement()->mutable_torus_tile();
  t->Assign(tile.begin(), tile.end());
}

// The representative of the slowest stage: its two-stream timeline over the whole program (see EstimateStepS).
double SlowestStageS(const v1::Scenario& s, const wl::StepProgram& prog) {
  const ComputeModel cm(s.accelerator(), s.workload().precision(), s.name(), prog.compute_efficiency);
  const v1::Cluster& cl = s.cluster();
  const v1::Collectives& co = s.collectives();
  const double up_bps = cl.scale_up().bandwidth_gbyte_per_s() * 1e9 * co.scale_up_protocol_efficiency();
  double out_bps =
      cl.scale_out().nic_bandwidth_gbps() * cl.scale_out().nics_per_gpu() / 8 * 1e9 * co.protocol_efficiency();
  if (cl.scale_out().topology() == "none" || !(out_bps > 0)) out_bps = up_bps;
  const uint32_t domain = std::max(1u, cl.scale_up().domain_size());
  const double latency_s = co.step_latency_ns() * 1e-9;
  const wl::RankLayout& L = prog.layout;
  double slowest = 0;
  const TorusView torus(s);
  struct GroupInfo {
    bool known = false;
    uint32_t size = 1;
    uint32_t nodes = 1;  // scale-up domains the group spans
    bool intra = true;
    sim::TorusSpan torus;  // on a torus (TorusView)
  };
  std::array<GroupInfo, 8> groups{};
  // Stages are translations of one another by the stage size: whole domains apart, their groups span alike.
  const bool stages_alike = (uint64_t{L.tp} * L.cp * L.dp) % domain == 0;
  for (size_t st = 0; st < prog.stages.size(); ++st) {
    const uint32_t rep = L.StageRepresentative(static_cast<uint32_t>(st));
    if (!stages_alike) groups = {};
    auto info = [&](wl::Dim d) -> const GroupInfo& {
      GroupInfo& g = groups[static_cast<size_t>(d)];
      if (!g.known) {
        const std::vector<uint32_t> members = L.Group(rep, d);
        g.known = true;
        g.size = static_cast<uint32_t>(members.size());
        g.nodes = DomainsSpanned(members, domain);
        g.intra = g.nodes == 1;
        if (torus.on && members.size() > 1) g.torus = torus.Span(members);
      }
      return g;
    };
    // A two-stream timeline of the representative: compute and blocking communication advance the main stream;
    // asynchronous collectives queue on the communication stream; a wait joins the two (the executor's rules,
    // without link sharing).
    double main_t = 0, stream_t = 0;
    // tag -> completion of its latest asynchronous collective; a program uses a handful of tags (wl::Op::tag), so a
    // flat list searched in order beats a tree that allocates per tag.
    std::vector<std::pair<uint32_t, double>> done_at;
    auto done_slot = [&done_at](uint32_t tag) -> std::pair<uint32_t, double>* {
      for (auto& d : done_at)
        if (d.first == tag) return &d;
      return nullptr;
    };
    for (const wl::Op& op : prog.stages[st]) {
      switch (op.type) {
        case wl::OpType::kCompute:
          main_t += cm.Seconds(op);  // with its shape and host terms, as the executor times it
          break;
        case wl::OpType::kSend: {
          const uint32_t stage_size = L.tp * L.cp * L.dp;
          const uint32_t peer =
              op.peer_delta > 0 ? (rep + stage_size) % L.world() : (rep + L.world() - stage_size) % L.world();
          const double bps = torus.on ? torus.bps_per_link : peer / domain == rep / domain ? up_bps : out_bps;
          main_t += static_cast<double>(op.comm_bytes) / bps + latency_s;
          break;
        }
        case wl::OpType::kCollective: {
          const GroupInfo& g = info(op.dim);
          if (g.size <= 1) break;
          const double n = g.size;
          double factor = (n - 1) / n;
          const double per_node = n / g.nodes;  // the collective layer's latency terms (sim/network/collectives.h)
          double latency = sim::RingLatencyS(n, per_node, co);
          if (op.coll == wl::Coll::kAllReduce) {
            factor *= 2;
            latency = std::min(2 * latency, sim::TreeAllReduceLatencyS(n, per_node, co));
          } else if (op.coll == wl::Coll::kBroadcast) {
            factor = 1;
          } else if (op.coll == wl::Coll::kAllToAll && !g.intra) {
            factor *= op.internode_scale;
          }
          double bps = g.intra ? up_bps : out_bps;
          if (torus.on) {
            bps = torus.bps_per_link * g.torus.link_directions;
            const double passes = op.coll == wl::Coll::kAllReduce ? 2 : 1;
            latency = passes * g.torus.steps * latency_s;
          }
          const double eff = wl::IsDataParallel(op.dim) ? prog.sharded_dp_collective_efficiency : 1.0;
          const double t = factor * static_cast<double>(op.comm_bytes) / (bps * eff) + latency;
          if (op.async) {
            stream_t = std::max(stream_t, main_t) + t;
            if (auto* d = done_slot(op.tag)) {
              d->second = stream_t;
            } else {
              done_at.emplace_back(op.tag, stream_t);
            }
          } else {
            main_t += t;
          }
          break;
        }
        case wl::OpType::kWait: {
          if (const auto* d = done_slot(op.tag)) main_t = std::max(main_t, d->second);
          break;
        }
        case wl::OpType::kRecv:
          break;
      }
    }
    slowest = std::max(slowest, main_t);
  }
  return slowest;
}

// The pipeline bubble's stretch (m + (p - 1) / v) / m of m micro-batches.
double BubbleFactor(const wl::StepProgram& prog, double m) {
  const double p = prog.layout.pp, v = std::max(1u, prog.chunks_per_stage);
  return (m + (p - 1) / v) / m;
}

// Candidates with many micro-batches per pipeline (a small dp at 131k gives thousands) are built with
// kSampleMicrobatchesPerStage x pp x vpp micro-batches and twice as many instead of all: past the schedule's warm-up
// every further micro-batch adds the same ops, so the slowest stage's time is affine in m and is extrapolated from
// the two; the memory estimate is the larger program's (its in-flight activations have saturated). The step-level
// collectives (gradient reduction, parameter gathers) are in both, counted once.
constexpr uint64_t kSampleMicrobatchesPerStage = 2;

struct Sized {
  double memory_bytes = 0;
  double estimate_s = 0;
  size_t tile = 0;  // the index in `tiles` of the placement with the smallest estimate
};

// `c` holds candidate `p`; its global batch is changed while sampling and restored. `routing` (optional) reuses the
// MoE routing of earlier candidates with the same routing shape. The estimate is the best over `tiles` (placements on
// a torus, TileCandidates; none: the scenario's own): the programs do not depend on the placement, only the
// estimate's group spans do. `c` leaves with its own placement.
Sized MemoryAndEstimate(v1::Scenario& c, const v1::Parallelism& p, wl::RoutingMemo* routing = nullptr,
                        const std::vector<std::vector<uint32_t>>& tiles = {}) {
  const uint64_t per_replica = uint64_t{std::max(1u, p.dp())} * std::max(1u, p.micro_batch_size());
  const uint64_t m = p.global_batch_size() / per_replica;
  const uint64_t m1 = std::max<uint64_t>(8, kSampleMicrobatchesPerStage * p.pp() * std::max(1u, p.vpp()));
  const std::vector<uint32_t> own(c.cluster().placement().torus_tile().begin(),
                                  c.cluster().placement().torus_tile().end());
  const size_t placements = std::max<size_t>(1, tiles.size());
  // The slowest stage of `prog` under placement i.
  auto slowest_with = [&](const wl::StepProgram& prog, size_t i) {
    if (!tiles.empty()) SetTile(c, tiles[i]);
    const double t = SlowestStageS(c, prog);
    if (!tiles.empty()) SetTile(c, own);
    return t;
  };
  Sized out;
  out.estimate_s = std::numeric_limits<double>::infinity();
  if (m <= 2 * m1) {
    const wl::StepProgram prog = ProgramOf(c, routing);
    out.memory_bytes = WorstStageBytes(prog);
    for (size_t i = 0; i < placements; ++i) {
      const double t = slowest_with(prog, i) * BubbleFactor(prog, std::max(1u, prog.microbatches));
      if (t < out.estimate_s) out = {out.memory_bytes, t, i};
    }
    return out;
  }
  auto with_microbatches = [&](uint64_t k) {
    c.mutable_workload()->mutable_parallelism()->set_global_batch_size(static_cast<uint32_t>(k * per_replica));
    return ProgramOf(c, routing);
  };
  const wl::StepProgram a = with_microbatches(m1);
  std::vector<double> t1(placements);
  for (size_t i = 0; i < placements; ++i) t1[i] = slowest_with(a, i);
  out.memory_bytes = WorstStageBytes(a);
  const wl::StepProgram b = with_microbatches(2 * m1);
  out.memory_bytes = std::max(out.memory_bytes, WorstStageBytes(b));
  c.mutable_workload()->mutable_parallelism()->set_global_batch_size(p.global_batch_size());
  for (size_t i = 0; i < placements; ++i) {
    const double t2 = slowest_with(b, i);
    const double slowest = t2 + (t2 - t1[i]) * double(m - 2 * m1) / double(m1);
    const double t = slowest * BubbleFactor(b, double(m));
    if (t < out.estimate_s) out = {out.memory_bytes, t, i};
  }
  return out;
}

// Every shape of the search space (parallel sizes, interleaving, micro-batch, expert parallelism, schedule and the
// recipe's settings), in the deterministic order of the search; the memory choices are made per shape
// (EvaluateShape).
std::vector<v1::Parallelism> CandidateShapes(const v1::Scenario& s, const SearchOptions& o) {
  const v1::Model& m = s.workload().model();
  const uint32_t n = s.cluster().num_gpus();
  const uint32_t domain = std::max(1u, s.cluster().scale_up().domain_size());
  const uint32_t batch = s.workload().parallelism().global_batch_size();
  const bool moe = m.kind() == "moe";
  const v1::Parallelism& given = s.workload().parallelism();
  const bool given_dualpipe = given.schedule() == "dualpipe";
  const uint64_t m_layers = m.layers();
  // The recipe's custom layout applies to the candidates with as many virtual stages; the others split evenly.
  const size_t layout_stages = wl::ParsePipelineLayout(given.pipeline_model_parallel_layout(), s.name()).size();
  std::vector<v1::Parallelism> shapes;
  for (uint32_t tp = 1; tp <= domain && tp <= n; tp *= 2) {
    for (uint32_t cp = 1; cp <= 16 && tp * cp <= n; cp *= 2) {
      if (n % (tp * cp) != 0) continue;
      for (uint32_t pp : Divisors(n / (tp * cp))) {
        if (pp > m.layers()) continue;  // uneven splits allowed (ValidatePlan: every virtual stage gets a layer)
        const uint32_t dp = n / (tp * cp * pp);
        std::vector<uint32_t> vpps{1};
        const uint64_t split_slots = wl::PipelineSplitSlots(m.layers(), given, pp);  // as ResolvePlan counts them
        for (uint32_t v = 2; pp > 1 && v <= o.max_vpp; ++v)
          if ((split_slots / pp) % v == 0) vpps.push_back(v);
        std::vector<uint32_t> eps{1};
        for (uint32_t ep = 2; moe && ep <= tp * cp * dp; ep *= 2)
          if (m.routed_experts() % ep == 0 && (tp * cp * dp) % ep == 0) eps.push_back(ep);
        for (uint32_t vpp : vpps) {
          for (uint32_t mbs : o.micro_batch_sizes) {
            if (batch % (uint64_t{dp} * mbs) != 0) continue;
            for (uint32_t ep : eps) {
              v1::Parallelism p;
              p.set_tp(tp);
              p.set_cp(cp);
              p.set_pp(pp);
              p.set_dp(dp);
              p.set_ep(ep);
              p.set_vpp(vpp);
              p.set_expert_tp(1);
              p.set_sequence_parallel(tp > 1);
              p.set_micro_batch_size(mbs);
              p.set_global_batch_size(batch);
              // A DualPipe recipe keeps DualPipe on the pipelines it can run (pp > 1, vpp 1, m >= 2 pp, 2 pp
              // virtual stages); the others are 1F1B or interleaved.
              const uint64_t micro = batch / (uint64_t{dp} * mbs);
              const bool dualpipe =
                  given_dualpipe && vpp == 1 && pp > 1 && micro >= 2ull * pp && 2ull * pp <= m_layers;
              const wl::Schedule sched = vpp > 1    ? wl::Schedule::kInterleaved
                                         : dualpipe ? wl::Schedule::kDualPipe
                                                    : wl::Schedule::k1F1B;
              p.set_schedule(wl::ToString(sched));
              p.set_overlap_grad_reduce(true);
              p.set_overlap_param_gather(true);
              p.set_tp_comm_overlap(given.tp_comm_overlap() && tp > 1);  // the recipe's software, where it applies
              p.set_account_for_embedding_in_pipeline_split(given.account_for_embedding_in_pipeline_split());
              p.set_account_for_loss_in_pipeline_split(given.account_for_loss_in_pipeline_split());
              if (layout_stages > 0 && layout_stages == uint64_t{pp} * wl::ChunksPerStage(sched, vpp))
                p.set_pipeline_model_parallel_layout(given.pipeline_model_parallel_layout());
              shapes.push_back(std::move(p));
            }
          }
        }
      }
    }
  }
  return shapes;
}

struct ShapeResult {
  bool valid = false;  // ResolvePlan accepted it (with its first memory choice)
  std::optional<Scored> fit;
};

// The first memory choice of `p`'s shape that fits in `hbm` bytes, with its estimate. `given` is the scenario's own
// parallelism (its ZeRO-3 software and all-to-all overlap carry over); `c` is the caller's scratch copy of the
// scenario, whose parallelism is overwritten.
ShapeResult EvaluateShape(v1::Scenario& c, const v1::Parallelism& given, v1::Parallelism p, double hbm,
                          wl::RoutingMemo* routing) {
  const std::string& zero3 = given.zero3_implementation();
  const bool overlap_a2a = given.overlap_moe_a2a();
  const wl::Schedule sched = wl::ParseSchedule(p.schedule(), p.vpp(), c.name());  // as CandidateShapes set it
  ShapeResult r;
  const bool sharded = uint64_t{p.dp()} * p.cp() > 1;
  const size_t choices = sharded ? kShardedChoices.size() : kReplicaChoices.size();
  for (size_t i = 0; i < choices; ++i) {
    const MemoryChoice& mc = sharded ? kShardedChoices[i] : kReplicaChoices[i];
    p.set_zero_stage(mc.zero_stage);
    // The scenario's ZeRO-3 software applies to the ZeRO-3 candidates only.
    p.set_zero3_implementation(mc.zero_stage == 3 ? zero3 : "");
    p.set_recompute(mc.recompute);
    // The recipe's all-to-all overlap where Megatron-LM allows it with this shape (wl::A2aOverlapConflict).
    const wl::Recompute rc = std::string_view(mc.recompute) == "full" ? wl::Recompute::kFull : wl::Recompute::kNone;
    p.set_overlap_moe_a2a(overlap_a2a && wl::A2aOverlapConflict(p.pp(), sched, rc).empty());
    *c.mutable_workload()->mutable_parallelism() = p;
    try {
      wl::ValidatePlan(c.workload(), c.cluster().num_gpus(), c.name());
    } catch (const InputError&) {
      return r;  // the search space's own combinations: a rejected shape is skipped, not reported
    }
    r.valid = true;
    const std::vector<std::vector<uint32_t>> tiles = TileCandidates(c, p);
    const Sized sized = MemoryAndEstimate(c, p, routing, tiles);
    if (sized.memory_bytes > hbm) continue;
    r.fit = Scored{p, sized.memory_bytes / 1e9, sized.estimate_s, tiles[sized.tile]};
    return r;
  }
  return r;
}

// Shapes evaluated at once: each worker builds its own step programs (hundreds of MB at 131k), so more would mostly
// cost memory.
constexpr unsigned kMaxSearchThreads = 4;

std::vector<Scored> Enumerate(const v1::Scenario& s, const SearchOptions& o, uint64_t* valid_out) {
  ProgressTask examined(o.progress, "plans examined", 0);
  const double hbm = UsableHbmBytes(s, o.memory_margin_gb);
  const std::vector<v1::Parallelism> shapes = CandidateShapes(s, o);
  std::vector<ShapeResult> results(shapes.size());
  const ReuseFreedProgramMemory heap;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> valid{0};
  std::vector<std::exception_ptr> errors;
  std::mutex errors_mutex;
  // Workers take shapes in order and write each result to its own slot, so the outcome does not depend on the number
  // of workers or their timing; the calling thread reports progress.
  auto work = [&](bool reports) {
    try {
      v1::Scenario c = s;
      wl::RoutingMemo routing;  // candidates share a few routing shapes (EP size, tokens per rank)
      for (size_t i = next++; i < shapes.size(); i = next++) {
        results[i] = EvaluateShape(c, s.workload().parallelism(), shapes[i], hbm, &routing);
        if (results[i].valid) ++valid;
        if (reports) examined.Set(valid.load(), 0);
      }
    } catch (...) {
      next = shapes.size();
      const std::lock_guard<std::mutex> lock(errors_mutex);
      errors.push_back(std::current_exception());
    }
  };
  const unsigned wanted =
      o.threads > 0 ? o.threads : std::clamp(std::thread::hardware_concurrency(), 1u, kMaxSearchThreads);
  const auto threads = static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(wanted, shapes.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, false);
  work(true);
  for (std::thread& t : pool) t.join();
  if (!errors.empty()) std::rethrow_exception(errors.front());
  std::vector<Scored> out;
  for (ShapeResult& r : results)
    if (r.fit) out.push_back(std::move(*r.fit));
  if (valid_out != nullptr) *valid_out = valid.load();
  return out;
}

double MetricOf(const v1::PlanChoice& c, PlanMetric by) {
  switch (by) {
    case PlanMetric::kTime:
      return c.step_time_s();
    case PlanMetric::kEnergy:
      return c.energy_per_step_j();
    case PlanMetric::kCost:
      return c.cost_per_step_usd();
  }
  return 0;
}

v1::PlanChoice Simulate(const v1::Scenario& s, const v1::Parallelism& plan, double memory_gb, double estimate_s,
                        ProgressTask& candidates, const std::vector<uint32_t>* tile = nullptr) {
  v1::Scenario c = s;
  *c.mutable_workload()->mutable_parallelism() = plan;
  if (tile != nullptr) SetTile(c, *tile);
  const std::string label = PlanLabel(plan, c.cluster().placement());
  candidates.Start(label);
  v1::RunResult r = RunStep(c, {}, candidates.Inner());
  candidates.Finish();
  v1::PlanChoice ch;
  ch.set_label(label);
  *ch.mutable_parallelism() = plan;
  *ch.mutable_torus_tile() = c.cluster().placement().torus_tile();
  ch.set_memory_gb(memory_gb);
  ch.set_estimated_step_time_s(estimate_s);
  ch.set_simulated(true);
  ch.set_step_time_s(r.step_time_s());
  ch.set_tokens_per_s(r.tokens_per_s());
  ch.set_mfu(r.mfu());
  ch.set_energy_per_step_j(r.power().energy_per_step_j());
  // Cost of one step: the projection's cost model with a budget of one step's tokens.
  r.mutable_scenario()->mutable_facility()->set_training_tokens(r.tokens_per_s() * r.step_time_s());
  AddProjection(r);
  ch.set_cost_per_step_usd(r.projection().cost_usd());
  return ch;
}

}  // namespace

const char* ToString(PlanMetric m) {
  switch (m) {
    case PlanMetric::kTime:
      return "time";
    case PlanMetric::kEnergy:
      return "energy";
    case PlanMetric::kCost:
      return "cost";
  }
  return "?";
}

PlanMetric ParsePlanMetric(const std::string& text, const std::string& field) {
  if (text == "time") return PlanMetric::kTime;
  if (text == "energy") return PlanMetric::kEnergy;
  if (text == "cost") return PlanMetric::kCost;
  throw InputError::Field("", 0, field, "\"" + text + "\"", "must be one of: time, energy, cost");
}

std::string PlanLabel(const v1::Parallelism& p) {
  std::string l = fmt::format("tp{} cp{} pp{}", p.tp(), p.cp(), p.pp());
  if (p.vpp() > 1) l += fmt::format(" vpp{}", p.vpp());
  if (p.schedule() == "dualpipe") l += " dualpipe";
  if (!p.pipeline_model_parallel_layout().empty()) l += " layout";  // the recipe's custom pipeline layout
  l += fmt::format(" dp{}", p.dp());
  if (p.ep() > 1) l += fmt::format(" ep{}", p.ep());
  l += fmt::format(" mbs{} zero{} rc={}", p.micro_batch_size(), p.zero_stage(), p.recompute());
  if (p.ep() > 1 && p.overlap_moe_a2a()) l += " a2a-overlap";
  return l;
}

std::string PlanLabel(const v1::Parallelism& p, const v1::Placement& placement) {
  const std::string l = PlanLabel(p);
  return placement.torus_tile_size() == 0 ? l : l + " tile " + sim::TorusTileText(placement.torus_tile());
}

double EstimateStepS(const v1::Scenario& s, const wl::StepProgram& prog) {
  return SlowestStageS(s, prog) * BubbleFactor(prog, std::max(1u, prog.microbatches));
}

PlanEstimate EstimatePlan(const v1::Scenario& resolved) {
  v1::Scenario c = resolved;
  const Sized sized = MemoryAndEstimate(c, resolved.workload().parallelism());
  return {sized.memory_bytes / 1e9, sized.estimate_s};
}

double UsableHbmBytes(const v1::Scenario& s, double margin_gb) { return (s.accelerator().hbm_gb() - margin_gb) * 1e9; }

double PlanMemoryGb(const v1::Scenario& s) { return WorstStageBytes(ProgramOf(s)) / 1e9; }

std::vector<v1::Parallelism> EnumeratePlans(const v1::Scenario& s, const SearchOptions& o, uint64_t* valid) {
  std::vector<v1::Parallelism> plans;
  for (Scored& sc : Enumerate(s, o, valid)) plans.push_back(std::move(sc.plan));
  return plans;
}

v1::PlanSearchResult SearchPlans(const v1::Scenario& s, const SearchOptions& o) {
  if (o.top_k == 0) throw InputError::Field("", 0, "--top", "0", "must be >= 1");
  uint64_t valid = 0;
  std::vector<Scored> all = Enumerate(s, o, &valid);
  if (all.empty())
    throw InputError::Field(s.name(), 0, "workload", "(plan search)",
                            "no parallelism plan of " + std::to_string(s.cluster().num_gpus()) +
                                " GPUs and global_batch_size " +
                                std::to_string(s.workload().parallelism().global_batch_size()) + " fits in memory");
  std::stable_sort(all.begin(), all.end(),
                   [](const Scored& a, const Scored& b) { return a.estimate_s < b.estimate_s; });
  v1::PlanSearchResult r;
  r.set_scenario(s.name());
  r.set_ranked_by(ToString(o.by));
  r.set_plans_valid(valid);
  r.set_plans_fitting(all.size());
  std::vector<v1::PlanChoice> sims;
  const wl::StepProgram given = ProgramOf(s);
  const double need = WorstStageBytes(given);
  const bool given_fits = need <= UsableHbmBytes(s, o.memory_margin_gb);
  ProgressTask candidates(o.progress, "candidates", std::min<uint64_t>(all.size(), o.top_k) + (given_fits ? 1 : 0));
  for (size_t i = 0; i < all.size() && i < o.top_k; ++i)
    sims.push_back(Simulate(s, all[i].plan, all[i].memory_gb, all[i].estimate_s, candidates, &all[i].torus_tile));
  std::stable_sort(sims.begin(), sims.end(), [&o](const v1::PlanChoice& a, const v1::PlanChoice& b) {
    return MetricOf(a, o.by) < MetricOf(b, o.by);
  });
  for (size_t i = 0; i < sims.size(); ++i) {
    sims[i].set_rank(static_cast<uint32_t>(i + 1));
    *r.add_choices() = sims[i];
  }
  if (given_fits) {
    *r.mutable_given() = Simulate(s, s.workload().parallelism(), need / 1e9, EstimateStepS(s, given), candidates);
  } else {  // listed with its memory estimate, not simulated (the table says why)
    v1::PlanChoice& g = *r.mutable_given();
    g.set_label(PlanLabel(s.workload().parallelism(), s.cluster().placement()));
    *g.mutable_parallelism() = s.workload().parallelism();
    *g.mutable_torus_tile() = s.cluster().placement().torus_tile();
    g.set_memory_gb(need / 1e9);
    g.set_simulated(false);
  }
  return r;
}

std::string PlanTable(const v1::PlanSearchResult& r) {
  std::string o = fmt::format("# {}: {} valid plans, {} fit in memory; {} simulated, ranked by {}\n", r.scenario(),
                              r.plans_valid(), r.plans_fitting(), r.choices_size(), r.ranked_by());
  o += fmt::format("{:>4}  {:<58} {:>10} {:>10} {:>12} {:>6} {:>8} {:>12} {:>12}\n", "rank", "plan", "est(s)",
                   "step(s)", "tokens/s", "MFU", "mem(GB)", "energy/step", "cost/step");
  auto row = [&o](const std::string& rank, const v1::PlanChoice& c) {
    o += fmt::format("{:>4}  {:<58} {:>10.3f} {:>10.3f} {:>12} {:>5.1f}% {:>8.1f} {:>12} {:>12}\n", rank, c.label(),
                     c.estimated_step_time_s(), c.step_time_s(), results::FormatCount(c.tokens_per_s()), 100 * c.mfu(),
                     c.memory_gb(), results::FormatEnergy(c.energy_per_step_j()),
                     fmt::format("${:.2f}", c.cost_per_step_usd()));
  };
  for (const v1::PlanChoice& c : r.choices()) row(std::to_string(c.rank()), c);
  if (r.has_given() && r.given().simulated()) row("given", r.given());
  if (r.has_given() && !r.given().simulated())
    o += fmt::format("given  {:<58} not simulated: {:.1f} GB per GPU estimated, over the HBM less the margin\n",
                     r.given().label(), r.given().memory_gb());
  return o;
}

std::string PlanCsv(const v1::PlanSearchResult& r) {
  std::string o =
      "rank,plan,tp,cp,pp,vpp,dp,ep,micro_batch_size,zero_stage,recompute,memory_gb,estimated_step_time_s,"
      "step_time_s,tokens_per_s,mfu,energy_per_step_j,cost_per_step_usd,torus_tile\n";
  auto row = [&o](const std::string& rank, const v1::PlanChoice& c) {
    const v1::Parallelism& p = c.parallelism();
    const std::string tile = sim::TorusTileText(c.torus_tile());
    o += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{}\n", rank,
                     c.label(), p.tp(), p.cp(), p.pp(), p.vpp(), p.dp(), p.ep(), p.micro_batch_size(), p.zero_stage(),
                     p.recompute(), c.memory_gb(), c.estimated_step_time_s(), c.step_time_s(), c.tokens_per_s(),
                     c.mfu(), c.energy_per_step_j(), c.cost_per_step_usd(), tile);
  };
  for (const v1::PlanChoice& c : r.choices()) row(std::to_string(c.rank()), c);
  if (r.has_given() && r.given().simulated()) row("given", r.given());
  return o;
}

std::string PlanJson(const v1::PlanSearchResult& r) { return results::MessageJson(r, "the plan search"); }

}  // namespace clustersim::planning
