// libFuzzer target for the sweep reader (planning/sweep.h, ParseSweep): the input is a sweep file in text format, or
// JSON when it starts with '{'; its base_scenario may name the scenarios of tests/data/sweep (the folder the
// driver's folder gives as base_dir). Expanding and resolving every point must either succeed or throw InputError.
// Inputs that expand to more than 64 points are skipped (a sweep of a million points is legitimate, just slow).
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "planning/sweep.h"
#include "tests/fuzz/fuzz_init.h"

namespace {

// tests/data/sweep, found from this file's path (the build compiles it by its absolute path).
std::string SweepDataDir() {
  const std::string self = __FILE__;
  return self.substr(0, self.rfind('/') + 1) + "../data/sweep";
}

// Points the sweep would expand to, from a lenient parse (0 when it does not parse: ParseSweep reports that).
double PointsOf(const std::string& text, bool json) {
  clustersim::v1::Sweep sw;
  google::protobuf::TextFormat::Parser parser;
  parser.AllowPartialMessage(true);
  const bool ok =
      json ? google::protobuf::util::JsonStringToMessage(text, &sw).ok() : parser.ParseFromString(text, &sw);
  if (!ok) return 0;
  double n = sw.points_size() > 0 ? sw.points_size() : 1;
  for (const auto& ax : sw.axes()) n *= sw.mode() == "list" ? 1 : static_cast<double>(ax.values_size());
  if (sw.mode() == "list" && sw.axes_size() > 0) n *= sw.axes(0).values_size();
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustersim;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool json = !text.empty() && text[0] == '{';
  if (PointsOf(text, json) > 64) return 0;
  try {
    const planning::SweepPlan plan = planning::ParseSweep(text, json ? "json" : "textproto", "fuzz", SweepDataDir());
    (void)plan.points.size();
  } catch (const InputError&) {
  }
  return 0;
}
