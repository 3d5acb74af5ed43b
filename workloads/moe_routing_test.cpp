#include "workloads/moe_routing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"

namespace clustersim::wl {
namespace {

RoutingInput Input(bool skewed, double imbalance) {
  RoutingInput in;
  in.experts = 256;
  in.top_k = 8;
  in.ep = 64;
  in.tokens_per_rank = 4096;
  in.ep_ranks_per_node = 8;
  in.skewed = skewed;
  in.imbalance = imbalance;
  return in;
}

uint64_t Sum(const std::vector<uint64_t>& v) { return std::accumulate(v.begin(), v.end(), uint64_t{0}); }

TEST(MoeRouting, TokensAreConserved) {
  for (bool skewed : {false, true}) {
    const RoutingInput in = Input(skewed, 3.0);
    const RoutingResult r = RouteTokens(in, 42);
    const uint64_t pairs = in.tokens_per_rank * in.ep * in.top_k;
    EXPECT_EQ(Sum(r.tokens_per_expert), pairs);
    EXPECT_EQ(Sum(r.tokens_per_rank), pairs);
    EXPECT_DOUBLE_EQ(r.mean_rank_tokens, double(pairs) / in.ep);
    // No expert receives a token twice.
    EXPECT_LE(*std::max_element(r.tokens_per_expert.begin(), r.tokens_per_expert.end()), in.tokens_per_rank * in.ep);
  }
}

TEST(MoeRouting, BalancedIsEven) {
  RoutingInput in = Input(false, 1);
  in.tokens_per_rank = 1001;  // pairs not divisible by the experts: the remainder is spread by the seed
  const RoutingResult r = RouteTokens(in, 1);
  const auto [lo, hi] = std::minmax_element(r.tokens_per_expert.begin(), r.tokens_per_expert.end());
  EXPECT_LE(*hi - *lo, 1u);
  EXPECT_LE(double(r.max_rank_tokens), r.mean_rank_tokens + 4);
}

TEST(MoeRouting, SkewedHonorsImbalance) {
  for (double target : {1.5, 3.0, 10.0}) {
    SCOPED_TRACE(target);
    const RoutingResult r = RouteTokens(Input(true, target), 7);
    const double mean = double(Sum(r.tokens_per_expert)) / r.tokens_per_expert.size();
    const double max = double(*std::max_element(r.tokens_per_expert.begin(), r.tokens_per_expert.end()));
    EXPECT_NEAR(max / mean, target, 0.01 * target);
    EXPECT_GT(double(r.max_rank_tokens), r.mean_rank_tokens);  // some EP rank is overloaded
  }
}

// The Zipf exponent solved once and passed in (the generator solves it once per program, not per layer) routes
// exactly as when RouteTokens solves it; ZipfAlpha is 0 without skew.
TEST(MoeRouting, PassedZipfAlphaRoutesAsSolvedHere) {
  RoutingInput in = Input(true, 3.0);
  in.max_nodes_per_token = 4;
  const RoutingResult solved = RouteTokens(in, 9);
  in.zipf_alpha = ZipfAlpha(in.experts, in.imbalance);
  EXPECT_GT(in.zipf_alpha, 0);
  const RoutingResult passed = RouteTokens(in, 9);
  EXPECT_EQ(solved.tokens_per_expert, passed.tokens_per_expert);
  EXPECT_EQ(solved.internode_scale, passed.internode_scale);
  EXPECT_EQ(ZipfAlpha(256, 1.0), 0);
  EXPECT_EQ(ZipfAlpha(1, 3.0), 0);
}

// The memo returns RouteTokens' result for every input and seed, computing each once.
TEST(MoeRouting, MemoReturnsWhatRouteTokensReturns) {
  RoutingMemo memo;
  RoutingInput in = Input(true, 2.0);
  in.max_nodes_per_token = 4;
  in.dedup_per_node = true;
  for (uint64_t seed : {1u, 2u, 1u}) {
    const RoutingResult& m = memo.Route(in, seed);
    const RoutingResult fresh = RouteTokens(in, seed);
    EXPECT_EQ(m.tokens_per_rank, fresh.tokens_per_rank);
    EXPECT_EQ(m.internode_scale, fresh.internode_scale);
  }
  EXPECT_EQ(memo.size(), 2u);
  in.ep = 32;  // another shape is another entry
  EXPECT_EQ(memo.Route(in, 1).tokens_per_rank, RouteTokens(in, 1).tokens_per_rank);
  EXPECT_EQ(memo.size(), 3u);
}

TEST(MoeRouting, DeterministicForASeed) {
  RoutingInput in = Input(true, 4.0);
  in.max_nodes_per_token = 4;
  const RoutingResult a = RouteTokens(in, 123), b = RouteTokens(in, 123), c = RouteTokens(in, 124);
  EXPECT_EQ(a.tokens_per_expert, b.tokens_per_expert);
  EXPECT_EQ(a.internode_scale, b.internode_scale);
  EXPECT_EQ(a.mean_dest_nodes, b.mean_dest_nodes);
  EXPECT_NE(a.tokens_per_expert, c.tokens_per_expert);  // another seed permutes the popular experts
}

// Redundant experts (EPLB): replicas of the hottest experts lower the most loaded rank's tokens towards the mean,
// conserve every pair, leave the expert counts and the node statistics as without replicas, and are deterministic.
TEST(MoeRouting, RedundantExpertsBalanceTheRanks) {
  const RoutingInput plain = Input(true, 3.0);
  const RoutingResult before = RouteTokens(plain, 11);
  RoutingInput in = plain;
  in.redundant_experts = 64;  // 320 copies, 5 per rank
  const RoutingResult after = RouteTokens(in, 11);
  EXPECT_EQ(after.tokens_per_expert, before.tokens_per_expert);
  EXPECT_EQ(Sum(after.tokens_per_rank), Sum(before.tokens_per_rank));
  EXPECT_DOUBLE_EQ(after.mean_rank_tokens, before.mean_rank_tokens);
  EXPECT_DOUBLE_EQ(after.internode_scale, before.internode_scale);
  EXPECT_LT(after.max_rank_tokens, before.max_rank_tokens);
  // The hottest expert (3x the mean expert load) alone on a rank with 4 more slots: replicas bring the heaviest
  // rank to within 10% of the mean, where contiguous blocks left it far above.
  EXPECT_LT(double(after.max_rank_tokens), 1.10 * after.mean_rank_tokens);
  EXPECT_GT(double(before.max_rank_tokens), 1.5 * before.mean_rank_tokens);
  EXPECT_GT(after.replicated_experts, 0u);
  EXPECT_LE(after.replicated_experts, 64u);
  EXPECT_EQ(RouteTokens(in, 11).tokens_per_rank, after.tokens_per_rank);
}

// By hand: experts with 60, 20, 10, 10 tokens on 2 ranks, 2 replicas -> 6 copies, 3 slots per rank. Replicas go
// to the most tokens per copy: expert 0 (60 -> 30 + 30), then expert 0 again (30 > 20 -> 20 + 20 + 20). Copies
// 20 (e0), 20 (e0), 20 (e0), 20 (e1), 10, 10, heaviest first on the least loaded rank with a free slot (ties to the
// lower rank): r0 20, r1 20, r0 40, r1 40, r0 50, r1 50. Without replicas the contiguous blocks give 80 | 20.
TEST(MoeRouting, RedundantExpertsByHand) {
  uint32_t replicated = 0;
  EXPECT_EQ(PlaceWithReplicas({60, 20, 10, 10}, 2, 2, &replicated), (std::vector<uint64_t>{50, 50}));
  EXPECT_EQ(replicated, 1u);
  // One replica: 30 + 30 for expert 0; 5 copies do not fill 2 ranks evenly.
  EXPECT_THROW(PlaceWithReplicas({60, 20, 10, 10}, 2, 1), std::invalid_argument);
  // Four replicas on 2 ranks (8 copies): e0 -> 2 (30), e0 -> 3 (20), e1 and e0 tie at 20: e0 first (15), then e1
  // (10 + 10); copies 15 15 15 15 10 10 10 10 -> 50 | 50.
  EXPECT_EQ(PlaceWithReplicas({60, 20, 10, 10}, 2, 4, &replicated), (std::vector<uint64_t>{50, 50}));
  EXPECT_EQ(replicated, 2u);
  // A remainder splits one token more to the first copies: 7 over 2 copies = 4 + 3.
  EXPECT_EQ(PlaceWithReplicas({7, 1}, 3, 1), (std::vector<uint64_t>{4, 3, 1}));
}

TEST(MoeRouting, NodeLimitedRoutingReducesDestinationNodes) {
  RoutingInput in = Input(false, 1);  // 64 EP ranks on 8 nodes, 32 experts per node
  const RoutingResult free = RouteTokens(in, 5);
  EXPECT_DOUBLE_EQ(free.internode_scale, 1.0);  // no deduplication without node-limited routing
  EXPECT_GT(free.mean_dest_nodes, 4.0);         // 8 experts over 8 nodes: about 5.3 distinct nodes
  in.max_nodes_per_token = 4;                   // DeepSeek-V3: at most 4 nodes per token
  const RoutingResult limited = RouteTokens(in, 5);
  EXPECT_LE(limited.mean_dest_nodes, 4.0);
  EXPECT_LT(limited.mean_dest_nodes, free.mean_dest_nodes);
  EXPECT_LT(limited.internode_scale, 0.7);  // about 3.5 remote nodes for about 7 remote pairs
  EXPECT_GT(limited.internode_scale, 0.3);
  EXPECT_NEAR(limited.internode_scale, limited.mean_remote_nodes / limited.mean_remote_pairs, 1e-12);
}

TEST(MoeRouting, SingleNodeHasNoRemoteTraffic) {
  RoutingInput in = Input(false, 1);
  in.ep = 8;
  in.max_nodes_per_token = 2;
  const RoutingResult r = RouteTokens(in, 9);
  EXPECT_DOUBLE_EQ(r.mean_dest_nodes, 1.0);
  EXPECT_DOUBLE_EQ(r.mean_remote_pairs, 0.0);
  EXPECT_DOUBLE_EQ(r.internode_scale, 1.0);
}

TEST(MoeRouting, DistinctDestinationRanksMatchUniformDraws) {
  // 8 of 256 experts drawn uniformly, 32 experts per rank: E[distinct ranks] = 8 (1 - C(224,8) / C(256,8)) = 5.2947.
  RoutingInput in = Input(false, 1);
  in.ep = 8;
  in.ep_ranks_per_node = 8;
  in.sample_tokens = 4096;
  const RoutingResult r = RouteTokens(in, 3);
  EXPECT_NEAR(r.mean_dest_ranks, 5.2947, 0.05);
  EXPECT_DOUBLE_EQ(r.mean_dest_nodes, 1.0);
}

// distribution "observed": the histogram is the popularity, in expert order; counts follow it exactly up to rounding
// and the EP ranks' loads are the sums over their contiguous blocks.
TEST(MoeRouting, ObservedLoadsArePlacedAsGiven) {
  RoutingInput in = Input(false, 1);
  in.observed.assign(in.experts, 1.0);
  for (uint32_t e = 0; e < 4; ++e) in.observed[e] = 4.0;  // experts 0-3 (all on EP rank 0) four times as popular
  const RoutingResult r = RouteTokens(in, 7);
  const uint64_t pairs = in.tokens_per_rank * in.ep * in.top_k;
  EXPECT_EQ(Sum(r.tokens_per_expert), pairs);
  const double unit = double(pairs) / (in.experts - 4 + 16);
  EXPECT_NEAR(double(r.tokens_per_expert[0]), 4 * unit, 1.0);
  EXPECT_NEAR(double(r.tokens_per_expert[100]), unit, 1.0);
  // Rank 0 holds experts 0-3: 16 units against 4 for every other rank.
  EXPECT_EQ(r.max_rank_tokens, r.tokens_per_rank[0]);
  EXPECT_NEAR(double(r.tokens_per_rank[0]) / double(r.tokens_per_rank[1]), 4.0, 1e-3);
  // The same histogram on the last rank's experts moves the hot rank there.
  std::rotate(in.observed.begin(), in.observed.begin() + 4, in.observed.end());
  const RoutingResult moved = RouteTokens(in, 7);
  EXPECT_EQ(moved.max_rank_tokens, moved.tokens_per_rank[in.ep - 1]);
  // A histogram of the wrong length is refused.
  in.observed.pop_back();
  EXPECT_THROW(RouteTokens(in, 7), std::invalid_argument);
}

TEST(MoeRouting, ObservedLoadsAreValidatedNamingTheEntry) {
  v1::Model m;
  m.set_layers(4);
  m.set_routed_experts(8);
  m.set_top_k(2);
  auto error = [&m](const v1::MoeRouting& r) {
    try {
      ValidateMoeRouting(r, m, false, "s.textproto");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  v1::MoeRouting r;
  r.set_distribution("observed");
  EXPECT_NE(error(r).find("needs at least one entry"), std::string::npos);
  v1::ExpertLoad* load = r.add_expert_load();
  for (int e = 0; e < 8; ++e) load->add_tokens(e + 1);
  EXPECT_EQ(error(r), "");
  load->add_tokens(1);
  EXPECT_NE(error(r).find("expert_load[0].tokens"), std::string::npos);
  load->mutable_tokens()->RemoveLast();
  load->set_tokens(3, -1);
  EXPECT_NE(error(r).find("finite and >= 0"), std::string::npos);
  load->set_tokens(3, 100);  // 100 of 132: more than 1 / top_k of the pairs
  EXPECT_NE(error(r).find("1 / top_k"), std::string::npos);
  load->set_tokens(3, 4);
  r.set_distribution("balanced");
  EXPECT_NE(error(r).find("applies only to distribution \"observed\""), std::string::npos);
}

// The memo's Zipf exponent is the one ZipfAlpha solves, solved once per (experts, imbalance).
TEST(MoeRouting, MemoSolvesTheZipfExponentOnce) {
  RoutingMemo memo;
  EXPECT_EQ(memo.ZipfAlpha(256, 1.3), ZipfAlpha(256, 1.3));
  EXPECT_EQ(memo.ZipfAlpha(256, 1.3), memo.ZipfAlpha(256, 1.3));
  EXPECT_EQ(memo.ZipfAlpha(128, 2.0), ZipfAlpha(128, 2.0));
  EXPECT_NE(memo.ZipfAlpha(128, 2.0), memo.ZipfAlpha(256, 1.3));
  EXPECT_EQ(memo.ZipfAlpha(64, 1.0), 0);  // no skew
}

}  // namespace
}  // namespace clustersim::wl
