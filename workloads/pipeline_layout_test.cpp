#include "workloads/pipeline_layout.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/input_error_message.h"

namespace clustersim::wl {
namespace {

std::string ErrorOf(const std::string& layout) {
  return InputErrorMessage([&] { ParsePipelineLayout(layout, "s.textproto"); });
}

// Megatron-LM's own example (docs/api-guide/pipeline_parallel_layout.md): DeepSeek-V3 on PP 16 x VPP 2.
TEST(PipelineLayout, MegatronsDeepSeekExample) {
  const std::vector<LayoutStage> s = ParsePipelineLayout("Et*3|(tt|)*29,m|L", "");
  ASSERT_EQ(s.size(), 32u);
  EXPECT_EQ(s[0], (LayoutStage{true, false, 3, 0}));
  for (size_t i = 1; i < 30; ++i) EXPECT_EQ(s[i], (LayoutStage{false, false, 2, 0})) << i;
  EXPECT_EQ(s[30], (LayoutStage{false, false, 0, 1}));
  EXPECT_EQ(s[31], (LayoutStage{false, true, 0, 0}));
  EXPECT_NO_THROW(CheckPipelineLayout(s, "", 32, 61, 1, ""));
}

// Megatron-Bridge 25.11's DeepSeek-V3 H100 recipe (PP 8 x VPP 4), an empty stage, nested groups and spaces.
TEST(PipelineLayout, RecipeStringsEmptyStagesAndNesting) {
  const std::vector<LayoutStage> h100 = ParsePipelineLayout("Et|(tt|)*30mL", "");
  ASSERT_EQ(h100.size(), 32u);
  EXPECT_EQ(h100[0], (LayoutStage{true, false, 1, 0}));
  EXPECT_EQ(h100[31], (LayoutStage{false, true, 0, 1}));
  const std::vector<LayoutStage> e = ParsePipelineLayout("E|(t|)*3,m|m||L", "");
  ASSERT_EQ(e.size(), 8u);
  EXPECT_EQ(e[4], (LayoutStage{false, false, 0, 1}));
  EXPECT_EQ(e[6], LayoutStage{});
  const std::vector<LayoutStage> n = ParsePipelineLayout("E ((t*2|)*2 t)*2 L", "");
  ASSERT_EQ(n.size(), 5u);
  EXPECT_EQ(n[2].decoders, 3u);  // the inner group's last stage runs into the outer group's t
  EXPECT_TRUE(ParsePipelineLayout("", "").empty());
}

TEST(PipelineLayout, BadLayoutsNameTheFieldAndTheRule) {
  const std::string field = "s.textproto: workload.parallelism.pipeline_model_parallel_layout = ";
  EXPECT_EQ(ErrorOf("Et|x|L").rfind(field + "Et|x|L: unknown symbol 'x' at character 4", 0), 0u) << ErrorOf("Et|x|L");
  EXPECT_NE(ErrorOf("E(t|L").find("'(' without its ')'"), std::string::npos);
  EXPECT_NE(ErrorOf("Et)|L").find("unbalanced ')'"), std::string::npos);
  EXPECT_NE(ErrorOf("Et*|L").find("followed by a repeat count"), std::string::npos);
  EXPECT_NE(ErrorOf("tE|L").find("one E (embedding), as its first symbol"), std::string::npos);
  EXPECT_NE(ErrorOf("Et|LE").find("one E"), std::string::npos);
  EXPECT_NE(ErrorOf("Et|Lt").find("one L"), std::string::npos);
  EXPECT_NE(ErrorOf("Em|tL").find("must follow every decoder layer"), std::string::npos);
  // A hostile repeat is refused before it allocates.
  EXPECT_NE(ErrorOf("E(t*1000000)*1000000L").find("expands to more than"), std::string::npos);
  EXPECT_NE(ErrorOf("Et*99999999999999999999999L").find("a repeat count above"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(40, '(') + "Et" + std::string(40, ')') + "L").find("nested"), std::string::npos);

  const std::vector<LayoutStage> s = ParsePipelineLayout("Et*4|t*4|t*4|t*3mL", "");
  auto check_error = [&](uint64_t stages, uint32_t layers, uint32_t mtp) {
    return InputErrorMessage([&] { CheckPipelineLayout(s, "L1", stages, layers, mtp, "f"); });
  };
  EXPECT_EQ(check_error(4, 15, 1), "");
  EXPECT_NE(check_error(8, 15, 1).find("has 4 stages; pp x model chunks per stage = 8"), std::string::npos);
  EXPECT_NE(check_error(4, 16, 1).find("places 15 decoder layers (t); the model has 16"), std::string::npos);
  EXPECT_NE(check_error(4, 15, 0).find("places 1 MTP modules (m); the model has mtp_depth 0"), std::string::npos);
}

}  // namespace
}  // namespace clustersim::wl
