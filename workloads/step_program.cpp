// Names of the StepProgram enums and the rank layout (see step_program.h).
#include "workloads/step_program.h"

namespace clustersim::wl {

const char* ToString(Dim d) {
  switch (d) {
    case Dim::kTp:
      return "tp";
    case Dim::kCp:
      return "cp";
    case Dim::kPp:
      return "pp";
    case Dim::kDp:
      return "dp";
    case Dim::kEp:
      return "ep";
    case Dim::kEdp:
      return "edp";
    case Dim::kTpCp:
      return "tpcp";
    case Dim::kDpCp:
      return "dpcp";
  }
  return "?";
}

const char* ToString(Coll c) {
  switch (c) {
    case Coll::kAllReduce:
      return "all_reduce";
    case Coll::kReduceScatter:
      return "reduce_scatter";
    case Coll::kAllGather:
      return "all_gather";
    case Coll::kAllToAll:
      return "all_to_all";
    case Coll::kBroadcast:
      return "broadcast";
  }
  return "?";
}

const char* ToString(ComputeKind k) {
  switch (k) {
    case ComputeKind::kGemm:
      return "gemm";
    case ComputeKind::kAttention:
      return "attention";
    case ComputeKind::kElementwise:
      return "elementwise";
    case ComputeKind::kOptimizer:
      return "optimizer";
    case ComputeKind::kEmbedding:
      return "embedding";
    case ComputeKind::kRouter:
      return "router";
    case ComputeKind::kGroupedGemm:
      return "grouped_gemm";
    case ComputeKind::kQuantize:
      return "quantize";
    case ComputeKind::kPermute:
      return "permute";
    case ComputeKind::kHostSync:
      return "host_sync";
  }
  return "?";
}

uint32_t RankLayout::GroupSize(Dim dim) const {
  switch (dim) {
    case Dim::kTp:
      return tp;
    case Dim::kCp:
      return cp;
    case Dim::kPp:
      return pp;
    case Dim::kDp:
      return dp;
    case Dim::kEp:
      return ep;
    case Dim::kEdp:
      return (tp * cp * dp) / (etp() * ep);
    case Dim::kTpCp:
      return tp * cp;
    case Dim::kDpCp:
      return dp * cp;
  }
  return 1;
}

std::vector<uint32_t> RankLayout::Group(uint32_t rank, Dim dim) const {
  std::vector<uint32_t> g;
  const uint32_t n = GroupSize(dim);
  g.reserve(n);
  const uint32_t stage_size = tp * cp * dp;
  const uint32_t stage_base = PpIndex(rank) * stage_size;
  const uint32_t local = rank - stage_base;  // index inside the stage: tp fastest, then cp, then dp
  auto strided = [&](uint32_t first, uint32_t stride) {
    for (uint32_t i = 0; i < n; ++i) g.push_back(first + i * stride);
  };
  switch (dim) {
    case Dim::kTp:
      strided(rank - TpIndex(rank), 1);
      break;
    case Dim::kCp:
      strided(rank - CpIndex(rank) * tp, tp);
      break;
    case Dim::kDp:
      strided(rank - DpIndex(rank) * tp * cp, tp * cp);
      break;
    case Dim::kPp:
      strided(rank % stage_size, stage_size);
      break;
    case Dim::kTpCp:
      strided(rank - rank % (tp * cp), 1);
      break;
    case Dim::kDpCp:
      strided(stage_base + TpIndex(rank), tp);
      break;
    case Dim::kEp: {
      const uint32_t e = etp();
      const uint32_t q = local / e;  // index in the (ep x edp) grid, ep fastest
      strided(stage_base + local % e + (q - q % ep) * e, e);
      break;
    }
    case Dim::kEdp: {
      const uint32_t e = etp();
      const uint32_t q = local / e;
      strided(stage_base + local % e + (q % ep) * e, e * ep);
      break;
    }
  }
  return g;
}

}  // namespace clustersim::wl
