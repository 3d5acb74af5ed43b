// Trace replay: clustersim's own step exported as Chakra ET, read back and replayed, gives SimulateStep's step time;
// a hand-written trace gives its closed-form time; rescaling keeps per-replica work and adds replicas' traffic.
#include "sim/trace_replay.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include "chakra/et_def.pb.h"
#include "common/error.h"
#include "sim/network/collectives.h"
#include "sim/hardware/compute_model.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"
#include "workloads/generator.h"

namespace clustersim::sim {
namespace {

namespace ct = wl::chakra;

v1::Scenario Make(uint32_t gpus, const std::string& parallelism) {
  const std::string text = "name: \"t\"\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " +
                           std::to_string(gpus) +
                           " scale_out { topology: \"fat_tree\" nic_bandwidth_gbps: 400 } }\n"
                           "workload { model { preset: \"llama3_8b\" seq_len: 4096 } parallelism { " +
                           parallelism +
                           " } }\n"
                           // Replay models neither GPU-to-GPU variability nor comm/compute interference
                           // (docs/trace-replay.md): the round trips compare like with like.
                           "options { scale_terms_off: \"variability\" scale_terms_off: \"interference\" }\n";
  return ResolveScenario(ParseScenario(text, "textproto", "test.textproto"));
}

ct::Trace Export(const v1::Scenario& s, bool replica_only) {
  const wl::StepProgram p = wl::BuildStepProgram(s.workload(), s.cluster().num_gpus(),
                                                 s.cluster().scale_up().gpus_per_node(), s.seed());
  ct::ExportOptions o;
  o.replica_only = replica_only;
  const std::vector<std::string> streams = ct::ExportTrace(p, o);
  std::vector<ct::RankBuffer> buffers;
  for (size_t r = 0; r < streams.size(); ++r) buffers.push_back({"rank" + std::to_string(r), streams[r]});
  return ct::LoadTraceFromBuffers(buffers);
}

// The step `run` simulates without the accelerator's per-step host and framework time (step_overhead_ms), which is
// outside the step program and so not in an exported trace (docs/trace-replay.md).
double ProgramStepS(const v1::RunResult& direct, const v1::Scenario& s) {
  return direct.step_time_s() - s.accelerator().step_overhead_ms() * 1e-3;
}

TEST(TraceReplay, RoundTripMatchesSimulateStepTpPpDp) {
  const v1::Scenario s = Make(32, "tp: 4 pp: 2 global_batch_size: 16");
  const ct::Trace t = Export(s, false);
  ASSERT_EQ(t.ranks.size(), 32u);
  const v1::RunResult direct = SimulateStep(s);
  const v1::RunResult replay = ReplayTrace(s, t, {});
  const double step = ProgramStepS(direct, s);
  EXPECT_NEAR(replay.step_time_s(), step, 1e-6 * step);
  EXPECT_GT(replay.breakdown().compute_s(), 0);
  EXPECT_GT(replay.breakdown().exposed_tp_comm_s(), 0);
  EXPECT_GT(replay.comms_size(), 0);
  const double tokens_per_s = direct.tokens_per_s() * direct.step_time_s() / step;
  EXPECT_NEAR(replay.tokens_per_s(), tokens_per_s, 1e-6 * tokens_per_s);
}

TEST(TraceReplay, RoundTripMatchesSimulateStepWithAsyncDpOverlap) {
  const v1::Scenario s =
      Make(64, "tp: 8 pp: 2 global_batch_size: 32 zero_stage: 1 overlap_grad_reduce: true overlap_param_gather: true");
  const ct::Trace t = Export(s, false);
  uint64_t async = 0;
  for (const auto& n : t.ranks[0].nodes) async += n.kind == ct::NodeKind::kCollective && n.stream == 1;
  EXPECT_GT(async, 0u);
  const v1::RunResult direct = SimulateStep(s);
  const v1::RunResult replay = ReplayTrace(s, t, {});
  // Not exact: the executor runs the steady state (the ZeRO parameter all-gather issued at the end of a step is
  // awaited by the next one, so it overlaps the next step's first micro-batches) on one communication stream per
  // parallel dimension, while the exported trace ends the step with the all-gather on one communication stream, as
  // a Chakra trace of one iteration does (docs/trace-replay.md): 4% apart on this plan.
  EXPECT_NEAR(replay.step_time_s(), ProgramStepS(direct, s), 0.05 * ProgramStepS(direct, s));
}

TEST(TraceReplay, ReplicaOnlyExportRescaledByDpRegexMatchesFullExport) {
  // Replica 0 of a tp4 x dp4 plan (4 ranks), replayed as 4 replicas with the dp groups grown, against the full
  // 16-rank export: same plan, same step time (to the placement: both put replica j of rank r on GPU j*4 + r).
  const v1::Scenario s = Make(16, "tp: 4 global_batch_size: 8");
  const ct::Trace one = Export(s, true);
  ASSERT_EQ(one.ranks.size(), 4u);
  ReplayOptions o;
  o.dp_pg_regex = "^dp/";
  const v1::RunResult scaled = ReplayTrace(s, one, o);
  const v1::RunResult full = ReplayTrace(s, Export(s, false), {});
  EXPECT_NEAR(scaled.step_time_s(), full.step_time_s(), 1e-6 * full.step_time_s());
  // Without growing the dp group each replica's dp "group" is one rank: no dp traffic, a shorter step.
  const v1::RunResult ungrown = ReplayTrace(s, one, {});
  EXPECT_LT(ungrown.step_time_s(), scaled.step_time_s());
}

// Golden: two ranks; rank 0 computes G FLOPs then sends S bytes to rank 1, which receives and computes G FLOPs.
// Step = 2 x compute(G) + transfer(S) where transfer = S / B_eff + route latency + the point-to-point latency.
TEST(TraceReplay, GoldenTwoRankPipeline) {
  const v1::Scenario s = Make(16, "tp: 8 global_batch_size: 2");
  namespace pb = ::ChakraProtoMsg;
  const double G = 4e12;
  const uint64_t S = 256ull << 20;
  auto stream = [&](bool sender) {
    std::string out;
    auto put = [&out](const google::protobuf::Message& m) {
      const std::string body = m.SerializeAsString();
      uint64_t v = body.size();
      while (v >= 0x80) {
        out.push_back(static_cast<char>(v | 0x80));
        v >>= 7;
      }
      out.push_back(static_cast<char>(v));
      out += body;
    };
    put(pb::GlobalMetadata());
    pb::Node comp, comm;
    comp.set_id(1);
    comp.set_name("gemm");
    comp.set_type(pb::COMP_NODE);
    auto* a = comp.add_attr();
    a->set_name("num_ops");
    a->set_int64_val(static_cast<int64_t>(G));
    comm.set_id(2);
    comm.set_name(sender ? "send" : "recv");
    comm.set_type(sender ? pb::COMM_SEND_NODE : pb::COMM_RECV_NODE);
    for (const char* n : {"comm_src", "comm_dst", "comm_tag", "comm_size"}) {
      auto* x = comm.add_attr();
      x->set_name(n);
      x->set_int64_val(std::string(n) == "comm_src" ? 0 : std::string(n) == "comm_dst" ? 8 : std::string(n) == "comm_tag" ? 7 : static_cast<int64_t>(S));
    }
    if (sender) {
      comm.add_data_deps(1);
      put(comp);
      put(comm);
    } else {
      comp.add_data_deps(2);
      put(comm);
      put(comp);
    }
    return out;
  };
  // Rank 8 is on the second node: trace ranks 0..8, ranks 1..7 idle (one empty node each).
  std::vector<std::string> bytes(9);
  bytes[0] = stream(true);
  bytes[8] = stream(false);
  {
    std::string empty;
    const std::string meta = pb::GlobalMetadata().SerializeAsString();
    empty.push_back(static_cast<char>(meta.size()));
    empty += meta;
    for (int r = 1; r < 8; ++r) bytes[r] = empty;
  }
  std::vector<ct::RankBuffer> buffers;
  for (size_t r = 0; r < bytes.size(); ++r) buffers.push_back({"golden." + std::to_string(r) + ".et", bytes[r]});
  const ct::Trace t = ct::LoadTraceFromBuffers(buffers);
  ReplayOptions o;
  o.replicas = 1;
  const v1::RunResult r = ReplayTrace(s, t, o);
  const ComputeModel cm(s.accelerator(), s.workload().precision());
  const double c = cm.Seconds(wl::ComputeKind::kGemm, G, 0, 1);
  const double B = 400e9 / 8 * s.collectives().protocol_efficiency();
  // Route GPU0 -> GPU8 on a two-tier fat-tree: PCIe + NIC-leaf + leaf-NIC + PCIe links; latencies are < 5 us.
  const double transfer_bw = static_cast<double>(S) / B;
  const double p2p_latency = s.collectives().p2p_latency_ns() * 1e-9;
  const double lower = 2 * c + transfer_bw + p2p_latency;
  EXPECT_GE(r.step_time_s(), lower * (1 - 1e-9));
  EXPECT_LE(r.step_time_s(), lower + 5e-6);
  EXPECT_NEAR(r.breakdown().compute_s(), c, 1e-12);
}

// Golden with recorded durations: two ranks each run A (compute), an all-reduce B after A on the communication
// stream, C after A on the compute stream (overlapping B) and D after B and C (a cross-stream dependency); rank 0
// then runs E, marked overlaps_next_step. B starts when the later rank arrives (300 us) and D waits for it, so
// step = 300 us + cost(B) + 10 us on both ranks; E counts as compute but not towards the step.
TEST(TraceReplay, GoldenCollectiveWaitsForLastMemberAcrossStreams) {
  const v1::Scenario s = Make(16, "tp: 8 global_batch_size: 2");
  namespace pb = ::ChakraProtoMsg;
  const uint64_t S = 64ull << 20;
  auto stream = [&](uint64_t a_us, uint64_t c_us, bool with_e) {
    std::string out;
    auto put = [&out](const google::protobuf::Message& m) {
      const std::string body = m.SerializeAsString();
      google::protobuf::io::StringOutputStream zs(&out);
      google::protobuf::io::CodedOutputStream coded(&zs);
      coded.WriteVarint64(body.size());
      coded.WriteString(body);
    };
    auto comp = [](uint64_t id, const char* name, uint64_t us, std::vector<uint64_t> deps) {
      pb::Node n;
      n.set_id(id);
      n.set_name(name);
      n.set_type(pb::COMP_NODE);
      n.set_duration_micros(us);
      for (uint64_t d : deps) n.add_data_deps(d);
      return n;
    };
    put(pb::GlobalMetadata());
    put(comp(1, "A", a_us, {}));
    pb::Node b;
    b.set_id(2);
    b.set_name("B");
    b.set_type(pb::COMM_COLL_NODE);
    b.add_data_deps(1);
    auto* t = b.add_attr();
    t->set_name("comm_type");
    t->set_int64_val(pb::ALL_REDUCE);
    auto* z = b.add_attr();
    z->set_name("comm_size");
    z->set_int64_val(static_cast<int64_t>(S));
    put(b);
    put(comp(3, "C", c_us, {1}));
    put(comp(4, "D", 10, {2, 3}));
    if (with_e) {
      pb::Node e = comp(5, "E", 1000, {4});
      auto* o = e.add_attr();
      o->set_name("clustersim.overlaps_next_step");
      o->set_int64_val(1);
      put(e);
    }
    return out;
  };
  const std::string r0 = stream(100, 50, true), r1 = stream(300, 20, false);
  const ct::Trace t = ct::LoadTraceFromBuffers({{"g.0.et", r0}, {"g.1.et", r1}});
  ReplayOptions o;
  o.replicas = 1;
  o.timing = ComputeTiming::kRecordedOnly;
  const v1::RunResult r = ReplayTrace(s, t, o);
  double cost = -1;
  for (const v1::CommStat& c : r.comms())
    if (c.collective() == ToString(CollectiveKind::kAllReduce)) cost = c.time_s();
  ASSERT_GT(cost, 20e-6);  // longer than rank 1's C: D waits for B, not for C
  EXPECT_NEAR(r.step_time_s(), 310e-6 + cost, 1e-12);
  // Critical rank = most compute = rank 0 (A + C + D + E = 1160 us); B is on its communication stream.
  EXPECT_NEAR(r.breakdown().compute_s(), 1160e-6, 1e-12);
  EXPECT_EQ(r.breakdown().exposed_tp_comm_s() + r.breakdown().exposed_dp_comm_s(), 0.0);
  ASSERT_EQ(r.stages_size(), 2);
  EXPECT_NEAR(r.stages(1).busy_compute_s(), 330e-6, 1e-12);
}

TEST(TraceReplay, RejectsTooManyReplicas) {
  const v1::Scenario s = Make(16, "tp: 4 global_batch_size: 8");
  const ct::Trace one = Export(s, true);
  ReplayOptions o;
  o.replicas = 5;
  EXPECT_THROW(ReplayTrace(s, one, o), InputError);
  o.replicas = 1;
  o.dp_pg_regex = "([";
  EXPECT_THROW(ReplayTrace(s, one, o), InputError);
}

// The output rule holds for replays (a trace's metadata could claim any FLOP count), a trace without timed work is
// bad input, and an all_to_all grown across replicas past options.max_flows_per_phase is refused before forking.
TEST(TraceReplay, ImpossibleNumbersAndUnboundedWorkAreBadInput) {
  v1::Scenario s = Make(16, "tp: 4 global_batch_size: 8");
  ct::Trace t = Export(s, true);
  ct::Trace inflated = t;
  inflated.model_flops_per_step *= 1e6;
  try {
    (void)ReplayTrace(s, inflated, {});
    FAIL() << "MFU above 100% was reported";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("result.mfu = "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("above 100% (impossible)"), std::string::npos) << e.what();
  }
  ct::Trace empty = t;
  for (ct::TraceRank& r : empty.ranks) {
    r.nodes.clear();
    r.names.clear();
    r.order.clear();
  }
  try {
    (void)ReplayTrace(s, empty, {});
    FAIL() << "a trace without work was replayed";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no timed work"), std::string::npos) << e.what();
  }
  ct::Trace a2a = t;
  for (ct::TraceRank& r : a2a.ranks)
    for (ct::TraceNode& n : r.nodes)
      if (n.kind == ct::NodeKind::kCollective) n.coll = wl::Coll::kAllToAll;
  s.mutable_options()->set_max_flows_per_phase(10);
  ReplayOptions o;
  o.dp_pg_regex = "^dp/";
  try {
    (void)ReplayTrace(s, a2a, o);
    FAIL() << "an all_to_all of 12 flows was not refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--replicas = 4: the all_to_all of pg"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clustersim::sim
