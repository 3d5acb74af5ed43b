// libFuzzer target for the validation case reader (results/validation.h, ParseCase): reading and checking a case
// (its scenario resolved, its collective block validated) must either succeed or throw InputError. Nothing is
// simulated.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "results/validation.h"
#include "tests/fuzz/fuzz_init.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustersim;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const results::LoadedCase c = results::ParseCase(text, "fuzz.textproto");
    (void)c.spec.expected_size();
  } catch (const InputError&) {
  }
  return 0;
}
