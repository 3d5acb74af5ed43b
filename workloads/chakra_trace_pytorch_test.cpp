// PyTorch conventions in Chakra traces: names, Python-repr inputs, the process-group table and p2p peers, on the
// strings Chakra's converters write (examples from tests/data/chakra/README.md's traces).
#include "workloads/chakra_trace_pytorch.h"

#include <gtest/gtest.h>

namespace clustersim::wl::chakra {
namespace {

TEST(ChakraPyTorch, CommTypeFromKernelAndOpNames) {
  EXPECT_EQ(CommTypeFromName("ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)"),
            CommType::kAllReduce);
  EXPECT_EQ(CommTypeFromName("ncclKernel_Broadcast_RING_LL_Sum_int8_t(ncclDevComm*, unsigned long, ncclWork*)"),
            CommType::kBroadcast);
  EXPECT_EQ(CommTypeFromName("ncclDevKernel_AllGather_RING_LL(ncclDevComm*, unsigned long, ncclWork*)"),
            CommType::kAllGather);
  EXPECT_EQ(CommTypeFromName("c10d::_reduce_scatter_base_"), CommType::kReduceScatter);
  EXPECT_EQ(CommTypeFromName("nccl:all_to_all"), CommType::kAllToAll);
  EXPECT_EQ(CommTypeFromName("ncclDevKernel_SendRecv(ncclDevComm*, unsigned long, ncclWork*)"), CommType::kAllToAll);
  EXPECT_EQ(CommTypeFromName("c10d::reduce_"), CommType::kReduce);
  EXPECT_EQ(CommTypeFromName("c10d::barrier"), CommType::kBarrier);
  EXPECT_EQ(CommTypeFromName("c10d::broadcast_(0)"), CommType::kBroadcast);
  EXPECT_FALSE(CommTypeFromName("aten::mm").has_value());
  // Only the name before the argument list counts.
  EXPECT_FALSE(CommTypeFromName("myKernel(allreduce_args*)").has_value());
}

TEST(ChakraPyTorch, PythonReprToJson) {
  EXPECT_EQ(PythonReprToJson("[[1, 2, 'cuda:0'], True, None, (3, 4), \"it's\"]"),
            "[[1, 2, \"cuda:0\"], true, null, [3, 4], \"it's\"]");
  EXPECT_EQ(PythonReprToJson("['a\"b', 'c\\'d']"), "[\"a\\\"b\", \"c'd\"]");
}

TEST(ChakraPyTorch, TensorBytesOfInputsSumsTensorsAndTensorLists) {
  // c10d::broadcast_ in chakra.0.et: one float tensor of 53,120 elements in a GenericList.
  EXPECT_EQ(TensorBytesOfInputs("[[[430, 431, 0, 53120, 4, 'cuda:0']], '<Object>', 0, 0, -1]",
                                "['GenericList[Tensor(float)]', 'Object', 'Int', 'Int', 'Int']"),
            212480u);
  // ncclKernel_AllReduce's inputs: a single tensor.
  EXPECT_EQ(TensorBytesOfInputs("[[3250, 3251, 0, 2049000, 4, 'cuda:0']]", "['Tensor(float)']"), 8196000u);
  EXPECT_EQ(TensorBytesOfInputs("[[1, 2, 0, 10, 2, 'cuda:0'], [[3, 4, 0, 5, 4, 'cuda:0'], [5, 6, 0, 5, 4, 'cuda:0']]]",
                                "['Tensor(c10::BFloat16)', 'GenericList[Tensor(float),Tensor(float)]']"),
            60u);
  EXPECT_FALSE(TensorBytesOfInputs("[1, 2]", "['Int', 'Int']").has_value());
  EXPECT_FALSE(TensorBytesOfInputs("[[1, 2", "['Tensor(float)']").has_value());
  EXPECT_FALSE(TensorBytesOfInputs("", "").has_value());
}

TEST(ChakraPyTorch, ProcessGroupTableAsTheConverterWritesIt) {
  ASSERT_TRUE(IsProcessGroupTableNode("## process_group:init ##"));
  // converted_from_json.0.et, node 3: the world group of a 2-rank job.
  const auto world = ParseProcessGroupTable(
      "['[{\"pg_name\": \"0\", \"backend_id\": 82149104, \"backend_config\": \"cuda:nccl\", \"ranks\": [], "
      "\"group_size\": 2, \"group_count\": 1}]']");
  ASSERT_TRUE(world.has_value());
  ASSERT_EQ(world->size(), 1u);
  EXPECT_EQ((*world)[0].name, "0");
  EXPECT_TRUE((*world)[0].ranks.empty());
  EXPECT_EQ((*world)[0].group_size, 2);
  // Newer PyTorch: pg_desc, explicit ranks; a plain JSON list is accepted too.
  const auto two = ParseProcessGroupTable(
      "[{\"pg_name\": \"0\", \"pg_desc\": \"default_pg\", \"ranks\": [], \"group_size\": 4}, "
      "{\"pg_name\": \"1\", \"pg_desc\": \"tp\", \"ranks\": [2, 3], \"group_size\": 2}]");
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].name, "1");
  EXPECT_EQ((*two)[1].ranks, (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(ParseProcessGroupTable("['not json']").has_value());
  EXPECT_FALSE(ParseProcessGroupTable("[{\"ranks\": []}]").has_value());  // no pg_name
}

TEST(ChakraPyTorch, PeerFromSendRecvNames) {
  EXPECT_EQ(PeerFromName("nccl:send 0->1", true), 1u);
  EXPECT_EQ(PeerFromName("nccl:recv 3<-2", false), 2u);
  EXPECT_FALSE(PeerFromName("nccl:recv 3<-2", true).has_value());
  EXPECT_FALSE(PeerFromName("record_param_comms", true).has_value());
}

}  // namespace
}  // namespace clustersim::wl::chakra
