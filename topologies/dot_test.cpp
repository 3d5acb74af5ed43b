// Graphviz export.
#include "topologies/dot.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/error.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

size_t Occurrences(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

TEST(Dot, WritesEveryVertexAndLink) {
  const auto f = BuildFabric(testing::Params("fat_tree", 64, 16));
  std::ostringstream a;
  WriteDot(*f, a);
  const std::string dot = a.str();
  EXPECT_EQ(dot.rfind("graph fabric {", 0), 0u);
  EXPECT_EQ(Occurrences(dot, " -- "), f->num_links());
  EXPECT_EQ(Occurrences(dot, "shape="), boost::num_vertices(f->graph()));
  EXPECT_NE(dot.find("label=\"spine 0"), std::string::npos);
  std::ostringstream b;
  WriteDot(*f, b);
  EXPECT_EQ(a.str(), b.str());
}

TEST(Dot, RefusesLargeFabrics) {
  const auto f = BuildFabric(testing::Params("fat_tree", 2048, 64));  // 2048 GPUs + 2048 NICs + switches
  std::ostringstream out;
  try {
    WriteDot(*f, out);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("4096"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clustersim::topo
