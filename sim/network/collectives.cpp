// Collective algorithms; see collectives.h for the contract and docs/collectives.md for the model.
#include "sim/network/collectives.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "common/error.h"

namespace clustersim::sim {
namespace {

// NVLink SHARP all-reduce moves each byte once up and once down through the switch, but its achievable rate is lower
// than a ring's: calibrated once on nccl_allreduce_dgx_h100_intranode_nvls (algbw 275 of 450 GB/s per direction,
// 0.61) against the ring efficiency that nccl_ring_dgx_h100_intranode fixes (370 of 450, 0.82). See
// docs/collectives.md.
constexpr double kNvlsEfficiency = 0.61;

// DeepEP V1 low-latency kernels: a fixed per-kernel cost (launch, per-expert signalling, the receiving warps'
// unpacking) in place of the step latency, the one parameter of the `deepep_ll` family. Fitted (least squares on the
// time) on deepep_v1_lowlatency_ep16_h800 dispatch and combine: 118 - 80.6 and 195 - 155.2 us over the transfer
// alone; EP 8, 32 and 64 are held out (docs/collectives.md, tests/validation/make_cases.py).
constexpr double kDeepEpLlKernelNs = 38600;

// DeepEP V1 normal kernels forward over NVLink with a few SMs' worth of copy warps, below the rate NCCL's NVLink ring
// reaches (scale_up_protocol_efficiency). Their NVLink efficiency, the one parameter of the `deepep_normal` NVLink
// half, is fitted on deepep_v1_normal_ep8_h800 dispatch (153 GB/s of DeepEP's NVLink accounting against 186.6 at the
// NCCL ring rate 0.82: 0.82 x 153 / 186.6); the combine and EP 16 and 32 are held out (docs/collectives.md).
constexpr double kDeepEpNvlEfficiency = 0.672;
// Likewise for the RDMA half: DeepEP's IBGDA/RDMA path reaches less of the NIC than NCCL's (protocol_efficiency).
// Fitted on deepep_v1_normal_ep32_h800 dispatch, the one RDMA-bound dispatch row (58 GB/s of DeepEP's RDMA accounting
// against 63.16 at 0.95: 0.95 x 58 / 63.16); its combine is held out.
constexpr double kDeepEpRdmaEfficiency = 0.872;

struct Ctx {
  const std::vector<uint32_t>& group;
  double bytes;
  const GroupShape& shape;
  const v1::Collectives& params;
  uint32_t n() const { return static_cast<uint32_t>(group.size()); }
  uint32_t Node(uint32_t gpu) const { return gpu / shape.gpus_per_node; }
  uint32_t Domain(uint32_t gpu) const { return gpu / shape.scale_up_domain; }
  bool SingleDomain() const {
    for (uint32_t g : group)
      if (Domain(g) != Domain(group[0])) return false;
    return true;
  }
  // Members grouped by node, in group order within a node.
  std::map<uint32_t, std::vector<uint32_t>> ByNode() const {
    std::map<uint32_t, std::vector<uint32_t>> m;
    for (uint32_t g : group) m[Node(g)].push_back(g);
    return m;
  }
  // Members per node when every node holds the same number of members (0 otherwise).
  uint32_t PerNode() const {
    std::map<uint32_t, uint32_t> count;
    for (uint32_t g : group) count[Node(g)]++;
    const uint32_t c = count.begin()->second;
    for (const auto& [node, k] : count)
      if (k != c) return 0;
    return c;
  }
};

// Ring orders for `channels` rings: node blocks in group order, each block rotated by the channel index so every
// channel crosses between nodes through a different GPU (and so a different NIC / rail), as NCCL does.
std::vector<std::vector<uint32_t>> RingOrders(const Ctx& c, uint32_t channels) {
  std::vector<std::vector<uint32_t>> blocks;
  for (uint32_t g : c.group) {
    if (blocks.empty() || c.Node(blocks.back().front()) != c.Node(g)) blocks.emplace_back();
    blocks.back().push_back(g);
  }
  std::vector<std::vector<uint32_t>> orders(channels);
  for (uint32_t ch = 0; ch < channels; ++ch) {
    orders[ch].reserve(c.n());
    for (const auto& b : blocks)
      for (size_t i = 0; i < b.size(); ++i) orders[ch].push_back(b[(i + ch) % b.size()]);
  }
  return orders;
}

uint32_t Channels(const Ctx& c) {
  if (c.params.channels() > 0) return c.params.channels();
  const uint32_t per_node = c.PerNode();
  const bool multi_node = c.Node(c.group.front()) != c.Node(c.group.back()) || per_node != c.n();
  return (multi_node && per_node > 1) ? per_node : 1;
}

// One ring step: every member sends `chunk` to its successor, split over the channels.
PhaseStep RingStep(const Ctx& c, double chunk, uint32_t repeat) {
  const uint32_t ch = Channels(c);
  PhaseStep s;
  s.repeat = repeat;
  for (const auto& order : RingOrders(c, ch))
    for (size_t i = 0; i < order.size(); ++i) s.flows.push_back({order[i], order[(i + 1) % order.size()], chunk / ch});
  return s;
}

// Nodes the group spans.
uint32_t NodeCount(const Ctx& c) { return static_cast<uint32_t>(c.ByNode().size()); }

// Splits a ring pass of n - 1 hops over N nodes into intra-node alpha steps and network hops, per repetition.
void SplitRingLatency(PhaseStep& s, uint32_t n, uint32_t N) {
  if (n < 2) return;
  s.net_steps = N > 1 ? double(N - 1) / (n - 1) : 0;
  s.alpha_steps = 1 - s.net_steps;
}

CollectivePlan Ring(CollectiveKind kind, const Ctx& c) {
  CollectivePlan p;
  p.algorithm = "ring";
  const uint32_t n = c.n();
  const double chunk = c.bytes / n;
  uint32_t steps = n - 1;
  if (kind == CollectiveKind::kAllReduce) steps = 2 * (n - 1);
  p.steps.push_back(RingStep(c, chunk, steps));
  SplitRingLatency(p.steps.back(), n, NodeCount(c));
  return p;
}

// Two rings over the same orders, one forward and one backward, each carrying half of every chunk (the torus
// all-reduce of TPU-style fabrics: a ring's links in both directions). Same steps and latency as the ring; on a direct
// network (the torus) every step is a hop between neighbours over their link, priced as a scale-up step (alpha),
// never as a network hop through NICs, wherever the node boundaries fall.
CollectivePlan BidirectionalRing(CollectiveKind kind, const Ctx& c) {
  CollectivePlan p = Ring(kind, c);
  p.algorithm = "bidirectional_ring";
  if (c.shape.direct_links) {  // every hop a link between neighbours: no network (NIC) hop latency
    p.steps.front().alpha_steps = 1;
    p.steps.front().net_steps = 0;
  }
  std::vector<Flow>& flows = p.steps.front().flows;
  const size_t forward = flows.size();
  flows.reserve(2 * forward);
  for (size_t i = 0; i < forward; ++i) {
    flows[i].bytes /= 2;
    flows.push_back({flows[i].dst, flows[i].src, flows[i].bytes});
  }
  return p;
}

// A group that is a block of a torus: the product of one set of coordinates per torus dimension. For each dimension
// the block spans (two coordinates or more), its lines: the members that differ only along it, by ascending
// coordinate.
struct TorusBlock {
  std::vector<std::vector<std::vector<uint32_t>>> lines;  // [spanned dimension][line][position along it]
  uint32_t dims() const { return static_cast<uint32_t>(lines.size()); }
  uint32_t extent(uint32_t d) const { return static_cast<uint32_t>(lines[d].front().size()); }
};

// The group's block (Ctx::shape.torus_dims); no dimensions when the group is not a block or there is no torus.
TorusBlock BlockOf(const Ctx& c) {
  TorusBlock b;
  const std::vector<uint32_t>& n = c.shape.torus_dims;
  if (n.empty()) return b;
  std::vector<uint32_t> stride(n.size(), 1);
  for (size_t d = 1; d < n.size(); ++d) stride[d] = stride[d - 1] * n[d - 1];
  auto coord = [&](uint32_t g, size_t d) { return (g / stride[d]) % n[d]; };
  if (TorusBlockSpan(c.group, n).dims == 0) return b;
  for (size_t d = 0; d < n.size(); ++d) {
    const bool spanned = std::any_of(c.group.begin(), c.group.end(),
                                     [&](uint32_t g) { return coord(g, d) != coord(c.group.front(), d); });
    if (!spanned) continue;
    std::map<uint32_t, std::vector<std::pair<uint32_t, uint32_t>>> by_line;  // rest of the id -> (coordinate, id)
    for (uint32_t g : c.group) by_line[g - coord(g, d) * stride[d]].push_back({coord(g, d), g});
    std::vector<std::vector<uint32_t>>& lines = b.lines.emplace_back();
    for (auto& [rest, members] : by_line) {
      std::sort(members.begin(), members.end());
      std::vector<uint32_t>& line = lines.emplace_back();
      for (const auto& m : members) line.push_back(m.second);
    }
  }
  return b;
}

// Reduce-scatter stages of a multi-dimensional torus reduction of `bytes` per rank: the data in one part per spanned
// dimension; part p reduce-scatters along dimensions p, p + 1, ... (mod D) in turn, so at every stage each dimension
// carries one part. Along a dimension of extent m, a part of X bytes per rank runs a ring both ways round: each rank
// sends X (m - 1) / m, half to each neighbour of its line, in m - 1 ring steps (one flow per neighbour holds all of
// them; the stage's latency is its slowest part's steps, each a hop between neighbours, as in BidirectionalRing).
std::vector<PhaseStep> TorusReduceScatterStages(const TorusBlock& b, double bytes) {
  const uint32_t D = b.dims();
  std::vector<double> held(D, bytes / D);  // per part: bytes per rank still to reduce
  std::vector<PhaseStep> stages(D);
  for (uint32_t k = 0; k < D; ++k) {
    PhaseStep& s = stages[k];
    s.alpha_steps = 0;
    for (uint32_t p = 0; p < D; ++p) {
      const uint32_t d = (p + k) % D, m = b.extent(d);
      const double each = held[p] * (m - 1) / m / 2;
      for (const std::vector<uint32_t>& line : b.lines[d])
        for (uint32_t i = 0; i < m; ++i) {
          s.flows.push_back({line[i], line[(i + 1) % m], each});
          s.flows.push_back({line[(i + 1) % m], line[i], each});
        }
      held[p] /= m;
      s.alpha_steps = std::max(s.alpha_steps, double(m - 1));
    }
  }
  return stages;
}

// The torus all-reduce of TPU-style fabrics on a group that is a block of two or more torus dimensions:
// reduce-scatter dimension by dimension (TorusReduceScatterStages), then all-gather back in the reverse order, every
// dimension's links busy at every stage. Reduce-scatter runs the first half, all-gather (bytes = output per rank) the
// second; a group that is not such a block runs "bidirectional_ring".
CollectivePlan MultidimRing(CollectiveKind kind, const Ctx& c) {
  const TorusBlock b = BlockOf(c);
  if (b.dims() < 2) {
    CollectivePlan p = BidirectionalRing(kind, c);
    p.algorithm = "multidim_ring";
    return p;
  }
  CollectivePlan p;
  p.algorithm = "multidim_ring";
  std::vector<PhaseStep> rs = TorusReduceScatterStages(b, c.bytes);
  if (kind != CollectiveKind::kAllGather) p.steps = rs;
  if (kind != CollectiveKind::kReduceScatter) p.steps.insert(p.steps.end(), rs.rbegin(), rs.rend());
  return p;
}

// Double binary tree (NCCL): two complementary trees each carry half the data; reduce up then broadcast down,
// pipelined, so each phase moves the tree's share once per edge. Tree t is the heap order on `members` rotated by
// t * n / 2, so interior nodes of one tree are leaves of the other. Flows go from members[child] to members[parent]
// (up) or back (down), `bytes` each; appended to `up` and `down`.
void DoubleBinaryTree(uint32_t n, const std::function<uint32_t(uint32_t)>& member, double bytes, PhaseStep& up,
                      PhaseStep& down) {
  for (uint32_t t = 0; t < 2; ++t) {
    for (uint32_t i = 1; i < n; ++i) {
      const uint32_t child = member((i + t * (n / 2)) % n);
      const uint32_t parent = member(((i - 1) / 2 + t * (n / 2)) % n);
      up.flows.push_back({child, parent, bytes});
      down.flows.push_back({parent, child, bytes});
    }
  }
}

// NCCL's tree across nodes: one channel per local GPU (so per NIC). In channel c the node's GPUs form a chain over
// the scale-up fabric that ends at local GPU c (reduce) and starts there (broadcast); local GPU c joins the
// channel's double binary tree over the nodes through its own NIC. Each channel carries S / L. The chain and the
// inter-node tree are pipelined (their times combine by max); reduce and broadcast follow each other.
CollectivePlan NodeTree(const Ctx& c, const std::map<uint32_t, std::vector<uint32_t>>& by_node, uint32_t L) {
  CollectivePlan p;
  p.algorithm = "tree";
  std::vector<const std::vector<uint32_t>*> nodes;
  for (const auto& [node, members] : by_node) nodes.push_back(&members);
  const auto N = static_cast<uint32_t>(nodes.size());
  const double per_channel = c.bytes / L;
  PhaseStep chain_up, chain_down, tree_up, tree_down;
  chain_up.pipeline_group = tree_up.pipeline_group = 1;
  chain_down.pipeline_group = tree_down.pipeline_group = 2;
  chain_up.alpha_steps = chain_down.alpha_steps = 0;
  tree_up.alpha_steps = tree_down.alpha_steps = L - 1;
  tree_up.net_steps = tree_down.net_steps = std::ceil(std::log2(static_cast<double>(N)));
  chain_up.blocks = chain_down.blocks = N;
  tree_up.blocks = tree_down.blocks = L;
  for (const auto* m : nodes)
    for (uint32_t ch = 0; ch < L; ++ch)
      for (uint32_t i = 1; i < L; ++i) {  // chain (ch+1) -> (ch+2) -> ... -> ch
        const uint32_t from = (*m)[(ch + i) % L], to = (*m)[(ch + i + 1) % L];
        chain_up.flows.push_back({from, to, per_channel});
        chain_down.flows.push_back({to, from, per_channel});
      }
  for (uint32_t ch = 0; ch < L; ++ch)
    DoubleBinaryTree(N, [&](uint32_t k) { return (*nodes[k])[ch]; }, per_channel / 2, tree_up, tree_down);
  p.steps.push_back(std::move(chain_up));
  p.steps.push_back(std::move(tree_up));
  p.steps.push_back(std::move(tree_down));
  p.steps.push_back(std::move(chain_down));
  return p;
}

CollectivePlan Tree(const Ctx& c) {
  const uint32_t L = c.PerNode();
  if (L > 1) {
    const auto by_node = c.ByNode();
    if (by_node.size() > 1) return NodeTree(c, by_node, L);
  }
  CollectivePlan p;
  p.algorithm = "tree";
  const uint32_t n = c.n();
  PhaseStep up, down;
  const double depth = std::ceil(std::log2(static_cast<double>(n)));
  // One rank per node (or all in one node): every tree edge crosses nodes when the group spans several.
  if (NodeCount(c) > 1) {
    up.net_steps = down.net_steps = depth;
    up.alpha_steps = down.alpha_steps = 0;
  } else {
    up.alpha_steps = down.alpha_steps = depth;
  }
  DoubleBinaryTree(n, [&](uint32_t k) { return c.group[k]; }, c.bytes / 2, up, down);
  p.steps.push_back(std::move(up));
  p.steps.push_back(std::move(down));
  return p;
}

// Recursive halving (reduce-scatter) then doubling (all-gather); needs a power-of-two group.
CollectivePlan HalvingDoubling(CollectiveKind kind, const Ctx& c) {
  const uint32_t n = c.n();
  if ((n & (n - 1)) != 0)
    throw InputError("collectives: halving_doubling needs a power-of-two group, got " + std::to_string(n) + " ranks");
  CollectivePlan p;
  p.algorithm = "halving_doubling";
  std::vector<PhaseStep> rs;
  double size = c.bytes;
  for (uint32_t dist = n / 2; dist >= 1; dist /= 2) {
    size /= 2;
    PhaseStep s;
    for (uint32_t i = 0; i < n; ++i) s.flows.push_back({c.group[i], c.group[i ^ dist], size});
    if (c.Node(c.group[0]) != c.Node(c.group[dist])) {  // this exchange crosses nodes
      s.alpha_steps = 0;
      s.net_steps = 1;
    }
    rs.push_back(std::move(s));
  }
  if (kind == CollectiveKind::kReduceScatter || kind == CollectiveKind::kAllReduce)
    for (auto& s : rs) p.steps.push_back(s);
  if (kind == CollectiveKind::kAllGather || kind == CollectiveKind::kAllReduce)
    for (auto it = rs.rbegin(); it != rs.rend(); ++it) p.steps.push_back(*it);
  return p;
}

// Hierarchical: intra-node reduce-scatter over the scale-up domain, inter-node collective per local index (rail)
// on 1/L of the data, intra-node all-gather.
CollectivePlan Hierarchical(CollectiveKind kind, const Ctx& c) {
  const uint32_t L = c.PerNode();
  CollectivePlan p;
  p.algorithm = "hierarchical";
  if (L <= 1 || L == c.n()) {
    CollectivePlan r = Ring(kind, c);
    r.algorithm = "hierarchical";
    return r;
  }
  const std::map<uint32_t, std::vector<uint32_t>> by_node = c.ByNode();
  const uint32_t nodes = static_cast<uint32_t>(by_node.size());
  auto intra = [&](double chunk, uint32_t repeat) {
    PhaseStep s;
    s.repeat = repeat;
    for (const auto& [node, members] : by_node)
      for (uint32_t i = 0; i < L; ++i) s.flows.push_back({members[i], members[(i + 1) % L], chunk});
    s.blocks = nodes;  // one run of L flows per node
    return s;
  };
  auto inter = [&](double chunk, uint32_t repeat) {
    PhaseStep s;
    s.repeat = repeat;
    s.alpha_steps = 0;  // every hop of the per-rail ring crosses nodes
    s.net_steps = 1;
    std::vector<const std::vector<uint32_t>*> order;
    for (const auto& [node, members] : by_node) order.push_back(&members);
    for (uint32_t i = 0; i < L; ++i)
      for (uint32_t k = 0; k < nodes; ++k) s.flows.push_back({(*order[k])[i], (*order[(k + 1) % nodes])[i], chunk});
    s.blocks = L;  // one run (a ring across the nodes) per rail
    return s;
  };
  const double S = c.bytes;
  if (kind == CollectiveKind::kAllReduce) {
    p.steps.push_back(intra(S / L, L - 1));                             // reduce-scatter in the node
    p.steps.push_back(inter(S / L / nodes, 2 * (nodes - 1)));           // ring all-reduce of S/L across nodes
    p.steps.push_back(intra(S / L, L - 1));                             // all-gather in the node
  } else if (kind == CollectiveKind::kReduceScatter) {
    p.steps.push_back(inter(S / L / nodes, nodes - 1));
    p.steps.push_back(intra(S / (L * nodes), L - 1));
  } else {
    p.steps.push_back(intra(S / (L * nodes), L - 1));
    p.steps.push_back(inter(S / L / nodes, nodes - 1));
  }
  return p;
}

// NVLink SHARP: every GPU pushes its buffer to the switch once and pulls the reduced result once.
CollectivePlan Nvls(CollectiveKind kind, const Ctx& c) {
  if (!c.shape.in_network_reduction || !c.SingleDomain())
    throw InputError("collectives: nvls needs a group inside one scale-up domain with in-network reduction");
  CollectivePlan p;
  p.algorithm = "nvls";
  const double scale_up_eff = c.params.scale_up_protocol_efficiency();
  const double inflate = scale_up_eff / kNvlsEfficiency;  // links run at the ring efficiency; NVLS is slower
  const uint32_t n = c.n();
  double per_gpu = c.bytes;
  if (kind != CollectiveKind::kAllReduce) per_gpu = c.bytes * (n - 1) / n;
  PhaseStep s;
  for (uint32_t i = 0; i < n; ++i) s.flows.push_back({c.group[i], c.group[(i + 1) % n], per_gpu * inflate});
  p.steps.push_back(std::move(s));
  return p;
}

CollectivePlan DirectAllToAll(const Ctx& c) {
  CollectivePlan p;
  p.algorithm = "direct";
  const uint32_t n = c.n();
  PhaseStep s;
  s.flows.reserve(static_cast<size_t>(n) * (n - 1));
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < n; ++j)
      if (i != j) s.flows.push_back({c.group[i], c.group[j], c.bytes / n});
  p.steps.push_back(std::move(s));
  return p;
}

// PXN (DeepEP / NCCL PXN): data for GPU (node b, local j) first moves over NVLink to the local GPU j of the sender's
// node, then over rail j to node b; the two halves are pipelined. Inter-node flows are aggregated per
// (source GPU, destination node), the granularity the fabric distinguishes.
CollectivePlan PxnAllToAll(const Ctx& c) {
  const uint32_t L = c.PerNode();
  if (L <= 1) {
    CollectivePlan d = DirectAllToAll(c);
    d.algorithm = "pxn";
    return d;
  }
  CollectivePlan p;
  p.algorithm = "pxn";
  const std::map<uint32_t, std::vector<uint32_t>> by_node = c.ByNode();
  const uint32_t nodes = static_cast<uint32_t>(by_node.size());
  const double per_dst = c.bytes / c.n();
  PhaseStep nvlink, rdma;
  nvlink.pipeline_group = rdma.pipeline_group = 1;
  nvlink.flows.reserve(static_cast<size_t>(nodes) * L * (L - 1));
  rdma.flows.reserve(static_cast<size_t>(nodes) * (nodes - 1) * L);
  // Listed by source, then destination (sorted for a group of ascending ids: the phase solver then need not sort).
  for (const auto& [node, members] : by_node) {
    for (uint32_t i = 0; i < L; ++i) {
      for (uint32_t j = 0; j < L; ++j) {
        if (i == j) continue;
        // Local destination j itself plus, for forwarding, everything bound to local index j on other nodes.
        nvlink.flows.push_back({members[i], members[j], per_dst * (1 + (nodes - 1))});
      }
    }
    for (uint32_t j = 0; j < L; ++j)
      for (const auto& [other, omembers] : by_node)
        if (other != node) rdma.flows.push_back({members[j], omembers[j], per_dst * L});
  }
  p.steps.push_back(std::move(nvlink));
  if (!rdma.flows.empty()) p.steps.push_back(std::move(rdma));
  return p;
}

// DeepEP V1 normal-mode kernels on a uniform exchange (the training step's flex dispatcher): PXN's structure (one
// RDMA flow per node pair on each rail, NVLink forwarding inside the node) at DeepEP's fitted efficiencies, as
// PlanDeepEpNormal prices them from routing statistics. Per-node deduplication comes from PlanCollective's
// internode_scale.
CollectivePlan DeepEpUniform(const Ctx& c) {
  CollectivePlan p = PxnAllToAll(c);
  p.algorithm = "deepep";
  const double nvl_inflate = c.params.scale_up_protocol_efficiency() / kDeepEpNvlEfficiency;
  const double rdma_inflate = c.params.protocol_efficiency() / kDeepEpRdmaEfficiency;
  for (PhaseStep& s : p.steps)
    for (Flow& f : s.flows) f.bytes *= c.Node(f.src) == c.Node(f.dst) ? nvl_inflate : rdma_inflate;
  return p;
}

// DeepEP V1 low-latency all-to-all: every (token, expert) message goes straight to the expert's rank, over NVLink
// inside a node and RDMA (IBGDA) across nodes, without forwarding; the kernel's fixed cost is the step's latency.
CollectivePlan DeepEpLowLatency(const Ctx& c) {
  CollectivePlan p = DirectAllToAll(c);
  p.algorithm = "deepep_ll";
  const double step_ns = std::max(1.0, static_cast<double>(c.params.step_latency_ns()));
  p.steps[0].alpha_steps = std::max(1.0, kDeepEpLlKernelNs / step_ns);
  return p;
}

CollectivePlan Broadcast(const Ctx& c) {
  // Pipelined ring broadcast: every link of the chain carries the buffer once.
  CollectivePlan p;
  p.algorithm = "ring";
  PhaseStep s;
  for (uint32_t i = 0; i + 1 < c.n(); ++i) s.flows.push_back({c.group[i], c.group[i + 1], c.bytes});
  s.blocks = static_cast<uint32_t>(s.flows.size());  // every hop its own run: the cost model solves one per class
  p.steps.push_back(std::move(s));
  return p;
}

constexpr const char* kMultidimInfo =
    "torus block: bidirectional rings along each torus dimension in turn, one part of the data starting on each "
    "dimension (bidirectional_ring on a group that spans one dimension)";

using Planner = std::function<CollectivePlan(CollectiveKind, const Ctx&)>;
struct Entry {
  AlgorithmInfo info;
  Planner plan;
};

const std::vector<Entry>& Registry(CollectiveKind kind) {
  static const std::vector<Entry> reduce{
      {{"ring", "NCCL ring with one channel per GPU of the node, each crossing nodes on its own rail"}, Ring},
      {{"tree", "NCCL double binary tree, reduce up then broadcast down, pipelined"},
       [](CollectiveKind, const Ctx& c) { return Tree(c); }},
      {{"halving_doubling", "recursive halving reduce-scatter + doubling all-gather (power-of-two groups)"},
       HalvingDoubling},
      {{"hierarchical", "intra-node reduce-scatter, inter-node ring per rail on 1/L of the data, intra-node gather"},
       Hierarchical},
      {{"nvls", "NVLink SHARP in-switch reduction inside one scale-up domain"}, Nvls},
      {{"bidirectional_ring", "the ring and its reverse, half the data each (direct networks: torus)"},
       BidirectionalRing},
      {{"multidim_ring", kMultidimInfo}, MultidimRing},
  };
  static const std::vector<Entry> gather{
      {{"ring", "ring with one channel per GPU of the node"}, Ring},
      {{"bidirectional_ring", "the ring and its reverse, half the data each (direct networks: torus)"},
       BidirectionalRing},
      {{"multidim_ring", kMultidimInfo}, MultidimRing},
      {{"halving_doubling", "recursive halving/doubling (power-of-two groups)"}, HalvingDoubling},
      {{"hierarchical", "inter-node per rail, then intra-node (order reversed for all-gather)"}, Hierarchical},
      {{"nvls", "NVLink SHARP multicast/reduction inside one scale-up domain"}, Nvls},
  };
  static const std::vector<Entry> a2a{
      {{"direct", "every rank sends its share straight to every other rank"},
       [](CollectiveKind, const Ctx& c) { return DirectAllToAll(c); }},
      {{"pxn", "forward over NVLink to the GPU on the destination's rail, then one rail flow per node pair"},
       [](CollectiveKind, const Ctx& c) { return PxnAllToAll(c); }},
      {{"deepep", "DeepEP V1 normal kernels: PXN's structure at DeepEP's fitted NVLink and RDMA efficiencies"},
       [](CollectiveKind, const Ctx& c) { return DeepEpUniform(c); }},
      {{"deepep_ll", "DeepEP V1 low-latency kernels: direct per (token, expert), NVLink in the node, RDMA across, "
                     "plus a fixed kernel cost"},
       [](CollectiveKind, const Ctx& c) { return DeepEpLowLatency(c); }},
  };
  static const std::vector<Entry> bcast{
      {{"ring", "pipelined chain"}, [](CollectiveKind, const Ctx& c) { return Broadcast(c); }},
  };
  static const std::vector<Entry> sendrecv{
      {{"direct", "one flow"}, [](CollectiveKind, const Ctx& c) {
         CollectivePlan p;
         p.algorithm = "direct";
         PhaseStep s;
         s.alpha_steps = P2pAlphaSteps(c.params);
         s.flows.push_back({c.group.at(0), c.group.at(1), c.bytes});
         p.steps.push_back(std::move(s));
         return p;
       }},
  };
  switch (kind) {
    case CollectiveKind::kAllReduce:
      return reduce;
    case CollectiveKind::kReduceScatter:
    case CollectiveKind::kAllGather:
      return gather;
    case CollectiveKind::kAllToAll:
      return a2a;
    case CollectiveKind::kBroadcast:
      return bcast;
    case CollectiveKind::kSendRecv:
      return sendrecv;
  }
  return reduce;
}

// NCCL-like automatic choice. Across nodes, an alpha-beta estimate (alpha = step latency, beta from the achievable
// NIC and scale-up bandwidths) of each candidate picks the fastest, so a 131,072-rank all-reduce does not run a
// 262,142-step ring:
//   ring          2((n-N) alpha + (N-1) net) + 2 S / (L B_out)   (all-reduce; L ranks per node, one channel each)
//   hierarchical  2((L-1) alpha + (N-1) net) + 2 S / (L B_out) + 2 S / B_up
//   tree          2 (ceil(log2 N) net + (L-1) alpha) + max(2 S / (L B_out), 2 S (L-1) / (L B_up))   (all-reduce only;
//                 one channel per local GPU: chain in the node, double binary tree over the nodes)
// Reduce-scatter and all-gather take half of each bandwidth term and of the ring's steps. A direct network
// (GroupShape::direct_links, the torus) has no NICs or switches for these terms to describe: it runs rings, as
// TPU-style fabrics do, both ways round ("bidirectional_ring"), or dimension by dimension on a group that is a block of
// two or more torus dimensions ("multidim_ring": fewer steps and more links than any ring through the block). A tree's
// edges there are multi-hop paths that share links: 2.8 times the bidirectional ring's time on a 16-GPU block of a
// 4 x 4 x 8 torus. An all-to-all there runs `direct` (every pair over the torus's own routes, as TPU-style
// all-to-alls do): PXN's forwarding assumes an NVLink domain and one NIC rail per local GPU, which a torus lacks.
std::string AutoAlgorithm(CollectiveKind kind, const Ctx& c) {
  if (kind == CollectiveKind::kAllToAll)
    return c.PerNode() > 1 && !c.SingleDomain() && !c.shape.direct_links ? "pxn" : "direct";
  if (kind == CollectiveKind::kBroadcast) return "ring";
  if (kind == CollectiveKind::kSendRecv) return "direct";
  if (c.shape.direct_links)
    return TorusBlockSpan(c.group, c.shape.torus_dims).dims >= 2 ? "multidim_ring" : "bidirectional_ring";
  const std::string ring = "ring";
  if (c.SingleDomain()) {
    if (c.shape.in_network_reduction && kind == CollectiveKind::kAllReduce && c.n() > 2 && c.bytes >= (1 << 20))
      return "nvls";
    return "ring";
  }
  const double b_out = c.shape.scale_out_bytes_per_s, b_up = c.shape.scale_up_bytes_per_s;
  if (!(b_out > 0) || !(b_up > 0)) return ring;
  const double alpha = c.params.step_latency_ns() * 1e-9, net = c.params.net_step_latency_ns() * 1e-9;
  const double n = c.n(), S = c.bytes;
  const double L = std::max(1u, c.PerNode()), N = n / L;
  const double f = kind == CollectiveKind::kAllReduce ? 2 : 1;
  std::vector<std::pair<double, std::string>> options;
  options.emplace_back(f * RingLatencyS(n, L, c.params) + f * S / (L * b_out), ring);
  if (c.PerNode() > 1 && N > 1)
    options.emplace_back(f * ((L - 1) * alpha + (N - 1) * net) + f * S / (L * b_out) + f * S / b_up, "hierarchical");
  if (kind == CollectiveKind::kAllReduce && n > 2)
    options.emplace_back(
        TreeAllReduceLatencyS(n, L, c.params) + std::max(2 * S / (L * b_out), 2 * S * (L - 1) / (L * b_up)), "tree");
  return std::min_element(options.begin(), options.end())->second;
}

std::string ConfiguredName(CollectiveKind kind, const v1::Collectives& p) {
  switch (kind) {
    case CollectiveKind::kAllReduce:
      return p.all_reduce();
    case CollectiveKind::kAllGather:
      return p.all_gather();
    case CollectiveKind::kReduceScatter:
      return p.reduce_scatter();
    case CollectiveKind::kAllToAll:
      return p.all_to_all();
    default:
      return "auto";
  }
}

}  // namespace

const char* ToString(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::kAllReduce:
      return "all_reduce";
    case CollectiveKind::kReduceScatter:
      return "reduce_scatter";
    case CollectiveKind::kAllGather:
      return "all_gather";
    case CollectiveKind::kAllToAll:
      return "all_to_all";
    case CollectiveKind::kBroadcast:
      return "broadcast";
    case CollectiveKind::kSendRecv:
      return "send_recv";
  }
  return "?";
}

std::vector<AlgorithmInfo> ListAlgorithms(CollectiveKind kind) {
  std::vector<AlgorithmInfo> out;
  for (const auto& e : Registry(kind)) out.push_back(e.info);
  return out;
}

void FillCollectiveDefaults(v1::Collectives& c) {
  if (c.all_reduce().empty()) c.set_all_reduce("auto");
  if (c.all_gather().empty()) c.set_all_gather("auto");
  if (c.reduce_scatter().empty()) c.set_reduce_scatter("auto");
  if (c.all_to_all().empty()) c.set_all_to_all("auto");
  // Per-step software latency of NCCL's Simple protocol, a few microseconds (nccl-tests small-message times).
  if (c.step_latency_ns() == 0) c.set_step_latency_ns(3000);
  // Latency of a hop that crosses nodes: NCCL's tuning model (src/graph/tuning.cc, v2.23 to v2.30) charges
  // hwLat[NET] = 14 us per inter-node hop of the Simple protocol (ring and tree), against 3.4 us over NVLink; the
  // fabric's own route latency (about 1.5 us on a 3-tier path) is solved on the platform, so 12.5 us remain.
  if (c.net_step_latency_ns() == 0) c.set_net_step_latency_ns(12500);
  // Point-to-point software latency: deepseek_isca_latency_64B_ib_same_leaf measures 2.8 us one way for 64 B, of
  // which the route (PCIe, NIC, leaf, NIC, PCIe) is 0.7 us in the fabric model.
  if (c.p2p_latency_ns() == 0) c.set_p2p_latency_ns(2100);
  // Scale-out: nccl_allreduce_2node_h100_8x400g reaches 380 of 400 GB/s bus bandwidth (0.95).
  if (c.protocol_efficiency() == 0) c.set_protocol_efficiency(0.95);
  // Scale-up: nccl_ring_dgx_h100_intranode reaches 370 of 450 GB/s per direction (0.82).
  if (c.scale_up_protocol_efficiency() == 0) c.set_scale_up_protocol_efficiency(0.82);
}

CollectivePlan PlanDeepEpNormal(const std::vector<uint32_t>& group, const GroupShape& shape,
                                const v1::Collectives& params, const DeepEpNormalTraffic& traffic) {
  const Ctx c{group, 0, shape, params};
  const uint32_t L = group.size() < 2 ? 0 : c.PerNode();
  if (L == 0)
    throw InputError("collectives: deepep_normal needs at least 2 ranks and the same number of ranks on every node");
  CollectivePlan p;
  p.algorithm = "deepep_normal";
  const std::map<uint32_t, std::vector<uint32_t>> by_node = c.ByNode();
  PhaseStep nvl, rdma;
  nvl.pipeline_group = rdma.pipeline_group = 1;
  auto add = [&traffic](PhaseStep& s, uint32_t from, uint32_t to, double bytes) {
    if (bytes > 0) s.flows.push_back(traffic.combine ? Flow{to, from, bytes} : Flow{from, to, bytes});
  };
  // The links run at NCCL's efficiencies; DeepEP's kernels reach less of them (kDeepEpNvlEfficiency,
  // kDeepEpRdmaEfficiency): their flows carry proportionally more bytes.
  const double nvl_inflate = params.scale_up_protocol_efficiency() / kDeepEpNvlEfficiency;
  const double rdma_inflate = params.protocol_efficiency() / kDeepEpRdmaEfficiency;
  for (const auto& [node, members] : by_node) {
    for (uint32_t i = 0; i < L; ++i)
      for (uint32_t j = 0; j < L; ++j)
        if (i != j) add(nvl, members[i], members[j], traffic.nvl_bytes_per_rank_pair * nvl_inflate);
    for (const auto& [other, omembers] : by_node)
      if (other != node)
        for (uint32_t i = 0; i < L; ++i) add(rdma, members[i], omembers[i], traffic.rdma_bytes_per_node * rdma_inflate);
  }
  if (!nvl.flows.empty()) p.steps.push_back(std::move(nvl));
  if (!rdma.flows.empty()) p.steps.push_back(std::move(rdma));
  for (const auto& s : p.steps)
    for (const auto& f : s.flows) p.bytes_sent_total += f.bytes * s.repeat;
  return p;
}

double RingLatencyS(double n, double per_node, const v1::Collectives& params) {
  const double alpha = params.step_latency_ns() * 1e-9, net = params.net_step_latency_ns() * 1e-9;
  const double N = n / per_node;
  return (n - N) * alpha + (N - 1) * net;
}

double TreeAllReduceLatencyS(double n, double per_node, const v1::Collectives& params) {
  const double alpha = params.step_latency_ns() * 1e-9, net = params.net_step_latency_ns() * 1e-9;
  return 2 * (std::ceil(std::log2(n / per_node)) * net + (per_node - 1) * alpha);
}

double P2pAlphaSteps(const v1::Collectives& params) {
  const double step = params.step_latency_ns();
  return step > 0 ? params.p2p_latency_ns() / step : 0;
}

// Coordinates seen per dimension, one pass each without sorting (the plan search asks for every group of every
// candidate): distinct members inside the product of their coordinate sets, as many as it holds, are the block.
TorusSpan TorusBlockSpan(const std::vector<uint32_t>& group, const std::vector<uint32_t>& torus_dims) {
  TorusSpan span;
  uint64_t product = 1, stride = 1;
  std::vector<char> seen;
  for (uint32_t n : torus_dims) {
    seen.assign(n, 0);
    uint32_t count = 0;
    for (uint32_t g : group) {
      char& s = seen[(g / stride) % n];
      count += s == 0 ? 1 : 0;
      s = 1;
    }
    product *= count;
    if (count >= 2) {
      ++span.dims;
      span.steps += count - 1;
      span.link_directions += count == n || n == 2 ? 2 : 1;
    }
    stride *= n;
  }
  return product == group.size() ? span : TorusSpan{};
}

double BusBandwidthFactor(CollectiveKind kind, uint32_t n) {
  if (n <= 1) return 1;
  switch (kind) {
    case CollectiveKind::kAllReduce:
      return 2.0 * (n - 1) / n;
    case CollectiveKind::kReduceScatter:
    case CollectiveKind::kAllGather:
    case CollectiveKind::kAllToAll:
      return static_cast<double>(n - 1) / n;
    default:
      return 1;
  }
}

namespace {

// Scales the bytes of `p`'s flows that cross nodes (see PlanCollective).
void ScaleInterNodeFlows(CollectivePlan& p, const GroupShape& shape, double scale) {
  const uint32_t per_node = std::max(1u, shape.gpus_per_node);
  for (PhaseStep& s : p.steps)
    for (Flow& f : s.flows)
      if (f.src / per_node != f.dst / per_node) f.bytes *= scale;
}

}  // namespace

CollectivePlan PlanCollective(CollectiveKind kind, const std::string& algorithm, const std::vector<uint32_t>& group,
                              double bytes, const GroupShape& shape, const v1::Collectives& params,
                              double internode_scale) {
  if (group.size() < 2) return CollectivePlan{"none", {}, 0};
  const Ctx c{group, bytes, shape, params};
  std::string name = algorithm.empty() || algorithm == "auto" ? ConfiguredName(kind, params) : algorithm;
  if (name.empty() || name == "auto") name = AutoAlgorithm(kind, c);
  for (const auto& e : Registry(kind)) {
    if (e.info.name != name) continue;
    CollectivePlan p = e.plan(kind, c);
    if (kind == CollectiveKind::kAllToAll && internode_scale != 1 && p.algorithm != "deepep_ll")
      ScaleInterNodeFlows(p, shape, internode_scale);
    p.bytes_sent_total = 0;
    for (const auto& s : p.steps)
      for (const auto& f : s.flows) p.bytes_sent_total += f.bytes * s.repeat;
    return p;
  }
  std::string known;
  for (const auto& e : Registry(kind)) known += (known.empty() ? "" : ", ") + e.info.name;
  throw InputError(std::string("collectives: unknown ") + ToString(kind) + " algorithm \"" + name +
                   "\"; known: auto, " + known);
}

}  // namespace clustersim::sim
