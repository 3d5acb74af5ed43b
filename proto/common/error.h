// Error types shared by every layer. Library code throws these; only main() turns them into exit codes
// (InputError -> 2, anything else -> 1). Messages name the file, the line where known, the field, the value and
// the rule that failed, e.g.
//   scenario.textproto:12: cluster.scale_out.nic_bandwidth_gbps = -400: must be > 0
#pragma once
#include <stdexcept>
#include <string>

namespace clustersim {

// Bad user input: a scenario, catalog entry, trace or sweep that breaks a rule.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
  // Builds "file:line: field = value: rule" (file and line omitted when empty / zero).
  static InputError Field(const std::string& file, int line, const std::string& field, const std::string& value,
                          const std::string& rule) {
    std::string m;
    if (!file.empty()) m += file + ":";
    if (line > 0) m += std::to_string(line) + ":";
    if (!m.empty()) m += " ";
    m += field + " = " + value + ": " + rule;
    return InputError(m);
  }
};

// A plan whose memory per GPU, as clustersim estimates it, exceeds the accelerator's HBM (sim::CheckMemoryFits). Bad
// input for `run` (exit 2 like any InputError); a prediction to compare for `validate`, where the measurement shows
// the plan ran.
class DoesNotFitError : public InputError {
 public:
  using InputError::InputError;
};

// A failure inside the simulation that is not the user's fault (a broken invariant, a crashed child process).
class SimulationError : public std::runtime_error {
 public:
  explicit SimulationError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace clustersim
