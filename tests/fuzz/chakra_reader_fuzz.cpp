// libFuzzer target for the Chakra ET reader (workloads/chakra_trace.h). The input is one rank's file, or, when its
// first byte is odd, two ranks' files split at the second byte's position; the reader must either load the trace or
// throw InputError: never crash, hang or allocate without bound. Built with clang only (tests/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "tests/fuzz/fuzz_init.h"
#include "workloads/chakra_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustersim;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  std::vector<wl::chakra::RankBuffer> ranks;
  if (size >= 2 && (data[0] & 1) != 0) {
    const size_t cut = 2 + (size - 2) * data[1] / 256;
    ranks.push_back({"fuzz.0.et", all.substr(2, cut - 2)});
    ranks.push_back({"fuzz.1.et", all.substr(cut)});
  } else {
    ranks.push_back({"fuzz.0.et", all});
  }
  try {
    const wl::chakra::Trace t = wl::chakra::LoadTraceFromBuffers(ranks);
    (void)t.nodes();
  } catch (const InputError&) {
  }
  return 0;
}
