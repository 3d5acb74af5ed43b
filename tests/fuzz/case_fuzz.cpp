// libFuzzer target for the validation case reader (results/validation.h, ParseCase): reading and checking a case
// (its scenario resolved, its collective block validated) must either succeed or throw InputError. Nothing is
// simulated.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "results/validation.h"

// Protobuf's own log lines (parse errors) would be printed for every input: the CLI silences them too (cli/main.cpp).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

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
