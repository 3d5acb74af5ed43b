#include "sim/memory_guard.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "sim/scenario_loader.h"
#include "sim/stages.h"

namespace clustersim::sim {
namespace {

v1::Scenario Scenario(const std::string& text) {
  return ResolveScenario(ParseScenario(text, "textproto", "guard.textproto"));
}

TEST(MemoryGuard, CgroupLimitsParse) {
  EXPECT_EQ(ParseCgroupLimit("max"), 0);
  EXPECT_EQ(ParseCgroupLimit(""), 0);
  EXPECT_EQ(ParseCgroupLimit("9223372036854771712"), 0);  // v1 "unlimited"
  EXPECT_EQ(ParseCgroupLimit("4294967296"), 4294967296.0);
  EXPECT_GT(AvailableMemoryBytes(), 1e8);
}

// The estimate follows what the run holds: the fabric (GPUs, switches, links) and the step program (layers x
// micro-batches), not the GPU count alone.
TEST(MemoryGuard, EstimateGrowsWithTheFabricAndTheProgram) {
  const std::string model = "workload { model { preset: \"llama3_8b\" seq_len: 2048 } ";
  const v1::Scenario small = Scenario("accelerator { name: \"H100-SXM\" } cluster { num_gpus: 8 } " + model +
                                      "parallelism { tp: 8 global_batch_size: 8 } }");
  const v1::Scenario big_fabric = Scenario("accelerator { name: \"H100-SXM\" } cluster { num_gpus: 8192 } " + model +
                                           "parallelism { tp: 8 global_batch_size: 1024 } }");
  const v1::Scenario long_program = Scenario(
      "accelerator { name: \"H100-SXM\" } cluster { num_gpus: 8 } workload { model { preset: \"llama3_8b\" "
      "seq_len: 2048 layers: 4096 } parallelism { tp: 8 global_batch_size: 256 } }");
  EXPECT_GT(EstimateFabricBytes(big_fabric), 100 * (EstimateFabricBytes(small) - 30e6));
  EXPECT_GT(EstimateProgramBytes(long_program), 1000 * EstimateProgramBytes(small));
  EXPECT_GT(EstimateStepMemory(long_program).total(), 2e9);  // 4,096 layers x 256 micro-batches
}

TEST(MemoryGuard, ALongProgramIsRefusedNamingTheBatch) {
  v1::Scenario s = Scenario(
      "accelerator { name: \"H100-SXM\" } cluster { num_gpus: 8 } workload { model { preset: \"llama3_8b\" "
      "seq_len: 2048 layers: 4096 } parallelism { tp: 8 global_batch_size: 256 } } options { memory_limit_gb: 1 }");
  try {
    GuardMemory(s, "guard.textproto");
    FAIL() << "not refused";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("guard.textproto: workload.parallelism.global_batch_size = 256 (4096 layers)"), std::string::npos)
        << m;
    EXPECT_NE(m.find("step program"), std::string::npos) << m;
  }
}

TEST(MemoryGuard, TheLimitIsTheSmallerOfTheOptionAndTheMachine) {
  v1::Scenario s = Scenario(
      "accelerator { name: \"H100-SXM\" } cluster { num_gpus: 8 } workload { model { "
      "preset: \"llama3_8b\" } parallelism { tp: 8 global_batch_size: 8 } }");
  const double machine = MemoryLimitGb(s);
  EXPECT_NEAR(machine, 0.9 * AvailableMemoryBytes() / 1e9, 1e-6);
  s.mutable_options()->set_memory_limit_gb(1);
  EXPECT_EQ(MemoryLimitGb(s), 1);
  s.mutable_options()->set_memory_limit_gb(1e6);
  EXPECT_EQ(MemoryLimitGb(s), machine);
}

}  // namespace
}  // namespace clustersim::sim
