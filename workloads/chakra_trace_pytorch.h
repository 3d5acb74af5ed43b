// What Chakra's PyTorch converter writes, read back (docs/trace-replay.md, "Traces from PyTorch"): collective kinds
// from node names, sizes from the Python-repr `inputs` of a node, the process-group table of the
// `## process_group:init ##` node and point-to-point peers from `nccl:send a->b` / `nccl:recv a<-b` names. Pure
// functions on strings, used by the reader (chakra_trace_read.cpp); no protobuf types in the interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clustersim::wl::chakra {

// Chakra's CollectiveCommType numbers (et_def.proto).
enum class CommType : int {
  kAllReduce = 0,
  kReduce = 1,
  kAllGather = 2,
  kGather = 3,
  kScatter = 4,
  kBroadcast = 5,
  kAllToAll = 6,
  kReduceScatter = 7,
  kReduceScatterBlock = 8,
  kBarrier = 9
};

// The collective a node name stands for, the way Chakra's converter types NCCL kernels (get_collective_comm_type):
// the name up to its first '(' without '_' and '-', lower-cased, searched for allreduce, alltoall, allgather,
// reducescatter, broadcast (in this order), then sendrecv (an all-to-all), barrier, and the rooted c10d ops reduce,
// gather, scatter. Covers `ncclKernel_AllReduce_RING_LL_Sum_float(...)`, `ncclDevKernel_AllGather_...`,
// `nccl:all_reduce`, `c10d::allreduce_`, `c10d::_reduce_scatter_base_`. nullopt when none matches.
std::optional<CommType> CommTypeFromName(std::string_view name);

// Transliterates a Python literal as `str()` writes it (PyTorch execution traces' `inputs.values` / `types`) into
// JSON: single-quoted strings become double-quoted, True/False/None become true/false/null, tuples become arrays.
// Everything else is copied; the result is then parsed by protobuf's JSON parser.
std::string PythonReprToJson(std::string_view repr);

// Bytes of the tensors among a node's inputs, as Chakra's converter computes comm_size (PyTorchNode.comm_size): for
// each input whose type contains "Tensor", numel x itemsize of the tensor value [id, storage, offset, numel,
// itemsize, device], summed over the list for "GenericList[Tensor...]" types. nullopt when the strings do not parse
// or hold no tensor.
std::optional<uint64_t> TensorBytesOfInputs(std::string_view values, std::string_view types);

// One entry of PyTorch's process-group table (torch.distributed's pg_config_info).
struct PyTorchGroup {
  std::string name;            // pg_name
  std::vector<int64_t> ranks;  // global ranks; empty = every rank of the job
  int64_t group_size = 0;      // ranks in the job's group (0 when absent)
};
// True for the node that holds the table: its name contains "process_group:init".
bool IsProcessGroupTableNode(std::string_view name);
// Parses the table from that node's `inputs.values`: the Python repr of a one-element list holding the JSON list
// (`['[{"pg_name": "0", "ranks": [], "group_size": 2, ...}]']`). nullopt when it does not parse.
std::optional<std::vector<PyTorchGroup>> ParseProcessGroupTable(std::string_view values);

// The peer named by a PyTorch point-to-point record function: "nccl:send <rank>-><peer>" (send = true) or
// "nccl:recv <rank><-<peer>" (send = false). nullopt for any other name.
std::optional<uint32_t> PeerFromName(std::string_view name, bool send);

}  // namespace clustersim::wl::chakra
