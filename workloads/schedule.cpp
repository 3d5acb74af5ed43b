#include "workloads/schedule.h"

#include <algorithm>

namespace clustersim::wl {
namespace {

void Gpipe(uint32_t m, std::vector<Task>* out) {
  for (uint32_t i = 0; i < m; ++i) out->push_back({true, false, 0, i});
  for (uint32_t i = 0; i < m; ++i) out->push_back({false, false, 0, i});
}

void OneFOneB(uint32_t pp, uint32_t m, uint32_t rank, std::vector<Task>* out) {
  const uint32_t warmup = std::min(pp - rank - 1, m);
  for (uint32_t i = 0; i < warmup; ++i) out->push_back({true, false, 0, i});
  for (uint32_t i = 0; i < m - warmup; ++i) {
    out->push_back({true, true, 0, warmup + i});
    out->push_back({false, false, 0, i});
  }
  for (uint32_t i = m - warmup; i < m; ++i) out->push_back({false, false, 0, i});
}

// Megatron-LM forward_backward_pipelining_with_interleaving.
void Interleaved(uint32_t pp, uint32_t vpp, uint32_t m, uint32_t rank, std::vector<Task>* out) {
  const uint32_t total = m * vpp;
  const uint32_t warmup = std::min((pp - rank - 1) * 2 + (vpp - 1) * pp, total);
  const uint32_t steady = total - warmup;
  const uint32_t group = pp * vpp;
  auto chunk_of = [&](uint32_t k, bool forward) {
    const uint32_t c = (k % group) / pp;
    return static_cast<uint16_t>(forward ? c : vpp - 1 - c);
  };
  auto mb_of = [&](uint32_t k) { return (k / group) * pp + k % pp; };
  for (uint32_t k = 0; k < warmup; ++k) out->push_back({true, false, chunk_of(k, true), mb_of(k)});
  for (uint32_t k = 0; k < steady; ++k) {
    const uint32_t f = warmup + k;
    out->push_back({true, true, chunk_of(f, true), mb_of(f)});
    out->push_back({false, false, chunk_of(k, false), mb_of(k)});
  }
  for (uint32_t k = steady; k < total; ++k) out->push_back({false, false, chunk_of(k, false), mb_of(k)});
}

// deepseek-ai/DualPipe dualpipev.py, steps 1-8, with each backward holding its weight-gradient pass.
void DualPipeV(uint32_t pp, uint32_t m, uint32_t rank, std::vector<Task>* out) {
  uint32_t next_f[2] = {0, 0}, next_b[2] = {0, 0};
  auto f = [&](uint16_t c, bool pair) { out->push_back({true, pair, c, next_f[c]++}); };
  auto b = [&](uint16_t c) { out->push_back({false, false, c, next_b[c]++}); };
  const bool last = rank == pp - 1;
  for (uint32_t i = 0; i < (pp - rank - 1) * 2; ++i) f(0, false);  // step 1: nF0
  for (uint32_t i = 0; i < rank + 1; ++i) {                        // step 2: nF0F1
    f(0, false);
    f(1, false);
  }
  for (uint32_t i = 0; i < pp - rank - 1; ++i) {  // step 3: nB1F1
    b(1);
    f(1, false);
  }
  for (uint32_t i = 0; i < m - pp * 2 + rank + 1; ++i) {  // step 4: nF0B1F1B0
    f(0, !(i == 0 && last));
    b(1);
    f(1, true);
    b(0);
  }
  for (uint32_t i = 0; i < pp - rank - 1; ++i) {  // step 5: nB1F1B0
    b(1);
    f(1, true);
    b(0);
  }
  for (uint32_t i = 0; i < rank + 1; ++i) {  // step 6: nB1B0
    b(1);
    b(0);
  }
  for (uint32_t i = 0; i < pp - rank - 1; ++i) b(0);  // step 7: nB0
}

}  // namespace

std::vector<Task> BuildTaskOrder(Schedule schedule, uint32_t pp, uint32_t chunks, uint32_t microbatches,
                                 uint32_t rank) {
  std::vector<Task> out;
  out.reserve(size_t{2} * chunks * microbatches);
  switch (schedule) {
    case Schedule::kGPipe:
      Gpipe(microbatches, &out);
      break;
    case Schedule::k1F1B:
      OneFOneB(pp, microbatches, rank, &out);
      break;
    case Schedule::kInterleaved:
      Interleaved(pp, chunks, microbatches, rank, &out);
      break;
    case Schedule::kDualPipe:
      DualPipeV(pp, microbatches, rank, &out);
      break;
  }
  return out;
}

uint32_t VirtualStage(Schedule schedule, uint32_t pp, uint32_t rank, uint32_t chunk) {
  if (schedule == Schedule::kDualPipe) return chunk == 0 ? rank : 2 * pp - 1 - rank;
  return chunk * pp + rank;
}

StageChunk StageOfVirtual(Schedule schedule, uint32_t pp, uint32_t v) {
  if (schedule == Schedule::kDualPipe) return v < pp ? StageChunk{v, 0} : StageChunk{2 * pp - 1 - v, 1};
  return StageChunk{v % pp, v / pp};
}

}  // namespace clustersim::wl
