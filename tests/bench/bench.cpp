// clustersim_bench: the performance benchmark suite (`cmake --build build --target bench`).
//
// Runs every scenario of a directory (text-format clustersim.v1.ValidationCase files without expectations: a
// scenario, plus a `collective` block for collective microbenchmarks) and prints, per scenario, wall time and peak
// memory of the SimGrid process, the simulated step (or collective) time, SimGrid flows and phase solves, and the
// ratio to the targets of issue #9 (training step: 60 s and 8 GiB; collective: 10 s and 4 GiB) and issue #21 (a
// serving fleet, `serving` block: 60 s and 8 GiB; the simulated time is its measured window). `--json FILE`
// writes the same rows as JSON so runs can be compared over time. Timing is measured, never asserted.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "sim/scenario_loader.h"
#include "sim/serving_simulation.h"
#include "sim/simulation.h"
#include "validation.pb.h"

namespace {

struct Row {
  std::string name;
  std::string kind;
  uint32_t gpus = 0;
  double wall_s = 0, rss_mib = 0, simulated_s = 0;
  uint64_t flows = 0, solves = 0, events = 0;
  double target_wall_s = 0, target_rss_mib = 0;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace clustersim;
  const char* usage = "usage: clustersim_bench DIR [--json FILE] [--filter REGEX]\n";
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cerr << usage;
    return argc < 2 ? 2 : 0;
  }
  std::string dir = argv[1], json_out, filter = ".*";
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc || (flag != "--json" && flag != "--filter")) {
      std::cerr << "clustersim_bench: unknown or incomplete option \"" << flag << "\"\n" << usage;
      return 2;
    }
    (flag == "--json" ? json_out : filter) = argv[i + 1];
  }
  std::vector<std::string> files;
  std::regex pattern;
  try {
    pattern = std::regex(filter);
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".textproto" && std::regex_search(e.path().filename().string(), pattern))
        files.push_back(e.path().string());
  } catch (const std::exception& e) {
    std::cerr << "clustersim_bench: " << dir << ": " << e.what() << "\n" << usage;
    return 2;
  }
  std::sort(files.begin(), files.end());
  std::vector<Row> rows;
  std::cout << fmt::format("{:<34} {:>7} {:>9} {:>9} {:>12} {:>9} {:>6} {:>8} {:>10} {:>9}\n", "scenario", "GPUs", "wall(s)",
                           "RSS(MiB)", "simulated(s)", "flows", "solves", "events", "wall/tgt", "RSS/tgt");
  try {
    for (const std::string& f : files) {
      v1::ValidationCase c;
      sim::LoadedScenario loaded;
      loaded.file = f;
      const sim::FieldLines lines = sim::ParseTextMessage(Slurp(f), &c, f);
      loaded.scenario = c.scenario();
      const v1::Scenario s = sim::ResolveScenario(loaded);
      Row r;
      r.name = std::filesystem::path(f).stem().string();
      r.gpus = s.cluster().num_gpus();
      const auto t0 = std::chrono::steady_clock::now();
      if (c.has_collective()) {
        const sim::CollectiveBenchSpec spec = sim::BenchSpecOf(c.collective());
        const auto res = sim::SimulateCollective(s, spec);
        r.kind = "collective/" + res.at(0).algorithm;
        r.simulated_s = res.at(0).time_s;
        r.flows = res.at(0).flows;
        r.rss_mib = res.at(0).peak_rss_mib;
        r.events = res.at(0).events;
        r.target_wall_s = 10;
        r.target_rss_mib = 4096;
      } else if (s.has_serving()) {  // a serving fleet: the simulated window, issue #21's target 60 s and 8 GiB
        const v1::RunResult res = sim::SimulateServing(s);
        r.kind = "serve/" + res.serving().cell();
        r.simulated_s = res.serving().window_s();
        r.flows = res.sim().flows();
        r.solves = res.sim().phase_solves();
        r.events = res.serving().iterations_simulated();
        r.rss_mib = res.sim().peak_rss_mib();
        r.target_wall_s = 60;
        r.target_rss_mib = 8192;
      } else {
        const v1::RunResult res = sim::SimulateStep(s);
        r.kind = "step";
        r.simulated_s = res.step_time_s();
        r.flows = res.sim().flows();
        r.solves = res.sim().phase_solves();
        r.events = res.sim().events();
        r.rss_mib = res.sim().peak_rss_mib();
        r.target_wall_s = 60;
        r.target_rss_mib = 8192;
      }
      r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cout << fmt::format("{:<34} {:>7} {:>9.2f} {:>9.0f} {:>12.4g} {:>9} {:>6} {:>8} {:>10.2f} {:>9.2f}\n", r.name,
                               r.gpus, r.wall_s, r.rss_mib, r.simulated_s, r.flows, r.solves, r.events,
                               r.wall_s / r.target_wall_s, r.rss_mib / r.target_rss_mib)
                << std::flush;
      rows.push_back(r);
    }
  } catch (const std::exception& e) {
    std::cerr << "clustersim_bench: " << e.what() << "\n";
    return 1;
  }
  if (!json_out.empty()) {
    std::ofstream out(json_out);
    out << "[\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      out << fmt::format(
          "  {{\"scenario\": \"{}\", \"kind\": \"{}\", \"gpus\": {}, \"wall_s\": {:.3f}, \"peak_rss_mib\": {:.0f}, "
          "\"simulated_s\": {:.6g}, \"flows\": {}, \"phase_solves\": {}, \"events\": {}, \"wall_over_target\": {:.3f}, "
          "\"rss_over_target\": {:.3f}}}{}\n",
          r.name, r.kind, r.gpus, r.wall_s, r.rss_mib, r.simulated_s, r.flows, r.solves, r.events, r.wall_s / r.target_wall_s,
          r.rss_mib / r.target_rss_mib, i + 1 < rows.size() ? "," : "");
    }
    out << "]\n";
  }
  return 0;
}
