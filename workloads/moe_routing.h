// MoE token routing: how many (token, expert) pairs each expert and each expert-parallel rank receives in one
// MoE layer for one microbatch, drawn deterministically from a seed.
//
//   balanced: every expert gets tokens x top_k / experts (the remainder spread over experts picked by the seed).
//   skewed:   expert popularity follows a Zipf law w_i ~ (i+1)^-alpha over a seeded permutation of the experts,
//             alpha solved so that max/mean tokens per expert = imbalance (1 <= imbalance <= experts / top_k, the
//             most an expert can receive being every token once). Counts are rounded by largest remainder, so
//             the pairs are conserved exactly.
//   observed: expert popularity is the given histogram (RoutingInput::observed, MoeRouting.expert_load) in expert
//             order, apportioned as above.
//   node-limited routing (max_nodes_per_token = M > 0): each token's experts lie on at most M nodes (DeepSeek-V3
//             style). Estimated by sampling tokens (seeded): a token picks M nodes by popularity, then top_k
//             experts among them.
//   per-node deduplication (dedup_per_node, DeepEP / the flex dispatcher): a token crosses the network once per
//             destination node, which scales the bytes a rank sends to other nodes by internode_scale = distinct
//             remote nodes / remote pairs (sampled as above). Also computed with node-limited routing alone.
// Experts are placed in contiguous blocks: EP rank r holds experts [r E/ep, (r+1) E/ep); EP rank r sits on node
// r / ep_ranks_per_node.
//   redundant experts (redundant_experts = R > 0, EPLB): R replicas go one by one to the expert with the most tokens
//             per copy; an expert's tokens split evenly over its copies (largest remainder); the E + R copies are
//             placed heaviest first on the least loaded rank that has a free slot ((E + R) / ep slots per rank).
//             tokens_per_rank and max_rank_tokens follow that placement. The node statistics (node-limited routing,
//             deduplication) keep each expert on its original rank (replicas are not chosen by the sampled tokens).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "scenario.pb.h"

namespace clustersim::wl {

// Checks workload.moe_routing against a resolved MoE model and the run's precision ("fp8" or not); InputError naming
// "workload.moe_routing.<field>".
void ValidateMoeRouting(const v1::MoeRouting& r, const v1::Model& m, bool fp8, const std::string& file);

// Whether the dispatch exchange carries FP8 tokens (moe_routing.dispatch_dtype, validated; its default: the flex
// dispatcher in an FP8 run).
bool Fp8Dispatch(const v1::MoeRouting& r, bool fp8);

struct RoutingInput {
  uint32_t experts = 1;
  uint32_t top_k = 1;
  uint32_t ep = 1;                 // expert-parallel ranks; must divide experts
  uint64_t tokens_per_rank = 0;    // tokens each EP rank routes (it sends tokens_per_rank x top_k pairs)
  uint32_t ep_ranks_per_node = 1;  // EP ranks sharing a node (>= 1)
  bool skewed = false;
  // distribution "observed": relative tokens per expert in expert order (size experts); empty otherwise. Takes the
  // place of the Zipf popularity (skewed is then ignored).
  std::vector<double> observed;
  double imbalance = 1;              // skewed: target max/mean tokens per expert
  double zipf_alpha = 0;             // skewed: ZipfAlpha(experts, imbalance) when known (it is costly); 0 = solved here
  uint32_t max_nodes_per_token = 0;  // 0 = unlimited
  bool dedup_per_node = false;       // the dispatcher sends a token once per destination node (DeepEP)
  uint32_t redundant_experts = 0;    // replicas of the hottest experts (EPLB); ep divides experts + this
  uint32_t sample_tokens = 256;      // tokens sampled for the node statistics
  // Sample the node statistics (mean_* and internode_scale). Off: they stay 0 and internode_scale 1, which is exact
  // for the exchange when neither dedup_per_node nor max_nodes_per_token is set (the generator's case).
  bool node_statistics = true;
  // Field by field, in declaration order (RoutingMemo's key).
  friend auto operator<=>(const RoutingInput&, const RoutingInput&) = default;
};

// The Zipf exponent alpha whose weights (i+1)^-alpha over `experts` items have max/mean `imbalance` (bisection;
// 0 when imbalance <= 1). Deterministic: RouteTokens gives the same result with it passed in or solved itself.
double ZipfAlpha(uint32_t experts, double imbalance);

struct RoutingResult {
  std::vector<uint64_t> tokens_per_expert;  // pairs received by each expert, whole EP group
  std::vector<uint64_t> tokens_per_rank;    // pairs received by each EP rank (sum over its experts)
  uint64_t max_rank_tokens = 0;             // the slowest (most loaded) EP rank
  double mean_rank_tokens = 0;
  double mean_dest_nodes = 0;       // distinct destination nodes per token (sampled)
  double mean_remote_nodes = 0;     // distinct destination nodes other than the token's own, per token
  double mean_remote_pairs = 0;     // (token, expert) pairs on other nodes, per token
  double mean_dest_ranks = 0;       // distinct destination EP ranks per token (sampled; DeepEP sends one copy per rank)
  double internode_scale = 1;       // see the header comment; 1 without deduplication or node-limited routing
  uint32_t replicated_experts = 0;  // experts given at least one replica (redundant_experts > 0)
};

// The popularity fields of `in` (skewed and imbalance, or observed) from workload.moe_routing for the MoE layer
// `moe_layer` (0-based, in model order; expert_load entries repeat cyclically). The others are the caller's.
void SetDistribution(const v1::MoeRouting& r, uint32_t moe_layer, RoutingInput& in);

// Max / mean tokens per EP rank of a routing (1 when nothing was routed).
double RankImbalance(const RoutingResult& r);

// RouteTokens results by input and seed, for a caller that builds many step programs of one model (the plan search:
// its candidates share a few routing shapes). Returns what RouteTokens returns; holds at most kMaxEntries results
// (then starts afresh). Owned by the caller; not thread-safe.
class RoutingMemo {
 public:
  static constexpr size_t kMaxEntries = 1 << 16;
  const RoutingResult& Route(const RoutingInput& in, uint64_t seed);
  // wl::ZipfAlpha(experts, imbalance), solved once per pair (a bisection of 25,600 pow calls that every candidate
  // program of a skewed-routing search would otherwise repeat).
  double ZipfAlpha(uint32_t experts, double imbalance);
  size_t size() const { return memo_.size(); }

 private:
  std::map<std::pair<RoutingInput, uint64_t>, RoutingResult> memo_;
  std::map<std::pair<uint32_t, double>, double> alphas_;
};

// EPLB placement (see "redundant experts" above): the tokens each of `ep` ranks receives when `redundant` replicas
// go to the experts with the most tokens per copy and every copy, heaviest first, to the least loaded rank with a
// free slot; ties to the lower expert id and rank. `replicated` (optional) receives the experts given a replica.
// Throws std::invalid_argument unless ep divides experts + redundant.
std::vector<uint64_t> PlaceWithReplicas(const std::vector<uint64_t>& tokens_per_expert, uint32_t ep, uint32_t redundant,
                                        uint32_t* replicated = nullptr);

// Deterministic in (in, seed). Throws std::invalid_argument on inconsistent input (validated plans never do).
RoutingResult RouteTokens(const RoutingInput& in, uint64_t seed);

// Token dispatcher (MoeRouting.dispatcher): "alltoall" (default, also for ""), "allgather", "flex".
enum class MoeDispatcher : uint8_t { kAllToAll, kAllGather, kFlex };
// Throws InputError naming workload.moe_routing.dispatcher for an unknown name.
MoeDispatcher ParseMoeDispatcher(const std::string& name, const std::string& file = "");

// Seeded helpers shared with the generator.
uint64_t SplitMix64(uint64_t* state);
uint64_t MixSeed(uint64_t seed, uint64_t salt);

}  // namespace clustersim::wl
