// Bench: step-program generation time and headline numbers for published training configurations.
// Usage: workloads_bench [repetitions]   (prints one line per configuration)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "workloads/generator.h"

namespace {

using clustersim::v1::Workload;
using clustersim::wl::StepProgram;

struct Config {
  const char* name;
  const char* preset;
  uint32_t gpus, tp, cp, pp, vpp, ep, gbs, seq;
  const char* schedule;
  const char* precision;
  bool overlap_a2a;
};

constexpr Config kConfigs[] = {
    {"llama3-405b tp8 pp16 dp16 m128", "llama3_405b", 2048, 8, 1, 16, 1, 1, 2048, 0, "1f1b", "bf16", false},
    {"llama3-405b tp8 pp16 vpp2 dp16", "llama3_405b", 2048, 8, 1, 16, 2, 1, 2048, 0, "interleaved", "bf16", false},
    {"llama3-70b nemo tp4 cp2 pp4 vp5", "llama3_70b", 64, 4, 2, 4, 5, 1, 128, 8192, "interleaved", "fp8", false},
    {"gpt3-175b nemo tp4 pp8 vp6 dp4", "gpt3_175b", 128, 4, 1, 8, 6, 1, 256, 2048, "interleaved", "fp8", false},
    {"deepseek-v3 tp2 pp8 vp4 ep64", "deepseek_v3_671b", 1024, 2, 1, 8, 4, 64, 8192, 4096, "interleaved", "fp8", false},
    {"deepseek-v3 dualpipe pp16 ep64", "deepseek_v3_671b", 2048, 1, 1, 16, 1, 64, 15360, 4096, "dualpipe", "fp8", true},
    {"qwen3-235b tp2 ep32 pp8 vp4", "qwen3_235b_a22b", 256, 2, 1, 8, 4, 32, 2048, 4096, "interleaved", "bf16", true},
    {"mixtral-8x7b tp2 ep8 pp4", "mixtral_8x7b", 128, 2, 1, 4, 1, 8, 512, 4096, "1f1b", "bf16", false},
};

Workload MakeWorkload(const Config& c) {
  Workload w;
  w.mutable_model()->set_preset(c.preset);
  if (c.seq > 0) w.mutable_model()->set_seq_len(c.seq);
  auto* p = w.mutable_parallelism();
  p->set_tp(c.tp);
  p->set_cp(c.cp);
  p->set_pp(c.pp);
  p->set_vpp(c.vpp);
  p->set_ep(c.ep);
  p->set_global_batch_size(c.gbs);
  p->set_micro_batch_size(1);
  p->set_sequence_parallel(c.tp > 1);
  p->set_schedule(c.schedule);
  p->set_overlap_grad_reduce(true);
  p->set_overlap_param_gather(true);
  p->set_zero_stage(1);
  p->set_overlap_moe_a2a(c.overlap_a2a);
  w.set_precision(c.precision);
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  std::printf("%-34s %6s %5s %10s %9s %12s %10s %9s %8s %8s\n", "config", "gpus", "mb", "ops", "gen_ms",
              "model_PF/step", "GF/token", "params_B", "mem_GB", "moe_imb");
  for (const Config& c : kConfigs) {
    const Workload w = MakeWorkload(c);
    double best_ms = 1e30;
    StepProgram p;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      p = clustersim::wl::BuildStepProgram(w, c.gpus, 8, 1);
      const auto t1 = std::chrono::steady_clock::now();
      best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    size_t ops = 0;
    for (const auto& s : p.stages) ops += s.size();
    std::printf("%-34s %6u %5u %10zu %9.1f %12.2f %10.1f %9.1f %8.1f %8.3f\n", c.name, c.gpus, p.microbatches, ops,
                best_ms, p.model_flops_per_step / 1e15, p.model_flops_per_step / p.tokens_per_step / 1e9,
                p.params_total / 1e9, p.memory.total() / 1e9, p.moe_load_imbalance);
  }
  return 0;
}
