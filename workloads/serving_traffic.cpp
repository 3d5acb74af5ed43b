// Serving requests; see serving_traffic.h.
#include "workloads/serving_traffic.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <boost/tokenizer.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <numbers>

#include "common/error.h"
#include "workloads/moe_routing.h"

namespace clustersim::wl {
namespace {

using Fields = std::vector<std::string>;

Fields SplitCsv(const std::string& line) {
  const boost::tokenizer<boost::escaped_list_separator<char>> tok(line);
  return Fields(tok.begin(), tok.end());
}

[[noreturn]] void Bad(const std::string& path, size_t line, const std::string& what) {
  throw InputError(path + ":" + std::to_string(line) + ": " + what);
}

// A non-negative number field of a CSV row; `integer` ones must be whole numbers >= 1.
double CsvNumber(const std::string& path, size_t line, const std::string& name, const std::string& text,
                 bool integer) {
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const bool ok = used > 0 && std::isfinite(v) && v >= 0 && (!integer || (v >= 1 && v == std::floor(v) && v < 4e9));
  if (!ok)
    Bad(path, line, name + " = \"" + text + "\": must be " + (integer ? "a whole number >= 1" : "a number >= 0"));
  return v;
}

std::vector<Request> ReadCsv(std::istream& in, const std::string& path) {
  std::string text;
  if (!std::getline(in, text)) Bad(path, 1, "empty trace: a header arrival_s,input_tokens,output_tokens is needed");
  const Fields header = SplitCsv(text);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* need : {"arrival_s", "input_tokens", "output_tokens"})
    if (!col.count(need)) Bad(path, 1, std::string("the header has no column ") + need);
  std::vector<Request> out;
  for (size_t line = 2; std::getline(in, text); ++line) {
    if (text.empty() || text == "\r") continue;
    const Fields f = SplitCsv(text);
    if (f.size() < header.size()) Bad(path, line, "fewer fields than the header");
    Request r;
    r.arrival_s = CsvNumber(path, line, "arrival_s", f[col["arrival_s"]], false);
    r.input_tokens = uint32_t(CsvNumber(path, line, "input_tokens", f[col["input_tokens"]], true));
    r.output_tokens = uint32_t(CsvNumber(path, line, "output_tokens", f[col["output_tokens"]], true));
    if (!out.empty() && r.arrival_s < out.back().arrival_s) Bad(path, line, "arrival_s decreases");
    out.push_back(r);
  }
  return out;
}

std::vector<Request> ReadJsonl(std::istream& in, const std::string& path) {
  std::vector<Request> out;
  std::string text;
  for (size_t line = 1; std::getline(in, text); ++line) {
    if (text.empty() || text == "\r") continue;
    v1::ServingTraceRecord rec;
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    const auto status = google::protobuf::util::JsonStringToMessage(text, &rec, opts);
    if (!status.ok()) Bad(path, line, "invalid trace record: " + std::string(status.message()));
    if (!(rec.arrival_s() >= 0) || !std::isfinite(rec.arrival_s())) Bad(path, line, "arrival_s must be >= 0");
    if (rec.input_tokens() == 0 || rec.output_tokens() == 0)
      Bad(path, line, "input_tokens and output_tokens must be >= 1");
    if (!out.empty() && rec.arrival_s() < out.back().arrival_s) Bad(path, line, "arrival_s decreases");
    out.push_back({rec.arrival_s(), rec.input_tokens(), rec.output_tokens()});
  }
  return out;
}

}  // namespace

std::vector<Request> ReadTrace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the request trace (missing or unreadable)");
  const bool jsonl = path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
  std::vector<Request> out = jsonl ? ReadJsonl(in, path) : ReadCsv(in, path);
  if (out.empty()) throw InputError(path + ": the request trace has no requests");
  return out;
}

RequestSource::RequestSource(const v1::ServingTraffic& t, double rate_per_s, uint64_t seed,
                             const std::vector<Request>* trace, uint32_t part, uint32_t parts)
    : t_(t), rate_(rate_per_s), state_(MixSeed(seed, 0x5e7e)), trace_(trace), part_(part), parts_(std::max(1u, parts)) {}

double RequestSource::Uniform() { return double(SplitMix64(&state_) >> 11) * 0x1.0p-53; }

double RequestSource::Normal() {  // Box-Muller
  const double u1 = 1 - Uniform(), u2 = Uniform();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

double RequestSource::Gamma(double shape) {  // Marsaglia-Tsang; shape < 1 by the boost U^(1/shape)
  if (shape < 1) return Gamma(shape + 1) * std::pow(1 - Uniform(), 1 / shape);
  const double d = shape - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    const double x = Normal(), v = std::pow(1 + c * x, 3);
    if (v <= 0) continue;
    const double u = 1 - Uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

uint32_t RequestSource::Length(double mean, uint32_t max) {
  const std::string& d = t_.length_distribution();
  const double s = t_.length_spread();
  double v = mean;
  if (d == "uniform") {
    v = mean * (1 + s * (2 * Uniform() - 1));
  } else if (d == "exponential") {
    v = -mean * std::log(1 - Uniform());
  } else if (d == "lognormal") {
    const double sigma2 = std::log(1 + s * s);
    v = mean * std::exp(std::sqrt(sigma2) * Normal() - sigma2 / 2);
  }
  return uint32_t(std::clamp(std::llround(v), 1LL, (long long)std::max(1u, max)));
}

Request RequestSource::Draw(double at_s) {
  Request r;
  r.arrival_s = at_s;
  r.input_tokens = Length(t_.input_tokens(), t_.max_input_tokens());
  r.output_tokens = Length(t_.output_tokens(), t_.max_output_tokens());
  return r;
}

bool RequestSource::Next(Request& out) {
  if (t_.arrival() == "trace") {
    while (trace_ != nullptr && next_ < trace_->size()) {
      const size_t i = next_++;
      if (i % parts_ != part_) continue;
      out = (*trace_)[i];
      return true;
    }
    return false;
  }
  double gap = 0;
  if (t_.arrival() == "bursty") {
    const double shape = 1 / (t_.burstiness() * t_.burstiness());
    gap = Gamma(shape) / (shape * rate_);
  } else {
    gap = -std::log(1 - Uniform()) / rate_;
  }
  clock_s_ += gap;
  out = Draw(clock_s_);
  return true;
}

}  // namespace clustersim::wl
