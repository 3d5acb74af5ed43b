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
  // Builds "file:line: field = value: rule" (file and line omitted when empty / zero). The field and the value come
  // from the input, so they are shown as Shown() does: control characters escaped, long ones cut.
  static InputError Field(const std::string& file, int line, const std::string& field, const std::string& value,
                          const std::string& rule) {
    std::string m;
    if (!file.empty()) m += file + ":";
    if (line > 0) m += std::to_string(line) + ":";
    if (!m.empty()) m += " ";
    m += Shown(field) + " = " + Shown(value) + ": " + rule;
    return InputError(m);
  }
  // `text` as messages show a value from the input: control characters as \xNN, and at most 120 bytes (a longer
  // value is cut and its length given), so that one message stays one short line.
  static std::string Shown(const std::string& text) {
    constexpr size_t kMax = 120;
    std::string out;
    size_t i = 0;
    for (; i < text.size() && out.size() < kMax; ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c < 0x20 || c == 0x7f) {
        static const char kHex[] = "0123456789abcdef";
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    if (i < text.size()) {
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();  // whole chars
      if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
      out += "... (" + std::to_string(text.size()) + " bytes)";
    }
    return out;
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
