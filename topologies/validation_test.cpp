// Rejections: one test per rule. Each checks that both BuildFabric and PlanInventory throw an InputError naming
// the field (and value, where given), and that the message carries the rule.
#include <gtest/gtest.h>

#include "common/error.h"
#include "topologies/fabric.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::Params;

void ExpectRejected(const FabricParams& p, const std::string& field, const std::string& rule_part) {
  for (int which = 0; which < 2; ++which) {
    try {
      if (which == 0) {
        PlanInventory(p);
      } else {
        BuildFabric(p);
      }
      ADD_FAILURE() << "accepted; expected a rejection of " << field;
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(field), std::string::npos) << m;
      EXPECT_NE(m.find(" = "), std::string::npos) << m;
      EXPECT_NE(m.find(rule_part), std::string::npos) << m;
    }
  }
}

TEST(Rejects, UnknownTopology) {
  ExpectRejected(Params("hypercube", 64), "cluster.scale_out.topology", "must be one of fat_tree, rail_optimized");
}

TEST(Rejects, ZeroGpus) { ExpectRejected(Params("fat_tree", 0), "cluster.num_gpus", "must be > 0"); }

TEST(Rejects, GpuCountBeyond32BitIds) {
  FabricParams p = Params("none", 1U << 31);
  p.scale_up_domain = 1U << 31;
  ExpectRejected(p, "cluster.num_gpus = 2147483648", "must be <= 2^30");
}

TEST(Rejects, ZeroGpusPerNode) {
  FabricParams p = Params("fat_tree", 64);
  p.gpus_per_node = 0;
  ExpectRejected(p, "cluster.scale_up.gpus_per_node", "must be > 0");
}

TEST(Rejects, GpuCountNotAMultipleOfTheNodeSize) {
  ExpectRejected(Params("fat_tree", 1020), "cluster.scale_up.gpus_per_node = 8", "must divide cluster.num_gpus");
}

TEST(Rejects, ZeroScaleUpDomain) {
  FabricParams p = Params("fat_tree", 64);
  p.scale_up_domain = 0;
  ExpectRejected(p, "cluster.scale_up.domain_size", "must be > 0");
}

TEST(Rejects, ScaleUpDomainThatSplitsNodesUnevenly) {
  FabricParams p = Params("fat_tree", 96);
  p.scale_up_domain = 12;
  ExpectRejected(p, "cluster.scale_up.domain_size = 12", "multiple or a divisor");
}

TEST(Rejects, MissingScaleUpBandwidth) {
  FabricParams p = Params("fat_tree", 64);
  p.scale_up_bandwidth_gbps = 0;
  ExpectRejected(p, "cluster.scale_up.bandwidth_gbyte_per_s", "must be > 0");
}

TEST(Rejects, NegativeScaleUpLatency) {
  FabricParams p = Params("fat_tree", 64);
  p.scale_up_latency_ns = -1;
  ExpectRejected(p, "cluster.scale_up.latency_ns", "must be >= 0");
}

TEST(Rejects, ZeroNicsPerGpu) {
  FabricParams p = Params("fat_tree", 64);
  p.nics_per_gpu = 0;
  ExpectRejected(p, "cluster.scale_out.nics_per_gpu", "must be > 0");
}

TEST(Rejects, NonPositiveNicBandwidth) {
  FabricParams p = Params("dragonfly", 64);
  p.nic_bandwidth_gbps = -400;
  ExpectRejected(p, "cluster.scale_out.nic_bandwidth_gbps = -400", "must be > 0");
}

TEST(Rejects, NonPositivePcieBandwidth) {
  FabricParams p = Params("fat_tree", 64);
  p.pcie_bandwidth_gbps = 0;
  ExpectRejected(p, "cluster.scale_out.pcie_bandwidth_gbps", "must be > 0");
}

TEST(Rejects, NegativeLinkLatency) {
  FabricParams p = Params("fat_tree", 64);
  p.link_latency_ns = -5;
  ExpectRejected(p, "cluster.scale_out.link_latency_ns", "must be >= 0");
}

TEST(Rejects, NegativeSwitchLatency) {
  FabricParams p = Params("fat_tree", 64);
  p.switch_latency_ns = -5;
  ExpectRejected(p, "cluster.scale_out.switch_latency_ns", "must be >= 0");
}

TEST(Rejects, RadixBelowTwo) {
  ExpectRejected(Params("fat_tree", 64, 1), "cluster.scale_out.switch_radix = 1", "must be >= 2");
}

TEST(Rejects, MoreThanThreeTiers) {
  FabricParams p = Params("fat_tree", 64);
  p.tiers = 4;
  ExpectRejected(p, "cluster.scale_out.tiers = 4", "must be 0 (smallest that fits), 1, 2 or 3");
}

TEST(Rejects, OversubscriptionBelowOne) {
  FabricParams p = Params("fat_tree", 64);
  p.oversubscription = {1, 0.5};
  ExpectRejected(p, "cluster.scale_out.oversubscription[1] = 0.5", "must be >= 1");
}

TEST(Rejects, OversubscriptionThatLeavesNoUplink) {
  FabricParams p = Params("fat_tree", 64, 8);
  p.oversubscription = {100};
  ExpectRejected(p, "cluster.scale_out.oversubscription[0] = 100", "leaves no uplink port");
}

TEST(Rejects, RadixTooSmallForTheGpusAtThreeTiers) {
  // 64-port switches hold 65,536 NIC ports in 3 tiers.
  ExpectRejected(Params("fat_tree", 131072, 64), "cluster.scale_out.switch_radix = 64",
                 "holds at most 65536 NIC ports per plane; 131072 needed");
}

TEST(Rejects, RadixTooSmallForTheGpusAtTheRequestedTiers) {
  FabricParams p = Params("fat_tree", 4096, 64);
  p.tiers = 2;
  ExpectRejected(p, "cluster.scale_out.switch_radix = 64", "a 2-tier fat_tree of 64-port switches holds at most 2048");
}

TEST(Rejects, PlanesThatDoNotDivideTheNicPortsOfANode) {
  FabricParams p = Params("multi_plane", 64);
  p.planes = 3;
  ExpectRejected(p, "cluster.scale_out.planes = 3", "must divide the NIC ports per node");
}

TEST(Rejects, PlanesOnAFabricWithoutPlanes) {
  FabricParams p = Params("fat_tree", 64);
  p.planes = 2;
  ExpectRejected(p, "cluster.scale_out.planes = 2", "only multi_plane reads planes");
}

TEST(Rejects, RelayWithoutANodeWideScaleUpDomain) {
  FabricParams p = Params("rail_only", 64);
  p.scale_up_domain = 4;  // a GPU cannot reach the other half of its node's rails
  ExpectRejected(p, "cluster.scale_up.domain_size = 4", "relays cross-plane traffic inside the node");
}

TEST(Rejects, TorusDimsWhoseProductDiffersFromTheGpuCount) {
  FabricParams p = Params("torus", 64);
  p.torus_dims = {4, 4, 2};
  ExpectRejected(p, "cluster.scale_out.torus_dims = 4x4x2", "product 32 must equal cluster.num_gpus = 64");
}

TEST(Rejects, TorusWithoutDims) {
  ExpectRejected(Params("torus", 64), "cluster.scale_out.torus_dims", "must list 1, 2 or 3 dimensions");
}

TEST(Rejects, TorusWithAZeroDimension) {
  FabricParams p = Params("torus", 64);
  p.torus_dims = {8, 0, 8};
  ExpectRejected(p, "cluster.scale_out.torus_dims = 8x0", "every dimension must be >= 1");
}

TEST(Rejects, DragonflyRoutersWithMorePortsThanTheRadix) {
  FabricParams p = Params("dragonfly", 64, 16);
  p.dragonfly_routers_per_group = 12;  // 4 + 11 + 4 = 19 > 16
  ExpectRejected(p, "cluster.scale_out.switch_radix = 16", "= 19 ports");
}

TEST(Rejects, DragonflyWithMoreGroupsThanGlobalLinksReach) {
  // k=8: 2 hosts, 4 routers, 2 globals per router: at most 9 groups of 8 ports = 72 GPUs.
  ExpectRejected(Params("dragonfly", 80, 8), "cluster.num_gpus = 80", "joins at most 9 groups");
}

TEST(Rejects, ScaleUpOnlyFabricLargerThanOneDomain) {
  ExpectRejected(Params("none", 16), "cluster.scale_up.domain_size = 8", "has no scale-out fabric");
}

}  // namespace
}  // namespace clustersim::topo
