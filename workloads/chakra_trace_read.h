// Reading one rank's Chakra ET file into raw form (internal to the Chakra reader: chakra_trace.cpp assembles the
// ranks, builds the process groups and validates the whole trace). See docs/trace-replay.md, "What the reader
// accepts", for the rules implemented here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "workloads/chakra_trace.h"
#include "workloads/chakra_trace_pytorch.h"

namespace clustersim::wl::chakra {

// Non-fatal findings of the reader, counted per file and summed over the trace into Trace::warnings.
struct ReadCounts {
  uint64_t files_without_metadata = 0;  // record 0 is a Node (2023 text-converter traces)
  uint64_t unreadable_metadata = 0;     // record 0 is a GlobalMetadata of an older layout: ignored
  std::map<int, uint64_t> skipped;      // node type -> nodes replayed as zero-time (METADATA, INVALID, unknown)
  uint64_t host_comm_nodes = 0;         // COMM nodes with is_cpu_op: the host side of a GPU collective
  uint64_t inferred_comm_type = 0;      // comm_type from the node's name
  uint64_t inferred_comm_size = 0;      // comm_size from the node's input tensors
  uint64_t comm_without_size = 0;       // neither comm_size nor input tensors: 0 bytes
  uint64_t inferred_peers = 0;          // send/recv peers from "nccl:send a->b" / "nccl:recv a<-b" parents
  uint64_t ctrl_missing = 0;            // ctrl_deps naming no node of the file: dropped
  uint64_t ctrl_self = 0;               // ctrl_deps naming the node itself: dropped
  uint64_t ctrl_cyclic_files = 0;       // files whose ctrl_deps close cycles with data_deps: ctrl_deps ignored
  void Add(const ReadCounts& o);
  std::vector<std::string> Lines() const;  // one warning line per non-zero count
};

struct RawRank {
  TraceRank rank;
  // Per node, before groups are known.
  std::vector<std::string> pg_names;  // pg_name of comm nodes ("" = none)
  // nodes[i].deps[0 .. data_deps[i]) are data dependencies, the rest control dependencies (until OrderRank).
  std::vector<uint32_t> data_deps;
  std::vector<std::pair<std::string, std::vector<int64_t>>> declared_groups;  // metadata pg:<name>, trace ranks
  std::vector<PyTorchGroup> pytorch_groups;                                   // from a `## process_group:init ##` node
  // Sends/receives whose peer came from a PyTorch op name: a rank of the node's process group (BuildGroups maps it
  // to a trace rank).
  std::vector<uint32_t> group_rank_peers;
  // The file's comm_size convention: false = Chakra/ASTRA-sim (all-gather comm_size is each rank's input), true =
  // nccl-tests (all-gather comm_size is the output; clustersim exports before the convention attribute).
  bool ag_output_sizes = false;
  std::string precision;
  int64_t tokens = -1, world = -1;
  double model_flops = -1;
  ReadCounts counts;
};

// Reads one rank's file (plain or gzip): metadata (if record 0 is one), nodes, dependencies by index (missing or
// self ctrl_deps dropped and counted; a missing data dependency is an error). Throws InputError naming `file`.
void ReadRank(const std::string& file, std::string_view bytes, RawRank& out);

// Node reference for messages: `node <id> ("<name>")`.
std::string NodeRef(const TraceRank& r, uint32_t i);
[[noreturn]] void Fail(const std::string& file, const std::string& what, const std::string& value,
                       const std::string& rule);
[[noreturn]] void FailNode(const TraceRank& r, uint32_t i, const std::string& field, const std::string& value,
                           const std::string& rule);

}  // namespace clustersim::wl::chakra
