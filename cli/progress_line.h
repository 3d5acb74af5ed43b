// The progress line of long commands on a terminal: one line on stderr, redrawn in place at most ten times a second
// (and whenever the nesting of the work changes)
// ("clustersim: stage 3/4 (communication and step) | phase solves 120/381, ETA 41 s") and erased when the command
// ends. Off (every function a no-op) unless stderr is a terminal and -q was not given.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "common/progress.h"

namespace clustersim::cli {

// One update as text: the levels joined by " | ", each "what done/total (item)" with the ETA of the innermost
// level that has one. Pure (for tests).
std::string FormatProgress(const std::vector<ProgressLevel>& levels);

class ProgressLine {
 public:
  // Enabled when `quiet` is false and stderr is a terminal.
  explicit ProgressLine(bool quiet);
  ~ProgressLine();  // erases the line
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // The function to give to the library; empty when disabled, so nothing is even computed.
  ProgressFn Fn();
  // A stream for whole log lines (sweep points) that erases the progress line before each write; the next update
  // redraws it. Writes to std::cerr; usable when disabled.
  std::ostream& Log();

 private:
  void Draw(const std::vector<ProgressLevel>& levels);
  void Erase();

  class EraseBuf;
  bool enabled_ = false;
  bool shown_ = false;
  double last_draw_s_ = -1;
  std::string last_shape_;
  std::unique_ptr<EraseBuf> buf_;
  std::unique_ptr<std::ostream> log_;
};

}  // namespace clustersim::cli
