// Progress of long work (a 10^5-GPU step, a plan search, a sweep), reported to whoever asked for it: the command
// line draws it on a terminal (cli/progress_line.h), the Python module calls a function. Nothing is reported unless
// a caller passes a ProgressFn, so library code stays silent by default.
//
// Work nests (a sweep's points, each point's simulation stages, a stage's phase solves): an update holds one level
// per nesting, outermost first. ProgressTask keeps one level and nests inner work under it:
//
//   ProgressTask points(progress, "points", n);        // reports [points 0/n]
//   points.Start(label);                               // reports [points 0/n (label)]
//   RunStep(s, source, points.Inner());                // inner updates arrive as [points 0/n (label), stage ...]
//   points.Finish();                                   // reports [points 1/n]
//
// Times are wall-clock seconds (std::chrono::steady_clock). Header-only; no state outside the objects.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace clustersim {

struct ProgressLevel {
  std::string what;      // what is counted: "points", "candidates", "trials", "stage", "phase solves"
  uint64_t done = 0;     // items finished
  uint64_t total = 0;    // items in all; 0 = not known in advance
  std::string item;      // the item under way (a point's label, a stage's name); may be empty
  double elapsed_s = 0;  // since this level began
  double eta_s = -1;     // estimated seconds until done == total; < 0 = not known yet
};

// Receives every update. Called on the caller's thread (simulation processes forward theirs to the parent, see
// sim/child_process.h). May throw to abandon the work (the Python module's callbacks do); the exception propagates.
using ProgressFn = std::function<void(const std::vector<ProgressLevel>&)>;

// What an update says beyond the innermost count: the nesting, the count of every outer level and the item under way
// ("points 3/stage 2/phase solves/"). Renderers that throttle still pass on every change of it, so a new stage, point
// or candidate is always shown while a fast counter (phase solves, trials) is thinned out.
inline std::string ProgressShape(const std::vector<ProgressLevel>& levels) {
  std::string shape;
  for (size_t i = 0; i < levels.size(); ++i) {
    shape += levels[i].what;
    if (i + 1 < levels.size()) shape += ' ' + std::to_string(levels[i].done);
    shape += '/';
  }
  if (!levels.empty()) shape += levels.back().item;
  return shape;
}

// One level of progress over `total` items. Reports to `parent` when it is set; cheap when it is not. The ETA assumes
// items of similar cost; `estimate_eta` false leaves it unknown (steps of very different lengths, such as the stages
// of a simulation).
class ProgressTask {
 public:
  ProgressTask(ProgressFn parent, std::string what, uint64_t total, bool estimate_eta = true)
      : parent_(std::move(parent)), started_(std::chrono::steady_clock::now()), estimate_eta_(estimate_eta) {
    level_.what = std::move(what);
    level_.total = total;
    Report({});
  }
  ProgressTask(const ProgressTask&) = delete;
  ProgressTask& operator=(const ProgressTask&) = delete;

  // Item `done` begins (its name is shown until the next Start or Finish).
  void Start(std::string item) {
    level_.item = std::move(item);
    Report({});
  }
  // The item under way is finished.
  void Finish() {
    ++level_.done;
    level_.item.clear();
    Report({});
  }
  // Sets the count directly (loops that finish many items between reports).
  void Set(uint64_t done, uint64_t total) {
    level_.done = done;
    level_.total = total;
    Report({});
  }
  uint64_t done() const { return level_.done; }

  // For nested work: its levels are reported under this one. Empty when this task reports to nobody. The returned
  // function refers to this task, which must outlive its use.
  ProgressFn Inner() {
    if (!parent_) return {};
    return [this](const std::vector<ProgressLevel>& inner) { Report(inner); };
  }

 private:
  void Report(const std::vector<ProgressLevel>& inner) {
    if (!parent_) return;
    level_.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    level_.eta_s =
        (estimate_eta_ && level_.done > 0 && level_.total >= level_.done)
            ? level_.elapsed_s / static_cast<double>(level_.done) * static_cast<double>(level_.total - level_.done)
            : -1;
    std::vector<ProgressLevel> levels;
    levels.reserve(1 + inner.size());
    levels.push_back(level_);
    levels.insert(levels.end(), inner.begin(), inner.end());
    parent_(levels);
  }

  ProgressFn parent_;
  std::chrono::steady_clock::time_point started_;
  bool estimate_eta_;
  ProgressLevel level_;
};

}  // namespace clustersim
