#include "workloads/serving_traffic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace clustersim::wl {
namespace {

v1::ServingTraffic Traffic(const char* arrival, const char* lengths = "fixed", double spread = 0) {
  v1::ServingTraffic t;
  t.set_arrival(arrival);
  t.set_rate_per_s(50);
  t.set_burstiness(3);
  t.set_input_tokens(1000);
  t.set_output_tokens(200);
  t.set_length_distribution(lengths);
  t.set_length_spread(spread);
  t.set_max_input_tokens(4000);
  t.set_max_output_tokens(800);
  return t;
}

struct Moments {
  double mean = 0, cv = 0;
};
Moments Gaps(RequestSource src, int n) {
  double prev = 0, sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    Request r;
    EXPECT_TRUE(src.Next(r));
    const double g = r.arrival_s - prev;
    prev = r.arrival_s;
    sum += g;
    sum2 += g * g;
  }
  const double mean = sum / n;
  return {mean, std::sqrt(sum2 / n - mean * mean) / mean};
}

TEST(ServingTraffic, PoissonRateAndDeterminism) {
  const Moments m = Gaps(RequestSource(Traffic("poisson"), 50, 7), 40000);
  EXPECT_NEAR(m.mean, 1 / 50.0, 0.02 / 50);
  EXPECT_NEAR(m.cv, 1, 0.03);  // exponential gaps
  RequestSource a(Traffic("poisson"), 50, 7), b(Traffic("poisson"), 50, 7), c(Traffic("poisson"), 50, 8);
  Request ra, rb, rc;
  for (int i = 0; i < 10; ++i) a.Next(ra), b.Next(rb), c.Next(rc);
  EXPECT_EQ(ra.arrival_s, rb.arrival_s);
  EXPECT_NE(ra.arrival_s, rc.arrival_s);
  EXPECT_EQ(ra.input_tokens, 1000u);  // fixed lengths
  EXPECT_EQ(ra.output_tokens, 200u);
}

TEST(ServingTraffic, BurstyKeepsTheRateWithMoreVariance) {
  const Moments m = Gaps(RequestSource(Traffic("bursty"), 50, 3), 60000);
  EXPECT_NEAR(m.mean, 1 / 50.0, 0.04 / 50);
  EXPECT_NEAR(m.cv, 3, 0.3);
}

TEST(ServingTraffic, LengthDistributions) {
  for (const char* d : {"uniform", "exponential", "lognormal"}) {
    RequestSource src(Traffic("poisson", d, 0.5), 50, 11);
    double sum = 0;
    uint32_t max = 0;
    const int n = 40000;
    for (int i = 0; i < n; ++i) {
      const Request r = src.Draw(0);
      sum += r.input_tokens;
      max = std::max(max, r.input_tokens);
      ASSERT_GE(r.input_tokens, 1u);
    }
    EXPECT_LE(max, 4000u) << d;  // clamped to max_input_tokens
    // The clamp at 4x the mean removes little mass: E[min(X, 4m)] = m (1 - e^-4) for the exponential.
    EXPECT_NEAR(sum / n, std::string(d) == "exponential" ? 1000 * (1 - std::exp(-4.0)) : 1000, 25) << d;
  }
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

TEST(ServingTraffic, TraceFiles) {
  const std::string csv = WriteFile("cs_trace.csv", "user,output_tokens,arrival_s,input_tokens\n"
                                                   "a,10,0.0,100\n\"b,c\",20,0.5,200\n");
  const std::vector<Request> t = ReadTrace(csv);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].input_tokens, 200u);
  EXPECT_EQ(t[1].output_tokens, 20u);
  EXPECT_DOUBLE_EQ(t[1].arrival_s, 0.5);
  const std::string jsonl = WriteFile("cs_trace.jsonl", "{\"arrival_s\": 0.25, \"input_tokens\": 7, \"output_tokens\": 3}\n");
  const std::vector<Request> j = ReadTrace(jsonl);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].input_tokens, 7u);
  // A stream takes every parts-th request of the trace.
  RequestSource part(Traffic("trace"), 0, 1, &t, 1, 2);
  Request r;
  ASSERT_TRUE(part.Next(r));
  EXPECT_EQ(r.input_tokens, 200u);
  EXPECT_FALSE(part.Next(r));
}

TEST(ServingTraffic, TraceErrorsNameTheLine) {
  const auto message = [](const std::string& path) {
    try {
      ReadTrace(path);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(WriteFile("cs_bad1.csv", "arrival_s,input_tokens\n")).find("no column output_tokens"),
            std::string::npos);
  EXPECT_NE(message(WriteFile("cs_bad2.csv", "arrival_s,input_tokens,output_tokens\n1,10,5\n0.5,10,5\n"))
                .find("cs_bad2.csv:3: arrival_s decreases"),
            std::string::npos);
  EXPECT_NE(message(WriteFile("cs_bad3.csv", "arrival_s,input_tokens,output_tokens\n0,ten,5\n")).find(":2: input_tokens"),
            std::string::npos);
  EXPECT_NE(message(WriteFile("cs_bad4.jsonl", "{\"arrival_s\": 1, \"input\": 3}\n")).find(":1: invalid trace record"),
            std::string::npos);
  EXPECT_NE(message("/nonexistent/trace.csv").find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace clustersim::wl
