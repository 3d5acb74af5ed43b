// Self-contained HTML report; see html_report.h.
#include "results/html_report.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "common/error.h"
#include "results/compare.h"
#include "results/html_parts.h"

namespace clustersim::results {

using namespace html;

namespace html {

// ---------------------------------------------------------------------------------------------------------------
// Styling.

const char* const kCss = R"css(
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9dee4; --panel: #ffffff; --bg: #f3f5f8; --accent: #2f6fb0; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
header.top { margin-bottom: 18px; }
header.top h1 { font-size: 24px; margin: 0 0 4px; font-weight: 650; letter-spacing: -0.01em; }
header.top .sub { color: var(--muted); margin: 0; }
.brand { color: var(--accent); font-weight: 700; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px 20px;
  margin: 0 0 18px; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); }
section h2 { font-size: 16px; margin: 0 0 4px; font-weight: 650; }
section p.note { color: var(--muted); margin: 0 0 12px; font-size: 13px; }
section p.warning { color: #c0392b; font-weight: 600; margin: 0 0 12px; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 0 0 18px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px;
  box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
.card .v { font-size: 22px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .d { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid #edf0f3; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; white-space: nowrap; }
thead th { font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); font-size: 13px; }
tr.section th { text-align: left; background: #f7f9fb; color: var(--accent); font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.05em; padding-top: 9px; }
td.indent { padding-left: 26px; color: var(--muted); }
td.text { text-align: right; white-space: normal; }
td.ratio, th.ratio { color: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 4px 0 10px; font-size: 12.5px; color: var(--muted); }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; }
.legend i.line { height: 3px; border-radius: 1px; }
.legend i.dash { width: 18px; height: 0; border-top: 2px dashed; border-radius: 0; }
.legend i.line { width: 18px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-size: 12px; fill: var(--ink); }
svg text.muted { fill: var(--muted); }
svg text.small { font-size: 11px; }
svg text.on-bar { fill: #ffffff; font-size: 11px; font-weight: 600; }
svg text.title { font-size: 13px; font-weight: 600; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; align-items: start; }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll table.metrics { width: auto; min-width: 100%; }
.scroll table th, .scroll table td { white-space: nowrap; }
.scroll table tr > :first-child { position: sticky; left: 0; background: var(--panel); z-index: 1; }
.scroll table tr.section > :first-child { background: #f7f9fb; }
details { margin: 6px 0; }
details summary { cursor: pointer; color: var(--accent); font-weight: 600; }
pre { background: #f7f9fb; border: 1px solid var(--line); border-radius: 8px; padding: 12px; overflow: auto;
  font: 12px/1.4 ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; max-height: 520px; }
ol.results { margin: 6px 0 0; padding-left: 0; list-style: none; }
ol.results li { margin: 2px 0; }
ol.results b { display: inline-block; min-width: 22px; color: var(--accent); }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 8px; }
)css";

// ---------------------------------------------------------------------------------------------------------------
// Numbers and units.

std::string F1(double v) { return fmt::format("{:.1f}", v); }

Unit TimeUnit(double max_s) {
  if (max_s >= 1) return {1, "s"};
  if (max_s >= 1e-3) return {1e-3, "ms"};
  return {1e-6, "\xC2\xB5s"};
}

Unit PowerUnit(double max_w) {
  if (max_w >= 1e6) return {1e6, "MW"};
  if (max_w >= 1e3) return {1e3, "kW"};
  return {1, "W"};
}

// Round tick values covering [0, max]: steps of 1, 2 or 5 x 10^k, about `target` of them.
std::vector<double> NiceTicks(double max, int target) {
  if (!(max > 0) || !std::isfinite(max)) return {0, 1};
  const double raw = max / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (int i = 0;; ++i) {
    const double t = step * i;
    ticks.push_back(t);
    if (t >= max * (1 - 1e-9)) break;
  }
  return ticks;
}

// Tick label with as many decimals as the tick step needs.
std::string TickLabel(double v, double step) {
  int decimals = 0;
  if (step > 0 && step < 1) decimals = std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

// Approximate width of `text` at the 11 px bold bar-label font (about 0.62 em per character).
double TextWidth(const std::string& text) { return 7.0 * static_cast<double>(text.size()); }

// `text` cut to about `max_px` wide, ending in "..." when cut (labels of long sweep points).
std::string FitText(const std::string& text, double max_px) {
  if (TextWidth(text) <= max_px) return text;
  const auto keep = static_cast<size_t>(std::max(1.0, max_px / 7.0 - 3));
  size_t cut = std::min(keep, text.size());
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return text.substr(0, cut) + "...";
}

// Width of the label column of the horizontal bar charts: the longest label, between 150 and 330 units.
double LabelColumn(const std::vector<std::string>& labels) {
  double widest = 0;
  for (const std::string& l : labels) widest = std::max(widest, TextWidth(l));
  return std::clamp(widest + 20, 150.0, 330.0);
}

std::string Bytes(uint64_t b) {
  const double v = static_cast<double>(b);
  if (v >= 1024.0 * 1024 * 1024) return fmt::format("{:.3g} GiB", v / (1024.0 * 1024 * 1024));
  if (v >= 1024.0 * 1024) return fmt::format("{:.3g} MiB", v / (1024.0 * 1024));
  if (v >= 1024.0) return fmt::format("{:.3g} KiB", v / 1024.0);
  return fmt::format("{} B", b);
}

std::string Grouped(double v) {
  // 5715214 -> "5,715,214"
  std::string digits = fmt::format("{:.0f}", std::fabs(v));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}


// A horizontal value axis from x0 to x1 at baseline y: vertical grid lines over [top, y], tick labels below,
// the title under them. `per` divides SI values into display units.
void XAxis(Svg& s, double x0, double x1, double top, double y, double max_si, Unit unit, const std::string& title) {
  const std::vector<double> ticks = NiceTicks(max_si / unit.per, x1 - x0 > 600 ? 8 : 5);
  const double dmax = ticks.back();
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (const double t : ticks) {
    const double x = x0 + (x1 - x0) * t / dmax;
    s.Line(x, top, x, y, t == 0 ? "#9aa5b1" : "#e6e9ee");
    s.Text(x, y + 15, TickLabel(t, step), "middle", "muted small");
  }
  s.Line(x0, y, x1, y, "#9aa5b1");
  s.Text((x0 + x1) / 2, y + 33, title + " (" + unit.name + ")", "middle", "muted");
}

// Maximum of a nice axis covering max_si, in SI units.
// Maximum of the axis XAxis draws for max_si over `width` units, in SI units.
double AxisMax(double max_si, Unit unit, double width) {
  return NiceTicks(max_si / unit.per, width > 600 ? 8 : 5).back() * unit.per;
}



std::string Legend(const std::vector<LegendItem>& items) {
  std::string out = "<div class=\"legend\">";
  for (const LegendItem& it : items) {
    std::string swatch;
    if (it.cls == nullptr)
      swatch = fmt::format("<i style=\"background:{}\"></i>", it.color);
    else if (std::string_view(it.cls) == "dash")
      swatch = fmt::format("<i class=\"dash\" style=\"border-color:{}\"></i>", it.color);
    else
      swatch = fmt::format("<i class=\"{}\" style=\"background:{}\"></i>", it.cls, it.color);
    out += "<span>" + swatch + HtmlEscape(it.label) + "</span>";
  }
  return out + "</div>\n";
}


std::string PowerChart(const v1::RunResult& r, double duration_s, const std::string& axis_title) {
  const auto& samples = r.power_timeline();
  const double T = duration_s > 0 ? duration_s
                                  : std::max(r.step_time_s(), samples.empty() ? 0.0 : samples[samples.size() - 1].t_s());
  double max_w = 0;
  for (const v1::PowerSample& p : samples)
    max_w = std::max({max_w, p.facility_w(), p.gpus_w() + p.hosts_w() + p.network_w()});
  const Unit tu = TimeUnit(T);
  const Unit pu = PowerUnit(max_w);
  const char* kGpu = "#4e79a7";
  const char* kHost = "#a0cbe8";
  const char* kNet = "#f1ce63";
  std::string out =
      Legend({{"GPUs", kGpu},
              {"Hosts (CPU, memory, fans)", kHost},
              {"Network", kNet},
              {fmt::format("Facility (IT x PUE {:.2f})", r.scenario().facility().pue()), "#1f2933", "line"},
              {"Facility average", "#1f2933", "dash"}});

  const double W = 1100, H = 330, left = 70, right = 150, top = 12, bottom = 46;
  const double x0 = left, x1 = W - right, y0 = top, y1 = H - bottom;
  const double t_max = AxisMax(T, tu, x1 - x0);
  const std::vector<double> pticks = NiceTicks(max_w / pu.per);
  const double p_max = pticks.back() * pu.per;
  Svg s(W, H, "Power over the step");
  XAxis(s, x0, x1, y0, y1, T, tu, axis_title);
  const double pstep = pticks.size() > 1 ? pticks[1] - pticks[0] : 1;
  for (const double t : pticks) {
    const double y = y1 - (y1 - y0) * t * pu.per / p_max;
    if (t > 0) s.Line(x0, y, x1, y, "#e6e9ee");
    s.Text(x0 - 8, y + 4, TickLabel(t, pstep), "end", "muted small");
  }
  s.VText(22, (y0 + y1) / 2, std::string("Power (") + pu.name + ")", "muted");
  auto X = [&](double t) { return x0 + (x1 - x0) * t / t_max; };
  auto Y = [&](double w) { return y1 - (y1 - y0) * w / p_max; };
  const int n = samples.size();
  auto bin_end = [&](int i) { return i + 1 < n ? samples[i + 1].t_s() : T; };
  // Stacked step areas: network at the bottom, hosts, GPUs on top.
  auto level = [&](const v1::PowerSample& p, int layer) {
    double v = p.network_w();
    if (layer >= 1) v += p.hosts_w();
    if (layer >= 2) v += p.gpus_w();
    return v;
  };
  const std::array<const char*, 3> fills = {kNet, kHost, kGpu};
  for (int layer = 2; layer >= 0; --layer) {
    if (n == 0) break;
    std::string d = fmt::format("M{},{}", F1(X(samples[0].t_s())), F1(Y(0)));
    for (int i = 0; i < n; ++i) {
      const double v = level(samples[i], layer);
      d += fmt::format(" L{},{} L{},{}", F1(X(samples[i].t_s())), F1(Y(v)), F1(X(bin_end(i))), F1(Y(v)));
    }
    d += fmt::format(" L{},{} Z", F1(X(bin_end(n - 1))), F1(Y(0)));
    s.Path(d, "none", fills[static_cast<size_t>(layer)], 0);
  }
  if (n > 0) {
    std::string d;
    for (int i = 0; i < n; ++i) {
      const double v = samples[i].facility_w();
      d += fmt::format("{}{},{} L{},{}", i == 0 ? "M" : " L", F1(X(samples[i].t_s())), F1(Y(v)), F1(X(bin_end(i))),
                       F1(Y(v)));
    }
    s.Path(d, "#1f2933", "none", 2, "Facility power");
    const double avg = r.power().facility_avg_w();
    s.Line(x0, Y(avg), x1, Y(avg), "#1f2933", 1.2, "6 4");
    s.Text(x1 + 8, Y(avg) + 4, fmt::format("avg {}", FormatPower(avg)), "start", "title");
    const double peak = r.power().facility_peak_w();
    if (peak > 0) s.Text(x1 + 8, Y(avg) + 20, fmt::format("peak {}", FormatPower(peak)), "start", "muted small");
  }
  return out + s.Done();
}

std::string ScenarioJson(const v1::Scenario& s) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(s, &out, opts).ok()) return "(the scenario could not be rendered)";
  return out;
}

std::string Section(const std::string& title, const std::string& note, const std::string& body) {
  std::string out = "<section>\n<h2>" + HtmlEscape(title) + "</h2>\n";
  if (!note.empty()) out += "<p class=\"note\">" + note + "</p>\n";
  return out + body + "</section>\n";
}

std::string Card(const std::string& key, const std::string& value, const std::string& detail) {
  return fmt::format(
      "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"d\">{}</div>"
      "</div>\n",
      HtmlEscape(key), HtmlEscape(value), HtmlEscape(detail));
}

}  // namespace html

namespace {

using Results = std::vector<v1::RunResult>;


// Activity categories shared by the breakdown, stage and timeline charts (colours: Tableau 10).
struct Category {
  const char* key;
  const char* label;
  const char* color;
};
constexpr std::array<Category, 8> kCategories = {{
    {"compute", "Compute", "#4e79a7"},
    {"tp", "TP comm", "#f28e2b"},
    {"cp", "CP comm", "#e15759"},
    {"pp", "PP comm", "#76b7b2"},
    {"dp", "DP comm", "#59a14f"},
    {"ep", "EP comm", "#b07aa1"},
    {"wait", "Wait / bubble", "#bab0ac"},
    {"other", "Other", "#9c755f"},
}};
constexpr size_t kWait = 6;
constexpr size_t kOther = 7;

// Category of a timeline category or CommStat.kind; the combined dimensions are grouped as the breakdown groups
// them (tpcp with CP, dpcp and expert data parallel with DP).
size_t CategoryIndex(const std::string& key) {
  for (size_t i = 0; i < kCategories.size(); ++i)
    if (key == kCategories[i].key) return i;
  if (key == "tpcp") return 2;
  if (key == "dpcp" || key == "edp") return 4;
  return kOther;
}

// One colour per result in comparison charts.
constexpr std::array<const char*, 10> kSeries = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
const char* SeriesColor(size_t i) { return kSeries[i % kSeries.size()]; }

// ---------------------------------------------------------------------------------------------------------------
// Charts.

// The breakdown chart's segments: the eight categories, then stragglers and the link capacity floor (terms of the
// breakdown that no category holds), so that a bar sums to the step.
constexpr size_t kBreakdownSegments = 10;

std::array<double, kBreakdownSegments> BreakdownValues(const v1::RunResult& r) {
  const v1::TimeBreakdown& b = r.breakdown();
  return {b.compute_s(),         b.exposed_tp_comm_s(), b.exposed_cp_comm_s(), b.exposed_pp_comm_s(),
          b.exposed_dp_comm_s(), b.exposed_ep_comm_s(), b.pipeline_bubble_s(), b.other_s(),
          b.straggler_s(),       b.link_capacity_s()};
}

const char* BreakdownLabel(size_t c) {
  static constexpr std::array<const char*, kBreakdownSegments> kLabels = {
      "Compute",         "Exposed TP comm", "Exposed CP comm", "Exposed PP comm",    "Exposed DP comm",
      "Exposed EP comm", "Pipeline bubble", "Other",           "Stragglers", "Link capacity floor"};
  return kLabels[c];
}

const char* BreakdownColor(size_t c) {
  if (c < kCategories.size()) return kCategories[c].color;
  return c == 8 ? "#edc948" : "#ff9da7";
}

std::string BreakdownChart(const Results& rs, const std::vector<std::string>& labels) {
  std::array<bool, kBreakdownSegments> used{};
  double max_t = 0;
  for (const v1::RunResult& r : rs) {
    const auto v = BreakdownValues(r);
    double sum = 0;
    for (size_t c = 0; c < v.size(); ++c) {
      if (v[c] > 0) used[c] = true;
      sum += std::max(0.0, v[c]);
    }
    max_t = std::max({max_t, sum, r.step_time_s()});
  }
  std::vector<LegendItem> legend;
  for (size_t c = 0; c < used.size(); ++c)
    if (used[c]) legend.push_back({BreakdownLabel(c), BreakdownColor(c)});
  std::string out = Legend(legend);

  const double left = LabelColumn(labels), right = 90, top = 8, bar = rs.size() > 12 ? 18 : 30,
               gap = rs.size() > 12 ? 8 : 14;
  const double W = 1100, H = top + static_cast<double>(rs.size()) * (bar + gap) + 46;
  const Unit unit = TimeUnit(max_t);
  const double axis_max = AxisMax(max_t, unit, W - left - right);
  Svg s(W, H, "Step-time breakdown");
  const double x0 = left, x1 = W - right, yb = H - 46;
  XAxis(s, x0, x1, top, yb, max_t, unit, "Time in the step");
  for (size_t i = 0; i < rs.size(); ++i) {
    const double y = top + static_cast<double>(i) * (bar + gap) + gap / 2;
    s.Text(left - 10, y + bar / 2 + 4, FitText(labels[i], left - 20), "end");
    const auto v = BreakdownValues(rs[i]);
    const double total = rs[i].step_time_s();
    double x = x0;
    for (size_t c = 0; c < v.size(); ++c) {
      if (!(v[c] > 0)) continue;
      const double w = (x1 - x0) * v[c] / axis_max;
      const double pct = total > 0 ? 100 * v[c] / total : 0;
      s.Rect(x, y, w, bar, BreakdownColor(c),
             fmt::format("{}: {}: {} ({:.1f}% of the step)", labels[i], BreakdownLabel(c), FormatSeconds(v[c]), pct));
      const std::string value = FormatSeconds(v[c]);
      if (w > TextWidth(value) + 10) s.Text(x + w / 2, y + bar / 2 + 4, value, "middle", "on-bar");
      x += w;
    }
    s.Text(x + 8, y + bar / 2 + 4, FormatSeconds(total), "start", "title");
  }
  return out + s.Done();
}

std::string StageChart(const v1::RunResult& r) {
  const size_t n = static_cast<size_t>(r.stages_size());
  const double T = r.step_time_s();
  std::string out = Legend({{"Compute", kCategories[0].color},
                            {"Blocking communication", kCategories[1].color},
                            {"Idle / waiting", kCategories[kWait].color}});
  const double bar = std::clamp(360.0 / static_cast<double>(std::max<size_t>(n, 1)), 5.0, 22.0);
  const double gap = std::max(2.0, bar * 0.35);
  const double left = 90, right = 30, top = 6;
  const double W = 1100, H = top + static_cast<double>(n) * (bar + gap) + 46;
  const Unit unit = TimeUnit(T);
  const double axis_max = AxisMax(T, unit, W - left - right);
  Svg s(W, H, "Per-stage activity");
  const double x0 = left, x1 = W - right, yb = H - 46;
  XAxis(s, x0, x1, top, yb, T, unit, "Time in the step");
  const size_t label_every = bar >= 12 ? 1 : static_cast<size_t>(std::ceil(14 / (bar + gap)));
  for (size_t i = 0; i < n; ++i) {
    const v1::StageTimeline& st = r.stages(static_cast<int>(i));
    const double y = top + static_cast<double>(i) * (bar + gap) + gap / 2;
    if (i % label_every == 0) s.Text(left - 10, y + bar / 2 + 4, fmt::format("Stage {}", st.stage()), "end");
    double x = x0;
    const std::array<std::pair<double, size_t>, 3> parts = {
        {{st.busy_compute_s(), 0}, {st.comm_s(), 1}, {st.idle_s(), kWait}}};
    const std::array<const char*, 3> names = {"compute", "blocking communication", "idle / waiting"};
    for (size_t p = 0; p < parts.size(); ++p) {
      const double w = (x1 - x0) * std::max(0.0, parts[p].first) / axis_max;
      s.Rect(x, y, w, bar, kCategories[parts[p].second].color,
             fmt::format("Stage {}: {} {} ({:.1f}%)", st.stage(), names[p], FormatSeconds(parts[p].first),
                         T > 0 ? 100 * parts[p].first / T : 0));
      x += w;
    }
  }
  return out + s.Done();
}

// Timeline strip: each pixel column of each lane shows the share of every category in that slice of time, stacked
// in category order; runs of identical columns are drawn as one rectangle per category.
std::string TimelineChart(std::span<const TraceEvent> events, double step_time_s, size_t max_stages,
                          size_t* shown_stages) {
  uint32_t max_stage = 0;
  double end = step_time_s;
  for (const TraceEvent& e : events) {
    max_stage = std::max(max_stage, e.stage);
    end = std::max(end, e.start_s + e.duration_s);
  }
  const size_t stages = std::min<size_t>(max_stage + 1, max_stages);
  *shown_stages = stages;
  const double left = 96, right = 24, top = 6;  // integers: the strips are drawn on whole pixels
  const double lane_h[2] = {24, 10};
  const double lane_gap = 3, stage_gap = 12;
  const double stage_h = lane_h[0] + lane_gap + lane_h[1] + stage_gap;
  const double W = 1100, H = top + static_cast<double>(stages) * stage_h + 46;
  const size_t cols = static_cast<size_t>(W - left - right);
  const Unit unit = TimeUnit(end);
  const double axis_max = AxisMax(end, unit, static_cast<double>(cols));
  const double dt = axis_max / static_cast<double>(cols);
  constexpr size_t C = kCategories.size();

  // acc[(stage * 2 + track) * cols + col][category]: seconds of that category in the column.
  std::vector<std::array<double, C>> acc(stages * 2 * cols, std::array<double, C>{});
  std::array<bool, C> used{};
  for (const TraceEvent& e : events) {
    if (e.stage >= stages || e.duration_s <= 0) continue;
    const size_t c = CategoryIndex(e.category);
    used[c] = true;
    const double a = e.start_s, b = e.start_s + e.duration_s;
    const size_t first = std::min(cols - 1, static_cast<size_t>(a / dt));
    const size_t last = std::min(cols - 1, static_cast<size_t>(b / dt));
    std::array<double, C>* lane = &acc[(e.stage * 2 + std::min<uint32_t>(e.track, 1)) * cols];
    for (size_t k = first; k <= last; ++k) {
      const double lo = std::max(a, dt * static_cast<double>(k));
      const double hi = std::min(b, dt * static_cast<double>(k + 1));
      if (hi > lo) lane[k][c] += hi - lo;
    }
  }
  std::vector<LegendItem> legend;
  for (size_t c = 0; c < C; ++c)
    if (used[c]) legend.push_back({kCategories[c].label, kCategories[c].color});
  legend.push_back({"Idle", "#e4e8ed"});
  std::string out = Legend(legend);

  Svg s(W, H, "Timeline of the first pipeline stages");
  std::vector<std::array<double, C>> smooth(cols);
  std::vector<unsigned> mask(cols);
  const double x0 = left, x1 = left + static_cast<double>(cols), yb = H - 46;
  XAxis(s, x0, x1, top, yb, end, unit, "Time in the step");
  for (size_t st = 0; st < stages; ++st) {
    const double ys = top + static_cast<double>(st) * stage_h + stage_gap / 2;
    s.Text(left - 10, ys + lane_h[0] / 2 + 4, fmt::format("Stage {}", st), "end");
    s.Text(left - 10, ys + lane_h[0] + lane_gap + lane_h[1] - 1, "async comm", "end", "muted small");
    for (size_t track = 0; track < 2; ++track) {
      const double y = ys + (track == 0 ? 0 : lane_h[0] + lane_gap);
      const double h = lane_h[track];
      s.Rect(x0, y, x1 - x0, h, "#e4e8ed");
      const std::array<double, C>* lane = &acc[(st * 2 + track) * cols];
      // Shares averaged over up to 5 columns holding the same set of activities: without it, operations shorter
      // than a column alias into a saw-tooth; restricting it to equal sets keeps the edges of phases sharp.
      for (size_t k = 0; k < cols; ++k) {
        unsigned m = 0;
        for (size_t c = 0; c < C; ++c)
          if (lane[k][c] > 0.02 * dt) m |= 1u << c;
        mask[k] = m;
      }
      for (size_t k = 0; k < cols; ++k) {
        const size_t lo = k >= 2 ? k - 2 : 0, hi = std::min(cols, k + 3);
        smooth[k] = {};
        double used_cols = 0;
        for (size_t j = lo; j < hi; ++j) {
          if (mask[j] != mask[k]) continue;
          used_cols += 1;
          for (size_t c = 0; c < C; ++c) smooth[k][c] += lane[j][c];
        }
        for (size_t c = 0; c < C; ++c) smooth[k][c] /= used_cols;
      }
      // Quantised stacked heights per column (cumulative rounding keeps the total exact to a pixel).
      auto heights = [&](size_t k) {
        std::array<int, C> hs{};
        double cum = 0;
        int prev = 0;
        for (size_t c = 0; c < C; ++c) {
          cum += smooth[k][c] / dt;
          const int yq = static_cast<int>(std::lround(std::min(cum, 1.0) * h));
          hs[c] = yq - prev;
          prev = yq;
        }
        return hs;
      };
      // One path per category, made of the rectangles of its runs of identical columns.
      std::array<std::string, C> paths;
      std::array<double, C> total{};
      size_t k = 0;
      while (k < cols) {
        const std::array<int, C> hs = heights(k);
        size_t e = k + 1;
        while (e < cols && heights(e) == hs) ++e;
        int yy = static_cast<int>(y);
        for (size_t c = 0; c < C; ++c) {
          if (hs[c] <= 0) continue;
          paths[c] +=
              fmt::format("M{} {}h{}v{}h-{}z", static_cast<int>(x0) + static_cast<int>(k), yy, e - k, hs[c], e - k);
          yy += hs[c];
        }
        k = e;
      }
      for (size_t j = 0; j < cols; ++j)
        for (size_t c = 0; c < C; ++c) total[c] += lane[j][c];
      for (size_t c = 0; c < C; ++c)
        if (!paths[c].empty())
          s.Path(paths[c], "none", kCategories[c].color, 0,
                 fmt::format("Stage {} {}: {}, {} in the step", st, track == 0 ? "compute stream" : "async comm stream",
                             kCategories[c].label, FormatSeconds(total[c])));
    }
  }
  return out + s.Done();
}


std::string CommLabel(const v1::CommStat& c) {
  std::string kind = c.kind();
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char ch) { return std::toupper(ch); });
  return fmt::format("{} {} {} x{} ({})", kind, c.collective(), Bytes(c.bytes_per_rank()), c.group_size(),
                     c.algorithm());
}

// Chart rows: collectives with the same label (e.g. the pipeline transfers between each pair of stages) are merged;
// the row shows their mean bandwidth and time.
struct CommRow {
  std::string label;
  std::string kind;
  size_t count = 0;
  double bw_sum = 0, t_sum = 0, t_min = 0, t_max = 0;
};

std::string CommsChart(const v1::RunResult& r) {
  std::vector<CommRow> rows;
  std::map<std::string, size_t> index;
  for (const v1::CommStat& c : r.comms()) {
    const std::string label = CommLabel(c);
    auto [it, fresh] = index.emplace(label, rows.size());
    if (fresh) rows.push_back({label, c.kind(), 0, 0, 0, c.time_s(), c.time_s()});
    CommRow& row = rows[it->second];
    ++row.count;
    row.bw_sum += c.bus_bandwidth_gbyte_per_s();
    row.t_sum += c.time_s();
    row.t_min = std::min(row.t_min, c.time_s());
    row.t_max = std::max(row.t_max, c.time_s());
  }
  double max_bw = 0, max_t = 0;
  std::array<bool, kCategories.size()> used{};
  for (const CommRow& row : rows) {
    max_bw = std::max(max_bw, row.bw_sum / static_cast<double>(row.count));
    max_t = std::max(max_t, row.t_sum / static_cast<double>(row.count));
    used[CategoryIndex(row.kind)] = true;
  }
  std::vector<LegendItem> legend;
  for (size_t c = 1; c < kCategories.size(); ++c)
    if (used[c]) legend.push_back({kCategories[c].label, kCategories[c].color});
  std::string out = Legend(legend);
  const double n = static_cast<double>(rows.size());
  const double row_h = 20, top = 28, label_w = 330;
  const double W = 1100, H = top + row_h * n + 46;
  const double a0 = label_w, a1 = 680, b0 = 750, b1 = W - 70;
  const Unit bw_unit{1, "GB/s"};
  const Unit tu = TimeUnit(max_t);
  const double bw_max = AxisMax(max_bw, bw_unit, a1 - a0), t_max = AxisMax(max_t, tu, b1 - b0);
  Svg s(W, H, "Collectives: bus bandwidth and time per occurrence");
  s.Text((a0 + a1) / 2, 14, "Bus bandwidth", "middle", "title");
  s.Text((b0 + b1) / 2, 14, "Time per occurrence", "middle", "title");
  XAxis(s, a0, a1, top, H - 46, max_bw, bw_unit, "Bus bandwidth");
  XAxis(s, b0, b1, top, H - 46, max_t, tu, "Time");
  for (size_t i = 0; i < rows.size(); ++i) {
    const CommRow& row = rows[i];
    const double y = top + row_h * static_cast<double>(i);
    const char* color = kCategories[CategoryIndex(row.kind)].color;
    const std::string label = row.count > 1 ? fmt::format("{} ({} entries)", row.label, row.count) : row.label;
    const double bw = row.bw_sum / static_cast<double>(row.count);
    const double t = row.t_sum / static_cast<double>(row.count);
    s.Text(label_w - 10, y + row_h / 2 + 4, label, "end", "small");
    const double wa = (a1 - a0) * bw / bw_max;
    s.Rect(a0, y + 3, wa, row_h - 6, color, fmt::format("{}: bus bandwidth {:.1f} GB/s", label, bw), 2);
    s.Text(a0 + wa + 5, y + row_h / 2 + 4, fmt::format("{:.1f}", bw), "start", "muted small");
    const double wb = (b1 - b0) * t / t_max;
    const std::string range = row.t_max > row.t_min
                                  ? fmt::format(" (from {} to {})", FormatSeconds(row.t_min), FormatSeconds(row.t_max))
                                  : "";
    s.Rect(b0, y + 3, wb, row_h - 6, color, fmt::format("{}: {} per occurrence{}", label, FormatSeconds(t), range), 2);
    s.Text(b0 + wb + 5, y + row_h / 2 + 4, FormatSeconds(t), "start", "muted small");
  }
  return out + s.Done();
}

// Link utilization by tier (average and maximum over the links of each class) and the hottest links.
std::string LinkChart(const v1::RunResult& r) {
  const double n = static_cast<double>(r.link_usage_size());
  const double row_h = 24, top = 28, label_w = 200;
  const double W = 1100, H = top + row_h * n + 46;
  const double a0 = label_w, a1 = W - 230;
  const Unit pct{0.01, "%"};
  double max_u = 0;
  for (const v1::LinkClassUsage& u : r.link_usage()) max_u = std::max(max_u, u.max_utilization());
  const double axis = AxisMax(std::max(max_u, 0.01), pct, a1 - a0);
  Svg s(W, H, "Link utilization by tier");
  XAxis(s, a0, a1, top, H - 46, std::max(max_u, 0.01), pct, "Utilization of achievable capacity over the step");
  for (int i = 0; i < r.link_usage_size(); ++i) {
    const v1::LinkClassUsage& u = r.link_usage(i);
    const double y = top + row_h * i;
    s.Text(label_w - 10, y + row_h / 2 + 4, fmt::format("{} ({} links)", u.kind(), u.links()), "end", "small");
    const double wmax = (a1 - a0) * u.max_utilization() / axis, wavg = (a1 - a0) * u.avg_utilization() / axis;
    s.Rect(a0, y + 4, wmax, row_h - 8, "#c9d6e8", fmt::format("{}: max {:.1f}%", u.kind(), 100 * u.max_utilization()),
           2);
    s.Rect(a0, y + 4, wavg, row_h - 8, "#4e79a7", fmt::format("{}: average {:.1f}%", u.kind(), 100 * u.avg_utilization()),
           2);
    s.Text(a0 + wmax + 5, y + row_h / 2 + 4,
           fmt::format("avg {:.1f}% / max {:.1f}%", 100 * u.avg_utilization(), 100 * u.max_utilization()), "start",
           "muted small");
  }
  std::string out = Legend({{"Average over the class", "#4e79a7"}, {"Most utilised link of the class", "#c9d6e8"}});
  out += s.Done();
  if (r.hottest_links_size() > 0) {
    out += "<table><thead><tr><th>Hottest links</th><th>Class</th><th>Utilization</th><th>Bytes per step</th></tr>"
           "</thead><tbody>\n";
    for (const v1::HotLink& h : r.hottest_links())
      out += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.1f}%</td><td>{}</td></tr>\n", HtmlEscape(h.name()),
                         HtmlEscape(h.kind()), 100 * h.utilization(), Bytes(static_cast<uint64_t>(h.bytes_per_step())));
    out += "</tbody></table>\n";
  }
  return out;
}

std::string MemoryChart(const Results& rs, const std::vector<std::string>& labels) {
  const std::array<const char*, 5> colors = {"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c9c9c"};
  const std::array<const char*, 5> names = {"Weights", "Gradients", "Optimizer state", "Activations",
                                            "Framework and fragmentation"};
  std::string out = Legend({{names[0], colors[0]},
                            {names[1], colors[1]},
                            {names[2], colors[2]},
                            {names[3], colors[3]},
                            {names[4], colors[4]},
                            {"HBM capacity", "#c0392b", "dash"}});
  for (size_t i = 0; i < rs.size(); ++i) {
    const v1::MemorySummary& m = rs[i].memory();
    if (m.over_hbm_gb() > 0)
      out += fmt::format(
          "<p class=\"warning\">{}estimated over HBM by {:.1f} GB on pipeline stage {}: the plan was simulated "
          "anyway (--strict-memory refuses such plans).</p>\n",
          rs.size() > 1 ? HtmlEscape(labels[i]) + ": " : "", m.over_hbm_gb(), m.worst_stage());
  }
  double max_gb = 0;
  for (const v1::RunResult& r : rs) max_gb = std::max({max_gb, r.memory().total_gb(), r.memory().capacity_gb()});
  const double left = LabelColumn(labels), right = 150, top = 8, bar = rs.size() > 12 ? 18 : 26,
               gap = rs.size() > 12 ? 8 : 14;
  const double W = 1100, H = top + static_cast<double>(rs.size()) * (bar + gap) + 46;
  const Unit unit{1, "GB"};
  const double axis_max = AxisMax(max_gb, unit, W - left - right);
  Svg s(W, H, "Memory per GPU");
  const double x0 = left, x1 = W - right;
  XAxis(s, x0, x1, top, H - 46, max_gb, unit, "Memory per GPU");
  for (size_t i = 0; i < rs.size(); ++i) {
    const v1::MemorySummary& m = rs[i].memory();
    const double y = top + static_cast<double>(i) * (bar + gap) + gap / 2;
    s.Text(left - 10, y + bar / 2 + 4, FitText(labels[i], left - 20), "end");
    const std::array<double, 5> v = {m.weights_gb(), m.gradients_gb(), m.optimizer_gb(), m.activations_gb(),
                                     m.overhead_gb()};
    double x = x0;
    for (size_t c = 0; c < v.size(); ++c) {
      const double w = (x1 - x0) * std::max(0.0, v[c]) / axis_max;
      s.Rect(x, y, w, bar, colors[c], fmt::format("{}: {} {:.1f} GB", labels[i], names[c], v[c]));
      const std::string value = fmt::format("{:.1f}", v[c]);
      if (w > TextWidth(value) + 10) s.Text(x + w / 2, y + bar / 2 + 4, value, "middle", "on-bar");
      x += w;
    }
    const double cap = x0 + (x1 - x0) * m.capacity_gb() / axis_max;
    s.Line(cap, y - 4, cap, y + bar + 4, "#c0392b", 2, "4 3");
    s.Text(std::max(x, cap) + 8, y + bar / 2 + 4, fmt::format("{:.1f} of {:.0f} GB", m.total_gb(), m.capacity_gb()),
           "start", "title");
  }
  return out + s.Done();
}

struct ComparisonPanel {
  const char* title;
  double (*value)(const v1::RunResult&);
  const char* fmt;
};
constexpr std::array<ComparisonPanel, 3> kComparisonPanels = {{
    {"Step time (s)", [](const v1::RunResult& r) { return r.step_time_s(); }, "{:.3g}"},
    {"MFU (%)", [](const v1::RunResult& r) { return 100 * r.mfu(); }, "{:.1f}"},
    {"Energy per token (J)", [](const v1::RunResult& r) { return r.power().energy_per_token_j(); }, "{:.3g}"},
}};

// Many results (or long labels): one row per result, its label once on the left, a bar per metric in three columns.
std::string ComparisonRows(const Results& rs, const std::vector<std::string>& labels) {
  const double left = LabelColumn(labels), top = 28, row = 20, gap = 6, W = 1100;
  const double H = top + static_cast<double>(rs.size()) * (row + gap) + 8;
  const double pw = (W - left) / 3;
  Svg s(W, H, "Comparison of step time, MFU and energy per token");
  for (size_t i = 0; i < rs.size(); ++i) {
    const double y = top + static_cast<double>(i) * (row + gap);
    s.Text(left - 10, y + row / 2 + 4, FitText(labels[i], left - 20), "end");
  }
  for (size_t p = 0; p < kComparisonPanels.size(); ++p) {
    const double px0 = left + pw * static_cast<double>(p) + 8, px1 = left + pw * static_cast<double>(p + 1) - 60;
    s.Text(px0, 16, kComparisonPanels[p].title, "start", "title");
    double max_v = 0;
    for (const v1::RunResult& r : rs) max_v = std::max(max_v, kComparisonPanels[p].value(r));
    for (size_t i = 0; i < rs.size(); ++i) {
      const double v = kComparisonPanels[p].value(rs[i]);
      const double w = max_v > 0 ? (px1 - px0) * std::max(0.0, v) / max_v : 0;
      const double y = top + static_cast<double>(i) * (row + gap);
      const std::string text = fmt::format(fmt::runtime(kComparisonPanels[p].fmt), v);
      s.Rect(px0, y, w, row, SeriesColor(i), fmt::format("{}: {} {}", labels[i], kComparisonPanels[p].title, text), 2);
      s.Text(px0 + w + 5, y + row / 2 + 4, text, "start", "small");
    }
  }
  return s.Done();
}

std::string ComparisonChart(const Results& rs, const std::vector<std::string>& labels) {
  // Columns under each label: only while every label fits under its bar group.
  const double room = (1100.0 / 3 - 68) / static_cast<double>(rs.size());
  const bool columns = rs.size() <= 8 && std::all_of(labels.begin(), labels.end(), [room](const std::string& l) {
                         return TextWidth(l) * 11.0 / 12 <= room;
                       });
  if (!columns) return ComparisonRows(rs, labels);
  std::vector<LegendItem> legend;
  for (size_t i = 0; i < rs.size(); ++i) legend.push_back({labels[i], SeriesColor(i)});
  std::string out = Legend(legend);
  const auto& panels = kComparisonPanels;
  const double W = 1100, H = 300, top = 30, bottom = 30, pw = W / 3;
  Svg s(W, H, "Comparison of step time, MFU and energy per token");
  for (size_t p = 0; p < panels.size(); ++p) {
    const double px0 = pw * static_cast<double>(p) + 52, px1 = pw * static_cast<double>(p + 1) - 16;
    const double y0 = top, y1 = H - bottom;
    s.Text((px0 + px1) / 2, 16, panels[p].title, "middle", "title");
    double max_v = 0;
    for (const v1::RunResult& r : rs) max_v = std::max(max_v, panels[p].value(r));
    const std::vector<double> ticks = NiceTicks(max_v, 4);
    const double vmax = ticks.back();
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
    for (const double t : ticks) {
      const double y = y1 - (y1 - y0) * t / vmax;
      s.Line(px0, y, px1, y, t == 0 ? "#9aa5b1" : "#e6e9ee");
      s.Text(px0 - 6, y + 4, TickLabel(t, step), "end", "muted small");
    }
    const double slot = (px1 - px0) / static_cast<double>(rs.size());
    const double bw = std::min(56.0, slot * 0.7);
    for (size_t i = 0; i < rs.size(); ++i) {
      const double v = panels[p].value(rs[i]);
      const double h = (y1 - y0) * std::max(0.0, v) / vmax;
      const double x = px0 + slot * (static_cast<double>(i) + 0.5) - bw / 2;
      const std::string text = fmt::format(fmt::runtime(panels[p].fmt), v);
      s.Rect(x, y1 - h, bw, h, SeriesColor(i), fmt::format("{}: {} {}", labels[i], panels[p].title, text), 2);
      s.Text(x + bw / 2, y1 - h - 5, text, "middle", "small");
      s.Text(x + bw / 2, y1 + 16, labels[i], "middle", "muted small");
    }
  }
  return out + s.Done();
}

// ---------------------------------------------------------------------------------------------------------------
// Tables and sections.

// Metric rows as a table: one column per result, then ratio columns.
std::string MetricTable(const std::vector<Metric>& metrics, const std::vector<std::string>& labels) {
  const size_t n = labels.size();
  const size_t cols = 1 + n + (n - 1);
  std::string out = "<table class=\"metrics\"><thead><tr><th>Metric</th>";
  for (const std::string& l : labels) out += "<th>" + HtmlEscape(l) + "</th>";
  for (size_t i = 1; i < n; ++i) out += "<th class=\"ratio\">" + HtmlEscape(labels[i] + " / " + labels[0]) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  std::string section;
  for (const Metric& m : metrics) {
    if (m.section != section) {
      section = m.section;
      out += fmt::format("<tr class=\"section\"><th colspan=\"{}\">{}</th></tr>\n", cols, HtmlEscape(section));
    }
    out += fmt::format("<tr><td{}>{}</td>", m.indent ? " class=\"indent\"" : "", HtmlEscape(m.label));
    for (const std::string& t : m.text)
      out += fmt::format("<td{}>{}</td>", m.value.empty() ? " class=\"text\"" : "", HtmlEscape(t));
    for (size_t i = 1; i < n; ++i) out += "<td class=\"ratio\">" + HtmlEscape(RatioText(m, i)) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

// The summary: for one result, the sections split over two side-by-side tables (the split falls between sections,
// as close to half the rows as possible); for several, one table with ratio columns.
std::string SummaryTable(const Results& rs, const std::vector<std::string>& labels) {
  const std::vector<Metric> metrics = CompareMetrics(rs);
  // Several results: one table that scrolls sideways when it is wider than the page (the metric column stays).
  if (rs.size() > 1) return "<div class=\"scroll\">\n" + MetricTable(metrics, labels) + "</div>\n";
  size_t split = 0, best = metrics.size();
  for (size_t i = 1; i < metrics.size(); ++i) {
    if (metrics[i].section == metrics[i - 1].section) continue;
    const size_t imbalance = std::max(i, metrics.size() - i) - std::min(i, metrics.size() - i);
    if (imbalance < best) {
      best = imbalance;
      split = i;
    }
  }
  const std::vector<Metric> left(metrics.begin(), metrics.begin() + static_cast<std::ptrdiff_t>(split));
  const std::vector<Metric> right(metrics.begin() + static_cast<std::ptrdiff_t>(split), metrics.end());
  const std::vector<std::string> value{"Value"};
  return "<div class=\"grid2\">\n<div>" + MetricTable(left, value) + "</div>\n<div>" + MetricTable(right, value) +
         "</div>\n</div>\n";
}

std::string Cards(const v1::RunResult& r) {
  std::string out = "<div class=\"cards\">\n";
  out += Card("Step time", FormatSeconds(r.step_time_s()),
              fmt::format("compute {:.0f}% of the step",
                          r.step_time_s() > 0 ? 100 * r.breakdown().compute_s() / r.step_time_s() : 0));
  const double tps = r.tokens_per_s();
  out += Card("Tokens per second", tps >= 1e6 ? fmt::format("{:.2f} M", tps / 1e6) : FormatCount(tps),
              fmt::format("{:.0f} per GPU", r.tokens_per_s_per_gpu()));
  out += Card("MFU", fmt::format("{:.1f}%", 100 * r.mfu()),
              fmt::format("{:.0f} model TFLOP/s per GPU", r.model_tflops_per_gpu()));
  out += Card("Facility power", FormatPower(r.power().facility_avg_w()),
              fmt::format("GPU avg {} each", FormatPower(r.power().gpu_avg_w())));
  out += Card("Energy per token", fmt::format("{:.2f} J", r.power().energy_per_token_j()),
              fmt::format("{} per step", FormatEnergy(r.power().energy_per_step_j())));
  if (r.projection().training_tokens() > 0)
    out += Card("Full run", fmt::format("{:.1f} days", r.projection().wall_clock_days()),
                fmt::format("{} tokens, {}, {} tCO2e", FormatTokens(r.projection().training_tokens()),
                            FormatUsd(r.projection().cost_usd()), FormatCount(r.projection().operational_tco2e())));
  return out + "</div>\n";
}

// Rows of label + one cell per result.
std::string InventoryTable(const Results& rs, const std::vector<std::string>& labels) {
  using R = const v1::RunResult&;
  struct Row {
    const char* label;
    std::string (*cell)(R);
  };
  const std::array<Row, 16> rows = {{
      {"GPUs", [](R r) { return Grouped(static_cast<double>(r.topology().gpus())); }},
      {"Nodes", [](R r) { return Grouped(static_cast<double>(r.topology().nodes())); }},
      {"Switches per tier",
       [](R r) {
         std::string t;
         for (const uint64_t n : r.topology().switches_per_tier()) t += (t.empty() ? "" : " / ") + Grouped(n);
         return t.empty() ? std::string("-") : t;
       }},
      {"Switches", [](R r) { return Grouped(static_cast<double>(r.topology().switches())); }},
      {"Cables (switch-to-switch)",
       [](R r) {
         return fmt::format("{} ({})", Grouped(static_cast<double>(r.topology().links())),
                            Grouped(static_cast<double>(r.topology().switch_links())));
       }},
      {"Transceivers", [](R r) { return Grouped(static_cast<double>(r.topology().transceivers())); }},
      {"Bisection bandwidth",
       [](R r) { return fmt::format("{:.1f} Tb/s", r.topology().bisection_bandwidth_gbps() / 1e3); }},
      {"Diameter", [](R r) { return fmt::format("{} switch hops", r.topology().diameter_hops()); }},
      {"Network cost", [](R r) { return FormatUsd(r.topology().network_cost_usd()); }},
      {"Network power", [](R r) { return FormatPower(r.topology().network_power_w()); }},
      {"SimGrid hosts / links",
       [](R r) {
         return fmt::format("{} / {}", Grouped(static_cast<double>(r.sim().simgrid_hosts())),
                            Grouped(static_cast<double>(r.sim().simgrid_links())));
       }},
      {"Flows simulated", [](R r) { return Grouped(static_cast<double>(r.sim().flows())); }},
      {"Phase solves", [](R r) { return Grouped(static_cast<double>(r.sim().phase_solves())); }},
      {"Simulation wall time", [](R r) { return fmt::format("{:.2f} s", r.sim().wall_s()); }},
      {"Peak memory", [](R r) { return fmt::format("{:.0f} MiB", r.sim().peak_rss_mib()); }},
      {"Seed / version", [](R r) { return fmt::format("{} / {}", r.seed(), r.clustersim_version()); }},
  }};
  auto table = [&](size_t from, size_t to) {
    std::string t = "<table>";
    if (rs.size() > 1) {
      t += "<thead><tr><th></th>";
      for (const std::string& l : labels) t += "<th>" + HtmlEscape(l) + "</th>";
      t += "</tr></thead>";
    }
    t += "<tbody>\n";
    for (size_t k = from; k < to; ++k) {
      t += std::string("<tr><td>") + rows[k].label + "</td>";
      for (const v1::RunResult& r : rs) t += "<td>" + HtmlEscape(rows[k].cell(r)) + "</td>";
      t += "</tr>\n";
    }
    return t + "</tbody></table>\n";
  };
  if (rs.size() > 1) return "<div class=\"scroll\">\n" + table(0, rows.size()) + "</div>\n";
  return "<div class=\"grid2\">\n<div>" + table(0, 10) + "</div>\n<div>" + table(10, rows.size()) + "</div>\n</div>\n";
}

std::string CommsTable(const v1::RunResult& r) {
  std::string out =
      "<table><thead><tr><th>Kind</th><th>Collective</th><th>Algorithm</th><th>Bytes per rank</th><th>Group</th>"
      "<th>Count per step</th><th>Time</th><th>Bus bandwidth</th><th>Flows simulated</th></tr></thead><tbody>\n";
  for (const v1::CommStat& c : r.comms())
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f} GB/s</td>"
        "<td>{}</td></tr>\n",
        HtmlEscape(c.stages().empty() ? c.kind() : c.kind() + " " + c.stages()), HtmlEscape(c.collective()),
        HtmlEscape(c.algorithm()), Bytes(c.bytes_per_rank()),
        c.group_size(), c.count_per_step(), FormatSeconds(c.time_s()), c.bus_bandwidth_gbyte_per_s(),
        Grouped(static_cast<double>(c.flows_simulated())));
  return out + "</tbody></table>\n";
}

// The capex lines of a result (per tier and part), then opex and TCO.
std::string CostTable(const v1::RunResult& r) {
  const v1::CostSummary& c = r.cost();
  std::string out =
      "<div class=\"scroll\"><table><thead><tr><th>Tier</th><th>Part</th><th>Count</th><th>Unit price</th>"
      "<th>Total</th><th>Note</th></tr></thead><tbody>\n";
  for (const v1::CostItem& i : c.capex())
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>\n",
                       HtmlEscape(i.tier()), HtmlEscape(i.part()), Grouped(i.count()),
                       i.unit_usd() > 0 ? FormatUsd(i.unit_usd()) : "-",
                       i.total_usd() > 0 ? FormatUsd(i.total_usd()) : "-", HtmlEscape(i.note()));
  auto row = [&out](const std::string& k, const std::string& v) {
    out += "<tr class=\"section\"><th colspan=\"4\">" + HtmlEscape(k) + "</th><th>" + HtmlEscape(v) +
           "</th><th></th></tr>\n";
  };
  row("Capex", FormatUsd(c.capex_usd()));
  row("Opex per year (energy " + FormatUsd(c.energy_usd_per_year()) + ", maintenance " +
          FormatUsd(c.maintenance_usd_per_year()) + ")",
      FormatUsd(c.opex_usd_per_year()));
  row(fmt::format("TCO over {:.0f} years", c.lifetime_years()), FormatUsd(c.tco_usd()));
  if (c.run_usd() > 0) row("This run (amortised capex share, energy, maintenance)", FormatUsd(c.run_usd()));
  return out + "</tbody></table></div>\n";
}

// The network's capex, power and embodied carbon per tier.
std::string NetworkTierTable(const v1::TopologySummary& t) {
  std::string out =
      "<div class=\"scroll\"><table><thead><tr><th>Tier</th><th>Capex</th><th>Power</th><th>Embodied tCO2e</th>"
      "<th>Note</th></tr></thead><tbody>\n";
  for (const v1::NetworkTier& x : t.tiers())
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>\n",
                       HtmlEscape(x.tier()), FormatUsd(x.capex_usd()), FormatPower(x.power_w()),
                       FormatCount(x.embodied_kgco2e() / 1000),
                       x.tier() == "scale_up" && t.scale_up_in_accelerator()
                           ? "in the accelerator's price, power and embodied carbon (subtracted there)"
                           : "");
  return out + "</tbody></table></div>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string HtmlReport(const Results& rs, std::span<const TraceEvent> timeline_of_first,
                       const std::vector<std::string>& labels_in) {
  if (rs.empty()) throw InputError("report: no results given: pass at least one result");
  if (!labels_in.empty() && labels_in.size() != rs.size())
    throw InputError(fmt::format("report: {} labels for {} results: give one label per result or none",
                                 labels_in.size(), rs.size()));
  ValidateTimeline(timeline_of_first, "timeline");
  const std::vector<std::string> labels = labels_in.empty() ? DefaultLabels(rs.size()) : labels_in;
  const v1::RunResult& first = rs.front();
  const v1::Scenario& s = first.scenario();
  const bool single = rs.size() == 1;

  std::string h;
  h.reserve(256 * 1024);
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>clustersim report: " + HtmlEscape(single ? s.name() : fmt::format("{} results", rs.size())) +
       "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n<main>\n";

  // Header.
  h += "<header class=\"top\">\n";
  if (single) {
    h += "<h1><span class=\"brand\">clustersim</span> " + HtmlEscape(s.name()) + "</h1>\n";
    const v1::Parallelism& p = s.workload().parallelism();
    h += "<p class=\"sub\">" +
         HtmlEscape(fmt::format("{} x {} on {} | {} ({}) | TP{} CP{} PP{} DP{} EP{} | global batch {} | seed {}",
                                Grouped(s.cluster().num_gpus()), s.accelerator().name(),
                                s.cluster().scale_out().topology(), s.workload().model().name(),
                                s.workload().precision(), p.tp(), p.cp(), p.pp(), p.dp(), p.ep(), p.global_batch_size(),
                                first.seed())) +
         "</p>\n";
  } else {
    h += fmt::format("<h1><span class=\"brand\">clustersim</span> comparison of {} results</h1>\n", rs.size());
    h += "<ol class=\"results\">\n";
    for (size_t i = 0; i < rs.size(); ++i)
      h += "<li><b>" + HtmlEscape(labels[i]) + "</b> " + HtmlEscape(rs[i].scenario().name()) + "</li>\n";
    h += "</ol>\n";
  }
  h += "</header>\n";
  if (single) h += Cards(first);

  h += Section("Summary", single ? "" : "Ratios are relative to the first result, computed before rounding.",
               SummaryTable(rs, labels));
  if (!single)
    h += Section("Comparison", "Lower step time and energy per token are better; higher MFU is better.",
                 ComparisonChart(rs, labels));
  h += Section("Step-time breakdown",
               "Time on the critical pipeline stage (the one with the most compute): compute, communication not "
               "hidden behind compute, and pipeline bubble. Hover a segment for its value.",
               BreakdownChart(rs, single ? std::vector<std::string>{"Step"} : labels));
  const std::string which = single ? "" : " (" + HtmlEscape(labels[0]) + ")";
  if (first.stages_size() > 0)
    h += Section("Per-stage activity" + which,
                 "Each pipeline stage's representative GPU: time computing, blocked in communication, and idle "
                 "(bubble or waiting).",
                 StageChart(first));
  if (!timeline_of_first.empty()) {
    size_t shown = 0;
    const std::string chart = TimelineChart(timeline_of_first, first.step_time_s(), 8, &shown);
    h += Section("Timeline" + which,
                 fmt::format("The first {} pipeline stage(s). Each pixel column stacks the share of each activity in "
                             "that slice of the step; the thin lane is the asynchronous communication stream. Open "
                             "trace.json in ui.perfetto.dev for individual operations.",
                             shown),
                 chart);
  }
  if (first.power_timeline_size() > 0)
    h += Section("Power over the step" + which,
                 "Cluster power averaged over short bins of the step: IT load stacked by component, facility power "
                 "(IT x PUE) as a line.",
                 PowerChart(first, 0, "Time in the step"));
  if (first.comms_size() > 0)
    h += Section("Collectives" + which,
                 "Every distinct collective of the step as simulated on the fabric: kind, operation, bytes per rank, "
                 "group size and algorithm.",
                 CommsChart(first) + "<details><summary>Table</summary>\n" + CommsTable(first) + "</details>\n");
  if (first.link_usage_size() > 0)
    h += Section("Link utilization" + which,
                 "Bytes every class of links carried over the step, divided by its achievable capacity x step time "
                 "(Clos up-links count as one bundle per switch with adaptive routing).",
                 LinkChart(first));
  h += Section(
      "Memory per GPU",
      "Per-GPU estimate of model states (under ZeRO sharding) and stored activations, against the HBM capacity.",
      MemoryChart(rs, single ? std::vector<std::string>{s.accelerator().name()} : labels));
  h += Section("Cluster, network and simulation", "", InventoryTable(rs, labels));
  if (first.cost().capex_size() > 0)
    h += Section("Cost of ownership" + which,
                 "Capital cost per tier and part (the scale-up fabric included), operating cost per year and the "
                 "total cost of ownership over the hardware's life.",
                 CostTable(first));
  if (first.topology().tiers_size() > 0)
    h += Section("Network by tier" + which,
                 "Capex, power and embodied carbon of each tier of the network: the scale-up fabric (switches, "
                 "cables, optics, torus links), NICs, the scale-out switch tiers and the scale-out optics.",
                 NetworkTierTable(first.topology()));

  std::string scen;
  for (size_t i = 0; i < rs.size(); ++i) {
    scen += "<details><summary>" + HtmlEscape((single ? "" : labels[i] + ": ") + rs[i].scenario().name()) +
            "</summary>\n<pre>" + HtmlEscape(ScenarioJson(rs[i].scenario())) + "</pre>\n</details>\n";
    for (const std::string& c : rs[i].critical_path())
      scen += "<p class=\"note\">Critical path" + (single ? "" : " (" + HtmlEscape(labels[i]) + ")") + ": " +
              HtmlEscape(c) + "</p>\n";
  }
  h += Section("Scenario", "The resolved scenario (defaults and catalog values filled in) as JSON.", scen);
  h += "<footer>Generated by clustersim " + HtmlEscape(first.clustersim_version()) +
       ". Self-contained: no scripts and no external resources.</footer>\n";
  h += "</main>\n</body>\n</html>\n";
  return h;
}

}  // namespace clustersim::results
