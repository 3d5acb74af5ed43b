// Placement and background traffic; see placement.h.
#include "sim/placement.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

#include "common/error.h"
#include "sim/network/hash_mix.h"

namespace clustersim::sim {

namespace {

[[noreturn]] void Fail(const std::string& field, const std::string& value, const std::string& rule) {
  throw InputError::Field("", 0, field, value, rule);
}

// `n` of the `free` units (ascending) by `policy`, returned ascending. `fragmentation` (0-1): the share of them
// taken at random, the rest as one run of free units from a random start.
std::vector<uint32_t> PickUnits(const std::vector<uint32_t>& free, uint32_t n, const std::string& policy,
                                double fragmentation, uint64_t seed) {
  std::vector<uint32_t> out;
  out.reserve(n);
  const size_t m = free.size();
  if (policy == "spread") {
    for (uint32_t i = 0; i < n; ++i) out.push_back(free[static_cast<size_t>(uint64_t{i} * m / n)]);
    return out;
  }
  if (policy != "fragmented") return {free.begin(), free.begin() + n};
  std::mt19937_64 rng(seed);
  const auto scattered = static_cast<uint32_t>(std::llround(n * (fragmentation > 0 ? fragmentation : 1.0)));
  std::vector<uint32_t> pool(free);
  // The contiguous run: n - scattered units from a random position (wrapping), removed from the pool.
  const uint32_t run = n - scattered;
  if (run > 0) {
    const size_t start = static_cast<size_t>(rng() % m);
    std::vector<bool> taken(m, false);
    for (uint32_t i = 0; i < run; ++i) {
      out.push_back(pool[(start + i) % m]);
      taken[(start + i) % m] = true;
    }
    size_t k = 0;
    for (size_t i = 0; i < m; ++i)
      if (!taken[i]) pool[k++] = pool[i];
    pool.resize(k);
  }
  // The scattered ones: a partial Fisher-Yates shuffle of the pool.
  for (uint32_t i = 0; i < scattered; ++i) {
    const size_t j = i + static_cast<size_t>(rng() % (pool.size() - i));
    std::swap(pool[i], pool[j]);
    out.push_back(pool[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint32_t> FreeUnits(const std::vector<bool>& used) {
  std::vector<uint32_t> free;
  for (uint32_t u = 0; u < used.size(); ++u)
    if (!used[u]) free.push_back(u);
  return free;
}

double OfferedBytesPerS(const v1::Cluster& c, const v1::BackgroundJob& b) {
  if (b.load_bytes_per_s() > 0) return b.load_bytes_per_s();
  return b.load_fraction() * c.scale_out().nic_bandwidth_gbps() * std::max(1u, c.scale_out().nics_per_gpu()) * 1e9 / 8;
}

// Every rank's GPU under cluster.placement.torus_tile (TorusTileGpu).
std::vector<uint32_t> TorusTileOrder(const v1::Cluster& c) {
  const std::span<const uint32_t> dims(c.scale_out().torus_dims().data(), c.scale_out().torus_dims_size());
  const std::span<const uint32_t> tile(c.placement().torus_tile().data(), c.placement().torus_tile_size());
  std::vector<uint32_t> gpu(c.num_gpus());
  for (uint32_t r = 0; r < c.num_gpus(); ++r) gpu[r] = TorusTileGpu(r, dims, tile);
  return gpu;
}

}  // namespace

uint32_t TorusTileGpu(uint32_t rank, std::span<const uint32_t> torus_dims, std::span<const uint32_t> tile) {
  uint32_t per_tile = 1;
  for (uint32_t t : tile) per_tile *= t;
  uint32_t offset = rank % per_tile, index = rank / per_tile, id = 0, stride = 1;
  for (size_t d = 0; d < torus_dims.size(); ++d) {
    const uint32_t grid = torus_dims[d] / tile[d];
    id += ((index % grid) * tile[d] + offset % tile[d]) * stride;
    offset /= tile[d];
    index /= grid;
    stride *= torus_dims[d];
  }
  return id;
}

std::vector<uint32_t> TorusCubeTile(std::span<const uint32_t> torus_dims, uint32_t volume) {
  std::vector<uint32_t> primes;  // ascending trial division, each inserted at the front: largest first
  for (uint32_t f = 2, v = volume; v > 1; f = f * f > v ? v : f + 1)
    for (; v % f == 0; v /= f) primes.insert(primes.begin(), f);
  if (primes.empty()) return {};
  std::vector<uint32_t> tile(torus_dims.size(), 1);
  for (uint32_t f : primes) {
    size_t best = torus_dims.size();
    for (size_t d = 0; d < torus_dims.size(); ++d)
      if (torus_dims[d] % (tile[d] * f) == 0 && (best == torus_dims.size() || tile[d] < tile[best])) best = d;
    if (best == torus_dims.size()) return {};
    tile[best] *= f;
  }
  return tile;
}

uint32_t FabricGpus(const v1::Cluster& c) {
  return c.placement().fabric_gpus() > 0 ? c.placement().fabric_gpus() : c.num_gpus();
}

std::string TorusTileText(const google::protobuf::RepeatedField<uint32_t>& tile) {
  std::string out;
  for (uint32_t t : tile) {
    if (!out.empty()) out += 'x';
    out += std::to_string(t);
  }
  return out;
}

bool JobOwnsFabric(const v1::Cluster& c) {
  const std::string& policy = c.placement().policy();
  return FabricGpus(c) == c.num_gpus() && c.background_size() == 0 && (policy.empty() || policy == "contiguous");
}

ClusterPlacement PlaceJobs(const v1::Scenario& s) {
  const v1::Cluster& c = s.cluster();
  ClusterPlacement p;
  p.fabric_gpus = FabricGpus(c);
  const uint32_t gpn = std::max(1u, c.scale_up().gpus_per_node()), domain = c.scale_up().domain_size();
  p.unit_gpus = domain > gpn && c.num_gpus() >= domain ? domain : gpn;
  p.policy = c.placement().policy().empty() ? "contiguous" : c.placement().policy();
  const uint32_t units = p.fabric_gpus / p.unit_gpus;
  std::vector<bool> used(units, false);
  std::vector<bool> gpu_used;  // per fabric GPU, only with explicit background GPUs
  for (const v1::BackgroundJob& b : c.background())
    for (uint32_t g : b.gpu_ids()) {
      if (g >= p.fabric_gpus)
        Fail("cluster.background.gpu_ids", std::to_string(g),
             "must be below the fabric's GPU count (" + std::to_string(p.fabric_gpus) + ")");
      if (gpu_used.empty()) gpu_used.assign(p.fabric_gpus, false);
      if (gpu_used[g]) Fail("cluster.background.gpu_ids", std::to_string(g), "is listed twice");
      gpu_used[g] = true;
      if (g / p.unit_gpus < units) used[g / p.unit_gpus] = true;
    }
  // The job.
  const uint32_t job_units = c.num_gpus() / p.unit_gpus;
  std::vector<uint32_t> free = FreeUnits(used);
  if (free.size() < job_units)
    Fail("cluster.num_gpus", std::to_string(c.num_gpus()),
         "needs " + std::to_string(job_units) + " units of " + std::to_string(p.unit_gpus) + " GPUs and the fabric (" +
             "cluster.placement.fabric_gpus = " + std::to_string(p.fabric_gpus) + ") has " +
             std::to_string(free.size()) + " free after the background jobs' gpu_ids");
  const uint64_t seed = c.placement().seed() != 0 ? c.placement().seed() : s.seed();
  const std::vector<uint32_t> mine = PickUnits(free, job_units, p.policy, c.placement().fragmentation(), seed);
  for (uint32_t u : mine) used[u] = true;
  bool identity = true;
  for (uint32_t i = 0; i < mine.size(); ++i) identity = identity && mine[i] == i;
  if (c.placement().torus_tile_size() > 0) {
    p.gpu_of_rank = TorusTileOrder(c);
    for (uint32_t r = 0; r < c.num_gpus() && identity; ++r) identity = p.gpu_of_rank[r] == r;
    if (identity) p.gpu_of_rank.clear();
  } else if (!identity) {
    p.gpu_of_rank.resize(c.num_gpus());
    for (uint32_t r = 0; r < c.num_gpus(); ++r)
      p.gpu_of_rank[r] = mine[r / p.unit_gpus] * p.unit_gpus + r % p.unit_gpus;
  }
  // The background jobs, counted ones on whole nodes of what is left.
  for (int i = 0; i < c.background_size(); ++i) {
    const v1::BackgroundJob& b = c.background(i);
    BackgroundTraffic t;
    t.name = b.name().empty() ? "background " + std::to_string(i) : b.name();
    t.pattern = b.pattern();
    t.bytes_per_s = OfferedBytesPerS(c, b);
    t.seed = b.seed() != 0 ? b.seed() : Mix(s.seed(), static_cast<uint64_t>(i) + 1);
    if (b.gpu_ids_size() > 0) {
      t.gpus.assign(b.gpu_ids().begin(), b.gpu_ids().end());
    } else {
      const uint32_t need = (b.gpus() + gpn - 1) / gpn;
      // Whole nodes: a placement unit holds unit_gpus / gpn of them.
      std::vector<uint32_t> free_nodes;
      for (uint32_t u : FreeUnits(used))
        for (uint32_t k = 0; k < p.unit_gpus / gpn; ++k) free_nodes.push_back(u * (p.unit_gpus / gpn) + k);
      if (free_nodes.size() < need)
        Fail("cluster.background.gpus", std::to_string(b.gpus()),
             "the job (cluster.num_gpus = " + std::to_string(c.num_gpus()) +
                 ") and the background jobs need more "
                 "than the fabric's " +
                 std::to_string(p.fabric_gpus) + " GPUs (cluster.placement.fabric_gpus)");
      const std::string policy = b.policy().empty() ? "contiguous" : b.policy();
      for (uint32_t node : PickUnits(free_nodes, need, policy, 1.0, t.seed)) {
        used[node * gpn / p.unit_gpus] = true;
        for (uint32_t k = 0; k < gpn && t.gpus.size() < b.gpus(); ++k) t.gpus.push_back(node * gpn + k);
      }
    }
    p.background.push_back(std::move(t));
  }
  return p;
}

bool SharesCluster(const v1::Scenario& s) {
  v1::Placement shared = s.cluster().placement();
  shared.clear_torus_tile();  // the job's own layout on a torus it owns
  return s.cluster().background_size() > 0 || (s.cluster().has_placement() && shared.ByteSizeLong() > 0);
}

bool HasBackgroundLoad(const v1::Scenario& s) {
  for (const v1::BackgroundJob& b : s.cluster().background())
    if (b.load_fraction() > 0 || b.load_bytes_per_s() > 0) return true;
  return false;
}

v1::SharedCluster ReportSharedCluster(const ClusterPlacement& p, const std::vector<BackgroundEffect>& effects,
                                      const topo::Fabric& fabric, uint32_t num_gpus) {
  v1::SharedCluster out;
  out.set_fabric_gpus(p.fabric_gpus);
  out.set_policy(p.policy);
  // Leaf switches (dragonfly routers) one hop above the NICs of the job's GPUs.
  const topo::Graph& g = fabric.graph();
  std::vector<bool> seen(boost::num_vertices(g), false);
  uint32_t leaves = 0;
  for (uint32_t r = 0; r < num_gpus; ++r) {
    const uint32_t gpu = p.gpu_of_rank.empty() ? r : p.gpu_of_rank[r];
    for (const auto e : boost::make_iterator_range(boost::out_edges(gpu, g))) {
      if (g[e].kind != topo::LinkKind::kPcie && g[e].kind != topo::LinkKind::kNicToLeaf) continue;
      const auto nic = boost::target(e, g);
      for (const auto f : boost::make_iterator_range(boost::out_edges(nic, g))) {
        const auto leaf = boost::target(f, g);
        const topo::VertexKind k = g[leaf].kind;
        if ((k == topo::VertexKind::kLeaf || k == topo::VertexKind::kRouter) && !seen[leaf]) {
          seen[leaf] = true;
          ++leaves;
        }
      }
    }
  }
  out.set_job_leaves(leaves);
  for (size_t i = 0; i < p.background.size(); ++i) {
    v1::SharedCluster::Background& b = *out.add_background();
    b.set_name(p.background[i].name);
    b.set_gpus(static_cast<uint32_t>(p.background[i].gpus.size()));
    b.set_pattern(p.background[i].pattern);
    b.set_offered_bytes_per_s(p.background[i].bytes_per_s);
    b.set_links_loaded(effects[i].links_loaded);
    b.set_max_share_of_link(effects[i].max_share_of_link);
    b.set_carried_fraction(effects[i].carried_fraction);
  }
  return out;
}

void BackgroundFlows(const BackgroundTraffic& job, std::vector<OfferedFlow>& out) {
  out.clear();
  const auto n = static_cast<uint32_t>(job.gpus.size());
  if (n < 2) return;
  const double r = job.bytes_per_s;
  if (!(r > 0)) return;
  if (job.pattern == "all_reduce") {
    for (uint32_t i = 0; i < n; ++i) out.push_back({job.gpus[i], job.gpus[(i + 1) % n], r});
  } else if (job.pattern == "uniform_random") {
    // Sattolo's shuffle: one cycle through every GPU, so nobody sends to itself.
    std::vector<uint32_t> next(n);
    std::iota(next.begin(), next.end(), 0u);
    std::mt19937_64 rng(job.seed);
    for (uint32_t i = n - 1; i > 0; --i) std::swap(next[i], next[static_cast<size_t>(rng() % i)]);
    for (uint32_t i = 0; i < n; ++i) out.push_back({job.gpus[i], job.gpus[next[i]], r});
  } else {  // all_to_all: kBackgroundPeers evenly strided peers per GPU (every other GPU when fewer)
    const uint32_t peers = std::min(n - 1, kBackgroundPeers);
    out.reserve(static_cast<size_t>(n) * peers);
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t j = 1; j <= peers; ++j) {
        const uint64_t offset = uint64_t{j} * (n - 1) / peers;
        out.push_back({job.gpus[i], job.gpus[(i + offset) % n], r / peers});
      }
  }
}

std::vector<BackgroundEffect> ReserveBackground(Platform& platform, const std::vector<BackgroundTraffic>& jobs) {
  std::vector<BackgroundEffect> effects(jobs.size());
  if (jobs.empty()) return effects;
  const auto& infos = platform.links();
  std::vector<double> total(infos.size(), 0), load(infos.size(), 0);
  std::vector<uint32_t> touched;
  std::vector<OfferedFlow> flows;
  std::vector<std::pair<int32_t, double>> route;
  for (size_t j = 0; j < jobs.size(); ++j) {
    BackgroundFlows(jobs[j], flows);
    touched.clear();
    for (const OfferedFlow& f : flows) {
      platform.RouteHops(f.src, f.dst, route);
      const double rate = f.bytes_per_s / platform.RouteParts(f.src, f.dst);  // per hop listed (RouteHops)
      for (const auto& [link, latency] : route) {
        if (link < 0) continue;
        const auto l = static_cast<size_t>(link);
        if (load[l] == 0) touched.push_back(static_cast<uint32_t>(link));
        load[l] += rate;
      }
    }
    double worst = 1;  // the most loaded link's load / capacity, at least 1
    for (uint32_t l : touched) worst = std::max(worst, load[l] / infos[l].capacity_bytes_per_s);
    BackgroundEffect& e = effects[j];
    e.links_loaded = static_cast<uint32_t>(touched.size());
    e.carried_fraction = 1 / worst;
    for (uint32_t l : touched) {
      const double carried = load[l] / worst;
      total[l] += carried;
      e.max_share_of_link =
          std::max(e.max_share_of_link, std::min(carried / infos[l].capacity_bytes_per_s, kBackgroundMaxShare));
      load[l] = 0;
    }
  }
  for (uint32_t l = 0; l < total.size(); ++l)
    if (total[l] > 0) platform.Reserve(l, std::min(total[l], kBackgroundMaxShare * infos[l].capacity_bytes_per_s));
  return effects;
}

}  // namespace clustersim::sim
