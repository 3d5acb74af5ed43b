#include "sim/plausible.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/input_file.h"

namespace clustersim {
namespace {

namespace pb = google::protobuf;

// Ranges of counts: bounded so that products of them stay far from overflow and runs stay within memory.
constexpr PlausibleRange Count(double lo, double hi, const char* unit, const char* example) {
  return PlausibleRange{lo, hi, unit, example, false};
}
constexpr uint32_t k16 = 1u << 16, k20 = 1u << 20, k22 = 1u << 22, k24 = 1u << 24, k30 = 1u << 30;
constexpr PlausibleRange kFraction = Count(0, 1, "(a fraction)", "0.5");
constexpr PlausibleRange kEfficiency = Count(0.01, 1, "(a fraction of the peak)", "0.7");
constexpr PlausibleRange kParallel = Count(1, k24, "GPUs", "8");
constexpr PlausibleRange kModelWidth = Count(1, k20, "(a model dimension)", "8192 for Llama-3-70B's hidden");
constexpr PlausibleRange kFfnWidth = Count(1, k22, "(a model dimension)", "28672 for Llama-3-70B");
constexpr PlausibleRange kHeadDim = Count(1, k16, "(a head dimension or count)", "128");
constexpr PlausibleRange kLoraRank = Count(1, k20, "(a low-rank projection)", "1536 for DeepSeek-V3's q");
constexpr PlausibleRange kPartUsd{1e-2, 1e7, "USD per part", "800 for a 400G optic, 40000 for a 64-port switch"};
constexpr PlausibleRange kPartKgco2e{1e-3, 1e6, "kgCO2e per part", "1000 for a 64-port switch"};
constexpr PlausibleRange kFailuresPerHour{1e-12, 1, "failures per component-hour", "9e-6 per GPU-hour (Llama 3)"};
constexpr PlausibleRange kSeconds{1e-3, 1e8, "s", "600"};
constexpr PlausibleRange kAnyU64 = Count(0, 1.8446744073709552e19, "", "");
constexpr PlausibleRange kSpeedCv = Count(0, 0.5, "(relative standard deviation)", "0.012");
constexpr PlausibleRange kRelativeSpeed = Count(1e-3, 1, "(relative speed; 0.5 = half speed)", "0.9");
constexpr PlausibleRange kFaultSpeed = Count(0, 0.999, "(share of bandwidth left; 0 = down)", "0.5");

// Sorted by field name (checked by a unit test).
constexpr FieldRange kRanges[] = {
    {"Accelerator.attention_efficiency", kEfficiency},
    {"Accelerator.bf16_tflops", plausible::kTflops},
    {"Accelerator.comm_compute_interference", kFraction},
    {"Accelerator.comm_power_fraction", kFraction},
    {"Accelerator.embodied_kgco2e", {1e-2, 1e6, "kgCO2e per accelerator with its share of the server", "1500"}},
    {"Accelerator.fp32_tflops", plausible::kTflops},
    {"Accelerator.fp4_tflops", plausible::kTflops},
    {"Accelerator.fp8_gemm_efficiency", kEfficiency},
    {"Accelerator.fp8_quantize_memory_efficiency", kEfficiency},
    {"Accelerator.fp8_tflops", plausible::kTflops},
    {"Accelerator.gemm_efficiency", kEfficiency},
    {"Accelerator.gemm_half_efficiency_gflop", {1e-6, 1e6, "GFLOP per GEMM", "2"}},
    {"Accelerator.grouped_gemm_half_efficiency_elements", Count(1, k20, "elements (GEMM width)", "400")},
    {"Accelerator.hbm_bandwidth_gbyte_per_s", plausible::kMemoryGbytePerS},
    {"Accelerator.hbm_gb", plausible::kMemoryGb},
    {"Accelerator.host_power_per_gpu_w", plausible::kPartW},
    {"Accelerator.host_price_usd", {1, 1e7, "USD of host per accelerator", "5000"}},
    {"Accelerator.idle_w", plausible::kPartW},
    {"Accelerator.kernel_launch_host_us", {0.01, 1e4, "us per kernel launch", "4"}},
    {"Accelerator.memory_bound_power_fraction", kFraction},
    {"Accelerator.memory_efficiency", kEfficiency},
    {"Accelerator.moe_host_sync_us", {0.01, 1e5, "us per device-to-host synchronisation", "30"}},
    {"Accelerator.nic_bandwidth_gbps", plausible::kNicGbps},
    {"Accelerator.nics_per_gpu", Count(1, 64, "NIC ports per GPU", "1")},
    {"Accelerator.power_cap_w", plausible::kDeviceW},
    {"Accelerator.power_floor_fraction", kFraction},
    {"Accelerator.price_usd", {1, 1e7, "USD per accelerator with its share of the server", "30000"}},
    {"Accelerator.scale_up_bandwidth_gbyte_per_s", plausible::kLinkGbytePerS},
    {"Accelerator.scale_up_domain_size", Count(1, k16, "GPUs per scale-up domain", "8, 72 for GB200 NVL72")},
    {"Accelerator.speed_cv", kSpeedCv},
    {"Accelerator.step_overhead_ms", {1e-3, 60000, "ms per step", "100"}},
    {"Accelerator.tdp_w", plausible::kDeviceW},
    {"BackgroundJob.gpu_ids", Count(0, k24, "(a fabric GPU index)", "4096")},
    {"BackgroundJob.gpus", kParallel},
    {"BackgroundJob.load_bytes_per_s", {1e3, 1e13, "bytes/s offered per GPU", "2.5e10"}},
    {"BackgroundJob.load_fraction", kFraction},
    {"BackgroundJob.seed", kAnyU64},
    {"CarbonCase.gpu_hours", {1e-6, 1e12, "device-hours", "3.3e7 for Llama 3 405B"}},
    {"CarbonCase.kgco2e_per_kwh", {1e-3, 3, "kgCO2e/kWh", "0.39"}},
    {"CarbonCase.power_w_per_gpu", {1, 1e5, "W", "700 for an H100 SXM"}},
    {"CarbonCase.pue", Count(1, 5, "(PUE)", "1.1")},
    {"Cluster.num_gpus", Count(1, k24, "GPUs", "8192")},
    {"CollectiveCase.group_size", kParallel},
    {"CollectiveCase.group_stride", kParallel},
    {"CollectiveCase.size_bytes", Count(1, 1125899906842624.0, "bytes per rank (at most 1 PiB)", "1073741824")},
    {"Collectives.channels", Count(1, 256, "channels", "16")},
    {"Collectives.net_step_latency_ns", plausible::kLatencyNs},
    {"Collectives.p2p_latency_ns", plausible::kLatencyNs},
    {"Collectives.protocol_efficiency", kEfficiency},
    {"Collectives.scale_up_protocol_efficiency", kEfficiency},
    {"Collectives.step_latency_ns", plausible::kLatencyNs},
    {"Expectation.tolerance_abs", {1e-12, 1e18, "(the quantity's unit)", "2"}},
    {"Expectation.tolerance_pct", {1e-6, 1000, "%", "10"}},
    {"Expectation.value", {1e-12, 1e18, "(the quantity's unit)", "1.5"}},
    {"ExpertLoad.tokens", Count(0, 1e18, "(tokens per expert, relative counts)", "1843"), k16},
    {"Facility.amortization_years", {0.1, 100, "years", "4"}},
    {"Facility.capex_usd_per_mw", {1e3, 1e9, "USD per MW of facility power", "1e7"}},
    {"Facility.electricity_usd_per_kwh", plausible::kUsdPerKwh},
    {"Facility.gpu_hour_usd", plausible::kGpuHourUsd},
    {"Facility.grid_carbon_g_per_kwh", plausible::kGridGPerKwh},
    {"Facility.grid_intensity_g_per_kwh", plausible::kGridGPerKwh},
    {"Facility.maintenance_fraction_per_year", kFraction},
    {"Facility.power_ramp_window_s", {1e-4, 3600, "s", "0.01"}},
    {"Facility.pue", Count(1, 5, "(PUE)", "1.2")},
    {"Facility.training_flops", {1e6, 1e33, "model FLOPs (6 x active parameters x tokens)", "1e26"}},
    {"Facility.training_tokens", {1, 1e18, "tokens", "1.5e13 for Llama 3"}},
    {"LinkFault.index", Count(0, k30, "(a link index among its kind)", "0")},
    {"LinkFault.speed", kFaultSpeed},
    {"MemoryOptions.activation_offload_fraction", kFraction},
    {"MemoryOptions.fragmentation", Count(0, 1, "(reserved / allocated - 1)", "0.05")},
    {"MemoryOptions.framework_overhead_gb", Count(1e-3, 1000, "GB per GPU", "5")},
    {"MemoryOptions.optimizer_offload_fraction", kFraction},
    {"Model.dense_layers", Count(0, 4096, "layers", "3 for DeepSeek-V3")},
    {"Model.expert_ffn_hidden", kFfnWidth},
    {"Model.ffn_hidden", kFfnWidth},
    {"Model.head_dim", kHeadDim},
    {"Model.heads", kHeadDim},
    {"Model.hidden", kModelWidth},
    {"Model.kv_heads", kHeadDim},
    {"Model.layers", Count(1, 4096, "layers", "80 for Llama-3-70B")},
    {"Model.mla_kv_lora_rank", kLoraRank},
    {"Model.mla_q_lora_rank", kLoraRank},
    {"Model.mla_qk_nope_head_dim", kHeadDim},
    {"Model.mla_qk_rope_head_dim", kHeadDim},
    {"Model.mla_v_head_dim", kHeadDim},
    {"Model.mtp_depth", Count(0, 16, "multi-token prediction modules", "1 for DeepSeek-V3")},
    {"Model.routed_experts", Count(1, k16, "experts", "256 for DeepSeek-V3")},
    {"Model.seq_len", Count(1, k24, "tokens per sequence", "8192")},
    {"Model.shared_experts", Count(0, 1024, "experts", "1 for DeepSeek-V3")},
    {"Model.top_k", Count(1, 1024, "experts per token", "8 for DeepSeek-V3")},
    {"Model.vocab", Count(1, k24, "tokens", "128256 for Llama 3")},
    {"MoeExchangeCase.experts", Count(1, k16, "experts", "256")},
    {"MoeExchangeCase.max_nodes_per_token", Count(1, k16, "nodes", "4")},
    {"MoeExchangeCase.seed", kAnyU64},
    {"MoeExchangeCase.token_bytes", Count(1, k30, "bytes per token copy", "7168")},
    {"MoeExchangeCase.tokens", Count(1, k20, "tokens per EP rank", "4096")},
    {"MoeExchangeCase.top_k", Count(1, 1024, "experts per token", "8")},
    {"MoeRouting.capacity_factor", Count(0.1, 64, "(expert capacity over the balanced share)", "1.25")},
    {"MoeRouting.imbalance", Count(1, 1e4, "(max / mean tokens per expert)", "1.5")},
    {"MoeRouting.max_nodes_per_token", Count(1, k16, "nodes", "4 for DeepSeek-V3")},
    {"MoeRouting.redundant_experts", Count(1, k16, "expert replicas", "32 for DeepSeek-V3's inference")},
    {"NetworkParts.cable_price_usd", kPartUsd},
    {"NetworkParts.nic_power_w", plausible::kPartW},
    {"NetworkParts.nic_price_usd", kPartUsd},
    {"NetworkParts.ocs_ports", Count(1, 4096, "ports per optical circuit switch", "128")},
    {"NetworkParts.ocs_power_w", plausible::kPartW},
    {"NetworkParts.ocs_price_usd", kPartUsd},
    {"NetworkParts.scale_up_cable_price_usd", kPartUsd},
    {"NetworkParts.scale_up_cables_per_gpu", Count(0, 10000, "cables per GPU", "72 for NVL72")},
    {"NetworkParts.scale_up_switch_embodied_kgco2e", kPartKgco2e},
    {"NetworkParts.scale_up_switch_power_w", plausible::kPartW},
    {"NetworkParts.scale_up_switch_price_usd", kPartUsd},
    {"NetworkParts.scale_up_switches_per_domain", Count(0, 100000, "switches per scale-up domain", "9 for NVL72")},
    {"NetworkParts.scale_up_transceiver_power_w", plausible::kPartW},
    {"NetworkParts.scale_up_transceiver_price_usd", kPartUsd},
    {"NetworkParts.scale_up_transceivers_per_gpu", Count(0, 1000, "optical modules per GPU", "18 for CloudMatrix384")},
    {"NetworkParts.switch_embodied_kgco2e", kPartKgco2e},
    {"NetworkParts.switch_power_w", plausible::kPartW},
    {"NetworkParts.switch_price_usd", kPartUsd},
    {"NetworkParts.torus_cable_price_usd", kPartUsd},
    {"NetworkParts.torus_optical_fraction", kFraction},
    {"NetworkParts.transceiver_embodied_kgco2e", kPartKgco2e},
    {"NetworkParts.transceiver_power_w", plausible::kPartW},
    {"NetworkParts.transceiver_price_usd", kPartUsd},
    {"Parallelism.cp", kParallel},
    {"Parallelism.dp", kParallel},
    {"Parallelism.ep", kParallel},
    {"Parallelism.expert_tp", kParallel},
    {"Parallelism.global_batch_size", Count(1, k30, "sequences per step", "2048")},
    {"Parallelism.micro_batch_size", Count(1, k20, "sequences", "1")},
    {"Parallelism.pp", kParallel},
    {"Parallelism.recompute_modules", Count(0, 0, "", ""), 16},
    {"Parallelism.tp", kParallel},
    {"Parallelism.vpp", Count(1, 4096, "virtual stages per pipeline rank", "5")},
    {"Parallelism.zero_stage", Count(0, 3, "(ZeRO stage)", "1")},
    {"Placement.fabric_gpus", Count(1, k24, "GPUs", "131072")},
    {"Placement.fragmentation", kFraction},
    {"Placement.seed", kAnyU64},
    {"Placement.torus_tile", Count(1, k24, "GPUs along a torus dimension", "2"), 3},
    {"PlaneFault.plane", Count(0, 63, "(a plane index)", "0")},
    {"PlaneFault.speed", kFaultSpeed},
    {"RandomLinkFaults.fraction", Count(0, 0.999, "(a fraction of the switch-to-switch links)", "0.01")},
    {"RandomLinkFaults.seed", kAnyU64},
    {"RandomLinkFaults.speed", kFaultSpeed},
    {"Reliability.checkpoint_gbyte_per_s", {1e-3, 1e7, "GB/s", "2000"}},
    {"Reliability.checkpoint_interval_s", {1, 1e8, "s", "1800"}},
    {"Reliability.checkpoint_stall_s", kSeconds},
    {"Reliability.gpu_failures_per_hour", kFailuresPerHour},
    {"Reliability.hbm_failures_per_hour", kFailuresPerHour},
    {"Reliability.host_failures_per_hour", kFailuresPerHour},
    {"Reliability.link_failures_per_hour", kFailuresPerHour},
    {"Reliability.nic_failures_per_hour", kFailuresPerHour},
    {"Reliability.restart_s", kSeconds},
    {"Reliability.software_failures_per_hour", kFailuresPerHour},
    {"Reliability.switch_failures_per_hour", kFailuresPerHour},
    {"ScaleOut.dragonfly_global_links_per_router", Count(1, 4096, "links", "8")},
    {"ScaleOut.dragonfly_hosts_per_router", Count(1, 4096, "hosts", "16")},
    {"ScaleOut.dragonfly_routers_per_group", Count(1, 4096, "routers", "32")},
    {"ScaleOut.dragonfly_spray_paths", Count(1, 64, "intermediate groups per flow", "4")},
    {"ScaleOut.link_latency_ns", plausible::kLatencyNs},
    {"ScaleOut.nic_bandwidth_gbps", plausible::kNicGbps},
    {"ScaleOut.nics_per_gpu", Count(1, 64, "NIC ports per GPU", "1")},
    {"ScaleOut.oversubscription", Count(1, 1000, "(down:up bandwidth)", "1 (non-blocking)"), 8},
    {"ScaleOut.planes", Count(1, 64, "planes", "2")},
    {"ScaleOut.slim_fly_hosts_per_router", Count(1, 4096, "NIC ports per router", "36")},
    {"ScaleOut.slim_fly_q", Count(3, 1024, "(a prime power)", "47")},
    {"ScaleOut.switch_latency_ns", plausible::kLatencyNs},
    {"ScaleOut.switch_radix", Count(2, 8192, "ports per switch", "64")},
    {"ScaleOut.tiers", Count(1, 8, "tiers", "3")},
    {"ScaleOut.torus_dims", Count(1, k24, "GPUs along a dimension", "16"), 8},
    {"ScaleUp.bandwidth_gbyte_per_s", plausible::kLinkGbytePerS},
    {"ScaleUp.domain_size", Count(1, k16, "GPUs per scale-up domain", "8, 72 for NVL72")},
    {"ScaleUp.gpus_per_node", Count(1, 1024, "GPUs per server", "8")},
    {"ScaleUp.latency_ns", plausible::kLatencyNs},
    {"Scenario.seed", kAnyU64},
    {"Serving.duration_s", {1e-3, 86400, "s of simulated time", "60"}},
    {"Serving.max_cell_instances", Count(1, 4096, "instances simulated together", "16")},
    {"Serving.warmup_s", {1e-3, 86400, "s of simulated time", "20"}},
    {"ServingEngine.attention_efficiency", kEfficiency},
    {"ServingEngine.draft_tokens", Count(1, 16, "tokens proposed per decode step", "1 for DeepSeek-V3's MTP")},
    {"ServingEngine.iteration_overhead_us", {1e-3, 1e6, "us per iteration", "1000"}},
    {"ServingEngine.kv_block_tokens", Count(1, 4096, "tokens per KV-cache page", "32")},
    {"ServingEngine.mean_accepted_tokens", Count(1, 17, "tokens per sequence per decode step", "1.85")},
    {"ServingEngine.software_efficiency", kEfficiency},
    {"ServingPool.dp_attention", kParallel},
    {"ServingPool.ep", kParallel},
    {"ServingPool.expert_imbalance", Count(1, 1000, "(max / mean tokens per EP rank)", "1.3")},
    {"ServingPool.instances", Count(1, k24, "instances", "512")},
    {"ServingPool.kv_memory_fraction", kFraction},
    {"ServingPool.max_batch", Count(1, k24, "sequences per instance", "256")},
    {"ServingPool.max_num_tokens", Count(1, k24, "tokens per iteration", "8192")},
    {"ServingPool.pp", kParallel},
    {"ServingPool.redundant_experts", Count(1, k16, "expert replicas per instance", "32")},
    {"ServingPool.tp", kParallel},
    {"ServingSlo.tpot_ms", {1e-3, 1e7, "ms per output token", "50"}},
    {"ServingSlo.ttft_ms", {1e-3, 1e7, "ms to the first token", "2000"}},
    {"ServingTraffic.burstiness", Count(1, 100, "(coefficient of variation of inter-arrival times)", "2")},
    {"ServingTraffic.concurrency", Count(1, 1e6, "requests in flight per instance", "64")},
    {"ServingTraffic.input_tokens", Count(1, 1e7, "prompt tokens (mean)", "2000")},
    {"ServingTraffic.length_spread", Count(0, 10, "(coefficient of variation or relative spread)", "0.5")},
    {"ServingTraffic.max_input_tokens", Count(1, 1e7, "prompt tokens", "8000")},
    {"ServingTraffic.max_output_tokens", Count(1, 1e7, "output tokens", "2000")},
    {"ServingTraffic.output_tokens", Count(1, 1e7, "output tokens (mean)", "500")},
    {"ServingTraffic.prefix_cache_hit_rate", Count(0, 0.999, "(a fraction of prompt tokens)", "0.56")},
    {"ServingTraffic.rate_per_s", {1e-9, 1e9, "requests per second, whole fleet", "1000"}},
    {"SimOptions.max_flows_per_phase", Count(1, 1e9, "flows", "2000000")},
    {"SimOptions.memory_limit_gb", {1e-2, 1e6, "GB", "64"}},
    {"SimOptions.trace_ranks", Count(0, k24, "(a rank)", "0"), 4096},
    {"SlowComponent.index", Count(0, k24, "(a GPU or node index)", "0")},
    {"SlowComponent.speed", kRelativeSpeed},
    {"SwitchFault.index", Count(0, k30, "(a switch index within its tier)", "0")},
    {"SwitchFault.speed", kFaultSpeed},
    {"SwitchFault.tier", Count(1, 3, "(1 leaf or router, 2 spine, 3 core)", "2")},
    {"Variability.gpu_speed_cv", kSpeedCv},
    {"Variability.slow", Count(0, 0, "", ""), 4096},
    {"Variability.slow_node_fraction", Count(0, 0.5, "(a fraction of the nodes)", "0.005")},
    {"Variability.slow_node_speed", kRelativeSpeed},
    {"Variability.step_jitter_cv", kSpeedCv},
    {"Workload.steps", Count(1, 10000, "consecutive steps", "1")},
};

// Repeated fields without a range of their own hold at most this many elements.
constexpr uint32_t kDefaultMaxElements = 1u << 16;

std::string NumText(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Element `i` of a numeric field (-1: not repeated) as a double and as the text messages show.
std::pair<double, std::string> NumberOf(const pb::Message& m, const pb::FieldDescriptor& f, int i) {
  const pb::Reflection& r = *m.GetReflection();
  const bool rep = i >= 0;
  switch (f.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      const int32_t v = rep ? r.GetRepeatedInt32(m, &f, i) : r.GetInt32(m, &f);
      return {v, std::to_string(v)};
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      const int64_t v = rep ? r.GetRepeatedInt64(m, &f, i) : r.GetInt64(m, &f);
      return {static_cast<double>(v), std::to_string(v)};
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32: {
      const uint32_t v = rep ? r.GetRepeatedUInt32(m, &f, i) : r.GetUInt32(m, &f);
      return {v, std::to_string(v)};
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      const uint64_t v = rep ? r.GetRepeatedUInt64(m, &f, i) : r.GetUInt64(m, &f);
      return {static_cast<double>(v), std::to_string(v)};
    }
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      const double v = rep ? r.GetRepeatedFloat(m, &f, i) : r.GetFloat(m, &f);
      return {v, NumText(v)};
    }
    default: {
      const double v = rep ? r.GetRepeatedDouble(m, &f, i) : r.GetDouble(m, &f);
      return {v, NumText(v)};
    }
  }
}

std::string RangeRule(double v, const PlausibleRange& r) {
  if (!std::isfinite(v)) return "must be a finite number";
  if (v < 0 && r.lo >= 0)
    return fmt::format("must be >= 0 (0 takes the default; otherwise in [{}, {}] {})", r.lo, r.hi, r.unit);
  return ImplausibleRule(v, r);
}

void CheckField(const pb::Message& m, const pb::FieldDescriptor& f, const std::string& path, const RangeFailure& fail,
                std::initializer_list<std::string_view> skip);

void CheckMessage(const pb::Message& m, const std::string& prefix, const RangeFailure& fail,
                  std::initializer_list<std::string_view> skip) {
  std::vector<const pb::FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields)
    CheckField(m, *f, prefix.empty() ? f->name() : prefix + "." + f->name(), fail, skip);
}

void CheckField(const pb::Message& m, const pb::FieldDescriptor& f, const std::string& path, const RangeFailure& fail,
                std::initializer_list<std::string_view> skip) {
  const pb::Reflection& r = *m.GetReflection();
  const FieldRange* range = FindFieldRange(f);
  const int n = f.is_repeated() ? r.FieldSize(m, &f) : 1;
  if (f.is_repeated()) {
    const uint32_t most = range != nullptr && range->max_elements > 0 ? range->max_elements : kDefaultMaxElements;
    if (static_cast<uint32_t>(n) > most)
      fail(path, fmt::format("{} elements", n), fmt::format("holds at most {} elements", most));
  }
  for (int i = 0; i < n; ++i) {
    const int index = f.is_repeated() ? i : -1;
    const std::string at = index >= 0 ? fmt::format("{}[{}]", path, index) : path;
    if (f.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      const std::string& type = f.message_type()->full_name();
      if (std::find(skip.begin(), skip.end(), type) != skip.end()) continue;
      CheckMessage(index >= 0 ? r.GetRepeatedMessage(m, &f, i) : r.GetMessage(m, &f), at, fail, skip);
    } else if (f.cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      const std::string s = index >= 0 ? r.GetRepeatedString(m, &f, i) : r.GetString(m, &f);
      if (s.size() > kMaxInputStringBytes)
        fail(at, "\"" + s + "\"", fmt::format("is {} bytes long: at most {}", s.size(), kMaxInputStringBytes));
      if (FirstInvalidUtf8(s) != std::string::npos)
        fail(at, "(not shown)", "is not valid UTF-8 text (an escape such as \\377 gives a byte that is not)");
    } else if (IsNumericField(f)) {
      const auto [v, text] = NumberOf(m, f, index);
      const std::string rule =
          range != nullptr ? RangeRule(v, range->range) : (std::isfinite(v) ? "" : "must be a finite number");
      if (!rule.empty()) fail(at, text, rule);
    }
  }
}

// --- the output rule -----------------------------------------------------------------------------------------------

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

bool IsFraction(std::string_view name) {
  return name == "mfu" || name == "hfu" || name == "goodput" || name.find("utilization") != std::string_view::npos;
}

// The inputs a reported quantity comes from, for the message.
std::string InputsOf(std::string_view name) {
  if (name == "mfu" || name == "hfu" || name.find("tflops") != std::string_view::npos)
    return "the model's sizes (workload.model) against the accelerator's TFLOP/s and efficiencies";
  if (name.find("usd") != std::string_view::npos)
    return "the prices (facility.electricity_usd_per_kwh, gpu_hour_usd, accelerator.price_usd, cluster.parts.*)";
  if (name.find("tco2e") != std::string_view::npos)
    return "facility.grid_carbon_g_per_kwh, accelerator.embodied_kgco2e, cluster.parts.switch_embodied_kgco2e";
  if (name == "goodput" || name.find("mtbf") != std::string_view::npos ||
      name.find("interruptions") != std::string_view::npos || name.find("checkpoint") != std::string_view::npos ||
      name.find("restart") != std::string_view::npos || name.find("interval") != std::string_view::npos)
    return "reliability.* (failure rates, checkpoint and restart times)";
  if (EndsWith(name, "_days") || name == "gpu_hours" || name.find("mwh") != std::string_view::npos ||
      name == "training_tokens")
    return "facility.training_tokens against the simulated throughput";
  if (EndsWith(name, "_w") || EndsWith(name, "_j"))
    return "the power inputs (accelerator.tdp_w, idle_w, host_power_per_gpu_w, cluster.parts.*_power_w, facility.pue)";
  if (name.find("utilization") != std::string_view::npos || name.find("bandwidth") != std::string_view::npos ||
      name.find("busbw") != std::string_view::npos || name.find("algbw") != std::string_view::npos)
    return "the bandwidths, latencies and collective settings (cluster.*, collectives.*)";
  return "the accelerator's TFLOP/s and efficiencies, the bandwidths and the latencies";
}

// The rule `v` (the quantity `name`) breaks, or "".
std::string ReportedRule(double v, std::string_view name) {
  if (!std::isfinite(v)) return "not a finite number";
  if (v < 0 && !EndsWith(name, "_change")) return "negative (impossible)";  // a change may be a decrease
  if (IsFraction(name) && v > 1 + 1e-9) return "above 100% (impossible)";
  if ((name == "step_time_s" || name == "estimated_step_time_s") && v > kMaxStepTimeS)
    return fmt::format("a step longer than {:.0e} s (implausible)", kMaxStepTimeS);
  if (EndsWith(name, "_days") && v > kMaxRunDays)
    return fmt::format("more than {:.0e} days (implausible)", kMaxRunDays);
  return "";
}

[[noreturn]] void FailReported(double v, std::string_view name, const std::string& path, const std::string& rule,
                               const std::string& source, const std::string& what) {
  const std::string shown = IsFraction(name) && std::isfinite(v) ? fmt::format("{:.4g}%", 100 * v) : NumText(v);
  throw InputError::Field(source, 0, what + "." + path, shown,
                          rule + ": it comes from implausible inputs; check " +
                              InputsOf(path.find("goodput") != std::string::npos ? "goodput" : name));
}

void CheckReported(const pb::Message& m, const std::string& prefix, const std::string& source,
                   const std::string& what) {
  std::vector<const pb::FieldDescriptor*> fields;
  const pb::Reflection& r = *m.GetReflection();
  r.ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    const std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    const int n = f->is_repeated() ? r.FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      const int index = f->is_repeated() ? i : -1;
      const std::string at = index >= 0 ? fmt::format("{}[{}]", path, index) : path;
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        if (f->message_type()->full_name() == "clustersim.v1.Scenario") continue;  // the input
        CheckReported(index >= 0 ? r.GetRepeatedMessage(m, f, i) : r.GetMessage(m, f), at, source, what);
      } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE ||
                 f->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT) {
        const double v = NumberOf(m, *f, index).first;
        const std::string rule = ReportedRule(v, f->name());
        if (!rule.empty()) FailReported(v, f->name(), at, rule, source, what);
      }
    }
  }
}

}  // namespace

std::string ImplausibleRule(double v, const PlausibleRange& r) {
  if (v == 0 || !std::isfinite(v) || (v >= r.lo && v <= r.hi)) return "";
  std::string hint;
  if (r.unit_hint && v >= r.hi * 1000) hint = "; it looks like it was given in a unit 1000 or more times smaller";
  if (r.unit_hint && v > 0 && v <= r.lo / 1000)
    hint = "; it looks like it was given in a unit 1000 or more times larger";
  if (!r.unit_hint) return fmt::format("must be in [{}, {}] {} (e.g. {})", r.lo, r.hi, r.unit, r.example);
  return fmt::format("outside the plausible range [{}, {}] {} (e.g. {}){}", r.lo, r.hi, r.unit, r.example, hint);
}

bool IsNumericField(const pb::FieldDescriptor& f) {
  switch (f.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_UINT32:
    case pb::FieldDescriptor::CPPTYPE_UINT64:
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return true;
    default:
      return false;
  }
}

std::span<const FieldRange> FieldRanges() { return kRanges; }

const FieldRange* FindFieldRange(const pb::FieldDescriptor& field) {
  if (field.containing_type() == nullptr || field.file()->package() != "clustersim.v1") return nullptr;
  const std::string key = field.containing_type()->name() + "." + field.name();
  const auto it =
      std::lower_bound(std::begin(kRanges), std::end(kRanges), key,
                       [](const FieldRange& r, const std::string& k) { return std::string_view(r.field) < k; });
  return it != std::end(kRanges) && it->field == key ? &*it : nullptr;
}

void CheckFieldRanges(const pb::Message& msg, const std::string& prefix, const RangeFailure& fail,
                      std::initializer_list<std::string_view> skip) {
  CheckMessage(msg, prefix, fail, skip);
}

void CheckReportedNumbers(const pb::Message& result, const std::string& source, const std::string& what) {
  CheckReported(result, "", source, what);
}

void CheckReportedNumber(double value, const std::string& name, const std::string& source, const std::string& what) {
  const std::string rule = ReportedRule(value, name);
  if (!rule.empty()) FailReported(value, name, name, rule, source, what);
}

}  // namespace clustersim
