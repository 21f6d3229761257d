// The node's allocation (SLURM Prolog/Epilog): its wire form and NodeAgent's bookkeeping. Groups with
// real workers are in tests/integration/daemon/node_allocation_test.cc.
#include "common/types/allocation.h"

#include <filesystem>

#include "daemon/node/node_agent.h"
#include "gtest/gtest.h"
#include "proto/convert/convert.h"
#include "tests/support/temp_dir.h"

namespace accel::daemon {
namespace {

common::Allocation Alloc(std::string job, std::string user = "alice") {
  return common::Allocation{.job_id = std::move(job), .user = std::move(user), .uid = 1001, .gpus = {"0", "3"}};
}

TEST(AllocationWireTest, RoundTrips) {
  common::Allocation allocation = Alloc("4242");
  allocation.gpus = {"GPU-1f2e", "1"};
  allocation.begin_unix_ms = 1700000000000;
  auto back = wire::FromProto(wire::ToProto(allocation));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, allocation);
}

TEST(AllocationWireTest, RejectsJobIdsThatAreNotPlainNames) {
  for (const std::string& bad : std::vector<std::string>{"", "1;rm -rf /", "../x", std::string(65, '1'), "a b"}) {
    v1::Allocation allocation;
    allocation.set_job_id(bad);
    auto parsed = wire::FromProto(allocation);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("allocation.job_id"), std::string_view::npos);
  }
  v1::Allocation ok;
  ok.set_job_id("123_4.batch-1");
  EXPECT_TRUE(wire::FromProto(ok).ok());
}

TEST(AllocationWireTest, RejectsOutOfRangeUidAndEmptyGpu) {
  v1::Allocation allocation;
  allocation.set_job_id("1");
  allocation.set_uid(-2);
  EXPECT_FALSE(wire::FromProto(allocation).ok());
  allocation.set_uid(-1);
  allocation.add_gpus("");
  EXPECT_FALSE(wire::FromProto(allocation).ok());
}

TEST(NodeAgentAllocationTest, KeepsTheCurrentAllocationUntilItEnds) {
  NodeAgent agent(NodeAgentOptions{.node_name = "n1", .log_root = "/nonexistent"});
  EXPECT_FALSE(agent.CurrentAllocation().has_value());

  ASSERT_TRUE(agent.SetAllocation(Alloc("10")).ok());
  ASSERT_TRUE(agent.CurrentAllocation().has_value());
  EXPECT_EQ(agent.CurrentAllocation()->job_id, "10");
  EXPECT_EQ(agent.CurrentAllocation()->user, "alice");
  EXPECT_EQ(agent.CurrentAllocation()->uid, 1001);
  EXPECT_EQ(agent.CurrentAllocation()->gpus, (std::vector<std::string>{"0", "3"}));
  EXPECT_GT(agent.CurrentAllocation()->begin_unix_ms, 0);

  // A repeated Prolog of the same job replaces it; another job's is refused while it lasts.
  ASSERT_TRUE(agent.SetAllocation(Alloc("10", "alice2")).ok());
  EXPECT_EQ(agent.CurrentAllocation()->user, "alice2");
  const absl::Status other = agent.SetAllocation(Alloc("11", "bob"));
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other.message().find("job 10"), std::string_view::npos) << other;
  EXPECT_EQ(agent.CurrentAllocation()->job_id, "10");

  // Ending another job's allocation leaves the current one.
  common::AllocationEnd end = agent.EndAllocation("11", absl::Seconds(1));
  EXPECT_FALSE(end.was_current);
  EXPECT_TRUE(end.stopped_jobs.empty());
  EXPECT_EQ(agent.CurrentAllocation()->job_id, "10");

  end = agent.EndAllocation("10", absl::Seconds(1));
  EXPECT_TRUE(end.was_current);
  EXPECT_FALSE(agent.CurrentAllocation().has_value());
  EXPECT_TRUE(agent.SetAllocation(Alloc("11", "bob")).ok());
}

TEST(NodeAgentAllocationTest, TheAllocationFileCarriesItAcrossRestarts) {
  testing::TempDir dir;
  const std::filesystem::path file = dir.path() / "state" / "allocation.json";
  const NodeAgentOptions options{.node_name = "n1", .log_root = "/nonexistent", .allocation_file = file.string()};
  common::Allocation before;
  {
    NodeAgent agent(options);
    EXPECT_FALSE(agent.CurrentAllocation().has_value());
    ASSERT_TRUE(agent.SetAllocation(Alloc("10")).ok());
    before = *agent.CurrentAllocation();
  }
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  {
    NodeAgent restarted(options);  // acceld restarted in the middle of the batch job
    ASSERT_TRUE(restarted.CurrentAllocation().has_value());
    EXPECT_EQ(*restarted.CurrentAllocation(), before);
    EXPECT_EQ(restarted.SetAllocation(Alloc("11", "bob")).code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(restarted.EndAllocation("10", absl::Seconds(1)).was_current);
  }
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_FALSE(NodeAgent(options).CurrentAllocation().has_value());

  // A damaged file is reported and ignored: the node starts unallocated, and the next Prolog rewrites it.
  dir.Write("state/allocation.json", "{\"job_id\": 12, \"user\": ");
  NodeAgent damaged(options);
  EXPECT_FALSE(damaged.CurrentAllocation().has_value());
  ASSERT_TRUE(damaged.SetAllocation(Alloc("12")).ok());
  EXPECT_EQ(NodeAgent(options).CurrentAllocation()->job_id, "12");

  // A file that cannot be written refuses the allocation and changes nothing.
  const NodeAgentOptions unwritable{.node_name = "n2", .log_root = "/nonexistent",
                                    .allocation_file = (dir.path() / "state" / "allocation.json" / "x").string()};
  NodeAgent blocked(unwritable);
  const absl::Status refused = blocked.SetAllocation(Alloc("13"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("allocation.json"), std::string_view::npos) << refused;
  EXPECT_FALSE(blocked.CurrentAllocation().has_value());
}

TEST(AllocationJsonTest, RoundTripsAndNamesTheBadField) {
  const common::Allocation allocation{.job_id = "7", .user = "u", .uid = 5, .gpus = {"GPU-1"}, .begin_unix_ms = 9};
  auto back = common::AllocationFromJson(common::AllocationToJson(allocation).dump());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, allocation);
  for (const char* bad : {"[]", "not json", R"({"job_id": "7", "user": "u", "uid": "5", "gpus": [], "begin_unix_ms": 1})",
                          R"({"job_id": "7", "user": "u", "uid": 5, "gpus": [1], "begin_unix_ms": 1})"}) {
    EXPECT_FALSE(common::AllocationFromJson(bad).ok()) << bad;
  }
  EXPECT_NE(common::AllocationFromJson(R"({"job_id": "7", "user": "u", "uid": "5", "gpus": [], "begin_unix_ms": 1})")
                .status()
                .message()
                .find("'uid'"),
            std::string_view::npos);
}

}  // namespace
}  // namespace accel::daemon
