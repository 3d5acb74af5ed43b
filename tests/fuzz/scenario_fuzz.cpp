// libFuzzer target for the scenario reader (sim/scenario_loader.h, planning::Resolve): the input is a scenario in
// text format (built as scenario_text_fuzz) or JSON (scenario_json_fuzz, CLUSTERSIM_FUZZ_JSON). Reading, validating
// and resolving it must either succeed or throw InputError: never crash, hang, overflow or allocate without bound. A
// resolved scenario is also held to its memory estimate being finite. Built with clang only
// (tests/fuzz/CMakeLists.txt).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "planning/run.h"
#include "sim/memory_guard.h"
#include "sim/scenario_loader.h"
#include "tests/fuzz/fuzz_init.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustersim;
#ifdef CLUSTERSIM_FUZZ_JSON
  const char* format = "json";
#else
  const char* format = "textproto";
#endif
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const v1::Scenario s = planning::Resolve(sim::ParseScenario(text, format, "fuzz"));
    if (!std::isfinite(sim::EstimateStepMemory(s).total())) std::abort();
  } catch (const InputError&) {
  }
  return 0;
}
