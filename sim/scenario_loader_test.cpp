// Loader tests: valid scenarios in both formats, and one test per rejection rule. Every rejection must be an
// InputError whose message names the file, the field (or the parser's complaint), the value and the line when the
// input is text format.
#include "sim/scenario_loader.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "common/input_error_message.h"

namespace clustersim::sim {
namespace {

const char* kBase = R"(name: "t"
accelerator { name: "H100-SXM" }
cluster {
  num_gpus: 64
  scale_out { topology: "fat_tree" nic_bandwidth_gbps: 400 }
}
workload {
  model { preset: "llama3_8b" seq_len: 4096 }
  parallelism { tp: 8 pp: 2 global_batch_size: 64 }
}
)";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

// Resolves `text` and returns the error message ("" if it loaded).
std::string ErrorOf(const std::string& text, const std::string& format = "textproto") {
  return InputErrorMessage([&] { ResolveScenario(ParseScenario(text, format, "s.textproto")); });
}

TEST(ScenarioLoader, BaseScenarioResolvesWithDefaults) {
  const v1::Scenario s = ResolveScenario(ParseScenario(kBase, "textproto", "s.textproto"));
  EXPECT_EQ(s.cluster().scale_up().gpus_per_node(), 8u);
  EXPECT_GT(s.accelerator().bf16_tflops(), 900);
  EXPECT_EQ(s.workload().parallelism().dp(), 4u);
  EXPECT_EQ(s.collectives().all_reduce(), "auto");
  EXPECT_GT(s.workload().model().hidden(), 0u);
  EXPECT_DOUBLE_EQ(s.facility().pue(), 1.2);
}

TEST(ScenarioLoader, JsonIsAccepted) {
  const std::string json = R"({"name": "j", "accelerator": {"name": "H100-SXM"},
    "cluster": {"num_gpus": 16},
    "workload": {"model": {"preset": "llama3_8b"}, "parallelism": {"tp": 8, "global_batch_size": 16}}})";
  EXPECT_EQ(ErrorOf(json, "json"), "");
}

TEST(ScenarioLoader, RejectsMissingFile) {
  EXPECT_THROW(LoadScenarioFile("/nonexistent/scenario.textproto"), InputError);
}

TEST(ScenarioLoader, RejectsSyntaxErrorWithLine) {
  const std::string e = ErrorOf(Replace(kBase, "num_gpus: 64", "num_gpus: sixty-four"));
  EXPECT_NE(e.find("s.textproto:4:"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsUnknownFieldInText) {
  const std::string e = ErrorOf(Replace(kBase, "num_gpus: 64", "num_gpus: 64\n  gpus_per_rack: 4"));
  EXPECT_NE(e.find("gpus_per_rack"), std::string::npos) << e;
  EXPECT_NE(e.find("s.textproto:5"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsUnknownFieldInJson) {
  const std::string e = ErrorOf(R"({"name": "j", "bogus_field": 1})", "json");
  EXPECT_NE(e.find("bogus_field"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsMissingAcceleratorName) {
  const std::string e = ErrorOf(Replace(kBase, R"(accelerator { name: "H100-SXM" })", ""));
  EXPECT_NE(e.find("accelerator.name"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsZeroGpus) {
  const std::string e = ErrorOf(Replace(kBase, "num_gpus: 64", "num_gpus: 0"));
  EXPECT_NE(e.find("cluster.num_gpus = 0"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsNegativeBandwidthWithLine) {
  const std::string e = ErrorOf(Replace(kBase, "nic_bandwidth_gbps: 400", "nic_bandwidth_gbps: -400"));
  EXPECT_NE(e.find("s.textproto:5: cluster.scale_out.nic_bandwidth_gbps = -400"), std::string::npos) << e;
  EXPECT_NE(e.find(">= 0"), std::string::npos) << e;
}

// Values in the wrong unit fall outside the field's plausible range (sim/plausible.h) and are rejected with the field,
// the value, the unit and, when off by 1000x or more, a hint.
TEST(ScenarioLoader, RejectsValuesInTheWrongUnit) {
  struct Bad {
    const char* from;
    const char* to;
    const char* expect;
  };
  const Bad cases[] = {
      {"nic_bandwidth_gbps: 400", "nic_bandwidth_gbps: 400e9",
       "s.textproto:5: cluster.scale_out.nic_bandwidth_gbps = 4e+11: outside the plausible range [1, 100000] Gb/s "
       "per NIC (e.g. 400 for a 400G NIC); it looks like it was given in a unit 1000 or more times smaller"},
      {"nic_bandwidth_gbps: 400", "nic_bandwidth_gbps: 400 link_latency_ns: 0.0001",
       "cluster.scale_out.link_latency_ns = 0.0001: outside the plausible range [1, 100000000] ns"},
      {"nic_bandwidth_gbps: 400 }", "nic_bandwidth_gbps: 400 }\n  scale_up { bandwidth_gbyte_per_s: 4.5e11 }",
       "cluster.scale_up.bandwidth_gbyte_per_s = 4.5e+11: outside the plausible range"},
      {"name: \"H100-SXM\" }", "name: \"H100-SXM\" bf16_tflops: 989e12 }",
       "accelerator.bf16_tflops = 9.89e+14: outside the plausible range [0.001, 1000000] TFLOP/s"},
      {"name: \"H100-SXM\" }", "name: \"H100-SXM\" hbm_gb: 80e9 }", "accelerator.hbm_gb = 8e+10: outside"},
      {"name: \"H100-SXM\" }", "name: \"H100-SXM\" tdp_w: 0.7 }",
       "accelerator.tdp_w = 0.7: outside the plausible range [20, 100000] W"},
      {"name: \"H100-SXM\" }", "name: \"H100-SXM\" tdp_w: 1.2 idle_w: 0.1 }",
       "accelerator.tdp_w = 1.2: outside the plausible range [20, 100000] W (e.g. 700 for an H100 SXM; 1.2 kW is "
       "1200)"},
      {"global_batch_size: 64 }\n}\n", "global_batch_size: 64 }\n}\nfacility { grid_carbon_g_per_kwh: 0.39 }\n",
       "facility.grid_carbon_g_per_kwh = 0.39: outside the plausible range [1, 3000] gCO2e/kWh"},
      {"global_batch_size: 64 }\n}\n", "global_batch_size: 64 }\n}\nfacility { electricity_usd_per_kwh: 80 }\n",
       "facility.electricity_usd_per_kwh = 80: outside the plausible range [0.0001, 5] USD/kWh"},
  };
  for (const Bad& b : cases) {
    const std::string e = ErrorOf(Replace(kBase, b.from, b.to));
    EXPECT_NE(e.find(b.expect), std::string::npos) << b.to << "\n" << e;
  }
  // The edges of a range are accepted.
  EXPECT_EQ(ErrorOf(Replace(kBase, "nic_bandwidth_gbps: 400", "nic_bandwidth_gbps: 100000")), "");
  EXPECT_EQ(ErrorOf(Replace(kBase, "nic_bandwidth_gbps: 400", "nic_bandwidth_gbps: 1")), "");
}

TEST(ScenarioLoader, RejectsOversubscriptionBelowOne) {
  const std::string e = ErrorOf(Replace(kBase, "nic_bandwidth_gbps: 400", "oversubscription: 0.5"));
  EXPECT_NE(e.find("cluster.scale_out.oversubscription[0] = 0.5"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsUnknownTopology) {
  const std::string e = ErrorOf(Replace(kBase, R"(topology: "fat_tree")", R"(topology: "hypercube")"));
  EXPECT_NE(e.find("cluster.scale_out.topology = \"hypercube\""), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsGpuCountNotMultipleOfNode) {
  const std::string e = ErrorOf(Replace(kBase, "num_gpus: 64", "num_gpus: 60"));
  EXPECT_NE(e.find("cluster.num_gpus = 60"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsParallelismThatDoesNotDivideTheGpus) {
  const std::string e = ErrorOf(Replace(kBase, "tp: 8 pp: 2", "tp: 8 pp: 3"));
  EXPECT_NE(e.find("workload.parallelism"), std::string::npos) << e;
  EXPECT_NE(e.find("s.textproto:9"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsUnknownModelPreset) {
  const std::string e = ErrorOf(Replace(kBase, "llama3_8b", "llama9_1t"));
  EXPECT_NE(e.find("llama9_1t"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsUnknownCollectiveAlgorithm) {
  const std::string e = ErrorOf(std::string(kBase) + "collectives { all_reduce: \"butterfly\" }\n");
  EXPECT_NE(e.find("collectives.all_reduce = \"butterfly\""), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsPueBelowOne) {
  const std::string e = ErrorOf(std::string(kBase) + "facility { pue: 0.9 }\n");
  EXPECT_NE(e.find("facility.pue = 0.9"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsNegativeFailureRateWithLine) {
  const std::string e = ErrorOf(std::string(kBase) + "reliability {\n  hbm_failures_per_hour: -1\n}\n");
  EXPECT_NE(e.find("s.textproto:12: reliability.hbm_failures_per_hour = -1"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsUnknownReliabilityPreset) {
  const std::string e = ErrorOf(std::string(kBase) + "reliability { preset: \"llama2\" restart_s: 60 }\n");
  EXPECT_NE(e.find("reliability.preset = \"llama2\""), std::string::npos) << e;
  EXPECT_EQ(ErrorOf(std::string(kBase) + "reliability { preset: \"none\" checkpoint_stall_s: 5 }\n"), "");
}

TEST(ScenarioLoader, RejectsUnknownFidelity) {
  const std::string e = ErrorOf(std::string(kBase) + "options { fidelity: \"exact\" }\n");
  EXPECT_NE(e.find("options.fidelity"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsUnknownTrafficAndDefaultsToSeparate) {
  const std::string e = ErrorOf(std::string(kBase) + "options { traffic: \"shared\" }\n");
  EXPECT_NE(e.find("options.traffic = \"shared\""), std::string::npos) << e;
  EXPECT_EQ(ErrorOf(std::string(kBase) + "options { traffic: \"joint\" }\n"), "");
  EXPECT_EQ(ResolveScenario(ParseScenario(kBase, "textproto", "t.textproto")).options().traffic(), "separate");
}

TEST(ScenarioLoader, RejectsTraceRankOutsideTheCluster) {
  const std::string e = ErrorOf(std::string(kBase) + "options { trace_ranks: 64 }\n");
  EXPECT_NE(e.find("options.trace_ranks = 64"), std::string::npos) << e;
}

TEST(ScenarioLoader, RejectsMoreThan10000Steps) {
  const std::string e = ErrorOf(Replace(kBase, "global_batch_size: 64 }", "global_batch_size: 64 }\n  steps: 10001"));
  EXPECT_NE(e.find("workload.steps = 10001"), std::string::npos) << e;
  EXPECT_NE(e.find("must be in [1, 10000]"), std::string::npos) << e;  // the range (sim/plausible.h)
}

TEST(ScenarioLoader, RejectsNegativeAcceleratorOverride) {
  const std::string e = ErrorOf(Replace(kBase, R"(name: "H100-SXM")", R"(name: "H100-SXM" tdp_w: -5)"));
  EXPECT_NE(e.find("accelerator.tdp_w"), std::string::npos) << e;
}

// No silent surprises (issue #22): a chip without scale-up runs one GPU per domain only when the scenario says so; a
// last scale-up domain left partly empty must be asked for.
TEST(ScenarioLoader, ChipWithoutScaleUpNeedsAnExplicitKindNone) {
  const std::string custom = Replace(kBase, "accelerator { name: \"H100-SXM\" }",
                                     "accelerator { name: \"MyChip\" bf16_tflops: 1000 hbm_gb: 96 "
                                     "hbm_bandwidth_gbyte_per_s: 4000 tdp_w: 800 }");
  EXPECT_NE(ErrorOf(custom).find("accelerator.scale_up_bandwidth_gbyte_per_s = 0: \"MyChip\" has no scale-up fabric"),
            std::string::npos)
      << ErrorOf(custom);
  const std::string none = Replace(custom, "num_gpus: 64", "num_gpus: 64 scale_up { kind: \"none\" }");
  EXPECT_EQ(ErrorOf(none), "");
  const v1::Scenario s = ResolveScenario(ParseScenario(none, "textproto", "s.textproto"));
  EXPECT_EQ(s.cluster().scale_up().domain_size(), 1u);
  EXPECT_EQ(s.cluster().scale_up().gpus_per_node(), 1u);
}

TEST(ScenarioLoader, PartialScaleUpDomainIsAnErrorUnlessAllowed) {
  const std::string gb200 = Replace(Replace(Replace(kBase, "H100-SXM", "GB200"), "num_gpus: 64", "num_gpus: 160"),
                                    "global_batch_size: 64", "global_batch_size: 720");
  EXPECT_NE(ErrorOf(gb200).find("s.textproto:4: cluster.num_gpus = 160: is not a multiple of the scale-up domain (72 "
                                "GPUs, nvl72): the last domain would hold 16 GPUs; use 144 or 216 GPUs"),
            std::string::npos)
      << ErrorOf(gb200);
  EXPECT_EQ(ErrorOf(Replace(gb200, "num_gpus: 160", "num_gpus: 160 scale_up { allow_partial_domain: true }")), "");
  EXPECT_EQ(ErrorOf(Replace(gb200, "num_gpus: 160", "num_gpus: 144")), "");
  // A cluster smaller than one domain is one whole (smaller) domain, as before.
  EXPECT_EQ(ErrorOf(Replace(gb200, "num_gpus: 160", "num_gpus: 64")), "");
}

// A file that is not a scenario is refused without echoing its content; a scenario with a mistake after its first
// field gets the parser's message (its first line, cut), with the field it was in.
TEST(ScenarioLoader, ParseErrorsEchoNoContentOfAFileThatIsNotAScenario) {
  std::string e = ErrorOf("SECRET_TOKEN=hunter2\nHOME=/root\n");
  EXPECT_NE(e.find("s.textproto:1:13: not a Scenario in protobuf text format: no field could be read"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find("SECRET"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  e = ErrorOf("SECRET_TOKEN", "json");
  EXPECT_NE(e.find("not a Scenario in JSON"), std::string::npos) << e;
  EXPECT_EQ(e.find("SECRET"), std::string::npos) << e;
  e = ErrorOf("{\"name\": \"x\",,\n \"SECRET\": 1}", "json");
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  EXPECT_EQ(e.find("SECRET"), std::string::npos) << e;
  // Schema names may be shown, even in the first field; values of a scenario that started well are.
  e = ErrorOf("name: 5\n");
  EXPECT_NE(e.find("(field name)"), std::string::npos) << e;
  e = ErrorOf("name: \"x\"\ncluster { num_gpus: 4294967296 }\n");
  EXPECT_NE(e.find("s.textproto:2:21: invalid Scenario: Integer out of range (4294967296) (field num_gpus)"),
            std::string::npos)
      << e;
  e = ErrorOf("name: \"x\"\n" + std::string(100000, 'z') + ": 1\n");
  EXPECT_LT(e.size(), 400u) << e;
}

// Products of parallel sizes are checked (a wrapped product could be 0, then a division by zero); every count has
// a range.
TEST(ScenarioLoader, HugeParallelSizesAndCountsAreBadInput) {
  EXPECT_NE(ErrorOf(Replace(kBase, "tp: 8 pp: 2", "tp: 16777216 cp: 16777216 pp: 16777216"))
                .find("workload.parallelism.tp = 16777216: tp x cp x pp = 16777216 x 16777216 x 16777216 exceeds"),
            std::string::npos);
  EXPECT_NE(ErrorOf(kBase + std::string("collectives { channels: 4294967295 }\n"))
                .find("collectives.channels = 4294967295: must be in [1, 256]"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf(Replace(kBase, "global_batch_size: 64", "global_batch_size: 262144")).find("layer passes are simulated"),
      std::string::npos);
}

}  // namespace
}  // namespace clustersim::sim
