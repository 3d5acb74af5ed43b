// Sweeps; see sweep.h.
#include "planning/sweep.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/input_file.h"
#include "planning/goodput.h"
#include "planning/run.h"
#include "results/csv.h"
#include "results/html_report.h"
#include "results/projection.h"
#include "results/report.h"
#include "results/trace.h"
#include "sim/memory_guard.h"
#include "sim/scenario_loader.h"

namespace clustersim::planning {
namespace {

namespace pb = google::protobuf;
namespace fs = std::filesystem;

class FirstError : public pb::io::ErrorCollector {
 public:
  void AddError(int, pb::io::ColumnNumber, const std::string& message) override {
    if (message_.empty()) message_ = message;
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
  std::string message_;
};

// What one expanded point holds besides its scenario's own fields: the resolved accelerator, model and defaults,
// its label, values and hash (measured about 6 kB per point with a 2 kB scenario).
constexpr double kBytesPerPointBase = 4096;

// Key of element i of a repeated field in sim::FieldLines ("axes", "axes[1]").
std::string Elem(const std::string& path, int i) { return i > 0 ? path + "[" + std::to_string(i) + "]" : path; }

int LineOf(const sim::FieldLines& lines, std::initializer_list<std::string> keys) {
  for (const std::string& k : keys) {
    auto it = lines.find(k);
    if (it != lines.end()) return it->second;
  }
  return 0;
}

std::string Quoted(const std::string& v) { return "\"" + v + "\""; }

std::string FormatOf(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0 ? "json" : "textproto";
}

// Whether `path` lies under the directory `root` (both absolute, links resolved).
bool IsUnder(const fs::path& path, const fs::path& root) {
  const auto mismatch = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return mismatch.first == root.end();
}

// The base scenario's path: `value` relative to `base_dir`, which must lie (links resolved) under `base_dir` or one
// of `allowed_roots`; otherwise `fail` is called.
fs::path BaseScenarioPath(const std::string& value, const std::string& base_dir,
                          const std::vector<std::string>& allowed_roots,
                          const std::function<void(const std::string&)>& fail) {
  const fs::path folder = base_dir.empty() ? fs::path(".") : fs::path(base_dir);
  fs::path p(value);
  if (p.is_relative()) p = folder / p;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(fs::absolute(p, ec), ec);
  std::vector<fs::path> roots{fs::weakly_canonical(fs::absolute(folder, ec), ec)};
  for (const std::string& r : allowed_roots) roots.push_back(fs::weakly_canonical(fs::absolute(r, ec), ec));
  for (const fs::path& root : roots)
    if (!real.empty() && !root.empty() && IsUnder(real, root)) return p;
  fail("must name a file under the sweep file's folder (" + roots.front().string() +
       ") or under a folder given with --allow-root");
  return p;
}

// FNV-1a (64 bit) of the deterministic binary serialization of the resolved scenario and the version.
std::string HashOf(const v1::Scenario& s) {
  std::string bytes;
  {
    pb::io::StringOutputStream sos(&bytes);
    pb::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    s.SerializeToCodedStream(&cos);
  }
  bytes += CLUSTERSIM_VERSION;
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

std::string PointJson(const pb::Message& m) { return results::MessageJson(m, "sweep JSON"); }

// The result as it goes into the table: no timelines, no quantities that vary from run to run.
v1::RunResult TableResult(const v1::RunResult& full) {
  v1::RunResult r = full;
  r.clear_timeline();
  r.clear_power_timeline();
  if (r.has_serving()) r.mutable_serving()->clear_samples();
  r.mutable_sim()->set_wall_s(0);
  r.mutable_sim()->set_peak_rss_mib(0);
  return r;
}

std::string Describe(const SweepPlan& plan, const SweepPointSpec& p) {
  std::string d;
  for (size_t c = 0; c < plan.columns.size(); ++c)
    d += (d.empty() ? "" : " ") + plan.columns[c] + "=" + p.values[c];
  return d;
}

// Applies one setting and rethrows a failure as "file:line: field = "value": <where>: rule".
void Apply(v1::Scenario& s, const std::string& field, const std::string& value, const std::string& file, int line,
           const std::string& where) {
  try {
    SetFieldByPath(s, field, value);
  } catch (const InputError& e) {
    throw InputError::Field(file, line, field.empty() ? "\"\"" : field, Quoted(value), where + ": " + e.what());
  }
}

// Every point's finished result in out_dir, or nullopt.
std::vector<std::optional<v1::SweepPointResult>> LoadFinished(const SweepPlan& plan, const std::string& out_dir) {
  std::vector<std::optional<v1::SweepPointResult>> out;
  out.reserve(plan.points.size());
  for (const SweepPointSpec& p : plan.points) out.push_back(ReadPointFile(out_dir, p));
  return out;
}

}  // namespace

void SetFieldByPath(pb::Message& msg, const std::string& path, const std::string& value) {
  pb::Message* m = &msg;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    const std::string name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const pb::FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(name);
    if (f == nullptr)
      throw InputError("no field \"" + name + "\" in " + m->GetDescriptor()->name() +
                       " (see docs/scenario-format.md for the field paths)");
    if (dot != std::string::npos) {
      if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated())
        throw InputError("\"" + name + "\" is not a message: no field can be selected inside it");
      m = m->GetReflection()->MutableMessage(m, f);
      start = dot + 1;
      continue;
    }
    const bool message = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE;
    if (message && (value.empty() || (value[0] != '{' && value[0] != '<' && value[0] != '['))) {
      throw InputError("\"" + name + "\" is a message (" + f->message_type()->name() +
                       "): give it whole in text format, \"{ ... }\"" + (f->is_repeated() ? " or \"[{ ... }, ...]\"" : "") +
                       ", or set one of its fields, e.g. " + path + ".<field>");
    }
    const pb::Reflection* refl = m->GetReflection();
    if (f->type() == pb::FieldDescriptor::TYPE_STRING && !f->is_repeated() &&
        (value.empty() || (value[0] != '"' && value[0] != '\''))) {
      refl->SetString(m, f, value);
      return;
    }
    std::unique_ptr<pb::Message> scratch(m->New());
    pb::TextFormat::Parser parser;
    FirstError errors;
    parser.RecordErrorsTo(&errors);
    const std::string type = message ? f->message_type()->name() + " message" : std::string(f->type_name());
    const std::string kind = f->is_repeated() ? "list of " + type : type;
    if (!parser.ParseFromString(name + ": " + value, scratch.get()))
      throw InputError("not a valid " + kind + " value (" + errors.message_ + ")");
    std::vector<const pb::FieldDescriptor*> set;
    scratch->GetReflection()->ListFields(*scratch, &set);
    for (const pb::FieldDescriptor* other : set)
      if (other != f) throw InputError("not a valid " + kind + " value (it sets \"" + other->name() + "\" too)");
    refl->ClearField(m, f);
    refl->SwapFields(m, scratch.get(), {f});
    return;
  }
}

SweepPlan ParseSweep(const std::string& text, const std::string& format, const std::string& name,
                     const std::string& base_dir, const std::vector<std::string>& allowed_roots) {
  SweepPlan plan;
  plan.file = name;
  sim::FieldLines lines;
  CheckUtf8Text(text, name, "sweep");
  if (format == "json") {
    sim::ParseJsonMessage(text, &plan.sweep, name);
  } else {
    lines = sim::ParseTextMessage(text, &plan.sweep, name);
  }
  const v1::Sweep& sw = plan.sweep;
  auto fail = [&](const std::string& field, const std::string& value, const std::string& rule) {
    throw InputError::Field(name, LineOf(lines, {field}), field, value, rule);
  };

  // Base scenario.
  sim::LoadedScenario base;
  if (!sw.base_scenario().empty() && sw.has_scenario())
    fail("base_scenario", Quoted(sw.base_scenario()), "give either base_scenario or scenario, not both");
  if (!sw.base_scenario().empty()) {
    const fs::path p = BaseScenarioPath(sw.base_scenario(), base_dir, allowed_roots, [&](const std::string& rule) {
      fail("base_scenario", Quoted(sw.base_scenario()), rule);
    });
    try {
      base = sim::LoadScenarioFile(p.string());
    } catch (const InputError& e) {
      throw InputError(name + ":" + std::to_string(LineOf(lines, {"base_scenario"})) + ": base_scenario: " +
                       e.what());
    }
  } else if (sw.has_scenario()) {
    base.scenario = sw.scenario();
    base.file = name;
    for (const auto& [k, line] : lines)
      if (k.rfind("scenario.", 0) == 0) base.lines.emplace(k.substr(9), line);
  } else {
    fail("base_scenario", "\"\"", "required: a scenario file (relative to the sweep file) or an inline scenario");
  }

  // Axes and columns.
  const std::string mode = sw.mode().empty() ? "grid" : sw.mode();
  if (mode != "grid" && mode != "list") fail("mode", Quoted(sw.mode()), "must be one of: grid, list");
  if (sw.axes_size() == 0 && sw.points_size() == 0)
    fail("axes", "[]", "a sweep needs at least one axis or one explicit point");
  if (sw.points_size() > 0) plan.columns.push_back("point");
  for (int a = 0; a < sw.axes_size(); ++a) {
    const v1::SweepAxis& ax = sw.axes(a);
    const std::string key = Elem("axes", a);
    if (ax.field().empty()) fail(key + ".field", "\"\"", "required: a dotted scenario field path");
    if (ax.values_size() == 0)
      fail(key + ".values", "[]", "axis " + ax.field() + " needs at least one value");
    if (mode == "list" && ax.values_size() != sw.axes(0).values_size())
      fail(key + ".values", std::to_string(ax.values_size()) + " values",
           "mode \"list\" zips the axes: every axis needs as many values as the first (" +
               std::to_string(sw.axes(0).values_size()) + ")");
    plan.columns.push_back(ax.name().empty() ? ax.field() : ax.name());
    // Check the field and every value once, on the base, with the line of the value.
    for (int v = 0; v < ax.values_size(); ++v) {
      v1::Scenario scratch = base.scenario;
      Apply(scratch, ax.field(), ax.values(v), name,
            LineOf(lines, {Elem(key + ".values", v), key + ".field", key}), "axis " + std::to_string(a + 1));
    }
  }
  std::set<std::string> seen;
  for (const std::string& c : plan.columns)
    if (!seen.insert(c).second) fail("axes", Quoted(c), "two columns have the same name: set axes.name");
  // Every "{name}" of the label template must name a column ("point" or an axis).
  for (size_t open = sw.label().find('{'); open != std::string::npos; open = sw.label().find('{', open + 1)) {
    const size_t close = sw.label().find('}', open);
    const std::string ref = close == std::string::npos ? "" : sw.label().substr(open + 1, close - open - 1);
    if (seen.count(ref) == 0) {
      std::string names;
      for (const std::string& c : plan.columns) names += (names.empty() ? "{" : ", {") + c + "}";
      fail("label", Quoted(sw.label()),
           (close == std::string::npos ? std::string("unclosed '{'") : "{" + ref + "} names no column") +
               "; the template may use " + names);
    }
  }
  for (int p = 0; p < sw.points_size(); ++p) {
    const std::string key = Elem("points", p);
    const v1::SweepPoint& pt = sw.points(p);
    for (int s = 0; s < pt.set_size(); ++s) {
      v1::Scenario scratch = base.scenario;
      const std::string skey = Elem(key + ".set", s);
      Apply(scratch, pt.set(s).field(), pt.set(s).value(), name,
            LineOf(lines, {skey + ".value", skey + ".field", skey, key}), "point " + std::to_string(p + 1));
    }
  }

  // Expansion: explicit points slowest, then the axes (grid: first axis slowest; list: zipped).
  const size_t n_explicit = sw.points_size() > 0 ? static_cast<size_t>(sw.points_size()) : 1;
  size_t n_axes = 1;
  if (sw.axes_size() > 0) {
    if (mode == "list") {
      n_axes = static_cast<size_t>(sw.axes(0).values_size());
    } else {
      for (const auto& ax : sw.axes()) n_axes *= static_cast<size_t>(ax.values_size());
    }
  }
  const size_t total = n_explicit * n_axes;
  if (total > 1000000) fail("axes", std::to_string(total) + " points", "a sweep is limited to 1,000,000 points");
  // Every point is held resolved until the sweep ends: guard that like a simulation (sim/memory_guard.h).
  const double per_point = kBytesPerPointBase + 2.0 * static_cast<double>(base.scenario.SpaceUsedLong());
  try {
    sim::RequireMemory(sim::MemoryNeed{0, 0, per_point * static_cast<double>(total)}, base.scenario, "sweep",
                       name, "axes", std::to_string(total) + " points");
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + " (a point holds its resolved scenario, about " +
                     std::to_string(static_cast<int>(per_point / 1000)) + " kB)");
  }
  plan.points.reserve(total);
  for (size_t e = 0; e < n_explicit; ++e) {
    for (size_t k = 0; k < n_axes; ++k) {
      SweepPointSpec spec;
      spec.index = static_cast<uint32_t>(plan.points.size());
      v1::Scenario s = base.scenario;
      std::string point_label;
      if (sw.points_size() > 0) {
        const v1::SweepPoint& pt = sw.points(static_cast<int>(e));
        point_label = pt.label().empty() ? "point " + std::to_string(e + 1) : pt.label();
        spec.values.push_back(point_label);
        for (const auto& st : pt.set()) SetFieldByPath(s, st.field(), st.value());
      }
      // Axis value indices for combination k: the last axis varies fastest.
      std::vector<size_t> idx(static_cast<size_t>(sw.axes_size()));
      size_t rest = k;
      for (int a = sw.axes_size() - 1; a >= 0; --a) {
        if (mode == "list") {
          idx[static_cast<size_t>(a)] = k;
        } else {
          const size_t n = static_cast<size_t>(sw.axes(a).values_size());
          idx[static_cast<size_t>(a)] = rest % n;
          rest /= n;
        }
      }
      for (int a = 0; a < sw.axes_size(); ++a) {
        const std::string& v = sw.axes(a).values(static_cast<int>(idx[static_cast<size_t>(a)]));
        SetFieldByPath(s, sw.axes(a).field(), v);
        spec.values.push_back(v);
      }
      // Label.
      if (sw.label().empty()) {
        for (const std::string& v : spec.values) spec.label += (spec.label.empty() ? "" : " ") + v;
      } else {
        spec.label = sw.label();
        for (size_t c = 0; c < plan.columns.size(); ++c) {
          const std::string pat = "{" + plan.columns[c] + "}";
          size_t at = spec.label.find(pat);
          while (at != std::string::npos) {
            spec.label.replace(at, pat.size(), spec.values[c]);
            at = spec.label.find(pat, at + spec.values[c].size());
          }
        }
      }
      if (spec.label.empty()) spec.label = "point " + std::to_string(spec.index + 1);
      s.set_name(s.name().empty() ? spec.label : s.name() + " | " + spec.label);
      // Validate the point (cheap, before anything runs).
      sim::LoadedScenario lp = base;
      lp.scenario = std::move(s);
      try {
        spec.scenario = Resolve(lp);
      } catch (const InputError& err) {
        throw InputError(name + ": point " + std::to_string(spec.index + 1) + " of " + std::to_string(total) +
                         " (" + Describe(plan, spec) + ") is invalid: " + err.what());
      }
      spec.hash = HashOf(spec.scenario);
      plan.points.push_back(std::move(spec));
    }
  }
  return plan;
}

SweepPlan LoadSweep(const std::string& path, const std::vector<std::string>& allowed_roots) {
  const std::string text = ReadTextInputFile(path, "sweep file");
  return ParseSweep(text, FormatOf(path), path, fs::path(path).parent_path().string(), allowed_roots);
}

std::string PointFilePath(const std::string& out_dir, const SweepPointSpec& p) {
  return (fs::path(out_dir) / "points" / fmt::format("{:05d}-{}.json", p.index, p.hash)).string();
}

std::optional<v1::SweepPointResult> ReadPointFile(const std::string& out_dir, const SweepPointSpec& p) {
  const std::string path = PointFilePath(out_dir, p);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::string json;
  try {
    json = ReadInputFile(path, "sweep point file", kMaxResultInputBytes);
  } catch (const InputError&) {
    return std::nullopt;  // not a regular file, or too large: not a finished point
  }
  v1::SweepPointResult r;
  pb::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  if (!pb::util::JsonStringToMessage(json, &r, opts).ok()) return std::nullopt;
  if (r.index() != p.index || r.hash() != p.hash) return std::nullopt;
  if (r.error().empty() && !r.has_result()) return std::nullopt;
  return r;
}

std::vector<uint32_t> PendingPoints(const SweepPlan& plan, const std::string& out_dir) {
  std::vector<uint32_t> out;
  for (const SweepPointSpec& p : plan.points)
    if (!ReadPointFile(out_dir, p)) out.push_back(p.index);
  return out;
}

v1::SweepPointResult RunPoint(const SweepPlan& plan, uint32_t index, const ProgressFn& progress) {
  const SweepPointSpec& p = plan.points.at(index);
  v1::SweepPointResult r;
  r.set_index(p.index);
  r.set_hash(p.hash);
  r.set_label(p.label);
  for (const std::string& v : p.values) r.add_values(v);
  try {
    *r.mutable_result() = RunStep(p.scenario, {}, progress);
  } catch (const InputError& e) {
    r.set_error(e.what());
  }
  return r;
}

void SavePoint(const std::string& out_dir, const SweepPlan& plan, const v1::SweepPointResult& r) {
  results::MakeOutputDirectory(out_dir);
  results::MakeOutputDirectory((fs::path(out_dir) / "points").string(), /*subdir_of_output=*/true);
  results::WriteFileAtomic(PointFilePath(out_dir, plan.points.at(r.index())), PointJson(r));
}

std::string ProgressLine(const SweepPlan& plan, const v1::SweepPointResult& r, size_t done, double wall_s,
                         bool cached) {
  std::string line = fmt::format("[{}/{}] {}: ", done, plan.points.size(), Describe(plan, plan.points.at(r.index())));
  if (!r.error().empty()) {
    line += "FAILED: " + r.error();
  } else if (r.result().has_serving()) {
    const v1::ServeResult& sv = r.result().serving();
    line += fmt::format("{:.0f} output tok/s per GPU, TPOT p99 {:.1f} ms, ${:.3g} per 1M output tokens",
                        sv.output_tokens_per_s_per_gpu(), 1e3 * sv.tpot().p99_s(), sv.cost_usd_per_m_output_tokens());
  } else {
    line += fmt::format("{} step, MFU {:.1f}%", results::FormatSeconds(r.result().step_time_s()),
                        100 * r.result().mfu());
  }
  line += cached ? " (cached)" : fmt::format(", {:.1f} s wall", wall_s);
  return line;
}

std::string SweepCsv(const SweepPlan& plan, const std::vector<v1::SweepPointResult>& points) {
  const std::string step_header = results::StepCsv({});
  std::string out = "point_index,point_label";
  auto field = [&out](std::string_view text) {
    out += ',';
    out += results::CsvField(text);
  };
  for (const std::string& c : plan.columns) field(c);
  out += ",error,";
  out += step_header;
  const std::string empty_step(results::kStepCsvColumns.size() - 1, ',');
  for (const v1::SweepPointResult& r : points) {
    out += std::to_string(r.index());
    field(r.label());
    for (const std::string& v : r.values()) field(v);
    field(r.error());
    out += ',';
    if (r.error().empty()) {
      out += results::StepCsv({TableResult(r.result())}).substr(step_header.size());
    } else {
      out += empty_step + "\n";
    }
  }
  return out;
}

std::string SweepJson(const SweepPlan& plan, const std::vector<v1::SweepPointResult>& points) {
  v1::SweepTable t;
  t.set_name(plan.sweep.name());
  for (const std::string& c : plan.columns) t.add_columns(c);
  for (const v1::SweepPointResult& r : points) {
    v1::SweepPointResult* row = t.add_points();
    *row = r;
    if (r.has_result()) *row->mutable_result() = TableResult(r.result());
  }
  return PointJson(t);
}

void WriteSweepTable(const SweepPlan& plan, const std::vector<v1::SweepPointResult>& points,
                     const std::string& out_dir) {
  results::MakeOutputDirectory(out_dir);
  std::vector<std::pair<std::string, std::string>> files{{out_dir + "/sweep.csv", SweepCsv(plan, points)},
                                                         {out_dir + "/sweep.json", SweepJson(plan, points)}};
  std::vector<v1::RunResult> ok;
  std::vector<std::string> labels;
  const v1::SweepPointResult* first = nullptr;
  std::string timing = "point_index,point_label,wall_s,peak_rss_mib\n";
  for (const v1::SweepPointResult& r : points) {
    if (!r.error().empty()) continue;
    if (first == nullptr) first = &r;
    ok.push_back(TableResult(r.result()));
    labels.push_back(r.label());
    timing += fmt::format("{},{},{},{}\n", r.index(), results::CsvField(r.label()), r.result().sim().wall_s(),
                          r.result().sim().peak_rss_mib());
  }
  if (first != nullptr) {
    const std::vector<results::TraceEvent> timeline = results::TraceEventsOf(first->result().timeline());
    files.emplace_back(out_dir + "/report.html", results::HtmlReport(ok, timeline, labels));
  }
  files.emplace_back(out_dir + "/timing.csv", timing);
  results::WriteFilesAtomic(files);
}

std::vector<v1::SweepPointResult> GatherPoints(const SweepPlan& plan, const std::string& out_dir) {
  std::vector<v1::SweepPointResult> out;
  size_t missing = 0;
  uint32_t first_missing = 0;
  for (const SweepPointSpec& p : plan.points) {
    auto r = ReadPointFile(out_dir, p);
    if (r) {
      out.push_back(std::move(*r));
    } else if (missing++ == 0) {
      first_missing = p.index;
    }
  }
  if (missing > 0)
    throw InputError(fmt::format("{}: {} of {} points have no result in {}/points (first missing: point {}): run "
                                 "the remaining points or shards first",
                                 plan.file, missing, plan.points.size(), out_dir, first_missing + 1));
  return out;
}

SweepStats RunSweep(const SweepPlan& plan, const SweepOptions& o) {
  if (o.shard_count == 0 || o.shard_index >= o.shard_count)
    throw InputError::Field("", 0, "--shard", fmt::format("{}/{}", o.shard_index, o.shard_count),
                            "must be I/N with 0 <= I < N");
  SweepStats st;
  auto finished = LoadFinished(plan, o.out_dir);
  size_t done = 0;
  std::vector<std::string> crashed;
  uint64_t mine = 0;
  for (const SweepPointSpec& p : plan.points) mine += p.index % o.shard_count == o.shard_index ? 1 : 0;
  ProgressTask live(o.live, "points", mine);
  for (const SweepPointSpec& p : plan.points) {
    if (p.index % o.shard_count != o.shard_index) continue;
    auto& slot = finished[p.index];
    live.Set(done, mine);
    if (slot) {
      ++st.cached;
      if (!slot->error().empty()) ++st.failed;
      if (o.progress) *o.progress << ProgressLine(plan, *slot, ++done, 0, true) << std::endl;
      continue;
    }
    if (o.max_points > 0 && st.simulated >= o.max_points) continue;
    const auto t0 = std::chrono::steady_clock::now();
    live.Start(p.label);
    try {
      v1::SweepPointResult r = RunPoint(plan, p.index, live.Inner());
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      SavePoint(o.out_dir, plan, r);
      ++st.simulated;
      if (!r.error().empty()) ++st.failed;
      if (o.progress) *o.progress << ProgressLine(plan, r, ++done, wall, false) << std::endl;
      slot = std::move(r);
    } catch (const SimulationError& e) {
      ++st.simulated;
      crashed.push_back(fmt::format("point {} ({}): {}", p.index + 1, Describe(plan, p), e.what()));
      if (o.progress)
        *o.progress << fmt::format("[{}/{}] {}: SIMULATION FAILED (not saved): {}", ++done, plan.points.size(),
                                   Describe(plan, p), e.what())
                    << std::endl;
    }
  }
  // Other shards may have finished their points meanwhile.
  for (const SweepPointSpec& p : plan.points)
    if (!finished[p.index] && p.index % o.shard_count != o.shard_index) finished[p.index] = ReadPointFile(o.out_dir, p);
  std::vector<v1::SweepPointResult> all;
  for (auto& f : finished) {
    if (!f) {
      ++st.remaining;
      continue;
    }
    all.push_back(*f);
  }
  if (st.remaining == 0) {
    WriteSweepTable(plan, all, o.out_dir);
    st.table_written = true;
  }
  if (!crashed.empty()) {
    std::string msg = fmt::format("{} point(s) failed in the simulation and were not saved (rerun to retry):",
                                  crashed.size());
    for (const std::string& c : crashed) msg += "\n  " + c;
    throw SimulationError(msg);
  }
  return st;
}

}  // namespace clustersim::planning
