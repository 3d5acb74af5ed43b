// `clustersim replay` and `clustersim export`: Chakra execution traces in and out (docs/trace-replay.md). Each
// returns the process exit status; errors are thrown (InputError -> 2 in main).
#pragma once

#include <cstdint>
#include <string>

namespace clustersim::cli {

struct ReplayCmdOptions {
  std::string scenario;             // accelerator, cluster and fabric; its workload is ignored
  std::string trace;                // directory or prefix of <prefix>.<rank>.et[.gz]
  uint32_t replicas = 0;            // 0 = num_gpus / traced ranks
  std::string dp_pg;                // regex on pg_name: these groups grow across replicas
  bool recorded_durations = false;  // every GPU compute node by duration_micros (an error if one with num_ops lacks it)
  bool retime = false;              // GPU compute nodes with num_ops by the scenario's accelerator, not their durations
  std::string out_dir;              // result.json + summary.txt
  bool json = false;
};
int Replay(const ReplayCmdOptions& o);

struct ExportCmdOptions {
  std::string scenario;
  std::string out_dir;
  std::string prefix = "clustersim";
  bool replica_only = false;
  bool gzip = false;
};
int Export(const ExportCmdOptions& o);

}  // namespace clustersim::cli
