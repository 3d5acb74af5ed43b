// Building blocks of the self-contained HTML reports (html_report.cpp for training steps, serving_html.cpp for
// serving fleets): the style sheet, number and unit formats, a minimal SVG writer, axes, legends, the power chart
// and page sections. Output is deterministic; every text taken from a result is HTML-escaped.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "results.pb.h"
#include "results/html_report.h"

namespace clustersim::results::html {

extern const char* const kCss;  // the reports' style sheet

std::string F1(double v);  // one decimal

struct Unit {
  double per;        // divide SI values by this
  const char* name;  // unit symbol
};
Unit TimeUnit(double max_s);   // s, ms or us for a range up to max_s
Unit PowerUnit(double max_w);  // W, kW or MW
// Round tick values covering [0, max]: steps of 1, 2 or 5 x 10^k, about `target` of them.
std::vector<double> NiceTicks(double max, int target = 5);
// Tick label with as many decimals as the tick step needs.
std::string TickLabel(double v, double step);
// Approximate width of `text` at the 11 px bold bar-label font.
double TextWidth(const std::string& text);
std::string Bytes(uint64_t b);  // "1.5 GiB"
std::string Grouped(double v);  // "5,715,214"

// A minimal SVG writer: coordinates in user units (the viewBox), one decimal.

class Svg {
 public:
  Svg(double width, double height, const std::string& label) : width_(width) {
    out_ = fmt::format("<svg viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\">\n",
                       F1(width), F1(height), F1(width), F1(height), HtmlEscape(label));
  }
  double width() const { return width_; }

  void Rect(double x, double y, double w, double h, const char* fill, const std::string& title = "",
            double radius = 0) {
    if (w <= 0 || h <= 0) return;
    out_ +=
        fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"", F1(x), F1(y), F1(w), F1(h), fill);
    if (radius > 0) out_ += fmt::format(" rx=\"{}\"", F1(radius));
    if (title.empty()) {
      out_ += "/>\n";
    } else {
      out_ += "><title>";
      out_ += HtmlEscape(title);
      out_ += "</title></rect>\n";
    }
  }
  void Line(double x1, double y1, double x2, double y2, const char* stroke, double width = 1,
            const char* dash = nullptr) {
    out_ += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"", F1(x1),
                        F1(y1), F1(x2), F1(y2), stroke, F1(width));
    if (dash != nullptr) out_ += fmt::format(" stroke-dasharray=\"{}\"", dash);
    out_ += "/>\n";
  }
  // anchor: "start", "middle" or "end"; cls: CSS classes ("muted", "small", "on-bar", "title").
  void Text(double x, double y, const std::string& text, const char* anchor = "start", const char* cls = nullptr) {
    out_ += fmt::format("<text x=\"{}\" y=\"{}\"", F1(x), F1(y));
    if (std::string_view(anchor) != "start") out_ += fmt::format(" text-anchor=\"{}\"", anchor);
    if (cls != nullptr) out_ += fmt::format(" class=\"{}\"", cls);
    out_ += '>';
    out_ += HtmlEscape(text);
    out_ += "</text>\n";
  }
  // Text rotated 90 degrees counter-clockwise around (x, y), centred there (vertical axis titles).
  void VText(double x, double y, const std::string& text, const char* cls = nullptr) {
    out_ +=
        fmt::format("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" transform=\"rotate(-90 {0} {1})\"", F1(x), F1(y));
    if (cls != nullptr) out_ += fmt::format(" class=\"{}\"", cls);
    out_ += '>';
    out_ += HtmlEscape(text);
    out_ += "</text>\n";
  }
  void Path(const std::string& d, const char* stroke, const char* fill, double width = 1,
            const std::string& title = "") {
    out_ += fmt::format("<path d=\"{}\" stroke=\"{}\" fill=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\"", d,
                        stroke, fill, F1(width));
    if (title.empty()) {
      out_ += "/>\n";
    } else {
      out_ += "><title>";
      out_ += HtmlEscape(title);
      out_ += "</title></path>\n";
    }
  }
  std::string Done() { return out_ + "</svg>\n"; }

 private:
  double width_;
  std::string out_;
};
struct LegendItem {
  std::string label;
  std::string color;
  const char* cls = nullptr;  // "line" (a line swatch) or "dash" (a dashed line in `color`)
};

// A horizontal value axis from x0 to x1 at baseline y: vertical grid lines over [top, y], tick labels below, the
// title under them.
void XAxis(Svg& s, double x0, double x1, double top, double y, double max_si, Unit unit, const std::string& title);
// Maximum of the axis XAxis draws for max_si over `width` units, in SI units.
double AxisMax(double max_si, Unit unit, double width);
std::string Legend(const std::vector<LegendItem>& items);

// Cluster power over time from r.power_timeline() (GPUs, hosts, network stacked; facility as a line) over
// [0, duration_s] (0: the step time, or the last sample), the time axis titled `axis_title`.
std::string PowerChart(const v1::RunResult& r, double duration_s, const std::string& axis_title);
// The resolved scenario as indented JSON.
std::string ScenarioJson(const v1::Scenario& s);
// A key-figure card: a label, a value, a detail line.
std::string Card(const std::string& key, const std::string& value, const std::string& detail);
// A page section: a title, an optional note (HTML) and a body (HTML).
std::string Section(const std::string& title, const std::string& note, const std::string& body);

}  // namespace clustersim::results::html
