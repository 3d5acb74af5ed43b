// Validation against published measurements (`clustersim validate`): runs each case file (proto/validation.proto),
// compares every expected quantity with the simulated one, and renders the table, the per-category summary and the
// Markdown report that docs/validation.md is generated from.
//
// A case passes a quantity when |simulated - measured| <= tolerance_abs, or |error %| <= tolerance_pct. Cases marked
// `calibration` are the ones the calibration was fitted on; the summary reports them apart from the held-out cases.
#pragma once

#include <string>
#include <vector>

#include "sim/scenario_loader.h"
#include "validation.pb.h"

namespace clustersim::results {

struct ValidationRow {
  std::string case_id;
  std::string category;
  std::string quantity;
  std::string source;
  bool calibration = false;
  double measured = 0;
  double simulated = 0;
  double error_pct = 0;      // (simulated - measured) / measured x 100
  double tolerance_pct = 0;  // 0 when the band is absolute
  double tolerance_abs = 0;
  bool pass = false;
  std::string note;          // case notes, or the error if the case could not run
  double wall_s = 0;
};

// Expands directories (every *.textproto inside, sorted) and keeps files as given.
std::vector<std::string> ExpandCaseFiles(const std::vector<std::string>& paths);
// A case file as read: the case, the line of every field written (for messages) and the file name.
struct LoadedCase {
  v1::ValidationCase spec;
  sim::FieldLines lines;
  std::string file;
};
// Reads and checks one case file; throws InputError naming the file, line and field.
LoadedCase LoadCase(const std::string& path);
// Checks a case given as text (text format); `path` names it in messages.
LoadedCase ParseCase(const std::string& text, const std::string& path);
// Runs one case; a case whose simulation fails, or whose training plan clustersim predicts not to fit in the
// accelerator's memory, yields rows with pass = false, error_pct NaN and the reason in `note`. Bad input in the case
// throws InputError.
std::vector<ValidationRow> RunCase(const LoadedCase& loaded);

std::string RenderTable(const std::vector<ValidationRow>& rows);
std::string RenderSummary(const std::vector<ValidationRow>& rows);
// The Markdown body of docs/validation.md: summary, full table, and the misses with their notes.
std::string RenderMarkdown(const std::vector<ValidationRow>& rows);

}  // namespace clustersim::results
