// Pipeline schedules: the order in which one pipeline rank runs the forward and backward passes of its model
// chunks over the microbatches of a step, and where each virtual stage lives.
//
// Virtual stages v = 0 .. pp x chunks - 1 run in order (forward) through the model:
//   1f1b, gpipe:  one chunk per rank, v = rank.
//   interleaved:  Megatron-LM placement, v = chunk x pp + rank.
//   dualpipe:     V shape (DualPipeV), chunk 0: v = rank (down), chunk 1: v = 2 pp - 1 - rank (back up).
// Orders:
//   gpipe:        all forwards, then all backwards (microbatch order).
//   1f1b:         warm-up of min(pp - rank - 1, m) forwards, steady one-forward-one-backward, cool-down backwards.
//   interleaved:  Megatron-LM's order: warm-up (pp - rank - 1) x 2 + (vpp - 1) x pp forwards, chunk changing every
//                 pp microbatches; needs m % pp == 0.
//   dualpipe:     DualPipeV's eight steps (deepseek-ai/DualPipe, dualpipev.py) with the weight-gradient pass kept
//                 inside the backward (no zero-bubble B/W split); needs m >= 2 pp.
// `pair_with_next` marks a forward followed by a backward that run as an overlapped pair (1F1B steady state,
// interleaved steady state, DualPipe's F&B steps): their communication may hide behind each other's compute.
#pragma once

#include <cstdint>
#include <vector>

#include "workloads/plan.h"

namespace clustersim::wl {

struct Task {
  bool forward = true;
  bool pair_with_next = false;  // this forward and the next task (a backward) are an overlapped pair
  uint16_t chunk = 0;
  uint32_t microbatch = 0;
};

// The order of rank `rank` (0 .. pp-1). chunks = Plan::chunks(). Every (chunk, microbatch) appears once as a
// forward and once as a backward.
std::vector<Task> BuildTaskOrder(Schedule schedule, uint32_t pp, uint32_t chunks, uint32_t microbatches, uint32_t rank);

// Virtual stage of (rank, chunk), and its inverse.
uint32_t VirtualStage(Schedule schedule, uint32_t pp, uint32_t rank, uint32_t chunk);
struct StageChunk {
  uint32_t rank = 0, chunk = 0;
};
StageChunk StageOfVirtual(Schedule schedule, uint32_t pp, uint32_t virtual_stage);

}  // namespace clustersim::wl
