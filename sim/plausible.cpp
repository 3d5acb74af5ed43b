#include "sim/plausible.h"

#include <fmt/format.h>

#include <cmath>

namespace clustersim {

std::string ImplausibleRule(double v, const PlausibleRange& r) {
  if (v == 0 || !std::isfinite(v) || (v >= r.lo && v <= r.hi)) return "";
  std::string hint;
  if (v >= r.hi * 1000) hint = "; it looks like it was given in a unit 1000 or more times smaller";
  if (v > 0 && v <= r.lo / 1000) hint = "; it looks like it was given in a unit 1000 or more times larger";
  return fmt::format("outside the plausible range [{}, {}] {} (e.g. {}){}", r.lo, r.hi, r.unit, r.example, hint);
}

}  // namespace clustersim
