// Result comparison; see compare.h.
#include "results/compare.h"

#include "results/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "common/error.h"

namespace clustersim::results {

namespace {

using Results = std::vector<v1::RunResult>;

// Builds metric rows from accessor functions over all results.
class MetricBuilder {
 public:
  explicit MetricBuilder(const Results& rs) : rs_(rs) {}

  void Section(std::string name) { section_ = std::move(name); }

  void Text(const std::string& label, const std::function<std::string(const v1::RunResult&)>& text) {
    Metric m{section_, label, {}, {}, false};
    for (const v1::RunResult& r : rs_) m.text.push_back(text(r));
    out_.push_back(std::move(m));
  }

  void Number(const std::string& label, const std::function<double(const v1::RunResult&)>& value,
              const std::function<std::string(double)>& format, bool indent = false) {
    Metric m{section_, label, {}, {}, indent};
    for (const v1::RunResult& r : rs_) {
      const double v = value(r);
      m.value.push_back(v);
      m.text.push_back(format(v));
    }
    out_.push_back(std::move(m));
  }

  // A breakdown term: left out when zero in every result.
  void Term(const std::string& label, const std::function<double(const v1::RunResult&)>& value) {
    const bool any = std::any_of(rs_.begin(), rs_.end(), [&](const v1::RunResult& r) { return value(r) != 0; });
    if (any) Number(label, value, FormatSeconds, true);
  }

  std::vector<Metric> Take() { return std::move(out_); }

 private:
  const Results& rs_;
  std::string section_;
  std::vector<Metric> out_;
};

std::string Percent(double f) { return fmt::format("{:.1f}%", 100 * f); }
std::string Fixed0(double v) { return fmt::format("{:.0f}", v); }

std::string PrecisionOf(const v1::RunResult& r) {
  const std::string& asked = r.scenario().workload().precision();
  const std::string& ran = r.effective_precision();
  if (ran.empty() || ran == asked || (asked == "fp16" && ran == "bf16")) return asked;
  return asked + " run as " + ran;
}

std::string ParallelismText(const v1::RunResult& r) {
  if (r.has_serving()) {  // a serving fleet: its pools
    std::string pools;
    for (const v1::ServePoolResult& p : r.serving().pools())
      pools += (pools.empty() ? "" : " + ") + fmt::format("{} {} x {}", p.role(), p.instances(), p.layout());
    return pools;
  }
  const v1::Parallelism& p = r.scenario().workload().parallelism();
  std::string s = fmt::format("TP{} CP{} PP{} DP{} EP{}", p.tp(), p.cp(), p.pp(), p.dp(), p.ep());
  if (p.vpp() > 1) s += fmt::format(" VPP{}", p.vpp());
  return s;
}

// Pads `s` to `width` display columns (UTF-8 continuation bytes do not count).
std::string Pad(const std::string& s, size_t width, bool right) {
  size_t cols = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++cols;
  const std::string fill(width > cols ? width - cols : 0, ' ');
  return right ? fill + s : s + fill;
}

// Text cells longer than this are shortened in the plain-text table (the full names head the table).
constexpr size_t kMaxTextColumns = 40;

size_t Columns(const std::string& s) {
  size_t cols = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++cols;
  return cols;
}

// Cuts `s` to `max` display columns, ending with "..." when shortened (never inside a UTF-8 sequence).
std::string Truncate(const std::string& s, size_t max) {
  if (Columns(s) <= max) return s;
  std::string out;
  size_t cols = 0;
  for (const char c : s) {
    const bool starts = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts && cols == max - 3) break;
    if (starts) ++cols;
    out += c;
  }
  return out + "...";
}

}  // namespace

std::string FormatCount(double v) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  if (std::fabs(v) < 100) return fmt::format("{:.3g}", v);
  const std::string digits = fmt::format("{:.0f}", std::fabs(v));
  std::string out = v < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatTokens(double n) {
  if (n >= 1e12) return fmt::format("{:.3g} T", n / 1e12);
  if (n >= 1e9) return fmt::format("{:.3g} B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.3g} M", n / 1e6);
  return FormatCount(n);
}

std::string FormatFlops(double flops) {
  std::string s = fmt::format("{:.3g}", flops);
  const size_t e = s.find("e+");
  if (e != std::string::npos) s.erase(e + 1, 1);
  return s;
}

std::string FormatUsd(double usd) {
  if (usd >= 1e9) return fmt::format("${:.2f}B", usd / 1e9);
  if (usd >= 1e6) return fmt::format("${:.2f}M", usd / 1e6);
  if (usd >= 1e3) return fmt::format("${:.1f}k", usd / 1e3);
  return fmt::format("${:.0f}", usd);
}

std::vector<std::string> DefaultLabels(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(i < 26 ? std::string(1, static_cast<char>('A' + i)) : fmt::format("#{}", i + 1));
  return out;
}

namespace {

// The serving section (results with a ServeResult; the others show 0): throughput, latency, and cost, energy and
// carbon per million tokens.
void AddServingMetrics(MetricBuilder& b) {
  using R = const v1::RunResult&;
  const auto ms = [](double s) { return fmt::format("{:.1f} ms", s * 1e3); };
  const auto usd = [](double v) { return fmt::format("${:.3g}", v); };
  const auto plain = [](const char* unit) { return [unit](double v) { return fmt::format("{:.3g} {}", v, unit); }; };
  b.Section("Serving (per million tokens)");
  b.Number(
      "Input tokens/s", [](R r) { return r.serving().input_tokens_per_s(); }, FormatCount);
  b.Number(
      "Output tokens/s", [](R r) { return r.serving().output_tokens_per_s(); }, FormatCount);
  b.Number(
      "Output tokens/s per GPU", [](R r) { return r.serving().output_tokens_per_s_per_gpu(); }, FormatCount);
  b.Number(
      "TTFT p99", [](R r) { return r.serving().ttft().p99_s(); }, ms);
  b.Number(
      "TPOT p99", [](R r) { return r.serving().tpot().p99_s(); }, ms);
  b.Number(
      "SLO attainment", [](R r) { return r.serving().slo_attainment(); }, Percent);
  b.Number(
      "Cost per 1M input tokens", [](R r) { return r.serving().cost_usd_per_m_input_tokens(); }, usd);
  b.Number(
      "Cost per 1M output tokens", [](R r) { return r.serving().cost_usd_per_m_output_tokens(); }, usd);
  b.Number(
      "Energy per 1M output tokens", [](R r) { return r.serving().energy_kwh_per_m_output_tokens(); }, plain("kWh"));
  b.Number(
      "Carbon per 1M output tokens", [](R r) { return r.serving().carbon_kg_per_m_output_tokens(); },
      plain("kgCO2e"));
  b.Number(
      "Fleet cost per hour", [](R r) { return r.serving().cost_usd_per_hour(); }, FormatUsd);
}

}  // namespace

std::vector<Metric> CompareMetrics(const Results& rs) {
  using R = const v1::RunResult&;
  MetricBuilder b(rs);
  b.Section("Scenario");
  b.Text("Scenario", [](R r) { return r.scenario().name(); });
  b.Text("Cluster", [](R r) {
    return fmt::format("{} x {}", FormatCount(r.scenario().cluster().num_gpus()), r.scenario().accelerator().name());
  });
  b.Text("Topology", [](R r) { return r.scenario().cluster().scale_out().topology(); });
  b.Text("Model", [](R r) { return fmt::format("{} ({})", r.scenario().workload().model().name(), PrecisionOf(r)); });
  b.Text("Parallelism", ParallelismText);
  b.Text("Batch", [](R r) {
    const v1::Parallelism& p = r.scenario().workload().parallelism();
    return fmt::format("micro {} / global {}, {}", p.micro_batch_size(), p.global_batch_size(), p.schedule());
  });

  b.Section("Step time");
  b.Number(
      "Step time", [](R r) { return r.step_time_s(); }, FormatSeconds);
  b.Term("Compute", [](R r) { return r.breakdown().compute_s(); });
  b.Term("Exposed TP comm", [](R r) { return r.breakdown().exposed_tp_comm_s(); });
  b.Term("Exposed CP comm", [](R r) { return r.breakdown().exposed_cp_comm_s(); });
  b.Term("Exposed PP comm", [](R r) { return r.breakdown().exposed_pp_comm_s(); });
  b.Term("Exposed DP comm", [](R r) { return r.breakdown().exposed_dp_comm_s(); });
  b.Term("Exposed EP comm", [](R r) { return r.breakdown().exposed_ep_comm_s(); });
  b.Term("Pipeline bubble", [](R r) { return r.breakdown().pipeline_bubble_s(); });
  b.Term("Other", [](R r) { return r.breakdown().other_s(); });
  b.Term("Link capacity floor", [](R r) { return r.breakdown().link_capacity_s(); });

  b.Section("Throughput");
  b.Number(
      "Tokens/s", [](R r) { return r.tokens_per_s(); }, FormatCount);
  b.Number(
      "Tokens/s per GPU", [](R r) { return r.tokens_per_s_per_gpu(); }, FormatCount);
  b.Number(
      "Model TFLOP/s per GPU", [](R r) { return r.model_tflops_per_gpu(); }, Fixed0);
  b.Number(
      "MFU", [](R r) { return r.mfu(); }, Percent);
  b.Number(
      "HFU", [](R r) { return r.hfu(); }, Percent);
  b.Number(
      "GPU utilization", [](R r) { return r.gpu_utilization(); }, Percent);

  b.Section("Power and energy");
  b.Number(
      "GPU avg power (each)", [](R r) { return r.power().gpu_avg_w(); }, FormatPower);
  b.Number(
      "Facility avg power", [](R r) { return r.power().facility_avg_w(); }, FormatPower);
  b.Number(
      "Facility peak power", [](R r) { return r.power().facility_peak_w(); }, FormatPower);
  b.Number(
      "Network power", [](R r) { return r.power().network_total_avg_w(); }, FormatPower);
  b.Number(
      "Energy per step", [](R r) { return r.power().energy_per_step_j(); }, FormatEnergy);
  b.Number(
      "Energy per token", [](R r) { return r.power().energy_per_token_j(); },
      [](double j) { return fmt::format("{:.2f} J", j); });
  b.Number(
      "Facility swing in a step", [](R r) { return r.power_swing().step_swing_w(); }, FormatPower);
  b.Number(
      "Steepest ramp",
      [](R r) { return std::max(r.power_swing().step_ramp_up_w_per_s(), r.power_swing().step_ramp_down_w_per_s()); },
      [](double w) { return FormatPower(w) + "/s"; });

  b.Section("Memory and network");
  b.Number(
      "Memory per GPU", [](R r) { return r.memory().total_gb(); },
      [](double gb) { return fmt::format("{:.1f} GB", gb); });
  b.Number(
      "Network cost", [](R r) { return r.topology().network_cost_usd(); }, FormatUsd);
  b.Number(
      "Switches", [](R r) { return static_cast<double>(r.topology().switches()); }, FormatCount);

  const bool projected = std::any_of(rs.begin(), rs.end(), [](R r) { return r.projection().training_tokens() > 0; });
  if (projected) {
    b.Section("Projection (full run)");
    b.Number(
        "Training tokens", [](R r) { return r.projection().training_tokens(); }, FormatTokens);
    b.Number(
        "Wall-clock time", [](R r) { return r.projection().wall_clock_days(); },
        [](double d) { return fmt::format("{:.1f} days", d); });
    b.Number(
        "GPU-hours", [](R r) { return r.projection().gpu_hours(); }, FormatCount);
    b.Number(
        "Training FLOPs (6ND)", [](R r) { return r.projection().training_flops(); },
        FormatFlops);
    b.Number(
        "Energy", [](R r) { return r.projection().energy_mwh(); },
        [](double mwh) { return FormatCount(mwh) + " MWh"; });
    b.Number(
        "Operational emissions", [](R r) { return r.projection().operational_tco2e(); },
        [](double t) { return FormatCount(t) + " tCO2e"; });
    b.Number(
        "Embodied emissions", [](R r) { return r.projection().embodied_tco2e(); },
        [](double t) { return FormatCount(t) + " tCO2e"; });
    b.Number(
        "Grid intensity", [](R r) { return r.scenario().facility().grid_carbon_g_per_kwh(); },
        [](double g) { return fmt::format("{:.0f} g/kWh", g); });
    b.Number(
        "Cost", [](R r) { return r.projection().cost_usd(); }, FormatUsd);
    b.Number(
        "Goodput with failures", [](R r) { return r.projection().goodput().goodput(); }, Percent);
    b.Number(
        "Wall-clock with failures", [](R r) { return r.projection().goodput().wall_clock_days(); },
        [](double d) { return fmt::format("{:.1f} days", d); });
    b.Number(
        "Cost with failures", [](R r) { return r.projection().goodput().cost_usd(); }, FormatUsd);
  }
  const bool costed = std::any_of(rs.begin(), rs.end(), [](R r) { return r.cost().tco_usd() > 0; });
  if (costed) {
    b.Section("Cost of ownership");
    b.Number(
        "Capex", [](R r) { return r.cost().capex_usd(); }, FormatUsd);
    b.Number(
        "Opex per year", [](R r) { return r.cost().opex_usd_per_year(); }, FormatUsd);
    b.Number(
        "TCO", [](R r) { return r.cost().tco_usd(); }, FormatUsd);
    b.Text("TCO period", [](R r) { return fmt::format("{:.0f} years", r.cost().lifetime_years()); });
  }
  if (std::any_of(rs.begin(), rs.end(), [](R r) { return r.has_serving(); })) AddServingMetrics(b);
  return b.Take();
}

std::string RatioText(const Metric& m, size_t i) {
  if (m.value.empty() || i >= m.value.size()) return "-";
  const double a = m.value[0];
  const double v = m.value[i];
  if (a == 0) return v == 0 ? "1.00x" : "-";
  const double ratio = v / a;
  return std::fabs(ratio) >= 0.1 ? fmt::format("{:.2f}x", ratio) : fmt::format("{:.2g}x", ratio);
}

std::string CompareTable(const Results& rs, const std::vector<std::string>& labels) {
  if (rs.empty()) throw InputError("compare: no results given: pass at least one result.json");
  if (!labels.empty() && labels.size() != rs.size())
    throw InputError(
        fmt::format("compare: {} labels for {} results: give one label per result or none", labels.size(), rs.size()));
  const std::vector<std::string> names = labels.empty() ? DefaultLabels(rs.size()) : labels;
  const std::vector<Metric> metrics = CompareMetrics(rs);

  // Cells: metric label, one value per result, one ratio per result after the first.
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> is_section;
  std::vector<std::string> head{"Metric"};
  for (const std::string& n : names) head.push_back(n);
  for (size_t i = 1; i < rs.size(); ++i) head.push_back(names[i] + "/" + names[0]);
  std::string section;
  for (const Metric& m : metrics) {
    if (m.section != section) {
      section = m.section;
      rows.push_back({section});
      is_section.push_back(true);
    }
    std::vector<std::string> row{(m.indent ? "  " : "") + m.label};
    for (const std::string& t : m.text) row.push_back(m.value.empty() ? Truncate(t, kMaxTextColumns) : t);
    for (size_t i = 1; i < rs.size(); ++i) row.push_back(RatioText(m, i));
    rows.push_back(std::move(row));
    is_section.push_back(false);
  }
  std::vector<size_t> width(head.size(), 0);
  for (size_t c = 0; c < head.size(); ++c) width[c] = Columns(head[c]);
  for (size_t k = 0; k < rows.size(); ++k)
    if (!is_section[k])
      for (size_t c = 0; c < rows[k].size(); ++c) width[c] = std::max(width[c], Columns(rows[k][c]));

  std::string out;
  for (size_t i = 0; i < rs.size(); ++i) out += names[i] + ": " + rs[i].scenario().name() + "\n";
  out += "\n";
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) l += "  ";
      l += Pad(cells[c], width[c], c > 0);
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(head);
  size_t total = 0;
  for (const size_t w : width) total += w;
  total += 2 * (width.size() - 1);
  out += std::string(total, '-') + "\n";
  for (size_t k = 0; k < rows.size(); ++k) {
    if (is_section[k])
      out += "[" + rows[k][0] + "]\n";
    else
      line(rows[k]);
  }
  return out;
}

}  // namespace clustersim::results
