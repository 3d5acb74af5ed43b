// Chakra execution traces (MLCommons Chakra ET, the input format of ASTRA-sim): reader, validated trace model and
// exporter. See docs/trace-replay.md for what is accepted and how clustersim's own step programs are encoded.
//
// A trace is one file per rank, `<prefix>.<rank>.et` (plain or gzip, detected by content), each a stream of
// varint-length-delimited protobuf messages (proto/chakra/et_def.proto): usually a GlobalMetadata, then Nodes. Every
// writer of Chakra's schema versions is read (docs/trace-replay.md): clustersim's exports, Chakra's text and PyTorch
// converters (collectives, sizes, process groups and peers the converter leaves out are taken from node names,
// input tensors and the `## process_group:init ##` node), 2023 files without a GlobalMetadata record, ASTRA-sim's
// microbenchmarks. What the reader repairs or skips (unknown node kinds, dangling ctrl_deps, ...) is counted in
// Trace::warnings, never silently.
//
// Loading validates everything the replay relies on and throws InputError naming the file and the node (id and
// name): dependencies on missing nodes, cycles, sends without a matching receive (same src/dst/tag/size),
// collectives on unknown process groups or whose member ranks disagree, truncated or corrupt streams, and traces
// whose ranks would wait on each other forever. Checks are iterative (no recursion) and memory is bounded by the
// input: a record longer than kMaxRecordBytes is rejected before anything is allocated for it.
//
// The workloads layer knows nothing of topologies: process groups are sets of trace ranks; the sim layer places
// trace ranks on GPUs (sim/trace_replay.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/step_program.h"

namespace clustersim::wl::chakra {

inline constexpr uint64_t kMaxRecordBytes = 64ull << 20;  // one GlobalMetadata or Node message

enum class NodeKind : uint8_t { kCompute, kCollective, kSend, kRecv, kMemory };

// Streams of a rank. Each runs one node at a time, as ASTRA-sim's hardware resources do: GPU compute, GPU
// communication, and the host (CPU ops: `is_cpu_op`, and the zero-time METADATA / INVALID / unmodelled nodes).
inline constexpr uint8_t kComputeStream = 0;
inline constexpr uint8_t kCommStream = 1;
inline constexpr uint8_t kHostStream = 2;
inline constexpr uint8_t kStreams = 3;

// Collectives the replay can cost. REDUCE, GATHER and SCATTER are costed as broadcast-shaped (a rooted tree of the
// same volume); BARRIER as an all-reduce of 0 bytes plus latency; REDUCE_SCATTER_BLOCK as reduce-scatter.
struct TraceNode {
  uint64_t id = 0;  // Chakra node id (unique in its file)
  NodeKind kind = NodeKind::kCompute;
  uint8_t stream = kComputeStream;  // kComputeStream, kCommStream or kHostStream (host nodes: kCompute, no work)
  // Attribute "clustersim.overlaps_next_step": an asynchronous operation first awaited by the next step (a ZeRO
  // parameter all-gather issued after the optimizer). It runs, but its end does not count towards the step time.
  bool overlaps_next_step = false;
  std::vector<uint32_t> deps;  // indices into TraceRank::nodes (data deps, then the ctrl deps kept; deduplicated)
  // kCompute / kMemory
  ComputeKind compute = ComputeKind::kGemm;
  double flops = 0;  // num_ops
  double bytes = 0;  // tensor_size (HBM bytes)
  double gemm_count = 1;
  double duration_s = 0;  // recorded duration_micros, in seconds (0 = none recorded)
  Phase phase = Phase::kForward;
  // kCollective / kSend / kRecv
  Coll coll = Coll::kAllReduce;
  // Bytes in the nccl-tests convention of step_program.h (all-gather: the output). Read from comm_size in Chakra's
  // convention (ASTRA-sim's: all-gather comm_size is each rank's input, so comm_bytes = comm_size x the group's
  // recorded size), unless the file's metadata says `clustersim.comm_size_convention: nccl_tests`.
  uint64_t comm_bytes = 0;
  uint32_t pg = 0;    // index into Trace::groups (collectives and sends)
  uint32_t peer = 0;  // kSend: comm_dst; kRecv: comm_src (trace ranks)
  int64_t tag = 0;    // comm_tag
  // Set by validation: kSend -> index of the matching kRecv node in the peer's rank; kCollective -> index into
  // Trace::collectives (the instance it takes part in).
  uint32_t match = 0;
};

struct TraceRank {
  std::string file;                // for messages
  std::vector<TraceNode> nodes;    // in file order
  std::vector<std::string> names;  // node names, parallel to nodes
  std::vector<uint32_t> order;     // topological order (file order where the dependencies allow)
};

struct ProcessGroup {
  std::string name;             // pg_name
  std::vector<uint32_t> ranks;  // trace ranks, in ring order
  // Ranks of the group in the traced job: the PyTorch table's group_size (a trace of 1 rank of a 2-rank job has
  // ranks = {0}, recorded_size = 2), else ranks.size().
  uint32_t recorded_size = 0;
  std::string family() const;  // name up to the last '/', or the whole name: groups that run side by side
};

// One collective operation: the k-th collective of a process group, joined by each member rank.
struct CollectiveInstance {
  uint32_t pg = 0;
  uint32_t members = 0;  // traced ranks that take part (= the group's size)
};

struct Trace {
  std::vector<TraceRank> ranks;      // trace rank r = ranks[r]
  std::vector<ProcessGroup> groups;  // groups[0] is the implicit world group ("" pg_name)
  std::vector<CollectiveInstance> collectives;
  std::vector<std::string> p2p_labels;  // pg_name of sends (TraceNode::pg of a kSend indexes this)
  std::string precision;                // from metadata "clustersim.precision", may be empty
  // From metadata ("clustersim.tokens_per_step", "clustersim.model_flops_per_step", "clustersim.world"): the
  // step's tokens and model FLOPs for a cluster of `metadata_world` GPUs; 0 when absent.
  uint64_t tokens_per_step = 0;
  double model_flops_per_step = 0;
  uint32_t metadata_world = 0;
  // What the reader repaired or skipped, one line per kind with its count (ReadCounts in chakra_trace_read.h).
  std::vector<std::string> warnings;
  uint64_t nodes() const;
};

// One rank's raw bytes, for LoadTraceFromBuffers (tests, fuzzing).
struct RankBuffer {
  std::string file;  // name used in messages
  std::string_view bytes;
};

// Reads `prefix_or_dir`: a directory (every `*.<rank>.et[.gz]` inside, one prefix) or a prefix (`<prefix>.<rank>.et`
// or `.et.gz`). Ranks must be 0..R-1 with none missing. Throws InputError.
Trace LoadTrace(const std::string& prefix_or_dir);
// Same from memory buffers; buffers[r] is rank r.
Trace LoadTraceFromBuffers(const std::vector<RankBuffer>& buffers);

// Exporter: one Chakra ET stream per rank of `program` (every rank of program.layout.world(), or only the ranks of
// data-parallel replica 0 when `replica_only`, renumbered 0..R-1 in global-rank order). Returns the bytes of each
// file, index = trace rank. Sizes are in Chakra's convention (all-gather comm_size = the output / the group's size,
// rounded), marked `clustersim.comm_size_convention: per_rank_input`.
struct ExportOptions {
  bool replica_only = false;
};
std::vector<std::string> ExportTrace(const StepProgram& program, const ExportOptions& options);
// Gzip-compresses one stream (Chakra readers, and LoadTrace, accept `.et.gz` files). Deterministic.
std::string GzipCompress(const std::string& bytes);
// The file name of trace rank `rank`: `<prefix>.<rank>.et`, plus `.gz` when `gzip`.
std::string TraceFileName(const std::string& prefix, uint32_t rank, bool gzip);

}  // namespace clustersim::wl::chakra
