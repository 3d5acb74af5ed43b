// Custom pipeline layouts: Megatron-Core's --pipeline-model-parallel-layout (docs/api-guide/pipeline_parallel_layout.md
// in Megatron-LM), the string the DeepSeek-V3, Kimi-K2 and Llama-3 performance recipes of Megatron-Bridge set, e.g.
// "Et|(tt|)*30mL": virtual stages split by '|', in model order (virtual stage k runs on pipeline rank k mod pp as
// chunk k / pp for the interleaved schedule); symbols E (embedding), t (a transformer decoder layer), m (an MTP
// module), L (the output layer and loss); "X*n" and "(...)*n" repeat a symbol or a group n times; commas and spaces
// are cosmetic. A stage may be empty.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clustersim::wl {

// One virtual stage of a layout.
struct LayoutStage {
  bool embedding = false;  // holds the input embedding (E)
  bool loss = false;       // holds the output layer and loss (L)
  uint32_t decoders = 0;   // transformer layers (t)
  uint32_t mtp = 0;        // MTP modules (m)
  bool operator==(const LayoutStage&) const = default;
};

// The most symbols a layout may expand to (stages, separators included): far above any model (a 131k-GPU pipeline
// of a few hundred layers), low enough that a hostile repeat count cannot exhaust memory.
inline constexpr size_t kMaxLayoutSymbols = 1u << 20;

// Expands and splits `layout` into its virtual stages, checking only the syntax. Throws InputError naming `file`,
// the field workload.parallelism.pipeline_model_parallel_layout, the value and the rule that failed. An empty
// string returns no stages (no custom layout).
std::vector<LayoutStage> ParsePipelineLayout(const std::string& layout, const std::string& file);

// Checks parsed `stages` against the plan and model (Megatron-Core's rules): pp x chunks stages, one E as the
// first symbol, one L as the last, `layers` t then `mtp_depth` m in between. Throws InputError as above.
void CheckPipelineLayout(const std::vector<LayoutStage>& stages, const std::string& layout, uint64_t virtual_stages,
                         uint32_t layers, uint32_t mtp_depth, const std::string& file);

}  // namespace clustersim::wl
