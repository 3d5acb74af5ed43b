#include "workloads/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>
#include <stdexcept>

#include "common/error.h"

namespace clustersim::wl {
namespace {

double Uniform(uint64_t* state) { return double(SplitMix64(state) >> 11) * 0x1.0p-53; }

// Fisher-Yates with splitmix64.
void Shuffle(std::vector<uint32_t>* v, uint64_t* state) {
  for (size_t i = v->size(); i > 1; --i) {
    const size_t j = SplitMix64(state) % i;
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

// max/mean of Zipf weights (i+1)^-alpha over n items.
double ZipfMaxOverMean(uint32_t n, double alpha) {
  double sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += std::pow(double(i + 1), -alpha);
  return n / sum;
}

std::vector<double> PopularityWeights(const RoutingInput& in, uint64_t* state) {
  const uint32_t n = in.experts;
  if (!in.observed.empty()) return in.observed;
  std::vector<double> w(n, 1.0);
  if (!in.skewed || in.imbalance <= 1 || n == 1) return w;
  const double alpha = in.zipf_alpha > 0 ? in.zipf_alpha : ZipfAlpha(n, in.imbalance);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  Shuffle(&order, state);
  for (uint32_t i = 0; i < n; ++i) w[order[i]] = std::pow(double(i + 1), -alpha);
  return w;
}

// Largest-remainder apportionment of `total` over weights, each count capped at `cap`; ties broken by a seeded
// permutation. Conserves `total` exactly (total <= cap x n is required).
std::vector<uint64_t> Apportion(uint64_t total, const std::vector<double>& w, uint64_t cap, uint64_t* state) {
  const size_t n = w.size();
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<uint64_t> c(n);
  std::vector<double> frac(n);
  uint64_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    const double exact = double(total) * w[i] / sum;
    c[i] = std::min<uint64_t>(cap, static_cast<uint64_t>(std::floor(exact)));
    frac[i] = exact - double(c[i]);
    given += c[i];
  }
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  Shuffle(&order, state);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return frac[a] > frac[b]; });
  while (given < total) {
    bool progressed = false;
    for (uint32_t i : order) {
      if (given == total) break;
      if (c[i] < cap) {
        ++c[i];
        ++given;
        progressed = true;
      }
    }
    if (!progressed) throw std::invalid_argument("RouteTokens: more pairs than expert capacity");
  }
  return c;
}

// Draws `k` distinct indices among those with weight > 0, proportionally to weight. `w` is consumed.
void DrawWithoutReplacement(std::vector<double>* w, uint32_t k, uint64_t* state, std::vector<uint32_t>* picked) {
  picked->clear();
  double total = std::accumulate(w->begin(), w->end(), 0.0);
  for (uint32_t p = 0; p < k && total > 0; ++p) {
    double u = Uniform(state) * total;
    size_t chosen = w->size();
    for (size_t i = 0; i < w->size(); ++i) {
      if ((*w)[i] <= 0) continue;
      chosen = i;
      if (u < (*w)[i]) break;
      u -= (*w)[i];
    }
    if (chosen == w->size()) break;
    picked->push_back(static_cast<uint32_t>(chosen));
    total -= (*w)[chosen];
    (*w)[chosen] = 0;
  }
}

}  // namespace

double ZipfAlpha(uint32_t experts, double imbalance) {
  if (!(imbalance > 1) || experts <= 1) return 0;
  double lo = 0, hi = 1;
  while (ZipfMaxOverMean(experts, hi) < imbalance && hi < 1e3) hi *= 2;
  for (int it = 0; it < 100; ++it) {
    const double mid = 0.5 * (lo + hi);
    (ZipfMaxOverMean(experts, mid) < imbalance ? lo : hi) = mid;
  }
  return hi;
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t MixSeed(uint64_t seed, uint64_t salt) {
  uint64_t s = seed ^ (salt * 0xD1B54A32D192ED03ull);
  return SplitMix64(&s);
}

std::vector<uint64_t> PlaceWithReplicas(const std::vector<uint64_t>& tokens_per_expert, uint32_t ep, uint32_t redundant,
                                        uint32_t* replicated) {
  const auto n = static_cast<uint32_t>(tokens_per_expert.size());
  if (ep == 0 || (n + redundant) % ep != 0) throw std::invalid_argument("PlaceWithReplicas: ep must divide copies");
  std::vector<uint32_t> copies(n, 1);
  using Entry = std::pair<double, int64_t>;  // (tokens per copy, -expert): the max-heap pops the lowest id on ties
  std::priority_queue<Entry> hot;
  for (uint32_t e = 0; e < n; ++e) hot.emplace(double(tokens_per_expert[e]), -int64_t{e});
  for (uint32_t k = 0; k < redundant; ++k) {
    const auto e = static_cast<uint32_t>(-hot.top().second);
    hot.pop();
    ++copies[e];
    hot.emplace(double(tokens_per_expert[e]) / copies[e], -int64_t{e});
  }
  std::vector<std::pair<uint64_t, uint32_t>> items;  // (tokens of one copy, expert)
  items.reserve(n + redundant);
  for (uint32_t e = 0; e < n; ++e) {
    const uint64_t t = tokens_per_expert[e], c = copies[e];
    for (uint64_t i = 0; i < c; ++i) items.emplace_back(t / c + (i < t % c ? 1 : 0), e);
  }
  std::stable_sort(items.begin(), items.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  const auto slots = static_cast<uint32_t>(items.size() / ep);
  std::vector<uint32_t> used(ep, 0);
  std::vector<uint64_t> load(ep, 0);
  for (const auto& item : items) {
    uint32_t best = ep;
    for (uint32_t k = 0; k < ep; ++k)
      if (used[k] < slots && (best == ep || load[k] < load[best])) best = k;
    ++used[best];
    load[best] += item.first;
  }
  if (replicated != nullptr)
    *replicated = static_cast<uint32_t>(std::count_if(copies.begin(), copies.end(), [](uint32_t c) { return c > 1; }));
  return load;
}

MoeDispatcher ParseMoeDispatcher(const std::string& name, const std::string& file) {
  if (name.empty() || name == "alltoall") return MoeDispatcher::kAllToAll;
  if (name == "allgather") return MoeDispatcher::kAllGather;
  if (name == "flex") return MoeDispatcher::kFlex;
  throw InputError::Field(file, 0, "workload.moe_routing.dispatcher", "\"" + name + "\"",
                          "must be \"alltoall\", \"allgather\" or \"flex\" (DeepEP / HybridEP)");
}

bool Fp8Dispatch(const v1::MoeRouting& r, bool fp8) {
  if (!r.dispatch_dtype().empty()) return r.dispatch_dtype() == "fp8";
  return fp8 && ParseMoeDispatcher(r.dispatcher()) == MoeDispatcher::kFlex;
}

namespace {

void ValidateDispatchDtype(const v1::MoeRouting& r, bool fp8, const std::string& file) {
  const std::string& t = r.dispatch_dtype();
  if (t.empty() || t == "bf16") return;
  const std::string value = "\"" + t + "\"";
  if (t != "fp8") {
    throw InputError::Field(file, 0, "workload.moe_routing.dispatch_dtype", value, "must be \"bf16\" or \"fp8\"");
  }
  if (!fp8 || ParseMoeDispatcher(r.dispatcher(), file) != MoeDispatcher::kFlex) {
    throw InputError::Field(file, 0, "workload.moe_routing.dispatch_dtype", value,
                            "needs workload.precision \"fp8\" and the \"flex\" dispatcher (DeepEP's FP8 dispatch)");
  }
}

// distribution "observed" and its expert_load entries.
void ValidateExpertLoad(const v1::MoeRouting& r, const v1::Model& m, const std::string& file) {
  const bool observed = r.distribution() == "observed";
  if (observed && r.expert_load_size() == 0)
    throw InputError::Field(file, 0, "workload.moe_routing.expert_load", "(none)",
                            "distribution \"observed\" needs at least one entry (tokens per expert)");
  if (!observed && r.expert_load_size() > 0)
    throw InputError::Field(file, 0, "workload.moe_routing.expert_load",
                            "(" + std::to_string(r.expert_load_size()) + " entries)",
                            "applies only to distribution \"observed\"");
  if (r.expert_load_size() > static_cast<int>(std::max(1u, m.layers())))
    throw InputError::Field(file, 0, "workload.moe_routing.expert_load",
                            std::to_string(r.expert_load_size()) + " entries",
                            "at most one entry per layer (" + std::to_string(m.layers()) + ")");
  for (int i = 0; i < r.expert_load_size(); ++i) {
    const std::string f = "workload.moe_routing.expert_load[" + std::to_string(i) + "].tokens";
    const auto& t = r.expert_load(i).tokens();
    if (t.size() != static_cast<int>(m.routed_experts()))
      throw InputError::Field(file, 0, f, std::to_string(t.size()) + " values",
                              "needs one value per routed expert (" + std::to_string(m.routed_experts()) + ")");
    double sum = 0, max = 0;
    for (double v : t) {
      if (!std::isfinite(v) || v < 0)
        throw InputError::Field(file, 0, f, std::to_string(v), "every value must be finite and >= 0");
      sum += v;
      max = std::max(max, v);
    }
    if (!(sum > 0) || !std::isfinite(sum))
      throw InputError::Field(file, 0, f, "sum " + std::to_string(sum), "must have a positive, finite sum");
    if (max / sum > 1.0 / std::max(1u, m.top_k()) * (1 + 1e-9))
      throw InputError::Field(file, 0, f, "max share " + std::to_string(max / sum),
                              "no expert may take more than 1 / top_k = " + std::to_string(1.0 / m.top_k()) +
                                  " of the pairs (a token picks an expert at most once)");
  }
}

}  // namespace

void ValidateMoeRouting(const v1::MoeRouting& r, const v1::Model& m, bool fp8, const std::string& file) {
  (void)ParseMoeDispatcher(r.dispatcher(), file);
  ValidateDispatchDtype(r, fp8, file);
  if (r.capacity_factor() != 0 && !(r.capacity_factor() >= 0.1 && r.capacity_factor() <= 64)) {
    throw InputError::Field(file, 0, "workload.moe_routing.capacity_factor", std::to_string(r.capacity_factor()),
                            "must be 0 (dropless) or in [0.1, 64]");
  }
  const std::string& d = r.distribution();
  if (!d.empty() && d != "balanced" && d != "skewed" && d != "observed") {
    throw InputError::Field(file, 0, "workload.moe_routing.distribution", "\"" + d + "\"",
                            "must be \"balanced\", \"skewed\" or \"observed\"");
  }
  ValidateExpertLoad(r, m, file);
  const double limit = m.top_k() > 0 ? double(m.routed_experts()) / m.top_k() : 1;
  if (d == "skewed") {
    if (!(r.imbalance() >= 1 && r.imbalance() <= limit)) {
      throw InputError::Field(file, 0, "workload.moe_routing.imbalance", std::to_string(r.imbalance()),
                              "distribution \"skewed\" needs 1 <= imbalance <= routed_experts / top_k = " +
                                  std::to_string(limit) + " (an expert receives each token at most once)");
    }
  } else if (r.imbalance() != 0 && r.imbalance() != 1) {
    throw InputError::Field(file, 0, "workload.moe_routing.imbalance", std::to_string(r.imbalance()),
                            "applies only to distribution \"skewed\"");
  }
}

void SetDistribution(const v1::MoeRouting& r, uint32_t moe_layer, RoutingInput& in) {
  in.skewed = r.distribution() == "skewed";
  in.imbalance = r.imbalance() > 0 ? r.imbalance() : 1;
  in.observed.clear();
  if (r.expert_load_size() > 0) {  // distribution "observed": this MoE layer's histogram, cyclically
    const auto& t = r.expert_load(static_cast<int>(moe_layer % static_cast<uint32_t>(r.expert_load_size()))).tokens();
    in.observed.assign(t.begin(), t.end());
  }
}

double RankImbalance(const RoutingResult& r) {
  return r.mean_rank_tokens > 0 ? double(r.max_rank_tokens) / r.mean_rank_tokens : 1;
}

RoutingResult RouteTokens(const RoutingInput& in, uint64_t seed) {
  if (in.experts == 0 || in.ep == 0 || (in.experts + in.redundant_experts) % in.ep != 0 || in.top_k == 0 ||
      in.top_k > in.experts) {
    throw std::invalid_argument("RouteTokens: inconsistent experts / ep / top_k");
  }
  if (!in.observed.empty() && in.observed.size() != in.experts)
    throw std::invalid_argument("RouteTokens: observed loads do not match the experts");
  uint64_t state = seed;
  RoutingResult r;
  const std::vector<double> w = PopularityWeights(in, &state);
  const uint64_t tokens = in.tokens_per_rank * in.ep;
  r.tokens_per_expert = Apportion(tokens * in.top_k, w, tokens, &state);
  // The original placement: contiguous blocks (the replicas' placement only moves the ranks' loads).
  auto rank_of_expert = [&](uint32_t e) { return static_cast<uint32_t>(uint64_t{e} * in.ep / in.experts); };
  if (in.redundant_experts > 0) {
    r.tokens_per_rank = PlaceWithReplicas(r.tokens_per_expert, in.ep, in.redundant_experts, &r.replicated_experts);
  } else {
    r.tokens_per_rank.assign(in.ep, 0);
    for (uint32_t e = 0; e < in.experts; ++e) r.tokens_per_rank[rank_of_expert(e)] += r.tokens_per_expert[e];
  }
  r.max_rank_tokens = *std::max_element(r.tokens_per_rank.begin(), r.tokens_per_rank.end());
  r.mean_rank_tokens = double(tokens * in.top_k) / in.ep;

  if (!in.node_statistics) return r;
  // Node statistics by sampling tokens from every rank in turn.
  const uint32_t rpn = std::clamp<uint32_t>(in.ep_ranks_per_node, 1, in.ep);
  const uint32_t nodes = (in.ep + rpn - 1) / rpn;
  auto node_of_expert = [&](uint32_t e) { return rank_of_expert(e) / rpn; };
  std::vector<double> node_w(nodes, 0.0);
  for (uint32_t e = 0; e < in.experts; ++e) node_w[node_of_expert(e)] += w[e];
  const bool limited = in.max_nodes_per_token > 0 && in.max_nodes_per_token < nodes;
  std::vector<double> scratch_nodes, scratch_experts;
  std::vector<uint32_t> picked_nodes, picked, candidates;
  std::vector<uint8_t> hit(nodes), rank_hit(in.ep);
  double sum_dest = 0, sum_remote = 0, sum_pairs = 0, sum_ranks = 0;
  const uint32_t samples = std::max<uint32_t>(in.sample_tokens, 1);
  for (uint32_t t = 0; t < samples; ++t) {
    const uint32_t own = (t % in.ep) / rpn;
    candidates.clear();
    if (limited) {
      scratch_nodes = node_w;
      DrawWithoutReplacement(&scratch_nodes, in.max_nodes_per_token, &state, &picked_nodes);
      std::fill(hit.begin(), hit.end(), 0);
      for (uint32_t n : picked_nodes) hit[n] = 1;
      for (uint32_t e = 0; e < in.experts; ++e) {
        if (hit[node_of_expert(e)]) candidates.push_back(e);
      }
      // Too few experts on the chosen nodes for top_k: widen to every node.
      if (candidates.size() < in.top_k) candidates.clear();
    }
    if (candidates.empty()) {
      candidates.resize(in.experts);
      std::iota(candidates.begin(), candidates.end(), 0u);
    }
    scratch_experts.resize(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) scratch_experts[i] = w[candidates[i]];
    DrawWithoutReplacement(&scratch_experts, in.top_k, &state, &picked);
    std::fill(hit.begin(), hit.end(), 0);
    std::fill(rank_hit.begin(), rank_hit.end(), 0);
    uint32_t dest = 0, remote = 0, pairs = 0;
    for (uint32_t i : picked) {
      const uint32_t n = node_of_expert(candidates[i]);
      const uint32_t rank = rank_of_expert(candidates[i]);
      if (!rank_hit[rank]) {
        rank_hit[rank] = 1;
        ++sum_ranks;
      }
      if (n != own) ++pairs;
      if (!hit[n]) {
        hit[n] = 1;
        ++dest;
        if (n != own) ++remote;
      }
    }
    sum_dest += dest;
    sum_remote += remote;
    sum_pairs += pairs;
  }
  r.mean_dest_nodes = sum_dest / samples;
  r.mean_remote_nodes = sum_remote / samples;
  r.mean_remote_pairs = sum_pairs / samples;
  r.mean_dest_ranks = sum_ranks / samples;
  const bool dedup = in.dedup_per_node || in.max_nodes_per_token > 0;
  r.internode_scale = (dedup && sum_pairs > 0) ? sum_remote / sum_pairs : 1.0;
  return r;
}

const RoutingResult& RoutingMemo::Route(const RoutingInput& in, uint64_t seed) {
  const std::pair<RoutingInput, uint64_t> key{in, seed};
  const auto it = memo_.find(key);
  if (it != memo_.end()) return it->second;
  if (memo_.size() >= kMaxEntries) memo_.clear();
  return memo_.emplace(key, RouteTokens(in, seed)).first->second;
}

double RoutingMemo::ZipfAlpha(uint32_t experts, double imbalance) {
  const std::pair<uint32_t, double> key{experts, imbalance};
  const auto it = alphas_.find(key);
  if (it != alphas_.end()) return it->second;
  return alphas_.emplace(key, wl::ZipfAlpha(experts, imbalance)).first->second;
}

}  // namespace clustersim::wl
