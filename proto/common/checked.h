// Checked integer arithmetic for products of counts read from the input (parallel sizes, layers x micro-batches):
// a product that does not fit is reported as bad input by the caller instead of wrapping around (a wrapped product
// of parallel sizes can be 0 and end in a division by zero).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace clustersim {

// The product of `factors`, or nullopt when it does not fit in 64 bits.
inline std::optional<uint64_t> CheckedProduct(std::initializer_list<uint64_t> factors) {
  uint64_t p = 1;
  for (const uint64_t f : factors)
    if (__builtin_mul_overflow(p, f, &p)) return std::nullopt;
  return p;
}

}  // namespace clustersim
