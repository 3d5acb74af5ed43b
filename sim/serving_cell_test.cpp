// Tests of the serving cell's discrete-event model (serving_cell.h) through the program and execute stages (no
// SimGrid: communication is left free, CommTable{}), and of the loader's serving rules.
#include "sim/serving_cell.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "sim/scenario_loader.h"
#include "sim/serving_simulation.h"

namespace clustersim::sim {
namespace {

v1::Scenario Serving(const std::string& serving, uint32_t gpus = 8, const std::string& model = "llama3_8b") {
  const std::string text = "name: \"t\"\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " +
                           std::to_string(gpus) + " }\nworkload { model { preset: \"" + model +
                           "\" } precision: \"fp8\" }\nserving { " + serving + " }\n";
  return ResolveScenario(ParseScenario(text, "textproto", "test.textproto"));
}

struct Outcome {
  ServingWork work;
  std::vector<IterationModel> models;
  CellResult cell;
};

Outcome Execute(const v1::Scenario& s, const CommTable& comm = {}) {
  Outcome r{GenerateServing(s, "test"), {}, {}};
  for (const ServingPoolWork& p : r.work.pools)
    r.models.emplace_back(r.work.model, p.spec, r.work.compute, r.work.attention_efficiency, comm, r.work.engine);
  r.cell = ExecuteServing(s, r.work, r.models);
  return r;
}

double Mean(const std::vector<RequestLatency>& v, double RequestLatency::*f) {
  double s = 0;
  for (const RequestLatency& l : v) s += l.*f;
  return v.empty() ? 0 : s / double(v.size());
}

const char* kLight =
    "pools { tp: 1 instances: 1 } traffic { rate_per_s: 0.5 input_tokens: 512 output_tokens: 64 } "
    "warmup_s: 10 duration_s: 200";

TEST(ServingCell, LightLoadLatencyIsOneRequestAlone) {
  const Outcome r = Execute(Serving(kLight));
  ASSERT_GT(r.cell.measured.size(), 60u);
  EXPECT_EQ(r.cell.unfinished, 0u);
  // Almost always alone: TTFT is the prompt's iteration, TPOT a decode iteration of one sequence.
  const IterationModel& m = r.models[0];
  BatchShape prompt;
  prompt.prefill_tokens = 512;
  prompt.prefill_pairs = 512 * 256.5;
  prompt.prefill_kv = 512;
  prompt.logit_tokens = 1;
  prompt.prefill_max_chunk = 512;
  BatchShape step;
  step.decode_seqs = 1;
  step.decode_kv = 512 + 32;
  std::vector<double> ttft;
  for (const RequestLatency& l : r.cell.measured) ttft.push_back(l.ttft);
  std::sort(ttft.begin(), ttft.end());
  EXPECT_NEAR(ttft[ttft.size() / 2], m.Time(prompt).seconds, 0.02 * m.Time(prompt).seconds);
  EXPECT_NEAR(Mean(r.cell.measured, &RequestLatency::tpot), m.Time(step).seconds, 0.1 * m.Time(step).seconds);
  // Throughput: what arrives leaves (the window's completions, 64 tokens each).
  const InstanceStats& st = r.cell.instances[0];
  EXPECT_NEAR(st.output_tokens, 64.0 * double(r.cell.measured.size()), 0.05 * 64 * double(r.cell.measured.size()));
  EXPECT_NEAR(st.input_tokens / st.output_tokens, 512.0 / 64, 0.5);
  EXPECT_LT(st.busy_s, 0.5 * 200);
}

TEST(ServingCell, DeterministicAndSeeded) {
  const v1::Scenario s = Serving(kLight);
  const Outcome a = Execute(s), b = Execute(s);
  ASSERT_EQ(a.cell.measured.size(), b.cell.measured.size());
  for (size_t i = 0; i < a.cell.measured.size(); ++i) EXPECT_EQ(a.cell.measured[i].e2e, b.cell.measured[i].e2e);
  v1::Scenario other = s;
  other.set_seed(2);
  EXPECT_NE(Execute(other).cell.requests, 0u);
  EXPECT_NE(Mean(Execute(other).cell.measured, &RequestLatency::e2e), Mean(a.cell.measured, &RequestLatency::e2e));
}

TEST(ServingCell, ClosedLoopFillsTheBatchAndConservesTokens) {
  const Outcome r = Execute(Serving("pools { tp: 1 instances: 1 max_batch: 64 } traffic { arrival: \"closed\" "
                                "concurrency: 64 input_tokens: 256 output_tokens: 128 } warmup_s: 30 duration_s: 60"));
  const InstanceStats& st = r.cell.instances[0];
  EXPECT_NEAR(st.batch_s / 60, 64, 2);  // always full
  EXPECT_NEAR(st.busy_s, 60, 1e-6);
  // Every measured request produced its 128 tokens; the window's tokens are those of ~its completions.
  double out = 0;
  for (const RequestLatency& l : r.cell.measured) out += l.output;
  EXPECT_NEAR(st.output_tokens, out, 0.1 * out);
  EXPECT_EQ(st.preemptions, 0u);
}

// Iterations longer than a sample bin (16k-token prompt chunks, bins of 50 ms) are spread over the bins they overlap:
// no bin holds more than its width of KV use or busy time, and the bins add up to the instance's integrals.
TEST(ServingCell, LongIterationsAreSpreadOverTheBins) {
  const Outcome r = Execute(Serving("pools { tp: 1 instances: 1 max_num_tokens: 16384 } traffic { arrival: "
                                    "\"closed\" concurrency: 8 input_tokens: 16000 output_tokens: 16 } warmup_s: 2 "
                                    "duration_s: 3"));
  const InstanceStats& st = r.cell.instances[0];
  ASSERT_GT(st.iterations, 0u);
  ASSERT_GT(st.iteration_s / double(st.iterations), 0.05);  // longer than a bin on average
  const double bin_s = 3.0 / double(r.cell.bins.size());
  double kv = 0, running = 0;
  for (const CellBin& b : r.cell.bins) {
    EXPECT_LE(b.kv, bin_s * (1 + 1e-9));
    kv += b.kv;
    running += b.running;
  }
  EXPECT_NEAR(kv, st.kv_s, 1e-9 * std::max(1.0, st.kv_s));
  EXPECT_NEAR(running, st.batch_s, 1e-9 * std::max(1.0, st.batch_s));
  double power_s = 0;
  for (const GpuInterval& g : st.power) power_s += g.end_s - g.start_s;
  EXPECT_LE(power_s, 3.0 * (1 + 1e-9));
  EXPECT_GT(power_s, 0.5 * st.busy_s);
}

TEST(ServingCell, OverloadLeavesRequestsUnfinished) {
  const Outcome r = Execute(Serving("pools { tp: 1 instances: 1 max_batch: 8 } traffic { rate_per_s: 50 input_tokens: "
                                "2000 output_tokens: 500 } warmup_s: 5 duration_s: 20"));
  EXPECT_GT(r.cell.unfinished, 0u);
}

TEST(ServingCell, PromptOnlyAdmissionPreemptsWhenTheCacheFills) {
  // 8B on one H100 holds ~450k KV tokens: 512 sequences growing to 4,000 tokens cannot all stay.
  const std::string base = "pools { tp: 1 instances: 1 max_batch: 512 } traffic { arrival: \"closed\" concurrency: "
                           "512 input_tokens: 1000 output_tokens: 3000 } warmup_s: 20 duration_s: 30 ";
  const Outcome reserve = Execute(Serving(base));
  const Outcome greedy = Execute(Serving(base + "engine { admission: \"prompt_only\" }"));
  EXPECT_EQ(reserve.cell.instances[0].preemptions, 0u);
  EXPECT_GT(greedy.cell.instances[0].preemptions, 0u);
  EXPECT_LE(reserve.cell.instances[0].kv_max, 1.0);
  EXPECT_LT(reserve.cell.instances[0].batch_s / 30, 512);  // the cache, not max_batch, bounds the batch
}

TEST(ServingCell, DisaggregatedTransfersTheCacheBeforeTheFirstToken) {
  CommTable comm;
  comm.kv_transfer = {{100, 1000}, {1e-3, 10e-3}};
  const Outcome r = Execute(Serving("pools { role: \"prefill\" tp: 2 instances: 1 } pools { role: \"decode\" tp: 2 "
                                "instances: 2 } traffic { rate_per_s: 1 input_tokens: 1000 output_tokens: 100 } "
                                "warmup_s: 10 duration_s: 100"),
                        comm);
  ASSERT_EQ(r.cell.instances.size(), 3u);
  ASSERT_GT(r.cell.measured.size(), 50u);
  EXPECT_NEAR(r.cell.kv_transfer_s / double(r.cell.measured.size()), 10e-3, 2e-3);
  // The prefill instance makes the first tokens only; the decode instances the rest.
  EXPECT_EQ(r.cell.instances[1].input_tokens + r.cell.instances[2].input_tokens, 0);
  EXPECT_GT(r.cell.instances[1].output_tokens, 0);
  EXPECT_GT(r.cell.instances[2].output_tokens, 0);  // round robin over both decode instances
  const InstanceStats& pre = r.cell.instances[0];
  EXPECT_NEAR(pre.output_tokens * 1000, pre.input_tokens, 0.1 * pre.input_tokens);  // one first token per prompt
  EXPECT_GT(Mean(r.cell.measured, &RequestLatency::ttft), 10e-3);
}

TEST(ServingCell, SpeculationEmitsMoreTokensPerStep) {
  const std::string base = "pools { tp: 1 instances: 1 } traffic { rate_per_s: 0.5 input_tokens: 256 output_tokens: "
                           "256 } warmup_s: 10 duration_s: 100 ";
  const Outcome one = Execute(Serving(base));
  const Outcome two = Execute(Serving(base + "engine { draft_tokens: 1 mean_accepted_tokens: 1.8 }"));
  const double a = Mean(one.cell.measured, &RequestLatency::tpot), b = Mean(two.cell.measured, &RequestLatency::tpot);
  EXPECT_LT(b, a / 1.5);  // 1.8 tokens per step, the step a little dearer (one more token verified, one draft)
  EXPECT_GT(b, a / 1.8);
}

TEST(ServingCell, ChooseCell) {
  EXPECT_EQ(ChooseCell({512}, 16, false), (std::vector<uint32_t>{16}));
  EXPECT_EQ(ChooseCell({13}, 16, false), (std::vector<uint32_t>{13}));
  EXPECT_EQ(ChooseCell({17}, 16, false), (std::vector<uint32_t>{1}));  // prime: one instance stands for all
  EXPECT_EQ(ChooseCell({4, 9}, 16, false), (std::vector<uint32_t>{4, 9}));
  EXPECT_EQ(ChooseCell({40, 90}, 16, false), (std::vector<uint32_t>{4, 9}));
  EXPECT_EQ(ChooseCell({40, 90}, 16, true), (std::vector<uint32_t>{40, 90}));
  const std::vector<uint32_t> c = ChooseCell({95, 131}, 16, false);  // no small exact ratio: the closest
  EXPECT_LE(c[0] + c[1], 16u);
  EXPECT_EQ(95 % c[0], 0u);
  EXPECT_EQ(131 % c[1], 0u);
}

std::string LoadError(const std::string& serving, const std::string& model = "llama3_8b") {
  try {
    Serving(serving, 8, model);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ServingLoader, RejectsWithFieldValueAndRule) {
  EXPECT_NE(LoadError("traffic { rate_per_s: 1 input_tokens: 10 output_tokens: 10 }").find("serving.pools = (none)"),
            std::string::npos);
  EXPECT_NE(LoadError("pools { tp: 16 } traffic { rate_per_s: 1 input_tokens: 10 output_tokens: 10 }")
                .find("needs more GPUs than cluster.num_gpus (8)"),
            std::string::npos);
  EXPECT_NE(LoadError("pools { ep: 8 tp: 8 } traffic { rate_per_s: 1 input_tokens: 10 output_tokens: 10 }")
                .find("need a MoE model"),
            std::string::npos);
  EXPECT_NE(LoadError("pools { tp: 1 } traffic { input_tokens: 10 output_tokens: 10 }")
                .find("serving.traffic.rate_per_s = 0"),
            std::string::npos);
  EXPECT_NE(LoadError("pools { tp: 1 } traffic { rate_per_s: 1 input_tokens: 10 output_tokens: 10 } engine { "
                      "draft_tokens: 1 mean_accepted_tokens: 2.5 }")
                .find("must be in [1, 1 + draft_tokens]"),
            std::string::npos);
  EXPECT_NE(LoadError("pools { role: \"decode\" } pools { role: \"prefill\" } traffic { rate_per_s: 1 input_tokens: "
                      "10 output_tokens: 10 }")
                .find("a \"prefill\" pool then a \"decode\" pool"),
            std::string::npos);
  EXPECT_NE(LoadError("pools { tp: 1 dp_attention: 4 ep: 8 } traffic { rate_per_s: 1 input_tokens: 10 "
                      "output_tokens: 10 }",
                      "qwen3_30b_a3b")
                .find("must be 1 (experts tensor-parallel) or tp x dp_attention = 4"),
            std::string::npos);
  // Defaults are filled: the pool fills the cluster; the engine gets the family's calibration.
  const v1::Scenario s = Serving("pools { tp: 2 } traffic { rate_per_s: 1 input_tokens: 10 output_tokens: 10 }");
  EXPECT_EQ(s.serving().pools(0).instances(), 4u);
  EXPECT_EQ(s.serving().pools(0).role(), "mixed");
  EXPECT_EQ(s.serving().engine().kv_cache_precision(), "fp8");
  EXPECT_GT(s.serving().engine().software_efficiency(), 0);
}

}  // namespace
}  // namespace clustersim::sim
