// Requests offered to a serving fleet (docs/serving.md "Traffic"): arrival processes and length distributions drawn
// deterministically from a seed, and request trace files.
//
// Arrivals (serving.traffic.arrival):
//   poisson   exponential inter-arrival times at the rate;
//   bursty    gamma inter-arrival times with coefficient of variation c > 1 (shape 1/c^2): the same mean rate in
//             clumps and gaps;
//   trace     the requests of a trace file, in arrival order;
//   closed    no arrival process: the engine asks for a new request whenever one finishes (Draw).
// Lengths (serving.traffic.length_distribution), mean m, spread s, clamped to [1, max]:
//   fixed m; uniform on [m (1 - s), m (1 + s)]; exponential with mean m; lognormal with mean m and coefficient of
//   variation s.
// Trace files: CSV with a header naming the columns arrival_s, input_tokens, output_tokens (others are ignored;
// Boost.Tokenizer reads the fields), or JSONL (".jsonl"), one clustersim.v1.ServingTraceRecord object per line
// (Protobuf's JSON parser). Arrival times must not decrease.
//
// Random numbers: splitmix64 streams, so results do not depend on the standard library's distributions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.pb.h"

namespace clustersim::wl {

struct Request {
  double arrival_s = 0;
  uint32_t input_tokens = 0;
  uint32_t output_tokens = 0;
};

// Reads a trace file (format above). Throws InputError naming `path`, the line and the rule.
std::vector<Request> ReadTrace(const std::string& path);

// Draws the requests of one arrival stream. `rate_per_s` is this stream's rate (the fleet's rate divided among the
// streams that share it); `trace` is used by arrival "trace" (the stream keeps the requests whose index is `part`
// modulo `parts`, a deterministic thinning). Not thread-safe; cheap to copy.
class RequestSource {
 public:
  RequestSource(const v1::ServingTraffic& resolved, double rate_per_s, uint64_t seed,
                const std::vector<Request>* trace = nullptr, uint32_t part = 0, uint32_t parts = 1);
  // The next arrival at or after the previous one; false when a trace is exhausted (never for the processes).
  bool Next(Request& out);
  // A request arriving at `at_s` with lengths drawn as for Next (closed loop).
  Request Draw(double at_s);

 private:
  double Uniform();
  double Normal();
  double Gamma(double shape);
  uint32_t Length(double mean, uint32_t max);

  v1::ServingTraffic t_;
  double rate_ = 0;
  uint64_t state_ = 0;
  double clock_s_ = 0;
  const std::vector<Request>* trace_ = nullptr;
  size_t next_ = 0;
  uint32_t part_ = 0, parts_ = 1;
};

}  // namespace clustersim::wl
