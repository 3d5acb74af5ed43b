// Hash helpers shared by the symmetry and class reductions (comm_cost.cpp, flow_classes.cpp): deterministic 64-bit
// mixing (splitmix64's finalizer) and the bit pattern of a double.
#pragma once

#include <cstdint>
#include <cstring>

namespace clustersim::sim {

// Mixes `v` into the running hash `h`.
inline uint64_t Mix(uint64_t h, uint64_t v) {
  v += 0x9e3779b97f4a7c15ULL + h;
  v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
  v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
  return v ^ (v >> 31);
}

// The bits of `d`, to hash a double exactly.
inline uint64_t Bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

}  // namespace clustersim::sim
